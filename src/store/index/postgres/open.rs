//! Connecting: the URL, the pool and its timeouts, the durability check and the schema
//! migrations.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Config, NoTls};

use super::db;
use crate::store::StoreError;

/// How long opening one connection may take (`connect_timeout`, unless the URL sets one), and
/// how long a call waits for a free pooled connection or for a new one to open (the URL's
/// `connect_timeout`, if it sets one): a server that is down or unreachable fails calls after
/// this, it never hangs them.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `MIGRATIONS[i]` takes the database from schema version `i` to `i + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
    include_str!("migrations/v1.sql"),
    include_str!("migrations/v2.sql"),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The transaction-level advisory lock every migration step holds (`pg_advisory_xact_lock`,
/// the one-bigint key space): nodes starting at once against one database migrate one after
/// the other, and each step runs once. The bytes spell `vidsmigr`.
const MIGRATION_LOCK: i64 = 0x7669_6473_6d69_6772;

/// The table that records which migrations ran (one row per version).
const VERSION_TABLE: &str = "vidstream_schema_version";

/// The parsed URL with vidstream's defaults, and `host:port` of its server(s) for messages.
pub(super) fn config(url: &str) -> Result<(Config, String), StoreError> {
    // The parser's message may quote part of the URL, which may hold a password: not shown.
    let mut config: Config = url.parse().map_err(|_| {
        StoreError::Database(
            "the PostgreSQL URL does not parse (expected postgres://user[:password]@host[:port]/\
             database[?options]; the URL is not repeated here since it may hold a password)"
                .into(),
        )
    })?;
    let target = target(&config);
    if config.get_ssl_mode() == SslMode::Require {
        return Err(StoreError::Database(format!(
            "the PostgreSQL URL for {target} asks for TLS (sslmode=require), which vidstream \
             does not support yet; connect over a trusted network or a local socket"
        )));
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("vidstream");
    }
    Ok((config, target))
}

/// `host:port` of each server the configuration names (never the user or password).
fn target(config: &Config) -> String {
    let ports = config.get_ports();
    let port = |i: usize| {
        // One port applies to every host; otherwise one per host.
        let one = if ports.len() == 1 {
            ports.first()
        } else {
            None
        };
        ports.get(i).or(one).copied().unwrap_or(5432)
    };
    let mut hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| match h {
            Host::Tcp(name) => format!("{name}:{}", port(i)),
            #[cfg(unix)]
            Host::Unix(dir) => format!("{}/.s.PGSQL.{}", dir.display(), port(i)),
        })
        .collect();
    if hosts.is_empty() {
        // Only `hostaddr=` given.
        hosts = (config.get_hostaddrs().iter().enumerate())
            .map(|(i, a)| match a {
                std::net::IpAddr::V4(a) => format!("{a}:{}", port(i)),
                std::net::IpAddr::V6(a) => format!("[{a}]:{}", port(i)),
            })
            .collect();
    }
    if hosts.is_empty() {
        format!("localhost:{}", port(0))
    } else {
        hosts.join(",")
    }
}

/// The pool: at most `size` connections; waiting for one, opening one and checking a returned
/// one are each bounded by the connection timeout (see [`CONNECT_TIMEOUT`]). A connection that broke (the server restarted)
/// is dropped when it comes back to the pool and a new one is opened on the next call, so the
/// index works again once the server does.
pub(super) fn pool(config: Config, size: usize) -> Result<Pool, StoreError> {
    if size == 0 {
        return Err(StoreError::Database(
            "the PostgreSQL pool size must be at least 1".into(),
        ));
    }
    let timeout = config
        .get_connect_timeout()
        .copied()
        .unwrap_or(CONNECT_TIMEOUT);
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()
        .map_err(|e| StoreError::internal(format!("building the PostgreSQL pool: {e}")))
}

/// Durability: a commit must wait for its WAL to be flushed (`synchronous_commit` other than
/// `off`), since the store acknowledges fragments once their index rows are committed. `off`
/// (server, database or role setting) is refused; `fsync = off` (the server may lose committed
/// data in a crash) is warned about.
pub(super) async fn check_durability(
    client: &tokio_postgres::Client,
    target: &str,
) -> Result<(), StoreError> {
    let show = |name: &'static str| async move {
        let row = client
            .query_one(&format!("SHOW {name}"), &[])
            .await
            .map_err(db)?;
        row.try_get::<_, String>(0).map_err(db)
    };
    let commit = show("synchronous_commit").await?;
    if commit.eq_ignore_ascii_case("off") {
        return Err(StoreError::Database(format!(
            "PostgreSQL at {target} has synchronous_commit = off: a commit could be lost in a \
             crash after vidstream acknowledged it. Set it to on for vidstream's database or \
             role (ALTER DATABASE ... SET synchronous_commit = on)"
        )));
    }
    if show("fsync").await?.eq_ignore_ascii_case("off") {
        tracing::warn!(
            server = target,
            "PostgreSQL runs with fsync = off: committed index rows may be lost in a crash"
        );
    }
    Ok(())
}

/// Brings the database to [`SCHEMA_VERSION`], one migration per transaction, each under the
/// migration lock. Refuses a database written by a newer vidstream, and one that has tables but
/// no version table (not vidstream's; give vidstream a database or schema of its own).
pub(super) async fn migrate(client: &mut tokio_postgres::Client) -> Result<(), StoreError> {
    loop {
        let tx = client.transaction().await.map_err(db)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(db)?;
        let has_table: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables
                     WHERE schemaname = current_schema() AND tablename = $1)",
                &[&VERSION_TABLE],
            )
            .await
            .map_err(db)?
            .try_get(0)
            .map_err(db)?;
        let version: i64 = if has_table {
            tx.query_one(
                &format!("SELECT coalesce(max(version), 0) FROM {VERSION_TABLE}"),
                &[],
            )
            .await
            .map_err(db)?
            .try_get(0)
            .map_err(db)?
        } else {
            0
        };
        if version > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version == SCHEMA_VERSION {
            tx.commit().await.map_err(db)?;
            return Ok(());
        }
        if version == 0 {
            let tables: i64 = tx
                .query_one(
                    "SELECT count(*) FROM pg_catalog.pg_tables
                     WHERE schemaname = current_schema() AND tablename <> $1",
                    &[&VERSION_TABLE],
                )
                .await
                .map_err(db)?
                .try_get(0)
                .map_err(db)?;
            if tables != 0 {
                return Err(StoreError::Database(
                    "the PostgreSQL schema has tables but no vidstream schema version; it was \
                     not written by vidstream (give vidstream a database of its own, or a schema \
                     of its own with options=-c search_path=... in the URL)"
                        .into(),
                ));
            }
            tx.batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
                   version BIGINT PRIMARY KEY,
                   applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
                 )"
            ))
            .await
            .map_err(db)?;
        }
        let step = MIGRATIONS
            .get(usize::try_from(version).unwrap_or(usize::MAX))
            .ok_or_else(|| {
                StoreError::Database(format!("no migration from schema version {version}"))
            })?;
        tx.batch_execute(step).await.map_err(db)?;
        tx.execute(
            &format!("INSERT INTO {VERSION_TABLE} (version) VALUES ($1)"),
            &[&(version + 1)],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        tracing::info!(
            from = version,
            to = version + 1,
            "migrated PostgreSQL index schema"
        );
    }
}
