//! `vidstream bench images`: the GetImages decode path against GStreamer's own, on one input in
//! the same run.
//!
//! The input is made here: `videotestsrc` (ball pattern) 640x480, 30 fps, 30 s, x264enc
//! `veryfast` with B-frames, a keyframe every 30 frames, in Matroska. Then:
//! - baseline: `gst-launch-1.0 filesrc ! matroskademux ! avdec_h264 max-threads=1 ! fakesink
//!   sync=false` as a child process; its CPU time comes from `/proc/self/stat` (children), minus
//!   that of the same command on a one-GOP input (start-up: plugin registry, pipeline);
//! - ours: the file's frames read with [`crate::mkv::Reader`], then every GOP decoded by
//!   [`crate::frames::Frames`] (one pass per GOP, decoders reused from the pool, as GetImages
//!   does per fragment); CPU time of this process;
//! - keyframe-sampled JPEG (quality 80, native size): one image per GOP, decoding only the
//!   keyframe, as a GetImages sampling at the GOP length does (over all GOPs, [`JPEG_ROUNDS`]
//!   times, so the CPU time is many clock ticks).
//!
//! Rates are per CPU-second ("per core"); decode is single-threaded on both sides. The target
//! for decode is ≥ 0.9× the baseline. The baseline also reads and demuxes the file (about
//! 0.01 CPU-s of its 0.5 for the whole input here, i.e. ≤ 2 %), where ours starts from frames
//! already in memory, as GetImages does after reading a fragment.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use bytes::Bytes;

use super::{Args, Row, print_rows, tempdir_in};
use crate::frames::{CodedFrame, Frames, ImageFormat, OutputSpec};
use crate::media::Codec;
use crate::mkv::Event;

/// Frames in the generated input.
const FRAMES: u32 = 900;
/// Frames per GOP (keyframe interval).
const GOP: u32 = 30;
/// Alternating rounds of baseline and ours.
const RUNS: usize = 3;
/// Times the keyframe-sampled JPEG row goes over the GOPs (one pass is only a few CPU ticks).
const JPEG_ROUNDS: usize = 10;

/// Runs the benchmark and prints its table.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let work = tempdir_in(&args.dir)?;
    let result = measure(&work);
    let _ = std::fs::remove_dir_all(&work);
    print_rows(result?)
}

