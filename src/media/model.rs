//! The media model every reader works in: tracks with their codec configuration (one codec
//! vocabulary for playback, the frame decoder and the feed), and samples (timed frames pointing
//! into stored cluster bytes or live frames).
//!
//! Stored clusters hold presentation timestamps in milliseconds, frames in decode order
//! (store::fragment::Trailer). Containers need decode timestamps too: within a fragment the
//! decode timestamps are the sorted presentation timestamps, assigned in decode order, shifted
//! back by the largest reorder delay so that no frame is decoded after it is shown. Without
//! B-frames this is the identity (dts == pts).

use bytes::Bytes;

use crate::mkv::{self, TrackType};
use crate::store::fragment::{FLAG_KEY, TrackHeader, Trailer};

/// What a track carries, with the configuration a decoder needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Codec {
    /// H.264 with its AVCDecoderConfigurationRecord (MKV `V_MPEG4/ISO/AVC` CodecPrivate).
    H264 {
        /// avcC bytes.
        avcc: Bytes,
    },
    /// H.265 with its HEVCDecoderConfigurationRecord (`V_MPEGH/ISO/HEVC`).
    H265 {
        /// hvcC bytes.
        hvcc: Bytes,
    },
    /// AAC with its AudioSpecificConfig (`A_AAC`, `A_AAC/...`).
    Aac {
        /// AudioSpecificConfig bytes.
        asc: Bytes,
    },
    /// Anything else, by its MKV CodecID: stored and served as MKV, not convertible.
    Other(String),
}

impl Codec {
    /// Whether this is a video codec the server can decode and package (H.264, H.265).
    pub fn is_video(&self) -> bool {
        matches!(self, Codec::H264 { .. } | Codec::H265 { .. })
    }

    /// A short name for errors and logs.
    pub fn name(&self) -> &str {
        match self {
            Codec::H264 { .. } => "H.264",
            Codec::H265 { .. } => "H.265",
            Codec::Aac { .. } => "AAC",
            Codec::Other(id) => id,
        }
    }
}

/// One track of a stored track header.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaTrack {
    /// MKV track number (what frames refer to).
    pub number: u64,
    /// Codec and its configuration.
    pub codec: Codec,
    /// Video: width and height in pixels.
    pub video: Option<(u32, u32)>,
    /// Audio: sampling rate in Hz and channel count.
    pub audio: Option<(u32, u16)>,
    /// Nominal frame duration in ns (MKV DefaultDuration), if the producer gave it.
    pub default_duration_ns: Option<u64>,
}

/// The container a segment is packaged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Container {
    /// fMP4 (CMAF): init + moof/mdat segments.
    #[serde(rename = "FRAGMENTED_MP4")]
    Fmp4,
    /// MPEG-TS segments.
    #[serde(rename = "MPEG_TS")]
    Ts,
}

/// The first H.264/H.265 video track of `tracks`: its number and codec.
pub fn video_track(tracks: &[MediaTrack]) -> Option<(u64, Codec)> {
    tracks
        .iter()
        .find(|t| t.codec.is_video())
        .map(|t| (t.number, t.codec.clone()))
}

/// Why stored media could not be turned into samples.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The track header bytes did not parse.
    #[error("stored track header: {0}")]
    Tracks(String),
    /// The cluster bytes do not start with a Cluster and its Timecode.
    #[error("stored cluster has no timecode")]
    ClusterTimecode,
    /// A frame table entry points outside its cluster.
    #[error("frame {index} at {offset}+{len} is outside its {cluster_len}-byte cluster")]
    FrameOutOfBounds {
        /// Entry index.
        index: usize,
        /// Its offset.
        offset: u32,
        /// Its length.
        len: u32,
        /// The cluster's length.
        cluster_len: usize,
    },
}

/// Parses a stored track header into media tracks.
pub fn tracks(header: &TrackHeader) -> Result<Vec<MediaTrack>, MediaError> {
    tracks_element(&header.tracks)
}

