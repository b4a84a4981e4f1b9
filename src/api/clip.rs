//! GetClip (botocore `kinesis-video-archived-media` 2017-09-30, `POST /getClip`): a progressive
//! MP4 (moov first) of a time range of a stream, streamed as it is read.
//!
//! # What a clip holds
//! - **Fragments**: those overlapping `[StartTimestamp, EndTimestamp)` in the selector's clock
//!   (producer or server timestamps, as ListFragments reports them): the fragment containing the
//!   start (the last one starting at or before it, if it lasts past it) and every fragment
//!   starting after the start and before the end. Fragments with the same start timestamp are
//!   deduplicated (the highest fragment number wins, as KVS does); a fragment whose media starts
//!   before the previous one's last frame (a producer that restarted with overlapping
//!   timestamps) is left out.
//! - **Times**: the clip starts exactly at `StartTimestamp`, even between keyframes (the media
//!   starts at the preceding keyframe; the edit list hides the lead-in, see
//!   [`crate::playback::fmp4::plan_clip`]), or at the first fragment when the range starts
//!   before any media; it ends at `EndTimestamp`. Stored media is timed by producer
//!   timestamps; a SERVER_TIMESTAMP range is moved to producer time with the offset
//!   (producer − server timestamp) of the first fragment for the start and of the last one for
//!   the end.
//! - **Codec changes**: the clip keeps the track header of its first fragment. When a later
//!   fragment in the range has other tracks (a producer restarted with new codec settings),
//!   the clip ends where that fragment starts and the server logs it. (The start is never
//!   ambiguous: after deduplication one fragment contains it, and its tracks are the clip's.)
//! - **Limits** (`[playback]`): at most `clip_max_fragments` fragments and `clip_max_bytes`
//!   bytes of media (KVS: 200 fragments, 100 MB), else `InvalidArgumentException`.
//! - **Errors** in the KVS shape: `ResourceNotFoundException` for an unknown stream or a range
//!   without fragments, `NoDataRetentionException` for a stream that keeps no media,
//!   `UnsupportedStreamMediaTypeException` for a stream without H.264/H.265 video.
//!
//! # How it is sent
//! The clip is planned from the fragments' frame tables (each fragment is read once, one at a
//! time, and only its sample metadata kept), so the head (ftyp + moov + mdat header) and the
//! `Content-Length` are known before the first byte goes out. Then a task reads the fragments
//! again, one at a time, and sends the planned payloads of each. The segments stay held
//! ([`crate::store::Store::hold_segments`]) from the index query until the last byte is out, so
//! retention cannot delete them mid-clip. The whole clip is never in memory: at most one
//! fragment and a few chunks in the channel.

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::{Bytes, BytesMut};
use serde::Deserialize;

use super::AppState;
use super::archived::{FragmentSelector, selector_range};
use super::error::ApiError;
use super::json::KvsJson;
use super::params::stream_ref;
use crate::error::ErrorKind;
use crate::media::{self, Codec, MediaTrack};
use crate::playback::fmp4::{ClipLayout, ClipSample, Fmp4Error, plan_clip};
use crate::store::SegmentHold;
use crate::store::fragment::{FragmentRecord, TrackHeader};
use crate::store::index::TimestampKind;

/// KVS's message for an empty range.
const NO_FRAGMENTS: &str = "No fragments found in the given time range";

pub fn routes() -> Router<AppState> {
    Router::new().route("/getClip", post(get_clip))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetClipInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    clip_fragment_selector: Option<FragmentSelector>,
}

/// Where one planned sample's payload is: (index into the clip's fragments, offset in the
/// cluster, length).
type Source = (usize, u32, u32);

/// A planned clip: what to send, and where each planned sample's bytes are.
struct Plan {
    layout: ClipLayout,
    fragments: Vec<FragmentRecord>,
    sources: Vec<Source>,
}

