//! Self-test of the real-browser player harness (tests/common/browser.rs, tests/browser/play.mjs),
//! independent of vidstream's own playback code: ffmpeg remuxes a framecode fixture into an fMP4
//! HLS VOD and a DASH manifest, a small static server with CORS headers serves them on loopback,
//! and headless Chromium plays them with hls.js and dash.js. The harness must see real playback
//! (time advancing, frames presented, the right frames on screen) and must be able to fail.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::common::browser::{self, Kind, PlayOpts, PlayReport};

/// The fixture: 150 frames, 320x240 H.264 at 30 fps, GOP 30; frame i carries framecode i.
const FIXTURE: &str = "fixtures/gst_h264_320x240_gop30_5s.mkv";
const FPS: f64 = 30.0;

/// Remuxes the fixture (no re-encode) into `dir/hls/index.m3u8` (fMP4 segments of 1 s, with
/// EXT-X-PROGRAM-DATE-TIME) and `dir/dash/manifest.mpd`.
fn make_media(dir: &Path) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    for (sub, args) in [
        (
            "hls/index.m3u8",
            &[
                "-f",
                "hls",
                "-hls_time",
                "1",
                "-hls_segment_type",
                "fmp4",
                "-hls_playlist_type",
                "vod",
                "-hls_flags",
                "program_date_time",
            ][..],
        ),
        (
            "dash/manifest.mpd",
            &["-f", "dash", "-seg_duration", "1"][..],
        ),
    ] {
        let out = dir.join(sub);
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let run = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(&fixture)
            .args(["-c", "copy"])
            .args(args)
            .arg(&out)
            .output()
            .expect("ffmpeg is installed (scripts/install-deps.sh)");
        assert!(
            run.status.success(),
            "ffmpeg {sub}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
}

/// Serves the files under `root` on 127.0.0.1, with CORS headers when `cors` (the harness page
/// is on another origin, as a web page using a vidstream server would be).
async fn serve(root: PathBuf, cors: bool) -> SocketAddr {
    let root = Arc::new(root);
    let app = Router::new().fallback(move |method: Method, uri: Uri| {
        let root = root.clone();
        async move { serve_file(&root, cors, method, uri).await }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn serve_file(root: &Path, cors: bool, method: Method, uri: Uri) -> Response {
    let mut headers = HeaderMap::new();
    if cors {
        let h = HeaderValue::from_static;
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, h("*"));
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            h("GET, HEAD, OPTIONS"),
        );
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, h("*"));
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, h("*"));
    }
    if method == Method::OPTIONS {
        return (StatusCode::NO_CONTENT, headers).into_response();
    }
    let rel = uri.path().trim_start_matches('/');
    let safe = !rel.is_empty() && rel.split('/').all(|c| !c.is_empty() && c != "..");
    let bytes = match safe {
        true => tokio::fs::read(root.join(rel)).await.ok(),
        false => None,
    };
    let Some(bytes) = bytes else {
        return (StatusCode::NOT_FOUND, headers, "not found").into_response();
    };
    let content_type = match rel.rsplit('.').next() {
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("mpd") => "application/dash+xml",
        Some("m4s") => "video/iso.segment",
        Some("mp4") => "video/mp4",
        _ => "application/octet-stream",
    };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    (StatusCode::OK, headers, Body::from(bytes)).into_response()
}

/// Media in a temp dir, served with CORS; returns the dir guard and the base URL.
async fn media_server(cors: bool) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    make_media(dir.path());
    let addr = serve(dir.path().to_owned(), cors).await;
    (dir, format!("http://{addr}"))
}

/// The framecode indexes on screen must be the fixture's frames in order, at the times
/// `currentTime` says.
fn assert_frames(report: &PlayReport) {
    let indexes = report.frame_indexes();
    assert!(
        indexes.windows(2).all(|w| w[0] <= w[1]),
        "frame indexes go backwards: {indexes:?}\n{}",
        report.summary()
    );
    let (first, last) = (report.first_frame_index, report.last_frame_index);
    assert!(
        matches!((first, last), (Some(f), Some(l)) if l > f + 30),
        "frame indexes {first:?}..{last:?} advance by 30 or less: {indexes:?}\n{}",
        report.summary()
    );
    for s in &report.samples {
        if let Some(i) = s.frame_index {
            let expected = s.current_time * FPS;
            assert!(
                (f64::from(i) - expected).abs() <= 15.0,
                "frame {i} on screen at currentTime {:.3} (frame {expected:.1}): {}",
                s.current_time,
                report.summary()
            );
        }
    }
}

fn opts() -> PlayOpts {
    PlayOpts {
        seconds: 4.0,
        frames: true,
        ..PlayOpts::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_js_plays_fmp4_vod_frames_in_order() {
    let (_dir, base) = media_server(true).await;
    let report = browser::play_async(&format!("{base}/hls/index.m3u8"), Kind::Hls, opts()).await;
    report.assert_playing(2.0);
    assert_frames(&report);
    // The playlist carries EXT-X-PROGRAM-DATE-TIME, so hls.playingDate is known.
    assert!(
        report.samples.iter().any(|s| s.latency_ms.is_some()),
        "no program-date-time latency: {}",
        report.summary()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dash_js_plays_vod_frames_in_order() {
    let (_dir, base) = media_server(true).await;
    let report =
        browser::play_async(&format!("{base}/dash/manifest.mpd"), Kind::Dash, opts()).await;
    report.assert_playing(2.0);
    assert_frames(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_reports_a_missing_playlist_as_failure() {
    let (_dir, base) = media_server(true).await;
    let report = browser::play_async(
        &format!("{base}/hls/missing.m3u8"),
        Kind::Hls,
        PlayOpts::default(),
    )
    .await;
    assert!(!report.ok, "a 404 playlist played: {}", report.summary());
    assert_eq!(report.exit_code, 1, "{}", report.summary());
    let fatal = report.fatal_errors();
    assert!(
        fatal
            .iter()
            .any(|e| e.source == "hls" && e.status == Some(404)),
        "no fatal hls.js 404 error: {}",
        report.summary()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_page_is_cross_origin_so_missing_cors_fails() {
    let (_dir, base) = media_server(false).await;
    let report = browser::play_async(
        &format!("{base}/hls/index.m3u8"),
        Kind::Hls,
        PlayOpts::default(),
    )
    .await;
    assert!(
        !report.ok,
        "played without CORS headers: {}",
        report.summary()
    );
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.message.as_deref().is_some_and(|m| m.contains("CORS"))),
        "no CORS error reported: {}",
        report.summary()
    );
}
