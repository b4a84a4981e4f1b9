//! Unit tests of the MPD writer: the output is parsed back by a small strict XML checker and
//! its timeline, Periods, URLs and KVS attributes compared with the input.

use super::*;
use bytes::Bytes;

/// An element parsed back by [`parse`]: a tiny, strict XML checker (well-formedness,
/// entities, nesting), independent of the writer.
#[derive(Debug)]
struct El {
    name: String,
    attrs: Vec<(String, String)>,
    kids: Vec<El>,
}

impl El {
    fn attr(&self, k: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
    fn all<'a>(&'a self, name: &str, out: &mut Vec<&'a El>) {
        for k in &self.kids {
            if k.name == name {
                out.push(k);
            }
            k.all(name, out);
        }
    }
    fn find(&self, name: &str) -> Vec<&El> {
        let mut out = Vec::new();
        self.all(name, &mut out);
        out
    }
    fn ms(&self, k: &str) -> i64 {
        self.attr(k).unwrap().parse().unwrap()
    }
}

fn parse(xml: &str) -> El {
    let body = xml
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        .unwrap();
    let mut stack = vec![El {
        name: String::new(),
        attrs: vec![],
        kids: vec![],
    }];
    let mut rest = body;
    while let Some(lt) = rest.find('<') {
        assert!(
            rest[..lt].trim().is_empty(),
            "text content: {:?}",
            &rest[..lt]
        );
        let gt = lt + rest[lt..].find('>').expect("unclosed tag");
        let tag = &rest[lt + 1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let el = stack.pop().unwrap();
            assert_eq!(el.name, name, "mismatched end tag");
            stack.last_mut().expect("extra end tag").kids.push(el);
            continue;
        }
        let (tag, empty) = tag.strip_suffix('/').map_or((tag, false), |t| (t, true));
        let (name, mut a) = tag.split_once(' ').unwrap_or((tag, ""));
        let mut el = El {
            name: name.into(),
            attrs: vec![],
            kids: vec![],
        };
        while !a.trim().is_empty() {
            let (k, v) = a.trim_start().split_once("=\"").expect("attr=\"value\"");
            let end = v.find('"').expect("closing quote");
            let raw = &v[..end];
            assert!(!raw.contains('<'), "raw < in {raw}");
            let mut val = String::new();
            let mut parts = raw.split('&');
            val.push_str(parts.next().unwrap());
            for p in parts {
                let (ent, tail) = p.split_once(';').expect("entity ends with ;");
                val.push(match ent {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    "apos" => '\'',
                    e => char::from_u32(e.strip_prefix('#').unwrap().parse().unwrap()).unwrap(),
                });
                val.push_str(tail);
            }
            assert!(el.attr(k).is_none(), "duplicate attribute {k}");
            el.attrs.push((k.into(), val));
            a = &v[end + 1..];
        }
        match empty {
            true => stack.last_mut().unwrap().kids.push(el),
            false => stack.push(el),
        }
    }
    assert!(
        rest.trim().is_empty() && stack.len() == 1,
        "unclosed elements"
    );
    let mut doc = stack.pop().unwrap();
    assert_eq!(doc.kids.len(), 1, "one root element");
    doc.kids.pop().unwrap()
}

fn h264(number: u64) -> MediaTrack {
    MediaTrack {
        number,
        codec: Codec::H264 {
            avcc: Bytes::from_static(&[1, 0x64, 0, 0x1f, 0xff]),
        },
        video: Some((320, 240)),
        audio: None,
        default_duration_ns: Some(33_333_333),
    }
}

fn aac(number: u64) -> MediaTrack {
    // AudioSpecificConfig: AAC-LC (2), 44.1 kHz (index 4), 2 channels.
    let codec = Codec::Aac {
        asc: Bytes::from_static(&[0x12, 0x10]),
    };
    MediaTrack {
        codec,
        video: None,
        audio: Some((44_100, 2)),
        default_duration_ns: None,
        ..h264(number)
    }
}

const BIG: &str = "91343852333181432392682062622220590765191907";

