//! KVS-shaped error responses: the one table from [`ErrorKind`] to HTTP status and `__type`.
//!
//! Every error leaves as `HTTP status` + `x-amzn-ErrorType: Name` + `{"__type": Name, "message":
//! ...}`, which botocore and the other AWS SDKs turn into their modelled exception classes.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::config::ConfigError;
use crate::error::ErrorKind;
use crate::model::Invalid;
use crate::store::StoreError;

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// Lowercase, says what to do.
    pub message: String,
}

impl ApiError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    /// `InvalidArgumentException`.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::InvalidArgument, message)
    }
}

/// The HTTP status and KVS exception name of each kind (botocore's shapes: 404 for not found,
/// 401 for authorization, 400 for the other client errors).
pub fn status_and_name(kind: ErrorKind) -> (StatusCode, &'static str) {
    match kind {
        ErrorKind::InvalidArgument => (StatusCode::BAD_REQUEST, "InvalidArgumentException"),
        ErrorKind::ResourceNotFound => (StatusCode::NOT_FOUND, "ResourceNotFoundException"),
        ErrorKind::ResourceInUse => (StatusCode::BAD_REQUEST, "ResourceInUseException"),
        ErrorKind::VersionMismatch => (StatusCode::BAD_REQUEST, "VersionMismatchException"),
        ErrorKind::TagsPerResourceExceededLimit => (
            StatusCode::BAD_REQUEST,
            "TagsPerResourceExceededLimitException",
        ),
        ErrorKind::ClientLimitExceeded => (StatusCode::BAD_REQUEST, "ClientLimitExceededException"),
        ErrorKind::ConnectionLimitExceeded => {
            (StatusCode::BAD_REQUEST, "ConnectionLimitExceededException")
        }
        ErrorKind::UnsupportedStreamMediaType => (
            StatusCode::BAD_REQUEST,
            "UnsupportedStreamMediaTypeException",
        ),
        ErrorKind::NoDataRetention => (StatusCode::BAD_REQUEST, "NoDataRetentionException"),
        ErrorKind::NotAuthorized => (StatusCode::UNAUTHORIZED, "NotAuthorizedException"),
        ErrorKind::UnknownOperation => (StatusCode::NOT_FOUND, "UnknownOperationException"),
        ErrorKind::NotImplemented => (StatusCode::NOT_IMPLEMENTED, "NotImplementedException"),
        ErrorKind::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableException",
        ),
        ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure"),
    }
}

/// Builds the KVS error response for `kind` and `message`.
pub fn error_response(kind: ErrorKind, message: &str) -> Response {
    let (status, name) = status_and_name(kind);
    let body = serde_json::json!({ "__type": name, "message": message }).to_string();
    let mut resp = (status, body).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("x-amzn-ErrorType", HeaderValue::from_static(name));
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.kind {
            ErrorKind::Internal | ErrorKind::Unavailable => {
                tracing::error!(kind = ?self.kind, message = %self.message, "request failed");
            }
            _ => tracing::debug!(kind = ?self.kind, message = %self.message, "request rejected"),
        }
        error_response(self.kind, &self.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::new(e.kind(), e.to_string())
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        ApiError::new(e.kind(), e.0)
    }
}

impl From<ConfigError> for ApiError {
    fn from(e: ConfigError) -> Self {
        ApiError::new(ErrorKind::Internal, e.to_string())
    }
}

impl From<crate::media::ReadError> for ApiError {
    fn from(e: crate::media::ReadError) -> Self {
        ApiError::new(e.kind(), e.to_string())
    }
}

impl From<crate::playback::clip::ClipError> for ApiError {
    fn from(e: crate::playback::clip::ClipError) -> Self {
        ApiError::new(e.kind(), e.to_string())
    }
}

impl From<crate::playback::timeline::CoverageError> for ApiError {
    fn from(e: crate::playback::timeline::CoverageError) -> Self {
        ApiError::new(e.kind(), e.to_string())
    }
}
