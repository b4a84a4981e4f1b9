//! The soak's load: each worker is a task looping until the deadline, tolerant of the server
//! going away (kill -9) and coming back, as real clients are. What each does is counted in
//! [`Stats`] by kind.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

use super::Stats;
use crate::cli::bench::client::{AckLog, Producer, body_head, fragment, sign_reqwest};
use crate::cli::bench::rtsp_source::SyntheticCamera;

/// The stream the camera feeds (real H.264: HLS, GetImages and the hook work on it).
const CAMERA_STREAM: &str = "soak-cam";

/// Rows of "every worker made progress": (label, the [`Stats`] kind that must be > 0).
pub const PROGRESS: &[(&str, &str)] = &[
    (
        "producers: fragments PERSISTED",
        "producer: fragment PERSISTED",
    ),
    ("live GetMedia: bytes read", "getmedia: bytes"),
    ("stalled GetMedia readers held", "stalled reader: held"),
    (
        "camera: fragments stored (pulled RTSP)",
        "camera: fragments listed",
    ),
    ("HLS player: segments fetched", "hls: segment"),
    ("GetImages: images returned", "getimages: image"),
    ("frame hook: pictures written", "hook: pictures written"),
    ("churn: streams created, fed, deleted", "churn: cycle done"),
    (
        "slowloris: half-sent requests closed by the server",
        "slowloris: closed by server",
    ),
];

/// What the load is aimed at.
pub struct Plan {
    pub addr: SocketAddr,
    pub producers: usize,
    pub deadline: Instant,
    pub hook_root: PathBuf,
}

/// One producer stream's acknowledgements, over all its connections.
pub struct ProducerLog {
    pub stream: String,
    pub logs: Vec<Arc<Mutex<AckLog>>>,
}

/// What the load leaves for verification.
pub struct Outcome {
    pub producers: Vec<ProducerLog>,
    pub hook_files: usize,
}

/// The running load.
pub struct Running {
    tasks: Vec<JoinHandle<()>>,
    producers: Vec<JoinHandle<ProducerLog>>,
    hook_root: PathBuf,
    _camera: CameraFlapper,
}

impl Running {
    /// Waits for the workers (they stop at the deadline) and gathers their results.
    pub async fn stop(self) -> Outcome {
        let mut producers = Vec::new();
        for p in self.producers {
            if let Ok(Ok(log)) = tokio::time::timeout(Duration::from_secs(30), p).await {
                producers.push(log);
            }
        }
        for t in self.tasks {
            if tokio::time::timeout(Duration::from_secs(30), &mut Box::pin(t))
                .await
                .is_err()
            {
                tracing::warn!("a soak worker did not stop in time");
            }
        }
        let hook_files = count_files(&self.hook_root);
        Outcome {
            producers,
            hook_files,
        }
    }
}

fn count_files(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

/// Creates the streams and the camera, then starts every worker.
pub async fn start(plan: &Plan, stats: &Stats) -> anyhow::Result<Running> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()?;
    // Readers that stream for minutes: no whole-request timeout (a stall is a 5 s read timeout).
    let streaming = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()?;
    let url = format!("http://{}", plan.addr);
    for i in 0..plan.producers {
        create(&http, &url, &format!("soak-p{i}")).await?;
    }
    create(&http, &url, CAMERA_STREAM).await?;
    let camera = CameraFlapper::start(stats.clone(), plan.deadline)?;
    call(
        &http,
        &url,
        "/v1/cameras",
        json!({"name": "soakcam", "url": camera.url, "stream": CAMERA_STREAM}),
    )
    .await?;
    let hook_uri = format!("file://{}", plan.hook_root.display());
    call(
        &http,
        &url,
        "/updateImageGenerationConfiguration",
        json!({"StreamName": CAMERA_STREAM, "ImageGenerationConfiguration": {
            "Status": "ENABLED",
            "ImageSelectorType": "SERVER_TIMESTAMP",
            "DestinationConfig": {"Uri": hook_uri, "DestinationRegion": "us-east-1"},
            "SamplingInterval": 2000,
            "Format": "JPEG",
        }}),
    )
    .await?;

    let mut producers = Vec::new();
    for i in 0..plan.producers {
        producers.push(tokio::spawn(producer(
            plan.addr,
            format!("soak-p{i}"),
            plan.deadline,
            stats.clone(),
        )));
    }
    let d = plan.deadline;
    let tasks = vec![
        tokio::spawn(live_reader(
            streaming.clone(),
            url.clone(),
            d,
            stats.clone(),
        )),
        tokio::spawn(stalled_reader(streaming, url.clone(), d, stats.clone())),
        tokio::spawn(hls_player(http.clone(), url.clone(), d, stats.clone())),
        tokio::spawn(get_images(http.clone(), url.clone(), d, stats.clone())),
        tokio::spawn(camera_progress(http.clone(), url.clone(), d, stats.clone())),
        tokio::spawn(hook_progress(plan.hook_root.clone(), d, stats.clone())),
        tokio::spawn(churn(http.clone(), plan.addr, d, stats.clone())),
        tokio::spawn(slowloris(plan.addr, d, stats.clone())),
    ];
    Ok(Running {
        tasks,
        producers,
        hook_root: plan.hook_root.clone(),
        _camera: camera,
    })
}

