use super::*;
use crate::mkv::{EbmlHeader, Info, SimpleTag, TrackType, VideoSettings};

fn video(number: u64) -> Track {
    Track {
        number,
        uid: number,
        track_type: TrackType::Video,
        codec_id: "V_MPEG4/ISO/AVC".into(),
        codec_private: Bytes::from_static(&[1, 2, 3]),
        name: None,
        default_duration: Some(33_333_333),
        codec_delay: None,
        video: Some(VideoSettings {
            pixel_width: 320,
            pixel_height: 240,
        }),
        audio: None,
    }
}

fn audio(number: u64) -> Track {
    Track {
        track_type: TrackType::Audio,
        codec_id: "A_AAC".into(),
        video: None,
        ..video(number)
    }
}

fn frame(track: u64, timecode: i64, key: bool, byte: u8) -> Event {
    Event::Frame(Frame {
        track,
        timecode,
        keyframe: key,
        invisible: false,
        discardable: false,
        duration: None,
        lace: (0, 1),
        data: Bytes::from(vec![byte; 10]),
    })
}

fn cluster(timecode: u64) -> Event {
    Event::ClusterStart {
        timecode,
        offset: 0,
    }
}

fn tags(pairs: &[(&str, &str)]) -> Event {
    Event::Tags(
        pairs
            .iter()
            .map(|(n, v)| SimpleTag {
                name: (*n).into(),
                value: TagValue::String((*v).into()),
            })
            .collect(),
    )
}

fn head(tracks: Vec<Track>) -> Vec<Event> {
    vec![
        Event::Header(EbmlHeader {
            doc_type: "matroska".into(),
        }),
        Event::SegmentStart { size: None },
        Event::Info(Info::default()),
        Event::Tracks(tracks),
    ]
}

/// Runs events through a fragmenter; returns outputs or the first error.
fn run(f: &mut Fragmenter, events: Vec<Event>) -> Result<Vec<Output>, IngestError> {
    let mut out = Vec::new();
    for ev in events {
        f.push(ev, 42, &mut out)?;
    }
    f.finish(&mut out)?;
    Ok(out)
}

fn sealed(out: &[Output]) -> Vec<&SealedFragment> {
    out.iter()
        .filter_map(|o| match o {
            Output::Sealed(s) => Some(s),
            Output::Started { .. } | Output::Frame { .. } => None,
        })
        .collect()
}

fn absolute() -> Fragmenter {
    Fragmenter::new(TimecodeType::Absolute, FragmentLimits::default(), None)
}

#[test]
fn clusters_become_fragments_sealed_by_the_next_cluster_and_the_end() {
    let mut f = absolute();
    let mut ev = head(vec![video(1)]);
    ev.extend([
        cluster(1_000),
        frame(1, 1_000, true, 1),
        frame(1, 1_033, false, 2),
        frame(1, 1_067, false, 3),
    ]);
    let mut out = Vec::new();
    for e in ev {
        f.push(e, 5, &mut out).unwrap();
    }
    assert!(matches!(
        out.as_slice(),
        [
            Output::Started {
                fragment_timecode_ms: 1_000,
                producer_ms: 1_000,
                server_ms: 5,
                ..
            },
            Output::Frame {
                rel_ms: 0,
                keyframe: true,
                ..
            },
            Output::Frame {
                rel_ms: 33,
                keyframe: false,
                ..
            },
            Output::Frame {
                rel_ms: 67,
                keyframe: false,
                ..
            },
        ]
    ));
    let mut next = Vec::new();
    f.push(cluster(1_100), 6, &mut next).unwrap();
    let s = sealed(&next);
    assert_eq!(s.len(), 1, "sealed as soon as the next cluster starts");
    let s = s[0];
    assert_eq!(s.producer_ms, 1_000);
    assert_eq!(s.server_ms, 5);
    assert_eq!(s.last_frame_ms, 1_067);
    assert_eq!(s.duration_ms, 67 + 34, "span plus one frame interval");
    assert_eq!(s.trailer.frames.len(), 3);
    assert!(s.trailer.frames[0].is_key() && !s.trailer.frames[1].is_key());
    assert_eq!(
        s.trailer
            .frames
            .iter()
            .map(|f| f.rel_timecode)
            .collect::<Vec<_>>(),
        [0, 33, 67]
    );
    // Every frame table entry points at its payload inside the cluster bytes.
    for (i, fe) in s.trailer.frames.iter().enumerate() {
        let at = fe.offset as usize;
        assert_eq!(&s.cluster[at..at + fe.len as usize], &[i as u8 + 1; 10]);
    }
    let mut more = Vec::new();
    f.push(frame(1, 1_100, true, 9), 7, &mut more).unwrap();
    assert!(matches!(more.as_slice(), [Output::Frame { rel_ms: 0, .. }]));
    let mut end = Vec::new();
    f.finish(&mut end).unwrap();
    assert_eq!(
        sealed(&end).len(),
        1,
        "the end of the input seals the last fragment"
    );
}

