//! The `streams` and `stream_tags` tables (SQLite keeps these in its `mod.rs`).

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{Client, col, corrupt, db, is_unique_violation, to_i64, unsigned};
use crate::model::{
    DeviceName, KmsKeyId, MediaType, StorageTier, StreamChanges, StreamId, StreamRecord,
    StreamStatus, TagKey, TagValue, Tags, Version,
};
use crate::store::StoreError;
use crate::store::index::NewStream;
use crate::time::ServerTime;

pub(super) const STREAM_COLUMNS: &str = "id, name, arn, device_name, media_type, kms_key_id, \
     version, status, creation_time_ms, data_retention_hours, storage_tier";

pub(super) fn stream_from_row(row: &Row) -> Result<StreamRecord, StoreError> {
    let name: String = col(row, 1)?;
    let device_name: Option<String> = col(row, 3)?;
    let media_type: Option<String> = col(row, 4)?;
    let kms: String = col(row, 5)?;
    let version: String = col(row, 6)?;
    let status: String = col(row, 7)?;
    let tier: String = col(row, 10)?;
    Ok(StreamRecord {
        id: StreamId(col(row, 0)?),
        name: crate::model::StreamName::parse(&name).map_err(|e| corrupt("stream name", e))?,
        arn: col(row, 2)?,
        device_name: device_name
            .map(|d| DeviceName::parse(&d))
            .transpose()
            .map_err(|e| corrupt("device name", e))?,
        media_type: media_type
            .map(|m| MediaType::parse(&m))
            .transpose()
            .map_err(|e| corrupt("media type", e))?,
        kms_key_id: KmsKeyId::parse(&kms).map_err(|e| corrupt("KMS key id", e))?,
        version: Version::parse(&version).map_err(|e| corrupt("version", e))?,
        status: StreamStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        creation_time: ServerTime(col(row, 8)?),
        data_retention_hours: unsigned(row, 9, "retention")?,
        storage_tier: StorageTier::parse(&tier).map_err(|e| corrupt("storage tier", e))?,
    })
}

fn rows_to_streams(rows: Vec<Row>) -> Result<Vec<StreamRecord>, StoreError> {
    rows.iter().map(stream_from_row).collect()
}

/// [`Index::create_stream`](crate::store::index::Index::create_stream): the row and its tags
/// in one transaction.
pub(super) async fn create(
    client: &mut Client,
    new: NewStream,
) -> Result<StreamRecord, StoreError> {
    let tx = client.transaction().await.map_err(db)?;
    let stmt = tx
        .prepare_cached(&format!(
            "INSERT INTO streams (name, arn, device_name, media_type, kms_key_id, version,
                 status, creation_time_ms, data_retention_hours, storage_tier)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             RETURNING {STREAM_COLUMNS}"
        ))
        .await
        .map_err(db)?;
    let inserted = tx
        .query_one(
            &stmt,
            &[
                &new.name.as_str(),
                &new.arn,
                &new.device_name.as_ref().map(|d| d.as_str()),
                &new.media_type.as_ref().map(|m| m.as_str()),
                &new.kms_key_id.as_str(),
                &new.version.as_str(),
                &new.status.as_str(),
                &new.creation_time.millis(),
                &i64::from(new.data_retention_hours),
                &new.storage_tier.as_str(),
            ],
        )
        .await;
    let row = match inserted {
        Ok(row) => row,
        // The name or the ARN is taken (the ARN holds the name).
        Err(e) if is_unique_violation(&e) => {
            return Err(StoreError::StreamExists(new.name.to_string()));
        }
        Err(e) => return Err(db(e)),
    };
    let record = stream_from_row(&row)?;
    insert_tags(&tx, record.id, &new.tags).await?;
    tx.commit().await.map_err(db)?;
    Ok(record)
}

/// The stream whose `column` (`name` or `arn`, both unique) is `value`.
pub(super) async fn by_column(
    client: &Client,
    column: &'static str,
    value: &str,
) -> Result<Option<StreamRecord>, StoreError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {STREAM_COLUMNS} FROM streams WHERE {column} = $1"
        ))
        .await
        .map_err(db)?;
    let row = client.query_opt(&stmt, &[&value]).await.map_err(db)?;
    row.as_ref().map(stream_from_row).transpose()
}

