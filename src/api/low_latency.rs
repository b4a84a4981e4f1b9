//! Low-latency HLS (an extension; KVS has none): partial segments, preload hints and blocking
//! playlist reloads over the live bus.

use std::collections::HashMap;

use axum::response::Response;

use super::AppState;
use super::error::ApiError;
use crate::error::ErrorKind;
use crate::playback::session::Session;

/// The LL-HLS media playlist.
pub(super) async fn playlist(
    _st: &AppState,
    _s: &Session,
    _token: &str,
    _q: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    Err(ApiError::new(
        ErrorKind::NotImplemented,
        "low-latency HLS is not implemented in this vidstream version yet",
    ))
}

/// A part of the fragment being written, from the live bus.
pub(super) async fn live_part(
    _st: &AppState,
    _s: &Session,
    _q: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    Err(ApiError::new(
        ErrorKind::NotImplemented,
        "low-latency HLS parts are not implemented in this vidstream version yet",
    ))
}
