//! The `cameras` table: the RTSP cameras the server pulls.

use tokio_postgres::Row;

use super::{Client, col, corrupt, db, is_unique_violation};
use crate::store::StoreError;
use crate::store::index::{CameraRow, PasswordSealing, StoredPassword};

const COLUMNS: &str =
    "name, url, username, password, stream_name, transport, enabled, password_sealed";

fn from_row(row: &Row) -> Result<CameraRow, StoreError> {
    let transport: String = col(row, 5)?;
    if transport != "tcp" && transport != "udp" {
        return Err(corrupt("camera transport", &transport));
    }
    let legacy: Option<String> = col(row, 3)?;
    let sealed: Option<Vec<u8>> = col(row, 7)?;
    // A sealed value wins, as in the SQLite backend.
    let password = match (sealed, legacy) {
        (Some(s), _) => Some(StoredPassword::Sealed(s)),
        (None, Some(p)) => Some(StoredPassword::Legacy(p)),
        (None, None) => None,
    };
    Ok(CameraRow {
        name: col(row, 0)?,
        url: col(row, 1)?,
        username: col(row, 2)?,
        password,
        stream_name: col(row, 4)?,
        transport,
        enabled: col(row, 6)?,
    })
}

/// The `password` and `password_sealed` columns of a stored password.
fn password_columns(p: &Option<StoredPassword>) -> (Option<&str>, Option<&[u8]>) {
    match p {
        None => (None, None),
        Some(StoredPassword::Legacy(p)) => (Some(p), None),
        Some(StoredPassword::Sealed(s)) => (None, Some(s)),
    }
}

/// [`Index::insert_camera`](crate::store::index::Index::insert_camera).
pub(super) async fn insert(client: &Client, c: CameraRow) -> Result<(), StoreError> {
    let (legacy, sealed) = password_columns(&c.password);
    let stmt = client
        .prepare_cached(&format!(
            "INSERT INTO cameras ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .await
        .map_err(db)?;
    let inserted = client
        .execute(
            &stmt,
            &[
                &c.name,
                &c.url,
                &c.username,
                &legacy,
                &c.stream_name,
                &c.transport,
                &c.enabled,
                &sealed,
            ],
        )
        .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::CameraExists(c.name)),
        Err(e) => Err(db(e)),
    }
}

/// [`Index::update_camera`](crate::store::index::Index::update_camera).
pub(super) async fn update(client: &Client, c: CameraRow) -> Result<(), StoreError> {
    let (legacy, sealed) = password_columns(&c.password);
    let stmt = client
        .prepare_cached(
            "UPDATE cameras SET url = $2, username = $3, password = $4, stream_name = $5,
                 transport = $6, enabled = $7, password_sealed = $8
             WHERE name = $1",
        )
        .await
        .map_err(db)?;
    let n = client
        .execute(
            &stmt,
            &[
                &c.name,
                &c.url,
                &c.username,
                &legacy,
                &c.stream_name,
                &c.transport,
                &c.enabled,
                &sealed,
            ],
        )
        .await
        .map_err(db)?;
    if n == 0 {
        return Err(StoreError::CameraNotFound(c.name));
    }
    Ok(())
}

/// [`Index::camera`](crate::store::index::Index::camera).
pub(super) async fn get(client: &Client, name: &str) -> Result<Option<CameraRow>, StoreError> {
    let stmt = client
        .prepare_cached(&format!("SELECT {COLUMNS} FROM cameras WHERE name = $1"))
        .await
        .map_err(db)?;
    let row = client.query_opt(&stmt, &[&name]).await.map_err(db)?;
    row.as_ref().map(from_row).transpose()
}

/// [`Index::list_cameras`](crate::store::index::Index::list_cameras), ordered by name
/// (byte-wise: the column is `COLLATE "C"`).
pub(super) async fn list(client: &Client) -> Result<Vec<CameraRow>, StoreError> {
    let stmt = client
        .prepare_cached(&format!("SELECT {COLUMNS} FROM cameras ORDER BY name"))
        .await
        .map_err(db)?;
    let rows = client.query(&stmt, &[]).await.map_err(db)?;
    rows.iter().map(from_row).collect()
}

/// [`Index::delete_camera`](crate::store::index::Index::delete_camera).
pub(super) async fn delete(client: &Client, name: &str) -> Result<(), StoreError> {
    let stmt = client
        .prepare_cached("DELETE FROM cameras WHERE name = $1")
        .await
        .map_err(db)?;
    let n = client.execute(&stmt, &[&name]).await.map_err(db)?;
    if n == 0 {
        return Err(StoreError::CameraNotFound(name.to_owned()));
    }
    Ok(())
}

/// [`Index::seal_camera_passwords`](crate::store::index::Index::seal_camera_passwords).
///
/// PostgreSQL never changes a row in place: an `UPDATE` writes a new row version and leaves
/// the old one, clear text included, in the table's file until a vacuum reclaims its space,
/// and plain `VACUUM` only marks that space free. So after the updates commit, `VACUUM FULL
/// cameras` (outside the transaction; it locks the small table for the time of a copy)
/// rewrites the table into a new file that holds only the live rows, and the old file is
/// truncated (and unlinked at the next checkpoint).
///
/// What this guarantees: no row version of `cameras` that PostgreSQL can read holds the clear
/// text, and the table's current file does not either. What PostgreSQL cannot promise, and
/// this does not: the freed disk blocks of the old file are released to the filesystem, not
/// overwritten; the WAL that recorded the original insert keeps the clear text until its
/// segments are recycled (and forever in WAL archives, on replicas and in base backups taken
/// before); `VACUUM FULL` keeps an old version that a still-open snapshot may see (a long
/// transaction elsewhere); it skips the table, with a warning in the server log, when the role
/// does not own it; and if the process stops between the commit and the vacuum, the old
/// versions stay until autovacuum reuses their space (as in the SQLite backend, an error of the
/// cleanup is returned although the sealing committed).
pub(super) async fn seal_passwords(
    client: &mut Client,
    sealings: Vec<PasswordSealing>,
) -> Result<usize, StoreError> {
    if sealings.is_empty() {
        return Ok(0);
    }
    let tx = client.transaction().await.map_err(db)?;
    let stmt = tx
        .prepare_cached(
            "UPDATE cameras SET password = NULL, password_sealed = $3
             WHERE name = $1 AND password = $2",
        )
        .await
        .map_err(db)?;
    let mut changed = 0;
    for s in &sealings {
        changed += tx
            .execute(&stmt, &[&s.name, &s.legacy, &s.sealed])
            .await
            .map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    // Committed: a failure from here on leaves the sealing in place, and the caller's retry
    // (which finds no clear text to replace) runs the vacuum again.
    client
        .batch_execute("VACUUM FULL cameras")
        .await
        .map_err(db)?;
    usize::try_from(changed).map_err(|e| StoreError::internal(e.to_string()))
}
