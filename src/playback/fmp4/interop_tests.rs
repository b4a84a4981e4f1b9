//! Interop: the writers' output is read by an independent demuxer and decoder (ffprobe,
//! ffmpeg), and the decoded pictures are identified with `fixtures/framecode.py`, so a wrong
//! timestamp, a lost or reordered frame, or an edit list that starts in the wrong place fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::tests::{Fixture, H264, H264_AAC, H265, check_segment, clip_sample, load, load_path};
use super::*;

/// init + one media segment per fragment, as an HLS/DASH client would concatenate them.
fn fmp4_file(fx: &Fixture, dir: &Path) -> PathBuf {
    let mut file = init_segment(&fx.tracks).unwrap().to_vec();
    for (n, frag) in fx.fragments.iter().enumerate() {
        let seg = media_segment(&fx.tracks, frag, n as u32 + 1).unwrap();
        file.extend_from_slice(&seg.to_bytes());
    }
    let path = dir.join("out.mp4");
    std::fs::write(&path, file).unwrap();
    path
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}; install ffmpeg (scripts/install-deps.sh)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// ffprobe's view: (streams, format duration in s), frames counted by decoding.
fn probe(path: &Path) -> (Vec<Value>, f64) {
    let out = run(Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_entries"])
        .arg("stream=codec_name,width,height,nb_read_frames,sample_rate,duration:format=duration")
        .args(["-of", "json"])
        .arg(path));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let streams = v["streams"].as_array().unwrap().clone();
    let duration = v["format"]["duration"].as_str().unwrap().parse().unwrap();
    (streams, duration)
}

fn frames(stream: &Value) -> u64 {
    stream["nb_read_frames"].as_str().unwrap().parse().unwrap()
}

/// Decodes every stream; ffmpeg must report nothing at all.
fn decodes_cleanly(path: &Path) {
    let out = run(Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(path)
        .args(["-map", "0", "-f", "null", "-"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.trim().is_empty(), "ffmpeg complained: {stderr}");
}

/// The framecode index of every decoded video frame, in output order.
fn frame_indexes(path: &Path) -> Vec<u32> {
    let gray = path.with_extension("gray");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(path)
        .args(["-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "gray"])
        .arg(&gray));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/framecode.py");
    let out = run(Command::new("python3")
        .arg(script)
        .args(["decode", "--width", "320", "--height", "240"])
        .arg(&gray));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().parse().expect("an index per line"))
        .collect()
}

fn check_video(stream: &Value, codec: &str, n: u64) {
    assert_eq!(stream["codec_name"], codec);
    assert_eq!(
        (stream["width"].as_u64(), stream["height"].as_u64()),
        (Some(320), Some(240))
    );
    assert_eq!(frames(stream), n, "{stream}");
}

#[test]
fn h264_segments_play_every_frame_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let fx = load(H264);
    let path = fmp4_file(&fx, dir.path());
    let (streams, duration) = probe(&path);
    assert_eq!(streams.len(), 1);
    check_video(&streams[0], "h264", 150);
    assert!((duration - 5.0).abs() < 0.05, "duration {duration}");
    decodes_cleanly(&path);
    assert_eq!(frame_indexes(&path), (0..150).collect::<Vec<_>>());
}

#[test]
fn h265_segments_play_every_frame_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let fx = load(H265);
    let path = fmp4_file(&fx, dir.path());
    let (streams, duration) = probe(&path);
    assert_eq!(streams.len(), 1);
    check_video(&streams[0], "hevc", 90);
    assert!((duration - 3.0).abs() < 0.05, "duration {duration}");
    decodes_cleanly(&path);
    assert_eq!(frame_indexes(&path), (0..90).collect::<Vec<_>>());
}

#[test]
fn h264_aac_segments_play_both_streams() {
    let dir = tempfile::tempdir().unwrap();
    let fx = load(H264_AAC);
    let path = fmp4_file(&fx, dir.path());
    let (streams, duration) = probe(&path);
    assert_eq!(streams.len(), 2, "{streams:?}");
    check_video(&streams[0], "h264", 90);
    assert_eq!(streams[1]["codec_name"], "aac");
    assert_eq!(streams[1]["sample_rate"], "48000");
    assert_eq!(frames(&streams[1]), 142, "every aac frame decodes");
    // 142 frames of exactly 1024 samples at 48 kHz.
    let audio: f64 = streams[1]["duration"].as_str().unwrap().parse().unwrap();
    assert!(
        (audio - 142.0 * 1024.0 / 48_000.0).abs() < 0.002,
        "audio {audio} s"
    );
    assert!((duration - 3.0).abs() < 0.1, "duration {duration}");
    decodes_cleanly(&path);
    assert_eq!(frame_indexes(&path), (0..90).collect::<Vec<_>>());
}

/// LL-HLS parts: every fragment cut into runs of 10 samples (333 ms), most starting at a
/// non-keyframe, each its own moof/mdat. Played back to back they are the same video.
#[test]
fn partial_segments_starting_mid_gop_play_back_to_back() {
    let dir = tempfile::tempdir().unwrap();
    for name in [H264, H264_AAC] {
        let fx = load(name);
        let mut file = init_segment(&fx.tracks).unwrap().to_vec();
        let mut seq = 1;
        for frag in &fx.fragments {
            for part in frag.chunks(10) {
                file.extend_from_slice(&media_segment(&fx.tracks, part, seq).unwrap().to_bytes());
                seq += 1;
            }
        }
        assert!(seq > 15);
        let path = dir.path().join("parts.mp4");
        std::fs::write(&path, file).unwrap();
        let n = if name == H264 { 150 } else { 90 };
        let (streams, _) = probe(&path);
        check_video(&streams[0], "h264", n);
        decodes_cleanly(&path);
        assert_eq!(
            frame_indexes(&path),
            (0..n as u32).collect::<Vec<_>>(),
            "{name}"
        );
    }
}

