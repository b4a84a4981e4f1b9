//! Playlist and manifest windows: which fragments a streaming session shows right now, and how
//! a live window is numbered. The HTTP side (tokens in URLs, JSON requests) is `api`'s.
//!
//! Windows by mode:
//! - ON_DEMAND: the fragments whose selected timestamp is in the range, up to the result limit,
//!   in timestamp order (duplicate producer timestamps keep the highest fragment number, as KVS).
//! - LIVE: the newest `max_results` fragments.
//! - LIVE_REPLAY: the range played in real time from the moment the URL was made: fragments up
//!   to `start + (now - created)` plus a lead, at most `max_results` of them, growing (and
//!   sliding) as time passes; ended once that head passes the range end.
//!
//! Live windows slide, so their media sequence number (HLS) is the count of fragments between
//! the session's anchor and the window's first fragment, and the discontinuity sequence counts
//! the discontinuities there. Both are deterministic for a session, so every node computes the
//! same numbers; a small per-process cursor cache ([`Cursors`]) makes each reload scan only what
//! is new.

use std::collections::HashMap;
use std::sync::Mutex;

use super::error::PlaybackError;
use super::session::{Container, Discontinuity, PlaybackMode, Protocol, Selector, Session};
use crate::error::ErrorKind;
use crate::media::{Codec, Media};
use crate::model::{StreamId, StreamRecord};
use crate::store::fragment::FragmentRecord;
use crate::store::index::TimestampKind;

/// A gap or overlap larger than this between consecutive fragments is a discontinuity (KVS).
const GAP_MS: i64 = 50;
/// LIVE needs a fragment this recent (KVS: 30 s).
const LIVE_RECENT_MS: i64 = 30_000;
/// LIVE_REPLAY's head runs this far ahead of real time, so players can buffer.
const REPLAY_LEAD_MS: i64 = 10_000;
/// Most fragments a live window scan reads per index query.
const PAGE: usize = 1000;
/// Cursor cache entries kept (one per live session being played).
const CURSORS: usize = 4096;

/// A validated streaming-session request (the API parses the wire into it).
#[derive(Debug, Clone)]
pub struct SessionRequest {
    /// HLS or DASH.
    pub protocol: Protocol,
    /// The stream (resolved, not being deleted).
    pub stream: StreamRecord,
    /// LIVE, LIVE_REPLAY or ON_DEMAND.
    pub mode: PlaybackMode,
    /// Which timestamps select fragments.
    pub selector: Selector,
    /// Range start, epoch ms.
    pub start_ms: Option<i64>,
    /// Range end, epoch ms.
    pub end_ms: Option<i64>,
    /// fMP4 or MPEG-TS.
    pub container: Container,
    /// When discontinuities are marked.
    pub discontinuity: Discontinuity,
    /// EXT-X-PROGRAM-DATE-TIME / DASH timestamps.
    pub display_timestamp: bool,
    /// DASH fragment numbers.
    pub display_number: bool,
    /// Most fragments per playlist/manifest.
    pub max_results: u32,
    /// LL-HLS.
    pub low_latency: bool,
    /// Lifetime of the URL, seconds.
    pub expires_s: i64,
}

/// Starts a session: the fragments it starts with must exist (they set its media time base)
/// and be playable.
pub async fn start(media: &Media, req: SessionRequest) -> Result<Session, PlaybackError> {
    let (stream, mode, selector) = (&req.stream, req.mode, req.selector);
    let (start_ms, end_ms) = (req.start_ms, req.end_ms);
    if stream.data_retention_hours == 0 {
        return Err(PlaybackError::refused(
            ErrorKind::NoDataRetention,
            format!(
                "stream {} keeps no media (DataRetentionInHours is 0), so it cannot be played through a streaming session",
                stream.name
            ),
        ));
    }
    let now = media.store().now().millis();
    let kind = kind_of(selector);
    // The fragments the session starts with: they must exist, and they set the media time base.
    let first: FragmentRecord = match mode {
        PlaybackMode::Live => {
            let last = media
                .store()
                .last_fragments(stream.id, req.max_results as usize)
                .await?;
            let recent = last
                .last()
                .is_some_and(|f| f.server_ms >= now - LIVE_RECENT_MS);
            match last.first() {
                Some(f) if recent => *f,
                _ => {
                    return Err(PlaybackError::refused(
                        ErrorKind::ResourceNotFound,
                        format!(
                            "no fragments were received on stream {} in the last 30 seconds; LIVE playback needs a producer sending",
                            stream.name
                        ),
                    ));
                }
            }
        }
        PlaybackMode::LiveReplay | PlaybackMode::OnDemand => {
            let (s, e) = (start_ms.unwrap_or(0), end_ms.unwrap_or(i64::MAX));
            let found = media
                .pages(stream.id, Some((kind, s, e)), None, 1)
                .next()
                .await?
                .unwrap_or_default();
            *found.first().ok_or_else(|| {
                PlaybackError::refused(
                    ErrorKind::ResourceNotFound,
                    format!(
                        "no fragments of stream {} in the requested time range",
                        stream.name
                    ),
                )
            })?
        }
    };
    check_media(media, &first).await?;
    Ok(Session {
        protocol: req.protocol,
        stream: stream.id.0,
        mode,
        selector,
        start_ms,
        end_ms,
        container: req.container,
        discontinuity: req.discontinuity,
        display_timestamp: req.display_timestamp,
        display_number: req.display_number,
        max_results: req.max_results,
        low_latency: req.low_latency,
        // An hour of slack before the first fragment: producer clocks may step back a little.
        base_ms: first.producer_ms - 3_600_000,
        anchor_seq: first.number.seq,
        created_ms: now,
        expires_ms: now + req.expires_s * 1000,
    })
}

