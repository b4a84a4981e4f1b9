//! MPEG-DASH manifests (ISO/IEC 23009-1) for GetDASHStreamingSessionURL sessions
//! (KVS-API.md §1.4): a pure writer from plain structs to MPD text. No I/O, no HTTP; the API
//! layer selects the fragments, calls [`manifest`], and serves the segments the MPD points to.
//!
//! # Shape
//!
//! One `Period` per run of consecutive fragments stored under the same track header, so a
//! codec change starts a new Period with its own initialization segment. In each Period, one
//! `AdaptationSet` per track fMP4 can carry: video (H.264/H.265) first, then audio (AAC), each
//! with one `Representation` whose `SegmentTemplate` holds the initialization and media URLs
//! and a `SegmentTimeline` with exactly one `S` per fragment (`t` and `d` always written, never
//! `r`). Audio and video are separate AdaptationSets (dash.js does not play multiplexed
//! Representations), so every segment URL names one track.
//!
//! Why `SegmentTemplate` with `$Time$`: each segment is addressed by its `S@t`, the fragment's
//! start on the session's media clock, which the server maps back to the fragment through the
//! index (the producer timestamp `base + t`), so the server stays stateless. FragmentNumbers
//! (47-digit decimals) are too big for `$Number$` (players do arithmetic on it in doubles), and
//! a per-session ordinal (what KVS itself uses) would need state to map back. The writer used
//! to list one `SegmentURL` per fragment in a `SegmentList`; ffmpeg's dash demuxer (5.1)
//! re-probes the stream (`avformat_find_stream_info`) at every segment of a `SegmentList`,
//! and on fragments of one to a few frames without a `frameRate` (kvssink writes no
//! DefaultDuration to derive one from) or with a lone frame of duration 0, it ended the
//! presentation after the first few of them (3 of 600 frames; a client saw 16). On a
//! `SegmentTemplate` it opens each segment as a continuation and plays every frame. No
//! `startNumber` is written: ffmpeg counts its timeline index from it, and `$Time$` needs none.
//!
//! # URL contract (what the HTTP layer must honour)
//!
//! [`DashOptions::init_url`] and [`DashOptions::media_url`] are templates in which the writer
//! replaces, per Representation:
//! - [`TRACK_HEADER`] (`$TrackHeader$`) by [`DashFragment::track_header_id`] (init URL);
//! - [`TRACK_NUMBER`] (`$TrackNumber$`) by the MKV track number ([`MediaTrack::number`]);
//!
//! and leaves [`TIME`] (`$Time$`, media URL) for the player, which puts in the segment's
//! `S@t`: the [`DashFragment::start_ms`] of the fragment. Any other `$` is written as `$$`
//! (ISO/IEC 23009-1 §5.3.9.4.4), so a `$` in a token survives.
//!
//! The media URL must contain `$Time$`; when a Period has more than one track both URLs must
//! contain `$TrackNumber$`, and when there is more than one Period the init URL must contain
//! `$TrackHeader$`. The URLs are written as given (XML-escaped), so they should be relative to
//! the manifest (e.g. `getMP4MediaFragment.mp4?SessionToken=…&TrackNumber=$TrackNumber$&Time=
//! $Time$` next to `/dash/v1/getDASHManifest.mpd`) with any token already percent-encoded (a
//! raw `/` in a query breaks the base-URL resolution of some players). The server must answer:
//! - the init URL with `fmp4::init_segment(&[track])` of that track of that track header;
//! - the media URL with `fmp4::media_segment(&[track], &samples, seq)` over all the samples of
//!   the fragment whose `start_ms` is `Time` (whole fragment, that one track only), with the
//!   *stored* times: the `tfdt` is the stored decode time (ms × 90 for video), not rebased.
//!
//! # Timing contract
//!
//! MPD times use a 1000 Hz `timescale` (milliseconds, the stored clock), whatever the track's
//! MP4 timescale: the `timescale` of a SegmentTemplate only scales the MPD's own numbers, and
//! epoch milliseconds stay exact in a JavaScript double (epoch ms × 90 kHz do not: ~1.5e17 >
//! 2^53). [`DashFragment::start_ms`] is the presentation time of the fragment's first frame on
//! the clock the segments' `tfdt` use (stored timecodes, so `tfdt / 90` for video without
//! B-frames). Each Period has an anchor `P` (ms): the timeline origin for the first Period, the
//! start of its first fragment for later ones; it is written as `presentationTimeOffset="P"`
//! and `start = P - origin`. So every fragment's MPD time is `start_ms - origin` in every
//! Period and every manifest of a session, the player maps the stored `tfdt` back onto the MPD
//! timeline, and when a sliding live window drops a Period's first fragments nothing moves.
//! The origin is the first fragment's start for [`DashKind::Static`] (the presentation starts
//! at 0) and [`DashKind::Dynamic::timeline_origin_ms`] for live sessions.
//!
//! Each `S@d` runs to the next fragment's start when the two are contiguous, that is when the
//! space between the end of one fragment and the start of the next is at most
//! [`CONTIGUOUS_MS`] (playback's discontinuity threshold). A producer that cuts one fragment per
//! keyframe (kvssink on a busy scene) makes fragments of a few frames, down to one: their stored
//! durations are estimates from frame spacing, a few ms off their real spacing, and a one-frame
//! fragment whose track has no DefaultDuration (the KVS producer SDK writes none) is stored
//! with duration 0. Taken as they are, those would leave ms-wide holes in the timeline or make
//! the manifest unwritable; a fragment of unknown duration is given [`LONE_FRAME_MS`] instead.
//! Longer gaps stay gaps in the timeline (players jump them); overlaps are removed by
//! shortening the earlier fragment's `d`, since a timeline cannot go back.
//!
//! Dynamic manifests also carry the server's clock (`UTCTiming` direct, = `publishTime`), so
//! players need no time server. A LIVE_REPLAY session should stay [`DashKind::Dynamic`] to its
//! end (with the same origin): a static manifest would re-anchor the timeline at its first
//! fragment.

