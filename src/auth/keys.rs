//! The key store: the access keys that sign requests, where they live and how a request's key id
//! becomes the secret and policy to check it with.
//!
//! Keys are rows of the index (shared by every node): id, unique name, the secret sealed under
//! the master key for that id ([`seal`], purpose [`ACCESS_KEY_PURPOSE`]), status,
//! policy (IAM-style JSON text that only the policy module reads), creation time and creator,
//! an optional expiry, and for a temporary key the SHA-256 of its session token. The secret and
//! the session token are returned once, by [`KeyStore::create`]; nothing else returns them, and
//! no `Debug` shows them.
//!
//! # The root key
//! [`KeyStore::lookup`] also resolves the root key ([`root`]), without the index,
//! with the policy [`KeyPolicy::Admin`]: allowed everything, no document to evaluate. Stored keys
//! always carry [`KeyPolicy::Json`]; `Admin` is never stored, so no row can grant it. The root key
//! is not listed and cannot be disabled or deleted through the store (change the config or the
//! file and restart).
//!
//! # The lookup cache and its window
//! `lookup` is on every request's path, so it answers from memory: an entry is read from the
//! index on first use and re-read once it is older than the TTL ([`DEFAULT_CACHE_TTL`], 10 s).
//! Every change made through this `KeyStore` (create, status, delete, purge) drops the entry at
//! once, and a read that raced with a change is not cached. A change made by another node (or
//! another `KeyStore`) is seen here within the TTL: **a key disabled or deleted elsewhere may
//! still be accepted here for up to 10 s**. Expiry is exact: the caller checks it against the clock on
//! every request, cached or not ([`Resolved::expired_at`]). The cache holds at most [`DEFAULT_CACHE_CAPACITY`] entries
//! (unknown ids are cached too, as absent, so a client repeating a bad id costs one index read
//! per TTL); when full, stale entries go first, then arbitrary ones.

mod cache;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::SecretText;
use super::ids::{self, KeyKind};
use super::root::{self, RootKey, RootSource};
use super::seal::{self, MasterKey, MasterKeySource, SealError, Sealer};
use crate::error::ErrorKind;
use crate::store::index::AccessKeyRow;
pub use crate::store::index::AccessKeyStatus as KeyStatus;
use crate::store::{Store, StoreError};
use crate::time::ServerTime;

/// The seal purpose of access keys' secrets.
pub const ACCESS_KEY_PURPOSE: &str = "access-key-secret";
/// How long a cached lookup is trusted before the index is read again.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(10);
/// Most cached lookups.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;
/// Largest policy document accepted.
pub const MAX_POLICY_BYTES: usize = 16 * 1024;
/// Stored keys tried at start-up to check that the master key is the one that sealed them.
const MASTER_KEY_PROBES: usize = 8;

/// What a key is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPolicy {
    /// Everything: the root key's built-in policy. Never stored.
    Admin,
    /// An IAM-style policy document (JSON text) for the policy module to evaluate.
    Json(Arc<str>),
}

impl KeyPolicy {
    /// The policy document; `None` for [`KeyPolicy::Admin`] (which has none: it allows all).
    pub fn json(&self) -> Option<&str> {
        match self {
            KeyPolicy::Admin => None,
            KeyPolicy::Json(j) => Some(j),
        }
    }
}

/// What [`KeyStore::create`] makes.
#[derive(Debug, Clone)]
pub struct KeySpec {
    /// Unique name: 1–128 characters of `A–Z a–z 0–9 _ . @ -`; `root` is reserved.
    pub name: String,
    /// The policy document (JSON text, at most [`MAX_POLICY_BYTES`]); validate it with the
    /// policy module first, the store does not read it.
    pub policy_json: String,
    /// When the key stops working (server time); required for temporary keys.
    pub expires: Option<ServerTime>,
    /// A temporary key (`VSTK…`, with a session token) rather than a long-term one (`VSAK…`).
    pub temporary: bool,
    /// Who asks (the caller's access key id, a UI user, `root`); stored as given.
    pub created_by: String,
}

