//! Reader tests on hand-built documents: structure, unknown sizes, limits, errors and their
//! paths, chunking. Fixture-based tests are in `mkv/fixture_tests.rs`; regressions found by
//! fuzzing are at the end of this file.

use bytes::Bytes;

use crate::mkv::ebml::{
    write_bytes, write_header, write_id, write_int, write_master, write_uint, write_unknown_size,
};
use crate::mkv::{
    EbmlHeader, Event, Frame, Limits, ParseError, ParseErrorKind, Reader, SimpleTag, TagValue, ids,
    write_cluster, write_cluster_start, write_ebml_header, write_segment_start,
    write_segment_start_unknown, write_simple_block, write_tags,
};

/// Reads `data` pushed in chunks of `chunk` bytes, pulling after each push, then finishes.
/// Returns the events and the error that stopped the reader, if any.
fn read_chunked(data: &[u8], chunk: usize, limits: Limits) -> (Vec<Event>, Option<ParseError>) {
    let mut reader = Reader::new(limits);
    let mut events = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        reader.push(piece);
        reader.check_invariants();
        loop {
            match reader.pull() {
                Ok(Some(event)) => events.push(event),
                Ok(None) => break,
                Err(error) => return (events, Some(error)),
            }
        }
        reader.check_invariants();
    }
    match reader.finish() {
        Ok(rest) => {
            events.extend(rest);
            (events, None)
        }
        Err(error) => (events, Some(error)),
    }
}

fn read(data: &[u8]) -> (Vec<Event>, Option<ParseError>) {
    read_chunked(data, data.len(), Limits::default())
}

/// Reads `data` whole and one byte at a time, asserts both agree, and returns the result.
fn read_both_ways(data: &[u8]) -> (Vec<Event>, Option<ParseError>) {
    let whole = read(data);
    let bytewise = read_chunked(data, 1, Limits::default());
    assert_eq!(whole, bytewise, "one chunk vs one byte at a time");
    whole
}

fn events_ok(data: &[u8]) -> Vec<Event> {
    let (events, error) = read_both_ways(data);
    assert_eq!(error, None, "events so far: {events:#?}");
    events
}

fn error_of(data: &[u8]) -> ParseError {
    let (_, error) = read_both_ways(data);
    error.expect("the input must be refused")
}

fn header() -> Vec<u8> {
    let mut buf = Vec::new();
    write_ebml_header(&mut buf, "matroska");
    buf
}

/// EBML header + unknown-size Segment.
fn live_start() -> Vec<u8> {
    let mut buf = header();
    write_segment_start_unknown(&mut buf);
    buf
}

fn frame(track: u64, timecode: i64, keyframe: bool, data: &'static [u8]) -> Event {
    Event::Frame(Frame {
        track,
        timecode,
        keyframe,
        invisible: false,
        discardable: false,
        duration: None,
        lace: (0, 1),
        data: Bytes::from_static(data),
    })
}

/// A compact view of events for table tests: `H S C1000 F1@1000k C/ S/ T1`.
fn summary(events: &[Event]) -> String {
    let words: Vec<String> = events
        .iter()
        .map(|event| match event {
            Event::Header(_) => "H".into(),
            Event::SegmentStart { .. } => "S".into(),
            Event::Info(_) => "I".into(),
            Event::Tracks(tracks) => format!("Tr{}", tracks.len()),
            Event::ClusterStart { timecode, .. } => format!("C{timecode}"),
            Event::Frame(f) => {
                let key = if f.keyframe { "k" } else { "" };
                format!("F{}@{}{key}", f.track, f.timecode)
            }
            Event::ClusterEnd => "C/".into(),
            Event::Tags(tags) => format!("T{}", tags.len()),
            Event::SegmentEnd => "S/".into(),
        })
        .collect();
    words.join(" ")
}

