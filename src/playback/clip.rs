//! GetClip: a progressive MP4 (moov first) of a time range of a stream, planned from the stored
//! fragments' frame tables and streamed from their stored bytes (the wire is `api::clip`).
//!
//! # What a clip holds
//! - **Fragments**: those overlapping `[StartTimestamp, EndTimestamp)` in the selector's clock
//!   (producer or server timestamps, as ListFragments reports them): the fragment containing the
//!   start (the last one starting at or before it, if it lasts past it) and every fragment
//!   starting after the start and before the end. Fragments with the same start timestamp are
//!   deduplicated (the highest fragment number wins, as KVS does: the tie rule of
//!   [`crate::media`]); a fragment whose media starts before the previous one's last frame (a
//!   producer that restarted with overlapping timestamps) is left out.
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
//! - **Limits** ([`ClipLimits`], from `[playback]`): at most `clip_max_fragments` fragments and
//!   `clip_max_bytes` bytes of media (KVS: 200 fragments, 100 MB), else
//!   [`ClipError::TooManyFragments`] / [`ClipError::TooManyBytes`] (`InvalidArgumentException`).
//! - **Errors** ([`ClipError`], in the KVS shape once `api` maps them):
//!   `ResourceNotFoundException` for a range without fragments, `NoDataRetentionException` for
//!   a stream that keeps no media, `UnsupportedStreamMediaTypeException` for a stream without
//!   H.264/H.265 video.
//!
//! # How it is sent
//! The clip is planned from the fragments' frame tables (each fragment is read once, one at a
//! time, and only its sample metadata kept), so the head (ftyp + moov + mdat header) and the
//! length are known before the first byte goes out ([`plan`]). Then [`Clip::into_body`] reads
//! the fragments again, one at a time, and sends the planned payloads of each. The segments stay
//! held ([`crate::store::Store::hold_segments`]) from the index query until the last byte is
//! out, so retention cannot delete them mid-clip. The whole clip is never in memory: at most one
//! fragment and a few chunks in the channel.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};

use super::fmp4::{ClipLayout, ClipSample, Fmp4Error, plan_clip};
use crate::config::PlaybackSettings;
use crate::error::ErrorKind;
use crate::media::{Codec, Media, MediaTrack, ReadError};
use crate::model::StreamRecord;
use crate::store::fragment::FragmentRecord;
use crate::store::index::TimestampKind;
use crate::store::{SegmentHold, StoreError};

/// How large a clip may be (`[playback]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClipLimits {
    /// Most fragments in one clip (`clip_max_fragments`).
    pub max_fragments: usize,
    /// Most bytes of media in one clip (`clip_max_bytes`).
    pub max_bytes: u64,
}

impl From<&PlaybackSettings> for ClipLimits {
    fn from(p: &PlaybackSettings) -> Self {
        ClipLimits {
            max_fragments: p.clip_max_fragments,
            max_bytes: p.clip_max_bytes,
        }
    }
}

/// The range a clip covers: `[start, end)` in epoch ms on the `kind` axis (`start < end`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClipRange {
    /// The timestamps the range is on.
    pub kind: TimestampKind,
    /// First ms.
    pub start: i64,
    /// Ms past the end.
    pub end: i64,
}

/// Why a clip cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    /// The stream keeps no media.
    #[error(
        "stream `{0}` keeps no media (DataRetentionInHours is 0); raise its retention with UpdateDataRetention to make clips"
    )]
    NoDataRetention(String),
    /// No media in the range (KVS's message).
    #[error("No fragments found in the given time range")]
    NoFragments,
    /// More fragments than [`ClipLimits::max_fragments`].
    #[error(
        "the clip would span more than {0} fragments, the limit ([playback] clip_max_fragments); ask for a shorter TimestampRange"
    )]
    TooManyFragments(usize),
    /// More media bytes than [`ClipLimits::max_bytes`].
    #[error(
        "the clip would hold {bytes} bytes of media, more than the limit of {max} bytes ([playback] clip_max_bytes); ask for a shorter TimestampRange"
    )]
    TooManyBytes {
        /// The clip's media bytes.
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// The stream's first fragment in the range has no H.264/H.265 video.
    #[error(
        "stream `{stream}` has no h.264 or h.265 video track (codecs: {codecs}); GetClip makes mp4 clips of h.264/h.265 video with optional aac audio"
    )]
    NoVideo {
        /// The stream.
        stream: String,
        /// The codecs it has, comma separated.
        codecs: String,
    },
    /// The clip cannot be laid out (an unsupported codec, among others).
    #[error(transparent)]
    Layout(Fmp4Error),
    /// Stored media could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
}

