//! The `image_generation` table: each stream's frame hook configuration, kept as opaque JSON.

use super::streams::{STREAM_COLUMNS, stream_from_row};
use super::{Client, col, db};
use crate::model::{StreamId, StreamRecord};
use crate::store::StoreError;
use crate::store::index::ImageGenerationRow;

/// [`Index::put_image_generation`](crate::store::index::Index::put_image_generation). The
/// stream's row is locked `FOR KEY SHARE` rather than only read, so that a concurrent
/// deletion waits for this transaction instead of failing its insert's foreign key.
pub(super) async fn put(
    client: &mut Client,
    stream: StreamId,
    row: Option<ImageGenerationRow>,
) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(db)?;
    let stmt = tx
        .prepare_cached("SELECT 1 FROM streams WHERE id = $1 FOR KEY SHARE")
        .await
        .map_err(db)?;
    if tx
        .query_opt(&stmt, &[&stream.0])
        .await
        .map_err(db)?
        .is_none()
    {
        return Err(StoreError::StreamNotFound(format!("id {}", stream.0)));
    }
    match row {
        Some(r) => {
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO image_generation (stream_id, config, updated_ms)
                     VALUES ($1, $2, $3)
                     ON CONFLICT (stream_id) DO UPDATE SET config = excluded.config,
                       updated_ms = excluded.updated_ms",
                )
                .await
                .map_err(db)?;
            tx.execute(&stmt, &[&stream.0, &r.config, &r.updated_ms])
                .await
                .map_err(db)?;
        }
        None => {
            let stmt = tx
                .prepare_cached("DELETE FROM image_generation WHERE stream_id = $1")
                .await
                .map_err(db)?;
            tx.execute(&stmt, &[&stream.0]).await.map_err(db)?;
        }
    }
    tx.commit().await.map_err(db)
}

/// [`Index::image_generation`](crate::store::index::Index::image_generation).
pub(super) async fn get(
    client: &Client,
    stream: StreamId,
) -> Result<Option<ImageGenerationRow>, StoreError> {
    let stmt = client
        .prepare_cached("SELECT config, updated_ms FROM image_generation WHERE stream_id = $1")
        .await
        .map_err(db)?;
    let row = client.query_opt(&stmt, &[&stream.0]).await.map_err(db)?;
    row.map(|r| {
        Ok(ImageGenerationRow {
            config: col(&r, 0)?,
            updated_ms: col(&r, 1)?,
        })
    })
    .transpose()
}

/// [`Index::list_image_generation`](crate::store::index::Index::list_image_generation).
pub(super) async fn list(
    client: &Client,
) -> Result<Vec<(StreamRecord, ImageGenerationRow)>, StoreError> {
    let cols: Vec<String> = STREAM_COLUMNS
        .split(',')
        .map(|c| format!("s.{}", c.trim()))
        .collect();
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {}, g.config, g.updated_ms FROM image_generation g
             JOIN streams s ON s.id = g.stream_id ORDER BY s.id",
            cols.join(", ")
        ))
        .await
        .map_err(db)?;
    let n = cols.len();
    let rows = client.query(&stmt, &[]).await.map_err(db)?;
    rows.iter()
        .map(|r| {
            Ok((
                stream_from_row(r)?,
                ImageGenerationRow {
                    config: col(r, n)?,
                    updated_ms: col(r, n + 1)?,
                },
            ))
        })
        .collect()
}
