//! Authentication: a presented SigV4 signature → the [`Principal`] it proves, with the policy
//! that decides what it may do.
//!
//! The order of checks follows AWS: the access key must exist and be active, a temporary key
//! must come with its session token and be unexpired, and then the signature must match. Each
//! failure is the error AWS gives for it (see [`AuthError::kind`]); none says more than AWS
//! would (an unknown key and a disabled key read the same).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::keys::{KeyPolicy, KeyStore};
use super::policy::{Decision, Policy};
use super::sigv4::{Presented, Received, Rules, SigError, Verifier};
use crate::error::ErrorKind;
use crate::time::Clock;

/// Who is calling, proven.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The access key id (or `user/NAME` for a web UI session).
    pub id: String,
    /// A name for logs and the audit trail.
    pub name: String,
    /// What it may do.
    pub policy: Grant,
}

/// A principal's permissions.
#[derive(Debug, Clone)]
pub enum Grant {
    /// The root key: everything.
    Root,
    /// What its policy document allows.
    Policy(Arc<Policy>),
}

impl Principal {
    /// Whether the principal may perform `action` on `resource` (deny by default, an explicit
    /// deny wins).
    pub fn allows(&self, action: &str, resource: &str) -> bool {
        match &self.policy {
            Grant::Root => true,
            Grant::Policy(p) => p.decide(action, resource) == Decision::Allow,
        }
    }
}

/// Why a request was not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No signature at all.
    #[error("Missing Authentication Token: sign the request with SigV4 (service kinesisvideo)")]
    Missing,
    /// The signature is malformed, does not match, or has expired.
    #[error(transparent)]
    Signature(#[from] SigError),
    /// `x-amz-content-sha256` names another body than the one sent.
    #[error("the x-amz-content-sha256 header does not match the request body's SHA-256")]
    BodyHash,
    /// The access key is unknown or disabled.
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    /// A temporary key without its session token, or with another one.
    #[error("The security token included in the request is invalid.")]
    BadToken,
    /// A temporary key past its expiry.
    #[error("The security token included in the request is expired")]
    Expired,
    /// The key store could not be read.
    #[error("access keys could not be read: {0}")]
    Store(String),
}

impl AuthError {
    /// The KVS error kind (HTTP status and `__type`) AWS answers with.
    pub fn kind(&self) -> ErrorKind {
        match self {
            AuthError::Missing => ErrorKind::MissingAuthenticationToken,
            AuthError::Signature(e) => match e {
                SigError::MissingAuthenticationToken => ErrorKind::MissingAuthenticationToken,
                SigError::IncompleteSignature(_) => ErrorKind::IncompleteSignature,
                SigError::RequestExpired { .. } => ErrorKind::RequestExpired,
                SigError::UnrecognizedClient => ErrorKind::UnrecognizedClient,
                SigError::ExpiredToken => ErrorKind::ExpiredToken,
                SigError::WrongScope(_)
                | SigError::InvalidSignature
                | SigError::SignatureExpired { .. }
                | SigError::SignatureNotYetCurrent { .. } => ErrorKind::InvalidSignature,
            },
            AuthError::BodyHash => ErrorKind::InvalidSignature,
            AuthError::UnknownKey | AuthError::BadToken => ErrorKind::UnrecognizedClient,
            AuthError::Expired => ErrorKind::ExpiredToken,
            AuthError::Store(_) => ErrorKind::Internal,
        }
    }
}

/// Verifies requests against the key store.
pub struct Auth {
    keys: KeyStore,
    /// The audit log: the gate, the admin handlers and the UI logins record into it.
    audit: super::audit::AuditLog,
    clock: Arc<dyn Clock>,
    verifier: Verifier,
    /// Parsed policies by the SHA-256 of their text: parsing once per key, not per request.
    policies: Mutex<HashMap<[u8; 32], Arc<Policy>>>,
}

impl Auth {
    /// Checks signatures against `keys`, with `rules` (clock skew, region).
    pub fn new(keys: KeyStore, clock: Arc<dyn Clock>, rules: Rules) -> Auth {
        Auth {
            keys,
            audit: super::audit::AuditLog::new(Arc::clone(&clock), super::audit::CAPACITY),
            clock,
            verifier: Verifier::new(rules),
            policies: Mutex::default(),
        }
    }

    /// The key store.
    pub fn keys(&self) -> &KeyStore {
        &self.keys
    }

    /// The audit log (one per server: the user store and the UI sessions record into a clone).
    pub fn audit(&self) -> &super::audit::AuditLog {
        &self.audit
    }

    /// The principal a signed request proves. `payload_sha256` is the hash the signature must
    /// cover (the body's, the empty body's for streaming PutMedia, or `UNSIGNED-PAYLOAD`).
    pub async fn authenticate(
        &self,
        presented: &Presented,
        req: Received<'_>,
        payload_sha256: &str,
    ) -> Result<Principal, AuthError> {
        let key = self
            .keys
            .lookup(&presented.access_key_id)
            .await
            .map_err(|e| AuthError::Store(e.to_string()))?
            .ok_or(AuthError::UnknownKey)?;
        let now_ms = self.clock.now().millis();
        if !key.session_token_matches(presented.session_token.as_deref()) {
            return Err(AuthError::BadToken);
        }
        if key.expired_at(now_ms) {
            return Err(AuthError::Expired);
        }
        self.verifier.verify(
            presented,
            req,
            payload_sha256,
            key.secret(),
            wall_clock_secs(),
        )?;
        let policy = match &key.policy {
            KeyPolicy::Admin => Grant::Root,
            KeyPolicy::Json(text) => self.grant(text),
        };
        Ok(Principal {
            id: presented.access_key_id.clone(),
            name: key.name.clone(),
            policy,
        })
    }

    /// The grant of a stored policy document (a key's, a UI user's), parsed once per distinct
    /// text.
    pub fn grant(&self, text: &str) -> Grant {
        let id: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        let mut cache = self.policies.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = cache.get(&id) {
            return Grant::Policy(Arc::clone(p));
        }
        // Stored policies were validated when they were attached; one that no longer parses
        // (a newer build's syntax) grants nothing.
        let p = match Policy::parse(text) {
            Ok(p) => Arc::new(p),
            Err(e) => {
                tracing::warn!(error = %e, "a stored policy does not parse; it grants nothing");
                Arc::new(Policy::deny_all())
            }
        };
        if cache.len() > 4096 {
            cache.clear();
        }
        cache.insert(id, Arc::clone(&p));
        Grant::Policy(p)
    }
}

/// Now on the wall clock, Unix seconds. A signature's time is the client's wall clock, so its
/// freshness is judged against the real time, not the server's [`Clock`] (simulated in tests,
/// where it drives retention and key expiry).
fn wall_clock_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
