//! The `cameras` table: the RTSP cameras the server pulls. Blocking functions over the
//! connection; `mod.rs` runs them on the blocking pool.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{corrupt, db, is_unique_violation};
use crate::store::StoreError;
use crate::store::index::CameraRow;

const COLUMNS: &str = "name, url, username, password, stream_name, transport, enabled";

fn from_row(row: &Row<'_>) -> rusqlite::Result<CameraRow> {
    let enabled: i64 = row.get(6)?;
    let transport: String = row.get(5)?;
    if transport != "tcp" && transport != "udp" {
        return Err(corrupt("camera transport", &transport));
    }
    Ok(CameraRow {
        name: row.get(0)?,
        url: row.get(1)?,
        username: row.get(2)?,
        password: row.get(3)?,
        stream_name: row.get(4)?,
        transport,
        enabled: enabled != 0,
    })
}

/// [`Index::insert_camera`](crate::store::index::Index::insert_camera).
pub(super) fn insert(conn: &mut Connection, c: CameraRow) -> Result<(), StoreError> {
    conn.execute(
        &format!("INSERT INTO cameras ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        params![
            c.name,
            c.url,
            c.username,
            c.password,
            c.stream_name,
            c.transport,
            i64::from(c.enabled)
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
    let n = conn
        .execute(
            "UPDATE cameras SET url = ?2, username = ?3, password = ?4, stream_name = ?5, \
             transport = ?6, enabled = ?7 WHERE name = ?1",
            params![
                c.name,
                c.url,
                c.username,
                c.password,
                c.stream_name,
                c.transport,
                i64::from(c.enabled)
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
