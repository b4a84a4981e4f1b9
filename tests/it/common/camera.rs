//! Shared by the camera tests: a real RTSP server (gst-rtsp-server on loopback, in its own glib
//! main loop thread) and helpers over `/v1/cameras`.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::glib;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;
use serde_json::{Value, json};

use crate::common::{Reply, TestServer};

pub const H264_LAUNCH: &str = "( videotestsrc is-live=true ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 )";
pub const H265_LAUNCH: &str = "( videotestsrc is-live=true ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! x265enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! rtph265pay name=pay0 pt=96 )";
pub const H264_AAC_LAUNCH: &str = "( videotestsrc is-live=true ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 audiotestsrc is-live=true ! audio/x-raw,rate=48000,channels=1 ! avenc_aac ! rtpmp4gpay name=pay1 pt=97 )";
pub const JPEG_LAUNCH: &str = "( videotestsrc is-live=true ! video/x-raw,format=I420,width=320,height=240,framerate=10/1 ! jpegenc ! rtpjpegpay name=pay0 pt=26 )";

/// Fails (never skips) when a GStreamer element the tests need is missing.
pub fn require_elements() {
    gst::init().expect("gstreamer initializes");
    for e in [
        "videotestsrc",
        "x264enc",
        "rtph264pay",
        "jpegenc",
        "rtpjpegpay",
        "x265enc",
        "rtph265pay",
        "audiotestsrc",
        "avenc_aac",
        "rtpmp4gpay",
    ] {
        assert!(
            gst::ElementFactory::find(e).is_some(),
            "GStreamer element `{e}` is missing: run scripts/install-deps.sh (gstreamer1.0-plugins-base/good/bad/ugly, gstreamer1.0-rtsp, libgstrtspserver-1.0-dev)"
        );
    }
}

/// How the test RTSP server asks for credentials.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// `WWW-Authenticate: Basic`.
    Basic(&'a str, &'a str),
    /// `WWW-Authenticate: Digest` only.
    Digest(&'a str, &'a str),
}

