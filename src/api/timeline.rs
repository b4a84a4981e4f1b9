//! `/v1/streams…`: what the web UI needs that KVS has no operation for — a per-stream summary
//! (live or offline, codec, resolution, bitrate, storage used) and the recorded coverage of a
//! time range with its gaps, for the archive timeline. A vidstream extension: REST under `/v1`
//! like `/v1/cameras`, camelCase JSON, KVS-shaped errors.
//!
//! | method | path | does |
//! |---|---|---|
//! | GET | `/v1/streams` | `{"streams": [summary…]}` for every stream, by name |
//! | GET | `/v1/streams/{name}` | one stream's summary |
//! | GET | `/v1/streams/{name}/coverage?start=MS&end=MS[&minGapMs=MS][&timestamp=producer\|server]` | recorded spans |
//!
//! What the summary and the coverage hold, and what they cost, is
//! [`crate::playback::timeline`]'s; this module parses the query, calls it and renders the JSON.

use std::collections::HashMap;

use axum::extract::{Path, State};

use super::params::QueryMap;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use crate::media;
use crate::model::{StreamName, StreamRecord};
use crate::playback::fmp4;
use crate::playback::timeline;
use crate::store::StreamRef;
use crate::store::index::TimestampKind;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/streams", get(list))
        .route("/v1/streams/{name}", get(one))
        .route("/v1/streams/{name}/coverage", get(coverage))
}

/// One track as the UI shows it.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TrackView {
    /// `video` or `audio` (or `other`).
    pub kind: &'static str,
    /// Human name: H.264, H.265, AAC, or the MKV codec id.
    pub codec: String,
    /// RFC 6381 codecs string when known (`avc1.64001f`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codecs: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<u16>,
}

/// The newest fragment.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LastFragment {
    pub fragment_number: String,
    pub producer_ms: i64,
    pub server_ms: i64,
    pub duration_ms: i64,
}

/// A stream as the UI's list shows it.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct StreamSummary {
    pub stream_name: String,
    pub stream_arn: String,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub data_retention_in_hours: u32,
    pub creation_time_ms: i64,
    /// A fragment ended within [`timeline::LIVE_WITHIN_MS`].
    pub live: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_fragment: Option<LastFragment>,
    /// Tracks of the newest fragment.
    pub tracks: Vec<TrackView>,
    /// Average over the newest fragments, bits per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bitrate_bps: Option<u64>,
    /// Bytes of stored fragments.
    pub storage_bytes: u64,
}

async fn list(State(st): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = st.store.list_streams(None, after.as_deref(), 1000).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.name.to_string());
        let n = page.len();
        for s in page {
            out.push(summary(&st, s).await?);
        }
        if n < 1000 {
            break;
        }
    }
    Ok(Json(serde_json::json!({ "streams": out })))
}

fn stream_ref(name: &str) -> Result<StreamRef, ApiError> {
    let name = StreamName::parse(name)
        .map_err(|e| ApiError::invalid(format!("stream name `{name}`: {e}")))?;
    Ok(StreamRef::Name(name))
}

async fn one(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<StreamSummary>, ApiError> {
    let s = st.store.describe(&stream_ref(&name)?).await?;
    Ok(Json(summary(&st, s).await?))
}

async fn summary(st: &AppState, s: StreamRecord) -> Result<StreamSummary, ApiError> {
    let sum = timeline::summary(&st.media, &s).await?;
    Ok(StreamSummary {
        stream_name: s.name.to_string(),
        stream_arn: s.arn.clone(),
        status: s.status.as_str(),
        media_type: s.media_type.as_ref().map(|m| m.to_string()),
        data_retention_in_hours: s.data_retention_hours,
        creation_time_ms: s.creation_time.0,
        live: sum.live,
        last_fragment: sum.last.map(|f| LastFragment {
            fragment_number: f.number.to_string(),
            producer_ms: f.producer_ms,
            server_ms: f.server_ms,
            duration_ms: f.duration_ms,
        }),
        tracks: sum.tracks.iter().map(track_view).collect(),
        bitrate_bps: sum.bitrate_bps,
        storage_bytes: sum.storage_bytes,
    })
}

fn track_view(t: &media::MediaTrack) -> TrackView {
    let kind = if t.video.is_some() {
        "video"
    } else if t.audio.is_some() {
        "audio"
    } else {
        "other"
    };
    TrackView {
        kind,
        codec: t.codec.name().to_owned(),
        codecs: fmp4::codec_string(t),
        width: t.video.map(|v| v.0),
        height: t.video.map(|v| v.1),
        sample_rate: t.audio.map(|a| a.0),
        channels: t.audio.map(|a| a.1),
    }
}

/// The coverage request's query string.
#[derive(Debug, PartialEq)]
pub(super) struct CoverageQuery {
    start: i64,
    end: i64,
    min_gap_ms: i64,
    kind: TimestampKind,
}

impl CoverageQuery {
    pub(super) fn parse(q: &HashMap<String, String>) -> Result<Self, ApiError> {
        if let Some(k) = q
            .keys()
            .find(|k| !["start", "end", "minGapMs", "timestamp"].contains(&k.as_str()))
        {
            return Err(ApiError::invalid(format!(
                "unknown parameter `{k}`: expected start, end, minGapMs, timestamp"
            )));
        }
        let int = |key: &str| -> Result<Option<i64>, ApiError> {
            q.get(key)
                .map(|v| {
                    v.parse::<i64>().map_err(|_| {
                        ApiError::invalid(format!("`{key}` must be an integer, not `{v}`"))
                    })
                })
                .transpose()
        };
        let start =
            int("start")?.ok_or_else(|| ApiError::invalid("`start` (epoch ms) is required"))?;
        let end = int("end")?.ok_or_else(|| ApiError::invalid("`end` (epoch ms) is required"))?;
        if end < start {
            return Err(ApiError::invalid("`end` must not be before `start`"));
        }
        let min_gap_ms = int("minGapMs")?.unwrap_or(0);
        if !(0..=86_400_000).contains(&min_gap_ms) {
            return Err(ApiError::invalid("`minGapMs` must be within 0..=86400000"));
        }
        let kind = match q.get("timestamp").map(String::as_str) {
            None | Some("producer") => TimestampKind::Producer,
            Some("server") => TimestampKind::Server,
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "`timestamp` is `{other}`: expected producer or server"
                )));
            }
        };
        Ok(CoverageQuery {
            start,
            end,
            min_gap_ms,
            kind,
        })
    }
}

async fn coverage(
    State(st): State<AppState>,
    Path(name): Path<String>,
    QueryMap(q): QueryMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = CoverageQuery::parse(&q)?;
    let s = st.store.resolve(&stream_ref(&name)?).await?;
    let cov = timeline::coverage(&st.media, s.id, q.kind, (q.start, q.end), q.min_gap_ms).await?;
    Ok(Json(serde_json::json!({
        "streamName": s.name.to_string(),
        "start": q.start,
        "end": q.end,
        "minGapMs": q.min_gap_ms,
        "spans": cov.spans,
        "truncated": cov.truncated,
    })))
}
