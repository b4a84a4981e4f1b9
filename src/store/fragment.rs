//! Fragments as the store keeps them: numbers, index records, and the on-disk trailer that holds
//! each fragment's frame table and producer tags.
//!
//! # On-disk layout of one fragment
//! A fragment occupies `cluster_len + trailer_len` contiguous bytes of its segment file:
//! ```text
//! [ MKV Cluster, known size: Timecode + one SimpleBlock per frame ]  cluster_len bytes
//! [ trailer: frame table + producer tags, format below ]             trailer_len bytes
//! ```
//! The cluster is served as-is by the MKV readers (GetMedia, GetMediaForFragmentList); the frame
//! table lets the fMP4/clip/image readers find payloads without parsing MKV.
//!
//! Trailer (little-endian): `u8 version (1)`, `u32 CRC-32 of the cluster bytes`, `u32 frame count`, then per frame `u8 track`,
//! `u8 flags (1 key, 2 invisible, 4 discardable)`, `i32 timecode relative to the cluster`,
//! `u32 payload offset within the cluster`, `u32 payload length`; then `u16 tag count`, per tag
//! `u16 name length`, name, `u16 value length`, value (UTF-8).

use bytes::{Buf, BufMut, Bytes};

use crate::model::StreamId;

/// A fragment number: 47 decimal digits, `91` + 15-digit stream id + 30-digit sequence. Numeric
/// order is text order, numbers increase within a stream and never repeat across streams
/// (stream ids are never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FragmentNumber {
    /// The stream.
    pub stream: StreamId,
    /// Position within the stream (strictly increasing, gaps allowed).
    pub seq: i64,
}

impl FragmentNumber {
    /// Parses the 47-digit form.
    pub fn parse(s: &str) -> Option<FragmentNumber> {
        if s.len() != 47 || !s.bytes().all(|b| b.is_ascii_digit()) || !s.starts_with("91") {
            return None;
        }
        let stream: i64 = s.get(2..17)?.parse().ok()?;
        let seq_digits = s.get(17..)?;
        // i64 holds 19 digits; the leading 11 of the 30 must be zero.
        if !seq_digits.get(..11)?.bytes().all(|b| b == b'0') {
            return None;
        }
        let seq: i64 = seq_digits.get(11..)?.parse().ok()?;
        Some(FragmentNumber {
            stream: StreamId(stream),
            seq,
        })
    }
}

impl std::fmt::Display for FragmentNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "91{:015}{:030}", self.stream.0, self.seq)
    }
}

/// Frame flags in the trailer.
pub const FLAG_KEY: u8 = 1;
/// Invisible frame.
pub const FLAG_INVISIBLE: u8 = 2;
/// Discardable frame.
pub const FLAG_DISCARDABLE: u8 = 4;

/// One frame of a stored fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameEntry {
    /// MKV track number.
    pub track: u8,
    /// `FLAG_*` bits.
    pub flags: u8,
    /// Timecode relative to the cluster timecode, in the track header's timecode units.
    pub rel_timecode: i32,
    /// Offset of the payload from the start of the cluster bytes.
    pub offset: u32,
    /// Payload length.
    pub len: u32,
}

impl FrameEntry {
    /// Whether this is a keyframe.
    pub fn is_key(&self) -> bool {
        self.flags & FLAG_KEY != 0
    }
}

/// The trailer stored after each cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Trailer {
    /// CRC-32 (IEEE) of the cluster bytes, set by the store when it writes the fragment.
    pub cluster_crc: u32,
    /// Frames in decode order.
    pub frames: Vec<FrameEntry>,
    /// Producer fragment metadata (name, value).
    pub tags: Vec<(String, String)>,
}

const TRAILER_VERSION: u8 = 1;
const FRAME_ENTRY_LEN: usize = 14;