/// An RTSP server serving `launch` at `rtsp://127.0.0.1:PORT/cam`, optionally with basic auth.
pub struct RtspServer {
    port: u16,
    ctx: glib::MainContext,
    main_loop: glib::MainLoop,
    server: rtsp::RTSPServer,
    source: std::sync::Arc<Mutex<Option<glib::SourceId>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RtspServer {
    pub fn start(port: u16, launch: &str, auth: Option<(&str, &str)>) -> RtspServer {
        RtspServer::start_auth(port, launch, auth.map(|(u, p)| Auth::Basic(u, p)))
    }

    /// Like [`RtspServer::start`], with Basic or Digest authentication.
    pub fn start_auth(port: u16, launch: &str, auth: Option<Auth<'_>>) -> RtspServer {
        require_elements();
        let ctx = glib::MainContext::new();
        let main_loop = glib::MainLoop::new(Some(&ctx), false);
        let server = rtsp::RTSPServer::new();
        server.set_address("127.0.0.1");
        server.set_service(&port.to_string());
        let factory = rtsp::RTSPMediaFactory::new();
        factory.set_launch(launch);
        factory.set_shared(true);
        if let Some(auth) = auth {
            let a = rtsp::RTSPAuth::new();
            let token = rtsp::RTSPToken::builder()
                .field(rtsp::RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
                .build();
            match auth {
                Auth::Basic(user, pass) => {
                    a.add_basic(rtsp::RTSPAuth::make_basic(user, pass).as_str(), &token)
                }
                Auth::Digest(user, pass) => {
                    a.set_supported_methods(rtsp::gst_rtsp::RTSPAuthMethod::Digest);
                    a.add_digest(user, pass, &token);
                }
            }
            server.set_auth(Some(&a));
            factory.add_role_from_structure(
                &gst::Structure::builder("user")
                    .field(rtsp::RTSP_PERM_MEDIA_FACTORY_ACCESS, true)
                    .field(rtsp::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, true)
                    .build(),
            );
        }
        server
            .mount_points()
            .expect("mount points")
            .add_factory("/cam", factory);
        let source = std::sync::Arc::new(Mutex::new(None));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = {
            let ctx = ctx.clone();
            let main_loop = main_loop.clone();
            let server = server.clone();
            let source = std::sync::Arc::clone(&source);
            std::thread::spawn(move || {
                ctx.with_thread_default(|| {
                    let id = server.attach(Some(&ctx));
                    let ok = id.is_ok();
                    *source.lock().unwrap() = id.ok();
                    ready_tx.send(ok).unwrap();
                    if ok {
                        main_loop.run();
                        // Let the client closes and media teardowns run.
                        let until = Instant::now() + Duration::from_millis(200);
                        while Instant::now() < until {
                            if !ctx.iteration(false) {
                                std::thread::sleep(Duration::from_millis(10));
                            }
                        }
                    }
                })
                .expect("thread default context");
            })
        };
        assert!(
            ready_rx.recv().expect("rtsp thread answers"),
            "rtsp server could not listen on port {port}"
        );
        RtspServer {
            port,
            ctx,
            main_loop,
            server,
            source,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/cam", self.port)
    }

    /// Closes the listening socket and every client connection, then ends the thread.
    pub fn stop(mut self) {
        let server = self.server.clone();
        let source = std::sync::Arc::clone(&self.source);
        let main_loop = self.main_loop.clone();
        let ctx = self.ctx.clone();
        self.ctx.invoke(move || {
            server.client_filter(Some(&mut |_, _| rtsp::RTSPFilterResult::Remove));
            // The listening socket's source lives in our context, not the global default one.
            if let Some(id) = source.lock().unwrap().take()
                && let Some(src) = ctx.find_source_by_id(&id)
            {
                src.destroy();
            }
            main_loop.quit();
        });
        if let Some(t) = self.thread.take() {
            t.join().expect("rtsp thread");
        }
    }
}

/// The environment variables that turn a test binary into an RTSP camera process (see
/// [`CameraProcess`]).
const CHILD_PORT: &str = "VIDSTREAM_TEST_RTSP_CHILD_PORT";
const CHILD_LAUNCH: &str = "VIDSTREAM_TEST_RTSP_CHILD_LAUNCH";

/// A camera in a process of its own: the test binary re-run as [`rtsp_camera_child`] (an ignored
/// test of this module). Killing it with SIGKILL is a camera losing power: no RTSP TEARDOWN,
/// sockets reset by the kernel. Its memory is not the test process's, so the test's RSS is
/// vidstream's own.
pub struct CameraProcess {
    port: u16,
    child: std::process::Child,
}

impl CameraProcess {
    pub fn start(port: u16, launch: &str) -> CameraProcess {
        use std::io::BufRead;
        let exe = std::env::current_exe().expect("test binary path");
        let mut child = std::process::Command::new(exe)
            .arg(camera_child_test_name())
            .args(["--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_PORT, port.to_string())
            .env(CHILD_LAUNCH, launch)
            .env("RUST_TEST_NOCAPTURE", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn the camera process");
        let stdout = child.stdout.take().expect("child stdout");
        let mut lines = std::io::BufReader::new(stdout).lines();
        loop {
            match lines.next() {
                Some(Ok(l)) if l.ends_with("RTSP-READY") => break,
                Some(Ok(_)) => continue,
                _ => {
                    let _ = child.kill();
                    panic!("camera process on port {port} exited before listening");
                }
            }
        }
        // Keep draining its stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        CameraProcess { port, child }
    }

    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/cam", self.port)
    }

    /// SIGKILL, and wait until the process is gone (its port is free again).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for CameraProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of the `rtsp_camera_child` test: serves until killed when started by
/// [`CameraProcess`]; returns at once otherwise (a plain `cargo test -- --ignored`).
fn run_camera_child() {
    let (Ok(port), Ok(launch)) = (std::env::var(CHILD_PORT), std::env::var(CHILD_LAUNCH)) else {
        return;
    };
    let server = RtspServer::start(port.parse().expect("port"), &launch, None);
    // Straight to the file descriptor: libtest captures `println!` output of tests. The line
    // starts with libtest's own "test common::camera::rtsp_camera_child ... ".
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "RTSP-READY").expect("stdout");
    out.flush().expect("stdout");
    drop(out);
    loop {
        std::thread::sleep(Duration::from_secs(3600));
        let _ = &server;
    }
}

/// The camera process of [`CameraProcess`]; returns at once when run by hand.
#[test]
#[ignore = "the camera process of CameraProcess; returns at once when run by hand"]
fn rtsp_camera_child() {
    run_camera_child();
}

/// The libtest name of [`rtsp_camera_child`] (module path without the crate name), which
/// [`CameraProcess`] passes with `--exact`.
fn camera_child_test_name() -> String {
    let module = module_path!();
    let path = module.split_once("::").map_or(module, |(_, p)| p);
    format!("{path}::rtsp_camera_child")
}

pub async fn start_server(dir: &Path) -> TestServer {
    TestServer::start_with(dir, |c| {
        // The test cameras are on loopback: allowed by default, and said so here.
        c.cameras.allowed_networks = vidstream::egress::networks(vidstream::egress::LOOPBACK);
        c.cameras.backoff_initial_ms = 200;
        c.cameras.backoff_max_ms = 1000;
        c.cameras.stall_timeout_ms = 5000;
    })
    .await
}

pub async fn create_stream(s: &TestServer, name: &str) {
    s.create_active(json!({ "StreamName": name, "DataRetentionInHours": 1 }))
        .await;
}

pub async fn add_camera(s: &TestServer, body: Value) -> Reply {
    s.post_raw("/v1/cameras", body.to_string()).await
}

pub async fn camera(s: &TestServer, name: &str) -> Value {
    s.request(reqwest::Method::GET, &format!("/v1/cameras/{name}"))
        .await
        .assert_ok()
        .clone()
}

/// Polls the camera until `pred` holds; panics with the last JSON after `limit`.
pub async fn wait_camera(
    s: &TestServer,
    name: &str,
    limit: Duration,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let c = camera(s, name).await;
        if pred(&c) {
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "camera {name}: {what} not reached within {limit:?}; last: {c:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn state(c: &Value) -> &str {
    c["status"]["state"].as_str().unwrap_or("")
}

pub fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// utime + stime of this process, in clock ticks.
pub fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("proc stat");
    let after = stat.rsplit_once(')').expect("comm").1;
    let f: Vec<&str> = after.split_whitespace().collect();
    f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime")
}

/// GetMediaForFragmentList of the stream's `index`-th fragment, probed by ffprobe: one
/// `codec,width,height` line (or `codec,sample_rate`) per stream.
pub async fn probe_fragment(s: &TestServer, dir: &Path, stream: &str, index: usize) -> String {
    let numbers = s.fragment_numbers(stream).await;
    assert!(numbers.len() > index, "{numbers:?}");
    let media = crate::common::media::media_for_fragments(
        &s.url,
        stream,
        std::slice::from_ref(&numbers[index]),
    )
    .await;
    let file = dir.join(format!("{stream}-{index}.mkv"));
    std::fs::write(&file, &media).unwrap();
    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,width,height,sample_rate",
            "-of",
            "csv=p=0",
        ])
        .arg(&file)
        .output()
        .expect("ffprobe runs (apt-get install ffmpeg)");
    assert!(probe.status.success(), "{probe:?}");
    String::from_utf8_lossy(&probe.stdout).trim().to_owned()
}

/// CPU time per thread of this process: (name, ticks).
pub fn thread_ticks() -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc/self/task")
        .expect("tasks")
        .flatten()
    {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some((head, after))) = (stat.find('('), stat.rsplit_once(')')) else {
            continue;
        };
        let name = head[open + 1..].to_owned();
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks = f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0);
        out.push((name, ticks));
    }
    out
}

/// % of one core over `secs`: (encoder threads of the test RTSP server, everything else).
pub async fn cpu_split(secs: u64) -> (f64, f64) {
    let sum = |v: &[(String, u64)], enc: bool| -> u64 {
        v.iter()
            .filter(|(n, _)| n.starts_with("videotestsrc") == enc)
            .map(|(_, t)| t)
            .sum()
    };
    let a = thread_ticks();
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let b = thread_ticks();
    let wall = t.elapsed().as_secs_f64();
    let pct = |x: u64, y: u64| (y.saturating_sub(x)) as f64 / 100.0 / wall * 100.0;
    (
        pct(sum(&a, true), sum(&b, true)),
        pct(sum(&a, false), sum(&b, false)),
    )
}

/// Whether the camera exists.
pub async fn camera_exists(s: &TestServer, name: &str) -> bool {
    s.request(reqwest::Method::GET, &format!("/v1/cameras/{name}"))
        .await
        .status
        == 200
}
