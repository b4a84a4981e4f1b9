//! End to end for the DASH manifest writer (`vidstream::playback::dash`) with independent
//! players: fixtures are read and fragmented in-process as ingest does, their init and media
//! segments are built with `playback::fmp4` and written with the MPD to a temp dir under the
//! URLs the manifest names (the module's URL contract: relative `getMP4InitFragment.mp4?…` /
//! `getMP4MediaFragment.mp4?…` next to `/dash/v1/getDASHManifest.mpd?SessionToken=…`), and a
//! small static server with CORS serves them on loopback. ffmpeg's dash demuxer must count the
//! fixture's frames and decode them cleanly and in order; dash.js in headless Chromium must
//! play them, the frames on screen matching `currentTime`; a dynamic (live-shaped) manifest
//! over the same segments must start playing too.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use vidstream::ingest::fragmenter::{
    FragmentLimits, Fragmenter, Output, SealedFragment, TimecodeType,
};
use vidstream::media::{self, MediaTrack, Sample};
use vidstream::mkv::{Limits, Reader};
use vidstream::playback::dash::{
    self, DashFragment, DashKind, DashOptions, DashTrackHeader, TIME, TRACK_HEADER, TRACK_NUMBER,
};
use vidstream::playback::fmp4;
use vidstream::store::index::TimestampKind;

use crate::common;
use crate::common::browser::{self, Kind, PlayOpts, PlayReport};

/// 150 frames, 320x240 H.264 at 30 fps, GOP 30, one fragment per second.
const H264: &str = "gst_h264_320x240_gop30_5s.mkv";
/// 90 video frames + 142 AAC frames (48 kHz mono), 3 fragments.
const H264_AAC: &str = "gst_h264_aac_320x240_3s.mkv";
const FPS: f64 = 30.0;
/// A token with a percent-encoded `/`, as a real session token would be sent.
const TOKEN: &str = "tok%2Ben%2F1";
const TRACK_HEADER_ID: i64 = 42;

/// A fixture read and fragmented as ingest does (one fragment per Cluster).
struct Fixture {
    tracks: Vec<MediaTrack>,
    fragments: Vec<(SealedFragment, Vec<Sample>)>,
}

fn load(name: &str) -> Fixture {
    load_path(&common::probe::fixture(name))
}

fn load_path(path: &Path) -> Fixture {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = Reader::new(Limits::default());
    reader.push(&data);
    let mut events = Vec::new();
    while let Some(ev) = reader.pull().expect("fixture parses") {
        events.push(ev);
    }
    events.extend(reader.finish().expect("fixture ends cleanly"));
    let mut fragmenter = Fragmenter::new(TimecodeType::Absolute, FragmentLimits::default(), None);
    let mut out = Vec::new();
    for ev in events {
        fragmenter.push(ev, 0, &mut out).expect("fixture fragments");
    }
    fragmenter.finish(&mut out).unwrap();
    let sealed: Vec<SealedFragment> = out
        .into_iter()
        .filter_map(|o| match o {
            Output::Sealed(s) => Some(s),
            _ => None,
        })
        .collect();
    let tracks = media::tracks(&sealed[0].track_header).unwrap();
    let fragments = sealed
        .into_iter()
        .map(|s| {
            let samples = media::samples(&tracks, &s.cluster, &s.trailer).unwrap();
            (s, samples)
        })
        .collect();
    Fixture { tracks, fragments }
}

/// The fixture played `loops` times in a row, each copy `period_ms` later (samples, producer
/// timestamps), as a longer stream of the same frames.
fn looped(fx: &Fixture, loops: i64, period_ms: i64) -> Fixture {
    let mut fragments = Vec::new();
    for k in 0..loops {
        for (s, samples) in &fx.fragments {
            let mut s = s.clone();
            s.producer_ms += k * period_ms;
            let mut samples = samples.clone();
            for x in &mut samples {
                x.pts_ms += k * period_ms;
                x.dts_ms += k * period_ms;
            }
            fragments.push((s, samples));
        }
    }
    Fixture {
        tracks: fx.tracks.clone(),
        fragments,
    }
}