use std::fmt::Write as _;

use super::fmp4;
use crate::error::ErrorKind;
use crate::media::{Codec, MediaTrack};
use crate::store::index::TimestampKind;

/// Placeholder for the track header id in [`DashOptions::init_url`].
pub const TRACK_HEADER: &str = "$TrackHeader$";
/// Placeholder for the MKV track number in both URL templates.
pub const TRACK_NUMBER: &str = "$TrackNumber$";
/// The DASH template identifier (ISO/IEC 23009-1 §5.3.9.4.4) the player replaces by a
/// segment's `S@t` in [`DashOptions::media_url`].
pub const TIME: &str = "$Time$";
/// Namespace of the `kvs:ts` / `kvs:fn` attributes. KVS does not document its URI; custom
/// players read the attributes by their qualified names.
pub const KVS_NAMESPACE: &str = "urn:vidstream:kvs:dash";
/// MPD timescale: milliseconds (see the module doc).
pub const MPD_TIMESCALE: u32 = 1000;
/// Space between one fragment's end and the next one's start up to which the two are taken as
/// contiguous (the earlier `d` runs to the later `t`): the gap below which playback sees no
/// discontinuity (KVS: 50 ms), more than a frame interval at 30 fps.
pub const CONTIGUOUS_MS: i64 = 50;
/// Duration assumed for a fragment stored with none (one frame, no DefaultDuration): one frame
/// at 30 fps, for when no later fragment says how long it lasts.
pub const LONE_FRAME_MS: i64 = 33;

/// Manifest type (ISO/IEC 23009-1 §5.3.1.2 `MPD@type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DashKind {
    /// `type="static"`: ON_DEMAND, a fixed list of fragments starting at 0.
    Static,
    /// `type="dynamic"`: LIVE and LIVE_REPLAY, refetched every `min_update_period_ms`.
    Dynamic {
        /// `availabilityStartTime`, epoch ms: the wall-clock time of MPD time 0. A segment
        /// counts as available from `availability_start_ms + (start_ms - timeline_origin_ms)
        /// + duration_ms` on, so with a producer clock close to wall-clock time choose
        /// `availability_start_ms ≈ timeline_origin_ms` (plus the ingest latency).
        availability_start_ms: i64,
        /// The media time (the [`DashFragment::start_ms`] clock) that MPD time 0 stands for.
        /// Keep it fixed for the whole session, at or before every fragment it will list.
        timeline_origin_ms: i64,
        /// `publishTime`, epoch ms: when this manifest was made, by the server's clock; also
        /// written as a `UTCTiming` (direct) so players use the server's clock.
        publish_ms: i64,
        /// `minimumUpdatePeriod`: how often players refetch the manifest.
        min_update_period_ms: u64,
        /// `timeShiftBufferDepth`: how far behind the live edge players may seek.
        time_shift_buffer_ms: u64,
        /// `suggestedPresentationDelay`: how far behind the live edge players should play.
        suggested_delay_ms: u64,
    },
}

