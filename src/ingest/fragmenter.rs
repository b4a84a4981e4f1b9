//! The fragmenter: a pure state machine from MKV events to sealed fragments. No clock (the
//! caller passes the arrival time), no I/O.
//!
//! PutMedia semantics (KVS-API.md §1.3, §1.8): each Cluster is one fragment; Tags that follow a
//! Cluster are that fragment's metadata. A fragment is sealed as soon as its end is known: when
//! the next Cluster starts, when an `AWS_KINESISVIDEO_END_OF_FRAGMENT` tag arrives, or when the
//! input ends — never held back waiting for more data.
//!
//! Stored clusters are normalized: absolute timecodes in milliseconds (TimecodeScale 1 ms,
//! RELATIVE timecodes rebased on the producer start timestamp), one SimpleBlock per frame.

use std::sync::Arc;

use bytes::Bytes;

use super::error::{AckErrorId, IngestError};
use crate::mkv::{self, Event, Frame, ParseError, ParseErrorKind, TagValue, Track};
use crate::store::fragment::{
    FLAG_DISCARDABLE, FLAG_INVISIBLE, FLAG_KEY, FrameEntry, TrackHeader, Trailer,
};

/// The tag that ends a fragment at once.
pub const END_OF_FRAGMENT_TAG: &str = "AWS_KINESISVIDEO_END_OF_FRAGMENT";

/// Stored timecodes are in milliseconds.
pub const STORED_TIMECODE_SCALE: u64 = 1_000_000;

/// Latest producer timestamp accepted (year 9999), in epoch ms.
const MAX_PRODUCER_MS: i64 = 253_402_300_799_000;

/// How cluster timecodes relate to wall time (`x-amzn-fragment-timecode-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimecodeType {
    /// Cluster timecodes are epoch time.
    Absolute,
    /// Cluster timecodes count from this producer start time (epoch ms).
    Relative {
        /// `x-amzn-producer-start-timestamp`, in ms.
        start_ms: i64,
    },
}

/// Limits a fragment must respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentLimits {
    /// Largest fragment, in payload bytes (4001).
    pub max_bytes: u64,
    /// Longest fragment (4002).
    pub max_duration_ms: i64,
    /// Most metadata tags per fragment (4009).
    pub max_tags: usize,
    /// Longest tag name in bytes (4009).
    pub max_tag_name: usize,
    /// Longest tag value in bytes (4009).
    pub max_tag_value: usize,
}

impl Default for FragmentLimits {
    fn default() -> Self {
        FragmentLimits {
            max_bytes: 50 * 1000 * 1000,
            max_duration_ms: 30_000,
            max_tags: 10,
            max_tag_name: 128,
            max_tag_value: 256,
        }
    }
}

/// What the fragmenter tells its caller.
#[derive(Debug, Clone)]
pub enum Output {
    /// A fragment's first byte arrived (BUFFERING ack).
    Started {
        /// The Cluster Timecode in ms as the producer sent it (the acks' `FragmentTimecode`).
        fragment_timecode_ms: i64,
        /// Producer timestamp of the cluster, epoch ms.
        producer_ms: i64,
        /// When its first byte arrived, epoch ms.
        server_ms: i64,
        /// The tracks it is produced under.
        track_header: Arc<TrackHeader>,
    },
    /// A frame of the fragment in progress was accepted (for live readers).
    Frame {
        /// MKV track number.
        track: u64,
        /// Milliseconds from the fragment's producer timestamp.
        rel_ms: i16,
        /// Keyframe flag.
        keyframe: bool,
        /// Payload.
        data: Bytes,
    },
    /// A fragment is complete (RECEIVED ack, then persist).
    Sealed(SealedFragment),
}

/// A complete fragment, ready to store.
#[derive(Debug, Clone)]
pub struct SealedFragment {
    /// The acks' `FragmentTimecode`.
    pub fragment_timecode_ms: i64,
    /// Producer timestamp of the cluster, epoch ms.
    pub producer_ms: i64,
    /// Timestamp of the fragment's last frame, epoch ms.
    pub last_frame_ms: i64,
    /// When its first byte arrived, epoch ms.
    pub server_ms: i64,
    /// Playback duration.
    pub duration_ms: i64,
    /// The tracks it was produced under.
    pub track_header: Arc<TrackHeader>,
    /// Normalized cluster bytes.
    pub cluster: Bytes,
    /// Frame table and metadata tags.
    pub trailer: Trailer,
}

