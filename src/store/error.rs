//! Errors of the store and its backends.

use crate::error::ErrorKind;
use crate::model::{Invalid, MAX_TAGS_PER_RESOURCE};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No stream of that name or ARN.
    #[error("stream `{0}` not found; create it with CreateStream")]
    StreamNotFound(String),
    /// The name is taken (possibly by a stream still being deleted).
    #[error("stream `{0}` already exists; pick another name or delete it first")]
    StreamExists(String),
    /// The caller's CurrentVersion is not the stream's version.
    #[error(
        "version `{given}` of stream `{name}` is not the latest; call DescribeStream for the current Version and retry"
    )]
    VersionMismatch {
        /// Stream name.
        name: String,
        /// The stale version the caller gave.
        given: String,
    },
    /// The stream is in a state that forbids this operation.
    #[error("stream `{name}` is {status}; this operation needs an ACTIVE stream")]
    StreamBusy {
        /// Stream name.
        name: String,
        /// Its current KVS status.
        status: &'static str,
    },
    /// Tagging would exceed the per-resource limit.
    #[error(
        "stream `{name}` would have {count} tags; at most {MAX_TAGS_PER_RESOURCE} are allowed, remove some with UntagStream first"
    )]
    TooManyTags {
        /// Stream name.
        name: String,
        /// The count after the change.
        count: usize,
    },
    /// No camera of that name.
    #[error("camera `{0}` not found; add it with POST /v1/cameras")]
    CameraNotFound(String),
    /// The camera name is taken.
    #[error("camera `{0}` already exists; pick another name or update it with PUT /v1/cameras/{0}")]
    CameraExists(String),
    /// No access key with that id.
    #[error("access key `{0}` not found; list the keys with GET /v1/keys")]
    AccessKeyNotFound(String),
    /// Another access key has that name.
    #[error("an access key named `{0}` already exists; pick another name or delete that key first")]
    AccessKeyNameTaken(String),
    /// The access key id is taken (a random id collided; making the key again picks another).
    #[error("access key id `{0}` already exists")]
    AccessKeyExists(String),
    /// No web UI user of that name.
    #[error("user `{0}` not found; list the users with GET /v1/users")]
    UserNotFound(String),
    /// The user name is taken.
    #[error(
        "a user named `{0}` already exists; pick another name or change that user with PUT /v1/users/{0}"
    )]
    UserExists(String),
    /// A value broke an API constraint.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// Another vidstream process holds the data directory.
    #[error("data directory {0} is in use by another vidstream process (its LOCK file is held)")]
    DataDirLocked(String),
    /// The index was written by a newer vidstream.
    #[error(
        "index schema version {found} is newer than this vidstream supports ({supported}); upgrade vidstream"
    )]
    SchemaTooNew {
        /// Version on disk.
        found: i64,
        /// Highest version this build knows.
        supported: i64,
    },
    /// The index database failed (SQLite or PostgreSQL reported an error, the schema is foreign
    /// or cannot be upgraded, the PostgreSQL URL or settings are refused). Damage to stored
    /// data is [`StoreError::Corruption`], not this.
    #[error("index database error: {0}")]
    Database(String),
    /// Stored data is damaged: a fragment, trailer, segment file or track header the index
    /// points at is missing, short or does not parse, a checksum does not match, the index
    /// contradicts itself or SQLite found its file corrupt. Never retried: an operator must look.
    #[error("stored data is damaged: {0}; run vidstream check")]
    Corruption(String),
    /// The store failed on its own side, not the disk's or the database's: a blocking task
    /// panicked, a lock was poisoned, the writer stopped, or a fragment failed because an
    /// earlier one of its batch did.
    #[error("store failure: {0}")]
    Internal(String),
    /// The index database is busy or temporarily unusable (SQLite's lock is held; PostgreSQL
    /// aborted a transaction in a deadlock or serialization failure, or every pooled connection
    /// is in use).
    #[error("index database is busy: {0}; retry")]
    Busy(String),
    /// The index database cannot be reached (PostgreSQL is down, restarting, refusing
    /// connections, or the connection to it broke). Retrying later may succeed.
    #[error("index database is unavailable: {0}; retry later")]
    Unavailable(String),
    /// Object storage could not be reached (connection refused, timeouts, 5xx after retries).
    #[error("object storage is unavailable: {0}; retry later")]
    ObjectsUnavailable(String),
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl StoreError {
    /// The KVS error kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::StreamNotFound(_)
            | StoreError::CameraNotFound(_)
            | StoreError::AccessKeyNotFound(_)
            | StoreError::UserNotFound(_) => ErrorKind::ResourceNotFound,
            StoreError::CameraExists(_)
            | StoreError::AccessKeyNameTaken(_)
            | StoreError::AccessKeyExists(_)
            | StoreError::UserExists(_) => ErrorKind::ResourceInUse,
            StoreError::StreamExists(_) | StoreError::StreamBusy { .. } => ErrorKind::ResourceInUse,
            StoreError::VersionMismatch { .. } => ErrorKind::VersionMismatch,
            StoreError::TooManyTags { .. } => ErrorKind::TagsPerResourceExceededLimit,
            StoreError::Invalid(_) => ErrorKind::InvalidArgument,
            StoreError::Busy(_)
            | StoreError::Unavailable(_)
            | StoreError::ObjectsUnavailable(_) => ErrorKind::Unavailable,
            StoreError::DataDirLocked(_)
            | StoreError::SchemaTooNew { .. }
            | StoreError::Database(_)
            | StoreError::Corruption(_)
            | StoreError::Internal(_)
            | StoreError::Io { .. } => ErrorKind::Internal,
        }
    }

    /// Damage to stored data, described with where it is.
    pub fn corruption(what: impl Into<String>) -> Self {
        StoreError::Corruption(what.into())
    }

    /// A failure of the store's own machinery.
    pub fn internal(what: impl Into<String>) -> Self {
        StoreError::Internal(what.into())
    }

    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StoreError::Io {
            context: context.into(),
            source,
        }
    }
}