/// The stream with this id, read by `client` (a transaction, when the caller holds one).
pub(super) async fn get(
    client: &impl GenericClient,
    id: StreamId,
) -> Result<Option<StreamRecord>, StoreError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {STREAM_COLUMNS} FROM streams WHERE id = $1"
        ))
        .await
        .map_err(db)?;
    let row = client.query_opt(&stmt, &[&id.0]).await.map_err(db)?;
    row.as_ref().map(stream_from_row).transpose()
}

/// [`Index::list_streams`](crate::store::index::Index::list_streams).
pub(super) async fn list(
    client: &Client,
    prefix: &str,
    after: &str,
    limit: usize,
) -> Result<Vec<StreamRecord>, StoreError> {
    // starts_with() rather than LIKE: names may contain `_`, a LIKE wildcard. `name` is
    // COLLATE "C": `>` and ORDER BY compare bytes, as SQLite does.
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {STREAM_COLUMNS} FROM streams
             WHERE starts_with(name, $1) AND name > $2
             ORDER BY name LIMIT $3"
        ))
        .await
        .map_err(db)?;
    let rows = client
        .query(&stmt, &[&prefix, &after, &to_i64(limit)])
        .await
        .map_err(db)?;
    rows_to_streams(rows)
}

/// [`Index::count_streams`](crate::store::index::Index::count_streams).
pub(super) async fn count(client: &Client) -> Result<usize, StoreError> {
    let stmt = client
        .prepare_cached("SELECT count(*) FROM streams")
        .await
        .map_err(db)?;
    let row = client.query_one(&stmt, &[]).await.map_err(db)?;
    unsigned(&row, 0, "stream count")
}

/// [`Index::streams_with_status`](crate::store::index::Index::streams_with_status).
pub(super) async fn with_status(
    client: &Client,
    status: StreamStatus,
) -> Result<Vec<StreamRecord>, StoreError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {STREAM_COLUMNS} FROM streams WHERE status = $1 ORDER BY id"
        ))
        .await
        .map_err(db)?;
    let rows = client.query(&stmt, &[&status.as_str()]).await.map_err(db)?;
    rows_to_streams(rows)
}

/// [`Index::update_stream`](crate::store::index::Index::update_stream): one statement, so the
/// version check and the change are atomic (a concurrent update that committed first changed
/// the version, and the `WHERE` no longer matches).
pub(super) async fn update(
    client: &Client,
    id: StreamId,
    expected: &Version,
    new_version: &Version,
    changes: StreamChanges,
) -> Result<StreamRecord, StoreError> {
    let stmt = client
        .prepare_cached(&format!(
            "UPDATE streams SET
               device_name = coalesce($3, device_name),
               media_type = coalesce($4, media_type),
               data_retention_hours = coalesce($5, data_retention_hours),
               status = coalesce($6, status),
               version = $7,
               storage_tier = coalesce($8, storage_tier)
             WHERE id = $1 AND version = $2
             RETURNING {STREAM_COLUMNS}"
        ))
        .await
        .map_err(db)?;
    let updated = client
        .query_opt(
            &stmt,
            &[
                &id.0,
                &expected.as_str(),
                &changes.device_name.as_ref().map(|d| d.as_str()),
                &changes.media_type.as_ref().map(|m| m.as_str()),
                &changes.data_retention_hours.map(i64::from),
                &changes.status.map(|s| s.as_str()),
                &new_version.as_str(),
                &changes.storage_tier.map(|t| t.as_str()),
            ],
        )
        .await
        .map_err(db)?;
    if let Some(row) = updated {
        return stream_from_row(&row);
    }
    match get(client, id).await? {
        None => Err(StoreError::StreamNotFound(format!("id {}", id.0))),
        Some(r) => Err(StoreError::VersionMismatch {
            name: r.name.to_string(),
            given: expected.to_string(),
        }),
    }
}

