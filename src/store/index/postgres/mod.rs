//! The PostgreSQL index, for nodes that share one index (scale-out): a pool of connections
//! (deadpool-postgres over tokio-postgres) to one database, or one schema of it.
//!
//! Semantics are the SQLite backend's ([`super::sqlite`]), held to the same conformance suite
//! ([`super::testsuite::run`]). Where SQLite gets atomicity from serializing every writer,
//! this backend runs each call as one statement or one `READ COMMITTED` transaction and takes
//! row locks where concurrent calls must not interleave:
//! - `append_fragments` locks its streams' rows `FOR KEY SHARE` before anything else, so a
//!   concurrent `delete_stream` waits for it (or has already committed, and that stream's rows
//!   are refused): no foreign-key failure can abort the batch.
//! - `mark_garbage` locks its stream's row `FOR UPDATE`, which waits for the appends in flight
//!   and keeps new ones out until it commits: the summary it compares stays exact, and no row
//!   lands in a segment being marked.
//! - `put_tags` locks the stream's row `FOR NO KEY UPDATE`, so two tag puts cannot both pass the
//!   limit.
//! - `update_stream` is one `UPDATE … WHERE version = $expected` (the compare-and-swap).
//!
//! Text the index orders (names, tag keys) is `COLLATE "C"`: byte-wise, as SQLite orders it,
//! whatever the database's locale.
//!
//! Durability: a commit returns once its WAL is flushed (`synchronous_commit` on, PostgreSQL's
//! default; with synchronous standbys, once they have it too). [`PgIndex::connect`] refuses a
//! session where it is `off`, and warns when the server runs with `fsync = off`.
//!
//! The schema version is the highest row of `vidstream_schema_version`; [`PgIndex::connect`]
//! applies the missing migrations (`migrations/vN.sql`), each in one transaction under an
//! advisory lock, so nodes starting at once migrate once, and refuses a database written by a
//! newer vidstream.
//!
//! Failures: an unreachable server, a broken connection, a server shutting down or refusing
//! connections are [`StoreError::Unavailable`]; a deadlock or serialization failure, or every
//! pooled connection staying busy for the pool's wait timeout, [`StoreError::Busy`]. Opening a
//! connection, waiting for a pooled one and checking a returned one are each bounded (5 s, or
//! the URL's `connect_timeout`), so a dead server fails calls instead of hanging them; once
//! it is back, broken connections are replaced on the next call.
//!
//! Not yet supported: TLS to PostgreSQL (the connection is plain TCP or a Unix socket, and a URL
//! with `sslmode=require` is refused). Run the database on a trusted network or the same host.

use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::{Pool, PoolError, TimeoutType};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::FromSql;

use super::{
    AccessKeyRow, AccessKeyStatus, CameraRow, Checkpoint, FragmentQuery, Garbage,
    ImageGenerationRow, Index, NewStream, PasswordSealing, SegmentUsage,
};

mod cameras;
mod consumers;
mod fragments;
mod image_generation;
mod keys;
mod open;
mod segments;
mod streams;
mod users;
use crate::model::{
    StreamChanges, StreamId, StreamName, StreamRecord, StreamStatus, TagKey, Tags, Version,
};
use crate::store::StoreError;
use crate::store::fragment::{FragmentNumber, FragmentRecord, StoredTrackHeader, TrackHeader};
pub use open::SCHEMA_VERSION;

/// A pooled connection.
type Client = deadpool_postgres::Client;

/// The PostgreSQL-backed [`Index`]. Clones share the pool.
#[derive(Clone)]
pub struct PgIndex {
    pool: Pool,
    /// `host:port` of the server(s), for messages (never the user or password).
    target: Arc<str>,
}

impl std::fmt::Debug for PgIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgIndex")
            .field("target", &self.target)
            .field("status", &self.pool.status())
            .finish()
    }
}

impl PgIndex {
    /// Connects to the database at `url` (`postgres://user[:password]@host[:port]/database`,
    /// libpq's URL or key=value format) with a pool of at most `pool_size` connections, checks
    /// its durability settings and brings its schema to [`SCHEMA_VERSION`].
    ///
    /// Fails with [`StoreError::Unavailable`] naming `host:port` if the server cannot be
    /// reached within 5 s (the URL's `connect_timeout` overrides that), with
    /// [`StoreError::SchemaTooNew`] if a newer vidstream migrated the database, and with
    /// [`StoreError::Database`] for a URL that does not parse, asks for TLS, or a database that
    /// is not vidstream's. No message repeats the password.
    pub async fn connect(url: &str, pool_size: usize) -> Result<PgIndex, StoreError> {
        let (config, target) = open::config(url)?;
        let pool = open::pool(config, pool_size)?;
        let index = PgIndex {
            pool,
            target: target.into(),
        };
        let mut client = index.client().await?;
        open::check_durability(&client, &index.target).await?;
        open::migrate(&mut client).await?;
        Ok(index)
    }