/// The index rows the HTTP layer would pass: 47-digit numbers, start = first video pts.
fn dash_fragments(fx: &Fixture) -> Vec<DashFragment> {
    fx.fragments
        .iter()
        .enumerate()
        .map(|(i, (s, samples))| DashFragment {
            number: format!("91343852333181432392682062622220590765191907{i:03}"),
            start_ms: samples
                .iter()
                .filter(|x| x.track == 1)
                .map(|x| x.pts_ms)
                .min()
                .unwrap(),
            duration_ms: s.duration_ms,
            producer_ms: 1_700_000_000_000 + s.producer_ms,
            server_ms: 1_700_000_500_000 + s.producer_ms,
            track_header_id: TRACK_HEADER_ID,
            size_bytes: s.cluster.len() as u64,
        })
        .collect()
}

/// Where the server keeps the body of a request for `path_and_query`.
fn file_for(root: &Path, path_and_query: &str) -> PathBuf {
    let name: String = path_and_query
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    root.join(name)
}

/// Writes one session: the MPD at `/dash/v1/getDASHManifest.mpd?SessionToken={session}`, and
/// every init and media segment under the URL the MPD gives it. Returns the MPD's path+query.
fn write_session(root: &Path, fx: &Fixture, session: &str, kind: &DashKind) -> String {
    let token = format!("{TOKEN}{session}");
    let opts = DashOptions {
        display_fragment_timestamp: Some(TimestampKind::Producer),
        display_fragment_number: true,
        init_url: format!(
            "getMP4InitFragment.mp4?SessionToken={token}&TrackHeader={TRACK_HEADER}&TrackNumber={TRACK_NUMBER}"
        ),
        media_url: format!(
            "getMP4MediaFragment.mp4?SessionToken={token}&TrackNumber={TRACK_NUMBER}&Time={TIME}"
        ),
    };
    let frags = dash_fragments(fx);
    let headers = [DashTrackHeader {
        id: TRACK_HEADER_ID,
        tracks: fx.tracks.clone(),
    }];
    let mpd = dash::manifest(kind, &headers, &frags, &opts).unwrap();
    let dir = "/dash/v1/";
    for track in &fx.tracks {
        let n = track.number.to_string();
        let init = opts
            .init_url
            .replace(TRACK_HEADER, &TRACK_HEADER_ID.to_string())
            .replace(TRACK_NUMBER, &n);
        let bytes = fmp4::init_segment(std::slice::from_ref(track)).unwrap();
        std::fs::write(file_for(root, &format!("{dir}{init}")), &bytes).unwrap();
        for (seq, (f, (_, samples))) in frags.iter().zip(&fx.fragments).enumerate() {
            let url = opts
                .media_url
                .replace(TRACK_NUMBER, &n)
                .replace(TIME, &f.start_ms.to_string());
            let seg =
                fmp4::media_segment(std::slice::from_ref(track), samples, seq as u32 + 1).unwrap();
            std::fs::write(file_for(root, &format!("{dir}{url}")), seg.to_bytes()).unwrap();
        }
    }
    let mpd_url = format!("{dir}getDASHManifest.mpd?SessionToken={token}");
    std::fs::write(file_for(root, &mpd_url), &mpd).unwrap();
    mpd_url
}

