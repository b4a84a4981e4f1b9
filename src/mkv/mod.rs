//! Matroska (MKV/EBML) for the KVS wire: a sans-IO streaming [`Reader`] and element writers.
//!
//! PutMedia bodies are one long MKV document with an unknown-size Segment and (from the KVS
//! producer SDK) unknown-size Clusters, arriving in arbitrary chunks. The reader is push/pull:
//! [`Reader::push`] bytes, then [`Reader::pull`] events until it answers `Ok(None)` ("need more
//! bytes"). It never blocks, never panics on any input, and never allocates from a length read off
//! the wire without checking it against [`Limits`] first; errors carry the byte offset and the
//! element path. Elements we do not use (Cues, SeekHead, Void, Chapters, Attachments, CRC-32...)
//! are skipped as they stream by, without buffering them.
//!
//! The writer functions build the documents vidstream sends (GetMedia,
//! GetMediaForFragmentList) and the normalized Clusters it stores.
//!
//! This module does no I/O and knows nothing of tokio, HTTP or the store.
//! Spec: RFC 8794 (EBML), RFC 9559 (Matroska).

mod block;
mod ebml;
pub mod ids;
mod meta;
mod reader;
#[doc(hidden)]
pub mod roundtrip;
mod stored;
mod writer;

#[cfg(test)]
mod fixture_tests;

pub use reader::Reader;
pub use stored::{cluster_timecode, parse_tracks_element};
pub use writer::*;

use bytes::Bytes;

/// Upper bounds on what the reader will buffer or accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest block (SimpleBlock or Block) payload, and so largest frame: KVS's fragment limit.
    pub max_block_bytes: u64,
    /// Largest CodecPrivate.
    pub max_codec_private_bytes: u64,
    /// Most TrackEntry elements in Tracks.
    pub max_tracks: usize,
    /// Longest TagName in bytes.
    pub max_tag_name_bytes: u64,
    /// Longest TagString / TagBinary in bytes.
    pub max_tag_value_bytes: u64,
    /// Most SimpleTags in one Tags element.
    pub max_simple_tags: usize,
    /// Largest metadata element the reader buffers whole (EBML header, Info, Tracks, Tags, each
    /// as a whole): everything else is streamed or skipped.
    pub max_metadata_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_block_bytes: 50 * 1000 * 1000,
            max_codec_private_bytes: 1 << 20,
            max_tracks: 3,
            max_tag_name_bytes: 128,
            max_tag_value_bytes: 256,
            max_simple_tags: 64,
            max_metadata_bytes: 2 << 20,
        }
    }
}

/// The EBML header of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EbmlHeader {
    /// `matroska` or `webm`.
    pub doc_type: String,
}

/// Segment Info.
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    /// Nanoseconds per timecode unit; 1,000,000 (1 ms) when absent.
    pub timecode_scale: u64,
    /// Segment duration in timecode units, if given.
    pub duration: Option<f64>,
    /// Title.
    pub title: Option<String>,
    /// MuxingApp.
    pub muxing_app: Option<String>,
    /// WritingApp.
    pub writing_app: Option<String>,
}

impl Default for Info {
    fn default() -> Self {
        Info {
            timecode_scale: 1_000_000,
            duration: None,
            title: None,
            muxing_app: None,
            writing_app: None,
        }
    }
}

/// Matroska TrackType values we distinguish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackType {
    /// 1
    Video,
    /// 2
    Audio,
    /// Anything else (subtitles, metadata...), with its number.
    Other(u64),
}

/// Video settings of a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VideoSettings {
    /// PixelWidth.
    pub pixel_width: u64,
    /// PixelHeight.
    pub pixel_height: u64,
}

/// Audio settings of a track.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AudioSettings {
    /// SamplingFrequency in Hz (8000.0 when absent).
    pub sampling_frequency: f64,
    /// Channels (1 when absent).
    pub channels: u64,
    /// BitDepth, if given.
    pub bit_depth: Option<u64>,
}

/// One TrackEntry.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// TrackNumber (what blocks refer to); never 0.
    pub number: u64,
    /// TrackUID.
    pub uid: u64,
    /// TrackType.
    pub track_type: TrackType,
    /// CodecID with any trailing NULs removed, e.g. `V_MPEG4/ISO/AVC`.
    pub codec_id: String,
    /// CodecPrivate (avcC, hvcC, AudioSpecificConfig...), empty when absent.
    pub codec_private: Bytes,
    /// Name.
    pub name: Option<String>,
    /// DefaultDuration in ns.
    pub default_duration: Option<u64>,
    /// CodecDelay in ns.
    pub codec_delay: Option<u64>,
    /// Video settings.
    pub video: Option<VideoSettings>,
    /// Audio settings.
    pub audio: Option<AudioSettings>,
}

