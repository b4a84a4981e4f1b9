//! Tests on the media in `fixtures/` (made by `fixtures/gen.sh`, described in its README):
//! what each file must parse to, that chunk boundaries never matter, that the writer
//! round-trips what the reader finds, and that an independent demuxer (ffprobe) sees the same
//! packets.

use std::path::{Path, PathBuf};
use std::process::Command;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::roundtrip::{essence, write_events};
use super::{Event, Limits, ParseError, ParseErrorKind, Reader, TrackType, ids};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; see fixtures/gen.sh", path.display()))
}

/// Every media fixture (everything but the scripts and the README).
fn all_fixtures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures/ exists")
        .map(|entry| {
            entry
                .expect("readable fixtures/")
                .file_name()
                .into_string()
                .unwrap()
        })
        .filter(|name| name.ends_with(".mkv") || name.ends_with(".bin"))
        .collect();
    names.sort();
    assert!(names.len() >= 9, "fixtures missing: {names:?}");
    names
}

/// The well-formed fixtures, which ffprobe must agree with.
const GOOD: [&str; 4] = [
    "gst_h264_320x240_gop30_5s.mkv",
    "gst_h265_320x240_gop30_3s.mkv",
    "gst_h264_aac_320x240_3s.mkv",
    "kvs_style_h264_unknown_size.mkv",
];

type Outcome = (Vec<Event>, Option<ParseError>);

/// Reads `data` in the given chunk sizes (cycled), pulling after each push.
fn read_in_chunks(data: &[u8], sizes: &[usize], limits: Limits) -> Outcome {
    let mut reader = Reader::new(limits);
    let mut events = Vec::new();
    let mut rest = data;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at(size.clamp(1, rest.len()));
        rest = tail;
        reader.push(piece);
        loop {
            match reader.pull() {
                Ok(Some(event)) => events.push(event),
                Ok(None) => break,
                Err(error) => return (events, Some(error)),
            }
        }
    }
    match reader.finish() {
        Ok(tail) => {
            events.extend(tail);
            (events, None)
        }
        Err(error) => (events, Some(error)),
    }
}

fn read_whole(data: &[u8]) -> Outcome {
    read_in_chunks(data, &[data.len()], Limits::default())
}

#[test]
fn every_fixture_reads_the_same_in_any_chunking() {
    let mut rng = StdRng::seed_from_u64(0x6d6b76);
    for name in all_fixtures() {
        let data = fixture(&name);
        let whole = read_whole(&data);
        for round in 0..12 {
            // Mostly small chunks (across every kind of boundary), sometimes large ones.
            let max = [1, 3, 16, 100, 4096, 70_000][round % 6];
            let sizes: Vec<usize> = (0..64).map(|_| rng.random_range(1..=max)).collect();
            let chunked = read_in_chunks(&data, &sizes, Limits::default());
            assert!(
                chunked == whole,
                "{name}: chunk sizes {sizes:?} changed the result"
            );
        }
    }
}

struct Summary {
    clusters: Vec<u64>,
    frames: usize,
    keyframes: usize,
    codecs: Vec<String>,
}

fn summarize(events: &[Event]) -> Summary {
    let mut summary = Summary {
        clusters: Vec::new(),
        frames: 0,
        keyframes: 0,
        codecs: Vec::new(),
    };
    for event in events {
        match event {
            Event::ClusterStart { timecode, .. } => summary.clusters.push(*timecode),
            Event::Frame(f) => {
                summary.frames += 1;
                summary.keyframes += usize::from(f.keyframe);
            }
            Event::Tracks(tracks) => {
                summary.codecs = tracks.iter().map(|t| t.codec_id.clone()).collect();
            }
            _ => {}
        }
    }
    summary
}

