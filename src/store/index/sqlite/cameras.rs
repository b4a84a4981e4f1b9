//! The `cameras` table: the RTSP cameras the server pulls. Blocking functions over the
//! connection; `mod.rs` runs them on the blocking pool.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{corrupt, db, is_unique_violation};
use crate::store::StoreError;
use crate::store::index::{CameraRow, PasswordSealing, StoredPassword};

const COLUMNS: &str =
    "name, url, username, password, stream_name, transport, enabled, password_sealed";

fn from_row(row: &Row<'_>) -> rusqlite::Result<CameraRow> {
    let enabled: i64 = row.get(6)?;
    let transport: String = row.get(5)?;
    if transport != "tcp" && transport != "udp" {
        return Err(corrupt("camera transport", &transport));
    }
    let legacy: Option<String> = row.get(3)?;
    let sealed: Option<Vec<u8>> = row.get(7)?;
    // A sealed value wins: a row that has both was sealed by a build that then failed to clear
    // the clear text, and the sealed one is the newer.
    let password = match (sealed, legacy) {
        (Some(s), _) => Some(StoredPassword::Sealed(s)),
        (None, Some(p)) => Some(StoredPassword::Legacy(p)),
        (None, None) => None,
    };
    Ok(CameraRow {
        name: row.get(0)?,
        url: row.get(1)?,
        username: row.get(2)?,
        password,
        stream_name: row.get(4)?,
        transport,
        enabled: enabled != 0,
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
pub(super) fn insert(conn: &mut Connection, c: CameraRow) -> Result<(), StoreError> {
    let (legacy, sealed) = password_columns(&c.password);
    conn.execute(
        &format!("INSERT INTO cameras ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
        params![
            c.name,
            c.url,
            c.username,
            legacy,
            c.stream_name,
            c.transport,
            i64::from(c.enabled),
            sealed
        ],
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::CameraExists(c.name.clone())
        } else {
            db(e)
        }
    })?;
    Ok(())
}

/// [`Index::update_camera`](crate::store::index::Index::update_camera).
pub(super) fn update(conn: &mut Connection, c: CameraRow) -> Result<(), StoreError> {
    let (legacy, sealed) = password_columns(&c.password);
    let n = conn
        .execute(
            "UPDATE cameras SET url = ?2, username = ?3, password = ?4, stream_name = ?5, \
             transport = ?6, enabled = ?7, password_sealed = ?8 WHERE name = ?1",
            params![
                c.name,
                c.url,
                c.username,
                legacy,
                c.stream_name,
                c.transport,
                i64::from(c.enabled),
                sealed
            ],
        )
        .map_err(db)?;
    if n == 0 {
        return Err(StoreError::CameraNotFound(c.name));
    }
    Ok(())
}

/// [`Index::camera`](crate::store::index::Index::camera).
pub(super) fn get(conn: &mut Connection, name: &str) -> Result<Option<CameraRow>, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM cameras WHERE name = ?1"),
        params![name],
        from_row,
    )
    .optional()
    .map_err(db)
}

/// [`Index::list_cameras`](crate::store::index::Index::list_cameras).
pub(super) fn list(conn: &mut Connection) -> Result<Vec<CameraRow>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM cameras ORDER BY name"))
        .map_err(db)?;
    let rows = stmt
        .query_map([], from_row)
        .map_err(db)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(db)?;
    Ok(rows)
}

/// [`Index::delete_camera`](crate::store::index::Index::delete_camera).
pub(super) fn delete(conn: &mut Connection, name: &str) -> Result<(), StoreError> {
    let n = conn
        .execute("DELETE FROM cameras WHERE name = ?1", params![name])
        .map_err(db)?;
    if n == 0 {
        return Err(StoreError::CameraNotFound(name.to_owned()));
    }
    Ok(())
}

/// [`Index::seal_camera_passwords`](crate::store::index::Index::seal_camera_passwords).
///
/// SQLite leaves a changed row's old bytes in the page's free space, and the page's old image in
/// the write-ahead log until it is checkpointed. `secure_delete` makes it overwrite freed space
/// with zeros, and the truncating checkpoint afterwards writes the pages back and empties the
/// log, so no copy of the clear text is left in `index.sqlite` or its `-wal`.
pub(super) fn seal_passwords(
    conn: &mut Connection,
    sealings: Vec<PasswordSealing>,
) -> Result<usize, StoreError> {
    if sealings.is_empty() {
        return Ok(0);
    }
    conn.pragma_update(None, "secure_delete", true)
        .map_err(db)?;
    let changed = (|| {
        let tx = conn.transaction().map_err(db)?;
        let mut changed = 0;
        for s in &sealings {
            changed += tx
                .execute(
                    "UPDATE cameras SET password = NULL, password_sealed = ?3 \
                     WHERE name = ?1 AND password = ?2",
                    params![s.name, s.legacy, s.sealed],
                )
                .map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok::<_, StoreError>(changed)
    })();
    let restored = conn.pragma_update(None, "secure_delete", false).map_err(db);
    let changed = changed?;
    restored?;
    // The checkpoint's answer (busy, frames) is a row; a busy log is checkpointed later.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .map_err(db)?;
    Ok(changed)
}
