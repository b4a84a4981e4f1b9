//! The media a streaming session's playlists point at: fMP4 init segments, fMP4 media segments
//! (whole fragments or LL-HLS parts) and MPEG-TS segments, built from the stored fragment (its
//! cluster bytes are sent as they were read: no re-encode, no copy to disk).
//!
//! Decode times are relative to the session's `base_ms`, so every segment of a session shares
//! one timeline whichever node builds it.
//!
//! Media segments go through the media cache ([`crate::playback::cache`]): the fragment is read
//! and parsed once, each variant (timeline, container, track, part) is built once, and a
//! steady-state request costs the token check, a hash lookup and the socket writes: no index
//! query, no blocking-pool hand-off, no copy of the payloads in user space.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;

use super::params::QueryMap;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::AppState;
use super::error::ApiError;
use super::sessions;
use crate::error::ErrorKind;
use crate::playback::cache::{Fragment, Lookup, Slot, VariantKey};
use crate::playback::media::{self, MediaTrack, Sample};
use crate::playback::session::{Container, Protocol, Session};
use crate::playback::{fmp4, ts};
use crate::store::fragment::FragmentRecord;

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorKind::Internal, e.to_string())
}

/// `TrackNumber=N` (DASH: one track per segment), if given.
fn track_param(q: &HashMap<String, String>) -> Result<Option<u64>, ApiError> {
    q.get("TrackNumber")
        .map(|n| {
            n.parse()
                .map_err(|_| ApiError::invalid(format!("TrackNumber `{n}` is not a number")))
        })
        .transpose()
}

