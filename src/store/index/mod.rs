//! The metadata and fragment index: what streams exist, their tags, where every fragment's bytes
//! are, a per-segment summary for retention, and the segments retention has marked as garbage.
//!
//! [`Index`] is the seam between the store and its database. The embedded default is SQLite
//! ([`sqlite::SqliteIndex`]); PostgreSQL ([`postgres::PgIndex`]) plugs in behind the same trait
//! for nodes that share one index (scale-out). Both must pass [`testsuite::run`]. The index
//! enforces what must be atomic (unique names, version compare-and-swap, the tag limit, the
//! group commit's refusals), also between nodes; the [`Store`](super::Store) facade owns the rest
//! of the lifecycle rules.

mod access_key;
mod camera;
pub mod postgres;
pub mod sqlite;
#[doc(hidden)] // public so that every backend's tests, including ones under tests/, can run it
pub mod testsuite;
mod user;

use async_trait::async_trait;

use super::StoreError;
use super::fragment::{FragmentNumber, FragmentRecord, StoredTrackHeader, TrackHeader};
use crate::model::{
    KmsKeyId, StorageTier, StreamChanges, StreamId, StreamName, StreamRecord, StreamStatus, TagKey,
    Tags, Version,
};
use crate::time::ServerTime;

pub use access_key::{AccessKeyRow, AccessKeyStatus};
pub use camera::{CameraRow, PasswordSealing, StoredPassword};
pub use user::{LoginFailures, UiSessionRow, UserChanges, UserIndex, UserRow, UserStatus};

/// A stream to insert.
#[derive(Debug, Clone)]
pub struct NewStream {
    /// Unique name.
    pub name: StreamName,
    /// Full ARN text.
    pub arn: String,
    /// Optional device name.
    pub device_name: Option<crate::model::DeviceName>,
    /// Optional media type.
    pub media_type: Option<crate::model::MediaType>,
    /// KMS key id.
    pub kms_key_id: KmsKeyId,
    /// Initial version.
    pub version: Version,
    /// Initial status (CREATING).
    pub status: StreamStatus,
    /// Creation time; also part of the ARN.
    pub creation_time: ServerTime,
    /// Retention in hours.
    pub data_retention_hours: u32,
    /// Storage tier.
    pub storage_tier: StorageTier,
    /// Initial tags.
    pub tags: Tags,
}

/// Which timestamp a fragment query ranges over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampKind {
    /// The producer's timestamp.
    Producer,
    /// The server's arrival timestamp.
    Server,
}

/// A fragment listing: fragments of one stream, ordered by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentQuery {
    /// The stream.
    pub stream: StreamId,
    /// Only fragments whose timestamp of this kind is in `[start_ms, end_ms]`; None = all.
    pub range: Option<(TimestampKind, i64, i64)>,
    /// Only fragments with a seq greater than this (paging).
    pub after_seq: Option<i64>,
    /// At most this many.
    pub limit: usize,
}

/// What the index knows of one segment file (the `segments` summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentUsage {
    /// The segment (seq of its first fragment, its file name).
    pub segment: i64,
    /// Server timestamp of its first fragment.
    pub first_server_ms: i64,
    /// Newest server timestamp of its fragments.
    pub last_server_ms: i64,
    /// Seq of its last fragment.
    pub last_seq: i64,
    /// How many fragments it holds.
    pub fragments: u64,
    /// Sum of its fragments' cluster and trailer lengths.
    pub bytes: u64,
    /// When (server epoch ms) its bytes were confirmed in object storage, under the segment's
    /// object key (see `store::tiering`); None = on local disk only.
    pub uploaded_ms: Option<i64>,
}

/// A segment whose fragment rows retention removed and whose file awaits deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Garbage {
    /// The stream.
    pub stream: StreamId,
    /// The segment.
    pub segment: i64,
    /// Server time (epoch ms) of the marking.
    pub marked_ms: i64,
}

/// A stream's image generation configuration as the index keeps it: validated KVS JSON that only
/// the frame hook interprets (the store does not depend on `frames`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageGenerationRow {
    /// The `ImageGenerationConfiguration` JSON.
    pub config: String,
    /// Server time (epoch ms) of the update.
    pub updated_ms: i64,
}

/// A frame-feed consumer's checkpoint: the position of the last frame it processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The stream.
    pub stream: StreamId,
    /// The consumer's name (unique per stream).
    pub consumer: String,
    /// Seq of the fragment holding the frame.
    pub seq: i64,
    /// The frame's producer timestamp, epoch ms.
    pub producer_ms: i64,
    /// When the checkpoint was committed, server epoch ms.
    pub updated_ms: i64,
}