struct Building {
    /// Cluster timecode in ms, as sent.
    sent_ms: i64,
    /// Cluster timecode in epoch ms.
    abs_ms: i64,
    server_ms: i64,
    frames: Vec<(Frame, i64)>,
    bytes: u64,
    tags: Vec<(String, String)>,
}

/// Frames in, fragments out.
pub struct Fragmenter {
    timecode_type: TimecodeType,
    limits: FragmentLimits,
    timecode_scale: u64,
    tracks: Option<(Vec<Track>, Arc<TrackHeader>)>,
    segments: u32,
    current: Option<Building>,
    /// The previous fragment's last frame, epoch ms (also from an earlier connection).
    last_frame_ms: Option<i64>,
    /// The Cluster Timecode (ms, as sent) of the last cluster started: an error is about the
    /// fragment it starts, and its ERROR ack says so.
    last_cluster_ms: Option<i64>,
}

fn err(id: AckErrorId, message: impl Into<String>) -> IngestError {
    IngestError::new(id, message)
}

/// Maps a reader error to the ack KVS would send.
pub fn parse_error_to_ack(e: &ParseError) -> IngestError {
    let id = match &e.kind {
        ParseErrorKind::TooManyTracks { .. } => AckErrorId::MoreThanAllowedTracksFound,
        ParseErrorKind::TooLarge { id, .. }
            if *id == mkv::ids::SIMPLE_BLOCK
                || *id == mkv::ids::BLOCK
                || *id == mkv::ids::BLOCK_GROUP =>
        {
            AckErrorId::MaxFragmentSizeReached
        }
        ParseErrorKind::TooManyTags(_) => AckErrorId::FragmentMetadataLimitReached,
        ParseErrorKind::TooLarge { id, .. }
            if *id == mkv::ids::TAG_NAME
                || *id == mkv::ids::TAG_STRING
                || *id == mkv::ids::TAG_BINARY =>
        {
            AckErrorId::FragmentMetadataLimitReached
        }
        _ => AckErrorId::InvalidMkvData,
    };
    err(id, e.to_string())
}

impl Fragmenter {
    /// A fragmenter for one PutMedia body. `last_frame_ms` is the stream's last stored frame, so
    /// a reconnecting producer cannot go back in time either.
    pub fn new(
        timecode_type: TimecodeType,
        limits: FragmentLimits,
        last_frame_ms: Option<i64>,
    ) -> Self {
        Fragmenter {
            timecode_type,
            limits,
            timecode_scale: 1_000_000,
            tracks: None,
            segments: 0,
            current: None,
            last_frame_ms,
            last_cluster_ms: None,
        }
    }

    /// The `FragmentTimecode` an ERROR ack should carry: the timecode, as the producer sent it,
    /// of the last cluster started (the fragment an error is about); `None` before any cluster.
    pub fn error_timecode_ms(&self) -> Option<i64> {
        self.last_cluster_ms
    }

    /// Whether a fragment is in progress (its bytes are held in memory).
    pub fn in_progress(&self) -> bool {
        self.current.is_some()
    }

    /// Payload bytes held for the fragment in progress.
    pub fn buffered_bytes(&self) -> u64 {
        self.current.as_ref().map_or(0, |c| c.bytes)
    }

