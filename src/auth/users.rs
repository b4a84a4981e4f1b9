//! Web UI users: who may log in to the browser UI, their passwords, and the login check with
//! its lock-out and rate limits.
//!
//! A user is a row of the index (shared by every node): a unique name, an argon2id hash of the
//! password, a policy (IAM-style JSON that only the policy module reads; the caller validates
//! it), a status, and the count of failed logins with any lock. Passwords are never stored,
//! logged or returned; `Debug` of every type holding one shows `<redacted>`.
//!
//! # Passwords
//! 12 to 1024 characters, anything else allowed (NIST SP 800-63B: length, no composition rules).
//! Hashed with argon2id at OWASP's parameters ([`HashParams::OWASP`]: 19 MiB, 2 passes, 1 lane)
//! on the blocking pool. Measured on the 2-core development machine (release build, under a load
//! of about 7): 60 ms best, 100 ms median per verification; the next stronger settings (t=3,
//! m=32 MiB, m=46 MiB) took 100–250 ms, over the 100 ms a login may take, so the OWASP minimum is
//! the one used. A hash made with other parameters still verifies (they are in the PHC string),
//! and is replaced by one with the current parameters at the user's next login.
//!
//! # Login ([`UserStore::authenticate`])
//! 1. **Per address**: a token bucket per client address ([`LOGIN_BURST`] attempts, refilled at
//!    [`LOGIN_ATTEMPTS_PER_MINUTE`]; IPv6 by /64), in this node's memory. Over it:
//!    [`LoginError::RateLimited`], before anything is read.
//! 2. **Per user**: after `login_max_failures` consecutive failures the user is locked for
//!    `login_lockout_secs` ([`LoginError::Locked`], even with the right password); a success
//!    resets the count. Counted in the index, so nodes count together. Names that are not users
//!    are counted and locked the same way in memory, so a lock does not tell which names exist.
//! 3. **Same answer, same time**: an unknown name, a wrong password and an inactive user all
//!    answer [`LoginError::BadCredentials`], and all verify one argon2id hash (for an unknown
//!    name, a dummy hash made at start-up with the same parameters). Counting a known user's
//!    failure writes the index (an fsync) and an unknown name's does not, so a refusal is
//!    answered no sooner than [`FAILURE_FLOOR`] after the attempt began, which hides that
//!    difference (and slows guessing a little more).
//!
//! Every refused attempt is recorded in the audit log ([`super::audit`]) with the name given,
//! the client address and why (`failure`, `locked`, `locked_now`, `rate_limited`, `inactive`),
//! never the password; a success is recorded by the UI session it starts
//! ([`super::ui_session`]). Changes to users are recorded by the API that makes them.

mod limit;
#[cfg(test)]
mod tests;

use super::audit::{AuditEntry, Outcome};

/// The action a web UI login is recorded as in the audit log.
pub const LOGIN_ACTION: &str = "vidstream:Login";
/// The action a web UI logout is recorded as in the audit log.
pub const LOGOUT_ACTION: &str = "vidstream:Logout";

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use super::SecretText;
use crate::error::ErrorKind;
pub use crate::store::index::UserStatus;
use crate::store::index::{UserChanges, UserRow};
use crate::store::{Store, StoreError};

/// Shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted, in characters.
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// Login attempts one client address may make at once.
pub const LOGIN_BURST: u32 = 10;
/// Login attempts one client address regains per minute.
pub const LOGIN_ATTEMPTS_PER_MINUTE: u32 = 10;
/// A refused login is answered no sooner than this after it began (see the module doc).
pub const FAILURE_FLOOR: Duration = Duration::from_millis(250);
/// Largest policy document accepted for a user.
pub const MAX_POLICY_BYTES: usize = 16 * 1024;

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory, KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl HashParams {
    /// OWASP's password storage cheat sheet minimum for argon2id: m=19456 KiB, t=2, p=1.
    pub const OWASP: HashParams = HashParams {
        m_kib: 19_456,
        t: 2,
        p: 1,
    };

    fn argon2(self) -> Result<Argon2<'static>, UserError> {
        let params = Params::new(self.m_kib, self.t, self.p, None)
            .map_err(|e| UserError::Hash(format!("argon2 parameters: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// How the user store checks logins.
#[derive(Debug, Clone)]
pub struct UserStoreOptions {
    /// Hash parameters for new hashes.
    pub hash: HashParams,
    /// Consecutive failures that lock a user (`[auth] login_max_failures`).
    pub max_failures: u32,
    /// How long a lock lasts (`[auth] login_lockout_secs`).
    pub lockout: Duration,
    /// Attempts per address at once.
    pub burst: u32,
    /// Attempts per address regained per minute.
    pub per_minute: u32,
    /// Refusals are answered no sooner than this after the attempt began.
    pub failure_floor: Duration,
}

impl Default for UserStoreOptions {
    fn default() -> Self {
        UserStoreOptions {
            hash: HashParams::OWASP,
            max_failures: 5,
            lockout: Duration::from_secs(900),
            burst: LOGIN_BURST,
            per_minute: LOGIN_ATTEMPTS_PER_MINUTE,
            failure_floor: FAILURE_FLOOR,
        }
    }
}

/// A user as listed: everything but the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// Unique name, the login.
    pub name: String,
    /// Active or inactive.
    pub status: UserStatus,
    /// The policy document.
    pub policy_json: String,
    /// Creation time, server epoch ms.
    pub created_ms: i64,
    /// Consecutive failed logins.
    pub failed_logins: u32,
    /// Locked until this server epoch ms; `None` when not locked (or the lock is over).
    pub locked_until_ms: Option<i64>,
}

/// What [`UserStore::create`] makes.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Unique name: 1–128 characters of `A–Z a–z 0–9 _ . @ -`.
    pub name: String,
    /// The password (12–1024 characters).
    pub password: SecretText,
    /// The policy document, validated by the caller with the policy module.
    pub policy_json: String,
}

/// A change to a user ([`UserStore::update`]); `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    /// A new password: ends the user's sessions and clears any lock.
    pub password: Option<SecretText>,
    /// A new policy document, validated by the caller.
    pub policy_json: Option<String>,
    /// A new status: `Inactive` ends the user's sessions, `Active` clears any lock.
    pub status: Option<UserStatus>,
}

/// Why a user operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// A name, password or policy was refused.
    #[error("{0}")]
    Invalid(String),
    /// Hashing failed (bad parameters, a stored hash that does not parse).
    #[error("password hashing: {0}")]
    Hash(String),
    /// The OS random generator failed.
    #[error(transparent)]
    Random(#[from] super::ids::RandomError),
    /// The index failed; includes not found and name taken.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl UserError {
    /// The KVS error kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            UserError::Invalid(_) => ErrorKind::InvalidArgument,
            UserError::Store(e) => e.kind(),
            UserError::Hash(_) | UserError::Random(_) => ErrorKind::Internal,
        }
    }
}

/// Why a login was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user, wrong password or inactive user: one answer for all.
    #[error("wrong user name or password")]
    BadCredentials,
    /// Too many failed logins for this user.
    #[error("too many failed logins for this user; try again in {retry_after_secs} s")]
    Locked {
        /// Seconds until the lock ends.
        retry_after_secs: u64,
    },
    /// Too many attempts from this address.
    #[error("too many login attempts from this address; try again in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until the next attempt is allowed.
        retry_after_secs: u64,
    },
    /// The user's policy does not allow the web UI (`vidstream:UseWebUI`).
    #[error("user `{0}` may not use the web UI: its policy does not allow vidstream:UseWebUI")]
    NotForWebUi(String),
    /// The server failed (the index, hashing).
    #[error(transparent)]
    Internal(#[from] UserError),
}

impl LoginError {
    /// The KVS error kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            LoginError::BadCredentials | LoginError::NotForWebUi(_) => ErrorKind::NotAuthorized,
            LoginError::Locked { .. } | LoginError::RateLimited { .. } => {
                ErrorKind::ClientLimitExceeded
            }
            LoginError::Internal(e) => e.kind(),
        }
    }

    /// Seconds a client should wait before trying again, for a limit.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            LoginError::Locked { retry_after_secs }
            | LoginError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

impl From<StoreError> for LoginError {
    fn from(e: StoreError) -> Self {
        LoginError::Internal(UserError::Store(e))
    }
}

/// The users (see the module doc). Cheap to clone; clones share the limits.
#[derive(Clone)]
pub struct UserStore {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    options: UserStoreOptions,
    /// A hash of a random password, verified for unknown names (same parameters, same time).
    dummy_hash: String,
    addresses: limit::AddressLimiter,
    unknown: limit::UnknownNames,
    /// Counts changes to users made here (see [`UserStore::changes`]).
    changes: AtomicU64,
    audit: super::audit::AuditLog,
}

impl std::fmt::Debug for UserStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserStore")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn secs_until(until_ms: i64, now_ms: i64) -> u64 {
    u64::try_from((until_ms - now_ms).max(0))
        .unwrap_or(0)
        .div_ceil(1000)
        .max(1)
}

/// Checks a password's length (12–1024 characters).
pub fn check_password(password: &str) -> Result<(), UserError> {
    let n = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
        return Err(UserError::Invalid(format!(
            "a password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters long; this one has {n}"
        )));
    }
    Ok(())
}

