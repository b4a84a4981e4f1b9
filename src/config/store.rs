//! `[store]`: which engines hold the index and the media.

use serde::{Deserialize, Serialize};

use super::ConfigSecret;

/// Where the index lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexEngine {
    /// `DATA_DIR/index.sqlite`, embedded (the default).
    #[default]
    Sqlite,
    /// A PostgreSQL database (`postgres_url`).
    Postgres,
}

/// Where the media lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MediaEngine {
    /// `DATA_DIR/media` only (the default).
    #[default]
    Local,
    /// PERSISTED after local fsync; sealed segments move to object storage (`[store.s3]`) by the
    /// streams' storage tiers (`store::tiering`).
    LocalThenObject,
}

/// `[store.s3]`: the S3-compatible object store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Settings {
    /// Endpoint URL (`http(s)://host:port`); empty: AWS S3 for `region`.
    pub endpoint: String,
    /// Region (signing; AWS's endpoint).
    pub region: String,
    /// Bucket (must exist).
    pub bucket: String,
    /// Key prefix inside the bucket.
    pub prefix: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key (a secret: never logged).
    pub secret_access_key: ConfigSecret,
    /// Path-style addressing (`endpoint/bucket/key`), which most S3-compatible servers need.
    pub force_path_style: bool,
    /// A PEM file of CA certificates trusted for an `https` endpoint besides the system's.
    pub ca_file: String,
    /// Seconds each try of a request may take.
    pub request_timeout_secs: u64,
}

impl Default for S3Settings {
    fn default() -> Self {
        S3Settings {
            endpoint: String::new(),
            region: "us-east-1".to_owned(),
            bucket: String::new(),
            prefix: "vidstream".to_owned(),
            access_key_id: String::new(),
            secret_access_key: ConfigSecret::default(),
            force_path_style: true,
            ca_file: String::new(),
            request_timeout_secs: 30,
        }
    }
}

/// `[store]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// `sqlite` or `postgres`.
    pub index: IndexEngine,
    /// With `index = "postgres"`: `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (a secret: it
    /// may carry the password; never logged).
    pub postgres_url: ConfigSecret,
    /// With `index = "postgres"`: connections in the pool at most.
    pub postgres_pool_size: usize,
    /// `local` or `local-then-object`.
    pub media: MediaEngine,
    /// With `media = "local-then-object"`: a HOT stream's sealed segments move to object
    /// storage once their newest fragment is this many seconds old; 0: they stay local. (A
    /// WARM stream's move as soon as they are sealed.)
    pub hot_tier_secs: u64,
    /// `[store.s3]`: the object store.
    pub s3: S3Settings,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            index: IndexEngine::Sqlite,
            postgres_url: ConfigSecret::default(),
            postgres_pool_size: 16,
            media: MediaEngine::Local,
            hot_tier_secs: 0,
            s3: S3Settings::default(),
        }
    }
}

impl StoreSettings {
    pub(super) fn validate(&self) -> Result<(), String> {
        if self.media == MediaEngine::LocalThenObject {
            if self.s3.bucket.len() < 3 {
                return Err(
                    "store.media = \"local-then-object\" needs store.s3.bucket (3+ characters)"
                        .into(),
                );
            }
            let e = &self.s3.endpoint;
            let http = e.starts_with("http://") || e.starts_with("https://");
            if !e.is_empty() && !http {
                return Err("store.s3.endpoint must be an http:// or https:// URL".into());
            }
            if !(1..=3600).contains(&self.s3.request_timeout_secs) {
                return Err("store.s3.request_timeout_secs must be 1 to 3600".into());
            }
        }
        match self.index {
            IndexEngine::Sqlite => Ok(()),
            IndexEngine::Postgres => {
                let url = self.postgres_url.expose();
                if url.is_empty() {
                    return Err("store.index = \"postgres\" needs store.postgres_url".into());
                }
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    return Err(
                        "store.postgres_url must be a postgres:// or postgresql:// URL".into(),
                    );
                }
                if !(1..=1000).contains(&self.postgres_pool_size) {
                    return Err("store.postgres_pool_size must be 1 to 1000".into());
                }
                Ok(())
            }
        }
    }

    /// The object store, if the media goes there.
    pub fn object_store(&self) -> Option<crate::store::object::ObjectStoreOptions> {
        if self.media == MediaEngine::Local {
            return None;
        }
        let s = &self.s3;
        Some(crate::store::object::ObjectStoreOptions {
            endpoint: (!s.endpoint.is_empty()).then(|| s.endpoint.clone()),
            region: s.region.clone(),
            bucket: s.bucket.clone(),
            prefix: s.prefix.clone(),
            access_key_id: s.access_key_id.clone(),
            secret_access_key: s.secret_access_key.expose().to_owned(),
            force_path_style: s.force_path_style,
            ca_file: (!s.ca_file.is_empty()).then(|| s.ca_file.clone().into()),
            request_timeout: std::time::Duration::from_secs(s.request_timeout_secs),
            ..Default::default()
        })
    }

    /// Which segments move to object storage.
    pub fn tier_policy(&self) -> crate::store::tiering::TierPolicy {
        crate::store::tiering::TierPolicy {
            hot_after_ms: (self.hot_tier_secs > 0).then(|| {
                i64::try_from(self.hot_tier_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
            }),
        }
    }

    /// The store's index backend.
    pub fn index_backend(&self) -> crate::store::IndexBackend {
        match self.index {
            IndexEngine::Sqlite => crate::store::IndexBackend::Sqlite,
            IndexEngine::Postgres => crate::store::IndexBackend::Postgres {
                url: self.postgres_url.expose().to_owned(),
                pool_size: self.postgres_pool_size,
            },
        }
    }
}