impl From<StoreError> for ClipError {
    fn from(e: StoreError) -> Self {
        ClipError::Read(e.into())
    }
}

impl ClipError {
    /// The error's kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ClipError::NoDataRetention(_) => ErrorKind::NoDataRetention,
            ClipError::NoFragments => ErrorKind::ResourceNotFound,
            ClipError::TooManyFragments(_) | ClipError::TooManyBytes { .. } => {
                ErrorKind::InvalidArgument
            }
            ClipError::NoVideo { .. } | ClipError::Layout(Fmp4Error::UnsupportedCodec(_)) => {
                ErrorKind::UnsupportedStreamMediaType
            }
            ClipError::Layout(e) => e.kind(),
            ClipError::Read(e) => e.kind(),
        }
    }
}

/// Where one planned sample's payload is: (index into the clip's fragments, offset in the
/// cluster, length).
type Source = (usize, u32, u32);

/// A planned clip, holding its segments: its length is known, its body is read when sent.
pub struct Clip {
    layout: ClipLayout,
    fragments: Vec<FragmentRecord>,
    sources: Vec<Source>,
    hold: SegmentHold,
}

/// Plans the clip of `range` of `stream` (see the module doc).
pub async fn plan(
    media: &Media,
    limits: ClipLimits,
    stream: &StreamRecord,
    range: ClipRange,
) -> Result<Clip, ClipError> {
    if stream.data_retention_hours == 0 {
        return Err(ClipError::NoDataRetention(stream.name.to_string()));
    }
    let started = std::time::Instant::now();
    let (records, hold) = overlapping(media, limits, stream, range).await?;
    if records.len() > limits.max_fragments {
        return Err(ClipError::TooManyFragments(limits.max_fragments));
    }
    let clip = plan_records(
        media,
        stream.name.as_str(),
        records,
        range,
        hold,
        limits.max_bytes,
    )
    .await?;
    if clip.layout.mdat_len > limits.max_bytes {
        return Err(ClipError::TooManyBytes {
            bytes: clip.layout.mdat_len,
            max: limits.max_bytes,
        });
    }
    tracing::info!(
        stream = %stream.name,
        fragments = clip.fragments.len(),
        samples = clip.layout.samples.len(),
        bytes = clip.layout.len(),
        duration_ms = clip.layout.duration_ms,
        plan_ms = started.elapsed().as_millis() as u64,
        "clip planned"
    );
    Ok(clip)
}

/// The fragments overlapping `range`, in media order (see the module doc), and a hold on their
/// segments taken right after the index queries.
async fn overlapping(
    media: &Media,
    limits: ClipLimits,
    stream: &StreamRecord,
    ClipRange { kind, start, end }: ClipRange,
) -> Result<(Vec<FragmentRecord>, SegmentHold), ClipError> {
    // A fragment starting at `end` has nothing before it: the range asked of the index is
    // inclusive, so it stops 1 ms short. Past the limit the listing stops: enough to refuse.
    let rows = media
        .timeline(stream.id, kind, start, end - 1, Some(limits.max_fragments))
        .await?;
    let hold = media.store().hold_segments(&rows);
    let rows = crate::media::from_time(rows, kind, start);
    if rows.is_empty() {
        return Err(ClipError::NoFragments);
    }
    Ok((rows, hold))
}

