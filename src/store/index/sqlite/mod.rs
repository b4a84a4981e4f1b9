//! The embedded index: one SQLite database (`DATA_DIR/index.sqlite`) in WAL mode.
//!
//! Durability: `synchronous=FULL`, so a committed transaction has reached the disk before the
//! commit returns; the store acknowledges nothing before that. The schema version is SQLite's
//! `user_version`; a fresh database is built from `schema.sql`, an older one is upgraded step by
//! step with `upgrade/vN_to_vN+1.sql`, each step in one transaction.
//!
//! Retention keeps a `segments` summary row per segment file, updated in the same transaction as
//! the fragment rows, so a retention pass reads O(segments) rows, never O(fragments), and holds
//! the connection for microseconds per stream.
//!
//! All calls run on tokio's blocking pool behind one connection mutex: SQLite serializes writers
//! anyway, and metadata calls take microseconds. Reads may move to a reader pool when fragment
//! queries arrive.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{
    AccessKeyRow, AccessKeyStatus, CameraRow, Checkpoint, FragmentQuery, Garbage,
    ImageGenerationRow, Index, NewStream, PasswordSealing, SegmentUsage, TimestampKind,
};

mod cameras;
mod consumers;
mod image_generation;
mod keys;
mod open;
mod segments;
mod users;
use crate::model::{
    DeviceName, KmsKeyId, MediaType, StorageTier, StreamChanges, StreamId, StreamName,
    StreamRecord, StreamStatus, TagKey, TagValue, Tags, Version,
};
use crate::store::StoreError;
use crate::store::fragment::{FragmentNumber, FragmentRecord, StoredTrackHeader, TrackHeader};
use crate::time::ServerTime;
pub use open::{SCHEMA_V1, SCHEMA_VERSION};
use open::{configure, migrate};

const FRAGMENT_COLUMNS: &str = "stream_id, seq, producer_ms, server_ms, duration_ms, \
     track_header_id, segment, offset, cluster_len, trailer_len";

const STREAM_COLUMNS: &str = "id, name, arn, device_name, media_type, kms_key_id, version, \
     status, creation_time_ms, data_retention_hours, storage_tier";

/// The SQLite-backed [`Index`].
#[derive(Clone)]
pub struct SqliteIndex {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteIndex {
    /// Opens (creating or upgrading as needed) the index at `path`. The file and its `-wal` and
    /// `-shm` companions are made private to the owner (mode 0600) whatever the umask.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        open::make_private(path)?;
        let mut conn = Connection::open(path).map_err(db)?;
        configure(&conn)?;
        migrate(&mut conn)?;
        Ok(SqliteIndex {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// An index in memory, for tests.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let mut conn = Connection::open_in_memory().map_err(db)?;
        configure(&conn)?;
        migrate(&mut conn)?;
        Ok(SqliteIndex {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// The connection's `PRAGMA synchronous` (2 = FULL), for the durability tests.
    #[doc(hidden)]
    pub async fn synchronous_level(&self) -> Result<i64, StoreError> {
        self.call(|c| {
            c.query_row("PRAGMA synchronous", [], |r| r.get(0))
                .map_err(db)
        })
        .await
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| StoreError::internal("index connection poisoned by a panic"))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::internal(format!("index task failed: {e}")))?
    }
}

fn db(e: rusqlite::Error) -> StoreError {
    use rusqlite::ffi::ErrorCode;
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::Busy(e.to_string())
        }
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            StoreError::corruption(format!("index database: {e}"))
        }
        _ => StoreError::Database(e.to_string()),
    }
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// A row value that does not parse means the file was damaged or edited by hand.
fn corrupt(what: &str, detail: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("corrupt {what} in index: {detail}").into(),
    )
}