/// Serves the files under `root` by path and query, with CORS headers.
async fn serve(root: PathBuf) -> SocketAddr {
    let root = Arc::new(root);
    let app = Router::new().fallback(move |method: Method, uri: Uri| {
        let root = root.clone();
        async move { serve_file(&root, method, uri).await }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn serve_file(root: &Path, method: Method, uri: Uri) -> Response {
    let mut headers = HeaderMap::new();
    let h = HeaderValue::from_static;
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, h("*"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        h("GET, HEAD, OPTIONS"),
    );
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, h("*"));
    if method == Method::OPTIONS {
        return (StatusCode::NO_CONTENT, headers).into_response();
    }
    let key = uri.path_and_query().map_or("", |p| p.as_str());
    let Ok(bytes) = tokio::fs::read(file_for(root, key)).await else {
        return (StatusCode::NOT_FOUND, headers, "not found").into_response();
    };
    let content_type = match uri.path().ends_with(".mpd") {
        true => "application/dash+xml",
        false => "video/mp4",
    };
    headers.insert(header::CONTENT_TYPE, h(content_type));
    (StatusCode::OK, headers, Body::from(bytes)).into_response()
}

/// Segments and MPD of `fx` in a temp dir, served; returns the guard, the MPD URL and the MPD.
async fn session(fx: &Fixture, kind: DashKind) -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_session(dir.path(), fx, "s", &kind);
    let mpd = std::fs::read_to_string(file_for(dir.path(), &path)).unwrap();
    let addr = serve(dir.path().to_owned()).await;
    (dir, format!("http://{addr}{path}"), mpd)
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

/// ffprobe's streams for `input` (a URL or a file), frames counted by decoding; with `select`
/// (`v`, `a`) only those streams are read.
fn probe(input: &str, select: Option<&str>) -> Vec<Value> {
    let out = run(Command::new("ffprobe")
        .args(["-v", "error"])
        .args(select.map_or(vec![], |s| vec!["-select_streams", s]))
        .args(["-count_frames", "-show_entries"])
        .args([
            "stream=codec_name,width,height,nb_read_frames,sample_rate",
            "-of",
        ])
        .args(["json", input]));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["streams"].as_array().unwrap().clone()
}

fn summary(streams: &[Value]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = streams
        .iter()
        .map(|s| {
            let name = s["codec_name"].as_str().unwrap().to_owned();
            (name, s["nb_read_frames"].as_str().unwrap().to_owned())
        })
        .collect();
    out.sort();
    out
}

/// The framecode indexes of every frame ffmpeg decodes from `input`.
fn frame_indexes(input: &str, dir: &Path) -> Vec<u32> {
    let gray = dir.join("frames.gray");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i", input])
        .args(["-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "gray"])
        .arg(&gray));
    common::frames::framecodes(&gray, 320, 240)
}

/// ffmpeg's dash demuxer reads the MPD as the fixture itself: same streams, same frame counts,
/// no complaint when decoding, and every video frame in order.
///
/// Frames are counted one stream type at a time: reading all streams, ffmpeg's dash demuxer
/// ends everything when the stream with the lowest timestamp ends (`dash_read_packet` returns
/// EOF for `cur`), so the AAC frame that starts after the last video frame would be dropped.
async fn ffmpeg_agrees(fixture: &str) {
    let (dir, url, mpd) = session(&load(fixture), DashKind::Static).await;
    let file = common::probe::fixture(fixture);
    let all = probe(&url, None);
    let want_all = summary(&probe(file.to_str().unwrap(), None));
    assert_eq!(all.len(), want_all.len(), "{mpd}");
    for kind in ["v", "a"] {
        let want = summary(&probe(file.to_str().unwrap(), Some(kind)));
        assert_eq!(summary(&probe(&url, Some(kind))), want, "{kind}: {mpd}");
    }
    let video = all.iter().find(|s| s["codec_name"] == "h264").unwrap();
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(320), Some(240))
    );
    let out = run(Command::new("ffmpeg")
        .args(["-v", "error", "-i", &url])
        .args(["-map", "0", "-f", "null", "-"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.trim().is_empty(), "ffmpeg complained: {stderr}");
    let n: u32 = want_all
        .iter()
        .find(|s| s.0 == "h264")
        .unwrap()
        .1
        .parse()
        .unwrap();
    let indexes = frame_indexes(&url, dir.path());
    assert_eq!(indexes, (0..n).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_reads_the_static_mpd_h264() {
    ffmpeg_agrees(H264).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_reads_the_static_mpd_h264_aac() {
    let want = summary(&probe(
        common::probe::fixture(H264_AAC).to_str().unwrap(),
        None,
    ));
    assert_eq!(want.len(), 2, "{want:?}");
    ffmpeg_agrees(H264_AAC).await;
}

/// The framecode indexes on screen are in order, advance, and match `currentTime`. For media
/// that repeats every `period` frames, indexes are unwrapped by `currentTime` first.
fn assert_frames(report: &PlayReport, min_advance: u32, period: Option<u32>) {
    let unwrap = |i: u32, t: f64| match period {
        Some(p) => {
            let p = f64::from(p);
            f64::from(i) + p * ((t * FPS - f64::from(i)) / p).round()
        }
        None => f64::from(i),
    };
    let frames: Vec<(f64, f64)> = report
        .samples
        .iter()
        .filter_map(|s| {
            s.frame_index
                .map(|i| (unwrap(i, s.current_time), s.current_time))
        })
        .collect();
    assert!(
        frames.windows(2).all(|w| w[0].0 <= w[1].0),
        "frame indexes go backwards: {frames:?}\n{}",
        report.summary()
    );
    let advance = match (frames.first(), frames.last()) {
        (Some(a), Some(b)) => b.0 - a.0,
        _ => 0.0,
    };
    assert!(
        advance >= f64::from(min_advance),
        "frame indexes advance by {advance}, less than {min_advance}: {}",
        report.summary()
    );
    for &(i, t) in &frames {
        assert!(
            (i - t * FPS).abs() <= 15.0,
            "frame {i} on screen at currentTime {t:.3} (frame {:.1}): {}",
            t * FPS,
            report.summary()
        );
    }
}

fn opts(seconds: f64) -> PlayOpts {
    PlayOpts {
        seconds,
        frames: true,
        ..PlayOpts::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dash_js_plays_the_static_mpd_frames_in_order() {
    let (_dir, url, _) = session(&load(H264), DashKind::Static).await;
    let report = browser::play_async(&url, Kind::Dash, opts(4.0)).await;
    report.assert_playing(2.0);
    assert_frames(&report, 30, None);
}

/// Audio + video, the 3 s fixture looped 4 times (12 s; copies 3000 ms apart, so the video is
/// contiguous; fragment durations are measured on the video track since 176d921, so they are
/// 1000 ms and the presentation ends at 12 s, not 12.041 s with the last AAC frame).
/// Looped because dash.js (`enableSeekFix`) seeks to the end of a static stream whose every
/// segment was requested while `currentTime` was still 0, which a 3 s stream on loopback
/// often is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dash_js_plays_the_static_mpd_with_audio() {
    let fx = looped(&load(H264_AAC), 4, 3000);
    let (_dir, url, mpd) = session(&fx, DashKind::Static).await;
    assert!(mpd.contains("contentType=\"audio\""), "{mpd}");
    assert!(
        mpd.contains("mediaPresentationDuration=\"PT12.000S\""),
        "{mpd}"
    );
    let report = browser::play_async(&url, Kind::Dash, opts(4.0)).await;
    report.assert_playing(2.0);
    assert_frames(&report, 30, Some(90));
}

/// A live-shaped manifest over the same segments: the 5 s of media end 1 s ago, so dash.js
/// starts `suggestedPresentationDelay` behind that edge and plays the tail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dash_js_plays_a_dynamic_mpd() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let kind = DashKind::Dynamic {
        availability_start_ms: now - 6_000,
        timeline_origin_ms: 0,
        publish_ms: now,
        min_update_period_ms: 2_000,
        time_shift_buffer_ms: 30_000,
        suggested_delay_ms: 3_000,
    };
    let (_dir, url, mpd) = session(&load(H264), kind).await;
    assert!(mpd.contains("type=\"dynamic\""), "{mpd}");
    let report = browser::play_async(&url, Kind::Dash, opts(4.0)).await;
    report.assert_playing(1.0);
    assert_frames(&report, 20, None);
    let first = report.first_frame_index.unwrap_or(0);
    assert!(
        first >= 30,
        "a live start should be near the edge, not at frame {first}"
    );
}

/// The harness sees a broken manifest: a media URL template pointing at segments the server
/// does not have must not play (so the tests above can fail).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dash_js_fails_on_missing_segments() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_session(dir.path(), &load(H264), "s", &DashKind::Static);
    let mpd = std::fs::read_to_string(file_for(dir.path(), &path)).unwrap();
    let broken = mpd.replace("getMP4MediaFragment.mp4", "missing.mp4");
    std::fs::write(file_for(dir.path(), &path), broken).unwrap();
    let addr = serve(dir.path().to_owned()).await;
    let report = browser::play_async(&format!("http://{addr}{path}"), Kind::Dash, opts(3.0)).await;
    assert!(
        report.advanced_secs() < 0.5 && report.errors.iter().any(|e| e.status == Some(404)),
        "played without segments: {}",
        report.summary()
    );
}

/// Gaps between keyframes, in frames, cycled: fragments from 1 frame (33 ms) to 1 s long.
const KEYFRAME_GAPS: [u32; 20] = [
    1, 2, 3, 5, 8, 13, 21, 4, 7, 2, 1, 1, 6, 11, 9, 3, 17, 2, 5, 30,
];
/// Frames in [`per_keyframe_file`]'s stream.
const PER_KEYFRAME_FRAMES: u32 = 600;
/// Fragments in it: one per keyframe.
const PER_KEYFRAME_FRAGMENTS: usize = 80;
/// Producer time of its first frame, epoch ms.
const PER_KEYFRAME_T0: i64 = 1_700_000_000_000;

/// What kvssink makes of a busy scene (issue 15): 600 framecode frames (320x240 H.264 at
/// 30 fps) with a keyframe after each gap of [`KEYFRAME_GAPS`] and one Cluster per keyframe, so
/// 80 fragments of 1 to 30 frames. Encoded by ffmpeg (libx264, keyframes forced at those frames
/// and nowhere else), remuxed by `matroskamux min-cluster-duration=0` as in fixtures/gen.sh,
/// into `dir`.
fn per_keyframe_file(dir: &Path) -> PathBuf {
    let mut keyframes = vec![0u32];
    for gap in KEYFRAME_GAPS.iter().cycle() {
        let next = keyframes.last().unwrap() + gap;
        if next >= PER_KEYFRAME_FRAMES {
            break;
        }
        keyframes.push(next);
    }
    // A keyframe is forced on the first frame at or after each time: just before frame k's.
    let times: Vec<String> = keyframes
        .iter()
        .map(|&k| format!("{:.4}", (f64::from(k) / FPS - 0.001).max(0.0)))
        .collect();
    let raw = dir.join("frames.i420");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/framecode.py");
    let frames = run(Command::new("python3").arg(script).args([
        "generate",
        "--frames",
        &PER_KEYFRAME_FRAMES.to_string(),
    ]));
    std::fs::write(&raw, &frames.stdout).unwrap();
    let encoded = dir.join("encoded.mkv");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p"])
        .args(["-s", "320x240", "-r", "30", "-i"])
        .arg(&raw)
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-bf", "0"])
        .args(["-profile:v", "baseline", "-b:v", "256k", "-threads", "1"])
        .args(["-x264-params", "scenecut=0:keyint=1000"])
        .args(["-force_key_frames", &times.join(",")])
        .arg(&encoded));
    let out = dir.join("per_keyframe.mkv");
    run(Command::new("gst-launch-1.0")
        .arg("-q")
        .arg("filesrc")
        .arg(format!("location={}", encoded.display()))
        .args(["!", "matroskademux", "!", "h264parse", "!"])
        .args(["matroskamux", "min-cluster-duration=0", "!", "filesink"])
        .arg(format!("location={}", out.display())));
    assert_eq!(keyframes.len(), PER_KEYFRAME_FRAGMENTS);
    out
}

/// The frames of `file` as the KVS producer SDK (kvssink) sends them in PutMedia: no
/// DefaultDuration in the TrackEntry (so a one-frame fragment has no known duration), an
/// unknown-size Cluster per keyframe with an ABSOLUTE timecode (epoch ms, from `t0`), and
/// SimpleBlocks relative to it.
fn kvs_style_body(file: &Path, t0: i64) -> Vec<u8> {
    use vidstream::mkv;
    let events = common::media::read_all(&std::fs::read(file).unwrap());
    let mut tracks = events
        .iter()
        .find_map(|e| match e {
            mkv::Event::Tracks(t) => Some(t.clone()),
            _ => None,
        })
        .unwrap();
    for t in &mut tracks {
        t.default_duration = None;
    }
    let mut body = common::media::body_head(&tracks);
    let mut cluster = t0;
    for e in &events {
        let mkv::Event::Frame(f) = e else { continue };
        if f.keyframe {
            cluster = t0 + f.timecode;
            mkv::write_cluster_start(&mut body, cluster as u64, None);
        }
        let rel = i16::try_from(t0 + f.timecode - cluster).unwrap();
        mkv::write_simple_block(&mut body, f.track, rel, f.keyframe, false, false, &f.data);
    }
    body
}

/// [`per_keyframe_file`] sent as kvssink would, read and fragmented in-process.
fn per_keyframe(dir: &Path) -> Fixture {
    let kvs = dir.join("kvs_style.mkv");
    let body = kvs_style_body(&per_keyframe_file(dir), PER_KEYFRAME_T0);
    std::fs::write(&kvs, body).unwrap();
    let fx = load_path(&kvs);
    assert_eq!(fx.fragments.len(), PER_KEYFRAME_FRAGMENTS);
    assert!(fx.fragments.iter().any(|(s, _)| s.duration_ms == 0));
    fx
}

/// Issue 15: ffmpeg 5.1 played the first 3 of these 600 frames (a client saw 16 of theirs) when
/// the manifest was a SegmentList (see the `playback::dash` module doc); every frame, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_plays_every_frame_of_one_fragment_per_keyframe() {
    let scratch = tempfile::tempdir().unwrap();
    let fx = per_keyframe(scratch.path());
    let (dir, url, mpd) = session(&fx, DashKind::Static).await;
    assert_eq!(mpd.matches("<S ").count(), PER_KEYFRAME_FRAGMENTS, "{mpd}");
    let indexes = frame_indexes(&url, dir.path());
    assert_eq!(
        indexes,
        (0..PER_KEYFRAME_FRAMES).collect::<Vec<_>>(),
        "{mpd}"
    );
}

/// The same stream in dash.js: it plays, frames in order and matching `currentTime`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dash_js_plays_one_fragment_per_keyframe() {
    let scratch = tempfile::tempdir().unwrap();
    let fx = per_keyframe(scratch.path());
    let (_dir, url, _) = session(&fx, DashKind::Static).await;
    let report = browser::play_async(&url, Kind::Dash, opts(5.0)).await;
    report.assert_playing(3.0);
    assert_frames(&report, 60, None);
}

/// End to end through the server: PutMedia as kvssink sends it (one-frame fragments of
/// duration 0, which made the manifest a 400), an ON_DEMAND session, ffmpeg reads every frame
/// in order through the `Time=` segment URLs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_fragment_per_keyframe_through_the_server() {
    use crate::common::TestServer;
    use crate::common::sign::SendSigned;
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let file = per_keyframe_file(dir.path());
    let s = TestServer::start(dir.path()).await;
    s.create_active(json!({"StreamName": "busy", "DataRetentionInHours": 1}))
        .await;
    let t0 = PER_KEYFRAME_T0;
    let resp = reqwest::Client::new()
        .post(format!("{}/putMedia", s.url))
        .header("x-amzn-stream-name", "busy")
        .header("x-amzn-fragment-timecode-type", "ABSOLUTE")
        .header(
            "x-amzn-producer-start-timestamp",
            format!("{:.3}", t0 as f64 / 1000.0),
        )
        .body(kvs_style_body(&file, t0))
        .send_signed()
        .await
        .unwrap();
    let acks = common::media::parse_acks(&resp.text().await.unwrap());
    assert_eq!(
        common::media::persisted(&acks).len(),
        PER_KEYFRAME_FRAGMENTS
    );
    let r = s
        .call(
            "/getDASHStreamingSessionURL",
            json!({
                "StreamName": "busy",
                "PlaybackMode": "ON_DEMAND",
                "DASHFragmentSelector": {
                    "FragmentSelectorType": "PRODUCER_TIMESTAMP",
                    "TimestampRange": {
                        "StartTimestamp": t0 as f64 / 1000.0 - 1.0,
                        "EndTimestamp": t0 as f64 / 1000.0 + 60.0
                    }
                }
            }),
        )
        .await;
    let url = r.assert_ok()["DASHStreamingSessionURL"]
        .as_str()
        .unwrap()
        .to_owned();
    let mpd = reqwest::get(&url).await.unwrap();
    assert_eq!(mpd.status(), 200);
    let mpd = mpd.text().await.unwrap();
    assert_eq!(mpd.matches("<S ").count(), PER_KEYFRAME_FRAGMENTS, "{mpd}");
    let indexes = frame_indexes(&url, dir.path());
    assert_eq!(
        indexes,
        (0..PER_KEYFRAME_FRAMES).collect::<Vec<_>>(),
        "{mpd}"
    );
    // A Time no fragment starts at is a 404, not some other fragment.
    let base = url.split("getDASHManifest.mpd").next().unwrap();
    let token = url.split("SessionToken=").nth(1).unwrap();
    let missing = reqwest::get(format!(
        "{base}getMP4MediaFragment.mp4?SessionToken={token}&TrackNumber=1&Time=1"
    ))
    .await
    .unwrap();
    assert_eq!(missing.status(), 404);
    s.stop().await;
}