/// [`Index::delete_stream`](crate::store::index::Index::delete_stream): the rows hanging off it
/// go by `ON DELETE CASCADE`.
pub(super) async fn delete(client: &Client, id: StreamId) -> Result<(), StoreError> {
    let stmt = client
        .prepare_cached("DELETE FROM streams WHERE id = $1")
        .await
        .map_err(db)?;
    client.execute(&stmt, &[&id.0]).await.map_err(db)?;
    Ok(())
}

/// [`Index::tags`](crate::store::index::Index::tags), ordered by key.
pub(super) async fn read_tags(
    client: &impl GenericClient,
    id: StreamId,
) -> Result<Tags, StoreError> {
    let stmt = client
        .prepare_cached("SELECT key, value FROM stream_tags WHERE stream_id = $1 ORDER BY key")
        .await
        .map_err(db)?;
    let rows = client.query(&stmt, &[&id.0]).await.map_err(db)?;
    let mut tags = Tags::new();
    for row in &rows {
        let k: String = col(row, 0)?;
        let v: String = col(row, 1)?;
        let k = TagKey::parse(&k).map_err(|e| corrupt("tag key", e))?;
        let v = TagValue::parse(&v).map_err(|e| corrupt("tag value", e))?;
        tags.insert(k, v);
    }
    Ok(tags)
}

/// Adds or replaces `tags`, in one statement.
async fn insert_tags(
    client: &impl GenericClient,
    id: StreamId,
    tags: &Tags,
) -> Result<(), StoreError> {
    if tags.is_empty() {
        return Ok(());
    }
    let (keys, values): (Vec<&str>, Vec<&str>) =
        tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).unzip();
    let stmt = client
        .prepare_cached(
            "INSERT INTO stream_tags (stream_id, key, value)
             SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS t (k, v)
             ON CONFLICT (stream_id, key) DO UPDATE SET value = excluded.value",
        )
        .await
        .map_err(db)?;
    client
        .execute(&stmt, &[&id.0, &keys, &values])
        .await
        .map_err(db)?;
    Ok(())
}

/// [`Index::put_tags`](crate::store::index::Index::put_tags). The stream's row is locked `FOR
/// NO KEY UPDATE` first: two puts on one stream take turns, so the count each checks includes
/// the other's tags (under `READ COMMITTED` both could otherwise pass the limit), and the
/// stream cannot be deleted under it.
pub(super) async fn put_tags(
    client: &mut Client,
    id: StreamId,
    tags: Tags,
    max_total: usize,
) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(db)?;
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT {STREAM_COLUMNS} FROM streams WHERE id = $1 FOR NO KEY UPDATE"
        ))
        .await
        .map_err(db)?;
    let Some(row) = tx.query_opt(&stmt, &[&id.0]).await.map_err(db)? else {
        return Err(StoreError::StreamNotFound(format!("id {}", id.0)));
    };
    let stream = stream_from_row(&row)?;
    insert_tags(&tx, id, &tags).await?;
    let stmt = tx
        .prepare_cached("SELECT count(*) FROM stream_tags WHERE stream_id = $1")
        .await
        .map_err(db)?;
    let row = tx.query_one(&stmt, &[&id.0]).await.map_err(db)?;
    let count: usize = unsigned(&row, 0, "tag count")?;
    if count > max_total {
        // Dropping `tx` rolls the inserts back.
        return Err(StoreError::TooManyTags {
            name: stream.name.to_string(),
            count,
        });
    }
    tx.commit().await.map_err(db)
}

/// [`Index::remove_tags`](crate::store::index::Index::remove_tags): one statement.
pub(super) async fn remove_tags(
    client: &Client,
    id: StreamId,
    keys: Vec<TagKey>,
) -> Result<(), StoreError> {
    let keys: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
    let stmt = client
        .prepare_cached("DELETE FROM stream_tags WHERE stream_id = $1 AND key = ANY($2)")
        .await
        .map_err(db)?;
    client.execute(&stmt, &[&id.0, &keys]).await.map_err(db)?;
    Ok(())
}
