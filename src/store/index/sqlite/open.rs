//! Opening the index file: its permissions, the connection's settings and the schema version
//! (creation from `schema.sql`, or the upgrade steps).

use std::path::Path;

use rusqlite::Connection;

use super::db;
use crate::store::StoreError;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 8;

const SCHEMA: &str = include_str!("schema.sql");

/// `UPGRADES[i]` takes a database from version `i + 1` to `i + 2`.
pub(super) const UPGRADES: &[&str] = &[
    include_str!("upgrade/v1_to_v2.sql"),
    include_str!("upgrade/v2_to_v3.sql"),
    include_str!("upgrade/v3_to_v4.sql"),
    include_str!("upgrade/v4_to_v5.sql"),
    include_str!("upgrade/v5_to_v6.sql"),
    include_str!("upgrade/v6_to_v7.sql"),
    include_str!("upgrade/v7_to_v8.sql"),
];

/// The version-1 schema, for upgrade tests.
#[doc(hidden)]
pub const SCHEMA_V1: &str = include_str!("upgrade/v1.sql");

pub(super) fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(db)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;",
    )
    .map_err(db)?;
    Ok(())
}

/// Brings the database to [`SCHEMA_VERSION`].
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version == 0 {
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |r| r.get(0),
            )
            .map_err(db)?;
        if tables != 0 {
            return Err(StoreError::Database(
                "index has tables but no schema version; it was not written by vidstream".into(),
            ));
        }
        let tx = conn.transaction().map_err(db)?;
        tx.execute_batch(SCHEMA).map_err(db)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(db)?;
        tx.commit().map_err(db)?;
        tracing::info!(version = SCHEMA_VERSION, "created index schema");
        return Ok(());
    }
    for from in version..SCHEMA_VERSION {
        let step = UPGRADES.get((from - 1) as usize).ok_or_else(|| {
            StoreError::Database(format!("no upgrade from schema version {from}"))
        })?;
        let tx = conn.transaction().map_err(db)?;
        tx.execute_batch(step).map_err(db)?;
        tx.pragma_update(None, "user_version", from + 1)
            .map_err(db)?;
        tx.commit().map_err(db)?;
        tracing::info!(from, to = from + 1, "upgraded index schema");
    }
    Ok(())
}

/// Makes the index file and its `-wal`/`-shm` companions readable by the owner only (mode 0600),
/// creating the database file if needed, before SQLite opens it. SQLite gives the `-wal` and
/// `-shm` files it creates the database file's mode, so new ones follow; ones left by an earlier
/// run (made under a looser umask) are tightened too. The index holds sealed secrets and every
/// stream's metadata: no other local user may read it.
pub(super) fn make_private(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let io = |what: &str, p: &Path, e| StoreError::io(format!("{what} {}", p.display()), e);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| io("opening", path, e))?;
        // `mode` above is masked by the umask and ignored for an existing file: set it.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io("setting the mode of", path, e))?;
        for suffix in ["-wal", "-shm"] {
            let mut companion = path.as_os_str().to_owned();
            companion.push(suffix);
            let companion = Path::new(&companion);
            match std::fs::set_permissions(companion, std::fs::Permissions::from_mode(0o600)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("setting the mode of", companion, e)),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
