//! The backend switch: which engines every test server stores on.
//!
//! `VIDSTREAM_TEST_INDEX=postgres` puts each data directory's index in a PostgreSQL database of
//! its own, on one throwaway cluster per test process (`vidstream::testbed::postgres`); unset or
//! `sqlite`, the embedded default. A server restarted on the same data directory finds the
//! same database, as a real deployment would.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use vidstream::config::{Config, IndexEngine};
use vidstream::testbed::postgres::Postgres;

/// Whether the suite runs on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var("VIDSTREAM_TEST_INDEX").is_ok_and(|v| v == "postgres")
}

/// The database URL of `data_dir`'s index, created on first use.
async fn database_of(data_dir: &Path) -> String {
    static DATABASES: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);
    if let Some(url) = DATABASES
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .get(data_dir)
    {
        return url.clone();
    }
    let pg = tokio::task::spawn_blocking(|| Postgres::shared().map_err(|e| e.to_string()))
        .await
        .unwrap()
        .expect("the throwaway PostgreSQL cluster starts");
    let url = pg.create_database().await.expect("a test database");
    DATABASES
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .entry(data_dir.to_owned())
        .or_insert(url)
        .clone()
}

/// Points `config`'s store at the suite's backend for its data directory.
pub async fn apply(config: &mut Config) {
    if on_postgres() {
        config.store.index = IndexEngine::Postgres;
        config.store.postgres_url = database_of(&config.data_dir).await.into();
        config.store.postgres_pool_size = 4;
    }
}

/// The same, as environment variables for a `vidstream` process serving `data_dir`.
pub async fn env(data_dir: &Path) -> Vec<(String, String)> {
    if !on_postgres() {
        return Vec::new();
    }
    vec![
        ("VIDSTREAM_STORE__INDEX".into(), "postgres".into()),
        (
            "VIDSTREAM_STORE__POSTGRES_URL".into(),
            database_of(data_dir).await,
        ),
    ]
}

/// `vidstream check` of `data_dir` on the suite's backend (the server must be stopped).
pub async fn check(
    data_dir: &Path,
) -> Result<vidstream::store::check::CheckReport, vidstream::store::StoreError> {
    let mut config = Config {
        data_dir: data_dir.to_owned(),
        ..Config::default()
    };
    apply(&mut config).await;
    vidstream::store::check::check(data_dir, &config.store.index_backend(), None).await
}
