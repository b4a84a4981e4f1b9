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
//! # Cost
//! The summary reads the stream's newest [`BITRATE_WINDOW`] index rows and one track header.
//! Coverage pages through the index rows of the range ([`PAGE`] per query) and merges them into
//! spans as it goes, so memory is bounded by the number of spans, not fragments; a range with
//! more than [`MAX_SCANNED`] fragments is cut there (`truncated: true`, the UI asks for the
//! rest or zooms in). Spans closer than `minGapMs` merge, so a timeline asks for gaps no
//! narrower than a pixel.

use std::collections::HashMap;

use axum::extract::{Path, State};

use super::params::QueryMap;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use crate::error::ErrorKind;
use crate::media;
use crate::model::{StreamName, StreamRecord};
use crate::playback::fmp4;
use crate::store::StreamRef;
use crate::store::index::{FragmentQuery, TimestampKind};

/// Newest fragments the bitrate is averaged over.
pub const BITRATE_WINDOW: usize = 10;
/// Index rows per coverage query.
pub const PAGE: usize = 5_000;
/// Most fragments one coverage request reads.
pub const MAX_SCANNED: usize = 1_000_000;
/// A stream whose newest fragment ended longer ago than this (or than two of its fragment
/// durations, if longer) is shown offline.
pub const LIVE_WITHIN_MS: i64 = 10_000;

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
    /// A fragment ended within [`LIVE_WITHIN_MS`].
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
    let recent = st.store.last_fragments(s.id, BITRATE_WINDOW).await?;
    let now = st.store.now().0;
    let last = recent.last().copied();
    let live = last.is_some_and(|f| {
        let end = f.server_ms + f.duration_ms;
        now - end <= LIVE_WITHIN_MS.max(2 * f.duration_ms)
    });
    let tracks = match last {
        Some(f) => {
            let header = st.store.track_header(f.track_header_id).await?;
            media::tracks(&header.header)
                .map(|ts| ts.iter().map(track_view).collect())
                .unwrap_or_default()
        }
        None => Vec::new(),
    };
    let (bytes, ms) = recent.iter().fold((0u64, 0i64), |(b, d), f| {
        (b + u64::from(f.cluster_len), d + f.duration_ms.max(0))
    });
    let bitrate_bps = (ms > 0).then(|| bytes * 8 * 1000 / ms as u64);
    Ok(StreamSummary {
        stream_name: s.name.to_string(),
        stream_arn: s.arn.clone(),
        status: s.status.as_str(),
        media_type: s.media_type.as_ref().map(|m| m.to_string()),
        data_retention_in_hours: s.data_retention_hours,
        creation_time_ms: s.creation_time.0,
        live,
        last_fragment: last.map(|f| LastFragment {
            fragment_number: f.number.to_string(),
            producer_ms: f.producer_ms,
            server_ms: f.server_ms,
            duration_ms: f.duration_ms,
        }),
        tracks,
        bitrate_bps,
        storage_bytes: st.store.stored_bytes(s.id).await?,
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
struct CoverageQuery {
    start: i64,
    end: i64,
    min_gap_ms: i64,
    kind: TimestampKind,
}

impl CoverageQuery {
    fn parse(q: &HashMap<String, String>) -> Result<Self, ApiError> {
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

/// One recorded span: fragments that follow each other with gaps below `minGapMs`.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    /// First fragment's timestamp, epoch ms.
    pub start: i64,
    /// Last fragment's timestamp plus its duration, epoch ms.
    pub end: i64,
    /// Fragments in the span.
    pub fragments: u64,
}

/// Merges fragment intervals, given in any order, into spans: intervals that overlap or are
/// separated by at most `min_gap_ms` join. Memory: the spans, not the fragments.
#[derive(Debug, Default)]
pub struct SpanMerger {
    spans: Vec<Span>,
    min_gap_ms: i64,
}

impl SpanMerger {
    /// A merger that joins gaps of at most `min_gap_ms`.
    pub fn new(min_gap_ms: i64) -> Self {
        SpanMerger {
            spans: Vec::new(),
            min_gap_ms: min_gap_ms.max(0),
        }
    }

    /// Adds the interval `[start, end)`.
    pub fn add(&mut self, start: i64, end: i64) {
        let end = end.max(start);
        if let Some(cur) = self.spans.last_mut()
            && start >= cur.start
            && start <= cur.end.saturating_add(self.min_gap_ms)
        {
            cur.end = cur.end.max(end);
            cur.fragments += 1;
            return;
        }
        self.spans.push(Span {
            start,
            end,
            fragments: 1,
        });
    }

    /// The spans, by start, with out-of-order ones merged in.
    pub fn finish(mut self) -> Vec<Span> {
        self.spans.sort_by_key(|s| s.start);
        let mut out: Vec<Span> = Vec::with_capacity(self.spans.len());
        for s in self.spans {
            match out.last_mut() {
                Some(cur) if s.start <= cur.end.saturating_add(self.min_gap_ms) => {
                    cur.end = cur.end.max(s.end);
                    cur.fragments += s.fragments;
                }
                _ => out.push(s),
            }
        }
        out
    }
}

async fn coverage(
    State(st): State<AppState>,
    Path(name): Path<String>,
    QueryMap(q): QueryMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = CoverageQuery::parse(&q)?;
    let (kind, min_gap_ms) = (q.kind, q.min_gap_ms);
    let s = st.store.resolve(&stream_ref(&name)?).await?;
    let mut merger = SpanMerger::new(min_gap_ms);
    let mut after_seq = None;
    let mut scanned = 0usize;
    let mut truncated = false;
    loop {
        let page = st
            .store
            .list_fragments(FragmentQuery {
                stream: s.id,
                // A fragment that started up to a minute before `start` may still cover it; the
                // index filters by start timestamp, so the timeline asks a little wider.
                range: Some((kind, q.start.saturating_sub(60_000), q.end)),
                after_seq,
                limit: PAGE,
            })
            .await?;
        for f in &page {
            let t = match kind {
                TimestampKind::Producer => f.producer_ms,
                TimestampKind::Server => f.server_ms,
            };
            if t + f.duration_ms >= q.start {
                merger.add(t, t + f.duration_ms);
            }
        }
        scanned += page.len();
        after_seq = page.last().map(|f| f.number.seq);
        if page.len() < PAGE {
            break;
        }
        if scanned >= MAX_SCANNED {
            truncated = true;
            break;
        }
    }
    let spans = merger.finish();
    if spans.len() > 100_000 {
        return Err(ApiError::new(
            ErrorKind::InvalidArgument,
            "the range has more than 100000 spans: ask with a larger minGapMs",
        ));
    }
    Ok(Json(serde_json::json!({
        "streamName": s.name.to_string(),
        "start": q.start,
        "end": q.end,
        "minGapMs": min_gap_ms,
        "spans": spans,
        "truncated": truncated,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_join_small_gaps_and_split_at_large_ones() {
        let mut m = SpanMerger::new(500);
        for i in 0..5 {
            m.add(i * 1000, i * 1000 + 1000);
        }
        // 5 s gap
        m.add(10_000, 11_000);
        m.add(11_400, 12_000); // 400 ms gap: joins
        let spans = m.finish();
        assert_eq!(
            spans,
            vec![
                Span {
                    start: 0,
                    end: 5000,
                    fragments: 5
                },
                Span {
                    start: 10_000,
                    end: 12_000,
                    fragments: 2
                },
            ]
        );
    }

    #[test]
    fn out_of_order_intervals_merge_after_sorting() {
        let mut m = SpanMerger::new(0);
        m.add(5000, 6000);
        m.add(0, 1000);
        m.add(1000, 2000);
        m.add(6000, 7000);
        let spans = m.finish();
        assert_eq!(spans.len(), 2);
        assert_eq!(
            (spans[0].start, spans[0].end, spans[0].fragments),
            (0, 2000, 2)
        );
        assert_eq!(
            (spans[1].start, spans[1].end, spans[1].fragments),
            (5000, 7000, 2)
        );
    }
}