/// One frame of a SimpleBlock or Block (laced blocks give several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Track number.
    pub track: u64,
    /// Absolute timecode (cluster timecode + the block's relative one), in timecode units.
    pub timecode: i64,
    /// Keyframe flag (SimpleBlock flag, or a Block without ReferenceBlock).
    pub keyframe: bool,
    /// Invisible flag.
    pub invisible: bool,
    /// Discardable flag.
    pub discardable: bool,
    /// BlockDuration of a BlockGroup, in timecode units.
    pub duration: Option<u64>,
    /// `(index, count)` within a laced block; `(0, 1)` when not laced.
    pub lace: (u32, u32),
    /// The frame payload.
    pub data: Bytes,
}

/// The value of a SimpleTag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagValue {
    /// TagString.
    String(String),
    /// TagBinary.
    Binary(Bytes),
}

/// One SimpleTag (nested SimpleTags are flattened in document order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleTag {
    /// TagName.
    pub name: String,
    /// TagString or TagBinary (empty string when neither).
    pub value: TagValue,
}

/// What the reader found, in document order.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An EBML header: a new document starts (GetMedia output concatenates documents).
    Header(EbmlHeader),
    /// A Segment starts; `size` is None for unknown size.
    SegmentStart {
        /// Declared data size.
        size: Option<u64>,
    },
    /// Segment Info.
    Info(Info),
    /// The Tracks element, whole.
    Tracks(Vec<Track>),
    /// A Cluster starts; emitted once its Timecode has been read (before any of its frames).
    ClusterStart {
        /// Cluster Timecode, in timecode units.
        timecode: u64,
        /// Byte offset of the Cluster's ID in the input.
        offset: u64,
    },
    /// One frame.
    Frame(Frame),
    /// The current Cluster ended: its known size was reached, or (unknown size) a non-child
    /// element began, or the input finished.
    ClusterEnd,
    /// A Tags element, whole (at Segment level; KVS puts fragment metadata here).
    Tags(Vec<SimpleTag>),
    /// The Segment ended (known size reached, or a new EBML header, or the input finished).
    SegmentEnd,
}

/// What was wrong with the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// A variable-length integer is malformed (all-zero length byte...).
    #[error("invalid variable-length integer")]
    InvalidVint,
    /// An element declares more bytes than the limit allows.
    #[error("element {id:#x} declares {size} bytes; the limit is {limit}")]
    TooLarge {
        /// Element ID.
        id: u32,
        /// Declared size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// An element is not allowed here, or is not what the document must start with.
    #[error("unexpected element {id:#x}")]
    Unexpected {
        /// Element ID.
        id: u32,
    },
    /// A child element overruns its parent's declared size.
    #[error("element {id:#x} overruns its parent")]
    Overrun {
        /// Element ID.
        id: u32,
    },
    /// Unknown size used where Matroska forbids it.
    #[error("element {id:#x} has unknown size, which is not allowed for it")]
    UnknownSize {
        /// Element ID.
        id: u32,
    },
    /// The DocType is not matroska or webm.
    #[error("doc type `{0}` is not matroska or webm")]
    DocType(String),
    /// More TrackEntries than allowed.
    #[error("{count} tracks; at most {limit} are allowed")]
    TooManyTracks {
        /// Tracks found.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A TrackEntry without TrackNumber, or with 0, or a duplicate.
    #[error("invalid track entry: {0}")]
    InvalidTrack(String),
    /// A block before the Cluster Timecode.
    #[error("block before the cluster timecode")]
    MissingClusterTimecode,
    /// A block's lacing is inconsistent with its size.
    #[error("invalid lacing")]
    InvalidLacing,
    /// A number, string or float element has an impossible size or content.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// Too many SimpleTags in one Tags element.
    #[error("more than {0} tags in one Tags element")]
    TooManyTags(usize),
    /// The input ended inside an element.
    #[error("input ended inside an element")]
    Truncated,
}

/// A parse failure, with where it happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MKV at byte {offset} (in {path}): {kind}")]
pub struct ParseError {
    /// Byte offset in the input of the element (or byte) at fault.
    pub offset: u64,
    /// Element path, e.g. `Segment/Cluster/SimpleBlock`.
    pub path: String,
    /// What was wrong.
    pub kind: ParseErrorKind,
}