#[test]
fn fixtures_parse_as_documented() {
    // (file, cluster timecodes, frames, keyframes, codecs, error)
    type Case = (
        &'static str,
        &'static [u64],
        usize,
        usize,
        &'static [&'static str],
        Option<ParseErrorKind>,
    );
    let h264: &[&str] = &["V_MPEG4/ISO/AVC"];
    let cases: [Case; 9] = [
        (
            "gst_h264_320x240_gop30_5s.mkv",
            &[0, 999, 1999, 2999, 3999],
            150,
            5,
            h264,
            None,
        ),
        (
            "gst_h265_320x240_gop30_3s.mkv",
            &[0, 999, 1999],
            90,
            3,
            &["V_MPEGH/ISO/HEVC"],
            None,
        ),
        (
            "gst_h264_aac_320x240_3s.mkv",
            &[0, 999, 1999],
            90 + 142, // 3 s of video at 30 fps and of AAC at 48 kHz / 1024
            3 + 1,    // matroskamux 1.22 sets the keyframe flag on only the last AAC block
            &["V_MPEG4/ISO/AVC", "A_AAC"],
            None,
        ),
        (
            "kvs_style_h264_unknown_size.mkv",
            &[0, 999, 1999],
            90,
            3,
            h264,
            None,
        ),
        (
            "decreasing_timecodes.mkv",
            &[5000, 999, 1999],
            90,
            3,
            h264,
            None,
        ),
        (
            "truncated_cluster.mkv",
            &[0, 999],
            32,
            2,
            h264,
            Some(ParseErrorKind::Truncated),
        ),
        (
            "huge_element_size.mkv",
            &[0],
            0,
            0,
            h264,
            Some(ParseErrorKind::TooLarge {
                id: ids::SIMPLE_BLOCK,
                size: 1 << 50,
                limit: Limits::default().max_block_bytes,
            }),
        ),
        (
            "four_tracks.mkv",
            &[],
            0,
            0,
            &[],
            Some(ParseErrorKind::TooManyTracks { count: 4, limit: 3 }),
        ),
        (
            "garbage.bin",
            &[],
            0,
            0,
            &[],
            Some(ParseErrorKind::Unexpected { id: 0x9E }),
        ),
    ];
    for (name, clusters, frames, keyframes, codecs, error) in cases {
        let (events, got_error) = read_whole(&fixture(name));
        let summary = summarize(&events);
        assert_eq!(summary.clusters, clusters, "{name}");
        assert_eq!(
            (summary.frames, summary.keyframes),
            (frames, keyframes),
            "{name}"
        );
        assert_eq!(summary.codecs, codecs, "{name}");
        assert_eq!(got_error.map(|e| e.kind), error, "{name}");
    }

    // four_tracks.mkv is fine where four tracks are allowed.
    let four = Limits {
        max_tracks: 4,
        ..Limits::default()
    };
    let data = fixture("four_tracks.mkv");
    let (events, error) = read_in_chunks(&data, &[data.len()], four);
    assert_eq!(error, None);
    let numbers: Vec<u64> = events
        .iter()
        .find_map(|e| match e {
            Event::Tracks(tracks) => Some(tracks.iter().map(|t| t.number).collect()),
            _ => None,
        })
        .unwrap();
    assert_eq!(numbers, [1, 2, 3, 4]);
}

#[test]
fn the_writer_round_trips_every_fixture() {
    for name in all_fixtures() {
        let (events, _) = read_whole(&fixture(&name));
        for known_size_clusters in [false, true] {
            let mut rewritten = Vec::new();
            write_events(&mut rewritten, &events, known_size_clusters);
            let (again, error) = read_whole(&rewritten);
            assert_eq!(error, None, "{name}: the rewritten file must parse");
            assert!(
                essence(&again) == essence(&events),
                "{name} ({known_size_clusters})"
            );
        }
    }
}

