//! The `image_generation` table: each stream's frame hook configuration, kept as opaque JSON.
//! Blocking functions over the connection; `mod.rs` runs them on the blocking pool.

use rusqlite::{Connection, OptionalExtension, params};

use super::{STREAM_COLUMNS, db, stream_from_row};
use crate::model::{StreamId, StreamRecord};
use crate::store::StoreError;
use crate::store::index::ImageGenerationRow;

/// [`Index::put_image_generation`](crate::store::index::Index::put_image_generation).
pub(super) fn put(
    conn: &mut Connection,
    stream: StreamId,
    row: Option<ImageGenerationRow>,
) -> Result<(), StoreError> {
    let tx = conn.transaction().map_err(db)?;
    let exists: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM streams WHERE id = ?1)",
            params![stream.0],
            |r| r.get(0),
        )
        .map_err(db)?;
    if !exists {
        return Err(StoreError::StreamNotFound(format!("id {}", stream.0)));
    }
    match row {
        Some(r) => tx.execute(
            "INSERT INTO image_generation (stream_id, config, updated_ms) VALUES (?1, ?2, ?3) \
             ON CONFLICT (stream_id) DO UPDATE SET config = ?2, updated_ms = ?3",
            params![stream.0, r.config, r.updated_ms],
        ),
        None => tx.execute(
            "DELETE FROM image_generation WHERE stream_id = ?1",
            params![stream.0],
        ),
    }
    .map_err(db)?;
    tx.commit().map_err(db)
}

/// [`Index::image_generation`](crate::store::index::Index::image_generation).
pub(super) fn get(
    conn: &mut Connection,
    stream: StreamId,
) -> Result<Option<ImageGenerationRow>, StoreError> {
    conn.query_row(
        "SELECT config, updated_ms FROM image_generation WHERE stream_id = ?1",
        params![stream.0],
        |r| {
            Ok(ImageGenerationRow {
                config: r.get(0)?,
                updated_ms: r.get(1)?,
            })
        },
    )
    .optional()
    .map_err(db)
}

/// [`Index::list_image_generation`](crate::store::index::Index::list_image_generation).
pub(super) fn list(
    conn: &mut Connection,
) -> Result<Vec<(StreamRecord, ImageGenerationRow)>, StoreError> {
    let cols: Vec<String> = STREAM_COLUMNS
        .split(',')
        .map(|c| format!("s.{}", c.trim()))
        .collect();
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {}, g.config, g.updated_ms FROM image_generation g \
             JOIN streams s ON s.id = g.stream_id ORDER BY s.id",
            cols.join(", ")
        ))
        .map_err(db)?;
    let n = cols.len();
    let rows = stmt
        .query_map([], |r| {
            Ok((
                stream_from_row(r)?,
                ImageGenerationRow {
                    config: r.get(n)?,
                    updated_ms: r.get(n + 1)?,
                },
            ))
        })
        .map_err(db)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(db)?;
    Ok(rows)
}