/// A key as listed: everything but secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The public half.
    pub access_key_id: String,
    /// Unique name.
    pub name: String,
    /// Active or inactive.
    pub status: KeyStatus,
    /// The policy document.
    pub policy_json: String,
    /// Creation time, server epoch ms.
    pub created_ms: i64,
    /// Expiry, server epoch ms; `None` = never.
    pub expires_ms: Option<i64>,
    /// A temporary key (it needs its session token).
    pub temporary: bool,
    /// Who made it.
    pub created_by: String,
}

/// A key just made: the only time its secret (and session token) is returned.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The key as listed.
    pub info: KeyInfo,
    /// The secret access key.
    pub secret_access_key: SecretText,
    /// The session token, for temporary keys.
    pub session_token: Option<SecretText>,
}

/// What a request's access key id resolves to: what SigV4 and the policy need.
#[derive(Debug)]
pub struct Resolved {
    /// The public half.
    pub access_key_id: String,
    secret: SecretText,
    /// The key's policy (`Admin` for the root key only).
    pub policy: KeyPolicy,
    /// Expiry, server epoch ms (already checked by [`KeyStore::lookup`]); `None` = never.
    pub expires_ms: Option<i64>,
    /// SHA-256 of the session token a temporary key must come with.
    pub session_token_sha256: Option<[u8; 32]>,
    /// The key's name (`root` for the root key).
    pub name: String,
    /// Whether this is the root key.
    pub root: bool,
}

impl Resolved {
    /// The secret access key, to recompute the signature with.
    pub fn secret(&self) -> &str {
        self.secret.expose()
    }

    /// Whether the key is expired at `now_ms` (server epoch ms).
    pub fn expired_at(&self, now_ms: i64) -> bool {
        self.expires_ms.is_some_and(|e| e <= now_ms)
    }

    /// Whether the request's session token (`X-Amz-Security-Token`) fits the key: a temporary
    /// key needs its own token (compared by SHA-256 in constant time), a long-term or root key
    /// needs none.
    pub fn session_token_matches(&self, token: Option<&str>) -> bool {
        match (&self.session_token_sha256, token) {
            (None, None) => true,
            (Some(want), Some(token)) => {
                let got: [u8; 32] = Sha256::digest(token.as_bytes()).into();
                want.iter().zip(got).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
            }
            _ => false,
        }
    }
}

/// How the key store gets its keys.
#[derive(Debug, Clone)]
pub struct KeyStoreOptions {
    /// The configured root key; `None` = the data directory's (generated on first start).
    pub root: Option<RootKey>,
    /// The configured master key; `None` = the data directory's (generated on first start).
    pub master_key: Option<MasterKey>,
    /// See [`DEFAULT_CACHE_TTL`].
    pub cache_ttl: Duration,
    /// See [`DEFAULT_CACHE_CAPACITY`].
    pub cache_capacity: usize,
}

impl Default for KeyStoreOptions {
    fn default() -> Self {
        KeyStoreOptions {
            root: None,
            master_key: None,
            cache_ttl: DEFAULT_CACHE_TTL,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
        }
    }
}

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A name, policy or expiry was refused.
    #[error("{0}")]
    Invalid(String),
    /// The operation does not apply to the root key.
    #[error(
        "`{0}` is the root key, which is not stored: change [auth] root_access_key_id / root_secret_access_key or DATA_DIR/root-credentials and restart"
    )]
    RootKey(String),
    /// The master key opens none of the stored keys.
    #[error(
        "the master key in use (fingerprint {fingerprint}, from {source_name}) opens none of the stored access keys; configure the master key they were sealed with ([auth] master_key, or restore DATA_DIR/master.key)"
    )]
    WrongMasterKey {
        /// The fingerprint of the key in use.
        fingerprint: String,
        /// Where it came from.
        source_name: String,
    },
    /// A sealed secret did not open, or the master key could not be loaded.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The root key could not be loaded or made.
    #[error(transparent)]
    Root(#[from] root::RootError),
    /// The OS random generator failed.
    #[error(transparent)]
    Random(#[from] ids::RandomError),
    /// The index or data directory failed; includes not found and name taken.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl KeyError {
    /// The KVS error kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            KeyError::Invalid(_) | KeyError::RootKey(_) => ErrorKind::InvalidArgument,
            KeyError::Store(e) => e.kind(),
            KeyError::Seal(e) => e.kind(),
            KeyError::WrongMasterKey { .. } | KeyError::Root(_) | KeyError::Random(_) => {
                ErrorKind::Internal
            }
        }
    }
}

