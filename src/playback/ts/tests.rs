//! Segments built from the fixtures (fixtures/gen.sh), read back by independent tools: ffprobe
//! and ffmpeg must find the codecs, sizes, frame counts and durations, decode without a single
//! error message, and give back the fixture's own frames in order (fixtures/framecode.py). A
//! small packet parser (`tsparse`) checks the transport-level rules besides.

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;

use super::tsparse::{self, Parsed, nal_types};
use super::*;
use crate::ingest::fragmenter::{FragmentLimits, Fragmenter, Output, TimecodeType};
use crate::media::{self, MediaTrack, Sample};
use crate::mkv::{Limits, Reader};

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// The fixture as the store would hold it: one (tracks, samples) per sealed fragment.
fn fragments(name: &str) -> Vec<(Vec<MediaTrack>, Vec<Sample>)> {
    let data = std::fs::read(fixture_path(name)).expect("fixture; see fixtures/gen.sh");
    let mut reader = Reader::new(Limits::default());
    reader.push(&data);
    let mut events = Vec::new();
    while let Some(ev) = reader.pull().expect("fixture parses") {
        events.push(ev);
    }
    events.extend(reader.finish().expect("fixture ends cleanly"));
    let mut f = Fragmenter::new(TimecodeType::Absolute, FragmentLimits::default(), None);
    let mut out = Vec::new();
    for ev in events {
        f.push(ev, 0, &mut out).expect("fixture fragments");
    }
    f.finish(&mut out).expect("fixture fragments");
    out.into_iter()
        .filter_map(|o| match o {
            Output::Sealed(s) => Some(s),
            _ => None,
        })
        .map(|s| {
            let tracks = media::tracks(&s.track_header).expect("tracks");
            let samples = media::samples(&tracks, &s.cluster, &s.trailer).expect("samples");
            (tracks, samples)
        })
        .collect()
}

/// All fragments' segments concatenated, counters carried across; also checks the packets.
fn whole_stream(frags: &[(Vec<MediaTrack>, Vec<Sample>)]) -> (Vec<u8>, Parsed) {
    let mut cc = Continuity::default();
    let mut ts = Vec::new();
    for (tracks, samples) in frags {
        ts.extend_from_slice(&segment(tracks, samples, &mut cc).expect("segment"));
    }
    let parsed = tsparse::parse(&ts, &Continuity::default()).expect("packet-level rules");
    assert_eq!(parsed.pats, frags.len(), "one PAT per segment");
    assert_eq!(parsed.pmts, frags.len(), "one PMT per segment");
    (ts, parsed)
}

fn run(cmd: &mut Command) -> (String, String) {
    let out = cmd
        .output()
        .expect("ffmpeg/ffprobe/python3 installed (scripts/install-deps.sh)");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{cmd:?} failed: {stderr}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

/// ffprobe's view of a file's streams (with decoded frame counts) and format.
fn probe(path: &Path) -> serde_json::Value {
    let (json, _) = run(Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-show_format",
        ])
        .args(["-of", "json"])
        .arg(path));
    serde_json::from_str(&json).expect("ffprobe json")
}

fn stream<'a>(probe: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    probe["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .find(|s| s["codec_type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} stream in {probe}"))
}

fn count(v: &serde_json::Value, field: &str) -> usize {
    v[field]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{field} in {v}"))
}

