//! The audit log: who did what, from where, to which resource, and how it went, in one place.
//!
//! Every security-relevant event becomes one [`AuditEntry`]: requests the policy denies,
//! signatures that do not verify, every change made through the control plane (streams,
//! retention, tags, image generation, cameras, access keys, users, the session key; recorded by
//! the API's gate, `crate::api::guard`, after the handler answers), web UI logins and logouts
//! ([`super::users`], [`super::ui_session`]). [`AuditLog::record`] writes it twice:
//! - as one structured tracing event on the `audit` target (the durable trail: ship the logs), in
//!   the one line format below;
//! - into a bounded in-memory ring of the latest [`CAPACITY`] entries, which `GET /v1/audit`
//!   serves (newest first, filtered by [`AuditFilter`]). The ring is per process and starts empty
//!   at every start.
//!
//! ```text
//! INFO audit: audit principal="ops" principal_id="VSAK…" address=192.0.2.1
//!     action="kinesisvideo:CreateStream" resource="arn:aws:kinesisvideo:…" outcome="success" detail=""
//! ```
//!
//! Entries never hold secrets: callers put names, ids and outcomes in them, never a password, a
//! secret access key, a session token or a request body. What a caller may give is bounded
//! ([`MAX_FIELD`]), so an attacker's long user name cannot grow the ring.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::time::Clock;

/// How many entries the in-memory ring keeps (the oldest go first).
pub const CAPACITY: usize = 1000;

/// Longest principal, action, resource or detail kept (longer ones are cut, marked with `…`).
pub const MAX_FIELD: usize = 512;

/// How an audited event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Allowed and done.
    Success,
    /// Refused: a policy denial, a signature or login that did not check out.
    Denied,
    /// Allowed, but the operation failed (bad input, not found, an internal error).
    Failure,
}

impl Outcome {
    /// `success`, `denied` or `failure`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failure => "failure",
        }
    }

    /// Parses [`Outcome::as_str`]'s words, in any case.
    pub fn parse(s: &str) -> Option<Outcome> {
        [Outcome::Success, Outcome::Denied, Outcome::Failure]
            .into_iter()
            .find(|o| o.as_str().eq_ignore_ascii_case(s))
    }
}

/// One audited event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Server time, epoch ms (set by [`AuditLog::record`]).
    pub time_ms: i64,
    /// Who: an access key's name, a web UI user's name, or the name a login attempt gave.
    pub principal: String,
    /// The access key id, or `user/NAME` for a web UI session; None when no key was proven
    /// (a login attempt).
    pub principal_id: Option<String>,
    /// The client's address, when known.
    pub address: Option<IpAddr>,
    /// The IAM action (`kinesisvideo:CreateStream`, `vidstream:Login`, ...).
    pub action: String,
    /// The resource it applied to (an ARN, or `*`).
    pub resource: String,
    /// How it ended.
    pub outcome: Outcome,
    /// More about it, never a secret (the new key's id, why a login was refused, the error
    /// type); may be empty.
    pub detail: String,
}

impl AuditEntry {
    /// An entry of `principal` performing `action` on `resource`; add the rest with the
    /// builder methods.
    pub fn new(principal: &str, action: &str, resource: &str, outcome: Outcome) -> AuditEntry {
        AuditEntry {
            time_ms: 0,
            principal: bounded(principal),
            principal_id: None,
            address: None,
            action: bounded(action),
            resource: bounded(resource),
            outcome,
            detail: String::new(),
        }
    }

    /// The principal's id (access key id, `user/NAME`).
    pub fn id(mut self, id: &str) -> AuditEntry {
        self.principal_id = Some(bounded(id));
        self
    }

    /// The client's address.
    pub fn address(mut self, address: Option<IpAddr>) -> AuditEntry {
        self.address = address;
        self
    }

    /// More about the event; never a secret.
    pub fn detail(mut self, detail: &str) -> AuditEntry {
        self.detail = bounded(detail);
        self
    }
}

/// At most [`MAX_FIELD`] bytes of `s`, cut at a character boundary.
fn bounded(s: &str) -> String {
    if s.len() <= MAX_FIELD {
        return s.to_owned();
    }
    let mut end = MAX_FIELD;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Which entries [`AuditLog::query`] returns.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// At most this many (newest first); None: all that match.
    pub limit: Option<usize>,
    /// The principal's name or id, exactly.
    pub principal: Option<String>,
    /// The action: `kinesisvideo:CreateStream`, or just `CreateStream` (any case).
    pub action: Option<String>,
    /// The outcome.
    pub outcome: Option<Outcome>,
    /// Only entries at or after this server time (epoch ms).
    pub since_ms: Option<i64>,
}

impl AuditFilter {
    /// Whether `e` is selected (all but [`AuditFilter::limit`], which counts the selected).
    pub fn matches(&self, e: &AuditEntry) -> bool {
        let principal = self
            .principal
            .as_deref()
            .is_none_or(|p| e.principal == p || e.principal_id.as_deref() == Some(p));
        let action = self.action.as_deref().is_none_or(|a| {
            e.action.eq_ignore_ascii_case(a)
                || e.action
                    .split_once(':')
                    .is_some_and(|(_, name)| name.eq_ignore_ascii_case(a))
        });
        principal
            && action
            && self.outcome.is_none_or(|o| e.outcome == o)
            && self.since_ms.is_none_or(|t| e.time_ms >= t)
    }
}