fn frag(i: i64, start_ms: i64, header: i64) -> DashFragment {
    DashFragment {
        number: format!("{BIG}{i:03}"),
        start_ms,
        duration_ms: 1000,
        producer_ms: 1_726_677_000_000 + i,
        server_ms: 1_726_677_500_000 + i,
        track_header_id: header,
        size_bytes: 50_000,
    }
}

fn opts() -> DashOptions {
    DashOptions {
        init_url: "init.mp4?S=a%2Fb&H=$TrackHeader$&T=$TrackNumber$".into(),
        media_url: "media.mp4?S=a%2Fb&T=$TrackNumber$&t=$Time$".into(),
        ..DashOptions::default()
    }
}

fn headers() -> Vec<DashTrackHeader> {
    vec![
        DashTrackHeader {
            id: 7,
            tracks: vec![h264(1)],
        },
        DashTrackHeader {
            id: 8,
            tracks: vec![aac(2), h264(1)],
        },
    ]
}

/// Every S's MPD time is `start - origin`, whatever its Period; t/d are contiguous here.
fn check_timeline(mpd: &El, frags: &[DashFragment], origin: i64) {
    let mut n = 0;
    for p in mpd.find("Period") {
        let start = p.attr("start").unwrap();
        let start = (start[2..start.len() - 1].parse::<f64>().unwrap() * 1000.0).round() as i64;
        for list in p.find("SegmentTemplate") {
            let pto = list.ms("presentationTimeOffset");
            let s = list.find("S");
            assert!(list.attr("media").unwrap().ends_with("&t=$Time$"));
            assert_eq!(list.attr("startNumber"), None);
            for (k, s) in s.iter().enumerate() {
                let f = &frags[n + k];
                // `$Time$` is `S@t`, the fragment's start: what the server maps back.
                assert_eq!(s.ms("t"), f.start_ms);
                assert_eq!(start + s.ms("t") - pto, f.start_ms - origin);
                assert_eq!(s.ms("d"), f.duration_ms);
            }
            assert_eq!(
                s.windows(2)
                    .map(|w| w[1].ms("t") - w[0].ms("t"))
                    .sum::<i64>(),
                s.iter().rev().skip(1).map(|s| s.ms("d")).sum::<i64>()
            );
        }
        n += p.find("SegmentTimeline")[0].find("S").len();
    }
    assert_eq!(n, frags.len());
}

#[test]
fn static_single_period() {
    let frags: Vec<_> = (0..4).map(|i| frag(i, 5_000 + 1000 * i, 7)).collect();
    let xml = manifest(&DashKind::Static, &headers(), &frags, &opts()).unwrap();
    let mpd = parse(&xml);
    assert_eq!(mpd.attr("type"), Some("static"));
    assert_eq!(mpd.attr("mediaPresentationDuration"), Some("PT4.000S"));
    let periods = mpd.find("Period");
    assert_eq!(periods.len(), 1);
    assert_eq!(periods[0].attr("start"), Some("PT0.000S"));
    let rep = &mpd.find("Representation")[0];
    assert_eq!(rep.attr("codecs"), Some("avc1.64001f"));
    assert_eq!(
        (rep.attr("width"), rep.attr("frameRate")),
        (Some("320"), Some("30"))
    );
    assert_eq!(rep.attr("bandwidth"), Some("400000"));
    let init = mpd.find("SegmentTemplate")[0]
        .attr("initialization")
        .unwrap();
    assert_eq!(init, "init.mp4?S=a%2Fb&H=7&T=1");
    assert!(xml.contains("initialization=\"init.mp4?S=a%2Fb&amp;H=7&amp;T=1\""));
    check_timeline(&mpd, &frags, 5_000);
    assert!(!xml.contains("kvs:ts=") && !xml.contains("kvs:fn="));
}

#[test]
fn kvs_attributes_only_when_asked() {
    let frags: Vec<_> = (0..3).map(|i| frag(i, 1000 * i, 7)).collect();
    for (ts, num) in [
        (Some(TimestampKind::Producer), false),
        (Some(TimestampKind::Server), true),
        (None, true),
    ] {
        let o = DashOptions {
            display_fragment_timestamp: ts,
            display_fragment_number: num,
            ..opts()
        };
        let mpd = parse(&manifest(&DashKind::Static, &headers(), &frags, &o).unwrap());
        assert_eq!(mpd.attr("xmlns:kvs"), Some(KVS_NAMESPACE));
        for (s, f) in mpd.find("S").iter().zip(&frags) {
            let want_ts = ts.map(|k| match k {
                TimestampKind::Producer => f.producer_ms,
                TimestampKind::Server => f.server_ms,
            });
            assert_eq!(s.attr("kvs:ts").map(|v| v.parse::<i64>().unwrap()), want_ts);
            assert_eq!(s.attr("kvs:fn"), num.then_some(f.number.as_str()));
        }
    }
}