    /// Feeds one reader event that arrived at `server_ms`, appending what it completes to `out`
    /// (outputs produced before an error stay there: a fragment sealed by the cluster that then
    /// turns out to be invalid is still good).
    pub fn push(
        &mut self,
        ev: Event,
        server_ms: i64,
        out: &mut Vec<Output>,
    ) -> Result<(), IngestError> {
        match ev {
            Event::Header(_) => {
                if self.segments > 0 {
                    return Err(err(
                        AckErrorId::InvalidMkvData,
                        "a second MKV document in one PutMedia body; send one segment per request",
                    ));
                }
            }
            Event::SegmentStart { .. } => {
                self.segments += 1;
                if self.segments > 1 {
                    return Err(err(
                        AckErrorId::InvalidMkvData,
                        "a second Segment in one PutMedia body",
                    ));
                }
            }
            Event::Info(info) => {
                if info.timecode_scale == 0 {
                    return Err(err(AckErrorId::InvalidMkvData, "TimecodeScale is 0"));
                }
                if self.tracks.is_some() && info.timecode_scale != self.timecode_scale {
                    return Err(err(
                        AckErrorId::InvalidMkvData,
                        "TimecodeScale changed after Tracks",
                    ));
                }
                self.timecode_scale = info.timecode_scale;
            }
            Event::Tracks(tracks) => self.set_tracks(tracks)?,
            Event::ClusterStart { timecode, .. } => {
                if let Some(done) = self.seal()? {
                    out.push(Output::Sealed(done));
                }
                if self.tracks.is_none() {
                    return Err(err(AckErrorId::InvalidMkvData, "Cluster before Tracks"));
                }
                let sent_ms = self.to_ms(i128::from(timecode))?;
                self.last_cluster_ms = Some(sent_ms);
                let abs_ms = self.absolute(sent_ms)?;
                // Out of order is known at the cluster header already: say so at once.
                if let Some(prev) = self.last_frame_ms
                    && abs_ms <= prev
                {
                    return Err(err(
                        AckErrorId::FragmentTimecodeLesserThanPrevious,
                        format!(
                            "cluster at {abs_ms} ms does not start after the previous fragment's last frame at {prev} ms"
                        ),
                    ));
                }
                self.current = Some(Building {
                    sent_ms,
                    abs_ms,
                    server_ms,
                    frames: Vec::new(),
                    bytes: 0,
                    tags: Vec::new(),
                });
                let track_header = self
                    .tracks
                    .as_ref()
                    .map(|(_, h)| Arc::clone(h))
                    .ok_or_else(|| err(AckErrorId::InvalidMkvData, "Cluster before Tracks"))?;
                out.push(Output::Started {
                    fragment_timecode_ms: sent_ms,
                    producer_ms: abs_ms,
                    server_ms,
                    track_header,
                });
            }
            Event::Frame(f) => self.add_frame(f, out)?,
            Event::ClusterEnd => {}
            Event::Tags(tags) => {
                let mut end = false;
                for t in tags {
                    if t.name == END_OF_FRAGMENT_TAG {
                        end = true;
                        continue;
                    }
                    self.add_tag(t.name, t.value)?;
                }
                if end && let Some(done) = self.seal()? {
                    out.push(Output::Sealed(done));
                }
            }
            Event::SegmentEnd => {
                if let Some(done) = self.seal()? {
                    out.push(Output::Sealed(done));
                }
            }
        }
        Ok(())
    }

    /// The input ended: seals the fragment in progress, if any.
    pub fn finish(&mut self, out: &mut Vec<Output>) -> Result<(), IngestError> {
        if let Some(done) = self.seal()? {
            out.push(Output::Sealed(done));
        }
        Ok(())
    }

    fn set_tracks(&mut self, tracks: Vec<Track>) -> Result<(), IngestError> {
        if self.tracks.is_some() {
            return Err(err(AckErrorId::InvalidMkvData, "a second Tracks element"));
        }
        if tracks.is_empty() {
            return Err(err(AckErrorId::InvalidMkvData, "Tracks has no TrackEntry"));
        }
        if tracks.len() > 3 {
            return Err(err(
                AckErrorId::MoreThanAllowedTracksFound,
                format!("{} tracks; at most 3 are allowed", tracks.len()),
            ));
        }
        if let Some(t) = tracks.iter().find(|t| t.number > 255) {
            return Err(err(
                AckErrorId::InvalidMkvData,
                format!("track number {} is over 255", t.number),
            ));
        }
        let mut encoded = Vec::new();
        mkv::write_tracks(&mut encoded, &tracks);
        let header = Arc::new(TrackHeader {
            timecode_scale: STORED_TIMECODE_SCALE,
            tracks: encoded.into(),
        });
        self.tracks = Some((tracks, header));
        Ok(())
    }

