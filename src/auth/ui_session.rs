//! Web UI sessions: a login makes one, a cookie carries it, every request of the UI proves its
//! user with it, and state-changing ones also prove with a CSRF token that they come from the
//! UI's own page.
//!
//! # A session
//! - **id**: 256 random bits, base64url, the value of the cookie [`COOKIE_NAME`] (`HttpOnly`,
//!   `SameSite=Strict`, `Path=/`, `Secure` when the UI is served over TLS; see
//!   [`set_cookie`]). The index keeps only its SHA-256, so a copy of the index holds no live
//!   session.
//! - **CSRF token**: 256 random bits, returned by the login (and `whoami`) to the page, which
//!   sends it in [`CSRF_HEADER`] on every request but GET/HEAD/OPTIONS. Another site can make a
//!   browser send the cookie (`SameSite=Strict` already stops that in current browsers) but
//!   cannot read the token; compared in constant time.
//! - **expiry**: after `ui_session_idle_secs` without use (default 30 min) and at most
//!   `ui_session_max_secs` after the login (default 12 h), whichever comes first. Logout,
//!   deleting or disabling the user, or changing their password end it at once.
//!
//! # The cache and its windows
//! [`UiSessions::principal`] is on every UI request's path, so it answers from memory: a session
//! (with its user's status and policy) is read from the index on first use and again once it is
//! [`REVALIDATE_EVERY`] (10 s) old, or at once when a user was changed through this node. Its
//! last use is written back at most once per [`TOUCH_EVERY`] (a minute). So **a session ended,
//! or a user disabled or changed, on another node is still accepted here for up to 10 s** (the
//! access keys' window), and nodes may see a session's idle expiry up to a minute apart. Changes
//! made through this node take effect at once.
//!
//! # For the gate
//! A request without a SigV4 signature that carries [`session_cookie`] is a UI request: call
//! [`UiSessions::principal`]`(cookie, headers[`[`CSRF_HEADER`]`], `[`is_state_changing`]`(method))`
//! and make its principal `Principal { id: "user/NAME", name: NAME, policy: Grant::Policy(the
//! parsed policy_json) }`. Refusals are [`UiAuthError::kind`] (`NotAuthorized`). The login
//! routes (`/v1/login`, `/v1/logout`, `/v1/whoami`) are public: they check the session
//! themselves.

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::{HeaderMap, Method, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::SecretText;
use super::audit::{AuditEntry, Outcome};
use super::ids::{UI_TOKEN_LEN, new_ui_token};
use super::policy::Policy;
use super::users::{
    LOGIN_ACTION, LOGOUT_ACTION, LoginError, UserError, UserInfo, UserStatus, UserStore,
};
use crate::error::ErrorKind;
use crate::store::index::UiSessionRow;
use crate::store::{Store, StoreError};

/// The session cookie's name.
pub const COOKIE_NAME: &str = "vidstream_session";
/// The header state-changing requests carry the session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The action a user's policy must allow (on `*`) to log in to the web UI.
pub const USE_WEB_UI: &str = "vidstream:UseWebUI";
/// How long a cached session is trusted before the index is read again.
pub const REVALIDATE_EVERY: Duration = Duration::from_secs(10);
/// How often, at most, a session's last use is written to the index.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// Most cached sessions.
const CACHE_CAPACITY: usize = 10_000;
/// How often, at most, logins purge expired sessions from the index.
const PURGE_EVERY_MS: i64 = 10 * 60 * 1000;

/// How sessions behave.
#[derive(Debug, Clone)]
pub struct UiSessionOptions {
    /// A session unused this long ends (`[auth] ui_session_idle_secs`).
    pub idle: Duration,
    /// A session ends this long after the login (`[auth] ui_session_max_secs`).
    pub max_age: Duration,
    /// Mark the cookie `Secure`: the UI is reached over TLS. Plain HTTP for now (TLS is not
    /// built yet): the server sets it when its public URL is `https://` (a TLS proxy in front);
    /// the TLS listener will set it for its own connections.
    pub secure_cookies: bool,
}

impl Default for UiSessionOptions {
    fn default() -> Self {
        UiSessionOptions {
            idle: Duration::from_secs(30 * 60),
            max_age: Duration::from_secs(12 * 3600),
            secure_cookies: false,
        }
    }
}

/// Who a valid session proves, for the gate: the user and what their policy allows.
#[derive(Clone)]
pub struct UiPrincipal {
    /// The user's name.
    pub user: String,
    /// The user's policy document (validated when it was set; parse it with the policy module).
    pub policy_json: Arc<str>,
    /// The session's CSRF token (for `whoami`, so that a reloaded page gets it again).
    pub csrf_token: String,
    /// When the session ends unless used again (the earlier of idle and absolute expiry), server
    /// epoch ms.
    pub expires_ms: i64,
}

impl std::fmt::Debug for UiPrincipal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UiPrincipal")
            .field("user", &self.user)
            .field("policy_json", &self.policy_json)
            .field("csrf_token", &"<redacted>")
            .field("expires_ms", &self.expires_ms)
            .finish()
    }
}