/// The access keys (see the module doc). Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct KeyStore {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    sealer: Sealer,
    root: Arc<Resolved>,
    root_source: RootSource,
    master_key_source: MasterKeySource,
    cache: cache::Cache,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("root", &self.inner.root.access_key_id)
            .field("master_key", &self.inner.sealer.fingerprint())
            .finish_non_exhaustive()
    }
}

impl KeyStore {
    /// Loads the master key and the root key (each configured, or the data directory's, made on
    /// first start) and checks that the master key opens the stored keys.
    pub async fn open(store: Store, opts: KeyStoreOptions) -> Result<KeyStore, KeyError> {
        let s = store.clone();
        let (master, master_key_source, root, root_source) =
            tokio::task::spawn_blocking(move || -> Result<_, KeyError> {
                let (m, ms) = seal::load_master_key(opts.master_key, &s)?;
                let (r, rs) = root::load_root_key(opts.root, &s)?;
                Ok((m, ms, r, rs))
            })
            .await
            .map_err(|e| StoreError::internal(format!("loading keys: {e}")))??;
        let sealer = Sealer::new(&master);
        drop(master);
        tracing::info!(
            fingerprint = sealer.fingerprint(),
            source = %master_key_source,
            "master key loaded"
        );
        check_master_key(&store, &sealer, &master_key_source).await?;
        let root = Arc::new(Resolved {
            access_key_id: root.access_key_id().to_owned(),
            secret: root.secret().clone(),
            policy: KeyPolicy::Admin,
            expires_ms: None,
            session_token_sha256: None,
            name: "root".to_owned(),
            root: true,
        });
        Ok(KeyStore {
            inner: Arc::new(Inner {
                store,
                sealer,
                root,
                root_source,
                master_key_source,
                cache: cache::Cache::new(opts.cache_ttl, opts.cache_capacity),
            }),
        })
    }

    /// The root key's id.
    pub fn root_access_key_id(&self) -> &str {
        &self.inner.root.access_key_id
    }

    /// Where the root key came from.
    pub fn root_source(&self) -> &RootSource {
        &self.inner.root_source
    }

    /// Where the master key came from.
    pub fn master_key_source(&self) -> &MasterKeySource {
        &self.inner.master_key_source
    }

    /// The sealer, for other secrets at rest (e.g. camera passwords, purpose
    /// `camera-password`, id the camera name).
    pub fn sealer(&self) -> &Sealer {
        &self.inner.sealer
    }

