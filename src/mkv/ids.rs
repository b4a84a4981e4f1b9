//! Element IDs of the EBML header and the Matroska elements vidstream reads or writes.
//!
//! IDs are kept as they appear on the wire, marker bit included (`Segment` is `0x18538067`, not
//! `0x08538067`), which is how RFC 8794 and RFC 9559 write them and how `mkvinfo` prints them, so
//! a value seen in a hex dump can be searched for here as is. [`name`] turns an ID into the name
//! used in [`ParseError::path`](super::ParseError::path).
//!
//! Spec: RFC 8794 §11.2 (EBML header, global elements) and RFC 9559 §5.1 (Matroska elements).

// EBML header (RFC 8794 §11.2).
/// EBML header: the start of every document.
pub const EBML: u32 = 0x1A45_DFA3;
/// EBMLVersion.
pub const EBML_VERSION: u32 = 0x4286;
/// EBMLReadVersion.
pub const EBML_READ_VERSION: u32 = 0x42F7;
/// EBMLMaxIDLength.
pub const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
/// EBMLMaxSizeLength.
pub const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
/// DocType (`matroska`, `webm`).
pub const DOC_TYPE: u32 = 0x4282;
/// DocTypeVersion.
pub const DOC_TYPE_VERSION: u32 = 0x4287;
/// DocTypeReadVersion.
pub const DOC_TYPE_READ_VERSION: u32 = 0x4285;

// Global elements, allowed anywhere (RFC 8794 §11.3).
/// Void: padding.
pub const VOID: u32 = 0xEC;
/// CRC-32 of the parent's other children.
pub const CRC32: u32 = 0xBF;

// Segment and its direct children (RFC 9559 §5.1).
/// Segment: the root of a Matroska document.
pub const SEGMENT: u32 = 0x1853_8067;
/// SeekHead: an index of top-level elements (skipped: we stream).
pub const SEEK_HEAD: u32 = 0x114D_9B74;
/// Info: segment information.
pub const INFO: u32 = 0x1549_A966;
/// Tracks.
pub const TRACKS: u32 = 0x1654_AE6B;
/// Cluster: a run of blocks sharing one base timecode. KVS: one fragment.
pub const CLUSTER: u32 = 0x1F43_B675;
/// Cues: a seek index (skipped).
pub const CUES: u32 = 0x1C53_BB6B;
/// Chapters (skipped).
pub const CHAPTERS: u32 = 0x1043_A770;
/// Attachments (skipped).
pub const ATTACHMENTS: u32 = 0x1941_A469;
/// Tags. KVS: fragment metadata.
pub const TAGS: u32 = 0x1254_C367;

// Info children.
/// SegmentUID.
pub const SEGMENT_UID: u32 = 0x73A4;
/// TimecodeScale (TimestampScale in RFC 9559): nanoseconds per timecode unit.
pub const TIMECODE_SCALE: u32 = 0x2A_D7B1;
/// Duration, in timecode units, as a float.
pub const DURATION: u32 = 0x4489;
/// DateUTC.
pub const DATE_UTC: u32 = 0x4461;
/// Title.
pub const TITLE: u32 = 0x7BA9;
/// MuxingApp.
pub const MUXING_APP: u32 = 0x4D80;
/// WritingApp.
pub const WRITING_APP: u32 = 0x5741;

