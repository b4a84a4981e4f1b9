//! Writers for the Matroska vidstream emits: GetMedia / GetMediaForFragmentList documents
//! (EBML header, Segment, Info, Tracks, Tags, Clusters) and the normalized Clusters it stores.
//!
//! These are pure functions appending to a `Vec<u8>`; they do no I/O and cannot fail. Sizes use
//! the shortest encoding except where a size is not known yet ([`write_segment_start_unknown`],
//! [`write_cluster_start`] with `None`), which use the 8-byte unknown-size marker like the KVS
//! producer SDK does. Clusters are written with their size computed up front, so frame payloads
//! are copied once and their offsets are known ([`write_cluster`] returns them, for the store's
//! frame table).
//!
//! Everything written here reads back through [`Reader`](super::Reader) to the same values
//! (see the round-trip tests and the `mkv_roundtrip` fuzz target).
//!
//! Spec: RFC 8794 (EBML), RFC 9559 §5.1 (elements), §10 (SimpleBlock).

use super::block::{FLAG_DISCARDABLE, FLAG_INVISIBLE, FLAG_KEYFRAME};
use super::ebml::{
    self, element_len, size_len, write_bytes, write_float, write_header, write_id, write_master,
    write_size, write_uint, write_unknown_size,
};
use super::{Info, SimpleTag, TagValue, Track, TrackType, ids};

/// Bytes an element size field takes in the shortest encoding (1 to 8).
pub fn element_size_len(size: u64) -> usize {
    size_len(size)
}

/// Appends an EBML header for `doc_type` (`matroska` or `webm`): EBML version 1, 4-byte IDs,
/// 8-byte sizes, DocTypeVersion 4, DocTypeReadVersion 2.
pub fn write_ebml_header(buf: &mut Vec<u8>, doc_type: &str) {
    write_master(buf, ids::EBML, |b| {
        write_uint(b, ids::EBML_VERSION, 1);
        write_uint(b, ids::EBML_READ_VERSION, 1);
        write_uint(b, ids::EBML_MAX_ID_LENGTH, 4);
        write_uint(b, ids::EBML_MAX_SIZE_LENGTH, 8);
        write_bytes(b, ids::DOC_TYPE, doc_type.as_bytes());
        write_uint(b, ids::DOC_TYPE_VERSION, 4);
        write_uint(b, ids::DOC_TYPE_READ_VERSION, 2);
    });
}

/// Appends a Segment ID with an unknown size: the Segment runs to the end of the input or the
/// next EBML header. This is what live output (GetMedia) uses.
pub fn write_segment_start_unknown(buf: &mut Vec<u8>) {
    write_id(buf, ids::SEGMENT);
    write_unknown_size(buf);
}

/// Appends a Segment ID with a known data size of `size` bytes (everything that follows in the
/// Segment).
pub fn write_segment_start(buf: &mut Vec<u8>, size: u64) {
    write_header(buf, ids::SEGMENT, size);
}

/// Appends Segment Info.
pub fn write_info(buf: &mut Vec<u8>, info: &Info) {
    write_master(buf, ids::INFO, |b| {
        write_uint(b, ids::TIMECODE_SCALE, info.timecode_scale);
        if let Some(duration) = info.duration {
            write_float(b, ids::DURATION, duration);
        }
        for (id, value) in [
            (ids::TITLE, &info.title),
            (ids::MUXING_APP, &info.muxing_app),
            (ids::WRITING_APP, &info.writing_app),
        ] {
            if let Some(value) = value {
                write_bytes(b, id, value.as_bytes());
            }
        }
    });
}

/// Appends Tracks with one TrackEntry per track.
pub fn write_tracks(buf: &mut Vec<u8>, tracks: &[Track]) {
    write_master(buf, ids::TRACKS, |b| {
        for track in tracks {
            write_master(b, ids::TRACK_ENTRY, |b| write_track_entry(b, track));
        }
    });
}