/// Parses an MKV Tracks element (a stored track header's, or a live fragment's) into media
/// tracks.
pub fn tracks_element(element: &Bytes) -> Result<Vec<MediaTrack>, MediaError> {
    let parsed =
        mkv::parse_tracks_element(element).map_err(|e| MediaError::Tracks(e.to_string()))?;
    Ok(parsed
        .into_iter()
        .map(|t| {
            let codec = match t.codec_id.as_str() {
                "V_MPEG4/ISO/AVC" => Codec::H264 {
                    avcc: t.codec_private.clone(),
                },
                "V_MPEGH/ISO/HEVC" => Codec::H265 {
                    hvcc: t.codec_private.clone(),
                },
                id if id == "A_AAC" || id.starts_with("A_AAC/") => Codec::Aac {
                    asc: t.codec_private.clone(),
                },
                other => Codec::Other(other.to_owned()),
            };
            let clamp32 = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
            MediaTrack {
                number: t.number,
                codec,
                video: match t.track_type {
                    TrackType::Video => t
                        .video
                        .map(|v| (clamp32(v.pixel_width), clamp32(v.pixel_height)))
                        .or(Some((0, 0))),
                    _ => None,
                },
                audio: match t.track_type {
                    TrackType::Audio => t.audio.map(|a| {
                        (
                            a.sampling_frequency.clamp(0.0, u32::MAX as f64) as u32,
                            u16::try_from(a.channels).unwrap_or(u16::MAX),
                        )
                    }),
                    _ => None,
                },
                default_duration_ns: t.default_duration,
            }
        })
        .collect())
}

/// One frame of one track, timed in milliseconds of the producer's clock (stored timecodes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// MKV track number.
    pub track: u64,
    /// Presentation timestamp, ms.
    pub pts_ms: i64,
    /// Decode timestamp, ms (≤ pts).
    pub dts_ms: i64,
    /// Duration in decode order, ms: the next sample's dts minus this one's; the last sample
    /// of a track takes its predecessor's duration (or the track's default duration).
    pub duration_ms: i64,
    /// Keyframe (random access point).
    pub key: bool,
    /// The frame's bytes: a slice of the stored cluster (no copy).
    pub data: Bytes,
}

/// The samples of one stored fragment, in decode order, all tracks interleaved as stored.
pub fn samples(
    tracks: &[MediaTrack],
    cluster: &Bytes,
    trailer: &Trailer,
) -> Result<Vec<Sample>, MediaError> {
    let base = mkv::cluster_timecode(cluster).ok_or(MediaError::ClusterTimecode)? as i64;
    let mut out = Vec::with_capacity(trailer.frames.len());
    for (index, f) in trailer.frames.iter().enumerate() {
        let start = f.offset as usize;
        let end = start
            .checked_add(f.len as usize)
            .filter(|&e| e <= cluster.len());
        let Some(end) = end else {
            return Err(MediaError::FrameOutOfBounds {
                index,
                offset: f.offset,
                len: f.len,
                cluster_len: cluster.len(),
            });
        };
        let pts = base + i64::from(f.rel_timecode);
        out.push(Sample {
            track: u64::from(f.track),
            pts_ms: pts,
            dts_ms: pts,
            duration_ms: 0,
            key: f.flags & FLAG_KEY != 0,
            data: cluster.slice(start..end),
        });
    }
    for t in tracks {
        assign_decode_times(&mut out, t);
    }
    Ok(out)
}

