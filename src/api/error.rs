//! KVS-shaped error responses: the one table from [`ErrorKind`] to HTTP status and `__type`.
//!
//! Every error leaves as `HTTP status` + `x-amzn-ErrorType: Name` + `{"__type": Name, "message":
//! ...}`, which botocore and the other AWS SDKs turn into their modelled exception classes.
//!
//! An [`ErrorKind::Internal`] error's message is for the operator, not the client: it may name a
//! disk path, a database error or a panic. [`ApiError`] puts it in the response's extensions
//! ([`InternalDetail`]) under a generic body, and [`hide_internal_errors`], a middleware inside
//! the request's trace span, logs it with the request id and answers `internal error; request
//! id <id>; ...`, so a client can quote the id and the operator can find the log line.
//!
//! The `From` impls that turn the modules' errors into [`ApiError`] all live here.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::cameras::CameraError;
use crate::config::ConfigError;
use crate::error::ErrorKind;
use crate::model::Invalid;
use crate::playback::{fmp4, ts};
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
        ErrorKind::AccountStreamLimitExceeded => (
            StatusCode::BAD_REQUEST,
            "AccountStreamLimitExceededException",
        ),
        ErrorKind::ConnectionLimitExceeded => {
            (StatusCode::BAD_REQUEST, "ConnectionLimitExceededException")
        }
        ErrorKind::UnsupportedStreamMediaType => (
            StatusCode::BAD_REQUEST,
            "UnsupportedStreamMediaTypeException",
        ),
        ErrorKind::NoDataRetention => (StatusCode::BAD_REQUEST, "NoDataRetentionException"),
        ErrorKind::NotAuthorized => (StatusCode::UNAUTHORIZED, "NotAuthorizedException"),
        ErrorKind::AccessDenied => (StatusCode::UNAUTHORIZED, "AccessDeniedException"),
        // Authentication failures: AWS's status and names (not in the KVS models; botocore
        // raises them as ClientError with these codes).
        ErrorKind::MissingAuthenticationToken => {
            (StatusCode::FORBIDDEN, "MissingAuthenticationTokenException")
        }
        ErrorKind::IncompleteSignature => (StatusCode::BAD_REQUEST, "IncompleteSignatureException"),
        ErrorKind::RequestExpired => (StatusCode::BAD_REQUEST, "RequestExpired"),
        ErrorKind::InvalidSignature => (StatusCode::FORBIDDEN, "InvalidSignatureException"),
        ErrorKind::UnrecognizedClient => (StatusCode::FORBIDDEN, "UnrecognizedClientException"),
        ErrorKind::ExpiredToken => (StatusCode::FORBIDDEN, "ExpiredTokenException"),
        ErrorKind::UnknownOperation => (StatusCode::NOT_FOUND, "UnknownOperationException"),
        ErrorKind::NotImplemented => (StatusCode::NOT_IMPLEMENTED, "NotImplementedException"),
        ErrorKind::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableException",
        ),
        ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure"),
    }
}

/// Builds the KVS error response for `kind` and `message`. The message goes to the client as
/// is: for [`ErrorKind::Internal`] return an [`ApiError`] instead, which hides it.
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

/// What an internal error's body says when no request id is known (outside the router).
const INTERNAL_MESSAGE: &str = "internal error; the server log has the details";

/// The real message of an internal error, carried in the response's extensions from the
/// handler to [`hide_internal_errors`], which logs it. Never sent to the client.
#[derive(Debug, Clone)]
pub struct InternalDetail(pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.kind {
            ErrorKind::Internal => {
                let mut resp = error_response(ErrorKind::Internal, INTERNAL_MESSAGE);
                resp.extensions_mut().insert(InternalDetail(self.message));
                return resp;
            }
            ErrorKind::Unavailable => {
                tracing::error!(kind = ?self.kind, message = %self.message, "request failed");
            }
            _ => tracing::debug!(kind = ?self.kind, message = %self.message, "request rejected"),
        }
        error_response(self.kind, &self.message)
    }
}

/// What a client may be told of an error that leaves outside an HTTP error response (a WebSocket
/// frame, say): an internal error's message is for the log only.
pub fn client_message(kind: ErrorKind, message: &str) -> &str {
    match kind {
        ErrorKind::Internal => INTERNAL_MESSAGE,
        _ => message,
    }
}

/// Middleware: an internal error's detail is logged with the request id, and its body
/// replaced by one that carries the id and nothing else. Runs inside the trace span and
/// outside the panic catcher, so panics are covered too.
pub async fn hide_internal_errors(req: Request, next: Next) -> Response {
    let id = req.headers().get(&super::REQUEST_ID).cloned();
    let resp = next.run(req).await;
    let Some(InternalDetail(detail)) = resp.extensions().get::<InternalDetail>() else {
        return resp;
    };
    let id = id
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown");
    tracing::error!(request_id = id, error = %detail, "internal error");
    let (_, name) = status_and_name(ErrorKind::Internal);
    let message = format!("internal error; request id {id}; the server log has the details");
    let body = serde_json::json!({ "__type": name, "message": message }).to_string();
    let (mut parts, _) = resp.into_parts();
    parts.extensions.remove::<InternalDetail>();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
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

impl From<crate::frames::feed::FeedError> for ApiError {
    fn from(e: crate::frames::feed::FeedError) -> Self {
        ApiError::new(e.kind(), e.to_string())
    }
}

impl From<crate::media::ReadError> for ApiError {
    fn from(e: crate::media::ReadError) -> Self {
        ApiError::new(e.kind(), e.to_string())
    }
}

impl From<crate::playback::error::PlaybackError> for ApiError {
    fn from(e: crate::playback::error::PlaybackError) -> Self {
        ApiError::new(e.kind(), e.to_string())
    }
}

impl From<crate::playback::clip::ClipError> for ApiError {
    fn from(e: crate::playback::clip::ClipError) -> Self {
        ApiError::new(e.kind(), e.to_string())
    }
}

impl From<CameraError> for ApiError {
    fn from(e: CameraError) -> Self {
        ApiError::new(e.kind(), e.to_string())
    }
}

impl From<fmp4::Fmp4Error> for ApiError {
    fn from(e: fmp4::Fmp4Error) -> Self {
        ApiError::new(e.kind(), e.to_string())
    }
}

impl From<ts::TsError> for ApiError {
    fn from(e: ts::TsError) -> Self {
        ApiError::new(e.kind(), e.to_string())
    }
}

impl From<crate::playback::timeline::CoverageError> for ApiError {
    fn from(e: crate::playback::timeline::CoverageError) -> Self {
        ApiError::new(e.kind(), e.to_string())
    }
}

impl From<crate::auth::users::UserError> for ApiError {
    fn from(e: crate::auth::users::UserError) -> Self {
        ApiError::new(e.kind(), e.to_string())
    }
}

impl From<crate::auth::ui_session::UiAuthError> for ApiError {
    fn from(e: crate::auth::ui_session::UiAuthError) -> Self {
        ApiError::new(e.kind(), e.to_string())
    }
}

impl From<crate::auth::keys::KeyError> for ApiError {
    fn from(e: crate::auth::keys::KeyError) -> Self {
        ApiError::new(e.kind(), e.to_string())
    }
}

impl From<crate::auth::policy::PolicyError> for ApiError {
    fn from(e: crate::auth::policy::PolicyError) -> Self {
        ApiError::new(ErrorKind::InvalidArgument, e.to_string())
    }
}