// Tracks children.
/// TrackEntry: one track.
pub const TRACK_ENTRY: u32 = 0xAE;
/// TrackNumber: what blocks refer to.
pub const TRACK_NUMBER: u32 = 0xD7;
/// TrackUID.
pub const TRACK_UID: u32 = 0x73C5;
/// TrackType (1 video, 2 audio...).
pub const TRACK_TYPE: u32 = 0x83;
/// FlagLacing.
pub const FLAG_LACING: u32 = 0x9C;
/// DefaultDuration, in nanoseconds.
pub const DEFAULT_DURATION: u32 = 0x23_E383;
/// Name.
pub const NAME: u32 = 0x536E;
/// Language.
pub const LANGUAGE: u32 = 0x22_B59C;
/// CodecID, e.g. `V_MPEG4/ISO/AVC`.
pub const CODEC_ID: u32 = 0x86;
/// CodecPrivate (avcC, hvcC, AudioSpecificConfig...).
pub const CODEC_PRIVATE: u32 = 0x63A2;
/// CodecName.
pub const CODEC_NAME: u32 = 0x25_8688;
/// CodecDelay, in nanoseconds.
pub const CODEC_DELAY: u32 = 0x56AA;
/// SeekPreRoll, in nanoseconds.
pub const SEEK_PRE_ROLL: u32 = 0x56BB;
/// Video settings.
pub const VIDEO: u32 = 0xE0;
/// PixelWidth.
pub const PIXEL_WIDTH: u32 = 0xB0;
/// PixelHeight.
pub const PIXEL_HEIGHT: u32 = 0xBA;
/// Audio settings.
pub const AUDIO: u32 = 0xE1;
/// SamplingFrequency, in Hz, as a float.
pub const SAMPLING_FREQUENCY: u32 = 0xB5;
/// Channels.
pub const CHANNELS: u32 = 0x9F;
/// BitDepth.
pub const BIT_DEPTH: u32 = 0x6264;

// Cluster children.
/// Timecode (Timestamp in RFC 9559): the cluster's base timecode.
pub const TIMECODE: u32 = 0xE7;
/// SilentTracks (deprecated, skipped).
pub const SILENT_TRACKS: u32 = 0x5854;
/// Position: the cluster's offset in the segment (skipped).
pub const POSITION: u32 = 0xA7;
/// PrevSize: the previous cluster's size (skipped).
pub const PREV_SIZE: u32 = 0xAB;
/// SimpleBlock: a block with its flags inline, no group.
pub const SIMPLE_BLOCK: u32 = 0xA3;
/// BlockGroup: a Block with its duration and references.
pub const BLOCK_GROUP: u32 = 0xA0;
/// EncryptedBlock (deprecated, skipped).
pub const ENCRYPTED_BLOCK: u32 = 0xAF;

// BlockGroup children.
/// Block.
pub const BLOCK: u32 = 0xA1;
/// BlockAdditions (skipped).
pub const BLOCK_ADDITIONS: u32 = 0x75A1;
/// BlockDuration, in timecode units.
pub const BLOCK_DURATION: u32 = 0x9B;
/// ReferencePriority.
pub const REFERENCE_PRIORITY: u32 = 0xFA;
/// ReferenceBlock: present means "not a keyframe".
pub const REFERENCE_BLOCK: u32 = 0xFB;
/// DiscardPadding.
pub const DISCARD_PADDING: u32 = 0x75A2;

// Tags children.
/// Tag.
pub const TAG: u32 = 0x7373;
/// Targets: what a Tag applies to.
pub const TARGETS: u32 = 0x63C0;
/// TargetTypeValue.
pub const TARGET_TYPE_VALUE: u32 = 0x68CA;
/// TargetType.
pub const TARGET_TYPE: u32 = 0x63CA;
/// TagTrackUID.
pub const TAG_TRACK_UID: u32 = 0x63C5;
/// SimpleTag: a name and a value, possibly with nested SimpleTags.
pub const SIMPLE_TAG: u32 = 0x67C8;
/// TagName.
pub const TAG_NAME: u32 = 0x45A3;
/// TagLanguage.
pub const TAG_LANGUAGE: u32 = 0x447A;
/// TagDefault.
pub const TAG_DEFAULT: u32 = 0x4484;
/// TagString.
pub const TAG_STRING: u32 = 0x4487;
/// TagBinary.
pub const TAG_BINARY: u32 = 0x4485;

/// Whether `id` is a direct child of Segment in the Matroska schema. Inside an unknown-size
/// Cluster, such an element (or a top-level one) ends the Cluster (RFC 8794 §6.2).
pub fn is_segment_child(id: u32) -> bool {
    matches!(
        id,
        SEEK_HEAD | INFO | TRACKS | CLUSTER | CUES | CHAPTERS | ATTACHMENTS | TAGS
    )
}

