//! The crate-wide error vocabulary.
//!
//! Every module has its own `thiserror` enum (`store::StoreError`, `config::ConfigError`, ...) with a
//! `kind()` method returning an [`ErrorKind`]. The kinds are the KVS exception vocabulary, kept
//! deliberately small; `api::error` holds the one table from kind to HTTP status and `__type` name.
//! Nothing here knows about HTTP.

/// What went wrong, in the terms a KVS client understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is malformed or a value is out of range (`InvalidArgumentException`).
    InvalidArgument,
    /// The stream or resource does not exist (`ResourceNotFoundException`).
    ResourceNotFound,
    /// The name is taken, or the resource is busy in another state (`ResourceInUseException`).
    ResourceInUse,
    /// The caller's `CurrentVersion` is stale (`VersionMismatchException`).
    VersionMismatch,
    /// More than 50 tags would be attached (`TagsPerResourceExceededLimitException`).
    TagsPerResourceExceededLimit,
    /// A rate or size limit was hit (`ClientLimitExceededException`).
    ClientLimitExceeded,
    /// Too many concurrent connections to one stream (`ConnectionLimitExceededException`).
    ConnectionLimitExceeded,
    /// The server holds as many streams as it may (`AccountStreamLimitExceededException`).
    AccountStreamLimitExceeded,
    /// The stream's media cannot be served in the asked format, e.g. GetClip of a stream without
    /// H.264/H.265 video (`UnsupportedStreamMediaTypeException`).
    UnsupportedStreamMediaType,
    /// Archived media was asked of a stream that keeps none (`DataRetentionInHours` 0;
    /// `NoDataRetentionException`).
    NoDataRetention,
    /// The caller is not allowed to do this (`NotAuthorizedException`).
    NotAuthorized,
    /// The caller is not allowed to do this, for operations whose model names
    /// `AccessDeniedException` instead.
    AccessDenied,
    /// The request carries no signature (`MissingAuthenticationTokenException`).
    MissingAuthenticationToken,
    /// The signature is malformed (`IncompleteSignatureException`).
    IncompleteSignature,
    /// The signature does not match, or has expired (`InvalidSignatureException`).
    InvalidSignature,
    /// A presigned URL past its expiry (`RequestExpired`).
    RequestExpired,
    /// The access key is not known, or not active (`UnrecognizedClientException`).
    UnrecognizedClient,
    /// Temporary credentials past their expiry (`ExpiredTokenException`).
    ExpiredToken,
    /// The operation is not part of the API (`UnknownOperationException`).
    UnknownOperation,
    /// The operation exists in the API but vidstream does not implement it yet.
    NotImplemented,
    /// A dependency (disk, database) is temporarily unusable; retrying may help.
    Unavailable,
    /// A bug or an unexpected failure on our side.
    Internal,
}