    /// The sessions' `synchronous_commit` (`on`, or stronger with synchronous standbys), for
    /// the durability tests.
    #[doc(hidden)]
    pub async fn synchronous_commit(&self) -> Result<String, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one("SHOW synchronous_commit", &[])
            .await
            .map_err(db)?;
        col(&row, 0)
    }

    /// A connection from the pool.
    async fn client(&self) -> Result<Client, StoreError> {
        self.pool.get().await.map_err(|e| self.pool_error(e))
    }

    fn pool_error(&self, e: PoolError) -> StoreError {
        let target = &self.target;
        let secs = (self.pool.timeouts().wait)
            .unwrap_or(open::CONNECT_TIMEOUT)
            .as_secs();
        match e {
            PoolError::Timeout(TimeoutType::Wait) => StoreError::Busy(format!(
                "all {} connections to PostgreSQL at {target} stayed in use for {secs} s",
                self.pool.status().max_size
            )),
            PoolError::Timeout(TimeoutType::Create) => StoreError::Unavailable(format!(
                "PostgreSQL at {target} did not accept a connection within {secs} s"
            )),
            PoolError::Timeout(TimeoutType::Recycle) => StoreError::Unavailable(format!(
                "PostgreSQL at {target} did not answer within {secs} s"
            )),
            PoolError::Backend(e) => match db(e) {
                StoreError::Unavailable(m) => StoreError::Unavailable(format!(
                    "PostgreSQL at {target} cannot be reached: {m}"
                )),
                StoreError::Database(m) => {
                    StoreError::Database(format!("connecting to PostgreSQL at {target}: {m}"))
                }
                other => other,
            },
            PoolError::Closed => StoreError::Unavailable("the PostgreSQL index was closed".into()),
            PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_) => {
                StoreError::internal(format!("PostgreSQL pool: {e}"))
            }
        }
    }
}

/// The error and its causes, one line (tokio-postgres's `Display` shows only the outermost).
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(d) = e.as_db_error() {
        return d.to_string().replace('\n', "; ");
    }
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Maps a tokio-postgres error to the store's: the server or the connection failing is
/// [`StoreError::Unavailable`], a transaction PostgreSQL gave up on to let another through is
/// [`StoreError::Busy`], damage the server reports is [`StoreError::Corruption`], anything else
/// [`StoreError::Database`].
fn db(e: tokio_postgres::Error) -> StoreError {
    let text = describe(&e);
    let Some(code) = e.code() else {
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        let timeout = e.to_string() == "timeout waiting for server";
        let connect = e.to_string().starts_with("error connecting to server");
        return if e.is_closed() || io || timeout || connect {
            StoreError::Unavailable(format!("PostgreSQL connection failed: {text}"))
        } else {
            StoreError::Database(text)
        };
    };
    let class = code.code().get(..2).unwrap_or("");
    if *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::LOCK_NOT_AVAILABLE
        || *code == SqlState::QUERY_CANCELED
    {
        StoreError::Busy(text)
    } else if class == "08" // connection exception
        || class == "53" // insufficient resources (disk full, too many connections)
        || class == "57" // operator intervention (shutdown, cannot connect now)
        || *code == SqlState::READ_ONLY_SQL_TRANSACTION // a standby, mid-failover
        || *code == SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT
    {
        StoreError::Unavailable(text)
    } else if class == "XX" && *code != SqlState::INTERNAL_ERROR {
        StoreError::corruption(format!("index database: {text}"))
    } else {
        StoreError::Database(text)
    }
}

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

fn is_foreign_key_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION)
}

/// A row value that does not parse means the database was edited by hand (or damaged).
fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Database(format!("corrupt {what} in index: {detail}"))
}

/// Column `idx` of `row`, without panicking on a type or NULL mismatch.
fn col<'a, T: FromSql<'a>>(row: &'a Row, idx: usize) -> Result<T, StoreError> {
    row.try_get(idx).map_err(db)
}