/// The element's name as RFC 9559 spells it, for error paths; `Unknown` for IDs not listed here.
pub fn name(id: u32) -> &'static str {
    match id {
        EBML => "EBML",
        EBML_VERSION => "EBMLVersion",
        EBML_READ_VERSION => "EBMLReadVersion",
        EBML_MAX_ID_LENGTH => "EBMLMaxIDLength",
        EBML_MAX_SIZE_LENGTH => "EBMLMaxSizeLength",
        DOC_TYPE => "DocType",
        DOC_TYPE_VERSION => "DocTypeVersion",
        DOC_TYPE_READ_VERSION => "DocTypeReadVersion",
        VOID => "Void",
        CRC32 => "CRC-32",
        SEGMENT => "Segment",
        SEEK_HEAD => "SeekHead",
        INFO => "Info",
        TRACKS => "Tracks",
        CLUSTER => "Cluster",
        CUES => "Cues",
        CHAPTERS => "Chapters",
        ATTACHMENTS => "Attachments",
        TAGS => "Tags",
        SEGMENT_UID => "SegmentUID",
        TIMECODE_SCALE => "TimecodeScale",
        DURATION => "Duration",
        DATE_UTC => "DateUTC",
        TITLE => "Title",
        MUXING_APP => "MuxingApp",
        WRITING_APP => "WritingApp",
        TRACK_ENTRY => "TrackEntry",
        TRACK_NUMBER => "TrackNumber",
        TRACK_UID => "TrackUID",
        TRACK_TYPE => "TrackType",
        FLAG_LACING => "FlagLacing",
        DEFAULT_DURATION => "DefaultDuration",
        NAME => "Name",
        LANGUAGE => "Language",
        CODEC_ID => "CodecID",
        CODEC_PRIVATE => "CodecPrivate",
        CODEC_NAME => "CodecName",
        CODEC_DELAY => "CodecDelay",
        SEEK_PRE_ROLL => "SeekPreRoll",
        VIDEO => "Video",
        PIXEL_WIDTH => "PixelWidth",
        PIXEL_HEIGHT => "PixelHeight",
        AUDIO => "Audio",
        SAMPLING_FREQUENCY => "SamplingFrequency",
        CHANNELS => "Channels",
        BIT_DEPTH => "BitDepth",
        TIMECODE => "Timecode",
        SILENT_TRACKS => "SilentTracks",
        POSITION => "Position",
        PREV_SIZE => "PrevSize",
        SIMPLE_BLOCK => "SimpleBlock",
        BLOCK_GROUP => "BlockGroup",
        ENCRYPTED_BLOCK => "EncryptedBlock",
        BLOCK => "Block",
        BLOCK_ADDITIONS => "BlockAdditions",
        BLOCK_DURATION => "BlockDuration",
        REFERENCE_PRIORITY => "ReferencePriority",
        REFERENCE_BLOCK => "ReferenceBlock",
        DISCARD_PADDING => "DiscardPadding",
        TAG => "Tag",
        TARGETS => "Targets",
        TARGET_TYPE_VALUE => "TargetTypeValue",
        TARGET_TYPE => "TargetType",
        TAG_TRACK_UID => "TagTrackUID",
        SIMPLE_TAG => "SimpleTag",
        TAG_NAME => "TagName",
        TAG_LANGUAGE => "TagLanguage",
        TAG_DEFAULT => "TagDefault",
        TAG_STRING => "TagString",
        TAG_BINARY => "TagBinary",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_ids_seen_in_hex_dumps() {
        for (id, want) in [
            (0x1A45_DFA3, "EBML"),
            (0x1853_8067, "Segment"),
            (0x1F43_B675, "Cluster"),
            (0xA3, "SimpleBlock"),
            (0xBF, "CRC-32"),
            (0x67C8, "SimpleTag"),
            (0x2A_D7B1, "TimecodeScale"),
            (0x1234_5678, "Unknown"),
        ] {
            assert_eq!(name(id), want, "{id:#x}");
        }
    }

    #[test]
    fn segment_children() {
        assert!(is_segment_child(CLUSTER));
        assert!(is_segment_child(TAGS));
        assert!(is_segment_child(CUES));
        assert!(!is_segment_child(SIMPLE_BLOCK));
        assert!(!is_segment_child(SEGMENT));
        assert!(!is_segment_child(VOID));
    }
}