    /// Timecode units → ms, rounding to nearest.
    fn to_ms(&self, units: i128) -> Result<i64, IngestError> {
        let ns = units * i128::from(self.timecode_scale);
        let ms = (ns + ns.signum() * 500_000) / 1_000_000;
        i64::try_from(ms).map_err(|_| {
            err(
                AckErrorId::InvalidProducerTimestamp,
                "timecode out of range",
            )
        })
    }

    fn absolute(&self, ms: i64) -> Result<i64, IngestError> {
        let abs = match self.timecode_type {
            TimecodeType::Absolute => Some(ms),
            TimecodeType::Relative { start_ms } => start_ms.checked_add(ms),
        };
        match abs {
            Some(a) if (0..=MAX_PRODUCER_MS).contains(&a) => Ok(a),
            _ => Err(err(
                AckErrorId::InvalidProducerTimestamp,
                format!("producer timestamp {abs:?} ms is out of range"),
            )),
        }
    }

    fn add_frame(&mut self, f: Frame, out: &mut Vec<Output>) -> Result<(), IngestError> {
        let frame_ms = self.to_ms(i128::from(f.timecode))?;
        let frame_abs = self.absolute(frame_ms)?;
        let known = self
            .tracks
            .as_ref()
            .is_some_and(|(t, _)| t.iter().any(|t| t.number == f.track));
        if !known {
            return Err(err(
                AckErrorId::TrackNumberMismatch,
                format!("a block for track {} that Tracks does not declare", f.track),
            ));
        }
        let limits = self.limits;
        let Some(cur) = self.current.as_mut() else {
            return Err(err(AckErrorId::InvalidMkvData, "a frame outside a Cluster"));
        };
        cur.bytes = cur.bytes.saturating_add(f.data.len() as u64);
        if cur.bytes > limits.max_bytes {
            return Err(err(
                AckErrorId::MaxFragmentSizeReached,
                format!("fragment is over {} bytes", limits.max_bytes),
            ));
        }
        let rel = frame_abs - cur.abs_ms;
        if rel.abs() > limits.max_duration_ms || i16::try_from(rel).is_err() {
            return Err(err(
                AckErrorId::MaxFragmentDurationReached,
                format!(
                    "a frame {rel} ms from its cluster start; fragments are at most {} ms",
                    limits.max_duration_ms
                ),
            ));
        }
        out.push(Output::Frame {
            track: f.track,
            rel_ms: i16::try_from(rel).unwrap_or(i16::MAX),
            keyframe: f.keyframe,
            data: f.data.clone(),
        });
        cur.frames.push((f, frame_abs));
        Ok(())
    }

    fn add_tag(&mut self, name: String, value: TagValue) -> Result<(), IngestError> {
        let limits = self.limits;
        let Some(cur) = self.current.as_mut() else {
            // Segment-level tags before any cluster describe the file, not a fragment.
            return Ok(());
        };
        let TagValue::String(value) = value else {
            return Err(err(
                AckErrorId::FragmentMetadataLimitReached,
                format!("tag `{name}` has a binary value; fragment metadata must be text"),
            ));
        };
        if name.len() > limits.max_tag_name || value.len() > limits.max_tag_value {
            return Err(err(
                AckErrorId::FragmentMetadataLimitReached,
                format!(
                    "tag `{name}` is over the limits ({} byte names, {} byte values)",
                    limits.max_tag_name, limits.max_tag_value
                ),
            ));
        }
        if cur.tags.len() >= limits.max_tags {
            return Err(err(
                AckErrorId::FragmentMetadataLimitReached,
                format!(
                    "more than {} metadata tags on one fragment",
                    limits.max_tags
                ),
            ));
        }
        cur.tags.push((name, value));
        Ok(())
    }

