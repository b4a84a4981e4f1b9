//! Streaming sessions shared by HLS and DASH: turning a GetHLS/GetDASHStreamingSessionURL
//! request into a signed [`Session`], opening a session token from a playback URL, and choosing
//! which fragments a playlist or manifest shows right now (the *window*).
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
//! same numbers; a small per-process cursor cache makes each reload scan only what is new.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Deserialize;
use serde_json::Value;

use super::AppState;
use super::archived::epoch_ms;
use super::error::ApiError;
use super::params::{in_range, stream_ref};
use crate::error::ErrorKind;
use crate::model::StreamId;
use crate::playback::session::{
    Container, Discontinuity, PlaybackMode, Protocol, Selector, Session, SessionError,
};
use crate::store::fragment::{FragmentNumber, FragmentRecord};
use crate::store::index::TimestampKind;

/// A gap or overlap larger than this between consecutive fragments is a discontinuity (KVS).
const GAP_MS: i64 = 50;
/// ON_DEMAND ranges are at most this long (KVS: 24 h).
const MAX_RANGE_MS: i64 = 24 * 3600 * 1000;
/// LIVE needs a fragment this recent (KVS: 30 s).
const LIVE_RECENT_MS: i64 = 30_000;
/// LIVE_REPLAY's head runs this far ahead of real time, so players can buffer.
const REPLAY_LEAD_MS: i64 = 10_000;
/// Most fragments a live window scan reads per index query.
const PAGE: usize = 1000;
/// Cursor cache entries kept (one per live session being played).
const CURSORS: usize = 4096;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RangeInput {
    start_timestamp: Option<Value>,
    end_timestamp: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(super) struct SelectorInput {
    fragment_selector_type: Option<String>,
    timestamp_range: Option<RangeInput>,
}

/// The request fields HLS and DASH share (each names its selector and result limit itself).
pub(super) struct Common<'a> {
    pub stream_name: Option<&'a str>,
    pub stream_arn: Option<&'a str>,
    pub playback_mode: Option<&'a str>,
    pub selector: Option<&'a SelectorInput>,
    pub selector_field: &'static str,
    pub container: Option<&'a str>,
    pub discontinuity_mode: Option<&'a str>,
    pub display_timestamp: Option<&'a str>,
    pub display_number: Option<&'a str>,
    pub expires: Option<i64>,
    pub max_results: Option<i64>,
    pub max_results_field: &'static str,
    pub low_latency: bool,
}