#[test]
fn end_of_fragment_tag_seals_at_once_and_other_tags_are_kept() {
    let mut f = absolute();
    let mut ev = head(vec![video(1)]);
    ev.extend([cluster(0), frame(1, 0, true, 1), Event::ClusterEnd]);
    let mut out = Vec::new();
    for e in ev {
        f.push(e, 0, &mut out).unwrap();
    }
    out.clear();
    f.push(tags(&[("site", "lobby")]), 0, &mut out).unwrap();
    assert!(out.is_empty());
    f.push(
        tags(&[(END_OF_FRAGMENT_TAG, ""), ("more", "x")]),
        0,
        &mut out,
    )
    .unwrap();
    let s = sealed(&out);
    assert_eq!(s.len(), 1);
    assert_eq!(
        s[0].trailer.tags,
        vec![("site".into(), "lobby".into()), ("more".into(), "x".into())]
    );
    let mut end = Vec::new();
    f.finish(&mut end).unwrap();
    assert!(end.is_empty());
}

#[test]
fn relative_timecodes_are_rebased_on_the_start_timestamp() {
    let mut f = Fragmenter::new(
        TimecodeType::Relative {
            start_ms: 1_700_000_000_000,
        },
        FragmentLimits::default(),
        None,
    );
    let mut ev = head(vec![video(1)]);
    ev.extend([cluster(2_000), frame(1, 2_000, true, 1)]);
    let out = run(&mut f, ev).unwrap();
    assert!(matches!(
        out[0],
        Output::Started {
            fragment_timecode_ms: 2_000,
            producer_ms: 1_700_000_002_000,
            ..
        }
    ));
    assert_eq!(sealed(&out)[0].producer_ms, 1_700_000_002_000);
}

#[test]
fn timecode_scale_is_normalized_to_milliseconds() {
    let mut f = absolute();
    let mut ev = head(vec![video(1)]);
    ev[2] = Event::Info(Info {
        timecode_scale: 100_000, // 0.1 ms units
        ..Info::default()
    });
    ev.extend([
        cluster(20_000),
        frame(1, 20_000, true, 1),
        frame(1, 20_333, false, 2),
    ]);
    let out = run(&mut f, ev).unwrap();
    let s = sealed(&out)[0];
    assert_eq!(s.producer_ms, 2_000);
    assert_eq!(s.trailer.frames[1].rel_timecode, 33);
}

fn error_of(tracks: Vec<Track>, events: Vec<Event>, last: Option<i64>) -> AckErrorId {
    let limits = FragmentLimits {
        max_bytes: 100,
        max_duration_ms: 5_000,
        ..FragmentLimits::default()
    };
    let mut f = Fragmenter::new(TimecodeType::Absolute, limits, last);
    let mut ev = head(tracks);
    ev.extend(events);
    match run(&mut f, ev) {
        Err(e) => e.id,
        Ok(out) => panic!("expected an error, got {} outputs", out.len()),
    }
}