#[test]
fn live_document_one_byte_at_a_time() {
    let mut doc = live_start();
    write_cluster_start(&mut doc, 1000, None);
    write_simple_block(&mut doc, 1, 0, true, false, false, b"idr");
    write_simple_block(&mut doc, 1, 33, false, false, false, b"p");
    write_cluster_start(&mut doc, 2000, None);
    write_simple_block(&mut doc, 1, 0, true, false, false, b"idr2");
    write_tags(
        &mut doc,
        &[SimpleTag {
            name: "AWS_KINESISVIDEO_END_OF_FRAGMENT".into(),
            value: TagValue::String(String::new()),
        }],
    );
    let events = events_ok(&doc);
    assert_eq!(
        summary(&events),
        "H S C1000 F1@1000k F1@1033 C/ C2000 F1@2000k C/ T1 S/"
    );
    assert_eq!(
        events[0],
        Event::Header(EbmlHeader {
            doc_type: "matroska".into()
        })
    );
    assert_eq!(events[3], frame(1, 1000, true, b"idr"));
    assert_eq!(events[4], frame(1, 1033, false, b"p"));
}

#[test]
fn unknown_size_cluster_ends_at_any_segment_level_element() {
    // (what follows an unknown-size Cluster, expected summary)
    let cases: [(u32, &str); 6] = [
        (ids::CLUSTER, "H S C5 F1@5k C/ C5 F1@5k C/ S/"),
        (ids::TAGS, "H S C5 F1@5k C/ T0 S/"),
        (ids::CUES, "H S C5 F1@5k C/ S/"),
        (ids::SEEK_HEAD, "H S C5 F1@5k C/ S/"),
        (ids::INFO, "H S C5 F1@5k C/ I S/"),
        (ids::EBML, "H S C5 F1@5k C/ S/ H"),
    ];
    for (next, want) in cases {
        let mut doc = live_start();
        write_cluster_start(&mut doc, 5, None);
        write_simple_block(&mut doc, 1, 0, true, false, false, b"x");
        match next {
            ids::CLUSTER => {
                write_cluster(&mut doc, 5, &[(1, 0, true, b"x")]);
            }
            ids::TAGS => write_header(&mut doc, ids::TAGS, 0),
            ids::EBML => write_ebml_header(&mut doc, "webm"),
            id => write_master(&mut doc, id, |b| write_header(b, ids::VOID, 0)),
        }
        assert_eq!(summary(&events_ok(&doc)), want, "{}", ids::name(next));
    }
}

#[test]
fn get_media_output_is_a_concatenation_of_documents() {
    let mut doc = Vec::new();
    for fragment in 0..3 {
        doc.extend(live_start());
        write_tags(&mut doc, &[]);
        write_cluster(
            &mut doc,
            1000 * fragment,
            &[(1, 0, true, b"k"), (1, 40, false, b"d")],
        );
        write_tags(&mut doc, &[]);
    }
    let want = "H S T0 C0 F1@0k F1@40 C/ T0 S/ H S T0 C1000 F1@1000k F1@1040 C/ T0 S/ \
                H S T0 C2000 F1@2000k F1@2040 C/ T0 S/";
    assert_eq!(summary(&events_ok(&doc)), want);
}

#[test]
fn known_sizes_end_elements() {
    let mut content = Vec::new();
    write_cluster(&mut content, 0, &[(1, 0, true, b"a")]);
    // A known-size Cluster with nothing but a Timecode, and an empty one without Timecode
    // (which never starts, so emits nothing).
    write_cluster(&mut content, 7, &[]);
    write_header(&mut content, ids::CLUSTER, 0);
    let mut doc = header();
    write_segment_start(&mut doc, content.len() as u64);
    doc.extend(&content);
    // A second document after the known-size Segment, with padding between.
    write_header(&mut doc, ids::VOID, 2);
    doc.extend([0, 0]);
    doc.extend(live_start());
    let events = events_ok(&doc);
    assert_eq!(summary(&events), "H S C0 F1@0k C/ C7 C/ S/ H S S/");
    let content_len = content.len() as u64;
    assert_eq!(
        events[1],
        Event::SegmentStart {
            size: Some(content_len)
        }
    );
}

#[test]
fn unknown_size_cluster_inside_known_size_segment_ends_with_it() {
    let mut content = Vec::new();
    write_cluster_start(&mut content, 3, None);
    write_simple_block(&mut content, 1, 0, true, false, false, b"z");
    let mut doc = header();
    write_segment_start(&mut doc, content.len() as u64);
    doc.extend(&content);
    assert_eq!(summary(&events_ok(&doc)), "H S C3 F1@3k C/ S/");
}

