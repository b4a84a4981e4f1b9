//! The store's access keys and made-on-first-use secrets: pass-through to the index and the
//! data directory, so that `crate::auth` persists through the [`Store`] facade like every other
//! module (invariant 9). Ids, sealing and caching are `auth`'s; the store keeps rows and files.

use super::{Store, StoreError, secret};
use crate::store::Secret;
use crate::store::index::{AccessKeyRow, AccessKeyStatus};

impl Store {
    /// Replaces a random secret of the data directory with a new one and returns it (e.g. the
    /// playback session key: every URL signed with the old one stops working). Blocking file
    /// I/O.
    pub fn rotate_secret(&self, which: Secret) -> Result<Vec<u8>, StoreError> {
        secret::replace(self.data_dir(), which)
    }

    /// A secret kept in the data directory; on first use `make`'s bytes (at least
    /// [`secret::SECRET_BYTES`]) are written, mode 0600, atomically. For secrets that are not
    /// plain random bytes (the root credentials). Blocking file I/O: call it at start-up.
    pub fn secret_or_create_with(
        &self,
        which: Secret,
        make: impl FnOnce() -> Vec<u8>,
    ) -> Result<Vec<u8>, StoreError> {
        secret::load_or_create_with(self.data_dir(), which, make)
    }

    /// Adds an access key; [`StoreError::AccessKeyNameTaken`] or
    /// [`StoreError::AccessKeyExists`] if its name or id is taken.
    pub async fn insert_access_key(&self, key: AccessKeyRow) -> Result<(), StoreError> {
        self.index().insert_access_key(key).await
    }

    /// The access key with this id; `None` if there is none.
    pub async fn access_key(
        &self,
        access_key_id: &str,
    ) -> Result<Option<AccessKeyRow>, StoreError> {
        self.index().access_key(access_key_id).await
    }

    /// Every access key, by name.
    pub async fn list_access_keys(&self) -> Result<Vec<AccessKeyRow>, StoreError> {
        self.index().list_access_keys().await
    }

    /// Sets a key's status; [`StoreError::AccessKeyNotFound`] if there is none.
    pub async fn set_access_key_status(
        &self,
        access_key_id: &str,
        status: AccessKeyStatus,
    ) -> Result<(), StoreError> {
        self.index()
            .set_access_key_status(access_key_id, status)
            .await
    }

    /// Removes a key; [`StoreError::AccessKeyNotFound`] if there is none.
    pub async fn delete_access_key(&self, access_key_id: &str) -> Result<(), StoreError> {
        self.index().delete_access_key(access_key_id).await
    }

    /// Removes every key expired at `now_ms`; returns their ids.
    pub async fn delete_expired_access_keys(&self, now_ms: i64) -> Result<Vec<String>, StoreError> {
        self.index().delete_expired_access_keys(now_ms).await
    }
}