#[test]
fn each_rule_gives_its_error_id() {
    use AckErrorId::*;
    let v = || vec![video(1)];
    type Case = (
        &'static str,
        AckErrorId,
        Vec<Track>,
        Vec<Event>,
        Option<i64>,
    );
    let cases: Vec<Case> = vec![
        (
            "unknown track",
            TrackNumberMismatch,
            v(),
            vec![cluster(0), frame(2, 0, true, 1)],
            None,
        ),
        (
            "track without frames",
            FramesMissingForTrack,
            vec![video(1), audio(2)],
            vec![cluster(0), frame(1, 0, true, 1)],
            None,
        ),
        (
            "decreasing timecodes",
            FragmentTimecodeLesserThanPrevious,
            v(),
            vec![
                cluster(1_000),
                frame(1, 1_000, true, 1),
                cluster(500),
                frame(1, 500, true, 2),
            ],
            None,
        ),
        (
            "before the previous connection's last frame",
            FragmentTimecodeLesserThanPrevious,
            v(),
            vec![cluster(1_000), frame(1, 1_000, true, 1)],
            Some(1_000),
        ),
        (
            "too big",
            MaxFragmentSizeReached,
            v(),
            (0..11)
                .map(|i| frame(1, i, i == 0, 0))
                .fold(vec![cluster(0)], |mut a, e| {
                    a.push(e);
                    a
                }),
            None,
        ),
        (
            "too long",
            MaxFragmentDurationReached,
            v(),
            vec![cluster(0), frame(1, 0, true, 1), frame(1, 5_001, false, 2)],
            None,
        ),
        (
            "too many tags",
            FragmentMetadataLimitReached,
            v(),
            {
                let mut e = vec![cluster(0), frame(1, 0, true, 1)];
                e.extend((0..11).map(|i| tags(&[(&format!("t{i}"), "v")])));
                e
            },
            None,
        ),
        (
            "long tag value",
            FragmentMetadataLimitReached,
            v(),
            vec![
                cluster(0),
                frame(1, 0, true, 1),
                tags(&[("t", &"v".repeat(257))]),
            ],
            None,
        ),
        (
            "cluster before tracks",
            InvalidMkvData,
            vec![],
            vec![cluster(0)],
            None,
        ),
        (
            "second segment",
            InvalidMkvData,
            v(),
            vec![Event::SegmentStart { size: None }],
            None,
        ),
        (
            "negative timestamp",
            InvalidProducerTimestamp,
            v(),
            vec![cluster(0), frame(1, -5, true, 1)],
            None,
        ),
        (
            "four tracks",
            MoreThanAllowedTracksFound,
            vec![video(1), audio(2), audio(3), audio(4)],
            vec![],
            None,
        ),
    ];
    for (what, want, tracks, events, last) in cases {
        assert_eq!(error_of(tracks, events, last), want, "{what}");
    }
}

#[test]
fn audio_and_video_fragment() {
    let mut f = absolute();
    let mut ev = head(vec![video(1), audio(2)]);
    ev.extend([
        cluster(0),
        frame(1, 0, true, 1),
        frame(2, 0, true, 2),
        frame(2, 21, true, 3),
        frame(1, 33, false, 4),
    ]);
    let out = run(&mut f, ev).unwrap();
    let s = sealed(&out)[0];
    assert_eq!(s.trailer.frames.len(), 4);
    assert_eq!(s.duration_ms, 33 + 33, "interval from the video track");
}

/// Issue 15: with AAC frames running past the last video frame, fragments 1000 ms apart
/// reported 1011-1032 ms and overlapped in ListFragments.
#[test]
fn audio_past_the_last_video_frame_does_not_stretch_the_fragment() {
    let mut f = absolute();
    let mut ev = head(vec![video(1), audio(2)]);
    for k in 0..2u64 {
        let base = (k * 1000) as i64;
        ev.push(cluster(k * 1000));
        for i in 0..30 {
            ev.push(frame(1, base + i * 1000 / 30, i == 0, 1));
        }
        // 47 AAC frames of 21.33 ms: the last starts at 981 ms, after the last video frame.
        for i in 0..47 {
            ev.push(frame(2, base + i * 64 / 3, true, 2));
        }
    }
    let out = run(&mut f, ev).unwrap();
    let fragments = sealed(&out);
    assert_eq!(fragments.len(), 2);
    for s in fragments {
        // Video 0-966 ms + a 33 ms interval: never past the next fragment at 1000 ms.
        assert!((999..=1000).contains(&s.duration_ms), "{}", s.duration_ms);
    }
}