/// Decode timestamps and durations for one track's samples (see the module comment).
fn assign_decode_times(samples: &mut [Sample], track: &MediaTrack) {
    let idx: Vec<usize> = (0..samples.len())
        .filter(|&i| samples[i].track == track.number)
        .collect();
    if idx.is_empty() {
        return;
    }
    let mut sorted: Vec<i64> = idx.iter().map(|&i| samples[i].pts_ms).collect();
    sorted.sort_unstable();
    let shift = idx
        .iter()
        .zip(&sorted)
        .map(|(&i, &d)| d - samples[i].pts_ms)
        .max()
        .unwrap_or(0)
        .max(0);
    for (&i, &d) in idx.iter().zip(&sorted) {
        samples[i].dts_ms = d - shift;
    }
    let default_ms = track.default_duration_ns.map(|ns| (ns / 1_000_000) as i64);
    let mut last = default_ms.unwrap_or(0);
    for w in 0..idx.len() {
        let dur = match idx.get(w + 1) {
            Some(&next) => samples[next].dts_ms - samples[idx[w]].dts_ms,
            None => last,
        };
        samples[idx[w]].duration_ms = dur.max(0);
        last = dur.max(0);
    }
    // A single-sample track: fall back to the default duration, or 0 when none is known.
    if idx.len() == 1 {
        samples[idx[0]].duration_ms = default_ms.unwrap_or(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mkv::{Track, VideoSettings, write_cluster, write_tracks};
    use crate::store::fragment::FrameEntry;

    fn header() -> TrackHeader {
        let track = Track {
            number: 1,
            uid: 1,
            track_type: TrackType::Video,
            codec_id: "V_MPEG4/ISO/AVC".into(),
            codec_private: Bytes::from_static(&[1, 0x64, 0, 0x1f]),
            name: None,
            default_duration: Some(33_333_333),
            codec_delay: None,
            video: Some(VideoSettings {
                pixel_width: 640,
                pixel_height: 480,
            }),
            audio: None,
        };
        let mut buf = Vec::new();
        write_tracks(&mut buf, &[track]);
        TrackHeader {
            timecode_scale: 1_000_000,
            tracks: buf.into(),
        }
    }

    /// A fragment with B-frames: decode order I P B B, presentation order I B B P.
    #[test]
    fn decode_times_are_sorted_presentation_times_shifted_back() {
        let tracks = tracks(&header()).unwrap();
        assert_eq!(tracks[0].video, Some((640, 480)));
        assert!(matches!(tracks[0].codec, Codec::H264 { .. }));
        let payloads: [&[u8]; 4] = [b"I", b"P", b"B1", b"B2"];
        let rel = [0i16, 99, 33, 66];
        let frames: Vec<(u64, i16, bool, &[u8])> =
            (0..4).map(|i| (1, rel[i], i == 0, payloads[i])).collect();
        let mut c = Vec::new();
        let offsets = write_cluster(&mut c, 5_000, &frames);
        let trailer = Trailer {
            cluster_crc: 0,
            frames: (0..4)
                .map(|i| FrameEntry {
                    track: 1,
                    flags: if i == 0 { FLAG_KEY } else { 0 },
                    rel_timecode: i32::from(rel[i]),
                    offset: offsets[i] as u32,
                    len: payloads[i].len() as u32,
                })
                .collect(),
            tags: vec![],
        };
        let s = samples(&tracks, &Bytes::from(c), &trailer).unwrap();
        let pts: Vec<i64> = s.iter().map(|s| s.pts_ms).collect();
        let dts: Vec<i64> = s.iter().map(|s| s.dts_ms).collect();
        assert_eq!(pts, [5000, 5099, 5033, 5066]);
        // Sorted pts (5000, 5033, 5066, 5099) in decode order, shifted back by the largest
        // amount a frame would otherwise be decoded after it is shown (B1: 5066 - 5033 = 33).
        assert_eq!(dts, [4967, 5000, 5033, 5066]);
        assert!(s.iter().all(|s| s.dts_ms <= s.pts_ms));
        assert_eq!(
            s.iter().map(|s| s.duration_ms).collect::<Vec<_>>(),
            [33, 33, 33, 33]
        );
        assert_eq!(&s[2].data[..], b"B1");
        assert!(s[0].key && !s[1].key);

        // A frame table entry past the cluster is an error, not a panic.
        let mut bad = trailer.clone();
        bad.frames[3].len = 10_000;
        let cluster = Bytes::from(Vec::from(&s[0].data[..]));
        assert!(samples(&tracks, &cluster, &bad).is_err());
    }
}