/// Refuses streams whose media a player cannot take: no H.264/H.265 video and no AAC.
async fn check_media(media: &Media, f: &FragmentRecord) -> Result<(), PlaybackError> {
    let tracks = media.tracks(f.track_header_id).await?;
    let playable = tracks.iter().any(|t| {
        matches!(
            t.codec,
            Codec::H264 { .. } | Codec::H265 { .. } | Codec::Aac { .. }
        )
    });
    if !playable {
        let names: Vec<&str> = tracks.iter().map(|t| t.codec.name()).collect();
        return Err(PlaybackError::refused(
            ErrorKind::UnsupportedStreamMediaType,
            format!(
                "the stream's tracks ({}) cannot be played: HLS and DASH need H.264 or H.265 video, or AAC audio",
                names.join(", ")
            ),
        ));
    }
    Ok(())
}

/// The index timestamp a session's selector ranges over.
pub fn kind_of(s: Selector) -> TimestampKind {
    match s {
        Selector::Producer => TimestampKind::Producer,
        Selector::Server => TimestampKind::Server,
    }
}

/// The fragments a playlist shows now.
#[derive(Debug, Clone, Default)]
pub struct Window {
    /// The fragments, in play order.
    pub records: Vec<FragmentRecord>,
    /// A discontinuity before each (same length as `records`).
    pub discontinuity: Vec<bool>,
    /// Media sequence number of the first.
    pub media_sequence: u64,
    /// Discontinuities before the first (since the session's anchor).
    pub discontinuity_sequence: u64,
    /// No more fragments will be added (ON_DEMAND, or a LIVE_REPLAY past its end).
    pub ended: bool,
}

impl Window {
    /// The HLS playlist entries of this window.
    pub fn hls_entries(&self, s: &Session) -> Vec<super::hls::Entry> {
        self.records
            .iter()
            .zip(&self.discontinuity)
            .map(|(r, &d)| super::hls::Entry {
                number: r.number.to_string(),
                duration_ms: r.duration_ms,
                date_ms: s.display_timestamp.then_some(match s.selector {
                    Selector::Producer => r.producer_ms,
                    Selector::Server => r.server_ms,
                }),
                track_header_id: r.track_header_id,
                discontinuity: d,
                parts: Vec::new(),
            })
            .collect()
    }
}

/// Where a live window's numbering stands after some fragment.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    /// The last fragment counted.
    last: FragmentRecord,
    /// Fragments counted so far (the media sequence number of the next one).
    count: u64,
    /// Discontinuities counted so far (including any before `last`).
    discontinuities: u64,
}

/// What a live numbering depends on: stream, anchor seq, discontinuity mode, and (LIVE_REPLAY)
/// the selector and range start that bound the count.
type CursorKey = (i64, i64, u8, u8, Option<i64>);

/// Per-process cache of live numbering.
#[derive(Default)]
pub struct Cursors(Mutex<HashMap<CursorKey, Cursor>>);

fn is_discontinuity(
    mode: Discontinuity,
    prev: Option<&FragmentRecord>,
    cur: &FragmentRecord,
) -> bool {
    let Some(prev) = prev else {
        return mode == Discontinuity::Always;
    };
    let changed = prev.track_header_id != cur.track_header_id;
    match mode {
        Discontinuity::Always => true,
        Discontinuity::Never => changed,
        Discontinuity::OnDiscontinuity => {
            changed || (prev.producer_ms + prev.duration_ms - cur.producer_ms).abs() > GAP_MS
        }
    }
}

fn flags(
    mode: Discontinuity,
    prev: Option<&FragmentRecord>,
    records: &[FragmentRecord],
) -> Vec<bool> {
    let mut p = prev.copied();
    records
        .iter()
        .map(|r| {
            let d = is_discontinuity(mode, p.as_ref(), r);
            p = Some(*r);
            d
        })
        .collect()
}

