//! The metadata and fragment index: what streams exist, their tags, and (later) where every
//! fragment's bytes are.
//!
//! [`Index`] is the seam between the store and its database. The embedded default is SQLite
//! ([`sqlite::SqliteIndex`]); a PostgreSQL implementation plugs in behind the same trait for
//! scale-out, and both must pass [`testsuite::run`]. The index enforces what must be atomic
//! (unique names, version compare-and-swap, the tag limit); the [`Store`](super::Store) facade
//! owns the rest of the lifecycle rules.

pub mod sqlite;
#[doc(hidden)] // public so that every backend's tests, including ones under tests/, can run it
pub mod testsuite;

use async_trait::async_trait;

use super::StoreError;
use crate::model::{
    KmsKeyId, StorageTier, StreamChanges, StreamId, StreamName, StreamRecord, StreamStatus, TagKey,
    Tags, Version,
};
use crate::time::ServerTime;

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

/// Storage for stream metadata. Implementations must be safe to call concurrently.
#[async_trait]
pub trait Index: Send + Sync + 'static {
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

    /// Flushes and closes; called once at shutdown.
    async fn close(&self) -> Result<(), StoreError>;
}
