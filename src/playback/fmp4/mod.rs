//! ISO BMFF writers: fragmented MP4 (CMAF-style init + media segments, for HLS, LL-HLS and
//! DASH) and progressive MP4 (moov first, for GetClip), built from the media model in
//! [`crate::media`].
//!
//! Pure: these functions turn track configurations and sample metadata into box bytes. They do
//! no I/O and never copy sample payloads: a media segment is returned as a list of [`Bytes`]
//! (generated header, then the stored payload slices), and a clip is planned from sample sizes
//! alone, its payloads to be streamed by the caller after the planned head.
//!
//! Box types come from `mp4-atom` (ISO/IEC 14496-12 structures, 14496-15 `avcC`/`hvcC`,
//! 14496-14 `esds`); only the `mdat` header is written here, because its payload is never
//! materialized.
//!
//! Timing (ISO/IEC 14496-12 §8.6.1): video tracks use a 90 kHz timescale (stored ms × 90, exact);
//! AAC tracks use their sampling rate, and every AAC access unit lasts exactly 1024 ticks (the
//! frame length of AAC-LC, 14496-3 §4.5.1.1), never rounded through milliseconds. Decode times
//! (`tfdt`, `stts`) come from [`Sample::dts_ms`], composition offsets (signed) from
//! `pts_ms - dts_ms`; a decode time MP4 cannot hold (below 0, or not after its predecessor) is
//! moved up by the fewest ticks and its offset shrinks, so presentation times stay exact.
//!
//! Files: `init.rs` (ftyp + moov, shared track boxes), `segment.rs` (moof + mdat),
//! `clip.rs` (progressive MP4); tests: `tests.rs` and `clip_tests.rs` (decoded again with
//! mp4-atom), `interop_tests.rs` (played with ffmpeg, frames identified with framecode.py).

mod clip;
#[cfg(test)]
mod clip_tests;
mod init;
#[cfg(test)]
mod interop_tests;
mod segment;
#[cfg(test)]
mod tests;

use bytes::Bytes;

pub use clip::{ClipLayout, ClipSample, plan_clip};
pub use init::init_segment;
pub use segment::{Segment, media_segment, mfhd_sequence};

use crate::error::ErrorKind;
#[cfg(doc)]
use crate::media::Sample;
use crate::media::{Codec, MediaTrack};

/// Why an MP4 could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fmp4Error {
    /// None of the tracks has a codec MP4 can carry here (H.264, H.265, AAC).
    #[error("no track can be carried in mp4 (codecs: {0}); only h.264, h.265 and aac can")]
    UnsupportedCodec(String),
    /// The track list is empty.
    #[error("no tracks to write; the stream has no track header")]
    NoTracks,
    /// No sample belongs to a track that can be written.
    #[error("no samples to write for the supported tracks")]
    NoSamples,
    /// A clip whose end is not after its start.
    #[error("clip range {start_ms}..{end_ms} ms is empty; the end must be after the start")]
    EmptyRange {
        /// Requested start, ms.
        start_ms: i64,
        /// Requested end, ms.
        end_ms: i64,
    },
    /// A codec configuration (avcC, hvcC, AudioSpecificConfig) did not parse.
    #[error("track {track}: invalid {codec} configuration: {reason}")]
    CodecConfig {
        /// MKV track number.
        track: u64,
        /// Codec name.
        codec: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A track number that is not a valid MP4 track ID (1..=u32::MAX).
    #[error("track number {0} cannot be an mp4 track id")]
    TrackNumber(u64),
    /// A size or offset does not fit the box field that must hold it.
    #[error("{0} is too large for mp4")]
    TooLarge(&'static str),
    /// The box encoder refused a value.
    #[error("encoding {0}")]
    Encode(String),
}

impl Fmp4Error {
    /// The KVS error kind: what the media holds cannot be served as MP4 (the API layer may name
    /// a more specific KVS exception, such as `UnsupportedStreamMediaTypeException`).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Fmp4Error::NoSamples => ErrorKind::ResourceNotFound,
            Fmp4Error::UnsupportedCodec(_)
            | Fmp4Error::NoTracks
            | Fmp4Error::EmptyRange { .. }
            | Fmp4Error::CodecConfig { .. }
            | Fmp4Error::TrackNumber(_)
            | Fmp4Error::TooLarge(_) => ErrorKind::InvalidArgument,
            Fmp4Error::Encode(_) => ErrorKind::Internal,
        }
    }
}

impl From<mp4_atom::Error> for Fmp4Error {
    fn from(e: mp4_atom::Error) -> Self {
        Fmp4Error::Encode(e.to_string())
    }
}

/// Video timescale: 90 kHz, so stored milliseconds convert exactly (× 90).
pub const VIDEO_TIMESCALE: u32 = 90_000;

/// Movie timescale (mvhd, tkhd, elst segment durations): milliseconds, like the stored clock.
pub const MOVIE_TIMESCALE: u32 = 1_000;