fn stream_from_row(row: &Row<'_>) -> rusqlite::Result<StreamRecord> {
    let name: String = row.get(1)?;
    let device_name: Option<String> = row.get(3)?;
    let media_type: Option<String> = row.get(4)?;
    let kms: String = row.get(5)?;
    let version: String = row.get(6)?;
    let status: String = row.get(7)?;
    let retention: i64 = row.get(9)?;
    let tier: String = row.get(10)?;
    Ok(StreamRecord {
        id: StreamId(row.get(0)?),
        name: StreamName::parse(&name).map_err(|e| corrupt("stream name", e))?,
        arn: row.get(2)?,
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
        creation_time: ServerTime(row.get(8)?),
        data_retention_hours: u32::try_from(retention).map_err(|e| corrupt("retention", e))?,
        storage_tier: StorageTier::parse(&tier).map_err(|e| corrupt("storage tier", e))?,
    })
}

fn fragment_from_row(row: &Row<'_>) -> rusqlite::Result<FragmentRecord> {
    let offset: i64 = row.get(7)?;
    let cluster_len: i64 = row.get(8)?;
    let trailer_len: i64 = row.get(9)?;
    Ok(FragmentRecord {
        number: FragmentNumber {
            stream: StreamId(row.get(0)?),
            seq: row.get(1)?,
        },
        producer_ms: row.get(2)?,
        server_ms: row.get(3)?,
        duration_ms: row.get(4)?,
        track_header_id: row.get(5)?,
        segment: row.get(6)?,
        offset: u64::try_from(offset).map_err(|e| corrupt("offset", e))?,
        cluster_len: u32::try_from(cluster_len).map_err(|e| corrupt("cluster length", e))?,
        trailer_len: u32::try_from(trailer_len).map_err(|e| corrupt("trailer length", e))?,
    })
}

fn track_header_from_row(row: &Row<'_>) -> rusqlite::Result<StoredTrackHeader> {
    let scale: i64 = row.get(1)?;
    let tracks: Vec<u8> = row.get(2)?;
    Ok(StoredTrackHeader {
        id: row.get(0)?,
        header: TrackHeader {
            timecode_scale: u64::try_from(scale).map_err(|e| corrupt("timecode scale", e))?,
            tracks: tracks.into(),
        },
    })
}

fn get_stream(conn: &Connection, id: StreamId) -> Result<Option<StreamRecord>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {STREAM_COLUMNS} FROM streams WHERE id = ?1"
    ))
    .map_err(db)?
    .query_row([id.0], stream_from_row)
    .optional()
    .map_err(db)
}

fn read_tags(conn: &Connection, id: StreamId) -> Result<Tags, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT key, value FROM stream_tags WHERE stream_id = ?1 ORDER BY key")
        .map_err(db)?;
    let rows = stmt
        .query_map([id.0], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(db)?;
    let mut tags = Tags::new();
    for row in rows {
        let (k, v) = row.map_err(db)?;
        let k = TagKey::parse(&k).map_err(|e| db(corrupt("tag key", e)))?;
        let v = TagValue::parse(&v).map_err(|e| db(corrupt("tag value", e)))?;
        tags.insert(k, v);
    }
    Ok(tags)
}

fn insert_tags(tx: &Connection, id: StreamId, tags: &Tags) -> Result<(), StoreError> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO stream_tags (stream_id, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (stream_id, key) DO UPDATE SET value = excluded.value",
        )
        .map_err(db)?;
    for (k, v) in tags {
        stmt.execute(params![id.0, k.as_str(), v.as_str()])
            .map_err(db)?;
    }
    Ok(())
}