/// Writes a planned clip: head, then the payloads in the planned order.
fn clip_file(fx: &Fixture, start_ms: i64, end_ms: i64, path: &Path) -> ClipLayout {
    let all = fx.all_samples();
    let clip: Vec<ClipSample> = all.iter().map(clip_sample).collect();
    let layout = plan_clip(&fx.tracks, &clip, start_ms, end_ms).unwrap();
    let mut file = layout.head.to_vec();
    for &i in &layout.samples {
        file.extend_from_slice(&all[i].data);
    }
    assert_eq!(file.len() as u64, layout.len());
    std::fs::write(path, &file).unwrap();
    layout
}

fn top_level_kinds(path: &Path) -> Vec<String> {
    let data = std::fs::read(path).unwrap();
    let mut kinds = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= data.len() {
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        kinds.push(String::from_utf8_lossy(&data[pos + 4..pos + 8]).into_owned());
        assert!(size >= 8);
        pos += size;
    }
    assert_eq!(pos, data.len());
    kinds
}

#[test]
fn clip_starts_exactly_at_the_requested_frame() {
    let dir = tempfile::tempdir().unwrap();
    let fx = load(H264);
    let path = dir.path().join("clip.mp4");
    let layout = clip_file(&fx, 1500, 3500, &path);
    // The media starts at the keyframe before 1500 ms (frame 30, at 1000 ms).
    let all = fx.all_samples();
    assert_eq!(all[layout.samples[0]].pts_ms, 1000);
    assert!(all[layout.samples[0]].key);
    assert_eq!(
        top_level_kinds(&path),
        ["ftyp", "moov", "mdat"],
        "moov first"
    );
    let (streams, duration) = probe(&path);
    assert!((duration - 2.0).abs() < 0.05, "duration {duration}");
    // 1500..3500 ms at 30 fps: frames 45..=104, the lead-in from frame 30 decoded, not shown.
    check_video(&streams[0], "h264", 60);
    decodes_cleanly(&path);
    assert_eq!(frame_indexes(&path), (45..105).collect::<Vec<_>>());
}

#[test]
fn clip_with_audio_keeps_both_streams_in_range() {
    let dir = tempfile::tempdir().unwrap();
    let fx = load(H264_AAC);
    let path = dir.path().join("clip.mp4");
    clip_file(&fx, 1200, 2700, &path);
    assert_eq!(top_level_kinds(&path), ["ftyp", "moov", "mdat"]);
    let (streams, duration) = probe(&path);
    assert!((duration - 1.5).abs() < 0.05, "duration {duration}");
    assert_eq!(streams.len(), 2);
    assert_eq!(streams[1]["codec_name"], "aac");
    // 1.5 s of 48 kHz audio is 70.3 AAC frames; allow the frames the edit list trims.
    let audio = frames(&streams[1]);
    assert!((70..=73).contains(&audio), "{audio} audio frames");
    decodes_cleanly(&path);
    assert_eq!(frame_indexes(&path), (36..81).collect::<Vec<_>>());
}

/// B-frames: decode order differs from presentation order, so decode times are derived
/// (media.rs) and every sample carries a composition offset. The committed fixtures have none,
/// so this encodes framecode frames with x264 `-bf 2` at test time.
#[test]
fn b_frames_come_out_in_presentation_order() {
    let dir = tempfile::tempdir().unwrap();
    let mkv = dir.path().join("bframes.mkv");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/framecode.py");
    let cmd = format!(
        "python3 {} generate --frames 90 | ffmpeg -v error -f rawvideo -pix_fmt yuv420p \
         -s 320x240 -r 30 -i - -c:v libx264 -preset veryfast -bf 2 -g 30 -keyint_min 30 \
         -sc_threshold 0 -cluster_time_limit 900 -y {}",
        script.display(),
        mkv.display()
    );
    run(Command::new("sh").arg("-c").arg(&cmd));
    let fx = load_path(&mkv);
    let all = fx.all_samples();
    assert_eq!(all.len(), 90);
    assert!(
        all.iter().any(|s| s.pts_ms != s.dts_ms),
        "the encode has b-frames"
    );
    assert!(fx.fragments.len() >= 3);
    for (n, frag) in fx.fragments.iter().enumerate() {
        check_segment(&fx.tracks, frag, n as u32 + 1);
    }

    let path = fmp4_file(&fx, dir.path());
    let (streams, _) = probe(&path);
    check_video(&streams[0], "h264", 90);
    decodes_cleanly(&path);
    assert_eq!(frame_indexes(&path), (0..90).collect::<Vec<_>>());

    // A clip from 1500 ms: frame 45 first, although it is a B-frame decoded after later ones.
    let clip = dir.path().join("clip.mp4");
    clip_file(&fx, 1500, 2500, &clip);
    let (streams, duration) = probe(&clip);
    assert!((duration - 1.0).abs() < 0.05, "duration {duration}");
    check_video(&streams[0], "h264", 30);
    decodes_cleanly(&clip);
    assert_eq!(frame_indexes(&clip), (45..75).collect::<Vec<_>>());
}
