//! The index's view of web UI users and their sessions: plain stored fields and the
//! [`UserIndex`] half of the [`Index`](super::Index) trait. Password hashing, lock-out policy,
//! session ids and CSRF checks belong to `crate::auth::users` and `crate::auth::ui_session`; the
//! store only persists what it is given, and does atomically what must be atomic across nodes
//! (counting failed logins, ending a user's sessions with a password change).
//!
//! The methods live in their own trait so that each backend implements them in their own file
//! (`sqlite/users.rs`); every [`Index`](super::Index) is a [`UserIndex`], and the conformance
//! suite checks them with the rest (`testsuite/users.rs`).

use async_trait::async_trait;

use crate::store::StoreError;

/// Whether a user may log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserStatus {
    /// The user may log in.
    Active,
    /// The user is kept but refused; it can be made active again.
    Inactive,
}

impl UserStatus {
    /// The stored (and API) spelling: `Active` or `Inactive`.
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "Active",
            UserStatus::Inactive => "Inactive",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<UserStatus> {
        match s {
            "Active" => Some(UserStatus::Active),
            "Inactive" => Some(UserStatus::Inactive),
            _ => None,
        }
    }
}

/// One row of the `users` table.
///
/// `Debug` is written by hand: the password hash never reaches a log line (it is a hash, but an
/// offline guess at it should not start from our logs).
#[derive(Clone, PartialEq, Eq)]
pub struct UserRow {
    /// Unique name, the login.
    pub name: String,
    /// The password's hash as a PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
    pub password_hash: String,
    /// The user's policy document (JSON text the store does not interpret).
    pub policy: String,
    /// Active or inactive.
    pub status: UserStatus,
    /// Creation time, server epoch ms.
    pub created_ms: i64,
    /// Consecutive failed logins since the last success or lock.
    pub failed_logins: u32,
    /// Logins are refused until this server epoch ms; `None` = not locked.
    pub locked_until_ms: Option<i64>,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("name", &self.name)
            .field("password_hash", &"<redacted>")
            .field("policy", &self.policy)
            .field("status", &self.status)
            .field("created_ms", &self.created_ms)
            .field("failed_logins", &self.failed_logins)
            .field("locked_until_ms", &self.locked_until_ms)
            .finish()
    }
}

/// A change to a user, applied in one transaction by [`UserIndex::update_user`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UserChanges {
    /// A new password hash.
    pub password_hash: Option<String>,
    /// A new policy document.
    pub policy: Option<String>,
    /// A new status.
    pub status: Option<UserStatus>,
    /// Forget failed logins and any lock.
    pub reset_failures: bool,
    /// Delete every UI session of the user.
    pub end_sessions: bool,
}

impl std::fmt::Debug for UserChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserChanges")
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "<redacted>"),
            )
            .field("policy", &self.policy)
            .field("status", &self.status)
            .field("reset_failures", &self.reset_failures)
            .field("end_sessions", &self.end_sessions)
            .finish()
    }
}

/// A user's failed-login state after [`UserIndex::record_login_failure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginFailures {
    /// Consecutive failures now (0 right after a lock: the count starts again).
    pub failed_logins: u32,
    /// The lock, if the user is (or was, and it has not been cleared) locked.
    pub locked_until_ms: Option<i64>,
}

/// One row of the `ui_sessions` table: a logged-in browser.
///
/// Only the SHA-256 of the session id (the cookie value) is stored, so the index does not hold
/// live credentials. `Debug` hides the hash and the CSRF token.
#[derive(Clone, PartialEq, Eq)]
pub struct UiSessionRow {
    /// SHA-256 of the session id.
    pub id_sha256: [u8; 32],
    /// The user's name.
    pub user: String,
    /// The token state-changing requests must echo in `x-csrf-token`.
    pub csrf_token: String,
    /// Login time, server epoch ms.
    pub created_ms: i64,
    /// Last use, server epoch ms (written back lazily; see `auth::ui_session`).
    pub last_seen_ms: i64,
    /// Absolute expiry, server epoch ms.
    pub expires_ms: i64,
}

impl std::fmt::Debug for UiSessionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UiSessionRow")
            .field("id_sha256", &"<redacted>")
            .field("user", &self.user)
            .field("csrf_token", &"<redacted>")
            .field("created_ms", &self.created_ms)
            .field("last_seen_ms", &self.last_seen_ms)
            .field("expires_ms", &self.expires_ms)
            .finish()
    }
}

/// Storage of web UI users and sessions (a part of every [`Index`](super::Index)).
/// Implementations must be safe to call concurrently.
#[async_trait]
pub trait UserIndex: Send + Sync {
    /// Inserts a user; [`StoreError::UserExists`] if the name is taken (nothing is inserted).
    async fn insert_user(&self, user: UserRow) -> Result<(), StoreError>;

    /// The user with this name, if any.
    async fn user(&self, name: &str) -> Result<Option<UserRow>, StoreError>;

    /// Every user, ordered by name.
    async fn list_users(&self) -> Result<Vec<UserRow>, StoreError>;

    /// Applies `changes` in one transaction and returns the user as it is after them;
    /// [`StoreError::UserNotFound`] if there is no such user (nothing changes).
    async fn update_user(&self, name: &str, changes: UserChanges) -> Result<UserRow, StoreError>;

    /// Removes the user and every session of theirs; [`StoreError::UserNotFound`] if there is
    /// none.
    async fn delete_user(&self, name: &str) -> Result<(), StoreError>;

    /// Counts a failed login, atomically (nodes sharing the index count together): the count
    /// goes up by one, and when it reaches `max_failures` the user is locked until
    /// `lock_until_ms` and the count starts again from 0. `None` if there is no such user.
    async fn record_login_failure(
        &self,
        name: &str,
        max_failures: u32,
        lock_until_ms: i64,
    ) -> Result<Option<LoginFailures>, StoreError>;

    /// Inserts a session; [`StoreError::UserNotFound`] if its user does not exist (any more).
    async fn insert_ui_session(&self, session: UiSessionRow) -> Result<(), StoreError>;

    /// The session whose id hashes to `id_sha256`, if any.
    async fn ui_session(&self, id_sha256: [u8; 32]) -> Result<Option<UiSessionRow>, StoreError>;

    /// Sets the session's `last_seen_ms`; false if there is no such session.
    async fn touch_ui_session(
        &self,
        id_sha256: [u8; 32],
        last_seen_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Removes the session; false if there was none.
    async fn delete_ui_session(&self, id_sha256: [u8; 32]) -> Result<bool, StoreError>;

    /// Removes every session whose absolute expiry is at or before `now_ms` or whose last use is
    /// at or before `idle_cutoff_ms`; returns how many.
    async fn delete_expired_ui_sessions(
        &self,
        now_ms: i64,
        idle_cutoff_ms: i64,
    ) -> Result<u64, StoreError>;
}