/// One stored fragment, as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashFragment {
    /// Its FragmentNumber (decimal digits only; goes into `kvs:fn`).
    pub number: String,
    /// Presentation time of its first frame, ms, on the clock of the segments' `tfdt`.
    pub start_ms: i64,
    /// Its duration, ms (≥ 0; 0 for one frame of unknown duration, see the module doc).
    pub duration_ms: i64,
    /// Producer timestamp, epoch ms (`kvs:ts` for [`TimestampKind::Producer`]).
    pub producer_ms: i64,
    /// Server (arrival) timestamp, epoch ms (`kvs:ts` for [`TimestampKind::Server`]).
    pub server_ms: i64,
    /// The track header it was stored under (see [`DashTrackHeader`]).
    pub track_header_id: i64,
    /// Stored size in bytes, for `@bandwidth`; 0 when unknown.
    pub size_bytes: u64,
}

/// The tracks of one stored track header.
#[derive(Debug, Clone, PartialEq)]
pub struct DashTrackHeader {
    /// Its id, as in [`DashFragment::track_header_id`].
    pub id: i64,
    /// Its tracks (`media::tracks`); those fMP4 cannot carry are left out of the manifest.
    pub tracks: Vec<MediaTrack>,
}

/// What to write besides the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DashOptions {
    /// DisplayFragmentTimestamp=ALWAYS: `kvs:ts` (epoch ms) on each `S`, the producer or
    /// server timestamp after the session's FragmentSelectorType.
    pub display_fragment_timestamp: Option<TimestampKind>,
    /// DisplayFragmentNumber=ALWAYS: `kvs:fn` (the FragmentNumber) on each `S`.
    pub display_fragment_number: bool,
    /// Initialization URL template (see the module doc).
    pub init_url: String,
    /// Media segment URL template (see the module doc).
    pub media_url: String,
}

/// Why a manifest could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DashError {
    /// Nothing to list.
    #[error("no fragments to list in the dash manifest")]
    NoFragments,
    /// A FragmentNumber that is not 1–128 decimal digits.
    #[error("fragment number `{0}` is not 1-128 decimal digits")]
    FragmentNumber(String),
    /// A fragment with a negative duration.
    #[error("fragment {number} has duration {duration_ms} ms; it must not be negative")]
    Duration {
        /// Its number.
        number: String,
        /// Its duration.
        duration_ms: i64,
    },
    /// Fragments not in strictly increasing start order.
    #[error("fragment {number} starts at {start_ms} ms, not after the one before it")]
    Unordered {
        /// Its number.
        number: String,
        /// Its start.
        start_ms: i64,
    },
    /// A fragment before the dynamic timeline origin.
    #[error("fragment {number} starts at {start_ms} ms, before the timeline origin {origin_ms}")]
    BeforeOrigin {
        /// Its number.
        number: String,
        /// Its start.
        start_ms: i64,
        /// The origin.
        origin_ms: i64,
    },
    /// A fragment's track header is not among those given.
    #[error("track header {0} is not known; pass its tracks in the headers")]
    UnknownTrackHeader(i64),
    /// A track header with no H.264, H.265 or AAC track.
    #[error("track header {id} has no track dash can carry (codecs: {codecs})")]
    NoTracks {
        /// The header.
        id: i64,
        /// Its codecs.
        codecs: String,
    },
    /// A URL template lacks a placeholder it needs.
    #[error("the {which} url template must contain {placeholder}")]
    Template {
        /// `init` or `media`.
        which: &'static str,
        /// The missing placeholder.
        placeholder: &'static str,
    },
}

impl DashError {
    /// The KVS error kind: no fragments is a missing resource; the rest are bad inputs from the
    /// caller's selection or stored media that cannot be served as DASH.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DashError::NoFragments => ErrorKind::ResourceNotFound,
            _ => ErrorKind::InvalidArgument,
        }
    }
}

