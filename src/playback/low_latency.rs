//! Low-latency HLS (an extension; KVS has none): partial segments of the fragment being written,
//! served from the live bus as its frames arrive, an EXT-X-PRELOAD-HINT for the next part, and
//! blocking playlist reloads (`_HLS_msn` / `_HLS_part`) that wait, up to
//! `blocking_request_timeout_ms`, for the asked part to exist.
//!
//! Parts split a fragment by presentation time in `ll_hls_part_target_ms` steps
//! ([`super::segment::part_indices`]), so a part is the same whether it is built from the live
//! bus or, once the fragment is persisted, from the store. A part is complete once a frame of a
//! later part arrived, or its fragment ended. Complete segments are listed without their parts
//! (players switch to the whole segment once it is in the playlist).

use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::error::PlaybackError;
use super::fmp4;
use super::hls::{self, LowLatency, MediaSpec, Part};
use super::segment::{self, part_indices};
use super::session::{Discontinuity, PlaybackMode, Selector, Session};
use super::window::{self, Cursors};
use crate::error::ErrorKind;
use crate::live::Buffered;
use crate::media::{self, Media, MediaTrack, Sample};
use crate::model::StreamId;
use crate::store::fragment::FragmentNumber;

/// LL-HLS settings (`[playback]`).
#[derive(Debug, Clone, Copy)]
pub struct LowLatencySettings {
    /// Part duration target, ms (at least 50).
    pub part_target_ms: u64,
    /// Longest wait of a blocking playlist reload or part request, ms.
    pub blocking_timeout_ms: u64,
}

/// What a blocking playlist reload asks for (`_HLS_msn`, `_HLS_part`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Blocking {
    /// Wait until this media sequence number is in the playlist.
    pub msn: Option<u64>,
    /// ... and this part of it.
    pub part: Option<u64>,
}

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
    segment::rebase(&mut samples, s.base_ms);
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

/// The LL-HLS media playlist text, blocking while `want` asks for what is not there yet.
pub async fn playlist(
    media: &Media,
    cursors: &Cursors,
    settings: LowLatencySettings,
    s: &Session,
    token: &str,
    want: Blocking,
) -> Result<String, PlaybackError> {
    if s.mode != PlaybackMode::Live {
        return Err(PlaybackError::refused(
            ErrorKind::InvalidArgument,
            "low-latency HLS is only for LIVE sessions",
        ));
    }
    let (want_msn, want_part) = (want.msn, want.part);
    if want_part.is_some() && want_msn.is_none() {
        return Err(PlaybackError::refused(
            ErrorKind::InvalidArgument,
            "_HLS_part needs _HLS_msn",
        ));
    }
    let part_ms = settings.part_target_ms.max(50) as i64;
    let deadline = Instant::now() + Duration::from_millis(settings.blocking_timeout_ms);
    let mut sub = media.live().subscribe(StreamId(s.stream));
    loop {
        let w = window::window(media, cursors, s).await?;
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
            return Err(PlaybackError::refused(
                ErrorKind::InvalidArgument,
                format!("_HLS_msn {m} is too far ahead of the playlist (next is {next_msn})"),
            ));
        }
        if (ready && settled) || Instant::now() >= deadline {
            let entries = w.hls_entries(s);
            let preload = open.as_ref().map(|o| {
                let next = parts.last().map_or(0, |p| p.index + 1);
                (o.number.clone(), next)
            });
            let header = w.records.last().map_or(0, |r| r.track_header_id);
            let open_discontinuity = match (s.discontinuity, w.records.last(), &open) {
                (Discontinuity::Always, _, _) => true,
                (Discontinuity::OnDiscontinuity, Some(r), Some(o)) => {
                    (r.producer_ms + r.duration_ms - o.producer_ms).abs() > 50
                }
                _ => false,
            };
            let open_date_ms =
                open.as_ref()
                    .filter(|_| s.display_timestamp)
                    .map(|o| match s.selector {
                        Selector::Producer => o.producer_ms,
                        Selector::Server => o.server_ms,
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
            return Ok(text);
        }
        // Wait for the next live event (or the deadline), then look again.
        match tokio::time::timeout_at(deadline, sub.rx.recv()).await {
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) | Err(_) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        sub = media.live().subscribe(StreamId(s.stream));
    }
}

/// Part `k` of fragment `number` while it is being written, from the live bus; waits (bounded)
/// until the part is complete. None once the fragment is not on the bus any more (persisted
/// meanwhile, or never existed): the store decides then ([`segment::stored_segment`]).
pub async fn live_part(
    media: &Media,
    settings: LowLatencySettings,
    s: &Session,
    number: FragmentNumber,
    k: u32,
) -> Result<Option<Vec<Bytes>>, PlaybackError> {
    let part_ms = settings.part_target_ms.max(50) as i64;
    let deadline = Instant::now() + Duration::from_millis(settings.blocking_timeout_ms);
    loop {
        let mut sub = media.live().subscribe(StreamId(s.stream));
        let buffered = sub.snapshot.iter().find(|b| b.start.number == number);
        let Some(open) = buffered.and_then(|b| open_fragment(b, s, part_ms)) else {
            return Ok(None);
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
            let seg = fmp4::media_segment(&open.tracks, &samples, fmp4::mfhd_sequence(number.seq))?;
            return Ok(Some(seg.parts));
        }
        if Instant::now() >= deadline {
            return Err(PlaybackError::refused(
                ErrorKind::ResourceNotFound,
                format!("part {k} of fragment {number} did not complete in time"),
            ));
        }
        let _ = tokio::time::timeout_at(deadline, sub.rx.recv()).await;
    }
}