#[test]
fn track_header_changes_start_periods() {
    let hs = [7, 7, 8, 8, 7];
    let mut frags: Vec<_> = (0..5)
        .map(|i| frag(i, 60_000 + 1000 * i, hs[i as usize]))
        .collect();
    frags[4].start_ms += 500; // a gap stays a gap
    let kind = DashKind::Dynamic {
        availability_start_ms: 1_726_677_687_758,
        timeline_origin_ms: 10_000,
        publish_ms: 951_782_400_001,
        min_update_period_ms: 2000,
        time_shift_buffer_ms: 60_000,
        suggested_delay_ms: 3000,
    };
    let mpd = parse(&manifest(&kind, &headers(), &frags, &opts()).unwrap());
    assert_eq!(
        mpd.attr("availabilityStartTime"),
        Some("2024-09-18T16:41:27.758Z")
    );
    assert_eq!(mpd.attr("publishTime"), Some("2000-02-29T00:00:00.001Z"));
    assert_eq!(mpd.attr("suggestedPresentationDelay"), Some("PT3.000S"));
    let utc = &mpd.kids.last().unwrap();
    assert_eq!(utc.name, "UTCTiming");
    assert_eq!(utc.attr("value"), Some("2000-02-29T00:00:00.001Z"));
    let periods = mpd.find("Period");
    let ids: Vec<_> = periods.iter().map(|p| p.attr("id").unwrap()).collect();
    assert_eq!(ids, ["th7-0", "th8-0", "th7-1"]);
    let starts: Vec<_> = periods.iter().map(|p| p.attr("start").unwrap()).collect();
    assert_eq!(starts, ["PT0.000S", "PT52.000S", "PT54.500S"]);
    let sets: Vec<Vec<_>> = periods
        .iter()
        .map(|p| {
            p.find("AdaptationSet")
                .iter()
                .map(|a| a.attr("contentType").unwrap())
                .collect()
        })
        .collect();
    assert_eq!(sets, [vec!["video"], vec!["video", "audio"], vec!["video"]]);
    let audio = &periods[1].find("Representation")[1];
    assert_eq!(
        (audio.attr("codecs"), audio.attr("audioSamplingRate")),
        (Some("mp4a.40.2"), Some("44100"))
    );
    assert_eq!(
        audio.find("AudioChannelConfiguration")[0].attr("value"),
        Some("2")
    );
    let inits: Vec<_> = mpd
        .find("SegmentTemplate")
        .iter()
        .map(|i| i.attr("initialization").unwrap())
        .collect();
    assert_eq!(
        inits,
        [
            "init.mp4?S=a%2Fb&H=7&T=1",
            "init.mp4?S=a%2Fb&H=8&T=1",
            "init.mp4?S=a%2Fb&H=8&T=2",
            "init.mp4?S=a%2Fb&H=7&T=1"
        ]
    );
    check_timeline(&mpd, &frags, 10_000);
}

#[test]
fn escaping_and_overlaps() {
    let mut frags: Vec<_> = (0..2).map(|i| frag(i, 1000 * i, 7)).collect();
    frags[0].duration_ms = 1300; // overlaps the next one: shortened to 1000
    let o = DashOptions {
        media_url: "m?a=<'\"&>\t$&f=$Time$".into(),
        ..opts()
    };
    let mpd = parse(&manifest(&DashKind::Static, &headers(), &frags, &o).unwrap());
    let url = mpd.find("SegmentTemplate")[0]
        .attr("media")
        .unwrap()
        .to_owned();
    // XML-escaped, and a literal `$` doubled as the template syntax wants.
    assert_eq!(url, "m?a=<'\"&>\t$$&f=$Time$");
    assert_eq!(mpd.find("S")[0].ms("d"), 1000);
}