#[test]
fn skipped_elements_are_not_buffered() {
    let mut doc = live_start();
    // 1 MiB of Cues, a Void and an unknown element: all skipped as they stream by.
    write_header(&mut doc, ids::CUES, 1 << 20);
    doc.extend(vec![0xEE; 1 << 20]);
    write_header(&mut doc, 0x4ABC, 3);
    doc.extend([1, 2, 3]);
    write_cluster_start(&mut doc, 0, None);
    write_header(&mut doc, ids::POSITION, 1);
    doc.push(0);
    write_header(&mut doc, ids::VOID, 100_000);
    doc.extend(vec![0; 100_000]);
    write_simple_block(&mut doc, 1, 0, true, false, false, b"f");

    let mut reader = Reader::new(Limits::default());
    let mut events = Vec::new();
    let mut max_buffered = 0;
    for piece in doc.chunks(4096) {
        reader.push(piece);
        while let Some(event) = reader.pull().unwrap() {
            events.push(event);
        }
        max_buffered = max_buffered.max(reader.buffered());
    }
    events.extend(reader.finish().unwrap());
    assert!(max_buffered < 4096, "buffered up to {max_buffered} bytes");
    assert_eq!(summary(&events), "H S C0 F1@0k C/ S/");
    assert_eq!(reader.offset(), doc.len() as u64);
}

#[test]
fn offset_counts_consumed_bytes() {
    let doc = live_start();
    let mut reader = Reader::new(Limits::default());
    reader.push(&doc[..10]);
    assert_eq!(reader.pull(), Ok(None));
    assert_eq!((reader.offset(), reader.buffered()), (5, 5)); // EBML header's ID + size read
    reader.push(&doc[10..]);
    while reader.pull().unwrap().is_some() {}
    assert_eq!((reader.offset(), reader.buffered()), (doc.len() as u64, 0));
}

