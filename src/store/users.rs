//! The store's web UI users and sessions: pass-through to the index, so that `crate::auth`
//! persists through the [`Store`] facade like every other module (invariant 9). Hashing,
//! lock-out policy and session ids are `auth`'s; the store keeps rows.

use super::{Store, StoreError};
use crate::store::index::{LoginFailures, UiSessionRow, UserChanges, UserRow};

impl Store {
    /// Adds a user; [`StoreError::UserExists`] if the name is taken.
    pub async fn insert_user(&self, user: UserRow) -> Result<(), StoreError> {
        self.index().insert_user(user).await
    }

    /// The user with this name; `None` if there is none.
    pub async fn user(&self, name: &str) -> Result<Option<UserRow>, StoreError> {
        self.index().user(name).await
    }

    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<UserRow>, StoreError> {
        self.index().list_users().await
    }

    /// Changes a user in one transaction; [`StoreError::UserNotFound`] if there is none.
    pub async fn update_user(
        &self,
        name: &str,
        changes: UserChanges,
    ) -> Result<UserRow, StoreError> {
        self.index().update_user(name, changes).await
    }

    /// Removes a user and their sessions; [`StoreError::UserNotFound`] if there is none.
    pub async fn delete_user(&self, name: &str) -> Result<(), StoreError> {
        self.index().delete_user(name).await
    }

    /// Counts a failed login (see [`Index::record_login_failure`](super::index::UserIndex::record_login_failure)).
    pub async fn record_login_failure(
        &self,
        name: &str,
        max_failures: u32,
        lock_until_ms: i64,
    ) -> Result<Option<LoginFailures>, StoreError> {
        self.index()
            .record_login_failure(name, max_failures, lock_until_ms)
            .await
    }

    /// Adds a UI session; [`StoreError::UserNotFound`] if its user is gone.
    pub async fn insert_ui_session(&self, session: UiSessionRow) -> Result<(), StoreError> {
        self.index().insert_ui_session(session).await
    }

    /// The UI session whose id hashes to `id_sha256`.
    pub async fn ui_session(
        &self,
        id_sha256: [u8; 32],
    ) -> Result<Option<UiSessionRow>, StoreError> {
        self.index().ui_session(id_sha256).await
    }

    /// Records a session's last use; false if the session is gone.
    pub async fn touch_ui_session(
        &self,
        id_sha256: [u8; 32],
        last_seen_ms: i64,
    ) -> Result<bool, StoreError> {
        self.index().touch_ui_session(id_sha256, last_seen_ms).await
    }

    /// Ends a session; false if there was none.
    pub async fn delete_ui_session(&self, id_sha256: [u8; 32]) -> Result<bool, StoreError> {
        self.index().delete_ui_session(id_sha256).await
    }

    /// Removes expired and idle sessions; returns how many.
    pub async fn delete_expired_ui_sessions(
        &self,
        now_ms: i64,
        idle_cutoff_ms: i64,
    ) -> Result<u64, StoreError> {
        self.index()
            .delete_expired_ui_sessions(now_ms, idle_cutoff_ms)
            .await
    }
}
