//! `[store]`: which engines hold the index (and, later, the media).

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
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            index: IndexEngine::Sqlite,
            postgres_url: ConfigSecret::default(),
            postgres_pool_size: 16,
        }
    }
}

impl StoreSettings {
    pub(super) fn validate(&self) -> Result<(), String> {
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