/// Writes the MPD for `fragments` (in start order), whose track headers are in `headers`.
pub fn manifest(
    kind: &DashKind,
    headers: &[DashTrackHeader],
    fragments: &[DashFragment],
    opts: &DashOptions,
) -> Result<String, DashError> {
    let first = fragments.first().ok_or(DashError::NoFragments)?;
    let durations = checked_durations(fragments)?;
    let origin = match kind {
        DashKind::Static => first.start_ms,
        DashKind::Dynamic {
            timeline_origin_ms, ..
        } => *timeline_origin_ms,
    };
    if first.start_ms < origin {
        return Err(DashError::BeforeOrigin {
            number: first.number.clone(),
            start_ms: first.start_ms,
            origin_ms: origin,
        });
    }
    let periods = periods(headers, fragments)?;
    check_templates(opts, &periods)?;

    let mut x = Xml::default();
    x.out
        .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let mut root: Vec<(&str, String)> = vec![
        ("xmlns", "urn:mpeg:dash:schema:mpd:2011".into()),
        ("xmlns:kvs", KVS_NAMESPACE.into()),
        ("profiles", "urn:mpeg:dash:profile:isoff-main:2011".into()),
        ("minBufferTime", xs_duration(2000)),
    ];
    match kind {
        DashKind::Static => {
            let last = fragments.len() - 1;
            let end = fragments[last].start_ms.saturating_add(durations[last]);
            root.push(("type", "static".into()));
            root.push(("mediaPresentationDuration", xs_duration(end - origin)));
        }
        DashKind::Dynamic {
            availability_start_ms,
            publish_ms,
            min_update_period_ms,
            time_shift_buffer_ms,
            suggested_delay_ms,
            ..
        } => {
            let ms = |v: u64| xs_duration(i64::try_from(v).unwrap_or(i64::MAX));
            root.push(("type", "dynamic".into()));
            root.push(("availabilityStartTime", xs_datetime(*availability_start_ms)));
            root.push(("publishTime", xs_datetime(*publish_ms)));
            root.push(("minimumUpdatePeriod", ms(*min_update_period_ms)));
            root.push(("timeShiftBufferDepth", ms(*time_shift_buffer_ms)));
            root.push(("suggestedPresentationDelay", ms(*suggested_delay_ms)));
        }
    }
    x.open("MPD", &root);
    let mut seen: Vec<i64> = Vec::new();
    for (i, p) in periods.iter().enumerate() {
        let anchor = if i == 0 {
            origin
        } else {
            fragments[p.range.start].start_ms
        };
        let repeat = seen.iter().filter(|&&h| h == p.header.id).count();
        seen.push(p.header.id);
        x.open(
            "Period",
            &[
                ("id", format!("th{}-{repeat}", p.header.id)),
                ("start", xs_duration(anchor - origin)),
            ],
        );
        for (set_id, track) in p.tracks.iter().enumerate() {
            let frags = &fragments[p.range.clone()];
            let durs = &durations[p.range.clone()];
            adaptation_set(
                &mut x,
                set_id,
                track,
                p.header.id,
                anchor,
                frags,
                durs,
                opts,
            );
        }
        x.close();
    }
    if let DashKind::Dynamic { publish_ms, .. } = kind {
        // The server's clock, carried in the manifest itself (§5.8.5.7 `urn:mpeg:dash:utc:
        // direct:2014`): live players place the live edge by it, and need no time server.
        let clock = [
            ("schemeIdUri", "urn:mpeg:dash:utc:direct:2014".into()),
            ("value", xs_datetime(*publish_ms)),
        ];
        x.empty("UTCTiming", &clock);
    }
    x.close();
    Ok(x.out)
}

/// A run of consecutive fragments under one track header.
struct Period<'a> {
    header: &'a DashTrackHeader,
    /// Its supported tracks: video first, then audio.
    tracks: Vec<&'a MediaTrack>,
    range: std::ops::Range<usize>,
}

/// Groups fragments into Periods, one per run of the same track header.
fn periods<'a>(
    headers: &'a [DashTrackHeader],
    fragments: &[DashFragment],
) -> Result<Vec<Period<'a>>, DashError> {
    let mut out: Vec<Period<'a>> = Vec::new();
    for (i, f) in fragments.iter().enumerate() {
        if let Some(p) = out.last_mut().filter(|p| p.header.id == f.track_header_id) {
            p.range.end = i + 1;
            continue;
        }
        let header = headers
            .iter()
            .find(|h| h.id == f.track_header_id)
            .ok_or(DashError::UnknownTrackHeader(f.track_header_id))?;
        let mut tracks: Vec<&MediaTrack> = header
            .tracks
            .iter()
            .filter(|t| matches!(t.codec, Codec::H264 { .. } | Codec::H265 { .. }))
            .collect();
        tracks.extend(
            header
                .tracks
                .iter()
                .filter(|t| matches!(t.codec, Codec::Aac { .. })),
        );
        if tracks.is_empty() {
            let codecs: Vec<&str> = header.tracks.iter().map(|t| t.codec.name()).collect();
            return Err(DashError::NoTracks {
                id: header.id,
                codecs: codecs.join(", "),
            });
        }
        out.push(Period {
            header,
            tracks,
            range: i..i + 1,
        });
    }
    Ok(out)
}

