//! MPEG-TS segments for HLS `getTSFragment.ts`: a pure writer from the media model (tracks with
//! codec configuration, timed samples) to one self-contained transport stream segment.
//!
//! A segment is PAT + PMT, then one PES packet per sample in decode-time order across tracks:
//! H.264/H.265 as Annex B access units (AUD first, parameter sets from the codec configuration
//! before every keyframe, so each segment decodes on its own), AAC as ADTS frames. PTS/DTS are
//! the samples' millisecond times on the 90 kHz clock (33-bit, wrapping). The PCR rides on the
//! video PID (audio when there is no video): in the first packet of every video PES, and, when
//! video frames are further apart than [`PCR_INTERVAL_MS`], in adaptation-field-only packets
//! before the audio frames in between (audio-only: in the audio PES themselves). Its value trails the DTS of the access unit it precedes by [`PCR_LEAD_MS`], so a
//! decoder has the whole access unit before its decode time.
//!
//! This module does no I/O; errors are values (never panics) and nothing is allocated from a
//! length read out of the samples or codec configuration without checking it against the bytes
//! actually present.
//!
//! Spec: ISO/IEC 13818-1 (transport stream, PSI, PES; §2.14 AVC, §2.17 HEVC), ISO/IEC 14496-15
//! (avcC/hvcC), ISO/IEC 14496-3 (AudioSpecificConfig, ADTS), RFC 8216 §3.2 (HLS TS segments).

mod adts;
mod nal;
mod pes;
mod psi;

#[cfg(test)]
mod crafted_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tsparse;

use bytes::Bytes;

use crate::media::{Codec, MediaTrack, Sample};
use adts::AdtsConfig;
use nal::VideoConfig;
use pes::FirstPacket;

/// PID of the program map table.
pub const PMT_PID: u16 = 0x1000;
/// PID of the video elementary stream.
pub const VIDEO_PID: u16 = 0x100;
/// PID of the audio elementary stream.
pub const AUDIO_PID: u16 = 0x101;
/// Most time between PCRs (ISO/IEC 13818-1 §2.7.2 allows at most 100 ms).
pub const PCR_INTERVAL_MS: i64 = 100;
/// How far the PCR trails the DTS of the access unit it precedes: the time a decoder has to
/// receive the access unit before decoding it.
pub const PCR_LEAD_MS: i64 = 100;

/// ISO/IEC 13818-1 Table 2-34 stream_type values.
const STREAM_TYPE_AAC_ADTS: u8 = 0x0F;
const STREAM_TYPE_H264: u8 = 0x1B;
const STREAM_TYPE_H265: u8 = 0x24;
/// PES stream_id values (Table 2-22): the first video and the first audio stream.
const STREAM_ID_VIDEO: u8 = 0xE0;
const STREAM_ID_AUDIO: u8 = 0xC0;

/// Why a segment could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsError {
    /// No track has a codec MPEG-TS segments can carry (H.264, H.265, AAC).
    #[error("unsupported codec {0}; MPEG-TS playback needs H.264, H.265 or AAC")]
    UnsupportedCodec(String),
    /// The track list is empty.
    #[error("no tracks to put in a segment")]
    NoTracks,
    /// A codec configuration (avcC, hvcC, AudioSpecificConfig) is malformed.
    #[error("bad codec configuration: {0}")]
    BadCodecConfig(String),
    /// A sample is malformed (a NAL unit length past the frame, an oversized AAC frame).
    #[error("bad sample: {0}")]
    BadSample(String),
}

impl TsError {
    /// The crate-wide error kind. The stored media cannot be served as TS, which KVS reports as
    /// a client error (e.g. `InvalidCodecPrivateDataException`); the API layer may map the
    /// variants to those names more precisely.
    pub fn kind(&self) -> crate::error::ErrorKind {
        crate::error::ErrorKind::InvalidArgument
    }
}

/// The 4-bit continuity counters of every PID a segment writes, each holding the value the
/// *next* packet with payload on that PID will carry. Start from `Continuity::default()` (all 0)
/// and pass the same value to consecutive [`segment`] calls so their counters continue.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Continuity {
    pat: u8,
    pmt: u8,
    video: u8,
    audio: u8,
}

impl Continuity {
    /// The next counter for `pid`, or `None` for a PID segments never use.
    pub fn next(&self, pid: u16) -> Option<u8> {
        match pid {
            0 => Some(self.pat),
            PMT_PID => Some(self.pmt),
            VIDEO_PID => Some(self.video),
            AUDIO_PID => Some(self.audio),
            _ => None,
        }
    }
}

/// One elementary stream in the PMT.
#[derive(Debug, Clone, Copy)]
struct Stream {
    stream_type: u8,
    pid: u16,
}

/// How one kept track's samples are converted.
enum Converter {
    Video(VideoConfig),
    Audio(AdtsConfig),
}

/// Picks the tracks a segment carries: the first H.264/H.265 track as video, the first AAC track
/// as audio. Everything else is skipped.
fn select(tracks: &[MediaTrack]) -> Result<Vec<(u64, Converter)>, TsError> {
    if tracks.is_empty() {
        return Err(TsError::NoTracks);
    }
    let mut video = None;
    let mut audio = None;
    for t in tracks {
        match &t.codec {
            Codec::H264 { avcc } if video.is_none() => {
                video = Some((t.number, Converter::Video(nal::parse_avcc(avcc)?)));
            }
            Codec::H265 { hvcc } if video.is_none() => {
                video = Some((t.number, Converter::Video(nal::parse_hvcc(hvcc)?)));
            }
            Codec::Aac { asc } if audio.is_none() => {
                audio = Some((t.number, Converter::Audio(AdtsConfig::from_asc(asc)?)));
            }
            _ => {}
        }
    }
    let kept: Vec<(u64, Converter)> = video.into_iter().chain(audio).collect();
    if kept.is_empty() {
        let names: Vec<&str> = tracks.iter().map(|t| t.codec.name()).collect();
        return Err(TsError::UnsupportedCodec(names.join(", ")));
    }
    Ok(kept)
}