/// Hashes `password` with argon2id at `params` and a random salt: a PHC string. Blocking (tens
/// of ms): call it on the blocking pool.
pub fn hash_password(params: HashParams, password: &str) -> Result<String, UserError> {
    // A salt needs to be unique, not secret: the thread's CSPRNG is plenty.
    let salt: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt).map_err(|e| UserError::Hash(e.to_string()))?;
    let hash = params
        .argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| UserError::Hash(e.to_string()))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `hash` (with the parameters it names). Blocking.
pub fn verify_password(password: &str, hash: &str) -> Result<bool, UserError> {
    let parsed = PasswordHash::new(hash)
        .map_err(|e| UserError::Hash(format!("a stored password hash does not parse: {e}")))?;
    match Argon2::default().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(UserError::Hash(e.to_string())),
    }
}

/// Whether `hash` was made with other parameters (or another algorithm) than `params`.
pub fn needs_rehash(hash: &str, params: HashParams) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return true;
    };
    let get = |k: &str| parsed.params.get_decimal(k);
    parsed.algorithm.as_str() != "argon2id"
        || get("m") != Some(params.m_kib)
        || get("t") != Some(params.t)
        || get("p") != Some(params.p)
}

/// Runs a blocking hash operation on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, UserError> + Send + 'static,
) -> Result<T, UserError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| UserError::Hash(format!("hashing task failed: {e}")))?
}

fn info(row: &UserRow, now_ms: i64) -> UserInfo {
    UserInfo {
        name: row.name.clone(),
        status: row.status,
        policy_json: row.policy.clone(),
        created_ms: row.created_ms,
        failed_logins: row.failed_logins,
        locked_until_ms: row.locked_until_ms.filter(|&u| u > now_ms),
    }
}

fn check_policy(policy_json: &str) -> Result<(), UserError> {
    if policy_json.trim().is_empty() || policy_json.len() > MAX_POLICY_BYTES {
        return Err(UserError::Invalid(format!(
            "a user's policy must be a JSON document of 1 to {MAX_POLICY_BYTES} bytes"
        )));
    }
    Ok(())
}

impl UserStore {
    /// The users of `store`. Makes the dummy hash (one argon2id hash, on the blocking pool).
    /// Login attempts are recorded in `audit`.
    pub async fn new(
        store: Store,
        options: UserStoreOptions,
        audit: super::audit::AuditLog,
    ) -> Result<UserStore, UserError> {
        let params = options.hash;
        params.argon2()?; // parameters checked once, here
        let dummy_hash = blocking(move || {
            let random = super::ids::new_secret()?;
            hash_password(params, &random)
        })
        .await?;
        Ok(UserStore {
            inner: Arc::new(Inner {
                store,
                addresses: limit::AddressLimiter::new(options.burst, options.per_minute),
                unknown: limit::UnknownNames::default(),
                options,
                dummy_hash,
                changes: AtomicU64::new(0),
                audit,
            }),
        })
    }

    /// The audit log login attempts are recorded in.
    pub fn audit(&self) -> &super::audit::AuditLog {
        &self.inner.audit
    }

    /// How many changes were made to users through this store: caches of what users may do (the
    /// UI sessions') look again when it moves.
    pub fn changes(&self) -> u64 {
        self.inner.changes.load(Ordering::Acquire)
    }

    fn changed(&self) {
        self.inner.changes.fetch_add(1, Ordering::AcqRel);
    }

    fn now_ms(&self) -> i64 {
        self.inner.store.now().millis()
    }

    /// Makes a user.
    pub async fn create(&self, new: NewUser) -> Result<UserInfo, UserError> {
        super::ids::check_name(&new.name).map_err(UserError::Invalid)?;
        check_password(new.password.expose())?;
        check_policy(&new.policy_json)?;
        let params = self.inner.hash_params();
        let password = new.password.clone();
        let password_hash = blocking(move || hash_password(params, password.expose())).await?;
        let row = UserRow {
            name: new.name,
            password_hash,
            policy: new.policy_json,
            status: UserStatus::Active,
            created_ms: self.now_ms(),
            failed_logins: 0,
            locked_until_ms: None,
        };
        self.inner.store.insert_user(row.clone()).await?;
        self.changed();
        Ok(info(&row, row.created_ms))
    }

    /// Every user, by name, without password hashes.
    pub async fn list(&self) -> Result<Vec<UserInfo>, UserError> {
        let now = self.now_ms();
        let rows = self.inner.store.list_users().await?;
        Ok(rows.iter().map(|r| info(r, now)).collect())
    }

    /// One user; [`StoreError::UserNotFound`] if there is none.
    pub async fn get(&self, name: &str) -> Result<UserInfo, UserError> {
        match self.inner.store.user(name).await? {
            Some(row) => Ok(info(&row, self.now_ms())),
            None => Err(StoreError::UserNotFound(name.to_owned()).into()),
        }
    }

    /// The user's row, for the session check (the password hash stays inside `auth`).
    pub(super) async fn row(&self, name: &str) -> Result<Option<UserRow>, StoreError> {
        self.inner.store.user(name).await
    }