fn enum_field<T>(
    field: &str,
    v: Option<&str>,
    default: T,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, ApiError> {
    match v {
        None => Ok(default),
        Some(s) => parse(s).ok_or_else(|| ApiError::invalid(format!("{field} `{s}` is not valid"))),
    }
}

fn always_never(field: &str, v: Option<&str>) -> Result<bool, ApiError> {
    enum_field(field, v, false, |s| match s {
        "ALWAYS" => Some(true),
        "NEVER" => Some(false),
        _ => None,
    })
}

/// Validates a session request and makes its session (not yet signed).
pub(super) async fn create(
    st: &AppState,
    protocol: Protocol,
    c: Common<'_>,
) -> Result<Session, ApiError> {
    let r = stream_ref(c.stream_name, c.stream_arn)?;
    let mode = enum_field(
        "PlaybackMode",
        c.playback_mode,
        PlaybackMode::Live,
        |s| match s {
            "LIVE" => Some(PlaybackMode::Live),
            "LIVE_REPLAY" => Some(PlaybackMode::LiveReplay),
            "ON_DEMAND" => Some(PlaybackMode::OnDemand),
            _ => None,
        },
    )?;
    let selector = enum_field(
        &format!("{}.FragmentSelectorType", c.selector_field),
        c.selector.and_then(|s| s.fragment_selector_type.as_deref()),
        Selector::Server,
        |s| match s {
            "PRODUCER_TIMESTAMP" => Some(Selector::Producer),
            "SERVER_TIMESTAMP" => Some(Selector::Server),
            _ => None,
        },
    )?;
    let range = c.selector.and_then(|s| s.timestamp_range.as_ref());
    let field = |name: &str| format!("{}.TimestampRange.{name}", c.selector_field);
    let start_ms = range
        .and_then(|r| r.start_timestamp.as_ref())
        .map(|v| epoch_ms(&field("StartTimestamp"), v))
        .transpose()?;
    let end_ms = range
        .and_then(|r| r.end_timestamp.as_ref())
        .map(|v| epoch_ms(&field("EndTimestamp"), v))
        .transpose()?;
    match mode {
        PlaybackMode::Live if range.is_some() => {
            return Err(ApiError::invalid(format!(
                "{}.TimestampRange must not be set in LIVE mode",
                c.selector_field
            )));
        }
        PlaybackMode::OnDemand | PlaybackMode::LiveReplay if start_ms.is_none() => {
            return Err(ApiError::invalid(format!(
                "{} requires {}",
                if mode == PlaybackMode::OnDemand {
                    "ON_DEMAND"
                } else {
                    "LIVE_REPLAY"
                },
                field("StartTimestamp")
            )));
        }
        PlaybackMode::OnDemand if end_ms.is_none() => {
            return Err(ApiError::invalid(format!(
                "ON_DEMAND requires {}",
                field("EndTimestamp")
            )));
        }
        _ => {}
    }
    if let (Some(s), Some(e)) = (start_ms, end_ms) {
        if e <= s {
            return Err(ApiError::invalid(
                "the TimestampRange's EndTimestamp must be after its StartTimestamp",
            ));
        }
        if mode == PlaybackMode::OnDemand && e - s > MAX_RANGE_MS {
            return Err(ApiError::invalid(
                "an ON_DEMAND TimestampRange may span at most 24 hours",
            ));
        }
    }
    let container = match protocol {
        Protocol::Dash => Container::Fmp4,
        Protocol::Hls => enum_field(
            "ContainerFormat",
            c.container,
            Container::Fmp4,
            |s| match s {
                "FRAGMENTED_MP4" => Some(Container::Fmp4),
                "MPEG_TS" => Some(Container::Ts),
                _ => None,
            },
        )?,
    };
    let default_disc = match selector {
        Selector::Server => Discontinuity::Always,
        Selector::Producer => Discontinuity::Never,
    };
    let discontinuity = enum_field(
        "DiscontinuityMode",
        c.discontinuity_mode,
        default_disc,
        |s| match s {
            "ALWAYS" => Some(Discontinuity::Always),
            "NEVER" => Some(Discontinuity::Never),
            "ON_DISCONTINUITY" => Some(Discontinuity::OnDiscontinuity),
            _ => None,
        },
    )?;
    let display_timestamp = always_never("DisplayFragmentTimestamp", c.display_timestamp)?;
    let display_number = always_never("DisplayFragmentNumber", c.display_number)?;
    let expires_s = in_range("Expires", c.expires.unwrap_or(300), 300, 43_200)?;
    let default_max = if mode == PlaybackMode::OnDemand {
        1000
    } else {
        5
    };
    let max_results = in_range(
        c.max_results_field,
        c.max_results.unwrap_or(default_max),
        1,
        5000,
    )? as u32;

    let stream = st.store.resolve(&r).await?;
    if stream.data_retention_hours == 0 {
        return Err(ApiError::new(
            ErrorKind::NoDataRetention,
            format!(
                "stream {} keeps no media (DataRetentionInHours is 0), so it cannot be played through a streaming session",
                stream.name
            ),
        ));
    }
    let now = st.store.now().millis();
    let kind = kind_of(selector);
    // The fragments the session starts with: they must exist, and they set the media time base.
    let first: FragmentRecord = match mode {
        PlaybackMode::Live => {
            let last = st
                .store
                .last_fragments(stream.id, max_results as usize)
                .await?;
            let recent = last
                .last()
                .is_some_and(|f| f.server_ms >= now - LIVE_RECENT_MS);
            match last.first() {
                Some(f) if recent => *f,
                _ => {
                    return Err(ApiError::new(
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
            let found = st
                .media
                .pages(stream.id, Some((kind, s, e)), None, 1)
                .next()
                .await?
                .unwrap_or_default();
            *found.first().ok_or_else(|| {
                ApiError::new(
                    ErrorKind::ResourceNotFound,
                    format!(
                        "no fragments of stream {} in the requested time range",
                        stream.name
                    ),
                )
            })?
        }
    };
    check_media(st, &first).await?;
    Ok(Session {
        protocol,
        stream: stream.id.0,
        mode,
        selector,
        start_ms,
        end_ms,
        container,
        discontinuity,
        display_timestamp,
        display_number,
        max_results,
        low_latency: c.low_latency,
        // An hour of slack before the first fragment: producer clocks may step back a little.
        base_ms: first.producer_ms - 3_600_000,
        anchor_seq: first.number.seq,
        created_ms: now,
        expires_ms: now + expires_s * 1000,
    })
}

/// Refuses streams whose media a player cannot take: no H.264/H.265 video and no AAC.
async fn check_media(st: &AppState, f: &FragmentRecord) -> Result<(), ApiError> {
    use crate::media::{self, Codec};
    let header = st.store.track_header(f.track_header_id).await?;
    let tracks = media::tracks(&header.header)
        .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?;
    let playable = tracks.iter().any(|t| {
        matches!(
            t.codec,
            Codec::H264 { .. } | Codec::H265 { .. } | Codec::Aac { .. }
        )
    });
    if !playable {
        let names: Vec<&str> = tracks.iter().map(|t| t.codec.name()).collect();
        return Err(ApiError::new(
            ErrorKind::UnsupportedStreamMediaType,
            format!(
                "the stream's tracks ({}) cannot be played: HLS and DASH need H.264 or H.265 video, or AAC audio",
                names.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Opens the `SessionToken` query parameter; refusals are `NotAuthorizedException`.
pub(super) fn open(
    st: &AppState,
    query: &HashMap<String, String>,
    protocol: Protocol,
) -> Result<Session, ApiError> {
    let token = query.get("SessionToken").ok_or_else(|| {
        ApiError::new(
            ErrorKind::InvalidArgument,
            "the SessionToken parameter is missing",
        )
    })?;
    let s = st
        .session_key
        .open(token, st.store.now().millis())
        .map_err(|e| match e {
            SessionError::Invalid => ApiError::new(
                ErrorKind::NotAuthorized,
                "the session token is not valid for this server",
            ),
            SessionError::Expired(_) => ApiError::new(ErrorKind::NotAuthorized, e.to_string()),
        })?;
    if s.protocol != protocol {
        return Err(ApiError::new(
            ErrorKind::NotAuthorized,
            "the session token belongs to another streaming protocol",
        ));
    }
    Ok(s)
}

pub(super) fn kind_of(s: Selector) -> TimestampKind {
    match s {
        Selector::Producer => TimestampKind::Producer,
        Selector::Server => TimestampKind::Server,
    }
}

/// The fragments a playlist shows now.
#[derive(Debug, Clone, Default)]
pub(super) struct Window {
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
pub(super) async fn window(st: &AppState, s: &Session) -> Result<Window, ApiError> {
    let stream = StreamId(s.stream);
    let kind = kind_of(s.selector);
    let now = st.store.now().millis();
    match s.mode {
        PlaybackMode::OnDemand => {
            let (start, end) = (s.start_ms.unwrap_or(0), s.end_ms.unwrap_or(i64::MAX));
            let mut records =
                list_range(st, stream, kind, start, end, s.max_results as usize).await?;
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
            let records = st
                .store
                .last_fragments(stream, s.max_results as usize)
                .await?;
            let records: Vec<FragmentRecord> = records
                .into_iter()
                .filter(|r| r.number.seq >= s.anchor_seq)
                .collect();
            numbered(st, s, records, false).await
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
            let mut pages = st.media.pages(stream, Some((kind, start, end)), None, PAGE);
            while let Some(page) = pages.next().await? {
                for r in page {
                    tail.push_back(r);
                    if tail.len() > s.max_results as usize {
                        tail.pop_front();
                    }
                }
            }
            numbered(st, s, tail.into_iter().collect(), ended).await
        }
    }
}

/// Numbers a live window: counts fragments (and discontinuities) from the anchor up to its
/// first fragment, continuing from a cached cursor when there is one.
async fn numbered(
    st: &AppState,
    s: &Session,
    records: Vec<FragmentRecord>,
    ended: bool,
) -> Result<Window, ApiError> {
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
    let cached = st
        .cursors
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
    let mut pages = st.media.pages(stream, range, Some(after), PAGE);
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
        let mut map = st.cursors.0.lock().unwrap_or_else(|p| p.into_inner());
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
    st: &AppState,
    stream: StreamId,
    kind: TimestampKind,
    start: i64,
    end: i64,
    limit: usize,
) -> Result<Vec<FragmentRecord>, ApiError> {
    let mut out = st
        .media
        .collect(stream, Some((kind, start, end)), |rows| rows.len() >= limit)
        .await?;
    out.truncate(limit);
    Ok(out)
}

/// Timestamp order for producer-timestamp sessions; duplicate producer timestamps keep the
/// fragment with the highest number (KVS).
fn order_by_timestamp(records: &mut Vec<FragmentRecord>, selector: Selector) {
    if selector == Selector::Producer {
        records.sort_by_key(|r| (r.producer_ms, std::cmp::Reverse(r.number.seq)));
        records.dedup_by_key(|r| r.producer_ms);
    }
}

/// Finds a fragment of the session's stream by its number (a URL parameter).
pub(super) async fn fragment(
    st: &AppState,
    s: &Session,
    query: &HashMap<String, String>,
) -> Result<FragmentRecord, ApiError> {
    fragment_by_number(st, fragment_number(s, query)?).await
}

/// The `FragmentNumber` URL parameter, which must name a fragment of the session's stream.
pub(super) fn fragment_number(
    s: &Session,
    query: &HashMap<String, String>,
) -> Result<FragmentNumber, ApiError> {
    let text = query
        .get("FragmentNumber")
        .ok_or_else(|| ApiError::invalid("the FragmentNumber parameter is missing"))?;
    FragmentNumber::parse(text)
        .filter(|n| n.stream.0 == s.stream)
        .ok_or_else(|| {
            ApiError::invalid(format!("{text} is not a fragment of this session's stream"))
        })
}

/// A fragment's index record, or `ResourceNotFound` once it is gone.
pub(super) async fn fragment_by_number(
    st: &AppState,
    number: FragmentNumber,
) -> Result<FragmentRecord, ApiError> {
    Ok(st.media.record(number).await?)
}

/// The fragment `number` (as its URL text) of the session's stream while it is on the live bus
/// (not persisted yet).
pub(super) fn live_fragment(
    st: &AppState,
    s: &Session,
    number: &str,
) -> Option<crate::live::Buffered> {
    st.live
        .subscribe(crate::model::StreamId(s.stream))
        .snapshot
        .into_iter()
        .find(|b| b.start.number.to_string() == number)
}