/// Why a trailer could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt fragment trailer: {0}")]
pub struct TrailerError(&'static str);

impl Trailer {
    /// Encodes the trailer.
    pub fn encode(&self) -> Vec<u8> {
        let tags_len: usize = self.tags.iter().map(|(n, v)| 4 + n.len() + v.len()).sum();
        let mut out = Vec::with_capacity(9 + self.frames.len() * FRAME_ENTRY_LEN + 2 + tags_len);
        out.put_u8(TRAILER_VERSION);
        out.put_u32_le(self.cluster_crc);
        out.put_u32_le(self.frames.len() as u32);
        for f in &self.frames {
            out.put_u8(f.track);
            out.put_u8(f.flags);
            out.put_i32_le(f.rel_timecode);
            out.put_u32_le(f.offset);
            out.put_u32_le(f.len);
        }
        out.put_u16_le(self.tags.len() as u16);
        for (n, v) in &self.tags {
            out.put_u16_le(n.len() as u16);
            out.put_slice(n.as_bytes());
            out.put_u16_le(v.len() as u16);
            out.put_slice(v.as_bytes());
        }
        out
    }

    /// Decodes a trailer read from disk; never panics, never over-allocates.
    pub fn decode(mut b: &[u8]) -> Result<Trailer, TrailerError> {
        if b.remaining() < 9 {
            return Err(TrailerError("too short"));
        }
        if b.get_u8() != TRAILER_VERSION {
            return Err(TrailerError("unknown version"));
        }
        let cluster_crc = b.get_u32_le();
        let n = b.get_u32_le() as usize;
        if n.checked_mul(FRAME_ENTRY_LEN)
            .is_none_or(|need| need > b.remaining())
        {
            return Err(TrailerError("frame count exceeds the trailer"));
        }
        let mut frames = Vec::with_capacity(n);
        for _ in 0..n {
            frames.push(FrameEntry {
                track: b.get_u8(),
                flags: b.get_u8(),
                rel_timecode: b.get_i32_le(),
                offset: b.get_u32_le(),
                len: b.get_u32_le(),
            });
        }
        if b.remaining() < 2 {
            return Err(TrailerError("missing tag count"));
        }
        let tag_count = b.get_u16_le();
        let mut tags = Vec::new();
        let take = |b: &mut &[u8]| -> Result<String, TrailerError> {
            if b.remaining() < 2 {
                return Err(TrailerError("truncated tag"));
            }
            let len = b.get_u16_le() as usize;
            if len > b.remaining() {
                return Err(TrailerError("truncated tag"));
            }
            let s = std::str::from_utf8(&b[..len]).map_err(|_| TrailerError("tag is not UTF-8"))?;
            let s = s.to_owned();
            b.advance(len);
            Ok(s)
        };
        for _ in 0..tag_count {
            let name = take(&mut b)?;
            let value = take(&mut b)?;
            tags.push((name, value));
        }
        if b.has_remaining() {
            return Err(TrailerError("trailing bytes"));
        }
        Ok(Trailer {
            cluster_crc,
            frames,
            tags,
        })
    }
}

/// The tracks a fragment was produced under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackHeader {
    /// Nanoseconds per timecode unit.
    pub timecode_scale: u64,
    /// The MKV-encoded Tracks element.
    pub tracks: Bytes,
}

/// A stored track header with its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTrackHeader {
    /// Row id.
    pub id: i64,
    /// Contents.
    pub header: TrackHeader,
}

/// One fragment's index row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentRecord {
    /// Its number (stream + seq).
    pub number: FragmentNumber,
    /// Producer timestamp of its first frame, epoch ms.
    pub producer_ms: i64,
    /// When the server started receiving it, epoch ms.
    pub server_ms: i64,
    /// Playback duration.
    pub duration_ms: i64,
    /// The track header row.
    pub track_header_id: i64,
    /// Seq of the segment file's first fragment.
    pub segment: i64,
    /// Offset of the cluster in the segment file.
    pub offset: u64,
    /// Cluster bytes.
    pub cluster_len: u32,
    /// Trailer bytes.
    pub trailer_len: u32,
}

impl FragmentRecord {
    /// End offset of the fragment's bytes in its segment file.
    pub fn end(&self) -> u64 {
        self.offset + u64::from(self.cluster_len) + u64::from(self.trailer_len)
    }
}

/// What ingest hands the store for one sealed fragment.
#[derive(Debug, Clone)]
pub struct FragmentDraft {
    /// The number allocated at the fragment's first byte.
    pub number: FragmentNumber,
    /// Producer timestamp, epoch ms.
    pub producer_ms: i64,
    /// Server timestamp, epoch ms.
    pub server_ms: i64,
    /// Duration.
    pub duration_ms: i64,
    /// Tracks it was produced under.
    pub track_header: std::sync::Arc<TrackHeader>,
    /// The normalized cluster bytes.
    pub cluster: Bytes,
    /// Frame table and tags.
    pub trailer: Trailer,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_47_digits_ordered_and_round_trip() {
        let a = FragmentNumber {
            stream: StreamId(7),
            seq: 9,
        };
        let b = FragmentNumber {
            stream: StreamId(7),
            seq: 10,
        };
        let c = FragmentNumber {
            stream: StreamId(8),
            seq: 1,
        };
        for n in [a, b, c] {
            let s = n.to_string();
            assert_eq!(s.len(), 47);
            assert_eq!(FragmentNumber::parse(&s), Some(n));
        }
        assert!(a.to_string() < b.to_string());
        assert!(b.to_string() < c.to_string());
        let max = FragmentNumber {
            stream: StreamId(999_999_999_999_999),
            seq: i64::MAX,
        };
        assert_eq!(FragmentNumber::parse(&max.to_string()), Some(max));
        for bad in [
            "",
            "1",
            &"9".repeat(47),
            &"0".repeat(47),
            "9100000000000000701000000000000000000000000000001",
            "91000000000000007000000000000000000000000000000x1",
        ] {
            assert_eq!(FragmentNumber::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn trailer_round_trip_and_corruption() {
        let t = Trailer {
            cluster_crc: 0xdead_beef,
            frames: vec![
                FrameEntry {
                    track: 1,
                    flags: FLAG_KEY,
                    rel_timecode: 0,
                    offset: 20,
                    len: 1000,
                },
                FrameEntry {
                    track: 2,
                    flags: 0,
                    rel_timecode: -3,
                    offset: 1030,
                    len: 7,
                },
            ],
            tags: vec![
                ("AWS_X".into(), "1".into()),
                ("site".into(), "lobby".into()),
            ],
        };
        let bytes = t.encode();
        assert_eq!(Trailer::decode(&bytes).unwrap(), t);
        for cut in 0..bytes.len() {
            assert!(Trailer::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = bytes.clone();
        huge[5..9].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Trailer::decode(&huge).is_err());
        let mut extra = bytes;
        extra.push(0);
        assert!(Trailer::decode(&extra).is_err());
    }
}