/// PCM samples per AAC access unit (AAC-LC frame length).
pub const AAC_FRAME_SAMPLES: u32 = 1024;

/// Timescale used for a track in init and media segments (video: 90000; AAC: its sampling
/// rate, taken from the AudioSpecificConfig when it names one, else from the track header,
/// else 48000).
pub fn timescale(track: &MediaTrack) -> u32 {
    match &track.codec {
        Codec::Aac { asc } => AudioConfig::parse(asc)
            .map(|c| c.sample_rate)
            .filter(|&r| r > 0)
            .or(track.audio.map(|(rate, _)| rate).filter(|&r| r > 0))
            .unwrap_or(48_000),
        _ => VIDEO_TIMESCALE,
    }
}

/// The RFC 6381 codec string of a track, for HLS `CODECS` and DASH `@codecs`: `avc1.PPCCLL`
/// (profile, constraint flags, level from the avcC), `hvc1.…` (ISO/IEC 14496-15 Annex E.3, from
/// the hvcC) or `mp4a.40.N` (N: the AAC audio object type). `None` for other codecs or a
/// configuration too short to read.
pub fn codec_string(track: &MediaTrack) -> Option<String> {
    match &track.codec {
        Codec::H264 { avcc } => {
            let b = avcc.get(1..4)?;
            Some(format!("avc1.{:02x}{:02x}{:02x}", b[0], b[1], b[2]))
        }
        Codec::H265 { hvcc } => {
            let b = hvcc.get(..13)?;
            let space = ["", "A", "B", "C"][usize::from(b[1] >> 6)];
            let tier = if b[1] & 0x20 != 0 { 'H' } else { 'L' };
            let profile = b[1] & 0x1f;
            // The 32 compatibility flags in reverse bit order, hex without leading zeros.
            let compat = u32::from_be_bytes([b[2], b[3], b[4], b[5]]).reverse_bits();
            let mut out = format!("hvc1.{space}{profile}.{compat:X}.{tier}{}", b[12]);
            // The six constraint bytes, trailing zero bytes left out.
            let constraints = &b[6..12];
            let n = constraints
                .iter()
                .rposition(|&c| c != 0)
                .map_or(0, |i| i + 1);
            for c in &constraints[..n] {
                out.push_str(&format!(".{c:X}"));
            }
            Some(out)
        }
        Codec::Aac { asc } => AudioConfig::parse(asc).map(|c| format!("mp4a.40.{}", c.object_type)),
        Codec::Other(_) => None,
    }
}

/// Whether a track can be written: H.264, H.265 and AAC.
fn supported(track: &MediaTrack) -> bool {
    !matches!(track.codec, Codec::Other(_))
}

/// The tracks that can be written, or why none can.
fn supported_tracks(tracks: &[MediaTrack]) -> Result<Vec<&MediaTrack>, Fmp4Error> {
    if tracks.is_empty() {
        return Err(Fmp4Error::NoTracks);
    }
    let out: Vec<&MediaTrack> = tracks.iter().filter(|t| supported(t)).collect();
    if out.is_empty() {
        let names: Vec<&str> = tracks.iter().map(|t| t.codec.name()).collect();
        return Err(Fmp4Error::UnsupportedCodec(names.join(", ")));
    }
    Ok(out)
}

/// The MP4 track ID of a track: its MKV track number.
fn track_id(track: &MediaTrack) -> Result<u32, Fmp4Error> {
    u32::try_from(track.number)
        .ok()
        .filter(|&id| id > 0)
        .ok_or(Fmp4Error::TrackNumber(track.number))
}

fn is_audio(track: &MediaTrack) -> bool {
    matches!(track.codec, Codec::Aac { .. })
}