#[async_trait]
impl Index for SqliteIndex {
    async fn create_stream(&self, new: NewStream) -> Result<StreamRecord, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction().map_err(db)?;
            let inserted = tx.execute(
                "INSERT INTO streams (name, arn, device_name, media_type, kms_key_id, version,
                     status, creation_time_ms, data_retention_hours, storage_tier)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    new.name.as_str(),
                    new.arn,
                    new.device_name.as_ref().map(|d| d.as_str()),
                    new.media_type.as_ref().map(|m| m.as_str()),
                    new.kms_key_id.as_str(),
                    new.version.as_str(),
                    new.status.as_str(),
                    new.creation_time.millis(),
                    new.data_retention_hours,
                    new.storage_tier.as_str(),
                ],
            );
            match inserted {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    return Err(StoreError::StreamExists(new.name.to_string()));
                }
                Err(e) => return Err(db(e)),
            }
            let id = StreamId(tx.last_insert_rowid());
            insert_tags(&tx, id, &new.tags)?;
            let record = get_stream(&tx, id)?
                .ok_or_else(|| StoreError::Database("inserted stream vanished".into()))?;
            tx.commit().map_err(db)?;
            Ok(record)
        })
        .await
    }

    async fn stream_by_name(&self, name: &StreamName) -> Result<Option<StreamRecord>, StoreError> {
        let name = name.clone();
        self.call(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {STREAM_COLUMNS} FROM streams WHERE name = ?1"
            ))
            .map_err(db)?
            .query_row([name.as_str()], stream_from_row)
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn stream_by_arn(&self, arn: &str) -> Result<Option<StreamRecord>, StoreError> {
        let arn = arn.to_owned();
        self.call(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {STREAM_COLUMNS} FROM streams WHERE arn = ?1"
            ))
            .map_err(db)?
            .query_row([arn], stream_from_row)
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn list_streams(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StreamRecord>, StoreError> {
        let prefix = prefix.unwrap_or("").to_owned();
        let after = after.unwrap_or("").to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(move |conn| {
            // substr() rather than LIKE: names may contain `_`, a LIKE wildcard.
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {STREAM_COLUMNS} FROM streams
                     WHERE substr(name, 1, length(?1)) = ?1 AND name > ?2
                     ORDER BY name LIMIT ?3"
                ))
                .map_err(db)?;
            let rows = stmt
                .query_map(params![prefix, after, limit], stream_from_row)
                .map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn count_streams(&self) -> Result<usize, StoreError> {
        self.call(|conn| {
            let n: i64 = conn
                .prepare_cached("SELECT COUNT(*) FROM streams")
                .map_err(db)?
                .query_row([], |r| r.get(0))
                .map_err(db)?;
            Ok(usize::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn streams_with_status(
        &self,
        status: StreamStatus,
    ) -> Result<Vec<StreamRecord>, StoreError> {
        self.call(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {STREAM_COLUMNS} FROM streams WHERE status = ?1 ORDER BY id"
                ))
                .map_err(db)?;
            let rows = stmt
                .query_map([status.as_str()], stream_from_row)
                .map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn update_stream(
        &self,
        id: StreamId,
        expected: &Version,
        new_version: &Version,
        changes: StreamChanges,
    ) -> Result<StreamRecord, StoreError> {
        let (expected, new_version) = (expected.clone(), new_version.clone());
        self.call(move |conn| {
            let tx = conn.transaction().map_err(db)?;
            let n = tx
                .execute(
                    "UPDATE streams SET
                       device_name = coalesce(?3, device_name),
                       media_type = coalesce(?4, media_type),
                       data_retention_hours = coalesce(?5, data_retention_hours),
                       status = coalesce(?6, status),
                       version = ?7,
                       storage_tier = coalesce(?8, storage_tier)
                     WHERE id = ?1 AND version = ?2",
                    params![
                        id.0,
                        expected.as_str(),
                        changes.device_name.as_ref().map(|d| d.as_str()),
                        changes.media_type.as_ref().map(|m| m.as_str()),
                        changes.data_retention_hours,
                        changes.status.map(|s| s.as_str()),
                        new_version.as_str(),
                        changes.storage_tier.map(|t| t.as_str()),
                    ],
                )
                .map_err(db)?;
            let record = get_stream(&tx, id)?;
            match (n, record) {
                (_, None) => Err(StoreError::StreamNotFound(format!("id {}", id.0))),
                (0, Some(r)) => Err(StoreError::VersionMismatch {
                    name: r.name.to_string(),
                    given: expected.to_string(),
                }),
                (_, Some(r)) => {
                    tx.commit().map_err(db)?;
                    Ok(r)
                }
            }
        })
        .await
    }

    async fn delete_stream(&self, id: StreamId) -> Result<(), StoreError> {
        self.call(move |conn| {
            conn.execute("DELETE FROM streams WHERE id = ?1", [id.0])
                .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn tags(&self, id: StreamId) -> Result<Tags, StoreError> {
        self.call(move |conn| read_tags(conn, id)).await
    }

    async fn put_tags(&self, id: StreamId, tags: Tags, max_total: usize) -> Result<(), StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction().map_err(db)?;
            let Some(stream) = get_stream(&tx, id)? else {
                return Err(StoreError::StreamNotFound(format!("id {}", id.0)));
            };
            insert_tags(&tx, id, &tags)?;
            let count: i64 = tx
                .query_row(
                    "SELECT count(*) FROM stream_tags WHERE stream_id = ?1",
                    [id.0],
                    |r| r.get(0),
                )
                .map_err(db)?;
            let count = usize::try_from(count).unwrap_or(usize::MAX);
            if count > max_total {
                // Dropping `tx` rolls the inserts back.
                return Err(StoreError::TooManyTags {
                    name: stream.name.to_string(),
                    count,
                });
            }
            tx.commit().map_err(db)
        })
        .await
    }

    async fn remove_tags(&self, id: StreamId, keys: Vec<TagKey>) -> Result<(), StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction().map_err(db)?;
            {
                let mut stmt = tx
                    .prepare_cached("DELETE FROM stream_tags WHERE stream_id = ?1 AND key = ?2")
                    .map_err(db)?;
                for k in &keys {
                    stmt.execute(params![id.0, k.as_str()]).map_err(db)?;
                }
            }
            tx.commit().map_err(db)
        })
        .await
    }

    async fn put_track_header(
        &self,
        stream: StreamId,
        header: TrackHeader,
    ) -> Result<i64, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction().map_err(db)?;
            let latest = tx
                .prepare_cached(
                    "SELECT id, timecode_scale, tracks FROM track_headers
                     WHERE stream_id = ?1 ORDER BY id DESC LIMIT 1",
                )
                .map_err(db)?
                .query_row([stream.0], track_header_from_row)
                .optional()
                .map_err(db)?;
            if let Some(l) = latest
                && l.header == header
            {
                return Ok(l.id);
            }
            tx.execute(
                "INSERT INTO track_headers (stream_id, timecode_scale, tracks) VALUES (?1, ?2, ?3)",
                params![
                    stream.0,
                    i64::try_from(header.timecode_scale).unwrap_or(i64::MAX),
                    &header.tracks[..]
                ],
            )
            .map_err(db)?;
            let id = tx.last_insert_rowid();
            tx.commit().map_err(db)?;
            Ok(id)
        })
        .await
    }

    async fn track_header(&self, id: i64) -> Result<Option<StoredTrackHeader>, StoreError> {
        self.call(move |conn| {
            conn.prepare_cached(
                "SELECT id, timecode_scale, tracks FROM track_headers WHERE id = ?1",
            )
            .map_err(db)?
            .query_row([id], track_header_from_row)
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn append_fragments(
        &self,
        rows: Vec<FragmentRecord>,
    ) -> Result<Vec<FragmentNumber>, StoreError> {
        self.call(move |conn| segments::append(conn, rows)).await
    }

    async fn last_fragment(&self, stream: StreamId) -> Result<Option<FragmentRecord>, StoreError> {
        self.call(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {FRAGMENT_COLUMNS} FROM fragments WHERE stream_id = ?1
                 ORDER BY seq DESC LIMIT 1"
            ))
            .map_err(db)?
            .query_row([stream.0], fragment_from_row)
            .optional()
            .map_err(db)
        })
        .await
    }

    async fn last_fragments(
        &self,
        stream: StreamId,
        limit: usize,
    ) -> Result<Vec<FragmentRecord>, StoreError> {
        self.call(move |conn| {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let mut rows = conn
                .prepare_cached(&format!(
                    "SELECT {FRAGMENT_COLUMNS} FROM fragments WHERE stream_id = ?1
                     ORDER BY seq DESC LIMIT ?2"
                ))
                .map_err(db)?
                .query_map(rusqlite::params![stream.0, limit], fragment_from_row)
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            rows.reverse();
            Ok(rows)
        })
        .await
    }

    async fn list_fragments(&self, q: FragmentQuery) -> Result<Vec<FragmentRecord>, StoreError> {
        self.call(move |conn| {
            let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
            let after = q.after_seq.unwrap_or(i64::MIN);
            let (sql, lo, hi) = match q.range {
                None => (
                    format!(
                        "SELECT {FRAGMENT_COLUMNS} FROM fragments
                         WHERE stream_id = ?1 AND seq > ?2 AND ?3 <= ?4
                         ORDER BY seq LIMIT ?5"
                    ),
                    0,
                    0,
                ),
                Some((kind, lo, hi)) => {
                    let col = match kind {
                        TimestampKind::Producer => "producer_ms",
                        TimestampKind::Server => "server_ms",
                    };
                    (
                        format!(
                            "SELECT {FRAGMENT_COLUMNS} FROM fragments
                             WHERE stream_id = ?1 AND seq > ?2 AND {col} >= ?3 AND {col} <= ?4
                             ORDER BY seq LIMIT ?5"
                        ),
                        lo,
                        hi,
                    )
                }
            };
            let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
            let rows = stmt
                .query_map(params![q.stream.0, after, lo, hi, limit], fragment_from_row)
                .map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn fragments_by_seq(
        &self,
        stream: StreamId,
        seqs: Vec<i64>,
    ) -> Result<Vec<FragmentRecord>, StoreError> {
        self.call(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {FRAGMENT_COLUMNS} FROM fragments WHERE stream_id = ?1 AND seq = ?2"
                ))
                .map_err(db)?;
            let mut out = Vec::with_capacity(seqs.len());
            for seq in seqs {
                if let Some(r) = stmt
                    .query_row(params![stream.0, seq], fragment_from_row)
                    .optional()
                    .map_err(db)?
                {
                    out.push(r);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn segment_ends(&self, stream: StreamId) -> Result<Vec<(i64, u64)>, StoreError> {
        self.call(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT segment, max(offset + cluster_len + trailer_len) FROM fragments
                     WHERE stream_id = ?1 GROUP BY segment ORDER BY segment",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map([stream.0], |r| {
                    let end: i64 = r.get(1)?;
                    Ok((
                        r.get(0)?,
                        u64::try_from(end).map_err(|e| corrupt("segment end", e))?,
                    ))
                })
                .map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn segment_usage(&self, stream: StreamId) -> Result<Vec<SegmentUsage>, StoreError> {
        self.call(move |conn| segments::usage(conn, stream)).await
    }

    async fn stream_bytes(&self, stream: StreamId) -> Result<u64, StoreError> {
        self.call(move |conn| segments::stream_bytes(conn, stream))
            .await
    }

    async fn mark_garbage(
        &self,
        stream: StreamId,
        segments: Vec<SegmentUsage>,
        marked_ms: i64,
    ) -> Result<Vec<SegmentUsage>, StoreError> {
        self.call(move |conn| segments::mark(conn, stream, segments, marked_ms))
            .await
    }

    async fn mark_uploaded(
        &self,
        stream: StreamId,
        segment: SegmentUsage,
        uploaded_ms: i64,
    ) -> Result<bool, StoreError> {
        self.call(move |conn| segments::mark_uploaded(conn, stream, segment, uploaded_ms))
            .await
    }

    async fn garbage(&self) -> Result<Vec<Garbage>, StoreError> {
        self.call(move |conn| segments::garbage(conn)).await
    }

    async fn forget_garbage(&self, stream: StreamId, segment: i64) -> Result<(), StoreError> {
        self.call(move |conn| segments::forget(conn, stream, segment))
            .await
    }

    async fn insert_camera(&self, camera: CameraRow) -> Result<(), StoreError> {
        self.call(move |conn| cameras::insert(conn, camera)).await
    }

    async fn update_camera(&self, camera: CameraRow) -> Result<(), StoreError> {
        self.call(move |conn| cameras::update(conn, camera)).await
    }

    async fn camera(&self, name: &str) -> Result<Option<CameraRow>, StoreError> {
        let name = name.to_owned();
        self.call(move |conn| cameras::get(conn, &name)).await
    }

    async fn list_cameras(&self) -> Result<Vec<CameraRow>, StoreError> {
        self.call(cameras::list).await
    }

    async fn seal_camera_passwords(
        &self,
        sealings: Vec<PasswordSealing>,
    ) -> Result<usize, StoreError> {
        self.call(move |conn| cameras::seal_passwords(conn, sealings))
            .await
    }

    async fn delete_camera(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.call(move |conn| cameras::delete(conn, &name)).await
    }

    async fn put_image_generation(
        &self,
        stream: StreamId,
        row: Option<ImageGenerationRow>,
    ) -> Result<(), StoreError> {
        self.call(move |conn| image_generation::put(conn, stream, row))
            .await
    }

    async fn image_generation(
        &self,
        stream: StreamId,
    ) -> Result<Option<ImageGenerationRow>, StoreError> {
        self.call(move |conn| image_generation::get(conn, stream))
            .await
    }

    async fn list_image_generation(
        &self,
    ) -> Result<Vec<(StreamRecord, ImageGenerationRow)>, StoreError> {
        self.call(image_generation::list).await
    }

    async fn put_checkpoint(&self, checkpoint: Checkpoint) -> Result<(), StoreError> {
        self.call(move |conn| consumers::put(conn, checkpoint))
            .await
    }

    async fn checkpoint(
        &self,
        stream: StreamId,
        consumer: &str,
    ) -> Result<Option<Checkpoint>, StoreError> {
        let consumer = consumer.to_owned();
        self.call(move |conn| consumers::get(conn, stream, &consumer))
            .await
    }

    async fn list_checkpoints(&self, stream: StreamId) -> Result<Vec<Checkpoint>, StoreError> {
        self.call(move |conn| consumers::list(conn, stream)).await
    }

    async fn delete_checkpoint(
        &self,
        stream: StreamId,
        consumer: &str,
    ) -> Result<bool, StoreError> {
        let consumer = consumer.to_owned();
        self.call(move |conn| consumers::delete(conn, stream, &consumer))
            .await
    }

    async fn insert_access_key(&self, key: AccessKeyRow) -> Result<(), StoreError> {
        self.call(move |conn| keys::insert(conn, key)).await
    }

    async fn access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRow>, StoreError> {
        let id = access_key_id.to_owned();
        self.call(move |conn| keys::get(conn, &id)).await
    }

    async fn list_access_keys(&self) -> Result<Vec<AccessKeyRow>, StoreError> {
        self.call(keys::list).await
    }

    async fn set_access_key_status(
        &self,
        access_key_id: &str,
        status: AccessKeyStatus,
    ) -> Result<(), StoreError> {
        let id = access_key_id.to_owned();
        self.call(move |conn| keys::set_status(conn, &id, status))
            .await
    }

    async fn delete_access_key(&self, access_key_id: &str) -> Result<(), StoreError> {
        let id = access_key_id.to_owned();
        self.call(move |conn| keys::delete(conn, &id)).await
    }

    async fn delete_expired_access_keys(&self, now_ms: i64) -> Result<Vec<String>, StoreError> {
        self.call(move |conn| keys::delete_expired(conn, now_ms))
            .await
    }

    async fn close(&self) -> Result<(), StoreError> {
        self.call(|conn| {
            conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
                .map_err(db)
        })
        .await
    }
}

#[cfg(test)]
mod tests;