/// An `i64` column that holds an unsigned Rust value.
fn unsigned<T: TryFrom<i64>>(row: &Row, idx: usize, what: &str) -> Result<T, StoreError>
where
    T::Error: std::fmt::Display,
{
    let v: i64 = col(row, idx)?;
    T::try_from(v).map_err(|e| corrupt(what, e))
}

/// A value the schema keeps as BIGINT, saturated as SQLite's backend does.
fn to_i64<T: TryInto<i64>>(v: T) -> i64 {
    v.try_into().unwrap_or(i64::MAX)
}

#[async_trait]
impl Index for PgIndex {
    async fn create_stream(&self, new: NewStream) -> Result<StreamRecord, StoreError> {
        streams::create(&mut self.client().await?, new).await
    }

    async fn stream_by_name(&self, name: &StreamName) -> Result<Option<StreamRecord>, StoreError> {
        streams::by_column(&self.client().await?, "name", name.as_str()).await
    }

    async fn stream_by_arn(&self, arn: &str) -> Result<Option<StreamRecord>, StoreError> {
        streams::by_column(&self.client().await?, "arn", arn).await
    }

    async fn list_streams(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StreamRecord>, StoreError> {
        let client = self.client().await?;
        streams::list(&client, prefix.unwrap_or(""), after.unwrap_or(""), limit).await
    }

    async fn count_streams(&self) -> Result<usize, StoreError> {
        streams::count(&self.client().await?).await
    }

    async fn streams_with_status(
        &self,
        status: StreamStatus,
    ) -> Result<Vec<StreamRecord>, StoreError> {
        streams::with_status(&self.client().await?, status).await
    }

    async fn update_stream(
        &self,
        id: StreamId,
        expected: &Version,
        new_version: &Version,
        changes: StreamChanges,
    ) -> Result<StreamRecord, StoreError> {
        let client = self.client().await?;
        streams::update(&client, id, expected, new_version, changes).await
    }

    async fn delete_stream(&self, id: StreamId) -> Result<(), StoreError> {
        streams::delete(&self.client().await?, id).await
    }

    async fn tags(&self, id: StreamId) -> Result<Tags, StoreError> {
        streams::read_tags(&self.client().await?, id).await
    }

    async fn put_tags(&self, id: StreamId, tags: Tags, max_total: usize) -> Result<(), StoreError> {
        streams::put_tags(&mut self.client().await?, id, tags, max_total).await
    }

    async fn remove_tags(&self, id: StreamId, keys: Vec<TagKey>) -> Result<(), StoreError> {
        streams::remove_tags(&self.client().await?, id, keys).await
    }

    async fn put_track_header(
        &self,
        stream: StreamId,
        header: TrackHeader,
    ) -> Result<i64, StoreError> {
        fragments::put_track_header(&mut self.client().await?, stream, header).await
    }

    async fn track_header(&self, id: i64) -> Result<Option<StoredTrackHeader>, StoreError> {
        fragments::track_header(&self.client().await?, id).await
    }

    async fn append_fragments(
        &self,
        rows: Vec<FragmentRecord>,
    ) -> Result<Vec<FragmentNumber>, StoreError> {
        segments::append(&mut self.client().await?, rows).await
    }

    async fn last_fragment(&self, stream: StreamId) -> Result<Option<FragmentRecord>, StoreError> {
        let mut last = fragments::last(&self.client().await?, stream, 1).await?;
        Ok(last.pop())
    }

    async fn list_fragments(&self, q: FragmentQuery) -> Result<Vec<FragmentRecord>, StoreError> {
        fragments::list(&self.client().await?, q).await
    }

    async fn last_fragments(
        &self,
        stream: StreamId,
        limit: usize,
    ) -> Result<Vec<FragmentRecord>, StoreError> {
        fragments::last(&self.client().await?, stream, limit).await
    }

    async fn fragments_by_seq(
        &self,
        stream: StreamId,
        seqs: Vec<i64>,
    ) -> Result<Vec<FragmentRecord>, StoreError> {
        fragments::by_seq(&self.client().await?, stream, seqs).await
    }

    async fn segment_ends(&self, stream: StreamId) -> Result<Vec<(i64, u64)>, StoreError> {
        fragments::segment_ends(&self.client().await?, stream).await
    }

    async fn segment_usage(&self, stream: StreamId) -> Result<Vec<SegmentUsage>, StoreError> {
        segments::usage(&self.client().await?, stream).await
    }

    async fn stream_bytes(&self, stream: StreamId) -> Result<u64, StoreError> {
        segments::stream_bytes(&self.client().await?, stream).await
    }

    async fn mark_garbage(
        &self,
        stream: StreamId,
        segments: Vec<SegmentUsage>,
        marked_ms: i64,
    ) -> Result<Vec<SegmentUsage>, StoreError> {
        segments::mark(&mut self.client().await?, stream, segments, marked_ms).await
    }

    async fn mark_uploaded(
        &self,
        stream: StreamId,
        segment: SegmentUsage,
        uploaded_ms: i64,
    ) -> Result<bool, StoreError> {
        segments::mark_uploaded(&self.client().await?, stream, segment, uploaded_ms).await
    }

    async fn garbage(&self) -> Result<Vec<Garbage>, StoreError> {
        segments::garbage(&self.client().await?).await
    }

    async fn forget_garbage(&self, stream: StreamId, segment: i64) -> Result<(), StoreError> {
        segments::forget(&self.client().await?, stream, segment).await
    }

    async fn insert_camera(&self, camera: CameraRow) -> Result<(), StoreError> {
        cameras::insert(&self.client().await?, camera).await
    }

    async fn update_camera(&self, camera: CameraRow) -> Result<(), StoreError> {
        cameras::update(&self.client().await?, camera).await
    }

    async fn camera(&self, name: &str) -> Result<Option<CameraRow>, StoreError> {
        cameras::get(&self.client().await?, name).await
    }

    async fn list_cameras(&self) -> Result<Vec<CameraRow>, StoreError> {
        cameras::list(&self.client().await?).await
    }

    async fn delete_camera(&self, name: &str) -> Result<(), StoreError> {
        cameras::delete(&self.client().await?, name).await
    }

    async fn seal_camera_passwords(
        &self,
        sealings: Vec<PasswordSealing>,
    ) -> Result<usize, StoreError> {
        cameras::seal_passwords(&mut self.client().await?, sealings).await
    }

    async fn put_image_generation(
        &self,
        stream: StreamId,
        row: Option<ImageGenerationRow>,
    ) -> Result<(), StoreError> {
        image_generation::put(&mut self.client().await?, stream, row).await
    }

    async fn image_generation(
        &self,
        stream: StreamId,
    ) -> Result<Option<ImageGenerationRow>, StoreError> {
        image_generation::get(&self.client().await?, stream).await
    }

    async fn list_image_generation(
        &self,
    ) -> Result<Vec<(StreamRecord, ImageGenerationRow)>, StoreError> {
        image_generation::list(&self.client().await?).await
    }

    async fn put_checkpoint(&self, checkpoint: Checkpoint) -> Result<(), StoreError> {
        consumers::put(&self.client().await?, checkpoint).await
    }

    async fn checkpoint(
        &self,
        stream: StreamId,
        consumer: &str,
    ) -> Result<Option<Checkpoint>, StoreError> {
        consumers::get(&self.client().await?, stream, consumer).await
    }

    async fn list_checkpoints(&self, stream: StreamId) -> Result<Vec<Checkpoint>, StoreError> {
        consumers::list(&self.client().await?, stream).await
    }

    async fn delete_checkpoint(
        &self,
        stream: StreamId,
        consumer: &str,
    ) -> Result<bool, StoreError> {
        consumers::delete(&self.client().await?, stream, consumer).await
    }

    async fn insert_access_key(&self, key: AccessKeyRow) -> Result<(), StoreError> {
        keys::insert(&self.client().await?, key).await
    }

    async fn access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRow>, StoreError> {
        keys::get(&self.client().await?, access_key_id).await
    }

    async fn list_access_keys(&self) -> Result<Vec<AccessKeyRow>, StoreError> {
        keys::list(&self.client().await?).await
    }

    async fn set_access_key_status(
        &self,
        access_key_id: &str,
        status: AccessKeyStatus,
    ) -> Result<(), StoreError> {
        keys::set_status(&self.client().await?, access_key_id, status).await
    }

    async fn delete_access_key(&self, access_key_id: &str) -> Result<(), StoreError> {
        keys::delete(&self.client().await?, access_key_id).await
    }

    async fn delete_expired_access_keys(&self, now_ms: i64) -> Result<Vec<String>, StoreError> {
        keys::delete_expired(&self.client().await?, now_ms).await
    }

    /// Closes the pool: connections are closed as they come back, and later calls fail with
    /// [`StoreError::Unavailable`]. Every commit already waited for its WAL flush, so there is
    /// nothing to flush.
    async fn close(&self) -> Result<(), StoreError> {
        self.pool.close();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