/// Milliseconds to ticks of `timescale`, rounded to nearest, saturating.
fn ms_to_ticks(ms: i64, timescale: u32) -> i64 {
    let ticks = (i128::from(ms) * i128::from(timescale) + 500).div_euclid(1000);
    ticks.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Saturating i64 to u32 (negative → 0).
fn clamp_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

/// Saturating i64 to i32.
fn clamp_i32(v: i64) -> i32 {
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Sample flags (ISO/IEC 14496-12 §8.8.3.1): `sample_depends_on` (bits 25–24) is 2 for a
/// sync sample (depends on no other), 1 otherwise; `sample_is_non_sync_sample` is bit 16.
fn sample_flags(sync: bool) -> u32 {
    if sync { 0x0200_0000 } else { 0x0101_0000 }
}

/// One sample's times as the writers need them, in ms.
#[derive(Debug, Clone, Copy)]
struct SampleTimes {
    pts_ms: i64,
    dts_ms: i64,
    duration_ms: i64,
}

/// One track's samples on the MP4 timeline, in its timescale.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Timeline {
    /// Decode time of the first sample (`tfdt`; media time 0 of a clip).
    base: u64,
    /// Per-sample durations (`trun`, `stts`).
    durations: Vec<u32>,
    /// Per-sample composition offsets (`trun` v1, `ctts`).
    offsets: Vec<i32>,
}

/// Places one track's samples (in decode order) on its MP4 timeline.
///
/// Video: decode times are `dts_ms` converted exactly, durations the difference to the next
/// sample's decode time (so consecutive segments join without gap or overlap), the last one
/// its own `duration_ms` (when 0: the previous duration, then the track default), and the
/// composition offset is `pts - dts`. MP4 decode times cannot be negative and must increase,
/// so a decode time below 0 or not after its predecessor (B-frames at a stream that starts at
/// time 0, whose decode times were shifted before 0; or bad input) becomes its predecessor's
/// plus one tick, and its offset grows to keep the presentation time exact.
///
/// AAC: every access unit lasts 1024 ticks exactly, from the first sample's decode time, with
/// no composition offsets.
fn timeline(track: &MediaTrack, samples: &[SampleTimes]) -> Timeline {
    let ts = timescale(track);
    let first = samples
        .first()
        .map_or(0, |s| ms_to_ticks(s.dts_ms, ts).max(0));
    if is_audio(track) {
        return Timeline {
            base: first as u64,
            durations: vec![AAC_FRAME_SAMPLES; samples.len()],
            offsets: vec![0; samples.len()],
        };
    }
    let mut decode: Vec<i64> = Vec::with_capacity(samples.len());
    for s in samples {
        let t = ms_to_ticks(s.dts_ms, ts).max(0);
        let t = match decode.last() {
            Some(&prev) => t.max(prev.saturating_add(1)),
            None => t,
        };
        decode.push(t);
    }
    let mut durations: Vec<u32> = decode
        .windows(2)
        .map(|w| clamp_u32(w[1].saturating_sub(w[0])))
        .collect();
    if let Some(last) = samples.last() {
        let default_ms = track
            .default_duration_ns
            .map_or(0, |ns| i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX));
        let d = if last.duration_ms > 0 {
            clamp_u32(ms_to_ticks(last.duration_ms, ts))
        } else {
            durations
                .last()
                .copied()
                .filter(|&d| d > 0)
                .unwrap_or(clamp_u32(ms_to_ticks(default_ms, ts)))
        };
        durations.push(d);
    }
    let offsets = samples
        .iter()
        .zip(&decode)
        .map(|(s, &t)| clamp_i32(ms_to_ticks(s.pts_ms, ts).saturating_sub(t)))
        .collect();
    Timeline {
        base: decode.first().map_or(0, |&t| t as u64),
        durations,
        offsets,
    }
}

/// What an AudioSpecificConfig says (ISO/IEC 14496-3 §1.6.2.1), as far as MP4 needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AudioConfig {
    object_type: u8,
    freq_index: u8,
    sample_rate: u32,
    channels: u8,
}

impl AudioConfig {
    /// Parses the first fields of an AudioSpecificConfig; `None` when it is too short or uses
    /// a reserved value.
    fn parse(asc: &[u8]) -> Option<AudioConfig> {
        const RATES: [u32; 13] = [
            96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025,
            8_000, 7_350,
        ];
        let mut bits = BitReader { data: asc, pos: 0 };
        let mut object_type = bits.read(5)? as u8;
        if object_type == 31 {
            object_type = 32 + bits.read(6)? as u8;
        }
        let freq_index = bits.read(4)? as u8;
        let sample_rate = if freq_index == 15 {
            bits.read(24)?
        } else {
            *RATES.get(usize::from(freq_index))?
        };
        let channels = bits.read(4)? as u8;
        Some(AudioConfig {
            object_type,
            freq_index,
            sample_rate,
            channels,
        })
    }
}

/// MSB-first bit reader over a byte slice.
struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn read(&mut self, n: u32) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.pos / 8)?;
            let bit = (byte >> (7 - (self.pos % 8))) & 1;
            v = (v << 1) | u32::from(bit);
            self.pos += 1;
        }
        Some(v)
    }
}

/// An `mdat` header for `payload` bytes: 8 bytes, or 16 with a 64-bit `largesize` when the
/// box would not fit 32 bits (ISO/IEC 14496-12 §4.2).
fn mdat_header(payload: u64) -> Result<Vec<u8>, Fmp4Error> {
    let mut out = Vec::with_capacity(16);
    match u32::try_from(payload.saturating_add(8)) {
        Ok(size) => {
            out.extend_from_slice(&size.to_be_bytes());
            out.extend_from_slice(b"mdat");
        }
        _ => {
            let size = payload.checked_add(16).ok_or(Fmp4Error::TooLarge("mdat"))?;
            out.extend_from_slice(&1u32.to_be_bytes());
            out.extend_from_slice(b"mdat");
            out.extend_from_slice(&size.to_be_bytes());
        }
    }
    Ok(out)
}

/// Joins parts into one buffer (for small outputs and tests; the HTTP layer streams parts).
fn concat(parts: &[Bytes]) -> Bytes {
    let mut out = Vec::with_capacity(parts.iter().map(Bytes::len).sum());
    for p in parts {
        out.extend_from_slice(p);
    }
    out.into()
}