/// Decodes every stream of `path` with ffmpeg at `-v error`: anything printed is a failure.
fn assert_decodes_silently(path: &Path) {
    let (_, stderr) = run(Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"]));
    assert!(
        stderr.is_empty(),
        "{}: ffmpeg says: {stderr}",
        path.display()
    );
}

/// The framecode indexes of every decoded video frame of `path` (fixtures/framecode.py).
fn frame_indexes(path: &Path) -> Vec<u32> {
    let gray = path.with_extension("gray");
    run(Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(path)
        .args(["-map", "0:v", "-f", "rawvideo", "-pix_fmt", "gray"])
        .arg(&gray));
    let (out, _) = run(Command::new("python3")
        .arg(fixture_path("framecode.py"))
        .args(["decode", "--width", "320", "--height", "240"])
        .arg(&gray));
    out.lines()
        .map(|l| l.trim().parse().expect("an index per line"))
        .collect()
}

/// Ticks from `a` forward to `b` on the 33-bit clock (which wraps: a stream starting at time 0
/// has its first PCRs just below 2^33).
fn ticks_between(a: u64, b: u64) -> u64 {
    b.wrapping_sub(a) & ((1 << 33) - 1)
}

/// The video track's number.
fn video_track(tracks: &[MediaTrack]) -> u64 {
    tracks
        .iter()
        .find(|t| matches!(t.codec, Codec::H264 { .. } | Codec::H265 { .. }))
        .expect("a video track")
        .number
}

/// Removes the parameter sets (and AUDs) the encoder put in the frames themselves, as a
/// producer that sends them only in CodecPrivate would: then only the ones the writer inserts
/// from the codec configuration let a segment decode. Returns how many NAL units were removed.
fn strip_in_band_parameter_sets(frags: &mut [(Vec<MediaTrack>, Vec<Sample>)], hevc: bool) -> usize {
    let mut removed = 0;
    for (tracks, samples) in frags {
        let video = video_track(tracks);
        for s in samples.iter_mut().filter(|s| s.track == video) {
            // The fixtures use 4-byte NAL lengths (lengthSizeMinusOne 3).
            let mut kept = Vec::with_capacity(s.data.len());
            let mut rest = &s.data[..];
            while !rest.is_empty() {
                let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
                let nal = &rest[4..4 + len];
                let t = if hevc {
                    (nal[0] >> 1) & 0x3F
                } else {
                    nal[0] & 0x1F
                };
                let drop = if hevc {
                    (32..=35).contains(&t)
                } else {
                    (7..=9).contains(&t)
                };
                if drop {
                    removed += 1;
                } else {
                    kept.extend_from_slice(&rest[..4 + len]);
                }
                rest = &rest[4 + len..];
            }
            s.data = Bytes::from(kept);
        }
    }
    removed
}

/// The checks every fixture goes through, on the frames as stored and again with their in-band
/// parameter sets removed: the whole stream decodes to the fixture's frames with the fixture's
/// duration; each segment alone starts with PAT, PMT and a keyframe that carries its parameter
/// sets, and decodes to its own frames. Returns ffprobe's view of the whole stream.
fn check_fixture(name: &str, codec: &str, duration_s: f64, hevc: bool) -> serde_json::Value {
    let mut frags = fragments(name);
    assert!(frags.len() >= 3, "{name}: {} fragments", frags.len());
    let fixture_probe = probe(&fixture_path(name));
    let want_frames = count(stream(&fixture_probe, "video"), "nb_read_frames");
    let p = check_stream(name, &frags, want_frames, codec, duration_s, hevc);
    let removed = strip_in_band_parameter_sets(&mut frags, hevc);
    let name = format!("{name} without in-band parameter sets ({removed} removed)");
    check_stream(&name, &frags, want_frames, codec, duration_s, hevc);
    p
}

fn check_stream(
    name: &str,
    frags: &[(Vec<MediaTrack>, Vec<Sample>)],
    want_frames: usize,
    codec: &str,
    duration_s: f64,
    hevc: bool,
) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");

    let (ts, parsed) = whole_stream(frags);
    let path = dir.path().join("all.ts");
    std::fs::write(&path, &ts).expect("write");
    let p = probe(&path);
    let v = stream(&p, "video");
    assert_eq!(v["codec_name"], codec, "{name}");
    assert_eq!((&v["width"], &v["height"]), (&320.into(), &240.into()));
    assert_eq!(count(v, "nb_read_frames"), want_frames, "{name}: frames");
    let duration: f64 = p["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .expect("duration");
    assert!(
        (duration - duration_s).abs() < 0.1,
        "{name}: duration {duration} s, want {duration_s} s"
    );
    assert_decodes_silently(&path);
    let want: Vec<u32> = (0..want_frames as u32).collect();
    assert_eq!(frame_indexes(&path), want, "{name}: decoded frames");

    // Transport-level: PCR on the video PID, never more than 100 ms apart, never decreasing,
    // always behind the DTS of the PES it starts; keyframes flagged and self-contained.
    assert_eq!(parsed.pcr_pid, VIDEO_PID);
    assert!(parsed.pcrs.iter().all(|&(pid, _)| pid == VIDEO_PID));
    for w in parsed.pcrs.windows(2) {
        assert!(ticks_between(w[0].1, w[1].1) <= 9_000, "PCR step {w:?}");
    }
    let video: Vec<_> = parsed.pes.iter().filter(|p| p.pid == VIDEO_PID).collect();
    assert_eq!(video.len(), want_frames);
    let (aud, sps, pps, idr) = if hevc { (35, 33, 34, 19) } else { (9, 7, 8, 5) };
    for pes in &video {
        assert_eq!(pes.stream_id, 0xE0);
        let pcr = pes.pcr.expect("PCR on every video PES");
        let lead = ticks_between(pcr, pes.dts);
        assert!(
            lead > 0 && lead <= 9_000,
            "PCR {pcr} not just before DTS {}",
            pes.dts
        );
        let types = nal_types(&pes.data, hevc);
        assert_eq!(types[0], aud, "AUD first");
        // H.265 random access points are the IRAP types (BLA, IDR, CRA: 16..=21).
        let is_idr = types
            .iter()
            .any(|&t| t == idr || (hevc && (16..=21).contains(&t)));
        assert_eq!(
            pes.random_access, is_idr,
            "random_access_indicator on keyframes"
        );
        if is_idr {
            assert!(types.contains(&sps) && types.contains(&pps), "{types:?}");
            if hevc {
                assert!(types.contains(&32), "VPS before keyframes: {types:?}");
            }
        }
    }

    let mut first_index = 0u32;
    for (i, (tracks, samples)) in frags.iter().enumerate() {
        let mut cc = Continuity::default();
        let seg = segment(tracks, samples, &mut cc).expect("segment");
        let parsed = tsparse::parse(&seg, &Continuity::default()).expect("packets");
        assert_eq!(
            parsed.first_pids,
            [0, PMT_PID],
            "segment {i} starts with PAT, PMT"
        );
        let first_video = parsed
            .pes
            .iter()
            .find(|p| p.pid == VIDEO_PID)
            .expect("video");
        assert!(
            first_video.random_access,
            "segment {i} starts on a keyframe"
        );
        let path = dir.path().join(format!("seg{i}.ts"));
        std::fs::write(&path, &seg).expect("write");
        assert_decodes_silently(&path);
        let video = video_track(tracks);
        let frames = samples.iter().filter(|s| s.track == video).count() as u32;
        let want: Vec<u32> = (first_index..first_index + frames).collect();
        assert_eq!(frame_indexes(&path), want, "{name}: segment {i} alone");
        first_index += frames;
    }
    p
}

#[test]
fn h264_fixture_round_trips_through_ffmpeg() {
    check_fixture("gst_h264_320x240_gop30_5s.mkv", "h264", 5.0, false);
}

#[test]
fn h265_fixture_round_trips_through_ffmpeg() {
    check_fixture("gst_h265_320x240_gop30_3s.mkv", "hevc", 3.0, true);
}

#[test]
fn h264_aac_fixture_has_both_streams_and_audio_decodes() {
    let name = "gst_h264_aac_320x240_3s.mkv";
    let p = check_fixture(name, "h264", 3.0, false);
    let a = stream(&p, "audio");
    assert_eq!(a["codec_name"], "aac");
    assert_eq!(a["sample_rate"], "48000");
    assert_eq!(a["channels"], 1);
    let frags = fragments(name);
    let audio_track = frags[0]
        .0
        .iter()
        .find(|t| matches!(t.codec, Codec::Aac { .. }))
        .expect("aac track")
        .number;
    let aac_samples: usize = frags
        .iter()
        .map(|(_, s)| s.iter().filter(|s| s.track == audio_track).count())
        .sum();
    assert_eq!(
        count(a, "nb_read_frames"),
        aac_samples,
        "every AAC frame decodes"
    );
    let fixture = probe(&fixture_path(name));
    assert_eq!(
        count(stream(&fixture, "audio"), "nb_read_frames"),
        aac_samples
    );

    let (_, parsed) = whole_stream(&frags);
    assert_eq!(
        parsed.streams,
        [(0x1B, VIDEO_PID), (0x0F, AUDIO_PID)],
        "PMT stream types"
    );
    let audio: Vec<_> = parsed.pes.iter().filter(|p| p.pid == AUDIO_PID).collect();
    assert_eq!(audio.len(), aac_samples);
    assert!(
        audio
            .iter()
            .all(|p| p.stream_id == 0xC0 && p.data[..2] == [0xFF, 0xF1])
    );
}

#[test]
fn audio_only_segments_carry_the_pcr_on_the_audio_pid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let frags = fragments("gst_h264_aac_320x240_3s.mkv");
    let mut cc = Continuity::default();
    let mut ts = Vec::new();
    for (tracks, samples) in &frags {
        let audio: Vec<MediaTrack> = tracks
            .iter()
            .filter(|t| matches!(t.codec, Codec::Aac { .. }))
            .cloned()
            .collect();
        ts.extend_from_slice(&segment(&audio, samples, &mut cc).expect("segment"));
    }
    let parsed = tsparse::parse(&ts, &Continuity::default()).expect("packets");
    assert_eq!(parsed.pcr_pid, AUDIO_PID);
    assert_eq!(parsed.streams, [(0x0F, AUDIO_PID)]);
    assert!(parsed.pcrs.iter().all(|&(pid, _)| pid == AUDIO_PID));
    for w in parsed.pcrs.windows(2) {
        assert!(ticks_between(w[0].1, w[1].1) <= 9_000, "PCR step {w:?}");
    }
    let path = dir.path().join("audio.ts");
    std::fs::write(&path, &ts).expect("write");
    let p = probe(&path);
    assert_eq!(p["streams"].as_array().map(Vec::len), Some(1));
    assert_eq!(stream(&p, "audio")["codec_name"], "aac");
    assert_decodes_silently(&path);
}
