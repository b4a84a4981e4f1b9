//! Metadata elements the reader buffers whole and hands out as values: the EBML header, Info,
//! Tracks and Tags.
//!
//! Each parser takes the element's data (already bounded by `Limits::max_metadata_bytes`) and
//! its input offset, and returns the value or a [`Fault`] pointing at the child at fault. Values
//! the rest of vidstream depends on are validated here (TrackNumber present, non-zero and
//! unique; track count, CodecPrivate and tag sizes within [`Limits`]; floats in range) so that
//! later stages can trust an [`Event`](super::Event). Elements we do not use are ignored.
//!
//! Spec: RFC 8794 §11.2 (EBML header); RFC 9559 §5.1.2 (Info), §5.1.4 (Tracks), §5.1.8 (Tags).

use bytes::Bytes;

use super::ebml::{self, Child, Children, Fault};
use super::{
    AudioSettings, EbmlHeader, Info, Limits, ParseErrorKind, SimpleTag, TagValue, Track, TrackType,
    VideoSettings, ids,
};

/// How deep SimpleTags may nest. Recursion is bounded so a crafted Tags element cannot exhaust
/// the stack; real files nest one or two levels.
const MAX_SIMPLE_TAG_DEPTH: usize = 8;

fn uint(child: &Child) -> Result<u64, Fault> {
    ebml::read_uint(&child.data).map_err(|k| Fault::at(child, k))
}

fn string(child: &Child) -> String {
    ebml::read_string(&child.data)
}

/// A float that RFC 9559 requires to be greater than 0 (Duration, SamplingFrequency); this also
/// keeps NaN out of the values we hand on.
fn positive_float(child: &Child) -> Result<f64, Fault> {
    let value = ebml::read_float(&child.data).map_err(|k| Fault::at(child, k))?;
    if value > 0.0 && value.is_finite() {
        Ok(value)
    } else {
        let kind = ParseErrorKind::InvalidValue(format!("{} is {value}", ids::name(child.id)));
        Err(Fault::at(child, kind))
    }
}

fn invalid(offset: u64, message: impl Into<String>) -> Fault {
    Fault {
        offset,
        path: Vec::new(),
        kind: ParseErrorKind::InvalidValue(message.into()),
    }
}

/// Parses the EBML header; the DocType must be `matroska` or `webm`.
pub(crate) fn parse_ebml_header(data: Bytes, base: u64) -> Result<EbmlHeader, Fault> {
    let mut doc_type = None;
    for child in Children::new(data, base) {
        let child = child?;
        if child.id == ids::DOC_TYPE {
            doc_type = Some(string(&child));
        }
    }
    match doc_type {
        Some(doc_type) if doc_type == "matroska" || doc_type == "webm" => {
            Ok(EbmlHeader { doc_type })
        }
        other => Err(Fault {
            offset: base,
            path: Vec::new(),
            kind: ParseErrorKind::DocType(other.unwrap_or_default()),
        }),
    }
}

/// Parses Segment Info.
pub(crate) fn parse_info(data: Bytes, base: u64) -> Result<Info, Fault> {
    let mut info = Info::default();
    for child in Children::new(data, base) {
        let child = child?;
        match child.id {
            ids::TIMECODE_SCALE => {
                info.timecode_scale = uint(&child)?;
                if info.timecode_scale == 0 {
                    let kind = ParseErrorKind::InvalidValue("TimecodeScale is 0".into());
                    return Err(Fault::at(&child, kind));
                }
            }
            ids::DURATION => info.duration = Some(positive_float(&child)?),
            ids::TITLE => info.title = Some(string(&child)),
            ids::MUXING_APP => info.muxing_app = Some(string(&child)),
            ids::WRITING_APP => info.writing_app = Some(string(&child)),
            _ => {}
        }
    }
    Ok(info)
}

/// Parses Tracks: at most `limits.max_tracks` entries, each with a unique non-zero TrackNumber,
/// a TrackType and a CodecID.
pub(crate) fn parse_tracks(data: Bytes, base: u64, limits: &Limits) -> Result<Vec<Track>, Fault> {
    // Count first, so the error says how many tracks there are, before parsing any of them.
    let mut count = 0;
    for child in Children::new(data.clone(), base) {
        if child?.id == ids::TRACK_ENTRY {
            count += 1;
        }
    }
    if count > limits.max_tracks {
        return Err(Fault {
            offset: base,
            path: Vec::new(),
            kind: ParseErrorKind::TooManyTracks {
                count,
                limit: limits.max_tracks,
            },
        });
    }
    let mut tracks: Vec<Track> = Vec::with_capacity(count);
    for child in Children::new(data, base) {
        let child = child?;
        if child.id != ids::TRACK_ENTRY {
            continue;
        }
        let track = parse_track_entry(&child, limits).map_err(|f| f.within(ids::TRACK_ENTRY))?;
        if tracks.iter().any(|t| t.number == track.number) {
            let message = format!("TrackNumber {} is used twice", track.number);
            return Err(Fault::at(&child, ParseErrorKind::InvalidTrack(message)));
        }
        tracks.push(track);
    }
    Ok(tracks)
}