#[test]
fn block_groups_and_lacing() {
    let mut doc = live_start();
    write_cluster_start(&mut doc, 100, None);
    // BlockGroup with a ReferenceBlock: not a keyframe; with a duration.
    write_master(&mut doc, ids::BLOCK_GROUP, |b| {
        write_bytes(b, ids::BLOCK, &[0x82, 0x00, 0x0A, 0x00, b'p']);
        write_uint(b, ids::BLOCK_DURATION, 20);
        write_int(b, ids::REFERENCE_BLOCK, -10);
    });
    // BlockGroup without ReferenceBlock: a keyframe (the Block's 0x80 bit means nothing).
    write_master(&mut doc, ids::BLOCK_GROUP, |b| {
        write_bytes(b, ids::BLOCK, &[0x82, 0x00, 0x00, 0x00, b'i']);
    });
    // SimpleBlock, fixed lacing, 3 frames of 2 bytes, invisible + discardable.
    write_bytes(
        &mut doc,
        ids::SIMPLE_BLOCK,
        &[0x81, 0xFF, 0xFF, 0x0D, 2, 1, 1, 2, 2, 3, 3],
    );
    let events = events_ok(&doc);
    assert_eq!(
        summary(&events),
        "H S C100 F2@110 F2@100k F1@99 F1@99 F1@99 C/ S/"
    );
    let Event::Frame(p) = &events[3] else {
        panic!("{:?}", events[3])
    };
    assert_eq!((p.duration, &p.data[..]), (Some(20), &b"p"[..]));
    let laced: Vec<_> = events[5..8]
        .iter()
        .map(|e| match e {
            Event::Frame(f) => (f.lace, f.data.to_vec(), f.invisible, f.discardable),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        laced,
        vec![
            ((0, 3), vec![1, 1], true, true),
            ((1, 3), vec![2, 2], true, true),
            ((2, 3), vec![3, 3], true, true),
        ]
    );
}

#[test]
fn frames_share_the_input_buffer() {
    let mut doc = live_start();
    write_cluster(
        &mut doc,
        0,
        &[(1, 0, true, &[9; 1000]), (1, 1, false, &[8; 1000])],
    );
    let mut reader = Reader::new(Limits::default());
    reader.push(&doc);
    let mut frames = Vec::new();
    while let Some(event) = reader.pull().unwrap() {
        if let Event::Frame(f) = event {
            frames.push(f.data);
        }
    }
    // Adjacent payloads from one buffer: the second starts right after the first one's end plus
    // the second SimpleBlock's ID (1 byte), size (2) and block header (4): nothing was copied.
    let gap = frames[1].as_ptr() as usize - (frames[0].as_ptr() as usize + frames[0].len());
    assert_eq!(gap, 1 + 2 + 4);
}

/// Builds a document from `live_start()` plus `f`'s bytes.
fn live(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut doc = live_start();
    f(&mut doc);
    doc
}

#[test]
fn errors_table() {
    let start = live_start().len() as u64; // where the first Segment child begins
    // (name, input, error kind, offset, path)
    let cases: Vec<(&str, Vec<u8>, ParseErrorKind, u64, &str)> = vec![
        (
            "garbage first",
            b"hello world".to_vec(),
            ParseErrorKind::Unexpected { id: 0x6865 }, // "he"
            0,
            "Unknown",
        ),
        (
            "zero byte first",
            vec![0, 1, 2],
            ParseErrorKind::InvalidVint,
            0,
            "top level",
        ),
        (
            "segment without header",
            {
                let mut b = Vec::new();
                write_segment_start_unknown(&mut b);
                b
            },
            ParseErrorKind::Unexpected { id: ids::SEGMENT },
            0,
            "Segment",
        ),
        (
            "wrong doc type",
            {
                let mut b = Vec::new();
                write_master(&mut b, ids::EBML, |b| write_bytes(b, ids::DOC_TYPE, b"qt"));
                b
            },
            ParseErrorKind::DocType("qt".into()),
            0,
            "EBML",
        ),
        (
            "huge block",
            live(|b| {
                write_cluster_start(b, 0, None);
                write_id(b, ids::SIMPLE_BLOCK);
                b.extend([0x01, 0x04, 0, 0, 0, 0, 0, 0]); // 2^50
            }),
            ParseErrorKind::TooLarge {
                id: ids::SIMPLE_BLOCK,
                size: 1 << 50,
                limit: Limits::default().max_block_bytes,
            },
            start + 15,
            "Segment/Cluster/SimpleBlock",
        ),
        (
            "huge metadata",
            live(|b| write_header(b, ids::TRACKS, (1 << 56) - 2)),
            ParseErrorKind::TooLarge {
                id: ids::TRACKS,
                size: (1 << 56) - 2,
                limit: Limits::default().max_metadata_bytes,
            },
            start,
            "Segment/Tracks",
        ),
        (
            "block before timecode",
            live(|b| {
                write_id(b, ids::CLUSTER);
                write_unknown_size(b);
                write_simple_block(b, 1, 0, true, false, false, b"x");
            }),
            ParseErrorKind::MissingClusterTimecode,
            start + 12,
            "Segment/Cluster/SimpleBlock",
        ),
        (
            "second timecode",
            live(|b| {
                write_cluster_start(b, 0, None);
                write_uint(b, ids::TIMECODE, 1);
            }),
            ParseErrorKind::Unexpected { id: ids::TIMECODE },
            start + 15,
            "Segment/Cluster/Timecode",
        ),
        (
            "child overruns cluster",
            live(|b| {
                write_cluster_start(b, 0, Some(3));
                write_simple_block(b, 1, 0, true, false, false, b"x");
            }),
            ParseErrorKind::Overrun {
                id: ids::SIMPLE_BLOCK,
            },
            start + 8,
            "Segment/Cluster/SimpleBlock",
        ),
        (
            "cluster overruns segment",
            {
                let mut b = header();
                write_segment_start(&mut b, 4);
                write_cluster_start(&mut b, 0, Some(0));
                b
            },
            ParseErrorKind::Overrun { id: ids::CLUSTER },
            start - 7, // the Segment header is 5 bytes, not 12
            "Segment/Cluster",
        ),
        (
            "unknown-size tracks",
            live(|b| {
                write_id(b, ids::TRACKS);
                write_unknown_size(b);
            }),
            ParseErrorKind::UnknownSize { id: ids::TRACKS },
            start,
            "Segment/Tracks",
        ),
        (
            "tags inside a known-size cluster",
            live(|b| {
                write_cluster_start(b, 0, Some(2));
                write_header(b, ids::TAGS, 0);
            }),
            ParseErrorKind::Unexpected { id: ids::TAGS },
            start + 8,
            "Segment/Cluster/Tags",
        ),
        (
            // It ends the unknown-size Segment, then needs an EBML header of its own.
            "a second segment without its own EBML header",
            live(write_segment_start_unknown),
            ParseErrorKind::Unexpected { id: ids::SEGMENT },
            start,
            "Segment",
        ),
        (
            "invalid lacing",
            live(|b| {
                write_cluster_start(b, 0, None);
                write_bytes(b, ids::SIMPLE_BLOCK, &[0x81, 0, 0, 0x06, 1, 0x90, 1]);
            }),
            ParseErrorKind::InvalidLacing,
            start + 15,
            "Segment/Cluster/SimpleBlock",
        ),
        (
            "bad track entry",
            live(|b| {
                write_master(b, ids::TRACKS, |b| {
                    write_master(b, ids::TRACK_ENTRY, |b| write_uint(b, ids::TRACK_NUMBER, 0))
                })
            }),
            ParseErrorKind::InvalidTrack("TrackNumber is 0".into()),
            start + 5 + 2,
            "Segment/Tracks/TrackEntry/TrackNumber",
        ),
        (
            "top-level junk after a document",
            {
                let mut b = header();
                write_segment_start(&mut b, 0);
                write_header(&mut b, ids::CLUSTER, 0);
                b
            },
            ParseErrorKind::Unexpected { id: ids::CLUSTER },
            start - 7,
            "Cluster",
        ),
    ];
    for (name, input, kind, offset, path) in cases {
        let error = error_of(&input);
        let want = ParseError {
            offset,
            path: path.into(),
            kind,
        };
        assert_eq!(error, want, "{name}");
    }
}

#[test]
fn errors_read_well() {
    let doc = live(|b| {
        write_cluster_start(b, 0, None);
        write_id(b, ids::SIMPLE_BLOCK);
        b.extend([0x01, 0x04, 0, 0, 0, 0, 0, 0]);
    });
    assert_eq!(
        error_of(&doc).to_string(),
        "invalid MKV at byte 67 (in Segment/Cluster/SimpleBlock): element 0xa3 declares \
         1125899906842624 bytes; the limit is 50000000"
    );
}

#[test]
fn a_declared_size_is_checked_before_anything_is_buffered() {
    let limits = Limits {
        max_block_bytes: 100,
        ..Limits::default()
    };
    let mut doc = live_start();
    write_cluster_start(&mut doc, 0, None);
    write_simple_block(&mut doc, 1, 0, true, false, false, &[0; 200]);
    let mut reader = Reader::new(limits);
    // Only the header of the oversized block is needed to refuse it.
    let header_end = doc.len() - 200 - 4;
    reader.push(&doc[..header_end]);
    let error = loop {
        match reader.pull() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("must fail on the header alone"),
            Err(error) => break error,
        }
    };
    assert!(matches!(
        error.kind,
        ParseErrorKind::TooLarge {
            size: 204,
            limit: 100,
            ..
        }
    ));
}

