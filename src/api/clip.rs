//! GetClip's wire (botocore `kinesis-video-archived-media` 2017-09-30, `POST /getClip`): the
//! JSON request parsed once, the clip made by [`crate::playback::clip`] (what a clip holds, its
//! limits and errors are documented there), the MP4 sent as it is read.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;

use super::AppState;
use super::archived::{FragmentSelector, selector_range};
use super::error::ApiError;
use super::json::{self, KvsJson};
use super::params::stream_ref;
use crate::playback::clip::{self, ClipLimits, ClipRange};
use crate::store::StreamRef;

pub fn routes() -> Router<AppState> {
    Router::new().route("/getClip", post(get_clip))
}

/// The JSON bodies this module's operations read, for [`super::fuzz`].
pub(super) const BODIES: [(&str, super::fuzz::BodyCheck); 1] = [("POST /getClip", |b| {
    ClipRequest::parse(&json::parse_body(b)?).map(drop)
})];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetClipInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    clip_fragment_selector: Option<FragmentSelector>,
}

/// A GetClip request, checked.
struct ClipRequest {
    stream: StreamRef,
    range: ClipRange,
}

impl ClipRequest {
    fn parse(input: &GetClipInput) -> Result<ClipRequest, ApiError> {
        let stream = stream_ref(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
        let selector = input.clip_fragment_selector.as_ref().ok_or_else(|| {
            ApiError::invalid(
                "ClipFragmentSelector is required: give FragmentSelectorType and TimestampRange",
            )
        })?;
        let Some((kind, start, end)) = selector_range(selector)? else {
            return Err(ApiError::invalid(
                "ClipFragmentSelector needs a TimestampRange",
            ));
        };
        if end <= start {
            return Err(ApiError::invalid(
                "EndTimestamp must be after StartTimestamp in ClipFragmentSelector.TimestampRange",
            ));
        }
        let range = ClipRange { kind, start, end };
        Ok(ClipRequest { stream, range })
    }
}

async fn get_clip(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<GetClipInput>,
) -> Result<Response, ApiError> {
    let req = ClipRequest::parse(&input)?;
    let stream = st.store.resolve(&req.stream).await?;
    let limits = ClipLimits::from(st.playback.as_ref());
    let clip = clip::plan(&st.media, limits, &stream, req.range).await?;
    let len = clip.len();
    let mut resp = Body::from_stream(clip.into_body(st.media.clone())).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    Ok(resp)
}