/// Storage for stream metadata. Implementations must be safe to call concurrently.
///
/// Web UI users and sessions are the [`UserIndex`] part, a trait of its own so that each
/// backend keeps them in a file of their own.
#[async_trait]
pub trait Index: UserIndex + Send + Sync + 'static {
    /// Inserts a stream and its tags atomically. Fails with [`StoreError::StreamExists`] if the
    /// name is taken by any stream, whatever its status.
    async fn create_stream(&self, new: NewStream) -> Result<StreamRecord, StoreError>;

    /// The stream with this name, if any.
    async fn stream_by_name(&self, name: &StreamName) -> Result<Option<StreamRecord>, StoreError>;

    /// The stream with this exact ARN, if any.
    async fn stream_by_arn(&self, arn: &str) -> Result<Option<StreamRecord>, StoreError>;

    /// Up to `limit` streams ordered by name, whose name starts with `prefix` and sorts strictly
    /// after `after`.
    async fn list_streams(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StreamRecord>, StoreError>;

    /// How many streams exist (in any status).
    async fn count_streams(&self) -> Result<usize, StoreError>;

    /// Streams in the given status (for start-up recovery of interrupted transitions).
    async fn streams_with_status(
        &self,
        status: StreamStatus,
    ) -> Result<Vec<StreamRecord>, StoreError>;

    /// Applies `changes` and sets `new_version` if the stream's version is `expected`
    /// (compare-and-swap); [`StoreError::VersionMismatch`] otherwise.
    async fn update_stream(
        &self,
        id: StreamId,
        expected: &Version,
        new_version: &Version,
        changes: StreamChanges,
    ) -> Result<StreamRecord, StoreError>;

    /// Removes the stream row and everything hanging off it.
    async fn delete_stream(&self, id: StreamId) -> Result<(), StoreError>;

    /// The stream's tags.
    async fn tags(&self, id: StreamId) -> Result<Tags, StoreError>;

    /// Adds or replaces tags, failing with [`StoreError::TooManyTags`] (and changing nothing) if
    /// the stream would end with more than `max_total`.
    async fn put_tags(&self, id: StreamId, tags: Tags, max_total: usize) -> Result<(), StoreError>;

    /// Removes the given keys; absent keys are ignored.
    async fn remove_tags(&self, id: StreamId, keys: Vec<TagKey>) -> Result<(), StoreError>;

    /// Records a track header for a stream and returns its id; if it equals the stream's latest
    /// header, returns that one's id instead of adding a row.
    async fn put_track_header(
        &self,
        stream: StreamId,
        header: TrackHeader,
    ) -> Result<i64, StoreError>;

    /// A track header by id.
    async fn track_header(&self, id: i64) -> Result<Option<StoredTrackHeader>, StoreError>;

    /// Inserts fragment rows, all in one transaction (the group commit), and keeps the
    /// per-segment summary ([`Index::segment_usage`]) in step. A row whose segment is listed in
    /// [`Index::garbage`] is refused (not inserted, the others are): retention has given that
    /// segment up, so nothing may be indexed in it. So is a row of a stream that no longer
    /// exists (deleted while its fragments were in flight): one stream's deletion never fails
    /// another stream's rows. Returns the numbers of the refused rows.
    async fn append_fragments(
        &self,
        rows: Vec<FragmentRecord>,
    ) -> Result<Vec<FragmentNumber>, StoreError>;

    /// The stream's fragment with the highest seq.
    async fn last_fragment(&self, stream: StreamId) -> Result<Option<FragmentRecord>, StoreError>;

    /// Fragments matching `q`, ordered by seq.
    async fn list_fragments(&self, q: FragmentQuery) -> Result<Vec<FragmentRecord>, StoreError>;

    /// The stream's newest `limit` fragments, ordered by number (oldest first).
    async fn last_fragments(
        &self,
        stream: StreamId,
        limit: usize,
    ) -> Result<Vec<FragmentRecord>, StoreError>;

    /// The fragments with these seqs that exist, in the order asked.
    async fn fragments_by_seq(
        &self,
        stream: StreamId,
        seqs: Vec<i64>,
    ) -> Result<Vec<FragmentRecord>, StoreError>;

    /// For each segment file of the stream that has fragments: `(segment, end of its last
    /// fragment)`, ordered by segment.
    async fn segment_ends(&self, stream: StreamId) -> Result<Vec<(i64, u64)>, StoreError>;

    /// The stream's segments that hold indexed fragments, ordered by segment (oldest first).
    async fn segment_usage(&self, stream: StreamId) -> Result<Vec<SegmentUsage>, StoreError>;

    /// Total indexed bytes (cluster + trailer) of the stream's fragments.
    async fn stream_bytes(&self, stream: StreamId) -> Result<u64, StoreError>;

    /// Retention phase 1, in one transaction: for each given segment whose summary is still
    /// exactly as given (same `last_seq` and `fragments`, so no fragment arrived since the caller
    /// decided), deletes its fragment rows and summary and lists it in the garbage table with
    /// `marked_ms`. Segments that changed or are gone are skipped. Returns the ones marked.
    async fn mark_garbage(
        &self,
        stream: StreamId,
        segments: Vec<SegmentUsage>,
        marked_ms: i64,
    ) -> Result<Vec<SegmentUsage>, StoreError>;

    /// Records that the segment's bytes are in object storage (`uploaded_ms`), if its summary is
    /// still exactly as given (same `last_seq` and `fragments`: nothing was appended since the
    /// caller read it) and it is not marked yet. Returns whether it was marked.
    async fn mark_uploaded(
        &self,
        stream: StreamId,
        segment: SegmentUsage,
        uploaded_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Every garbage row (segments whose files await deletion), oldest mark first.
    async fn garbage(&self) -> Result<Vec<Garbage>, StoreError>;

    /// Removes a garbage row once its file is gone (retention phase 2's last step).
    async fn forget_garbage(&self, stream: StreamId, segment: i64) -> Result<(), StoreError>;

    /// Inserts a camera; [`StoreError::CameraExists`] if the name is taken.
    async fn insert_camera(&self, camera: CameraRow) -> Result<(), StoreError>;

    /// Replaces the camera of that name; [`StoreError::CameraNotFound`] if there is none.
    async fn update_camera(&self, camera: CameraRow) -> Result<(), StoreError>;

    /// The camera with this name, if any.
    async fn camera(&self, name: &str) -> Result<Option<CameraRow>, StoreError>;

    /// Every camera, ordered by name.
    async fn list_cameras(&self) -> Result<Vec<CameraRow>, StoreError>;

    /// Removes the camera; [`StoreError::CameraNotFound`] if there is none.
    async fn delete_camera(&self, name: &str) -> Result<(), StoreError>;

    /// Replaces legacy clear-text camera passwords with sealed ones, each only if its row still
    /// holds that clear text, and leaves no copy of the clear text in the index's files (they
    /// are overwritten, not just unlinked) as far as the database allows: SQLite overwrites
    /// freed space and empties its log; PostgreSQL rewrites the table, but its WAL and the
    /// disk blocks it frees are out of its hands (see `postgres/cameras.rs`). Returns how many
    /// rows changed.
    async fn seal_camera_passwords(
        &self,
        sealings: Vec<PasswordSealing>,
    ) -> Result<usize, StoreError>;

    /// Sets (`Some`) or removes (`None`) the stream's image generation configuration. The row
    /// goes with the stream when it is deleted; [`StoreError::StreamNotFound`] if there is no
    /// such stream.
    async fn put_image_generation(
        &self,
        stream: StreamId,
        row: Option<ImageGenerationRow>,
    ) -> Result<(), StoreError>;

    /// The stream's image generation configuration, if any.
    async fn image_generation(
        &self,
        stream: StreamId,
    ) -> Result<Option<ImageGenerationRow>, StoreError>;

    /// Every stream's image generation configuration with its stream, ordered by stream id
    /// (start-up).
    async fn list_image_generation(
        &self,
    ) -> Result<Vec<(StreamRecord, ImageGenerationRow)>, StoreError>;
    /// Creates or replaces the checkpoint of `(stream, consumer)`.
    async fn put_checkpoint(&self, checkpoint: Checkpoint) -> Result<(), StoreError>;

    /// The checkpoint of `(stream, consumer)`, if any.
    async fn checkpoint(
        &self,
        stream: StreamId,
        consumer: &str,
    ) -> Result<Option<Checkpoint>, StoreError>;

    /// Every checkpoint of the stream, ordered by consumer name.
    async fn list_checkpoints(&self, stream: StreamId) -> Result<Vec<Checkpoint>, StoreError>;

    /// Removes the checkpoint of `(stream, consumer)`; false if there was none.
    async fn delete_checkpoint(&self, stream: StreamId, consumer: &str)
    -> Result<bool, StoreError>;

    /// Inserts an access key. [`StoreError::AccessKeyNameTaken`] if another key has that name,
    /// [`StoreError::AccessKeyExists`] if the id is taken; nothing is inserted then.
    async fn insert_access_key(&self, key: AccessKeyRow) -> Result<(), StoreError>;

    /// The access key with this id, if any.
    async fn access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRow>, StoreError>;

    /// Every access key, ordered by name.
    async fn list_access_keys(&self) -> Result<Vec<AccessKeyRow>, StoreError>;

    /// Sets the key's status; [`StoreError::AccessKeyNotFound`] if there is no such key.
    async fn set_access_key_status(
        &self,
        access_key_id: &str,
        status: AccessKeyStatus,
    ) -> Result<(), StoreError>;

    /// Removes the key; [`StoreError::AccessKeyNotFound`] if there is no such key.
    async fn delete_access_key(&self, access_key_id: &str) -> Result<(), StoreError>;

    /// Removes every key whose `expires_ms` is at or before `now_ms` (expired temporary keys);
    /// returns their ids, ordered.
    async fn delete_expired_access_keys(&self, now_ms: i64) -> Result<Vec<String>, StoreError>;

    /// Flushes and closes; called once at shutdown.
    async fn close(&self) -> Result<(), StoreError>;
}