async fn get_clip(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<GetClipInput>,
) -> Result<Response, ApiError> {
    let r = stream_ref(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
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
    let stream = st.store.resolve(&r).await?;
    if stream.data_retention_hours == 0 {
        return Err(ApiError::new(
            ErrorKind::NoDataRetention,
            format!(
                "stream `{}` keeps no media (DataRetentionInHours is 0); raise its retention with UpdateDataRetention to make clips",
                stream.name
            ),
        ));
    }
    let started = std::time::Instant::now();
    let (records, hold) = overlapping(&st, stream.id, kind, start, end).await?;
    let max = st.playback.clip_max_fragments;
    if records.len() > max {
        return Err(ApiError::invalid(format!(
            "the clip would span more than {max} fragments, the limit ([playback] clip_max_fragments); ask for a shorter TimestampRange"
        )));
    }
    let plan = plan(&st, stream.name.as_str(), records, kind, start, end).await?;
    let max_bytes = st.playback.clip_max_bytes;
    if plan.layout.mdat_len > max_bytes {
        return Err(ApiError::invalid(format!(
            "the clip would hold {} bytes of media, more than the limit of {max_bytes} bytes ([playback] clip_max_bytes); ask for a shorter TimestampRange",
            plan.layout.mdat_len
        )));
    }
    tracing::info!(
        stream = %stream.name,
        fragments = plan.fragments.len(),
        samples = plan.layout.samples.len(),
        bytes = plan.layout.len(),
        duration_ms = plan.layout.duration_ms,
        plan_ms = started.elapsed().as_millis() as u64,
        "clip planned"
    );
    let len = plan.layout.len();
    let mut resp = Body::from_stream(send_clip(st, plan, hold)).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    Ok(resp)
}

/// The fragments overlapping `[start, end)` by `kind`, in media order (see the module doc),
/// and a hold on their segments taken right after the index queries.
async fn overlapping(
    st: &AppState,
    stream: crate::model::StreamId,
    kind: TimestampKind,
    start: i64,
    end: i64,
) -> Result<(Vec<FragmentRecord>, SegmentHold), ApiError> {
    // A fragment starting at `end` has nothing before it: the range asked of the index is
    // inclusive, so it stops 1 ms short. Past the limit the listing stops: enough to refuse.
    let limit = st.playback.clip_max_fragments;
    let rows = st
        .media
        .timeline(stream, kind, start, end - 1, Some(limit))
        .await?;
    let hold = st.store.hold_segments(&rows);
    let rows = media::from_time(rows, kind, start);
    if rows.is_empty() {
        return Err(ApiError::new(ErrorKind::ResourceNotFound, NO_FRAGMENTS));
    }
    Ok((rows, hold))
}

/// Reads each fragment's frame table and plans the clip over `records`, cut at the first
/// change of tracks.
async fn plan(
    st: &AppState,
    stream: &str,
    mut records: Vec<FragmentRecord>,
    kind: TimestampKind,
    start: i64,
    end: i64,
) -> Result<Plan, ApiError> {
    let first = records[0];
    let header = st.store.track_header(first.track_header_id).await?.header;
    let tracks = media::tracks(&header).map_err(|e| {
        ApiError::new(
            ErrorKind::Internal,
            format!("fragment {}: {e}", first.number),
        )
    })?;
    check_video(stream, &tracks)?;

    // Producer-time range (stored media is timed by producer timestamps).
    let offset = |f: &FragmentRecord| match kind {
        TimestampKind::Producer => 0,
        TimestampKind::Server => f.producer_ms - f.server_ms,
    };
    let mut clip_start = start + offset(&first);
    let last = records[records.len() - 1];
    let mut clip_end = end + offset(&last);
    // A range starting before any media starts with the media.
    clip_start = clip_start.max(first.producer_ms.min(clip_end - 1));

    // Cut at the first fragment with other tracks.
    let mut same: HashMap<i64, bool> = HashMap::from([(first.track_header_id, true)]);
    let mut cut = None;
    for (i, f) in records.iter().enumerate().skip(1) {
        let is_same = match same.get(&f.track_header_id) {
            Some(&s) => s,
            None => {
                let other = st.store.track_header(f.track_header_id).await?.header;
                let s = same_tracks(&header, &other);
                same.insert(f.track_header_id, s);
                s
            }
        };
        if !is_same {
            cut = Some(i);
            break;
        }
    }
    if let Some(i) = cut {
        let changed = records[i];
        tracing::info!(
            stream,
            fragment = %changed.number,
            producer_ms = changed.producer_ms,
            "clip ends early: the tracks (codec settings) change in this fragment"
        );
        clip_end = clip_end.min(changed.producer_ms);
        records.truncate(i);
    }
    if clip_end <= clip_start {
        return Err(ApiError::new(ErrorKind::ResourceNotFound, NO_FRAGMENTS));
    }

    // Sample metadata of every fragment, read one at a time.
    let mut samples: Vec<ClipSample> = Vec::new();
    let mut sources: Vec<Source> = Vec::new();
    let mut kept: Vec<FragmentRecord> = Vec::with_capacity(records.len());
    let mut last_pts: Option<i64> = None;
    for rec in &records {
        let (cluster, trailer) = st.store.read_fragment(rec).await?;
        let got = media::samples(&tracks, &cluster, &trailer).map_err(|e| {
            ApiError::new(
                ErrorKind::Internal,
                format!("stored fragment {} is damaged: {e}", rec.number),
            )
        })?;
        let Some(min_pts) = got.iter().map(|s| s.pts_ms).min() else {
            continue;
        };
        if last_pts.is_some_and(|l| min_pts <= l) {
            tracing::debug!(fragment = %rec.number, "clip skips a fragment that overlaps the previous one");
            continue;
        }
        last_pts = got.iter().map(|s| s.pts_ms).max();
        let k = kept.len();
        kept.push(*rec);
        for (s, f) in got.iter().zip(&trailer.frames) {
            samples.push(ClipSample {
                track: s.track,
                pts_ms: s.pts_ms,
                dts_ms: s.dts_ms,
                duration_ms: s.duration_ms,
                key: s.key,
                size: f.len,
            });
            sources.push((k, f.offset, f.len));
        }
    }
    let layout = plan_clip(&tracks, &samples, clip_start, clip_end).map_err(|e| match e {
        Fmp4Error::NoSamples => ApiError::new(ErrorKind::ResourceNotFound, NO_FRAGMENTS),
        Fmp4Error::UnsupportedCodec(_) => {
            ApiError::new(ErrorKind::UnsupportedStreamMediaType, e.to_string())
        }
        e => ApiError::new(e.kind(), e.to_string()),
    })?;
    Ok(Plan {
        layout,
        fragments: kept,
        sources,
    })
}

/// GetClip needs H.264 or H.265 video (KVS: `UnsupportedStreamMediaTypeException` otherwise).
fn check_video(stream: &str, tracks: &[MediaTrack]) -> Result<(), ApiError> {
    if tracks
        .iter()
        .any(|t| matches!(t.codec, Codec::H264 { .. } | Codec::H265 { .. }))
    {
        return Ok(());
    }
    let codecs: Vec<&str> = tracks.iter().map(|t| t.codec.name()).collect();
    Err(ApiError::new(
        ErrorKind::UnsupportedStreamMediaType,
        format!(
            "stream `{stream}` has no h.264 or h.265 video track (codecs: {}); GetClip makes mp4 clips of h.264/h.265 video with optional aac audio",
            codecs.join(", ")
        ),
    ))
}

/// Whether two track headers describe the same tracks (ids differ when a producer restarts
/// even with unchanged settings).
fn same_tracks(a: &TrackHeader, b: &TrackHeader) -> bool {
    if a == b {
        return true;
    }
    match (media::tracks(a), media::tracks(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// The response body: the planned head, then per fragment (read again, one at a time) the
/// planned payloads. A read failure or a fragment that no longer matches its plan ends the body
/// early (the status line and `Content-Length` are out; the client sees a short body) and is
/// logged. `hold` keeps the segments until the last fragment is read.
fn send_clip(
    st: AppState,
    plan: Plan,
    hold: SegmentHold,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        let _hold = hold;
        let Plan {
            layout,
            fragments,
            sources,
        } = plan;
        if tx.send(Ok(layout.head.clone())).await.is_err() {
            return;
        }
        let fail = |msg: String| {
            tracing::error!(error = %msg, "clip cut short");
            Err(std::io::Error::other(msg))
        };
        let mut i = 0;
        while i < layout.samples.len() {
            let Some(&(k, _, _)) = sources.get(layout.samples[i]) else {
                let _ = tx.send(fail("clip plan out of range".into())).await;
                return;
            };
            let rec = fragments[k];
            let cluster = match st.store.read_fragment(&rec).await {
                Ok((cluster, _)) => cluster,
                Err(e) => {
                    let _ = tx.send(fail(format!("fragment {}: {e}", rec.number))).await;
                    return;
                }
            };
            let mut buf = BytesMut::new();
            while let Some(&(fk, offset, len)) = layout.samples.get(i).and_then(|&s| sources.get(s))
            {
                if fk != k {
                    break;
                }
                let range = offset as usize..offset as usize + len as usize;
                let Some(payload) = cluster.get(range) else {
                    let msg = format!("fragment {} changed since the clip was planned", rec.number);
                    let _ = tx.send(fail(msg)).await;
                    return;
                };
                buf.extend_from_slice(payload);
                i += 1;
            }
            if tx.send(Ok(buf.freeze())).await.is_err() {
                return; // the client went away
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) })
}