    /// Makes a key. The returned [`NewKey`] is the only place its secret (and session token)
    /// ever appears.
    pub async fn create(&self, spec: KeySpec) -> Result<NewKey, KeyError> {
        ids::check_name(&spec.name).map_err(KeyError::Invalid)?;
        if spec.name.eq_ignore_ascii_case("root") {
            return Err(KeyError::Invalid(
                "key name `root` is reserved for the root key; pick another".into(),
            ));
        }
        if spec.policy_json.trim().is_empty() || spec.policy_json.len() > MAX_POLICY_BYTES {
            return Err(KeyError::Invalid(format!(
                "a key's policy must be a JSON document of 1 to {MAX_POLICY_BYTES} bytes"
            )));
        }
        let now = self.inner.store.now().millis();
        let expires_ms = spec.expires.map(ServerTime::millis);
        match expires_ms {
            None if spec.temporary => {
                return Err(KeyError::Invalid("a temporary key needs an expiry".into()));
            }
            Some(e) if e <= now => {
                return Err(KeyError::Invalid(format!(
                    "expiry {} is not in the future",
                    crate::time::rfc3339_ms(e)
                )));
            }
            _ => {}
        }
        let kind = if spec.temporary {
            KeyKind::Temporary
        } else {
            KeyKind::LongTerm
        };
        let secret = ids::new_secret()?;
        let token = spec.temporary.then(ids::new_session_token).transpose()?;
        let token_sha256 = token
            .as_ref()
            .map(|t| <[u8; 32]>::from(Sha256::digest(t.as_bytes())));
        // 80 random bits make a collision practically impossible; still, one is answered by
        // drawing again, never by failing the caller.
        let mut attempts = 0;
        let row = loop {
            attempts += 1;
            let id = ids::new_access_key_id(kind)?;
            let row = AccessKeyRow {
                sealed_secret: self
                    .inner
                    .sealer
                    .seal(ACCESS_KEY_PURPOSE, &id, secret.as_bytes()),
                access_key_id: id,
                name: spec.name.clone(),
                status: KeyStatus::Active,
                policy: spec.policy_json.clone(),
                created_ms: now,
                expires_ms,
                session_token_sha256: token_sha256,
                created_by: spec.created_by.clone(),
            };
            match self.inner.store.insert_access_key(row.clone()).await {
                Ok(()) => break row,
                Err(StoreError::AccessKeyExists(_)) if attempts < 3 => continue,
                Err(e) => return Err(e.into()),
            }
        };
        self.inner.cache.invalidate(&row.access_key_id);
        tracing::info!(
            access_key_id = row.access_key_id,
            name = row.name,
            created_by = row.created_by,
            temporary = spec.temporary,
            "access key created"
        );
        Ok(NewKey {
            info: info(&row),
            secret_access_key: SecretText::new(&secret),
            session_token: token.map(|t| SecretText::new(&t)),
        })
    }