/// A login's result: the session, given to the browser once.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    /// The session id: the cookie's value.
    pub session_id: SecretText,
    /// The session.
    pub principal: UiPrincipal,
    /// The user.
    pub user: UserInfo,
}

/// Why a request's session does not prove a user.
#[derive(Debug, thiserror::Error)]
pub enum UiAuthError {
    /// No session cookie, or one for a session that is unknown, expired or ended: log in.
    #[error("not logged in (no session, or it expired or ended); log in with POST /v1/login")]
    NoSession,
    /// A state-changing request without the session's CSRF token.
    #[error(
        "the x-csrf-token header is missing or does not match the session; send the csrfToken the login returned (reload the page)"
    )]
    Csrf,
    /// The index failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl UiAuthError {
    /// The KVS error kind: `NotAuthorized` for both refusals.
    pub fn kind(&self) -> ErrorKind {
        match self {
            UiAuthError::NoSession | UiAuthError::Csrf => ErrorKind::NotAuthorized,
            UiAuthError::Store(e) => e.kind(),
        }
    }
}

/// Whether a request of this method changes state, and so must carry the CSRF token.
pub fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The session cookie's value in a request's `Cookie` headers, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim_matches('"'))
}

/// The `Set-Cookie` value that gives the browser `session_id` for `max_age`.
pub fn set_cookie(session_id: &str, max_age: Duration, secure: bool) -> String {
    format!(
        "{COOKIE_NAME}={session_id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that makes the browser forget the session.
pub fn clear_cookie(secure: bool) -> String {
    set_cookie("", Duration::ZERO, secure)
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A session id's SHA-256; `None` for a value that cannot be a session id (no index read).
fn id_hash(cookie_value: &str) -> Option<[u8; 32]> {
    let well_formed = cookie_value.len() == UI_TOKEN_LEN
        && cookie_value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then(|| Sha256::digest(cookie_value.as_bytes()).into())
}

#[derive(Clone)]
struct Entry {
    row: UiSessionRow,
    policy_json: Arc<str>,
    /// Latest use seen here (at least `row.last_seen_ms`).
    seen_ms: i64,
    /// When the row was read from the index.
    checked_ms: i64,
    /// [`UserStore::changes`] when it was read.
    user_changes: u64,
}

/// The web UI's sessions (see the module doc). Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct UiSessions {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    users: UserStore,
    options: UiSessionOptions,
    cache: Mutex<HashMap<[u8; 32], Entry>>,
    last_purge_ms: AtomicI64,
}

impl std::fmt::Debug for UiSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UiSessions")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl UiSessions {
    /// Sessions of the users in `users`, kept in `store`'s index.
    pub fn new(store: Store, users: UserStore, options: UiSessionOptions) -> UiSessions {
        UiSessions {
            inner: Arc::new(Inner {
                store,
                users,
                options,
                cache: Mutex::default(),
                last_purge_ms: AtomicI64::new(i64::MIN),
            }),
        }
    }

    fn audit(&self, entry: AuditEntry) {
        self.inner.users.audit().record(entry);
    }

    /// The users.
    pub fn users(&self) -> &UserStore {
        &self.inner.users
    }

    /// The options.
    pub fn options(&self) -> &UiSessionOptions {
        &self.inner.options
    }

    /// A panic while the cache was held cannot leave it inconsistent (each change is one map
    /// operation), so a poisoned lock is used as it is.
    fn cache(&self) -> MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        self.inner.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks `user`'s `password` (see [`UserStore::authenticate`]: limits, lock-out) and that
    /// their policy allows [`USE_WEB_UI`], then starts a session.
    pub async fn login(
        &self,
        user: &str,
        password: &SecretText,
        client: IpAddr,
    ) -> Result<LoggedIn, LoginError> {
        let info = self
            .inner
            .users
            .authenticate(user, password, client)
            .await?;
        let policy = Policy::parse(&info.policy_json).unwrap_or_else(|e| {
            tracing::warn!(user = %user, error = %e, "a stored user policy does not parse; it grants nothing");
            Policy::deny_all()
        });
        if !policy.decide(USE_WEB_UI, "*").is_allowed() {
            self.audit(
                AuditEntry::new(user, LOGIN_ACTION, "*", Outcome::Denied)
                    .address(Some(client))
                    .detail("not_for_web_ui"),
            );
            return Err(LoginError::NotForWebUi(user.to_owned()));
        }
        let now = self.inner.store.now().millis();
        self.purge_now_and_then(now).await;
        let session_id = new_ui_token().map_err(UserError::from)?;
        let csrf_token = new_ui_token().map_err(UserError::from)?;
        let row = UiSessionRow {
            id_sha256: Sha256::digest(session_id.as_bytes()).into(),
            user: info.name.clone(),
            csrf_token: csrf_token.to_string(),
            created_ms: now,
            last_seen_ms: now,
            expires_ms: now.saturating_add(ms(self.inner.options.max_age)),
        };
        self.inner.store.insert_ui_session(row.clone()).await?;
        let principal = self.principal_of(&row, now, Arc::from(info.policy_json.as_str()));
        self.audit(
            AuditEntry::new(&info.name, LOGIN_ACTION, "*", Outcome::Success)
                .id(&format!("user/{}", info.name))
                .address(Some(client))
                .detail("session_started"),
        );
        Ok(LoggedIn {
            session_id: SecretText::new(&session_id),
            principal,
            user: info,
        })
    }

    /// Ends the session `cookie_value` names; a state-changing request, so it needs the CSRF
    /// token.
    pub async fn logout(
        &self,
        cookie_value: &str,
        csrf_header: Option<&str>,
    ) -> Result<UiPrincipal, UiAuthError> {
        let p = self.principal(cookie_value, csrf_header, true).await?;
        if let Some(hash) = id_hash(cookie_value) {
            self.cache().remove(&hash);
            self.inner.store.delete_ui_session(hash).await?;
        }
        self.audit(
            AuditEntry::new(&p.user, LOGOUT_ACTION, "*", Outcome::Success)
                .id(&format!("user/{}", p.user)),
        );
        Ok(p)
    }

    /// The user a request's session proves. `csrf_header` is the request's [`CSRF_HEADER`];
    /// `state_changing` is [`is_state_changing`] of its method: such a request must carry the
    /// session's CSRF token. [`UiAuthError::NoSession`] for a missing, unknown, expired or ended
    /// session (the UI shows its login page), [`UiAuthError::Csrf`] for a missing or wrong
    /// token.
    pub async fn principal(
        &self,
        cookie_value: &str,
        csrf_header: Option<&str>,
        state_changing: bool,
    ) -> Result<UiPrincipal, UiAuthError> {
        let hash = id_hash(cookie_value).ok_or(UiAuthError::NoSession)?;
        let now = self.inner.store.now().millis();
        let changes = self.inner.users.changes();
        let cached = self
            .cache()
            .get(&hash)
            .cloned()
            .filter(|e| now - e.checked_ms < ms(REVALIDATE_EVERY) && e.user_changes == changes);
        let entry = match cached {
            Some(e) => e,
            None => self.load(hash, now, changes).await?,
        };
        let o = &self.inner.options;
        if entry.row.expires_ms <= now || entry.seen_ms.saturating_add(ms(o.idle)) <= now {
            self.cache().remove(&hash);
            self.inner.store.delete_ui_session(hash).await?;
            return Err(UiAuthError::NoSession);
        }
        if state_changing {
            let given = csrf_header.unwrap_or("").as_bytes();
            if !bool::from(given.ct_eq(entry.row.csrf_token.as_bytes())) {
                return Err(UiAuthError::Csrf);
            }
        }
        let principal = self.principal_of(&entry.row, now, Arc::clone(&entry.policy_json));
        if let Some(e) = self.cache().get_mut(&hash) {
            e.seen_ms = e.seen_ms.max(now);
        }
        Ok(principal)
    }

    fn principal_of(&self, row: &UiSessionRow, now: i64, policy_json: Arc<str>) -> UiPrincipal {
        UiPrincipal {
            user: row.user.clone(),
            policy_json,
            csrf_token: row.csrf_token.clone(),
            expires_ms: row
                .expires_ms
                .min(now.saturating_add(ms(self.inner.options.idle))),
        }
    }

    /// Reads the session and its user from the index, writes back the last use seen here when
    /// it is a minute ahead, and caches the result.
    async fn load(&self, hash: [u8; 32], now: i64, changes: u64) -> Result<Entry, UiAuthError> {
        let seen_here = self.cache().get(&hash).map(|e| e.seen_ms);
        let gone = |s: &Self| {
            s.cache().remove(&hash);
            UiAuthError::NoSession
        };
        let Some(row) = self.inner.store.ui_session(hash).await? else {
            return Err(gone(self));
        };
        let user = self.inner.users.row(&row.user).await?;
        let Some(user) = user.filter(|u| u.status == UserStatus::Active) else {
            // Disabled elsewhere without ending the session: end it now.
            self.inner.store.delete_ui_session(hash).await?;
            return Err(gone(self));
        };
        let seen_ms = seen_here.unwrap_or(row.last_seen_ms).max(row.last_seen_ms);
        if seen_ms - row.last_seen_ms >= ms(TOUCH_EVERY)
            && !self.inner.store.touch_ui_session(hash, seen_ms).await?
        {
            return Err(gone(self));
        }
        let entry = Entry {
            row: UiSessionRow {
                last_seen_ms: seen_ms,
                ..row
            },
            policy_json: Arc::from(user.policy),
            seen_ms,
            checked_ms: now,
            user_changes: changes,
        };
        let mut cache = self.cache();
        if cache.len() >= CACHE_CAPACITY && !cache.contains_key(&hash) {
            let fresh = ms(REVALIDATE_EVERY);
            cache.retain(|_, e| now - e.checked_ms < fresh);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(hash, entry.clone());
        Ok(entry)
    }

    /// Deletes expired and idle sessions from the index, at most once per 10 minutes (logins
    /// call it; expired sessions are refused whether purged or not).
    async fn purge_now_and_then(&self, now: i64) {
        let last = self.inner.last_purge_ms.load(Ordering::Acquire);
        if now.saturating_sub(last) < PURGE_EVERY_MS
            || self
                .inner
                .last_purge_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return;
        }
        let idle_cutoff = now.saturating_sub(ms(self.inner.options.idle));
        match self
            .inner
            .store
            .delete_expired_ui_sessions(now, idle_cutoff)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::debug!(count = n, "expired web UI sessions deleted"),
            Err(e) => tracing::warn!(error = %e, "could not purge expired web UI sessions"),
        }
    }

    /// Sessions in the cache (for tests).
    #[cfg(test)]
    fn cached(&self) -> usize {
        self.cache().len()
    }
}