/// Validates numbers, durations and order; returns each fragment's timeline `d` (see the module
/// doc): its duration ([`LONE_FRAME_MS`] when unknown), run to the next fragment's start when
/// they are contiguous or overlap.
fn checked_durations(fragments: &[DashFragment]) -> Result<Vec<i64>, DashError> {
    let mut out = Vec::with_capacity(fragments.len());
    for (i, f) in fragments.iter().enumerate() {
        let digits = !f.number.is_empty()
            && f.number.len() <= 128
            && f.number.bytes().all(|b| b.is_ascii_digit());
        if !digits {
            return Err(DashError::FragmentNumber(f.number.clone()));
        }
        if f.duration_ms < 0 {
            return Err(DashError::Duration {
                number: f.number.clone(),
                duration_ms: f.duration_ms,
            });
        }
        let mut d = match f.duration_ms {
            0 => LONE_FRAME_MS,
            d => d,
        };
        if let Some(next) = fragments.get(i + 1) {
            if next.start_ms <= f.start_ms {
                return Err(DashError::Unordered {
                    number: next.number.clone(),
                    start_ms: next.start_ms,
                });
            }
            let to_next = next.start_ms - f.start_ms;
            if to_next.saturating_sub(d) <= CONTIGUOUS_MS {
                d = to_next;
            }
        }
        debug_assert!(d > 0, "a timeline duration is positive");
        out.push(d);
    }
    Ok(out)
}

