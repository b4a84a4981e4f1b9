//! Access control: who is calling (authentication) and may they (authorization).
//!
//! Every request except `/healthz` and the login page needs a principal, proven one of three
//! ways: an AWS Signature Version 4 (header or presigned query, [`sigv4`]) made with an access
//! key the server knows ([`keys`]), a web UI session cookie, or a playback token minted for one
//! stream. The principal's policy ([`policy`], IAM-style JSON) then decides the request's action
//! on its resource: deny by default, an explicit Deny wins.
//!
//! Secrets (access keys' secret halves, camera passwords) are stored sealed with AES-256-GCM
//! under the master key ([`seal`]); they are never logged and never returned after creation.
//!
//! # Modules built so far
//! - [`seal`]: the master key (config or `DATA_DIR/master.key`) and AES-256-GCM sealing bound
//!   to a purpose and a record id.
//! - [`ids`]: access key ids (`VSRK`/`VSAK`/`VSTK` + 16), secrets, session tokens, key names.
//! - [`root`]: the root key (config, or generated into `DATA_DIR/root-credentials`).
//! - [`keys`]: the key store: create/list/get/disable/delete through the index, and the cached
//!   `lookup` that SigV4 verification calls on every request.
//! - [`sigv4`]: AWS Signature Version 4, signing (the clients) and verifying (the server).
//! - [`policy`]: IAM-style policy documents, their evaluation, the built-in policies.
//! - [`Auth`] (`gate.rs`): a presented signature → the [`Principal`] it proves and its policy.
//! - [`users`]: web UI users (argon2id password hashes), the login check with per-user lock-out
//!   and per-address rate limit.
//! - [`ui_session`]: web UI sessions (cookie + CSRF token) and the cached check the gate calls
//!   on every UI request; [`ui_permissions`]: a user's policy as the UI's controls see it.
//! - [`audit`]: the audit log (denials, control-plane changes, logins) as `audit` tracing lines
//!   and a bounded in-memory ring that `GET /v1/audit` serves; [`Auth::audit`] holds it.

pub mod audit;
mod gate;
pub mod ids;
pub mod keys;
pub mod policy;
pub mod root;
pub mod seal;
pub mod sigv4;
pub mod ui_permissions;
pub mod ui_session;
pub mod users;

pub use gate::{Auth, AuthError, Grant, Principal};

use zeroize::Zeroizing;

/// A secret string in memory (an access key's secret half, a session token): zeroized on drop,
/// shown by `Debug` as `<redacted>`, and not comparable with `==` (compare digests, in constant
/// time, instead).
#[derive(Clone)]
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    /// Wraps a copy of `text`.
    pub fn new(text: &str) -> SecretText {
        SecretText(Zeroizing::new(text.to_owned()))
    }

    /// The secret itself, for signing or for showing it once at creation.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Store options on a temporary directory, for the tests of this module.
#[cfg(test)]
pub(crate) fn test_store_options(dir: &std::path::Path) -> crate::store::StoreOptions {
    crate::store::StoreOptions {
        data_dir: dir.to_owned(),
        region: "us-east-1".into(),
        account_id: "1".into(),
        rotation: crate::store::Rotation {
            max_bytes: 1 << 20,
            max_age_ms: 60_000,
        },
        retention: crate::store::RetentionOptions::default(),
        index: crate::store::IndexBackend::default(),
        objects: None,
        tiers: Default::default(),
    }
}
