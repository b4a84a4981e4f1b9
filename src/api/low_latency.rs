//! Low-latency HLS (an extension; KVS has none): partial segments of the fragment being written,
//! served from the live bus as its frames arrive, an EXT-X-PRELOAD-HINT for the next part, and
//! blocking playlist reloads (`_HLS_msn` / `_HLS_part`) that wait, up to
//! `blocking_request_timeout_ms`, for the asked part to exist.
//!
//! Parts split a fragment by presentation time in `ll_hls_part_target_ms` steps
//! ([`super::segments::part_indices`]), so a part is the same whether it is built from the live
//! bus or, once the fragment is persisted, from the store. A part is complete once a frame of a
//! later part arrived, or its fragment ended. Complete segments are listed without their parts
//! (players switch to the whole segment once it is in the playlist).

use std::collections::HashMap;
use std::time::Duration;

use axum::response::Response;
use tokio::time::Instant;

use super::AppState;
use super::error::ApiError;
use super::segments::{self, part_indices};
use super::sessions;
use crate::error::ErrorKind;
use crate::live::Buffered;
use crate::media::{self, MediaTrack, Sample};
use crate::model::StreamId;
use crate::playback::fmp4;
use crate::playback::hls::{self, LowLatency, MediaSpec, Part};
use crate::playback::session::{PlaybackMode, Session};

/// The fragment being written, as parts.
struct Open {
    number: String,
    producer_ms: i64,
    server_ms: i64,
    samples: Vec<Sample>,
    parts: Vec<u32>,
    ended: bool,
    tracks: Vec<MediaTrack>,
}

impl Open {
    /// Complete parts (index, duration, independent).
    fn complete_parts(&self) -> Vec<Part> {
        let Some(&last) = self.parts.last() else {
            return Vec::new();
        };
        let upto = if self.ended { last + 1 } else { last };
        (0..upto)
            .filter_map(|k| {
                let first = self.parts.iter().position(|&p| p == k)?;
                let next = self.parts.iter().position(|&p| p > k);
                let start = self.samples[first].pts_ms;
                let end = match next {
                    Some(n) => self.samples[n].pts_ms,
                    None => {
                        let l = &self.samples[self.samples.len() - 1];
                        l.pts_ms + l.duration_ms
                    }
                };
                Some(Part {
                    index: k,
                    duration_ms: (end - start).max(1),
                    independent: self.samples[first].key,
                })
            })
            .collect()
    }
}

/// A fragment on the live bus as parts on the session timeline.
fn open_fragment(buffered: &Buffered, s: &Session, part_ms: i64) -> Option<Open> {
    let (tracks, mut samples) = media::live_samples(buffered).ok()?;
    segments::rebase(&mut samples, s.base_ms);
    let start = buffered.start.producer_ms - s.base_ms;
    let parts = part_indices(&samples, start, part_ms);
    Some(Open {
        number: buffered.start.number.to_string(),
        producer_ms: buffered.start.producer_ms,
        server_ms: buffered.start.server_ms,
        samples,
        parts,
        ended: buffered.end.is_some(),
        tracks,
    })
}

fn param(q: &HashMap<String, String>, name: &str) -> Result<Option<u64>, ApiError> {
    q.get(name)
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| ApiError::invalid(format!("{name} `{v}` is not a number")))
        })
        .transpose()
}