/// Runs a tool that the cross-checks need; fails (never skips) when it is not installed.
fn run(program: &str, args: &[&str]) -> Vec<u8> {
    let output = Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run `{program}` ({e}); install it: scripts/install-deps.sh (apt-get install ffmpeg python3)")
    });
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// ffprobe (libavformat's Matroska demuxer) must see exactly our frames: same order, same pts
/// in ms, same payload bytes (MD5). For H.264/H.265/AAC in Matroska, its packet data is the
/// block payload as stored.
#[test]
fn ffprobe_sees_the_same_packets() {
    for name in GOOD {
        let path = fixtures_dir().join(name);
        let path = path.to_str().expect("UTF-8 path");
        let json = run(
            "ffprobe",
            &[
                "-v",
                "error",
                "-show_packets",
                "-show_data_hash",
                "MD5",
                "-of",
                "json",
                path,
            ],
        );
        let json: serde_json::Value = serde_json::from_slice(&json).expect("ffprobe JSON");
        let theirs: Vec<(u64, i64, String)> = json["packets"]
            .as_array()
            .expect("packets")
            .iter()
            .map(|p| {
                let stream = p["stream_index"].as_u64().expect("stream_index");
                let pts = p["pts"].as_i64().expect("pts");
                let hash = p["data_hash"].as_str().expect("data_hash").to_owned();
                (stream, pts, hash)
            })
            .collect();

        let (events, error) = read_whole(&fixture(name));
        assert_eq!(error, None);
        let mut track_numbers = Vec::new();
        let mut ours = Vec::new();
        for event in &events {
            match event {
                Event::Info(info) => assert_eq!(info.timecode_scale, 1_000_000, "pts in ms"),
                Event::Tracks(tracks) => track_numbers = tracks.iter().map(|t| t.number).collect(),
                Event::Frame(f) => {
                    let stream = track_numbers.iter().position(|&n| n == f.track).unwrap();
                    let hash = format!("MD5:{:x}", md5::compute(&f.data));
                    ours.push((stream as u64, f.timecode, hash));
                }
                _ => {}
            }
        }
        assert_eq!(ours.len(), theirs.len(), "{name}: packet count");
        for (i, (ours, theirs)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(ours, theirs, "{name}: packet {i}");
        }
    }
}

/// The video fixtures' frames carry their index (fixtures/framecode.py): decoding frame i with
/// ffmpeg shows index i, and our reader puts frame i at i / 30 s. This pins what later
/// frame-exact tests (GetImages, clips) rely on.
#[test]
fn fixture_frames_identify_themselves() {
    let framecode = fixtures_dir().join("framecode.py");
    let framecode = framecode.to_str().expect("UTF-8 path");
    for (name, frames) in [
        ("gst_h264_320x240_gop30_5s.mkv", 150),
        ("gst_h265_320x240_gop30_3s.mkv", 90),
    ] {
        let path = fixtures_dir().join(name);
        let gray =
            std::env::temp_dir().join(format!("vidstream-{}-{name}.gray", std::process::id()));
        let (path, gray_path) = (path.to_str().unwrap(), gray.to_str().unwrap());
        run(
            "ffmpeg",
            &[
                "-v", "error", "-y", "-i", path, "-f", "rawvideo", "-pix_fmt", "gray", gray_path,
            ],
        );
        let decoded = run("python3", &[framecode, "decode", gray_path]);
        std::fs::remove_file(&gray).ok();
        let indices: Vec<u32> = String::from_utf8(decoded)
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        assert_eq!(indices, (0..frames).collect::<Vec<_>>(), "{name}");

        let (events, _) = read_whole(&fixture(name));
        let timecodes: Vec<i64> = events
            .iter()
            .filter_map(|e| match e {
                Event::Frame(f) => Some(f.timecode),
                _ => None,
            })
            .collect();
        assert_eq!(timecodes.len(), frames as usize);
        for (i, timecode) in timecodes.iter().enumerate() {
            let want = (i as i64 * 1000) / 30;
            assert!(
                (timecode - want).abs() <= 1,
                "{name}: frame {i} at {timecode} ms"
            );
        }
        let tracks = events.iter().find_map(|e| match e {
            Event::Tracks(t) => Some(t),
            _ => None,
        });
        assert_eq!(tracks.unwrap()[0].track_type, TrackType::Video);
    }
}
