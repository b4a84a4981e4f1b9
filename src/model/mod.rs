//! The domain vocabulary shared by the store and the API: validated names, ARNs, tags and the
//! stream record.
//!
//! Values from the wire are parsed into these types once, at the API edge ("parse, don't
//! validate"), so the store never sees a name that breaks the KVS constraints. The constraints are
//! botocore's `kinesisvideo` model (see ../shared/KVS-API.md §1.1).

mod arn;
mod names;
mod tags;

pub use arn::{Arn, ResourceType};
pub use names::{DeviceName, KmsKeyId, MediaType, StreamName, Version};
pub use tags::{MAX_TAGS_PER_RESOURCE, TagKey, TagValue, Tags};

use crate::error::ErrorKind;
use crate::time::ServerTime;

/// A value from the wire broke one of the API's constraints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    /// Always [`ErrorKind::InvalidArgument`].
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

/// Longest retention KVS accepts: ten years.
pub const MAX_RETENTION_HOURS: u32 = 87_600;

/// The store's row id of a stream. Never reused; the media directory is named after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(pub i64);

/// The lifecycle states of a stream (KVS `Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamStatus {
    /// Created, storage not yet provisioned.
    Creating,
    /// Ready for reads and writes.
    Active,
    /// An update is in progress (not used by vidstream: updates are atomic).
    Updating,
    /// Deleted; media is being removed and the name is still reserved.
    Deleting,
}

impl StreamStatus {
    /// The KVS wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamStatus::Creating => "CREATING",
            StreamStatus::Active => "ACTIVE",
            StreamStatus::Updating => "UPDATING",
            StreamStatus::Deleting => "DELETING",
        }
    }

    /// Parses the KVS wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "CREATING" => StreamStatus::Creating,
            "ACTIVE" => StreamStatus::Active,
            "UPDATING" => StreamStatus::Updating,
            "DELETING" => StreamStatus::Deleting,
            _ => return None,
        })
    }
}

/// KVS `DefaultStorageTier`. vidstream keeps one tier; the value is recorded and reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StorageTier {
    /// Frequently read media.
    #[default]
    Hot,
    /// Rarely read media.
    Warm,
}

impl StorageTier {
    /// The KVS wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageTier::Hot => "HOT",
            StorageTier::Warm => "WARM",
        }
    }

    /// Parses the KVS wire name.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s {
            "HOT" => Ok(StorageTier::Hot),
            "WARM" => Ok(StorageTier::Warm),
            _ => Err(Invalid(format!(
                "storage tier `{s}` is invalid: use HOT or WARM"
            ))),
        }
    }
}

/// One stream as the index stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    /// Row id.
    pub id: StreamId,
    /// Unique name.
    pub name: StreamName,
    /// `arn:aws:kinesisvideo:REGION:ACCOUNT:stream/NAME/CREATION_MS`.
    pub arn: String,
    /// Optional producer device name.
    pub device_name: Option<DeviceName>,
    /// Optional MIME types, e.g. `video/h264`.
    pub media_type: Option<MediaType>,
    /// KMS key id (recorded only; vidstream does not use KMS).
    pub kms_key_id: KmsKeyId,
    /// Opaque token that changes on every update.
    pub version: Version,
    /// Lifecycle state.
    pub status: StreamStatus,
    /// When the stream was created.
    pub creation_time: ServerTime,
    /// 0 = media is not persisted (live readers only).
    pub data_retention_hours: u32,
    /// Recorded storage tier.
    pub storage_tier: StorageTier,
}

/// The parts of a stream an update may change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamChanges {
    /// New device name.
    pub device_name: Option<DeviceName>,
    /// New media type.
    pub media_type: Option<MediaType>,
    /// New retention.
    pub data_retention_hours: Option<u32>,
    /// New status.
    pub status: Option<StreamStatus>,
    /// New default storage tier.
    pub storage_tier: Option<StorageTier>,
}