/// The session's window now.
pub async fn window(
    media: &Media,
    cursors: &Cursors,
    s: &Session,
) -> Result<Window, PlaybackError> {
    let stream = StreamId(s.stream);
    let kind = kind_of(s.selector);
    let now = media.store().now().millis();
    match s.mode {
        PlaybackMode::OnDemand => {
            let (start, end) = (s.start_ms.unwrap_or(0), s.end_ms.unwrap_or(i64::MAX));
            let mut records =
                list_range(media, stream, kind, start, end, s.max_results as usize).await?;
            order_by_timestamp(&mut records, s.selector);
            let discontinuity = flags(s.discontinuity, None, &records);
            Ok(Window {
                records,
                discontinuity,
                media_sequence: 0,
                discontinuity_sequence: 0,
                ended: true,
            })
        }
        PlaybackMode::Live => {
            let records = media
                .store()
                .last_fragments(stream, s.max_results as usize)
                .await?;
            let records: Vec<FragmentRecord> = records
                .into_iter()
                .filter(|r| r.number.seq >= s.anchor_seq)
                .collect();
            numbered(media, cursors, s, records, false).await
        }
        PlaybackMode::LiveReplay => {
            let start = s.start_ms.unwrap_or(0);
            let head = start
                .saturating_add(now - s.created_ms)
                .saturating_add(REPLAY_LEAD_MS);
            let end = s.end_ms.map_or(head, |e| e.min(head));
            let ended = s.end_ms.is_some_and(|e| head >= e);
            // The newest max_results fragments of [start, end]: page through the range (a replay
            // session lasts at most 12 h, so this is bounded), keeping the tail.
            let mut tail: std::collections::VecDeque<FragmentRecord> = Default::default();
            let mut pages = media.pages(stream, Some((kind, start, end)), None, PAGE);
            while let Some(page) = pages.next().await? {
                for r in page {
                    tail.push_back(r);
                    if tail.len() > s.max_results as usize {
                        tail.pop_front();
                    }
                }
            }
            numbered(media, cursors, s, tail.into_iter().collect(), ended).await
        }
    }
}

/// Numbers a live window: counts fragments (and discontinuities) from the anchor up to its
/// first fragment, continuing from a cached cursor when there is one.
async fn numbered(
    media: &Media,
    cursors: &Cursors,
    s: &Session,
    records: Vec<FragmentRecord>,
    ended: bool,
) -> Result<Window, PlaybackError> {
    let Some(first) = records.first().copied() else {
        return Ok(Window {
            ended,
            ..Window::default()
        });
    };
    let stream = StreamId(s.stream);
    let key: CursorKey = (
        s.stream,
        s.anchor_seq,
        s.discontinuity as u8,
        s.selector as u8,
        (s.mode == PlaybackMode::LiveReplay)
            .then_some(s.start_ms)
            .flatten(),
    );
    let cached = cursors
        .0
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key)
        .copied()
        .filter(|c| c.last.number.seq < first.number.seq);
    let kind = kind_of(s.selector);
    let range = match (s.mode, s.start_ms) {
        (PlaybackMode::LiveReplay, Some(start)) => Some((kind, start, i64::MAX)),
        _ => None,
    };
    let mut cursor = cached;
    let after = cursor.map_or(s.anchor_seq - 1, |c| c.last.number.seq);
    // Count the fragments before `first`.
    let mut pages = media.pages(stream, range, Some(after), PAGE);
    'scan: while let Some(page) = pages.next().await? {
        for r in &page {
            if r.number.seq >= first.number.seq {
                break 'scan;
            }
            let d = is_discontinuity(s.discontinuity, cursor.as_ref().map(|c| &c.last), r);
            cursor = Some(Cursor {
                last: *r,
                count: cursor.map_or(0, |c| c.count) + 1,
                discontinuities: cursor.map_or(0, |c| c.discontinuities) + u64::from(d),
            });
        }
    }
    if let Some(c) = cursor {
        let mut map = cursors.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CURSORS {
            map.clear();
        }
        map.insert(key, c);
    }
    let discontinuity = flags(s.discontinuity, cursor.as_ref().map(|c| &c.last), &records);
    Ok(Window {
        media_sequence: cursor.map_or(0, |c| c.count),
        discontinuity_sequence: cursor.map_or(0, |c| c.discontinuities),
        records,
        discontinuity,
        ended,
    })
}

/// Fragments in a range, up to `limit`, paging through the index.
async fn list_range(
    media: &Media,
    stream: StreamId,
    kind: TimestampKind,
    start: i64,
    end: i64,
    limit: usize,
) -> Result<Vec<FragmentRecord>, PlaybackError> {
    let mut out = media
        .collect(stream, Some((kind, start, end)), |rows| rows.len() >= limit)
        .await?;
    out.truncate(limit);
    Ok(out)
}

/// Timestamp order for producer-timestamp sessions; duplicate producer timestamps keep the
/// fragment with the highest number (the tie rule of [`crate::media`]).
fn order_by_timestamp(records: &mut Vec<FragmentRecord>, selector: Selector) {
    if selector == Selector::Producer {
        *records = crate::media::dedup_starts(std::mem::take(records), TimestampKind::Producer);
    }
}