/// Reads each fragment's frame table and plans the clip over `records`, cut at the first
/// change of tracks.
async fn plan_records(
    media: &Media,
    stream: &str,
    mut records: Vec<FragmentRecord>,
    ClipRange { kind, start, end }: ClipRange,
    hold: SegmentHold,
    max_bytes: u64,
) -> Result<Clip, ClipError> {
    let first = records[0];
    let tracks = media.tracks(first.track_header_id).await?;
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

    if let Some(i) = track_change(media, &tracks, &records).await? {
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
        return Err(ClipError::NoFragments);
    }

    // Sample metadata of every fragment, read one at a time.
    let mut samples: Vec<ClipSample> = Vec::new();
    let mut sources: Vec<Source> = Vec::new();
    let mut kept: Vec<FragmentRecord> = Vec::with_capacity(records.len());
    let mut last_pts: Option<i64> = None;
    // Media of fragments wholly inside the range is all in the clip: once it alone passes
    // `max_bytes`, the clip is refused without reading further (a long range costs at most
    // `max_bytes` of reads, not the whole range's).
    let mut inside_bytes = 0u64;
    for rec in &records {
        let stored = media.read_stored(rec, &tracks).await?;
        let got = &stored.samples;
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
        for (s, f) in got.iter().zip(&stored.raw.trailer.frames) {
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
        if rec.producer_ms >= clip_start
            && rec.producer_ms.saturating_add(rec.duration_ms) <= clip_end
        {
            inside_bytes += got_bytes(&stored.raw.trailer.frames);
            if inside_bytes > max_bytes {
                return Err(ClipError::TooManyBytes {
                    bytes: inside_bytes,
                    max: max_bytes,
                });
            }
        }
    }
    let layout = plan_clip(&tracks, &samples, clip_start, clip_end).map_err(|e| match e {
        Fmp4Error::NoSamples => ClipError::NoFragments,
        e => ClipError::Layout(e),
    })?;
    Ok(Clip {
        layout,
        fragments: kept,
        sources,
        hold,
    })
}

/// The payload bytes of a fragment's frames.
fn got_bytes(frames: &[crate::store::fragment::FrameEntry]) -> u64 {
    frames.iter().map(|f| u64::from(f.len)).sum()
}

/// The index of the first of `records` (after the first) whose tracks differ from `tracks`
/// (the first's). Track header ids differ when a producer restarts even with unchanged
/// settings, so headers are compared by their parsed tracks; one that does not parse differs.
async fn track_change(
    media: &Media,
    tracks: &[MediaTrack],
    records: &[FragmentRecord],
) -> Result<Option<usize>, ClipError> {
    let Some(first) = records.first() else {
        return Ok(None);
    };
    let mut same: HashMap<i64, bool> = HashMap::from([(first.track_header_id, true)]);
    for (i, f) in records.iter().enumerate().skip(1) {
        let is_same = match same.get(&f.track_header_id) {
            Some(&s) => s,
            None => {
                let s = match media.tracks(f.track_header_id).await {
                    Ok(other) => other == tracks,
                    Err(ReadError::DamagedTracks { .. }) => false,
                    Err(e) => return Err(e.into()),
                };
                same.insert(f.track_header_id, s);
                s
            }
        };
        if !is_same {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// GetClip needs H.264 or H.265 video (KVS: `UnsupportedStreamMediaTypeException` otherwise).
fn check_video(stream: &str, tracks: &[MediaTrack]) -> Result<(), ClipError> {
    if tracks
        .iter()
        .any(|t| matches!(t.codec, Codec::H264 { .. } | Codec::H265 { .. }))
    {
        return Ok(());
    }
    let codecs: Vec<&str> = tracks.iter().map(|t| t.codec.name()).collect();
    Err(ClipError::NoVideo {
        stream: stream.to_owned(),
        codecs: codecs.join(", "),
    })
}

impl Clip {
    /// The clip's length in bytes (the response's `Content-Length`).
    pub fn len(&self) -> u64 {
        self.layout.len()
    }

    /// Whether the clip has no bytes (never: it has at least a head).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The clip's bytes: the planned head, then per fragment (read again, one at a time) the
    /// planned payloads. A read failure or a fragment that no longer matches its plan ends the
    /// body early (the length is out; the client sees a short body) and is logged. The hold
    /// keeps the segments until the last fragment is read.
    pub fn into_body(
        self,
        media: Media,
    ) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        super::spawn_body(move |tx| async move {
            let Clip {
                layout,
                fragments,
                sources,
                hold,
            } = self;
            let _hold = hold;
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
                let cluster = match media.read_raw(&rec).await {
                    Ok(raw) => raw.cluster,
                    Err(e) => {
                        let _ = tx.send(fail(format!("fragment {}: {e}", rec.number))).await;
                        return;
                    }
                };
                let mut buf = BytesMut::new();
                while let Some(&(fk, offset, len)) =
                    layout.samples.get(i).and_then(|&s| sources.get(s))
                {
                    if fk != k {
                        break;
                    }
                    let range = offset as usize..offset as usize + len as usize;
                    let Some(payload) = cluster.get(range) else {
                        let msg =
                            format!("fragment {} changed since the clip was planned", rec.number);
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
        })
    }
}