fn write_track_entry(b: &mut Vec<u8>, track: &Track) {
    write_uint(b, ids::TRACK_NUMBER, track.number);
    write_uint(b, ids::TRACK_UID, track.uid);
    let track_type = match track.track_type {
        TrackType::Video => 1,
        TrackType::Audio => 2,
        TrackType::Other(n) => n,
    };
    write_uint(b, ids::TRACK_TYPE, track_type);
    write_bytes(b, ids::CODEC_ID, track.codec_id.as_bytes());
    if !track.codec_private.is_empty() {
        write_bytes(b, ids::CODEC_PRIVATE, &track.codec_private);
    }
    if let Some(name) = &track.name {
        write_bytes(b, ids::NAME, name.as_bytes());
    }
    if let Some(default_duration) = track.default_duration {
        write_uint(b, ids::DEFAULT_DURATION, default_duration);
    }
    if let Some(codec_delay) = track.codec_delay {
        write_uint(b, ids::CODEC_DELAY, codec_delay);
    }
    if let Some(video) = &track.video {
        write_master(b, ids::VIDEO, |b| {
            write_uint(b, ids::PIXEL_WIDTH, video.pixel_width);
            write_uint(b, ids::PIXEL_HEIGHT, video.pixel_height);
        });
    }
    if let Some(audio) = &track.audio {
        write_master(b, ids::AUDIO, |b| {
            write_float(b, ids::SAMPLING_FREQUENCY, audio.sampling_frequency);
            write_uint(b, ids::CHANNELS, audio.channels);
            if let Some(bit_depth) = audio.bit_depth {
                write_uint(b, ids::BIT_DEPTH, bit_depth);
            }
        });
    }
}

/// Appends one Tags element holding one Tag with empty Targets (so the tags apply to the whole
/// Segment, as KVS fragment metadata does) and `tags` as SimpleTags, in order.
pub fn write_tags(buf: &mut Vec<u8>, tags: &[SimpleTag]) {
    write_master(buf, ids::TAGS, |b| {
        write_master(b, ids::TAG, |b| {
            write_header(b, ids::TARGETS, 0);
            for tag in tags {
                write_master(b, ids::SIMPLE_TAG, |b| {
                    write_bytes(b, ids::TAG_NAME, tag.name.as_bytes());
                    match &tag.value {
                        TagValue::String(s) => write_bytes(b, ids::TAG_STRING, s.as_bytes()),
                        TagValue::Binary(data) => write_bytes(b, ids::TAG_BINARY, data),
                    }
                });
            }
        });
    });
}

/// Bytes taken by a Cluster's Timecode element.
fn timecode_element_len(timecode: u64) -> usize {
    2 + ebml::uint_len(timecode)
}

/// Appends a Cluster header and its Timecode element. `blocks_len` is the size of what will
/// follow the Timecode in this Cluster (the blocks), or `None` to write an unknown size (the
/// Cluster then ends at the next Cluster, Tags, or the end of the Segment).
pub fn write_cluster_start(buf: &mut Vec<u8>, timecode: u64, blocks_len: Option<u64>) {
    write_id(buf, ids::CLUSTER);
    match blocks_len {
        Some(len) => write_size(buf, len + timecode_element_len(timecode) as u64),
        None => write_unknown_size(buf),
    }
    write_uint(buf, ids::TIMECODE, timecode);
}

/// Bytes of a SimpleBlock's data before the frame payload: track number, relative timecode,
/// flags.
pub fn simple_block_header_len(track: u64) -> usize {
    size_len(track) + 3
}

/// Bytes a whole SimpleBlock element takes (ID, size, header, payload).
pub fn simple_block_len(track: u64, payload_len: usize) -> usize {
    element_len(
        ids::SIMPLE_BLOCK,
        simple_block_header_len(track) + payload_len,
    )
}

/// Appends a SimpleBlock with one frame (no lacing). `relative_timecode` is relative to the
/// Cluster's Timecode.
pub fn write_simple_block(
    buf: &mut Vec<u8>,
    track: u64,
    relative_timecode: i16,
    keyframe: bool,
    invisible: bool,
    discardable: bool,
    data: &[u8],
) {
    let size = simple_block_header_len(track) + data.len();
    write_header(buf, ids::SIMPLE_BLOCK, size as u64);
    write_size(buf, track);
    buf.extend_from_slice(&relative_timecode.to_be_bytes());
    let mut flags = 0;
    for (set, flag) in [
        (keyframe, FLAG_KEYFRAME),
        (invisible, FLAG_INVISIBLE),
        (discardable, FLAG_DISCARDABLE),
    ] {
        if set {
            flags |= flag;
        }
    }
    buf.push(flags);
    buf.extend_from_slice(data);
}