/// Only track `n` of `tracks`, if a track is asked for.
fn track_filter(tracks: Vec<MediaTrack>, n: Option<u64>) -> Result<Vec<MediaTrack>, ApiError> {
    let Some(n) = n else {
        return Ok(tracks);
    };
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

/// Reads and parses a stored fragment (samples on the producer timeline).
async fn load_fragment(st: &AppState, rec: FragmentRecord) -> Result<Fragment, ApiError> {
    let tracks = tracks_of(st, rec.track_header_id).await?;
    let _hold = st.store.hold_segments(std::slice::from_ref(&rec));
    let (cluster, trailer) = st.store.read_fragment(&rec).await?;
    let samples = media::samples(&tracks, &cluster, &trailer).map_err(internal)?;
    Ok(Fragment::new(rec, tracks, samples))
}

/// The stored fragment a media URL names (`FragmentNumber`), from the media cache or loaded
/// into it; `ResourceNotFound` once retention or DeleteStream removed it from the index.
async fn stored_fragment(
    st: &AppState,
    s: &Session,
    q: &HashMap<String, String>,
) -> Result<(Arc<Slot>, Arc<Fragment>), ApiError> {
    let number = sessions::fragment_number(s, q)?;
    // Read before any index query below (see `playback::cache`).
    let epoch = st.store.removal_epoch();
    match st.media_cache.lookup(number, epoch) {
        Lookup::Hit(slot, f) => Ok((slot, f)),
        Lookup::Stale(slot, f) => match sessions::fragment_by_number(st, number).await {
            Ok(_) => {
                st.media_cache.revalidate(&slot, epoch);
                Ok((slot, f))
            }
            Err(e) => {
                if e.kind == ErrorKind::ResourceNotFound {
                    st.media_cache.remove(&slot);
                }
                Err(e)
            }
        },
        Lookup::Miss(slot) => {
            let f = st
                .media_cache
                .load(&slot, epoch, || async {
                    let rec = sessions::fragment_by_number(st, number).await?;
                    load_fragment(st, rec).await
                })
                .await?;
            Ok((slot, f))
        }
    }
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
    shared_media_response(parts.into(), content_type)
}

/// A response whose body is `parts` in order; the parts are reference-counted slices (a cached
/// segment's header and the stored payloads), sent without copying.
fn shared_media_response(parts: Arc<[Bytes]>, content_type: &'static str) -> Response {
    let len: u64 = parts.iter().map(|p| p.len() as u64).sum();
    let stream = futures_util::stream::iter(
        (0..parts.len()).map(move |i| Ok::<_, std::io::Error>(parts[i].clone())),
    );
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
    let tracks = track_filter(tracks, track_param(&q)?)?;
    Ok(media_response(
        vec![fmp4::init_segment(&tracks)?],
        "video/mp4",
    ))
}

/// `getMP4InitFragment.mp4` (HLS).
pub(super) async fn init(
    State(st): State<AppState>,
    QueryMap(q): QueryMap,
) -> Result<Response, ApiError> {
    init_for(st, q, Protocol::Hls).await
}

/// `getMP4InitFragment.mp4` (DASH).
pub(super) async fn dash_init(
    State(st): State<AppState>,
    QueryMap(q): QueryMap,
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
    let track = track_param(&q)?;
    match stored_fragment(&st, &s, &q).await {
        Ok((slot, f)) => segment_response(&st, &s, &slot, &f, Container::Fmp4, track, part),
        // A part of a fragment still being written is served from the live bus.
        Err(e) if part.is_some() && e.kind == ErrorKind::ResourceNotFound => {
            super::low_latency::live_part(&st, &s, &q).await
        }
        Err(e) => Err(e),
    }
}

/// A stored fragment (`FragmentNumber` of `q`) as one fMP4 media segment, or only its LL-HLS
/// part `part`.
pub(super) async fn stored_media(
    st: &AppState,
    s: &Session,
    q: &HashMap<String, String>,
    part: Option<u32>,
) -> Result<Response, ApiError> {
    let (slot, f) = stored_fragment(st, s, q).await?;
    segment_response(st, s, &slot, &f, Container::Fmp4, track_param(q)?, part)
}

/// One segment of a (cached) fragment on the session's timeline, built once per variant.
fn segment_response(
    st: &AppState,
    s: &Session,
    slot: &Arc<Slot>,
    f: &Fragment,
    container: Container,
    track: Option<u64>,
    part: Option<u32>,
) -> Result<Response, ApiError> {
    let part_ms = st.playback.ll_hls_part_target_ms.max(50) as i64;
    let key = VariantKey {
        base_ms: s.base_ms,
        container,
        track,
        part: part.map(|k| (k, part_ms)),
    };
    let parts = st.media_cache.variant(slot, f, key, build_segment(key))?;
    Ok(shared_media_response(
        parts,
        match container {
            Container::Fmp4 => "video/mp4",
            Container::Ts => "video/mp2t",
        },
    ))
}

/// Builds the segment `key` of a fragment.
fn build_segment(key: VariantKey) -> impl FnOnce(&Fragment) -> Result<Vec<Bytes>, ApiError> {
    move |f| {
        let rec = &f.record;
        let tracks = track_filter(f.tracks.clone(), key.track)?;
        let mut samples = f.samples.clone();
        rebase(&mut samples, key.base_ms);
        if let Some((k, part_ms)) = key.part {
            let start = rec.producer_ms - key.base_ms;
            let parts = part_indices(&samples, start, part_ms);
            let mut it = parts.iter();
            samples.retain(|_| it.next() == Some(&k));
            if samples.is_empty() {
                return Err(ApiError::new(
                    ErrorKind::ResourceNotFound,
                    format!("fragment {} has no part {k}", rec.number),
                ));
            }
        }
        match key.container {
            Container::Fmp4 => {
                let seg = fmp4::media_segment(&tracks, &samples, rec.number.seq as u32)?;
                Ok(f.coalesce(seg.parts))
            }
            Container::Ts => {
                let mut cc = ts::Continuity::default();
                Ok(vec![ts::segment(&tracks, &samples, &mut cc)?])
            }
        }
    }
}

/// `getMP4MediaFragment.mp4` (HLS), whole or `&Part=K`.
pub(super) async fn hls_media(
    State(st): State<AppState>,
    QueryMap(q): QueryMap,
) -> Result<Response, ApiError> {
    media_for(st, q, Protocol::Hls).await
}

/// `getMP4MediaFragment.mp4` (DASH).
pub(super) async fn dash_media(
    State(st): State<AppState>,
    QueryMap(q): QueryMap,
) -> Result<Response, ApiError> {
    media_for(st, q, Protocol::Dash).await
}

/// `getTSFragment.ts`.
pub(super) async fn ts(
    State(st): State<AppState>,
    QueryMap(q): QueryMap,
) -> Result<Response, ApiError> {
    let s = sessions::open(&st, &q, Protocol::Hls)?;
    let (slot, f) = stored_fragment(&st, &s, &q).await?;
    segment_response(&st, &s, &slot, &f, Container::Ts, None, None)
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