    /// Changes a user (see [`UserUpdate`] for what each change also does).
    pub async fn update(&self, name: &str, update: UserUpdate) -> Result<UserInfo, UserError> {
        if let Some(p) = &update.policy_json {
            check_policy(p)?;
        }
        let password_hash = match update.password {
            Some(password) => {
                check_password(password.expose())?;
                let params = self.inner.hash_params();
                Some(blocking(move || hash_password(params, password.expose())).await?)
            }
            None => None,
        };
        let new_password = password_hash.is_some();
        let changes = UserChanges {
            reset_failures: new_password || update.status == Some(UserStatus::Active),
            end_sessions: new_password || update.status == Some(UserStatus::Inactive),
            password_hash,
            policy: update.policy_json,
            status: update.status,
        };
        let row = self.inner.store.update_user(name, changes.clone()).await;
        self.changed();
        let row = row?;
        Ok(info(&row, self.now_ms()))
    }

    /// Deletes a user and ends their sessions.
    pub async fn delete(&self, name: &str) -> Result<(), UserError> {
        let done = self.inner.store.delete_user(name).await;
        self.changed();
        done?;
        Ok(())
    }

    /// Checks a login (see the module doc): the user when `password` is theirs and they may log
    /// in now. `client` is the address the attempt came from.
    pub async fn authenticate(
        &self,
        name: &str,
        password: &SecretText,
        client: IpAddr,
    ) -> Result<UserInfo, LoginError> {
        let started = tokio::time::Instant::now();
        let refused = || async move {
            tokio::time::sleep_until(started + self.inner.options.failure_floor).await;
            LoginError::BadCredentials
        };
        let now = self.now_ms();
        let o = &self.inner.options;
        // A name that cannot be a user's (a password typed into the wrong field, say) is not
        // written to the log.
        let shown = match super::ids::check_name(name) {
            Ok(()) => name,
            Err(_) => "(not a user name)",
        };
        let audit = |why: &str| {
            self.inner.audit.record(
                AuditEntry::new(shown, LOGIN_ACTION, "*", Outcome::Denied)
                    .address(Some(client))
                    .detail(why),
            );
        };
        if let Err(wait_ms) = self.inner.addresses.take(client, now) {
            audit("rate_limited");
            return Err(LoginError::RateLimited {
                retry_after_secs: secs_until(now + wait_ms, now),
            });
        }
        let lock_until = now.saturating_add(ms(o.lockout));
        // Absurd names or passwords are not looked up; they are wrong all the same.
        let plausible = super::ids::check_name(name).is_ok()
            && password.expose().len() <= 4 * MAX_PASSWORD_CHARS;
        let row = match plausible {
            true => self.inner.store.user(name).await?,
            false => None,
        };
        let Some(row) = row else {
            if let Some(until) = self.inner.unknown.locked_until(name, now) {
                audit("locked");
                return Err(LoginError::Locked {
                    retry_after_secs: secs_until(until, now),
                });
            }
            let (pw, dummy) = (password.clone(), self.inner.dummy_hash.clone());
            blocking(move || verify_password(pw.expose(), &dummy)).await?;
            if self
                .inner
                .unknown
                .fail(name, now, o.max_failures, lock_until)
                .is_some()
            {
                audit("locked_now");
            } else {
                audit("failure");
            }
            return Err(refused().await);
        };
        if let Some(until) = row.locked_until_ms.filter(|&u| u > now) {
            audit("locked");
            return Err(LoginError::Locked {
                retry_after_secs: secs_until(until, now),
            });
        }
        let (pw, hash) = (password.clone(), row.password_hash.clone());
        let matches = blocking(move || verify_password(pw.expose(), &hash)).await?;
        if !matches {
            let after = self
                .inner
                .store
                .record_login_failure(name, o.max_failures, lock_until)
                .await?;
            if after.and_then(|a| a.locked_until_ms) == Some(lock_until) {
                audit("locked_now");
            } else {
                audit("failure");
            }
            return Err(refused().await);
        }
        if row.status != UserStatus::Active {
            audit("inactive");
            return Err(refused().await);
        }
        let params = self.inner.hash_params();
        let rehash = needs_rehash(&row.password_hash, params);
        let row = if rehash || row.failed_logins > 0 || row.locked_until_ms.is_some() {
            let password_hash = match rehash {
                true => {
                    let pw = password.clone();
                    Some(blocking(move || hash_password(params, pw.expose())).await?)
                }
                false => None,
            };
            let changes = UserChanges {
                password_hash,
                reset_failures: true,
                ..Default::default()
            };
            self.inner.store.update_user(name, changes).await?
        } else {
            row
        };
        Ok(info(&row, now))
    }
}

impl Inner {
    fn hash_params(&self) -> HashParams {
        self.options.hash
    }
}
