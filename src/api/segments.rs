//! The media a streaming session's playlists point at: fMP4 init segments, fMP4 media segments
//! (whole fragments or LL-HLS parts) and MPEG-TS segments, built on request from the stored
//! fragment (its cluster bytes are sent as they were read: no re-encode, no copy to disk).
//!
//! Decode times are relative to the session's `base_ms`, so every segment of a session shares
//! one timeline whichever node builds it.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::AppState;
use super::error::ApiError;
use super::sessions;
use crate::error::ErrorKind;
use crate::playback::media::{self, MediaTrack, Sample};
use crate::playback::session::{Protocol, Session};
use crate::playback::{fmp4, ts};
use crate::store::fragment::FragmentRecord;

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorKind::Internal, e.to_string())
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

/// `TrackNumber=N` (DASH: one track per segment): only that track.
fn track_filter(
    tracks: Vec<MediaTrack>,
    q: &HashMap<String, String>,
) -> Result<Vec<MediaTrack>, ApiError> {
    let Some(n) = q.get("TrackNumber") else {
        return Ok(tracks);
    };
    let n: u64 = n
        .parse()
        .map_err(|_| ApiError::invalid(format!("TrackNumber `{n}` is not a number")))?;
    let kept: Vec<MediaTrack> = tracks.into_iter().filter(|t| t.number == n).collect();
    if kept.is_empty() {
        return Err(ApiError::new(
            ErrorKind::ResourceNotFound,
            format!("the fragment has no track {n}"),
        ));
    }
    Ok(kept)
}

/// The tracks a fragment was made under.
pub(super) async fn tracks_of(st: &AppState, id: i64) -> Result<Vec<MediaTrack>, ApiError> {
    let header = st.store.track_header(id).await?;
    media::tracks(&header.header).map_err(internal)
}

/// A stored fragment's samples on the session's timeline.
pub(super) async fn samples_of(
    st: &AppState,
    s: &Session,
    rec: &FragmentRecord,
    tracks: &[MediaTrack],
) -> Result<Vec<Sample>, ApiError> {
    let _hold = st.store.hold_segments(std::slice::from_ref(rec));
    let (cluster, trailer) = st.store.read_fragment(rec).await?;
    let mut samples = media::samples(tracks, &cluster, &trailer).map_err(internal)?;
    rebase(&mut samples, s.base_ms);
    Ok(samples)
}

/// Moves samples onto a session timeline starting at `base_ms`.
pub(super) fn rebase(samples: &mut [Sample], base_ms: i64) {
    for x in samples {
        x.pts_ms -= base_ms;
        x.dts_ms -= base_ms;
    }
}

/// The LL-HLS part each sample belongs to: by presentation time from the fragment start in
/// `part_ms` steps, never decreasing in decode order (so a part is fixed by the frames before
/// it, and is the same whether built from the live bus or from the store).
pub fn part_indices(samples: &[Sample], fragment_start_ms: i64, part_ms: i64) -> Vec<u32> {
    let part_ms = part_ms.max(1);
    let mut current = 0u32;
    samples
        .iter()
        .map(|x| {
            let k = ((x.pts_ms - fragment_start_ms).max(0) / part_ms).min(i64::from(u32::MAX));
            current = current.max(k as u32);
            current
        })
        .collect()
}

pub(super) fn media_response(parts: Vec<Bytes>, content_type: &'static str) -> Response {
    let len: u64 = parts.iter().map(|p| p.len() as u64).sum();
    let stream = futures_util::stream::iter(parts.into_iter().map(Ok::<_, std::io::Error>));
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    // A fragment never changes once stored.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    resp
}

async fn init_for(
    st: AppState,
    q: HashMap<String, String>,
    protocol: Protocol,
) -> Result<Response, ApiError> {
    let s = sessions::open(&st, &q, protocol)?;
    let tracks = match sessions::fragment(&st, &s, &q).await {
        Ok(rec) => tracks_of(&st, rec.track_header_id).await?,
        // LL-HLS: the tracks of a fragment still being written come from the live bus.
        Err(e) if e.kind == ErrorKind::ResourceNotFound => {
            let number = q.get("FragmentNumber").cloned().unwrap_or_default();
            let sub = st.live.subscribe(crate::model::StreamId(s.stream));
            let b = sub
                .snapshot
                .iter()
                .find(|b| b.start.number.to_string() == number)
                .ok_or(e)?;
            media::tracks(&crate::store::fragment::TrackHeader {
                timecode_scale: 1_000_000,
                tracks: b.start.tracks.clone(),
            })
            .map_err(internal)?
        }
        Err(e) => return Err(e),
    };
    let tracks = track_filter(tracks, &q)?;
    Ok(media_response(
        vec![fmp4::init_segment(&tracks)?],
        "video/mp4",
    ))
}