    fn seal(&mut self) -> Result<Option<SealedFragment>, IngestError> {
        let Some(b) = self.current.take() else {
            return Ok(None);
        };
        let Some((tracks, header)) = &self.tracks else {
            return Err(err(AckErrorId::InvalidMkvData, "a fragment without Tracks"));
        };
        if let Some(t) = tracks
            .iter()
            .find(|t| !b.frames.iter().any(|(f, _)| f.track == t.number))
        {
            return Err(err(
                AckErrorId::FramesMissingForTrack,
                format!(
                    "fragment at {} ms has no frame for track {}",
                    b.sent_ms, t.number
                ),
            ));
        }
        let first = b.frames.iter().map(|(_, ms)| *ms).min().unwrap_or(b.abs_ms);
        let last = b.frames.iter().map(|(_, ms)| *ms).max().unwrap_or(b.abs_ms);
        if let Some(prev) = self.last_frame_ms
            && first <= prev
        {
            return Err(err(
                AckErrorId::FragmentTimecodeLesserThanPrevious,
                format!(
                    "fragment starts at {first} ms, not after the previous fragment's last frame at {prev} ms"
                ),
            ));
        }
        let blocks: Vec<(u64, i16, bool, &[u8])> = b
            .frames
            .iter()
            .map(|(f, ms)| {
                // Range-checked in add_frame.
                let rel = i16::try_from(ms - b.abs_ms).unwrap_or(i16::MAX);
                (f.track, rel, f.keyframe, &f.data[..])
            })
            .collect();
        let mut cluster = Vec::with_capacity(b.bytes as usize + 16 * blocks.len() + 32);
        let offsets = mkv::write_cluster(&mut cluster, b.abs_ms.max(0) as u64, &blocks);
        let frames = b
            .frames
            .iter()
            .zip(&offsets)
            .map(|((f, ms), &offset)| FrameEntry {
                track: f.track as u8,
                flags: (if f.keyframe { FLAG_KEY } else { 0 })
                    | (if f.invisible { FLAG_INVISIBLE } else { 0 })
                    | (if f.discardable { FLAG_DISCARDABLE } else { 0 }),
                rel_timecode: (ms - b.abs_ms) as i32,
                offset: offset as u32,
                len: f.data.len() as u32,
            })
            .collect();
        self.last_frame_ms = Some(last);
        Ok(Some(SealedFragment {
            fragment_timecode_ms: b.sent_ms,
            producer_ms: b.abs_ms,
            last_frame_ms: last,
            server_ms: b.server_ms,
            duration_ms: duration_ms(&b.frames, tracks, first, last),
            track_header: Arc::clone(header),
            cluster: cluster.into(),
            trailer: Trailer {
                cluster_crc: 0, // set by the store when it writes the fragment
                frames,
                tags: b.tags,
            },
        }))
    }
}

/// A fragment's duration: from its first frame (any track) to the end of the last frame of
/// its reference track (the first video track, else the first track), that end being the
/// frame's time plus the track's typical frame interval in this fragment (or its
/// DefaultDuration for a one-frame fragment).
///
/// Measured on one track, so audio frames that run a few ms past the next keyframe (an AAC
/// frame is 21-23 ms) do not make fragments 1000 ms apart last 1011-1032 ms and overlap.
fn duration_ms(frames: &[(Frame, i64)], tracks: &[Track], first: i64, last: i64) -> i64 {
    let track = tracks
        .iter()
        .find(|t| t.track_type == mkv::TrackType::Video)
        .or(tracks.first());
    let Some(track) = track else {
        return last - first;
    };
    let mut times: Vec<i64> = frames
        .iter()
        .filter(|(f, _)| f.track == track.number)
        .map(|(_, ms)| *ms)
        .collect();
    times.sort_unstable();
    let interval = if times.len() >= 2 {
        let span = times[times.len() - 1] - times[0];
        (span + (times.len() as i64 - 1) / 2) / (times.len() as i64 - 1)
    } else {
        track
            .default_duration
            .map_or(0, |ns| i64::try_from(ns / 1_000_000).unwrap_or(0))
    };
    let last = times.last().copied().unwrap_or(last);
    (last - first).saturating_add(interval).max(0)
}

#[cfg(test)]
#[path = "fragmenter_tests.rs"]
mod tests;
