//! MPEG-DASH: GetDASHStreamingSessionURL and the session's sub-resources
//! (`/dash/v1/getDASHManifest.mpd`, `getMP4InitFragment.mp4`, `getMP4MediaFragment.mp4`).
//! Sessions and windows are shared with HLS ([`super::sessions`]); the manifest is written by
//! [`crate::playback::dash`].

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use super::json::KvsJson;
use super::sessions::{self, Common, SelectorInput};
use crate::error::ErrorKind;
use crate::playback::session::Protocol;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/getDASHStreamingSessionURL", post(session_url))
        .route("/dash/v1/getDASHManifest.mpd", get(manifest))
        .route(
            "/dash/v1/getMP4InitFragment.mp4",
            get(super::segments::dash_init),
        )
        .route(
            "/dash/v1/getMP4MediaFragment.mp4",
            get(super::segments::dash_media),
        )
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    playback_mode: Option<String>,
    #[serde(rename = "DASHFragmentSelector")]
    selector: Option<SelectorInput>,
    display_fragment_timestamp: Option<String>,
    display_fragment_number: Option<String>,
    expires: Option<i64>,
    max_manifest_fragment_results: Option<i64>,
}

async fn session_url(
    State(st): State<AppState>,
    KvsJson(i): KvsJson<Input>,
) -> Result<Response, ApiError> {
    let s = sessions::create(
        &st,
        Protocol::Dash,
        Common {
            stream_name: i.stream_name.as_deref(),
            stream_arn: i.stream_arn.as_deref(),
            playback_mode: i.playback_mode.as_deref(),
            selector: i.selector.as_ref(),
            selector_field: "DASHFragmentSelector",
            container: None,
            discontinuity_mode: None,
            display_timestamp: i.display_fragment_timestamp.as_deref(),
            display_number: i.display_fragment_number.as_deref(),
            expires: i.expires,
            max_results: i.max_manifest_fragment_results,
            max_results_field: "MaxManifestFragmentResults",
            low_latency: false,
        },
    )
    .await?;
    let token = st.session_key.seal(&s);
    let url = format!(
        "{}/dash/v1/getDASHManifest.mpd?SessionToken={token}",
        st.public_url.trim_end_matches('/')
    );
    Ok(axum::Json(json!({ "DASHStreamingSessionURL": url })).into_response())
}

async fn manifest(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let _s = sessions::open(&st, &q, Protocol::Dash)?;
    Err(ApiError::new(
        ErrorKind::NotImplemented,
        "the DASH manifest is not implemented in this vidstream version yet",
    ))
}