/// `getMP4InitFragment.mp4` (HLS).
pub(super) async fn init(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    init_for(st, q, Protocol::Hls).await
}

/// `getMP4InitFragment.mp4` (DASH).
pub(super) async fn dash_init(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    init_for(st, q, Protocol::Dash).await
}

fn part_param(q: &HashMap<String, String>) -> Result<Option<u32>, ApiError> {
    q.get("Part")
        .map(|p| {
            p.parse::<u32>()
                .map_err(|_| ApiError::invalid(format!("Part `{p}` is not a part number")))
        })
        .transpose()
}

async fn media_for(
    st: AppState,
    q: HashMap<String, String>,
    protocol: Protocol,
) -> Result<Response, ApiError> {
    let s = sessions::open(&st, &q, protocol)?;
    let part = part_param(&q)?;
    let rec = match sessions::fragment(&st, &s, &q).await {
        Ok(rec) => rec,
        // A part of a fragment still being written is served from the live bus.
        Err(e) if part.is_some() && e.kind == ErrorKind::ResourceNotFound => {
            return super::low_latency::live_part(&st, &s, &q).await;
        }
        Err(e) => return Err(e),
    };
    let only = q.contains_key("TrackNumber").then_some(&q);
    stored_media(&st, &s, &rec, part, only).await
}

/// A stored fragment as one fMP4 media segment, or only its LL-HLS part `part`.
pub(super) async fn stored_media(
    st: &AppState,
    s: &Session,
    rec: &FragmentRecord,
    part: Option<u32>,
    track: Option<&HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let mut tracks = tracks_of(st, rec.track_header_id).await?;
    if let Some(q) = track {
        tracks = track_filter(tracks, q)?;
    }
    let mut samples = samples_of(st, s, rec, &tracks).await?;
    if let Some(k) = part {
        let start = rec.producer_ms - s.base_ms;
        let parts = part_indices(
            &samples,
            start,
            st.playback.ll_hls_part_target_ms.max(50) as i64,
        );
        let mut it = parts.iter();
        samples.retain(|_| it.next() == Some(&k));
        if samples.is_empty() {
            return Err(ApiError::new(
                ErrorKind::ResourceNotFound,
                format!("fragment {} has no part {k}", rec.number),
            ));
        }
    }
    let seg = fmp4::media_segment(&tracks, &samples, rec.number.seq as u32)?;
    Ok(media_response(seg.parts, "video/mp4"))
}

/// `getMP4MediaFragment.mp4` (HLS), whole or `&Part=K`.
pub(super) async fn hls_media(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    media_for(st, q, Protocol::Hls).await
}

/// `getMP4MediaFragment.mp4` (DASH).
pub(super) async fn dash_media(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    media_for(st, q, Protocol::Dash).await
}

/// `getTSFragment.ts`.
pub(super) async fn ts(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let s = sessions::open(&st, &q, Protocol::Hls)?;
    let rec = sessions::fragment(&st, &s, &q).await?;
    let tracks = tracks_of(&st, rec.track_header_id).await?;
    let samples = samples_of(&st, &s, &rec, &tracks).await?;
    let mut cc = ts::Continuity::default();
    let bytes = ts::segment(&tracks, &samples, &mut cc)?;
    Ok(media_response(vec![bytes], "video/mp2t"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(pts: i64) -> Sample {
        Sample {
            track: 1,
            pts_ms: pts,
            dts_ms: pts,
            duration_ms: 33,
            key: pts == 0,
            data: Bytes::new(),
        }
    }

    #[test]
    fn parts_follow_presentation_time_and_never_go_back() {
        let s: Vec<Sample> = [0, 33, 66, 100, 133, 166, 200, 233, 266, 300, 333, 366]
            .into_iter()
            .map(sample)
            .collect();
        assert_eq!(
            part_indices(&s, 0, 200),
            [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
        );
        // A B-frame shown earlier than its predecessor stays in the later part.
        let s: Vec<Sample> = [0, 250, 100, 150].into_iter().map(sample).collect();
        assert_eq!(part_indices(&s, 0, 200), [0, 1, 1, 1]);
    }
}