/// Checks that the URL templates can tell apart every URL the manifest will hold.
fn check_templates(opts: &DashOptions, periods: &[Period<'_>]) -> Result<(), DashError> {
    let need = |which, url: &str, placeholder| match url.contains(placeholder) {
        true => Ok(()),
        false => Err(DashError::Template { which, placeholder }),
    };
    need("media", &opts.media_url, TIME)?;
    if periods.iter().any(|p| p.tracks.len() > 1) {
        need("init", &opts.init_url, TRACK_NUMBER)?;
        need("media", &opts.media_url, TRACK_NUMBER)?;
    }
    let mut ids = periods.iter().map(|p| p.header.id);
    let first = ids.next();
    if ids.any(|id| Some(id) != first) {
        need("init", &opts.init_url, TRACK_HEADER)?;
    }
    Ok(())
}

/// One AdaptationSet with its one Representation and SegmentTemplate.
#[allow(clippy::too_many_arguments)]
fn adaptation_set(
    x: &mut Xml,
    set_id: usize,
    track: &MediaTrack,
    header_id: i64,
    anchor: i64,
    frags: &[DashFragment],
    durs: &[i64],
    opts: &DashOptions,
) {
    let audio = matches!(track.codec, Codec::Aac { .. });
    let content = if audio { "audio" } else { "video" };
    let mut set: Vec<(&str, String)> = vec![
        ("id", set_id.to_string()),
        ("contentType", content.into()),
        ("mimeType", format!("{content}/mp4")),
        ("segmentAlignment", "true".into()),
    ];
    if !audio {
        set.push(("startWithSAP", "1".into()));
    }
    x.open("AdaptationSet", &set);

    let total_ms: i64 = durs.iter().sum();
    let bytes: u64 = frags.iter().map(|f| f.size_bytes).sum();
    let bandwidth = match (audio, bytes, u64::try_from(total_ms)) {
        (false, b, Ok(ms)) if b > 0 && ms > 0 => (b.saturating_mul(8_000) / ms).max(1),
        (false, ..) => 2_000_000,
        (true, ..) => 128_000,
    };
    let mut rep: Vec<(&str, String)> = vec![
        ("id", format!("{}{}", &content[..1], track.number)),
        ("bandwidth", bandwidth.to_string()),
    ];
    if let Some(codecs) = fmp4::codec_string(track) {
        rep.push(("codecs", codecs));
    }
    if audio {
        rep.push(("audioSamplingRate", fmp4::timescale(track).to_string()));
    } else {
        if let Some((w, h)) = track.video.filter(|&(w, h)| w > 0 && h > 0) {
            rep.push(("width", w.to_string()));
            rep.push(("height", h.to_string()));
        }
        if let Some(rate) = frame_rate(track) {
            rep.push(("frameRate", rate));
        }
    }
    x.open("Representation", &rep);
    if let Some((_, channels)) = track.audio.filter(|&(_, c)| c > 0) {
        x.empty(
            "AudioChannelConfiguration",
            &[
                (
                    "schemeIdUri",
                    "urn:mpeg:dash:23003:3:audio_channel_configuration:2011".into(),
                ),
                ("value", channels.to_string()),
            ],
        );
    }
    let number = track.number.to_string();
    let init = opts
        .init_url
        .replace(TRACK_HEADER, &header_id.to_string())
        .replace(TRACK_NUMBER, &number);
    let media = opts.media_url.replace(TRACK_NUMBER, &number);
    x.open(
        "SegmentTemplate",
        &[
            ("timescale", MPD_TIMESCALE.to_string()),
            ("presentationTimeOffset", anchor.to_string()),
            ("initialization", template_literal(&init)),
            (
                "media",
                media
                    .split(TIME)
                    .map(template_literal)
                    .collect::<Vec<_>>()
                    .join(TIME),
            ),
        ],
    );
    x.open("SegmentTimeline", &[]);
    for (f, &d) in frags.iter().zip(durs) {
        let mut s: Vec<(&str, String)> = vec![("t", f.start_ms.to_string()), ("d", d.to_string())];
        if let Some(kind) = opts.display_fragment_timestamp {
            let ts = match kind {
                TimestampKind::Producer => f.producer_ms,
                TimestampKind::Server => f.server_ms,
            };
            s.push(("kvs:ts", ts.to_string()));
        }
        if opts.display_fragment_number {
            s.push(("kvs:fn", f.number.clone()));
        }
        x.empty("S", &s);
    }
    x.close();
    x.close(); // SegmentTemplate
    x.close(); // Representation
    x.close(); // AdaptationSet
}

/// `v` as literal text in a SegmentTemplate URL: `$` is written `$$` (§5.3.9.4.4).
fn template_literal(v: &str) -> String {
    v.replace('$', "$$")
}

/// `@frameRate` (`N` or `N/1001`) from the track's default duration, when it is a common rate.
fn frame_rate(track: &MediaTrack) -> Option<String> {
    let ns = track.default_duration_ns.filter(|&n| n > 0)?;
    let fps = 1e9 / ns as f64;
    let whole = fps.round();
    if whole >= 1.0 && (fps - whole).abs() < 0.01 {
        return Some(format!("{}", whole as u64));
    }
    let ntsc = (fps * 1.001).round();
    if ntsc >= 1.0 && (fps * 1.001 - ntsc).abs() < 0.01 {
        return Some(format!("{}/1001", ntsc as u64 * 1000));
    }
    None
}

/// `xs:duration` of a non-negative number of ms: `PT12.345S`.
fn xs_duration(ms: i64) -> String {
    let ms = ms.max(0);
    format!("PT{}.{:03}S", ms / 1000, ms % 1000)
}

/// `xs:dateTime` in UTC of epoch ms: `2024-09-18T16:41:27.758Z` (proleptic Gregorian).
fn xs_datetime(ms: i64) -> String {
    crate::time::rfc3339_ms(ms)
}

/// A minimal XML writer: indented elements, escaped attribute values.
#[derive(Default)]
struct Xml {
    out: String,
    open: Vec<&'static str>,
}

impl Xml {
    fn start(&mut self, name: &str, attrs: &[(&str, String)]) {
        for _ in 0..self.open.len() {
            self.out.push_str("  ");
        }
        self.out.push('<');
        self.out.push_str(name);
        for (k, v) in attrs {
            let _ = write!(self.out, " {k}=\"{}\"", escape(v));
        }
    }

    fn open(&mut self, name: &'static str, attrs: &[(&str, String)]) {
        self.start(name, attrs);
        self.out.push_str(">\n");
        self.open.push(name);
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, String)]) {
        self.start(name, attrs);
        self.out.push_str("/>\n");
    }

    fn close(&mut self) {
        if let Some(name) = self.open.pop() {
            for _ in 0..self.open.len() {
                self.out.push_str("  ");
            }
            let _ = writeln!(self.out, "</{name}>");
        }
    }
}

/// Escapes an attribute value (XML 1.0 §2.4, §3.3.3: `&`, `<`, `"`; also `>`, `'`, and
/// whitespace controls, which attribute normalization would otherwise turn into spaces).
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            c if (c as u32) < 0x20 => {} // not allowed in XML 1.0 at all
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
