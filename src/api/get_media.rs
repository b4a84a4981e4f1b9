//! GetMedia (`POST /getMedia`, botocore `kinesis-video-media`): parse the start selector, then
//! stream `crate::playback::get_media`.
//!
//! Selectors: NOW — the fragment being written (from its first frame) or the next one;
//! EARLIEST — the oldest stored fragment; FRAGMENT_NUMBER — starting *with* that fragment
//! (AWS's documentation says both "after" and "from"; we start with it, and CONTINUATION_TOKEN
//! gives "after"); SERVER_TIMESTAMP / PRODUCER_TIMESTAMP — the fragment containing the time (the
//! tie rule of [`crate::media`]: equal starts, the highest number), or the first one after it; CONTINUATION_TOKEN — right after the fragment it names.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::Value;

use super::AppState;
use super::error::ApiError;
use super::json::{self, KvsJson};
use super::params::stream_ref;
use crate::error::ErrorKind;
use crate::model::StreamRecord;
use crate::playback::get_media::{GetMedia, Start};
use crate::store::fragment::FragmentNumber;
use crate::store::index::TimestampKind;

pub fn routes() -> Router<AppState> {
    Router::new().route("/getMedia", post(get_media))
}

/// The JSON bodies this module's operations read, for [`super::fuzz`].
pub(super) const BODIES: [(&str, super::fuzz::BodyCheck); 1] =
    [("POST /getMedia", json::parse_only::<GetMediaInput>)];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StartSelector {
    start_selector_type: String,
    after_fragment_number: Option<String>,
    start_timestamp: Option<Value>,
    continuation_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetMediaInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    start_selector: StartSelector,
}

fn number_of(
    stream: &StreamRecord,
    field: &str,
    s: Option<&str>,
) -> Result<FragmentNumber, ApiError> {
    let s = s.ok_or_else(|| {
        ApiError::invalid(format!("{field} is required for this StartSelectorType"))
    })?;
    if s.is_empty()
        || s.len() > 128
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_alphabetic() || b"_.-".contains(&b))
    {
        return Err(ApiError::invalid(format!(
            "{field} `{}` is invalid",
            s.chars().take(130).collect::<String>()
        )));
    }
    match FragmentNumber::parse(s) {
        Some(n) if n.stream == stream.id => Ok(n),
        _ => Err(ApiError::new(
            ErrorKind::ResourceNotFound,
            format!(
                "{field} `{s}` does not name a fragment of stream `{}`",
                stream.name
            ),
        )),
    }
}

async fn resolve_start(
    st: &AppState,
    stream: &StreamRecord,
    sel: &StartSelector,
) -> Result<Start, ApiError> {
    Ok(match sel.start_selector_type.as_str() {
        "NOW" => Start::Now,
        "EARLIEST" => Start::AtSeq(i64::MIN),
        "FRAGMENT_NUMBER" => {
            let n = number_of(
                stream,
                "AfterFragmentNumber",
                sel.after_fragment_number.as_deref(),
            )?;
            let exists = st.media.record(n).await.is_ok() || st.media.live_fragment(n).is_some();
            if !exists {
                return Err(ApiError::new(
                    ErrorKind::ResourceNotFound,
                    format!(
                        "fragment {n} not found in stream `{}` (expired, or never stored)",
                        stream.name
                    ),
                ));
            }
            Start::AtSeq(n.seq)
        }
        "CONTINUATION_TOKEN" => {
            let n = number_of(
                stream,
                "ContinuationToken",
                sel.continuation_token.as_deref(),
            )?;
            Start::AfterSeq(n.seq)
        }
        t @ ("SERVER_TIMESTAMP" | "PRODUCER_TIMESTAMP") => {
            let kind = if t == "SERVER_TIMESTAMP" {
                TimestampKind::Server
            } else {
                TimestampKind::Producer
            };
            let v = sel.start_timestamp.as_ref().ok_or_else(|| {
                ApiError::invalid("StartTimestamp is required for this StartSelectorType")
            })?;
            let secs = v
                .as_f64()
                .filter(|s| s.is_finite() && s.abs() < 1e13)
                .ok_or_else(|| ApiError::invalid("StartTimestamp must be epoch seconds"))?;
            let at = (secs * 1000.0).round() as i64;
            // The fragment holding `at` (the tie rule of `crate::media`), else the first one
            // starting after it.
            let media = &st.media;
            match media.at(stream.id, kind, at).await? {
                Some(f) => Start::AtSeq(f.number.seq),
                None => match media.first_starting_from(stream.id, kind, at).await? {
                    Some(f) => Start::AtSeq(f.number.seq),
                    // Nothing stored from then on: whatever arrives next.
                    None => match st.store.last_fragment(stream.id).await? {
                        Some(last) => Start::AfterSeq(last.number.seq),
                        None => Start::AtSeq(i64::MIN),
                    },
                },
            }
        }
        other => {
            return Err(ApiError::invalid(format!(
                "StartSelectorType `{other}` is invalid: use NOW, EARLIEST, FRAGMENT_NUMBER, SERVER_TIMESTAMP, PRODUCER_TIMESTAMP or CONTINUATION_TOKEN"
            )));
        }
    })
}

async fn get_media(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<GetMediaInput>,
) -> Result<Response, ApiError> {
    let r = stream_ref(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    let stream = st.store.resolve(&r).await?;
    let start = resolve_start(&st, &stream, &input.start_selector).await?;
    // The slot is held by the body: given back when the response ends or the client goes.
    let slot = st
        .readers
        .open(stream.id, crate::limits::ReaderKind::GetMedia)
        .map_err(|cap| {
            ApiError::new(
                ErrorKind::ConnectionLimitExceeded,
                format!(
                    "stream `{}` has {cap} GetMedia connections open, its limit ([limits] get_media_connections_per_stream)",
                    stream.name
                ),
            )
        })?;
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let session = GetMedia::new(st.media.clone(), stream.id, tx);
    tokio::spawn(tracing::Instrument::instrument(
        session.run(start),
        tracing::info_span!("get_media", stream = %stream.name),
    ));
    let body = futures_util::stream::poll_fn(move |cx| {
        let _held = &slot;
        rx.poll_recv(cx)
    });
    let mut resp = Body::from_stream(body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("video/webm"));
    Ok(resp)
}