/// The LL-HLS media playlist, blocking while `_HLS_msn`/`_HLS_part` ask for what is not there.
pub(super) async fn playlist(
    st: &AppState,
    s: &Session,
    token: &str,
    q: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    if s.mode != PlaybackMode::Live {
        return Err(ApiError::invalid(
            "low-latency HLS is only for LIVE sessions",
        ));
    }
    let want_msn = param(q, "_HLS_msn")?;
    let want_part = param(q, "_HLS_part")?;
    if want_part.is_some() && want_msn.is_none() {
        return Err(ApiError::invalid("_HLS_part needs _HLS_msn"));
    }
    let part_ms = st.playback.ll_hls_part_target_ms.max(50) as i64;
    let deadline = Instant::now() + Duration::from_millis(st.playback.blocking_request_timeout_ms);
    let mut sub = st.live.subscribe(StreamId(s.stream));
    loop {
        let w = sessions::window(st, s).await?;
        let next_msn = w.media_sequence + w.records.len() as u64;
        // The newest unpersisted fragment, if it follows the window.
        let open = sub
            .snapshot
            .iter()
            .rev()
            .find(|b| {
                w.records
                    .last()
                    .is_none_or(|r| b.start.number.seq > r.number.seq)
            })
            .and_then(|b| open_fragment(b, s, part_ms));
        // An ended fragment not yet in the index would take a media sequence number: wait for it.
        let settled = sub
            .snapshot
            .iter()
            .filter(|b| {
                w.records
                    .last()
                    .is_none_or(|r| b.start.number.seq > r.number.seq)
            })
            .count()
            <= 1;
        let parts = open.as_ref().map(Open::complete_parts).unwrap_or_default();
        let ready = match (want_msn, want_part) {
            (None, _) => true,
            (Some(m), None) => m < next_msn,
            (Some(m), Some(p)) => {
                m < next_msn || (open.is_some() && m == next_msn && parts.len() as u64 > p)
            }
        };
        if let Some(m) = want_msn
            && m > next_msn + 2
        {
            return Err(ApiError::invalid(format!(
                "_HLS_msn {m} is too far ahead of the playlist (next is {next_msn})"
            )));
        }
        if (ready && settled) || Instant::now() >= deadline {
            let entries = super::hls::entries(s, &w);
            let preload = open.as_ref().map(|o| {
                let next = parts.last().map_or(0, |p| p.index + 1);
                (o.number.clone(), next)
            });
            let header = w.records.last().map_or(0, |r| r.track_header_id);
            let open_discontinuity = match (s.discontinuity, w.records.last(), &open) {
                (crate::playback::session::Discontinuity::Always, _, _) => true,
                (crate::playback::session::Discontinuity::OnDiscontinuity, Some(r), Some(o)) => {
                    (r.producer_ms + r.duration_ms - o.producer_ms).abs() > 50
                }
                _ => false,
            };
            let open_date_ms =
                open.as_ref()
                    .filter(|_| s.display_timestamp)
                    .map(|o| match s.selector {
                        crate::playback::session::Selector::Producer => o.producer_ms,
                        crate::playback::session::Selector::Server => o.server_ms,
                    });
            let text = hls::media_playlist(&MediaSpec {
                token,
                container: s.container,
                media_sequence: w.media_sequence,
                discontinuity_sequence: w.discontinuity_sequence,
                entries: &entries,
                vod: false,
                ended: false,
                low_latency: Some(LowLatency {
                    part_target_ms: part_ms as u64,
                    open: open.map(|o| (o.number, header, parts)),
                    preload,
                    open_discontinuity,
                    open_date_ms,
                }),
            });
            return Ok(super::hls::playlist_response(text, true));
        }
        // Wait for the next live event (or the deadline), then look again.
        match tokio::time::timeout_at(deadline, sub.rx.recv()).await {
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) | Err(_) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        sub = st.live.subscribe(StreamId(s.stream));
    }
}

/// A part of the fragment being written, from the live bus; waits (bounded) until it is
/// complete. If the fragment got persisted meanwhile, the caller's store path serves it.
pub(super) async fn live_part(
    st: &AppState,
    s: &Session,
    q: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let number = q.get("FragmentNumber").cloned().unwrap_or_default();
    let k: u32 = q
        .get("Part")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| ApiError::invalid("Part must be a part number"))?;
    let part_ms = st.playback.ll_hls_part_target_ms.max(50) as i64;
    let deadline = Instant::now() + Duration::from_millis(st.playback.blocking_request_timeout_ms);
    loop {
        let mut sub = st.live.subscribe(StreamId(s.stream));
        let buffered = sub
            .snapshot
            .iter()
            .find(|b| b.start.number.to_string() == number);
        let Some(open) = buffered.and_then(|b| open_fragment(b, s, part_ms)) else {
            // Persisted meanwhile (or never existed): the store decides.
            return segments::stored_media(st, s, q, Some(k)).await;
        };
        let complete = open.complete_parts().iter().any(|p| p.index == k);
        if complete {
            let samples: Vec<Sample> = open
                .samples
                .iter()
                .zip(&open.parts)
                .filter(|(_, p)| **p == k)
                .map(|(x, _)| x.clone())
                .collect();
            let seq =
                crate::store::fragment::FragmentNumber::parse(&number).map_or(0, |n| n.seq as u32);
            let seg = fmp4::media_segment(&open.tracks, &samples, seq)?;
            return Ok(segments::media_response(seg.parts, "video/mp4"));
        }
        if Instant::now() >= deadline {
            return Err(ApiError::new(
                ErrorKind::ResourceNotFound,
                format!("part {k} of fragment {number} did not complete in time"),
            ));
        }
        let _ = tokio::time::timeout_at(deadline, sub.rx.recv()).await;
    }
}
