//! Derived signing keys, kept so a verification costs one HMAC instead of five.
//!
//! A signing key depends on the secret, the date, the region and the service, so it changes once
//! a day per access key and region. The cache maps `access key id/date/region/service` to the
//! keyed HMAC state (the key's inner and outer pads already hashed) plus a SHA-256 fingerprint of
//! the secret it was derived from: a rotated secret misses the cache instead of verifying against
//! the old one.
//!
//! Bounded: at `capacity` entries the next insertion empties it (yesterday's keys are the bulk of
//! a full cache; a clear costs one derivation per active key). The verifier inserts only after a
//! signature checked out, so callers without a valid signature cannot fill it.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use hmac::Hmac;
use sha2::Sha256;

/// A bounded cache of derived SigV4 signing keys, shared by all requests (internally locked).
pub struct SigningKeyCache {
    capacity: usize,
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    secret_fingerprint: [u8; 32],
    mac: Hmac<Sha256>,
}

impl SigningKeyCache {
    /// Enough for a few hundred access keys across the day boundary.
    pub const DEFAULT_CAPACITY: usize = 1024;

    /// An empty cache holding at most `capacity` keys (0 disables caching).
    pub fn new(capacity: usize) -> Self {
        SigningKeyCache {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Forgets every key (e.g. after the key store revoked or rotated keys).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The keyed HMAC of `key` if it was derived from the secret with this fingerprint.
    pub(crate) fn get(&self, key: &str, secret_fingerprint: &[u8; 32]) -> Option<Hmac<Sha256>> {
        self.lock()
            .get(key)
            .filter(|e| e.secret_fingerprint == *secret_fingerprint)
            .map(|e| e.mac.clone())
    }

    /// Keeps the keyed HMAC of `key`.
    pub(crate) fn insert(&self, key: String, secret_fingerprint: [u8; 32], mac: Hmac<Sha256>) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                secret_fingerprint,
                mac,
            },
        );
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // A panic elsewhere while holding the lock leaves a map that is still consistent.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for SigningKeyCache {
    fn default() -> Self {
        SigningKeyCache::new(Self::DEFAULT_CAPACITY)
    }
}

impl std::fmt::Debug for SigningKeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys are secrets: only the count is shown.
        f.debug_struct("SigningKeyCache")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::sigv4::keyed;

    #[test]
    fn bounded_and_keyed_by_secret() {
        let cache = SigningKeyCache::new(2);
        let mac = keyed(b"k");
        cache.insert("a".into(), [1; 32], mac.clone());
        assert!(cache.get("a", &[1; 32]).is_some());
        assert!(cache.get("a", &[2; 32]).is_none(), "another secret misses");
        cache.insert("b".into(), [1; 32], mac.clone());
        cache.insert("b".into(), [1; 32], mac.clone());
        assert_eq!(cache.len(), 2, "replacing a key does not evict");
        cache.insert("c".into(), [1; 32], mac.clone());
        assert_eq!(cache.len(), 1, "full: emptied before inserting");
        assert!(cache.get("c", &[1; 32]).is_some());
        let off = SigningKeyCache::new(0);
        off.insert("a".into(), [1; 32], mac);
        assert!(off.is_empty());
        assert!(!format!("{cache:?}").contains('['), "{cache:?}");
    }
}