/// Appends a known-size Cluster at `timecode` holding one SimpleBlock per frame
/// (`(track, relative timecode, keyframe, payload)`), and returns the offset in `buf` of each
/// frame's payload, in order.
///
/// ```text
/// 1F 43 B6 75  <size>       Cluster
///   E7 81 00                Timecode 0
///   A3 <size>               SimpleBlock
///     81 00 00 80           track 1, relative timecode 0, keyframe
///     <payload>             <- offset returned
/// ```
pub fn write_cluster(
    buf: &mut Vec<u8>,
    timecode: u64,
    frames: &[(u64, i16, bool, &[u8])],
) -> Vec<usize> {
    let blocks_len: usize = frames
        .iter()
        .map(|&(track, _, _, data)| simple_block_len(track, data.len()))
        .sum();
    buf.reserve(12 + timecode_element_len(timecode) + blocks_len);
    write_cluster_start(buf, timecode, Some(blocks_len as u64));
    frames
        .iter()
        .map(|&(track, relative_timecode, keyframe, data)| {
            write_simple_block(buf, track, relative_timecode, keyframe, false, false, data);
            buf.len() - data.len()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::mkv::{AudioSettings, Event, Frame, Limits, Reader, VideoSettings};

    fn read_all(data: &[u8]) -> Vec<Event> {
        let mut reader = Reader::new(Limits::default());
        reader.push(data);
        reader.finish().expect("writer output must parse")
    }

    /// The smallest useful document, byte by byte: what GetMedia output starts with.
    #[test]
    fn tiny_document_exact_bytes() {
        let mut buf = Vec::new();
        write_ebml_header(&mut buf, "matroska");
        write_segment_start_unknown(&mut buf);
        let offsets = write_cluster(&mut buf, 0, &[(1, 0, true, &[0xAA, 0xBB])]);
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x1A, 0x45, 0xDF, 0xA3, 0xA3,                   // EBML, size 35
              0x42, 0x86, 0x81, 0x01,                       //   EBMLVersion 1
              0x42, 0xF7, 0x81, 0x01,                       //   EBMLReadVersion 1
              0x42, 0xF2, 0x81, 0x04,                       //   EBMLMaxIDLength 4
              0x42, 0xF3, 0x81, 0x08,                       //   EBMLMaxSizeLength 8
              0x42, 0x82, 0x88, b'm', b'a', b't', b'r', b'o', b's', b'k', b'a', // DocType
              0x42, 0x87, 0x81, 0x04,                       //   DocTypeVersion 4
              0x42, 0x85, 0x81, 0x02,                       //   DocTypeReadVersion 2
            0x18, 0x53, 0x80, 0x67,                         // Segment
              0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, //   unknown size
              0x1F, 0x43, 0xB6, 0x75, 0x8B,                 //   Cluster, size 11
                0xE7, 0x81, 0x00,                           //     Timecode 0
                0xA3, 0x86,                                 //     SimpleBlock, size 6
                  0x81, 0x00, 0x00, 0x80,                   //       track 1, +0, keyframe
                  0xAA, 0xBB,                               //       payload
        ];
        assert_eq!(buf, want);
        assert_eq!(offsets, vec![want.len() - 2]);
        assert_eq!(
            read_all(&buf),
            vec![
                Event::Header(crate::mkv::EbmlHeader {
                    doc_type: "matroska".into()
                }),
                Event::SegmentStart { size: None },
                Event::ClusterStart {
                    timecode: 0,
                    offset: 52
                },
                Event::Frame(Frame {
                    track: 1,
                    timecode: 0,
                    keyframe: true,
                    invisible: false,
                    discardable: false,
                    duration: None,
                    lace: (0, 1),
                    data: Bytes::from_static(&[0xAA, 0xBB]),
                }),
                Event::ClusterEnd,
                Event::SegmentEnd,
            ]
        );
    }

    #[test]
    fn lengths_match_what_is_written() {
        for track in [1, 126, 127, 200, 20_000] {
            for payload in [0, 1, 120, 121, 20_000] {
                let mut buf = Vec::new();
                write_simple_block(&mut buf, track, -3, false, true, true, &vec![7; payload]);
                assert_eq!(
                    buf.len(),
                    simple_block_len(track, payload),
                    "{track} {payload}"
                );
                let header = buf.len() - payload - simple_block_header_len(track);
                assert_eq!(header, 1 + element_size_len((buf.len() - header) as u64));
            }
        }
        for timecode in [0, 255, 256, u64::from(u32::MAX) + 1] {
            let mut buf = Vec::new();
            write_cluster_start(&mut buf, timecode, Some(0));
            assert_eq!(buf.len(), 5 + timecode_element_len(timecode));
        }
    }

    #[test]
    fn metadata_round_trips() {
        let info = Info {
            timecode_scale: 1_000_000,
            duration: Some(5000.0),
            title: Some("cam1".into()),
            muxing_app: Some("vidstream".into()),
            writing_app: None,
        };
        let tracks = vec![
            Track {
                number: 1,
                uid: 0x1234_5678_9ABC,
                track_type: TrackType::Video,
                codec_id: "V_MPEG4/ISO/AVC".into(),
                codec_private: Bytes::from_static(&[1, 0x42, 0xC0, 0x1E]),
                name: Some("video".into()),
                default_duration: Some(33_333_333),
                codec_delay: None,
                video: Some(VideoSettings {
                    pixel_width: 320,
                    pixel_height: 240,
                }),
                audio: None,
            },
            Track {
                number: 2,
                uid: 2,
                track_type: TrackType::Audio,
                codec_id: "A_AAC".into(),
                codec_private: Bytes::new(),
                name: None,
                default_duration: None,
                codec_delay: Some(0),
                video: None,
                audio: Some(AudioSettings {
                    sampling_frequency: 44100.0,
                    channels: 2,
                    bit_depth: Some(16),
                }),
            },
        ];
        let tags = vec![
            SimpleTag {
                name: "AWS_KINESISVIDEO_FRAGMENT_NUMBER".into(),
                value: TagValue::String("91343852333181432392682062622220590765191907586".into()),
            },
            SimpleTag {
                name: "bin".into(),
                value: TagValue::Binary(Bytes::from_static(&[0, 1, 2])),
            },
        ];
        let mut buf = Vec::new();
        write_ebml_header(&mut buf, "webm");
        let segment_start = buf.len();
        write_segment_start(&mut buf, 0);
        let content_start = buf.len();
        write_info(&mut buf, &info);
        write_tracks(&mut buf, &tracks);
        write_tags(&mut buf, &tags);
        let offsets = write_cluster(
            &mut buf,
            1000,
            &[(1, 0, true, b"key"), (2, -5, false, b"aac")],
        );
        // Patch the Segment size now that it is known: 2 bytes instead of the placeholder's 1,
        // so everything after it moves by one.
        let content_len = (buf.len() - content_start) as u64;
        let mut segment = Vec::new();
        write_segment_start(&mut segment, content_len);
        assert_eq!(segment.len(), content_start - segment_start + 1);
        buf.splice(segment_start..content_start, segment);
        let offsets: Vec<usize> = offsets.iter().map(|o| o + 1).collect();
        assert_eq!(&buf[offsets[0]..offsets[0] + 3], b"key");
        assert_eq!(&buf[offsets[1]..offsets[1] + 3], b"aac");

        let events = read_all(&buf);
        assert_eq!(
            events[1],
            Event::SegmentStart {
                size: Some(content_len)
            }
        );
        assert_eq!(events[2], Event::Info(info));
        assert_eq!(events[3], Event::Tracks(tracks));
        assert_eq!(events[4], Event::Tags(tags));
        let frames: Vec<(u64, i64, bool)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Frame(f) => Some((f.track, f.timecode, f.keyframe)),
                _ => None,
            })
            .collect();
        assert_eq!(frames, vec![(1, 1000, true), (2, 995, false)]);
        assert_eq!(events.last(), Some(&Event::SegmentEnd));
    }
}
