//! The JSON request extractor: a bounded body, parsed with serde, whose every failure is a
//! KVS-shaped `InvalidArgumentException` (axum's own `Json` answers in plain text).

use axum::extract::{FromRef, FromRequest, Request};
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;

/// A JSON body of type `T`. An empty body reads as `{}`, as some SDKs send nothing for
/// operations without parameters.
pub struct KvsJson<T>(pub T);

impl<S, T> FromRequest<S> for KvsJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = AppState::from_ref(state).max_request_body_bytes;
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|e| {
                ApiError::invalid(format!(
                    "could not read the request body (the limit is {limit} bytes): {e}"
                ))
            })?;
        parse_body(&bytes).map(KvsJson)
    }
}

/// Reads a whole request body as `T`, as [`KvsJson`] does once the body is in memory.
pub(super) fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let body: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid(format!(
            "request body is not valid JSON for this operation: {e}"
        ))
    })
}

/// A [`super::fuzz::BodyCheck`] for an operation whose checks all need the store: the body's parsing only.
pub(super) fn parse_only<T: DeserializeOwned>(bytes: &[u8]) -> Result<(), ApiError> {
    parse_body::<T>(bytes).map(drop)
}