/// The audit log (cheap to clone: every clone records into the same ring).
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

struct Inner {
    clock: Arc<dyn Clock>,
    capacity: usize,
    entries: Mutex<VecDeque<AuditEntry>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("capacity", &self.inner.capacity)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// A log keeping the latest `capacity` entries, timed by `clock`.
    pub fn new(clock: Arc<dyn Clock>, capacity: usize) -> AuditLog {
        AuditLog {
            inner: Arc::new(Inner {
                clock,
                capacity: capacity.max(1),
                entries: Mutex::new(VecDeque::with_capacity(capacity.min(CAPACITY))),
            }),
        }
    }

    /// A log on the system clock with [`CAPACITY`] entries (tests, tools).
    pub fn system() -> AuditLog {
        AuditLog::new(Arc::new(crate::time::SystemClock), CAPACITY)
    }

    /// A panic while the ring was held cannot leave it inconsistent (each change is one push or
    /// pop), so a poisoned lock is used as it is.
    fn entries(&self) -> std::sync::MutexGuard<'_, VecDeque<AuditEntry>> {
        self.inner.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `entry` at the current time: the `audit` tracing line, then the ring.
    pub fn record(&self, mut entry: AuditEntry) {
        entry.time_ms = self.inner.clock.now().millis();
        tracing::info!(
            target: "audit",
            principal = %entry.principal,
            principal_id = entry.principal_id.as_deref(),
            address = entry.address.map(tracing::field::display),
            action = %entry.action,
            resource = %entry.resource,
            outcome = entry.outcome.as_str(),
            detail = %entry.detail,
            "audit"
        );
        let mut entries = self.entries();
        while entries.len() >= self.inner.capacity {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// The entries `filter` selects, newest first.
    pub fn query(&self, filter: &AuditFilter) -> Vec<AuditEntry> {
        self.entries()
            .iter()
            .rev()
            .filter(|e| filter.matches(e))
            .take(filter.limit.unwrap_or(usize::MAX))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{ServerTime, SimClock};

    fn log(capacity: usize) -> (AuditLog, Arc<SimClock>) {
        let clock = Arc::new(SimClock::new(ServerTime(1_000)));
        (AuditLog::new(clock.clone(), capacity), clock)
    }

    #[test]
    fn newest_first_bounded_and_filtered() {
        let (log, clock) = log(3);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        log.record(
            AuditEntry::new(
                "ops",
                "kinesisvideo:CreateStream",
                "arn:s1",
                Outcome::Success,
            )
            .id("VSAKOPS")
            .address(Some(ip)),
        );
        clock.advance_ms(10);
        log.record(AuditEntry::new(
            "viewer",
            "kinesisvideo:DeleteStream",
            "arn:s1",
            Outcome::Denied,
        ));
        clock.advance_ms(10);
        log.record(AuditEntry::new(
            "ops",
            "vidstream:CreateKey",
            "*",
            Outcome::Success,
        ));
        clock.advance_ms(10);
        log.record(
            AuditEntry::new(
                "ops",
                "kinesisvideo:DeleteStream",
                "arn:s1",
                Outcome::Failure,
            )
            .detail("ResourceNotFoundException"),
        );
        let all = log.query(&AuditFilter::default());
        assert_eq!(all.len(), 3, "the oldest went");
        let times: Vec<i64> = all.iter().map(|e| e.time_ms).collect();
        assert_eq!(times, [1_030, 1_020, 1_010], "newest first");
        let q = |f: AuditFilter| -> Vec<String> {
            log.query(&f)
                .into_iter()
                .map(|e| format!("{} {} {}", e.principal, e.action, e.outcome.as_str()))
                .collect()
        };
        assert_eq!(
            q(AuditFilter {
                limit: Some(1),
                ..Default::default()
            }),
            ["ops kinesisvideo:DeleteStream failure"]
        );
        assert_eq!(
            q(AuditFilter {
                action: Some("deletestream".into()),
                ..Default::default()
            })
            .len(),
            2
        );
        assert_eq!(
            q(AuditFilter {
                principal: Some("viewer".into()),
                outcome: Some(Outcome::Denied),
                ..Default::default()
            }),
            ["viewer kinesisvideo:DeleteStream denied"]
        );
        assert_eq!(
            q(AuditFilter {
                since_ms: Some(1_020),
                ..Default::default()
            })
            .len(),
            2
        );
        assert_eq!(Outcome::parse("DENIED"), Some(Outcome::Denied));
        assert_eq!(Outcome::parse("maybe"), None);
    }

    #[test]
    fn fields_are_bounded() {
        let long = "é".repeat(MAX_FIELD);
        let e = AuditEntry::new(&long, "a", "*", Outcome::Denied).detail(&long);
        assert!(e.principal.len() <= MAX_FIELD + '…'.len_utf8());
        assert!(e.principal.ends_with('…'));
        assert!(e.detail.len() <= MAX_FIELD + '…'.len_utf8());
    }
}
