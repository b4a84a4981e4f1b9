//! The `consumers` table: frame-feed consumer checkpoints. Blocking functions over the
//! connection; `mod.rs` runs them on the blocking pool.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::db;
use crate::model::StreamId;
use crate::store::StoreError;
use crate::store::index::Checkpoint;

const COLUMNS: &str = "stream_id, name, fragment_seq, producer_ms, updated_ms";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Checkpoint> {
    Ok(Checkpoint {
        stream: StreamId(row.get(0)?),
        consumer: row.get(1)?,
        seq: row.get(2)?,
        producer_ms: row.get(3)?,
        updated_ms: row.get(4)?,
    })
}

/// [`Index::put_checkpoint`](crate::store::index::Index::put_checkpoint).
pub(super) fn put(conn: &mut Connection, c: Checkpoint) -> Result<(), StoreError> {
    conn.execute(
        &format!(
            "INSERT INTO consumers ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (stream_id, name) DO UPDATE SET fragment_seq = excluded.fragment_seq, \
             producer_ms = excluded.producer_ms, updated_ms = excluded.updated_ms"
        ),
        params![c.stream.0, c.consumer, c.seq, c.producer_ms, c.updated_ms],
    )
    .map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => {
            StoreError::Database(format!("checkpoint of a stream that is gone: {e}"))
        }
        _ => db(e),
    })?;
    Ok(())
}

/// [`Index::checkpoint`](crate::store::index::Index::checkpoint).
pub(super) fn get(
    conn: &mut Connection,
    stream: StreamId,
    name: &str,
) -> Result<Option<Checkpoint>, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM consumers WHERE stream_id = ?1 AND name = ?2"),
        params![stream.0, name],
        from_row,
    )
    .optional()
    .map_err(db)
}

/// [`Index::list_checkpoints`](crate::store::index::Index::list_checkpoints).
pub(super) fn list(conn: &mut Connection, stream: StreamId) -> Result<Vec<Checkpoint>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM consumers WHERE stream_id = ?1 ORDER BY name"
        ))
        .map_err(db)?;
    let rows = stmt
        .query_map(params![stream.0], from_row)
        .map_err(db)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db)?;
    Ok(rows)
}

/// [`Index::delete_checkpoint`](crate::store::index::Index::delete_checkpoint).
pub(super) fn delete(
    conn: &mut Connection,
    stream: StreamId,
    name: &str,
) -> Result<bool, StoreError> {
    let n = conn
        .execute(
            "DELETE FROM consumers WHERE stream_id = ?1 AND name = ?2",
            params![stream.0, name],
        )
        .map_err(db)?;
    Ok(n > 0)
}