/// Writes one self-contained TS segment: PAT + PMT first, then a PES packet for every sample of
/// the first video (H.264/H.265) and first audio (AAC) track, in decode-time order across tracks
/// (samples of other tracks are skipped). Video access units are Annex B with an AUD and, before
/// every keyframe, the codec configuration's parameter sets; AAC frames get ADTS headers.
///
/// `continuity` supplies the first continuity counter of each PID and receives the counters to
/// continue from, so consecutive segments of one stream can be concatenated. On error it is left
/// unchanged.
pub fn segment(
    tracks: &[MediaTrack],
    samples: &[Sample],
    continuity: &mut Continuity,
) -> Result<Bytes, TsError> {
    let kept = select(tracks)?;
    let converter = |track: u64| kept.iter().find(|(n, _)| *n == track).map(|(_, c)| c);
    let has_video = kept.iter().any(|(_, c)| matches!(c, Converter::Video(_)));
    let pcr_pid = if has_video { VIDEO_PID } else { AUDIO_PID };
    let streams: Vec<Stream> = kept
        .iter()
        .map(|(_, c)| match c {
            Converter::Video(v) => Stream {
                stream_type: match v.codec {
                    nal::VideoCodec::H264 => STREAM_TYPE_H264,
                    nal::VideoCodec::H265 => STREAM_TYPE_H265,
                },
                pid: VIDEO_PID,
            },
            Converter::Audio(_) => Stream {
                stream_type: STREAM_TYPE_AAC_ADTS,
                pid: AUDIO_PID,
            },
        })
        .collect();

    // Decode order across tracks; the sort is stable, so each track keeps its own order.
    let mut order: Vec<&Sample> = samples
        .iter()
        .filter(|s| converter(s.track).is_some())
        .collect();
    order.sort_by_key(|s| s.dts_ms);

    // Worst case per packet is 4 + 8 bytes of overhead on 176 bytes: reserve ~8% over payload.
    let payload: usize = order.iter().map(|s| s.data.len() + 64).sum();
    let mut out = Vec::with_capacity(2 * pes::PACKET_LEN + payload + payload / 12);
    let mut cc = continuity.clone();
    psi::write_pat(&mut out, &mut cc.pat);
    psi::write_pmt(&mut out, &mut cc.pmt, pcr_pid, &streams);

    let mut pes = Vec::new();
    let mut last_pcr_ms: Option<i64> = None;
    for s in order {
        let pcr_ms = s.dts_ms.saturating_sub(PCR_LEAD_MS);
        // Due when waiting for the next sample of this track could stretch the interval past
        // the limit.
        let pcr_due = last_pcr_ms.is_none_or(|last| {
            pcr_ms
                .saturating_add(s.duration_ms.max(0))
                .saturating_sub(last)
                > PCR_INTERVAL_MS
        });
        pes.clear();
        match converter(s.track) {
            Some(Converter::Video(config)) => {
                // PES_packet_length 0 (unbounded), allowed for video (§2.4.3.7); the access unit
                // starts with the AUD, so data_alignment_indicator is set.
                pes::pes_header(
                    &mut pes,
                    STREAM_ID_VIDEO,
                    pes::ms_to_90k(s.pts_ms),
                    Some(pes::ms_to_90k(s.dts_ms)),
                    None,
                    true,
                );
                nal::annex_b(&mut pes, config, &s.data, s.key)?;
                // Every video PES carries the PCR: it costs 8 bytes per frame and keeps the
                // interval within 100 ms at any frame rate above 10 fps.
                last_pcr_ms = Some(pcr_ms);
                let first = FirstPacket {
                    pcr: Some(pes::ms_to_90k(pcr_ms)),
                    random_access: s.key,
                };
                pes::packetize(&mut out, VIDEO_PID, &mut cc.video, &pes, first);
            }
            Some(Converter::Audio(config)) => {
                let header = config.header(s.data.len())?;
                pes::pes_header(
                    &mut pes,
                    STREAM_ID_AUDIO,
                    pes::ms_to_90k(s.pts_ms),
                    None,
                    Some(header.len() + s.data.len()),
                    true,
                );
                pes.extend_from_slice(&header);
                pes.extend_from_slice(&s.data);
                let mut pcr = None;
                if pcr_due {
                    last_pcr_ms = Some(pcr_ms);
                    if has_video {
                        // Keep the clock going on the video PID through a gap in the video.
                        pes::write_pcr_only(&mut out, VIDEO_PID, cc.video, pes::ms_to_90k(pcr_ms));
                    } else {
                        pcr = Some(pes::ms_to_90k(pcr_ms));
                    }
                }
                let first = FirstPacket {
                    pcr,
                    random_access: s.key && !has_video,
                };
                pes::packetize(&mut out, AUDIO_PID, &mut cc.audio, &pes, first);
            }
            None => {}
        }
    }
    *continuity = cc;
    Ok(Bytes::from(out))
}