fn parse_track_entry(entry: &Child, limits: &Limits) -> Result<Track, Fault> {
    let mut number = None;
    let mut track_type = None;
    let mut codec_id = None;
    let mut track = Track {
        number: 0,
        uid: 0,
        track_type: TrackType::Other(0),
        codec_id: String::new(),
        codec_private: Bytes::new(),
        name: None,
        default_duration: None,
        codec_delay: None,
        video: None,
        audio: None,
    };
    for child in Children::new(entry.data.clone(), entry.data_offset) {
        let child = child?;
        match child.id {
            ids::TRACK_NUMBER => number = Some((uint(&child)?, child.offset)),
            ids::TRACK_UID => track.uid = uint(&child)?,
            ids::TRACK_TYPE => {
                track_type = Some(match uint(&child)? {
                    1 => TrackType::Video,
                    2 => TrackType::Audio,
                    other => TrackType::Other(other),
                })
            }
            ids::CODEC_ID => codec_id = Some(string(&child)),
            ids::CODEC_PRIVATE => {
                let size = child.data.len() as u64;
                if size > limits.max_codec_private_bytes {
                    let kind = ParseErrorKind::TooLarge {
                        id: child.id,
                        size,
                        limit: limits.max_codec_private_bytes,
                    };
                    return Err(Fault::at(&child, kind));
                }
                track.codec_private = child.data.clone();
            }
            ids::NAME => track.name = Some(string(&child)),
            ids::DEFAULT_DURATION => track.default_duration = Some(uint(&child)?),
            ids::CODEC_DELAY => track.codec_delay = Some(uint(&child)?),
            ids::VIDEO => {
                track.video = Some(parse_video(&child).map_err(|f| f.within(ids::VIDEO))?)
            }
            ids::AUDIO => {
                track.audio = Some(parse_audio(&child).map_err(|f| f.within(ids::AUDIO))?)
            }
            _ => {}
        }
    }
    let missing = |what: &str| {
        let message = format!("{what} is missing");
        Fault {
            offset: entry.offset,
            path: Vec::new(),
            kind: ParseErrorKind::InvalidTrack(message),
        }
    };
    track.number = match number {
        None => return Err(missing("TrackNumber")),
        Some((0, offset)) => {
            let kind = ParseErrorKind::InvalidTrack("TrackNumber is 0".into());
            return Err(Fault {
                offset,
                path: vec![ids::TRACK_NUMBER],
                kind,
            });
        }
        Some((number, _)) => number,
    };
    track.track_type = track_type.ok_or_else(|| missing("TrackType"))?;
    track.codec_id = codec_id.ok_or_else(|| missing("CodecID"))?;
    Ok(track)
}

fn parse_video(video: &Child) -> Result<VideoSettings, Fault> {
    let mut settings = VideoSettings::default();
    for child in Children::new(video.data.clone(), video.data_offset) {
        let child = child?;
        match child.id {
            ids::PIXEL_WIDTH => settings.pixel_width = uint(&child)?,
            ids::PIXEL_HEIGHT => settings.pixel_height = uint(&child)?,
            _ => {}
        }
    }
    Ok(settings)
}

fn parse_audio(audio: &Child) -> Result<AudioSettings, Fault> {
    let mut settings = AudioSettings {
        sampling_frequency: 8000.0,
        channels: 1,
        bit_depth: None,
    };
    for child in Children::new(audio.data.clone(), audio.data_offset) {
        let child = child?;
        match child.id {
            ids::SAMPLING_FREQUENCY => settings.sampling_frequency = positive_float(&child)?,
            ids::CHANNELS => settings.channels = uint(&child)?,
            ids::BIT_DEPTH => settings.bit_depth = Some(uint(&child)?),
            _ => {}
        }
    }
    Ok(settings)
}