/// A signed POST of a JSON body; the answer's JSON.
async fn call(http: &reqwest::Client, url: &str, path: &str, body: Value) -> anyhow::Result<Value> {
    let mut req = http
        .post(format!("{url}{path}"))
        .body(body.to_string())
        .build()?;
    sign_reqwest(&mut req)?;
    let r = http.execute(req).await?;
    let status = r.status();
    let bytes = r.bytes().await?;
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{path}: {status} {v}");
    }
    Ok(v)
}

/// A signed POST whose answer is streamed.
async fn open(
    http: &reqwest::Client,
    url: &str,
    path: &str,
    body: Value,
) -> anyhow::Result<reqwest::Response> {
    let mut req = http
        .post(format!("{url}{path}"))
        .body(body.to_string())
        .build()?;
    sign_reqwest(&mut req)?;
    let r = http.execute(req).await?;
    if !r.status().is_success() {
        bail!("{path}: {}", r.status());
    }
    Ok(r)
}

async fn create(http: &reqwest::Client, url: &str, name: &str) -> anyhow::Result<()> {
    call(
        http,
        url,
        "/createStream",
        json!({"StreamName": name, "DataRetentionInHours": 1}),
    )
    .await
    .with_context(|| format!("creating {name}"))?;
    Ok(())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The text every frame of `stream`'s fragment at `tc` starts with (what verification finds).
pub fn frame_tag(stream: &str, tc: i64) -> String {
    format!("soak {stream} tc {tc} ")
}

/// One producer: a fragment of 30 frames (2 Mbit/s) a second, ABSOLUTE wall-clock timecodes;
/// reconnects whenever the connection breaks.
async fn producer(
    addr: SocketAddr,
    stream: String,
    deadline: Instant,
    stats: Stats,
) -> ProducerLog {
    let mut logs = Vec::new();
    let mut last_tc = 0u64;
    while Instant::now() < deadline {
        let mut p = match Producer::connect(addr, &stream).await {
            Ok(p) => p,
            Err(_) => {
                stats.count("producer: connect failed (server down)");
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
        };
        if let Ok(mut l) = p.log.lock() {
            l.keep_numbers = true;
        }
        logs.push(Arc::clone(&p.log));
        if p.send(&body_head()).await.is_err() {
            continue;
        }
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let broke = loop {
            tick.tick().await;
            if Instant::now() >= deadline {
                break false;
            }
            let tc = now_ms().max(last_tc + 1000);
            last_tc = tc;
            let mut frame = frame_tag(&stream, tc as i64).into_bytes();
            frame.resize(8333, 0x17);
            if p.send_fragment(tc, &fragment(tc, 30, &frame))
                .await
                .is_err()
            {
                break true;
            }
        };
        if broke {
            stats.count("producer: connection lost");
            tokio::time::sleep(Duration::from_millis(250)).await;
        } else {
            let _ = p.finish().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    for l in &logs {
        if let Ok(l) = l.lock() {
            stats.add("producer: fragment PERSISTED", l.persisted);
            for id in &l.error_ids {
                stats.count(&format!("producer: ERROR ack {id}"));
            }
        }
    }
    ProducerLog { stream, logs }
}

/// GetMedia NOW on the first producer's stream, read as it comes.
async fn live_reader(http: reqwest::Client, url: String, deadline: Instant, stats: Stats) {
    let body = json!({"StreamName": "soak-p0", "StartSelector": {"StartSelectorType": "NOW"}});
    while Instant::now() < deadline {
        match open(&http, &url, "/getMedia", body.clone()).await {
            Ok(mut r) => {
                while Instant::now() < deadline {
                    match tokio::time::timeout(Duration::from_secs(5), r.chunk()).await {
                        Ok(Ok(Some(c))) => stats.add("getmedia: bytes", c.len() as u64),
                        Ok(Ok(None)) => {
                            stats.count("getmedia: response ended");
                            break;
                        }
                        Ok(Err(_)) => {
                            stats.count("getmedia: connection lost");
                            break;
                        }
                        Err(_) => {
                            stats.count("getmedia: no data for 5 s");
                            break;
                        }
                    }
                }
            }
            Err(_) => stats.count("getmedia: open failed"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// GetMedia EARLIEST on the second producer's stream (or the first), never read: the server
/// must hold it with bounded memory while the stream grows. Each is held 30 s.
async fn stalled_reader(http: reqwest::Client, url: String, deadline: Instant, stats: Stats) {
    let body = json!({"StreamName": "soak-p1", "StartSelector": {"StartSelectorType": "EARLIEST"}});
    let fallback =
        json!({"StreamName": "soak-p0", "StartSelector": {"StartSelectorType": "EARLIEST"}});
    while Instant::now() < deadline {
        let r = match open(&http, &url, "/getMedia", body.clone()).await {
            Ok(r) => Ok(r),
            Err(_) => open(&http, &url, "/getMedia", fallback.clone()).await,
        };
        match r {
            Ok(r) => {
                stats.count("stalled reader: held");
                let hold =
                    Duration::from_secs(30).min(deadline.saturating_duration_since(Instant::now()));
                tokio::time::sleep(hold).await;
                drop(r);
            }
            Err(_) => {
                stats.count("stalled reader: open failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// An HLS player on the camera's stream: LIVE session, playlist every second, new segments.
async fn hls_player(http: reqwest::Client, url: String, deadline: Instant, stats: Stats) {
    let mut seen: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    while Instant::now() < deadline {
        let session = call(
            &http,
            &url,
            "/getHLSStreamingSessionURL",
            json!({"StreamName": CAMERA_STREAM, "PlaybackMode": "LIVE", "ContainerFormat": "FRAGMENTED_MP4"}),
        )
        .await;
        let master = match session {
            Ok(v) => v["HLSStreamingSessionURL"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            Err(_) => {
                stats.count("hls: no session yet");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        // One session plays until it fails (a restart, the camera gone too long).
        while Instant::now() < deadline {
            match hls_round(&http, &master, &mut seen, &stats).await {
                Ok(()) => tokio::time::sleep(Duration::from_secs(1)).await,
                Err(e) => {
                    stats.count(&format!("hls: {e}"));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            }
        }
    }
}

async fn hls_round(
    http: &reqwest::Client,
    master: &str,
    seen: &mut std::collections::VecDeque<String>,
    stats: &Stats,
) -> anyhow::Result<()> {
    let get = |u: String| async move {
        let r = http
            .get(&u)
            .send()
            .await
            .map_err(|_| anyhow::anyhow!("connection failed"))?;
        let status = r.status();
        if !status.is_success() {
            bail!("status {}", status.as_u16());
        }
        r.bytes()
            .await
            .map_err(|_| anyhow::anyhow!("connection failed"))
    };
    let base = master
        .rsplit_once('/')
        .map_or(master, |(b, _)| b)
        .to_owned();
    let uris = |body: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(body)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| format!("{base}/{l}"))
            .collect()
    };
    let m = get(master.to_owned()).await?;
    let media = uris(&m).into_iter().next().context("no media playlist")?;
    let list = get(media).await?;
    for seg in uris(&list) {
        if seen.contains(&seg) {
            continue;
        }
        let body = get(seg.clone()).await?;
        if body.is_empty() {
            bail!("empty segment");
        }
        stats.count("hls: segment");
        seen.push_back(seg);
        if seen.len() > 64 {
            seen.pop_front();
        }
    }
    Ok(())
}

/// GetImages of the camera's last seconds, every 5 s.
async fn get_images(http: reqwest::Client, url: String, deadline: Instant, stats: Stats) {
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let now = now_ms() as f64 / 1000.0;
        let r = call(
            &http,
            &url,
            "/getImages",
            json!({"StreamName": CAMERA_STREAM, "ImageSelectorType": "SERVER_TIMESTAMP",
                   "StartTimestamp": now - 6.0, "EndTimestamp": now - 1.0,
                   "SamplingInterval": 1000, "Format": "JPEG", "MaxResults": 3}),
        )
        .await;
        match r {
            Ok(v) => {
                for i in v["Images"].as_array().into_iter().flatten() {
                    if i["ImageContent"].as_str().is_some_and(|c| !c.is_empty()) {
                        stats.count("getimages: image");
                    } else {
                        stats.count(&format!(
                            "getimages: {}",
                            i["Error"].as_str().unwrap_or("no content")
                        ));
                    }
                }
            }
            Err(_) => stats.count("getimages: request failed"),
        }
    }
}

/// Counts the camera stream's fragments now and then (the camera worker is the server's).
async fn camera_progress(http: reqwest::Client, url: String, deadline: Instant, stats: Stats) {
    let mut last = 0u64;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(5)).await;
        if let Ok(v) = call(
            &http,
            &url,
            "/listFragments",
            json!({"StreamName": CAMERA_STREAM, "MaxResults": 1000}),
        )
        .await
        {
            let n = v["Fragments"].as_array().map_or(0, |a| a.len()) as u64;
            if n > last {
                stats.add("camera: fragments listed", n - last);
                last = n;
            }
        }
    }
}

/// Counts the hook's pictures as they appear.
async fn hook_progress(root: PathBuf, deadline: Instant, stats: Stats) {
    let mut last = 0;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let n = count_files(&root);
        if n > last {
            stats.add("hook: pictures written", (n - last) as u64);
            last = n;
        }
    }
}

/// Every 10 s: a stream is created, fed two fragments and deleted.
async fn churn(http: reqwest::Client, addr: SocketAddr, deadline: Instant, stats: Stats) {
    let url = format!("http://{addr}");
    let mut k = 0;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(10)).await;
        k += 1;
        match churn_once(&http, &url, addr, &format!("soak-churn-{k}")).await {
            Ok(()) => stats.count("churn: cycle done"),
            Err(e) => stats.count(&format!(
                "churn: {}",
                e.to_string().chars().take(60).collect::<String>()
            )),
        }
    }
}

async fn churn_once(
    http: &reqwest::Client,
    url: &str,
    addr: SocketAddr,
    name: &str,
) -> anyhow::Result<()> {
    create(http, url, name).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut p = Producer::connect(addr, name).await?;
    p.send(&body_head()).await?;
    let frame = vec![0x17u8; 4000];
    let tc = now_ms();
    for i in 0..2 {
        p.send_fragment(tc + i * 1000, &fragment(tc + i * 1000, 10, &frame))
            .await?;
    }
    p.finish().await?;
    for _ in 0..50 {
        if p.log.lock().map(|l| l.persisted).unwrap_or(0) >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if p.log.lock().map(|l| l.persisted).unwrap_or(0) < 2 {
        bail!("fragments not persisted");
    }
    drop(p);
    let d = call(http, url, "/describeStream", json!({"StreamName": name})).await?;
    let arn = d["StreamInfo"]["StreamARN"].as_str().unwrap_or_default();
    call(http, url, "/deleteStream", json!({"StreamARN": arn})).await?;
    Ok(())
}

/// Every 5 s a half-sent request; the server must close it (header-read timeout).
async fn slowloris(addr: SocketAddr, deadline: Instant, stats: Stats) {
    let mut held = Vec::new();
    while Instant::now() < deadline {
        let stats = stats.clone();
        held.push(tokio::spawn(async move {
            let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
                return;
            };
            if s.write_all(b"POST /listStreams HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                .await
                .is_err()
            {
                return;
            }
            let mut buf = [0u8; 512];
            match tokio::time::timeout(Duration::from_secs(60), s.read(&mut buf)).await {
                Ok(_) => stats.count("slowloris: closed by server"),
                Err(_) => stats.count("slowloris: still open after 60 s"),
            }
        }));
        tokio::time::sleep(Duration::from_secs(5)).await;
        held.retain(|h| !h.is_finished());
    }
    for h in held {
        let _ = tokio::time::timeout(Duration::from_secs(25), h).await;
    }
}

/// The synthetic RTSP camera, gone for 5 s every 40 s (a camera rebooting).
struct CameraFlapper {
    url: String,
    task: Option<std::thread::JoinHandle<()>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl CameraFlapper {
    fn start(stats: Stats, deadline: Instant) -> anyhow::Result<CameraFlapper> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let first = SyntheticCamera::start(port, 320, 240, 500)?;
        let url = first.url();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let task = std::thread::spawn(move || {
            let mut cam = Some(first);
            let mut since = Instant::now();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(200));
                if cam.is_some() && since.elapsed() >= Duration::from_secs(40) {
                    cam = None;
                    since = Instant::now();
                    stats.count("fault: camera gone");
                } else if cam.is_none() && since.elapsed() >= Duration::from_secs(5) {
                    match SyntheticCamera::start(port, 320, 240, 500) {
                        Ok(c) => cam = Some(c),
                        Err(_) => stats.count("camera: restart failed"),
                    }
                    since = Instant::now();
                }
            }
        });
        Ok(CameraFlapper {
            url,
            task: Some(task),
            stop,
        })
    }
}

impl Drop for CameraFlapper {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.task.take() {
            let _ = t.join();
        }
    }
}
