//! The `consumers` table: frame-feed consumer checkpoints.

use tokio_postgres::Row;

use super::{Client, col, db, describe, is_foreign_key_violation};
use crate::model::StreamId;
use crate::store::StoreError;
use crate::store::index::Checkpoint;

const COLUMNS: &str = "stream_id, name, fragment_seq, producer_ms, updated_ms";

fn from_row(row: &Row) -> Result<Checkpoint, StoreError> {
    Ok(Checkpoint {
        stream: StreamId(col(row, 0)?),
        consumer: col(row, 1)?,
        seq: col(row, 2)?,
        producer_ms: col(row, 3)?,
        updated_ms: col(row, 4)?,
    })
}

/// [`Index::put_checkpoint`](crate::store::index::Index::put_checkpoint).
pub(super) async fn put(client: &Client, c: Checkpoint) -> Result<(), StoreError> {
    let stmt = client
        .prepare_cached(&format!(
            "INSERT INTO consumers ({COLUMNS}) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (stream_id, name) DO UPDATE SET fragment_seq = excluded.fragment_seq,
               producer_ms = excluded.producer_ms, updated_ms = excluded.updated_ms"
        ))
        .await
        .map_err(db)?;
    let put = client
        .execute(
            &stmt,
            &[
                &c.stream.0,
                &c.consumer,
                &c.seq,
                &c.producer_ms,
                &c.updated_ms,
            ],
        )
        .await;
    match put {
        Ok(_) => Ok(()),
        // The SQLite backend's error for the same case.
        Err(e) if is_foreign_key_violation(&e) => Err(StoreError::Database(format!(
            "checkpoint of a stream that is gone: {}",
            describe(&e)
        ))),
        Err(e) => Err(db(e)),
    }
}

/// [`Index::checkpoint`](crate::store::index::Index::checkpoint).
pub(super) async fn get(
    client: &Client,
    stream: StreamId,
    name: &str,
) -> Result<Option<Checkpoint>, StoreError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM consumers WHERE stream_id = $1 AND name = $2"
        ))
        .await
        .map_err(db)?;
    let row = client
        .query_opt(&stmt, &[&stream.0, &name])
        .await
        .map_err(db)?;
    row.as_ref().map(from_row).transpose()
}

/// [`Index::list_checkpoints`](crate::store::index::Index::list_checkpoints).
pub(super) async fn list(client: &Client, stream: StreamId) -> Result<Vec<Checkpoint>, StoreError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM consumers WHERE stream_id = $1 ORDER BY name"
        ))
        .await
        .map_err(db)?;
    let rows = client.query(&stmt, &[&stream.0]).await.map_err(db)?;
    rows.iter().map(from_row).collect()
}

/// [`Index::delete_checkpoint`](crate::store::index::Index::delete_checkpoint).
pub(super) async fn delete(
    client: &Client,
    stream: StreamId,
    name: &str,
) -> Result<bool, StoreError> {
    let stmt = client
        .prepare_cached("DELETE FROM consumers WHERE stream_id = $1 AND name = $2")
        .await
        .map_err(db)?;
    let n = client
        .execute(&stmt, &[&stream.0, &name])
        .await
        .map_err(db)?;
    Ok(n > 0)
}