/// Parses a Tags element into its SimpleTags, flattened in document order (a SimpleTag before
/// the SimpleTags nested in it), across all of its Tag elements. Targets are ignored: KVS
/// fragment metadata applies to the fragment, not to a track.
pub(crate) fn parse_tags(data: Bytes, base: u64, limits: &Limits) -> Result<Vec<SimpleTag>, Fault> {
    let mut out = Vec::new();
    for tag in Children::new(data, base) {
        let tag = tag?;
        if tag.id != ids::TAG {
            continue;
        }
        for child in Children::new(tag.data.clone(), tag.data_offset) {
            let child = child.map_err(|f| f.within(ids::TAG))?;
            if child.id == ids::SIMPLE_TAG {
                parse_simple_tag(&child, limits, 1, &mut out)
                    .map_err(|f| f.within(ids::SIMPLE_TAG).within(ids::TAG))?;
            }
        }
    }
    Ok(out)
}

fn parse_simple_tag(
    simple_tag: &Child,
    limits: &Limits,
    depth: usize,
    out: &mut Vec<SimpleTag>,
) -> Result<(), Fault> {
    if out.len() >= limits.max_simple_tags {
        return Err(Fault {
            offset: simple_tag.offset,
            path: Vec::new(),
            kind: ParseErrorKind::TooManyTags(limits.max_simple_tags),
        });
    }
    if depth > MAX_SIMPLE_TAG_DEPTH {
        let message = format!("SimpleTags nested more than {MAX_SIMPLE_TAG_DEPTH} deep");
        return Err(invalid(simple_tag.offset, message));
    }
    // Reserve this tag's place so it precedes its nested tags.
    let index = out.len();
    out.push(SimpleTag {
        name: String::new(),
        value: TagValue::String(String::new()),
    });
    let mut name = None;
    for child in Children::new(simple_tag.data.clone(), simple_tag.data_offset) {
        let child = child?;
        let limit = match child.id {
            ids::TAG_NAME => limits.max_tag_name_bytes,
            ids::TAG_STRING | ids::TAG_BINARY => limits.max_tag_value_bytes,
            ids::SIMPLE_TAG => {
                parse_simple_tag(&child, limits, depth + 1, out)
                    .map_err(|f| f.within(ids::SIMPLE_TAG))?;
                continue;
            }
            _ => continue,
        };
        let size = child.data.len() as u64;
        if size > limit {
            let kind = ParseErrorKind::TooLarge {
                id: child.id,
                size,
                limit,
            };
            return Err(Fault::at(&child, kind));
        }
        // Invalid UTF-8 becomes U+FFFD (3 bytes), so a string can grow: check the limit again
        // on what we hand on, which is also what a writer would write back.
        let text = || {
            let text = string(&child);
            if text.len() as u64 > limit {
                let size = text.len() as u64;
                let kind = ParseErrorKind::TooLarge {
                    id: child.id,
                    size,
                    limit,
                };
                return Err(Fault::at(&child, kind));
            }
            Ok(text)
        };
        let tag = out
            .get_mut(index)
            .expect("pushed above; only appended since");
        match child.id {
            ids::TAG_NAME => name = Some(text()?),
            ids::TAG_STRING => tag.value = TagValue::String(text()?),
            _ => tag.value = TagValue::Binary(child.data.clone()),
        }
    }
    let name = name.ok_or_else(|| invalid(simple_tag.offset, "SimpleTag without TagName"))?;
    out.get_mut(index).expect("pushed above").name = name;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mkv::ebml::{write_bytes, write_float, write_master, write_uint};

    fn bytes(f: impl FnOnce(&mut Vec<u8>)) -> Bytes {
        let mut buf = Vec::new();
        f(&mut buf);
        Bytes::from(buf)
    }

    fn entry(buf: &mut Vec<u8>, number: Option<u64>, extra: impl FnOnce(&mut Vec<u8>)) {
        write_master(buf, ids::TRACK_ENTRY, |b| {
            if let Some(n) = number {
                write_uint(b, ids::TRACK_NUMBER, n);
            }
            write_uint(b, ids::TRACK_TYPE, 1);
            write_bytes(b, ids::CODEC_ID, b"V_MPEG4/ISO/AVC\0");
            extra(b);
        });
    }

    #[test]
    fn ebml_header_doc_types() {
        let header = |doc: &[u8]| bytes(|b| write_bytes(b, ids::DOC_TYPE, doc));
        assert_eq!(
            parse_ebml_header(header(b"webm"), 0).unwrap().doc_type,
            "webm"
        );
        assert_eq!(
            parse_ebml_header(header(b"matroska\0"), 0)
                .unwrap()
                .doc_type,
            "matroska"
        );
        let err = parse_ebml_header(header(b"mp4"), 5).unwrap_err();
        assert_eq!(
            (err.offset, err.kind),
            (5, ParseErrorKind::DocType("mp4".into()))
        );
        let err = parse_ebml_header(Bytes::new(), 0).unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::DocType(String::new()));
    }

    #[test]
    fn info_defaults_and_values() {
        assert_eq!(parse_info(Bytes::new(), 0).unwrap(), Info::default());
        let data = bytes(|b| {
            write_uint(b, ids::TIMECODE_SCALE, 1000);
            write_float(b, ids::DURATION, 5000.0);
            write_bytes(
                b,
                ids::MUXING_APP,
                b"GStreamer matroskamux version 1.22.0\0",
            );
        });
        let info = parse_info(data, 0).unwrap();
        assert_eq!(info.timecode_scale, 1000);
        assert_eq!(info.duration, Some(5000.0));
        assert_eq!(
            info.muxing_app.as_deref(),
            Some("GStreamer matroskamux version 1.22.0")
        );
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let data = bytes(|b| write_float(b, ids::DURATION, bad));
            assert!(parse_info(data, 0).is_err(), "{bad}");
        }
        let zero_scale = bytes(|b| write_uint(b, ids::TIMECODE_SCALE, 0));
        assert!(parse_info(zero_scale, 0).is_err());
    }

    #[test]
    fn tracks_are_validated() {
        let limits = Limits::default();
        let ok = bytes(|b| {
            entry(b, Some(1), |b| {
                write_bytes(b, ids::CODEC_PRIVATE, &[1, 2, 3]);
                write_master(b, ids::VIDEO, |b| {
                    write_uint(b, ids::PIXEL_WIDTH, 320);
                    write_uint(b, ids::PIXEL_HEIGHT, 240);
                });
            });
            write_master(b, ids::TRACK_ENTRY, |b| {
                write_uint(b, ids::TRACK_NUMBER, 2);
                write_uint(b, ids::TRACK_TYPE, 2);
                write_bytes(b, ids::CODEC_ID, b"A_AAC");
                write_master(b, ids::AUDIO, |b| write_uint(b, ids::CHANNELS, 2));
            });
        });
        let tracks = parse_tracks(ok, 0, &limits).unwrap();
        assert_eq!(tracks.len(), 2);
        assert_eq!(tracks[0].codec_id, "V_MPEG4/ISO/AVC");
        assert_eq!(&tracks[0].codec_private[..], &[1, 2, 3]);
        assert_eq!(
            tracks[0].video,
            Some(VideoSettings {
                pixel_width: 320,
                pixel_height: 240
            })
        );
        assert_eq!(tracks[1].track_type, TrackType::Audio);
        let audio = tracks[1].audio.unwrap();
        assert_eq!((audio.sampling_frequency, audio.channels), (8000.0, 2));

        // (tracks data, expected error kind, expected path)
        let cases: Vec<(Bytes, ParseErrorKind, Vec<u32>)> = vec![
            (
                bytes(|b| entry(b, None, |_| {})),
                ParseErrorKind::InvalidTrack("TrackNumber is missing".into()),
                vec![ids::TRACK_ENTRY],
            ),
            (
                bytes(|b| entry(b, Some(0), |_| {})),
                ParseErrorKind::InvalidTrack("TrackNumber is 0".into()),
                vec![ids::TRACK_ENTRY, ids::TRACK_NUMBER],
            ),
            (
                bytes(|b| {
                    entry(b, Some(1), |_| {});
                    entry(b, Some(1), |_| {});
                }),
                ParseErrorKind::InvalidTrack("TrackNumber 1 is used twice".into()),
                vec![ids::TRACK_ENTRY],
            ),
            (
                bytes(|b| (1..=4).for_each(|n| entry(b, Some(n), |_| {}))),
                ParseErrorKind::TooManyTracks { count: 4, limit: 3 },
                vec![],
            ),
            (
                bytes(|b| entry(b, Some(1), |b| write_bytes(b, ids::CODEC_PRIVATE, &[0; 9]))),
                ParseErrorKind::TooLarge {
                    id: ids::CODEC_PRIVATE,
                    size: 9,
                    limit: 8,
                },
                vec![ids::TRACK_ENTRY, ids::CODEC_PRIVATE],
            ),
            (
                bytes(|b| {
                    entry(b, Some(1), |b| {
                        write_master(b, ids::AUDIO, |b| {
                            write_float(b, ids::SAMPLING_FREQUENCY, f64::NAN)
                        })
                    })
                }),
                ParseErrorKind::InvalidValue("SamplingFrequency is NaN".into()),
                vec![ids::TRACK_ENTRY, ids::AUDIO, ids::SAMPLING_FREQUENCY],
            ),
        ];
        let limits = Limits {
            max_codec_private_bytes: 8,
            ..limits
        };
        for (data, kind, path) in cases {
            let err = parse_tracks(data, 0, &limits).unwrap_err();
            assert_eq!((err.kind, err.path), (kind, path));
        }
    }

    fn simple_tag(buf: &mut Vec<u8>, name: &str, value: &str, nested: impl FnOnce(&mut Vec<u8>)) {
        write_master(buf, ids::SIMPLE_TAG, |b| {
            write_bytes(b, ids::TAG_NAME, name.as_bytes());
            nested(b);
            write_bytes(b, ids::TAG_STRING, value.as_bytes());
        });
    }

    fn string_tag(name: &str, value: &str) -> SimpleTag {
        SimpleTag {
            name: name.into(),
            value: TagValue::String(value.into()),
        }
    }

    #[test]
    fn tags_are_flattened_in_document_order() {
        let data = bytes(|b| {
            write_master(b, ids::TAG, |b| {
                write_master(b, ids::TARGETS, |b| write_uint(b, ids::TAG_TRACK_UID, 7));
                simple_tag(b, "A", "1", |b| simple_tag(b, "A.1", "2", |_| {}));
                write_master(b, ids::SIMPLE_TAG, |b| {
                    write_bytes(b, ids::TAG_NAME, b"B");
                    write_bytes(b, ids::TAG_BINARY, &[0xFF]);
                });
            });
            write_master(b, ids::TAG, |b| simple_tag(b, "C", "3", |_| {}));
        });
        let tags = parse_tags(data, 0, &Limits::default()).unwrap();
        assert_eq!(
            tags,
            vec![
                string_tag("A", "1"),
                string_tag("A.1", "2"),
                SimpleTag {
                    name: "B".into(),
                    value: TagValue::Binary(Bytes::from_static(&[0xFF]))
                },
                string_tag("C", "3"),
            ]
        );
    }

    #[test]
    fn tags_are_bounded() {
        let limits = Limits {
            max_tag_name_bytes: 4,
            max_tag_value_bytes: 4,
            max_simple_tags: 2,
            ..Limits::default()
        };
        let tag = |f: &dyn Fn(&mut Vec<u8>)| bytes(|b| write_master(b, ids::TAG, f));
        let long_name = tag(&|b| simple_tag(b, "12345", "", |_| {}));
        let err = parse_tags(long_name, 0, &limits).unwrap_err();
        assert_eq!(
            err.kind,
            ParseErrorKind::TooLarge {
                id: ids::TAG_NAME,
                size: 5,
                limit: 4
            }
        );
        assert_eq!(err.path, vec![ids::TAG, ids::SIMPLE_TAG, ids::TAG_NAME]);
        let long_value = tag(&|b| simple_tag(b, "n", "12345", |_| {}));
        assert!(parse_tags(long_value, 0, &limits).is_err());
        let three = tag(&|b| {
            simple_tag(b, "a", "", |b| {
                simple_tag(b, "b", "", |b| simple_tag(b, "c", "", |_| {}))
            })
        });
        let err = parse_tags(three, 0, &limits).unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::TooManyTags(2));
        // 2 invalid bytes are within the limit of 4, but become 6 bytes of U+FFFD.
        let grows = tag(&|b| {
            write_master(b, ids::SIMPLE_TAG, |b| {
                write_bytes(b, ids::TAG_NAME, &[0xFF, 0xFE])
            })
        });
        let err = parse_tags(grows, 0, &limits).unwrap_err();
        assert_eq!(
            err.kind,
            ParseErrorKind::TooLarge {
                id: ids::TAG_NAME,
                size: 6,
                limit: 4
            }
        );
        let nameless = tag(&|b| write_master(b, ids::SIMPLE_TAG, |_| {}));
        assert!(parse_tags(nameless, 0, &limits).is_err());
    }

    #[test]
    fn deep_nesting_is_refused_not_recursed() {
        let mut inner = Vec::new();
        for _ in 0..=MAX_SIMPLE_TAG_DEPTH {
            let mut outer = Vec::new();
            write_master(&mut outer, ids::SIMPLE_TAG, |b| {
                write_bytes(b, ids::TAG_NAME, b"n");
                b.extend_from_slice(&inner);
            });
            inner = outer;
        }
        let data = bytes(|b| write_master(b, ids::TAG, |b| b.extend_from_slice(&inner)));
        let err = parse_tags(data, 0, &Limits::default()).unwrap_err();
        assert!(
            matches!(err.kind, ParseErrorKind::InvalidValue(_)),
            "{err:?}"
        );
    }
}