fn measure(work: &Path) -> anyhow::Result<Vec<Row>> {
    let input = work.join("input.mkv");
    make_input(&input, FRAMES)?;
    let one_gop = work.join("gop.mkv");
    make_input(&one_gop, GOP)?;

    let (codec, gops) = read_gops(&input)?;
    let frames = Frames::new(crate::frames::MAX_IDLE);
    // Warm up (plugin loading, first pipelines) outside the measurement.
    frames.decode_count(&codec, &gops[0])?;

    // RUNS alternating rounds (baseline, then ours) on this shared machine; the table gives the
    // median of each and the ratio of every round.
    let mut rounds = Vec::new();
    for _ in 0..RUNS {
        // Baseline: GStreamer's decoder alone, in a child process. Its start-up (plugin
        // registry, pipeline) is measured on a one-GOP input and taken out.
        let (small_cpu, small_wall) = gst_decode(&one_gop)?;
        let (full_cpu, full_wall) = gst_decode(&input)?;
        let base_frames = f64::from(FRAMES - GOP);
        let base_rate = base_frames / (full_cpu - small_cpu).max(1e-9);
        let base_wall_rate = base_frames / (full_wall - small_wall).max(1e-9);

        let before = cpu_secs(false)?;
        let t0 = Instant::now();
        let mut decoded = 0;
        for gop in &gops {
            decoded += frames.decode_count(&codec, gop)?;
        }
        let ours_wall = t0.elapsed().as_secs_f64();
        let ours_cpu = cpu_secs(false)? - before;
        if decoded != FRAMES as usize {
            bail!("decoded {decoded} pictures of {FRAMES}");
        }
        let ours_rate = decoded as f64 / ours_cpu.max(1e-9);
        rounds.push((
            base_rate,
            base_wall_rate,
            ours_rate,
            decoded as f64 / ours_wall,
        ));
    }
    let median = |f: fn(&(f64, f64, f64, f64)) -> f64| {
        let mut v: Vec<f64> = rounds.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let base_rate = median(|r| r.0);
    let ratios: Vec<f64> = rounds.iter().map(|r| r.2 / r.0).collect();
    let median_ratio = {
        let mut v = ratios.clone();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ratio_list = ratios
        .iter()
        .map(|r| format!("{r:.2}"))
        .collect::<Vec<_>>()
        .join(", ");

    // The same frames in one pass: what the per-pass cost (segment, EOS drain, flush) is.
    let all: Vec<CodedFrame> = gops.iter().flatten().cloned().collect();
    let before = cpu_secs(false)?;
    let one = frames.decode_count(&codec, &all)?;
    let one_cpu = cpu_secs(false)? - before;

    let spec = OutputSpec {
        format: ImageFormat::Jpeg { quality: 80 },
        width: None,
        height: None,
    };
    let before = cpu_secs(false)?;
    let t0 = Instant::now();
    let mut images = 0;
    let mut bytes = 0;
    for _ in 0..JPEG_ROUNDS {
        for gop in &gops {
            let key = &gop[..1];
            let pics = frames.render(&codec, key, &[key[0].pts_ms], &spec)?;
            for p in pics.into_values() {
                bytes += p?.len();
                images += 1;
            }
        }
    }
    let jpeg_wall = t0.elapsed().as_secs_f64();
    let jpeg_cpu = cpu_secs(false)? - before;

    Ok(vec![
        Row {
            what: "gst-launch avdec_h264 max-threads=1 (640x480, B-frames)".into(),
            result: format!(
                "{base_rate:.0} frames/s per core ({:.0} wall), median of {RUNS}",
                median(|r| r.1)
            ),
            target: "baseline".into(),
        },
        Row {
            what: format!("vidstream frames: decode {} GOPs of {GOP}", gops.len()),
            result: format!(
                "{:.0} frames/s per core ({:.0} wall) = {median_ratio:.2}x (rounds: {ratio_list})",
                median(|r| r.2),
                median(|r| r.3),
            ),
            target: ">= 0.9x baseline".into(),
        },
        Row {
            what: "vidstream frames: the same in one pass".into(),
            result: format!(
                "{:.0} frames/s per core = {:.2}x",
                one as f64 / one_cpu.max(1e-9),
                one as f64 / one_cpu.max(1e-9) / base_rate
            ),
            target: "-".into(),
        },
        Row {
            what: "keyframe-sampled JPEG q80 640x480".into(),
            result: format!(
                "{:.0} images/s per core ({:.0} wall), {} B avg",
                images as f64 / jpeg_cpu.max(1e-9),
                images as f64 / jpeg_wall,
                bytes / images.max(1)
            ),
            target: "-".into(),
        },
    ])
}

/// Encodes `frames` frames of the test input into `path` (High profile with B-frames).
pub(super) fn make_input(path: &Path, frames: u32) -> anyhow::Result<()> {
    encode_ball(
        path,
        u64::from(frames),
        30,
        &format!("speed-preset=veryfast key-int-max={GOP} bframes=2 bitrate=2000"),
        "high",
    )
}

/// Encodes `frames` frames of videotestsrc's ball pattern, 640x480 at `fps`, with x264enc
/// `x264_options` and `profile`, into the Matroska file `path` (the benches' inputs).
pub(super) fn encode_ball(
    path: &Path,
    frames: u64,
    fps: u64,
    x264_options: &str,
    profile: &str,
) -> anyhow::Result<()> {
    let status = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(format!(
            "videotestsrc num-buffers={frames} pattern=ball ! video/x-raw,format=I420,width=640,height=480,framerate={fps}/1 \
             ! x264enc {x264_options} ! video/x-h264,profile={profile} ! matroskamux ! filesink"
        ).split_whitespace())
        .arg(format!("location={}", path.display()))
        .status()
        .context("running gst-launch-1.0 (install gstreamer1.0-tools)")?;
    if !status.success() {
        bail!("gst-launch-1.0 could not make the input: {status}");
    }
    Ok(())
}

/// CPU and wall seconds of `gst-launch-1.0 filesrc ! matroskademux ! avdec_h264 max-threads=1
/// ! fakesink sync=false` on `path`.
fn gst_decode(path: &Path) -> anyhow::Result<(f64, f64)> {
    let before = cpu_secs(true)?;
    let t0 = Instant::now();
    let status = Command::new("gst-launch-1.0")
        .arg("-q")
        .arg("filesrc")
        .arg(format!("location={}", path.display()))
        .args("! matroskademux ! avdec_h264 max-threads=1 ! fakesink sync=false".split_whitespace())
        .status()
        .context("running gst-launch-1.0")?;
    if !status.success() {
        bail!("gst-launch-1.0 decode failed: {status}");
    }
    Ok((cpu_secs(true)? - before, t0.elapsed().as_secs_f64()))
}

/// The H.264 track's configuration and its frames split into GOPs (decode order).
fn read_gops(path: &Path) -> anyhow::Result<(Codec, Vec<Vec<CodedFrame>>)> {
    let events = super::mkv_events(path)?;
    let mut codec = None;
    let mut gops: Vec<Vec<CodedFrame>> = Vec::new();
    for e in events {
        match e {
            Event::Tracks(tracks) => {
                codec = tracks
                    .into_iter()
                    .find(|t| t.codec_id == "V_MPEG4/ISO/AVC")
                    .map(|t| (t.number, t.codec_private));
            }
            Event::Frame(f) => {
                let Some((track, _)) = &codec else { continue };
                if f.track != *track {
                    continue;
                }
                if f.keyframe || gops.is_empty() {
                    gops.push(Vec::new());
                }
                if let Some(gop) = gops.last_mut() {
                    gop.push(CodedFrame {
                        pts_ms: f.timecode,
                        dts_ms: f.timecode,
                        duration_ms: 0,
                        key: f.keyframe,
                        data: Bytes::clone(&f.data),
                    });
                }
            }
            _ => {}
        }
    }
    let Some((_, avcc)) = codec else {
        bail!("the input has no H.264 track");
    };
    // Decode timestamps: sorted presentation times per GOP (B-frames reorder).
    for gop in &mut gops {
        let mut pts: Vec<i64> = gop.iter().map(|f| f.pts_ms).collect();
        pts.sort_unstable();
        let shift = gop
            .iter()
            .zip(&pts)
            .map(|(f, d)| d - f.pts_ms)
            .max()
            .unwrap_or(0)
            .max(0);
        for (f, d) in gop.iter_mut().zip(pts) {
            f.dts_ms = d - shift;
        }
    }
    if gops.is_empty() {
        bail!("the input has no frames");
    }
    Ok((Codec::H264 { avcc }, gops))
}

/// CPU seconds (user + system) of this process, or of its waited-for children.
pub(super) fn cpu_secs(children: bool) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("parsing /proc/self/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command name: state is field 3; utime 14, stime 15, cutime 16, cstime 17.
    let at = |n: usize| -> anyhow::Result<f64> {
        fields
            .get(n - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .context("parsing /proc/self/stat")
    };
    let ticks = if children {
        at(16)? + at(17)?
    } else {
        at(14)? + at(15)?
    };
    Ok(ticks / clock_ticks())
}

/// `getconf CLK_TCK` (100 on Linux in practice).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}