#[test]
fn errors_poison_the_reader() {
    let mut reader = Reader::new(Limits::default());
    reader.push(b"\x00garbage");
    let error = reader.pull().unwrap_err();
    assert_eq!(reader.buffered(), 0);
    reader.push(&live_start());
    reader.check_invariants();
    assert_eq!(reader.buffered(), 0, "input after an error is dropped");
    assert_eq!(reader.pull(), Err(error.clone()));
    assert_eq!(reader.finish(), Err(error));
}

#[test]
fn finish_closes_unknown_sizes_and_refuses_truncation() {
    let mut doc = live_start();
    write_cluster_start(&mut doc, 0, None);
    write_simple_block(&mut doc, 1, 0, true, false, false, b"abc");
    assert_eq!(summary(&events_ok(&doc)), "H S C0 F1@0k C/ S/");

    // Cut inside the block, inside the block's header, inside the EBML header.
    for cut in [doc.len() - 1, doc.len() - 5, 3] {
        let error = error_of(&doc[..cut]);
        assert_eq!(error.kind, ParseErrorKind::Truncated, "cut at {cut}");
    }
    let error = error_of(&doc[..doc.len() - 1]);
    assert_eq!(
        (error.offset, error.path.as_str()),
        (67, "Segment/Cluster/SimpleBlock")
    );

    // Cut at an element boundary inside a known-size Cluster.
    let mut doc = live_start();
    let start = doc.len();
    write_cluster(&mut doc, 0, &[(1, 0, true, b"a"), (1, 1, false, b"b")]);
    let error = error_of(&doc[..doc.len() - 7]);
    let want = ParseError {
        offset: start as u64,
        path: "Segment/Cluster".into(),
        kind: ParseErrorKind::Truncated,
    };
    assert_eq!(error, want);

    // Nothing at all, or only an EBML header, is not an error.
    assert_eq!(read(&[]), (vec![], None));
    assert_eq!(summary(&events_ok(&header())), "H");
}