    /// Every stored key, by name, without secrets (the root key is not stored, so not listed).
    pub async fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        let rows = self.inner.store.list_access_keys().await?;
        Ok(rows.iter().map(info).collect())
    }

    /// One stored key, without secrets; [`StoreError::AccessKeyNotFound`] if there is none.
    pub async fn get(&self, access_key_id: &str) -> Result<KeyInfo, KeyError> {
        self.refuse_root(access_key_id)?;
        match self.inner.store.access_key(access_key_id).await? {
            Some(row) => Ok(info(&row)),
            None => Err(StoreError::AccessKeyNotFound(access_key_id.to_owned()).into()),
        }
    }

    /// Activates or deactivates a key. Takes effect at once on this node, within the cache TTL
    /// on others.
    pub async fn set_status(&self, access_key_id: &str, status: KeyStatus) -> Result<(), KeyError> {
        self.refuse_root(access_key_id)?;
        let done = self
            .inner
            .store
            .set_access_key_status(access_key_id, status)
            .await;
        self.inner.cache.invalidate(access_key_id);
        done?;
        tracing::info!(
            access_key_id,
            status = status.as_str(),
            "access key status changed"
        );
        Ok(())
    }

    /// Deletes a key. Takes effect at once on this node, within the cache TTL on others.
    pub async fn delete(&self, access_key_id: &str) -> Result<(), KeyError> {
        self.refuse_root(access_key_id)?;
        let done = self.inner.store.delete_access_key(access_key_id).await;
        self.inner.cache.invalidate(access_key_id);
        done?;
        tracing::info!(access_key_id, "access key deleted");
        Ok(())
    }

    /// Deletes every expired key (temporary keys pile up otherwise); returns their ids. Expired
    /// keys are refused by [`KeyStore::lookup`] whether purged or not.
    pub async fn purge_expired(&self) -> Result<Vec<String>, KeyError> {
        let now = self.inner.store.now().millis();
        let gone = self.inner.store.delete_expired_access_keys(now).await?;
        for id in &gone {
            self.inner.cache.invalidate(id);
        }
        if !gone.is_empty() {
            tracing::info!(count = gone.len(), "expired access keys deleted");
        }
        Ok(gone)
    }

    /// The key a request names: the root key, or a stored key that is active. `None` for unknown
    /// and inactive keys alike (the caller answers both the same way). An expired key is
    /// returned: the caller checks [`Resolved::expired_at`] and answers `ExpiredToken`, as AWS
    /// does for expired temporary credentials. From memory when cached (see the module doc for
    /// the window); errors are the index's, or a secret that does not open (never cached,
    /// logged).
    pub async fn lookup(&self, access_key_id: &str) -> Result<Option<Arc<Resolved>>, KeyError> {
        if access_key_id == self.inner.root.access_key_id {
            return Ok(Some(Arc::clone(&self.inner.root)));
        }
        if !matches!(
            KeyKind::of(access_key_id),
            Some(KeyKind::LongTerm | KeyKind::Temporary)
        ) {
            // Not an id this server makes: no index read, no cache entry.
            return Ok(None);
        }
        let resolved = match self.inner.cache.get(access_key_id) {
            cache::Cached::Hit(v) => v,
            cache::Cached::Miss(ticket) => {
                let row = self.inner.store.access_key(access_key_id).await?;
                let v = match row {
                    Some(row) if row.status == KeyStatus::Active => {
                        Some(Arc::new(self.resolve(row)?))
                    }
                    _ => None,
                };
                self.inner.cache.put(access_key_id, v.clone(), ticket);
                v
            }
        };
        Ok(resolved)
    }

    fn resolve(&self, row: AccessKeyRow) -> Result<Resolved, KeyError> {
        let plain = self
            .inner
            .sealer
            .open(ACCESS_KEY_PURPOSE, &row.access_key_id, &row.sealed_secret)
            .inspect_err(|e| {
                tracing::error!(access_key_id = row.access_key_id, error = %e, "access key secret does not open");
            })?;
        let secret = std::str::from_utf8(&plain).map_err(|_| {
            StoreError::corruption(format!(
                "secret of access key `{}` is not UTF-8",
                row.access_key_id
            ))
        })?;
        Ok(Resolved {
            secret: SecretText::new(secret),
            policy: KeyPolicy::Json(Arc::from(row.policy)),
            expires_ms: row.expires_ms,
            session_token_sha256: row.session_token_sha256,
            name: row.name,
            root: false,
            access_key_id: row.access_key_id,
        })
    }

    fn refuse_root(&self, access_key_id: &str) -> Result<(), KeyError> {
        if access_key_id == self.inner.root.access_key_id {
            return Err(KeyError::RootKey(access_key_id.to_owned()));
        }
        Ok(())
    }

    /// Entries in the lookup cache (for tests and metrics).
    pub fn cached_entries(&self) -> usize {
        self.inner.cache.len()
    }
}

fn info(row: &AccessKeyRow) -> KeyInfo {
    KeyInfo {
        access_key_id: row.access_key_id.clone(),
        name: row.name.clone(),
        status: row.status,
        policy_json: row.policy.clone(),
        created_ms: row.created_ms,
        expires_ms: row.expires_ms,
        temporary: row.session_token_sha256.is_some(),
        created_by: row.created_by.clone(),
    }
}

/// Fails start-up when the master key opens none of the first stored keys: a node configured
/// with another cluster's key, or a lost `master.key` replaced by a new one. Keys that do not
/// open while others do are logged (damaged rows), not fatal.
async fn check_master_key(
    store: &Store,
    sealer: &Sealer,
    source: &MasterKeySource,
) -> Result<(), KeyError> {
    let rows = store.list_access_keys().await?;
    let probes = &rows[..rows.len().min(MASTER_KEY_PROBES)];
    let failed: Vec<&str> = probes
        .iter()
        .filter(|r| {
            sealer
                .open(ACCESS_KEY_PURPOSE, &r.access_key_id, &r.sealed_secret)
                .is_err()
        })
        .map(|r| r.access_key_id.as_str())
        .collect();
    if !probes.is_empty() && failed.len() == probes.len() {
        return Err(KeyError::WrongMasterKey {
            fingerprint: sealer.fingerprint().to_owned(),
            source_name: source.to_string(),
        });
    }
    if !failed.is_empty() {
        tracing::error!(
            access_key_ids = ?failed,
            "stored access keys whose secret does not open with the master key; they are refused"
        );
    }
    Ok(())
}