/// One fragment per keyframe (kvssink on a busy scene): fragments of a few frames at 30 fps,
/// durations estimated from frame spacing (a ms short or long), one-frame fragments stored with
/// duration 0. The timeline has no holes; a real gap stays one.
#[test]
fn short_fragments_make_a_contiguous_timeline() {
    // (start, stored duration): 1 frame (0), 2 frames (66 of 67), 1 frame (0), 5 frames
    // (167) before a 1 s gap, then 3 frames and a 1 s gap, and a last one-frame fragment.
    let stored = [
        (0, 0),
        (33, 66),
        (100, 0),
        (133, 167),
        (1299, 100),
        (2399, 0),
    ];
    let frags: Vec<_> = stored
        .iter()
        .enumerate()
        .map(|(i, &(start, d))| DashFragment {
            duration_ms: d,
            ..frag(i as i64, 10_000 + start, 7)
        })
        .collect();
    let xml = manifest(&DashKind::Static, &headers(), &frags, &opts()).unwrap();
    let mpd = parse(&xml);
    let s = mpd.find("S");
    let td: Vec<(i64, i64)> = s.iter().map(|s| (s.ms("t"), s.ms("d"))).collect();
    assert_eq!(
        td,
        [
            (10_000, 33),
            (10_033, 67),
            (10_100, 33),
            (10_133, 167),
            (11_299, 100),
            (12_399, LONE_FRAME_MS)
        ],
        "{xml}"
    );
    assert_eq!(
        mpd.attr("mediaPresentationDuration"),
        Some("PT2.432S"),
        "{xml}"
    );
}

#[test]
fn bad_inputs_are_errors() {
    let ok: Vec<_> = (0..2).map(|i| frag(i, 1000 * i, 7)).collect();
    let run = |f: &[DashFragment], o: &DashOptions| manifest(&DashKind::Static, &headers(), f, o);
    let mut bad = ok.clone();
    bad[1].number = "12a".into();
    assert_eq!(
        run(&bad, &opts()),
        Err(DashError::FragmentNumber("12a".into()))
    );
    let mut bad = ok.clone();
    bad[1].duration_ms = -1;
    assert!(matches!(
        run(&bad, &opts()),
        Err(DashError::Duration { .. })
    ));
    let mut bad = ok.clone();
    bad[1].start_ms = 0;
    assert!(matches!(
        run(&bad, &opts()),
        Err(DashError::Unordered { .. })
    ));
    let mut bad = ok.clone();
    bad[1].track_header_id = 9;
    assert_eq!(run(&bad, &opts()), Err(DashError::UnknownTrackHeader(9)));
    assert_eq!(run(&[], &opts()), Err(DashError::NoFragments));
    assert_eq!(
        run(&[], &opts()).unwrap_err().kind(),
        ErrorKind::ResourceNotFound
    );
    let o = DashOptions {
        media_url: "m".into(),
        ..opts()
    };
    assert!(matches!(
        run(&ok, &o),
        Err(DashError::Template { which: "media", .. })
    ));
    let mut two = ok.clone();
    two[1].track_header_id = 8; // two Periods, one with two tracks
    let o = DashOptions {
        init_url: "i?T=$TrackNumber$".into(),
        ..opts()
    };
    assert_eq!(
        run(&two, &o),
        Err(DashError::Template {
            which: "init",
            placeholder: TRACK_HEADER
        })
    );
    let other = [DashTrackHeader {
        id: 7,
        tracks: vec![MediaTrack {
            codec: Codec::Other("V_VP8".into()),
            ..h264(1)
        }],
    }];
    assert!(matches!(
        manifest(&DashKind::Static, &other, &ok, &opts()),
        Err(DashError::NoTracks { .. })
    ));
    let kind = DashKind::Dynamic {
        availability_start_ms: 0,
        timeline_origin_ms: 500,
        publish_ms: 0,
        min_update_period_ms: 0,
        time_shift_buffer_ms: 0,
        suggested_delay_ms: 0,
    };
    assert!(matches!(
        manifest(&kind, &headers(), &ok, &opts()),
        Err(DashError::BeforeOrigin { .. })
    ));
}