#[test]
fn tracks_limit_comes_from_limits() {
    let doc = live(|b| {
        write_master(b, ids::TRACKS, |b| {
            for n in 1..=4 {
                write_master(b, ids::TRACK_ENTRY, |b| {
                    write_uint(b, ids::TRACK_NUMBER, n);
                    write_uint(b, ids::TRACK_TYPE, 1);
                    write_bytes(b, ids::CODEC_ID, b"V_MPEG4/ISO/AVC");
                });
            }
        })
    });
    let error = error_of(&doc);
    assert_eq!(
        error.kind,
        ParseErrorKind::TooManyTracks { count: 4, limit: 3 }
    );
    let four = Limits {
        max_tracks: 4,
        ..Limits::default()
    };
    let (events, error) = read_chunked(&doc, 7, four);
    assert_eq!((summary(&events).as_str(), error), ("H S Tr4 S/", None));
}

// Regressions: one test per input that broke the reader or the round trip (`fuzz/`), named
// after what it was. These two were found while writing the `mkv_roundtrip` target, before it
// first ran; its 60 s runs have found nothing since (see fuzz/Cargo.toml for how to run them).

/// A block whose track number is the 8-byte all-ones VINT (2^56 - 1) was accepted, and writing
/// it back with `write_simple_block` hit the writer's "does not fit 8 bytes" assertion.
#[test]
fn regression_block_track_number_all_ones() {
    let doc = live(|b| {
        write_cluster_start(b, 0, None);
        let all_ones = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        write_bytes(
            b,
            ids::SIMPLE_BLOCK,
            &[&all_ones[..], &[0, 0, 0x80, 1]].concat(),
        );
    });
    let error = error_of(&doc);
    assert!(
        matches!(error.kind, ParseErrorKind::InvalidValue(_)),
        "{error}"
    );
    assert_eq!(error.path, "Segment/Cluster/SimpleBlock");
}

/// A TagName of invalid UTF-8 within `max_tag_name_bytes` became up to 3 times longer once
/// U+FFFD replaced each bad byte, so the re-written document broke the limit it came from.
#[test]
fn regression_tag_name_growing_past_its_limit() {
    let doc = live(|b| {
        write_master(b, ids::TAGS, |b| {
            write_master(b, ids::TAG, |b| {
                write_master(b, ids::SIMPLE_TAG, |b| {
                    write_bytes(b, ids::TAG_NAME, &[0xC0; 100]); // 100 bytes, 300 as text
                    write_bytes(b, ids::TAG_STRING, b"v");
                })
            })
        })
    });
    let error = error_of(&doc);
    let want = ParseErrorKind::TooLarge {
        id: ids::TAG_NAME,
        size: 300,
        limit: 128,
    };
    assert_eq!(error.kind, want);
    assert_eq!(error.path, "Segment/Tags/Tag/SimpleTag/TagName");
}
