//! `vidstream bench playback`: HLS media segment serving against nginx, and memory per HLS
//! session.
//!
//! - A `vidstream serve` child process gets 60 s of 2 Mbit/s video (one-second fragments of 30
//!   frames, synthesized like the ingest bench: the server treats payloads as opaque). An
//!   ON_DEMAND fMP4 HLS session's media playlist lists the segments; each is downloaded once and
//!   its exact bytes written under a temporary root that an `nginx` child process (the Debian
//!   package, generated config, `worker_processes auto`, sendfile, no access log) serves.
//! - The load generator runs in this process on a multi-thread tokio runtime: C keep-alive
//!   HTTP/1.1 connections over raw TCP, each requesting the segment URLs round-robin, one request
//!   in flight per connection. After a warm-up of each, timed runs alternate in pairs whose
//!   order flips every pair (vidstream, nginx, nginx, vidstream, vidstream, nginx) on the same
//!   machine (the generator shares its cores with both servers, alike); the table gives the
//!   ratio of the means and of each pair. Every response must be
//!   a 200 of exactly the segment's length; anything else counts as an error.
//! - Memory: a fresh server on the same data; S ON_DEMAND sessions (sessions are stateless
//!   signed tokens, ON_DEMAND needs no live producer), then M keep-alive connections are opened
//!   (RSS growth per connection), then each connection cycles through its share of the sessions
//!   fetching master playlist, media playlist and one segment, connections kept open. The
//!   first fifth of the sessions raises the allocator's high-water mark (segments in flight);
//!   RSS growth over the rest, per session, is the figure.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::client::{Producer, body_head, fragment, post_json};
use super::{Args, Row, ServerProcess, print_rows, tempdir_in};

/// Producer timestamp of the first fragment (ms).
const T0_MS: u64 = 1_700_000_000_000;
/// Fragments ingested: one per second.
const FRAGMENTS: u64 = 60;
/// 2 Mbit/s at 30 fps.
const FRAME_BYTES: usize = 8333;
/// Connections of the throughput runs unless `--connections` is given.
const DEFAULT_CONNECTIONS: usize = 32;
/// Alternating vidstream/nginx pairs of timed runs.
const ROUNDS: usize = 3;

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(playback(args))
}

async fn playback(args: Args) -> anyhow::Result<()> {
    let nginx_bin = find_nginx()?;
    let work = tempdir_in(&args.dir)?;
    let result = measure(&args, &work, &nginx_bin).await;
    let _ = std::fs::remove_dir_all(&work);
    print_rows(result?)
}

async fn measure(args: &Args, work: &Path, nginx_bin: &Path) -> anyhow::Result<Vec<Row>> {
    let conns = args.connections.unwrap_or(DEFAULT_CONNECTIONS).max(1);
    let seconds = args.seconds.max(1);
    let data = work.join("data");
    // 60 s of recording uploaded at once: the fragment pacing (5 per second by default) is
    // lifted, it is not what this bench measures.
    let server = ServerProcess::start_with_env(
        &data,
        &[(
            "VIDSTREAM_LIMITS__PUT_MEDIA_FRAGMENTS_PER_SECOND",
            "1000".into(),
        )],
    )
    .await?;
    ingest(&server).await?;
    let token_path = session(server.addr).await?;
    let segments = segment_paths(server.addr, &token_path).await?;

    // The exact bytes vidstream serves, as static files for nginx.
    let root = work.join("nginx/root");
    std::fs::create_dir_all(&root)?;
    let mut conn = Conn::connect(server.addr).await?;
    let mut vs_reqs = Vec::with_capacity(segments.len());
    let mut ng_reqs = Vec::with_capacity(segments.len());
    for (i, path) in segments.iter().enumerate() {
        let r = conn.request(&get_request(path), true).await?;
        if r.status != 200 {
            bail!("GET {path}: status {}", r.status);
        }
        let name = format!("seg{i}.mp4");
        std::fs::write(root.join(&name), &r.body)?;
        vs_reqs.push((get_request(path), r.len));
        ng_reqs.push((get_request(&format!("/{name}")), r.len));
    }
    drop(conn);
    let seg_avg = vs_reqs.iter().map(|r| r.1).sum::<u64>() / vs_reqs.len().max(1) as u64;
    let nginx = Nginx::start(nginx_bin, &work.join("nginx"), &root).await?;

    let vs_reqs = Arc::new(vs_reqs);
    let ng_reqs = Arc::new(ng_reqs);
    // Warm-up (page cache, allocator, connection setup), not counted.
    let warm = Duration::from_millis(500);
    load(server.addr, &vs_reqs, conns, warm).await?;
    load(nginx.addr, &ng_reqs, conns, warm).await?;
    let mut vs = Vec::new();
    let mut ng = Vec::new();
    // Alternating pairs, each pair in the other order than the one before, so that drift in
    // the machine's load (other processes, thermal) does not favour either server.
    for round in 0..ROUNDS {
        for vidstream_turn in [round % 2 == 0, round % 2 != 0] {
            if vidstream_turn {
                let cpu0 = server.cpu_secs()?;
                let mut r =
                    load(server.addr, &vs_reqs, conns, Duration::from_secs(seconds)).await?;
                r.cpu = (server.cpu_secs()? - cpu0) / r.secs;
                vs.push(r);
            } else {
                let cpu0 = nginx.cpu_secs();
                let mut r = load(nginx.addr, &ng_reqs, conns, Duration::from_secs(seconds)).await?;
                r.cpu = (nginx.cpu_secs() - cpu0) / r.secs;
                ng.push(r);
            }
        }
    }
    drop(nginx);
    drop(server);

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut rows = vec![Row {
        what: "setup".into(),
        result: format!(
            "{} segments of {:.0} KB avg; {cores} cores shared by both servers and the load generator",
            segments.len(),
            seg_avg as f64 / 1e3
        ),
        target: String::new(),
    }];
    rows.push(Row {
        what: "vidstream config".into(),
        result: format!(
            "tokio multi-thread ({cores} workers), default [playback] media_cache_bytes (segments served from the media cache)"
        ),
        target: String::new(),
    });
    rows.push(Row {
        what: "nginx config".into(),
        result: format!(
            "{}: worker_processes auto ({cores}), sendfile on, access_log off",
            nginx_version(nginx_bin)
        ),
        target: String::new(),
    });
    let mean = |v: &[LoadResult]| v.iter().map(|r| r.rps()).sum::<f64>() / v.len().max(1) as f64;
    for (name, runs) in [("vidstream", &vs), ("nginx", &ng)] {
        let each: Vec<String> = runs.iter().map(|r| format!("{:.0}", r.rps())).collect();
        let mbps = runs.iter().map(|r| r.mbps()).sum::<f64>() / runs.len().max(1) as f64;
        let cpu = runs.iter().map(|r| r.cpu).sum::<f64>() / runs.len().max(1) as f64;
        let errors: u64 = runs.iter().map(|r| r.errors).sum();
        rows.push(Row {
            what: format!("{name}: media segment GETs ({conns} keep-alive connections)"),
            result: format!(
                "{:.0} req/s ({}), {mbps:.0} MB/s, server CPU {:.0} % = {:.0} us/req, {errors} errors",
                mean(runs),
                each.join(", "),
                cpu * 100.0,
                cpu * 1e6 / mean(runs).max(1e-9)
            ),
            target: String::new(),
        });
    }
    let pairs: Vec<String> = vs
        .iter()
        .zip(&ng)
        .map(|(v, n)| format!("{:.2}", v.rps() / n.rps().max(1e-9)))
        .collect();
    rows.push(Row {
        what: "vidstream / nginx media segment requests/s".into(),
        result: format!(
            "{:.2} x nginx (per alternating pair: {})",
            mean(&vs) / mean(&ng).max(1e-9),
            pairs.join(", ")
        ),
        target: ">= 0.70 x nginx".into(),
    });

    let server = ServerProcess::start(&data).await?;
    let mem = session_memory(&server, &token_path, args.sessions, args.idle).await?;
    drop(server);
    rows.push(Row {
        what: format!("memory per open keep-alive connection ({})", args.idle),
        result: format!("{:.1} KB", mem.per_conn_kb),
        target: String::new(),
    });
    rows.push(Row {
        what: format!(
            "memory per HLS session ({} ON_DEMAND, master+media+segment)",
            args.sessions
        ),
        result: format!(
            "{:.2} KB (+{:.0} KB over the first fifth; {} errors)",
            mem.per_session_kb, mem.first_kb, mem.errors
        ),
        target: String::new(),
    });
    Ok(rows)
}

/// `nginx` on PATH or in /usr/sbin (not on a non-root user's PATH).
fn find_nginx() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file())
        .context(
            "nginx is not installed: `vidstream bench playback` compares with it; run scripts/install-deps.sh (it installs the Debian package nginx)",
        )
}

fn nginx_version(bin: &Path) -> String {
    Command::new(bin)
        .arg("-v")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned())
        .and_then(|s| s.strip_prefix("nginx version: ").map(str::to_owned))
        .unwrap_or_else(|| "nginx".into())
}

/// PutMedia of `FRAGMENTS` one-second fragments; waits for all to be PERSISTED.
async fn ingest(server: &ServerProcess) -> anyhow::Result<()> {
    server.create_streams("play", 1).await?;
    let mut p = Producer::connect(server.addr, "play0").await?;
    p.send(&body_head()).await?;
    let mut frame = vec![0u8; FRAME_BYTES];
    for (i, b) in frame.iter_mut().enumerate() {
        *b = (i * 7 + 3) as u8;
    }
    for i in 0..FRAGMENTS {
        let tc = T0_MS + i * 1000;
        p.send_fragment(tc, &fragment(tc, 30, &frame)).await?;
    }
    p.finish().await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (persisted, errors) = p
            .log
            .lock()
            .map(|l| (l.persisted, l.errors))
            .unwrap_or((0, 0));
        if errors > 0 {
            bail!("ingest: {errors} fragments were refused");
        }
        if persisted >= FRAGMENTS {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("ingest: only {persisted} of {FRAGMENTS} fragments persisted after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A new ON_DEMAND fMP4 HLS session over the ingested range; returns the master playlist's
/// path and query.
async fn session(addr: SocketAddr) -> anyhow::Result<String> {
    let start = T0_MS as f64 / 1000.0 - 1.0;
    let body = serde_json::json!({
        "StreamName": "play0",
        "PlaybackMode": "ON_DEMAND",
        "ContainerFormat": "FRAGMENTED_MP4",
        "Expires": 43_200,
        "HLSFragmentSelector": {
            "FragmentSelectorType": "PRODUCER_TIMESTAMP",
            "TimestampRange": {"StartTimestamp": start, "EndTimestamp": start + 3600.0}
        }
    });
    let resp = post_json(addr, "/getHLSStreamingSessionURL", &body.to_string()).await?;
    let json = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .context("getHLSStreamingSessionURL: no body")?;
    let v: serde_json::Value = serde_json::from_str(json).context("getHLSStreamingSessionURL")?;
    let url = v["HLSStreamingSessionURL"]
        .as_str()
        .context("no HLSStreamingSessionURL")?;
    let at = url.find("/hls/v1/").context("unexpected session URL")?;
    Ok(url[at..].to_owned())
}

/// The URI lines of a playlist, as absolute paths under /hls/v1/.
fn uris(playlist: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(playlist)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| format!("/hls/v1/{l}"))
        .collect()
}

/// Master playlist → media playlist → the media segments' paths.
async fn segment_paths(addr: SocketAddr, master: &str) -> anyhow::Result<Vec<String>> {
    let mut c = Conn::connect(addr).await?;
    let segments = playlist_segments(&mut c, master).await?;
    if segments.is_empty() {
        bail!("the media playlist lists no segments");
    }
    Ok(segments)
}

async fn playlist_segments(c: &mut Conn, master: &str) -> anyhow::Result<Vec<String>> {
    let r = c.request(&get_request(master), true).await?;
    if r.status != 200 {
        bail!("GET master playlist: status {}", r.status);
    }
    let media = uris(&r.body)
        .into_iter()
        .next()
        .context("the master playlist names no media playlist")?;
    let r = c.request(&get_request(&media), true).await?;
    if r.status != 200 {
        bail!("GET media playlist: status {}", r.status);
    }
    Ok(uris(&r.body))
}

fn get_request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").into_bytes()
}

/// One keep-alive HTTP/1.1 client connection, one request at a time, over raw TCP: little
/// client overhead, so the figures measure the servers.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    closed: bool,
}

struct Response {
    status: u16,
    /// Body length.
    len: u64,
    /// The body, when asked for.
    body: Vec<u8>,
}

impl Conn {
    async fn connect(addr: SocketAddr) -> anyhow::Result<Conn> {
        let s = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        s.set_nodelay(true)?;
        Ok(Conn {
            s,
            buf: vec![0; 256 * 1024],
            start: 0,
            end: 0,
            closed: false,
        })
    }

    async fn fill(&mut self) -> anyhow::Result<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() {
                bail!("response head larger than {} bytes", self.buf.len());
            }
        }
        let n = self.s.read(&mut self.buf[self.end..]).await?;
        if n == 0 {
            self.closed = true;
            bail!("connection closed by the server");
        }
        self.end += n;
        Ok(())
    }

    /// Sends `req` and reads the whole response (Content-Length bodies only); the body is
    /// kept only if `keep`.
    async fn request(&mut self, req: &[u8], keep: bool) -> anyhow::Result<Response> {
        if self.closed {
            bail!("connection closed by the server");
        }
        self.s.write_all(req).await?;
        let head_len = loop {
            if let Some(i) = self.buf[self.start..self.end]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
            {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buf[self.start..self.start + head_len])
            .context("response head is not UTF-8")?;
        let status: u16 = head
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .context("bad status line")?;
        let mut len = None;
        let mut close = false;
        for line in head.lines().skip(1) {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                len = Some(value.parse::<u64>().context("bad Content-Length")?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                bail!("unsupported Transfer-Encoding {value}");
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close")
            {
                close = true;
            }
        }
        let len = len.context("response without Content-Length")?;
        self.start += head_len;
        let mut body = Vec::new();
        let mut left = len;
        loop {
            let have = ((self.end - self.start) as u64).min(left) as usize;
            if keep {
                body.extend_from_slice(&self.buf[self.start..self.start + have]);
            }
            self.start += have;
            left -= have as u64;
            if left == 0 {
                break;
            }
            self.fill().await?;
        }
        self.closed |= close;
        Ok(Response { status, len, body })
    }
}

#[derive(Default)]
struct LoadResult {
    requests: u64,
    bytes: u64,
    errors: u64,
    secs: f64,
    /// Server CPU as a share of one core.
    cpu: f64,
}

impl LoadResult {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.secs.max(1e-9)
    }
    fn mbps(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.secs.max(1e-9)
    }
}

/// `conns` connections each GET `reqs` round-robin (from staggered starting points) for `dur`;
/// counts responses completed before the end that are 200s of the expected length.
async fn load(
    addr: SocketAddr,
    reqs: &Arc<Vec<(Vec<u8>, u64)>>,
    conns: usize,
    dur: Duration,
) -> anyhow::Result<LoadResult> {
    let mut connected = Vec::with_capacity(conns);
    for _ in 0..conns {
        connected.push(Conn::connect(addr).await?);
    }
    let start = Instant::now();
    let deadline = start + dur;
    let mut tasks = Vec::with_capacity(conns);
    for (c, mut conn) in connected.into_iter().enumerate() {
        let reqs = Arc::clone(reqs);
        tasks.push(tokio::spawn(async move {
            let mut r = LoadResult::default();
            let n = reqs.len();
            let mut i = c * n / conns.max(1);
            while Instant::now() < deadline {
                let (req, want) = &reqs[i % n];
                i += 1;
                match conn.request(req, false).await {
                    Ok(_) if Instant::now() > deadline => {}
                    Ok(resp) if resp.status == 200 && resp.len == *want => {
                        r.requests += 1;
                        r.bytes += resp.len;
                    }
                    Ok(_) => r.errors += 1,
                    Err(_) => {
                        r.errors += 1;
                        match Conn::connect(addr).await {
                            Ok(c) => conn = c,
                            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                        }
                    }
                }
                if conn.closed
                    && let Ok(c) = Conn::connect(addr).await
                {
                    conn = c;
                }
            }
            r
        }));
    }
    let mut total = LoadResult {
        secs: dur.as_secs_f64(),
        ..Default::default()
    };
    for t in tasks {
        let r = t.await?;
        total.requests += r.requests;
        total.bytes += r.bytes;
        total.errors += r.errors;
    }
    Ok(total)
}

/// An `nginx` child process serving `root` on 127.0.0.1, with everything under `prefix`.
struct Nginx {
    child: Child,
    addr: SocketAddr,
}

impl Nginx {
    async fn start(bin: &Path, prefix: &Path, root: &Path) -> anyhow::Result<Nginx> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let p = prefix.display();
        let conf = format!(
            r#"daemon off;
master_process on;
worker_processes auto;
pid {p}/nginx.pid;
error_log {p}/error.log error;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 120s;
    keepalive_requests 100000000;
    types {{ video/mp4 mp4; }}
    default_type application/octet-stream;
    client_body_temp_path {p}/tmp/body;
    proxy_temp_path {p}/tmp/proxy;
    fastcgi_temp_path {p}/tmp/fastcgi;
    uwsgi_temp_path {p}/tmp/uwsgi;
    scgi_temp_path {p}/tmp/scgi;
    server {{
        listen {addr};
        root {root};
        location / {{ }}
    }}
}}
"#,
            root = root.display()
        );
        std::fs::create_dir_all(prefix.join("tmp"))?;
        let conf_path = prefix.join("nginx.conf");
        std::fs::write(&conf_path, conf)?;
        let child = Command::new(bin)
            .arg("-p")
            .arg(prefix)
            .arg("-e")
            .arg(prefix.join("error.log"))
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut nginx = Nginx { child, addr };
        for _ in 0..200 {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                let log = std::fs::read_to_string(prefix.join("error.log")).unwrap_or_default();
                bail!("nginx exited ({status}): {log}");
            }
            if TcpStream::connect(addr).await.is_ok() {
                return Ok(nginx);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        bail!("nginx did not start")
    }

    /// CPU seconds of the master and its workers.
    fn cpu_secs(&self) -> f64 {
        let master = self.child.id();
        let mut total = 0.0;
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return 0.0;
        };
        for e in dir.flatten() {
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            let pid: Option<u32> = e.file_name().to_str().and_then(|s| s.parse().ok());
            let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ppid: Option<u32> = f.get(1).and_then(|x| x.parse().ok());
            if pid == Some(master) || ppid == Some(master) {
                let ticks: u64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0)
                    + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0);
                total += ticks as f64 / 100.0;
            }
        }
        total
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers (SIGKILL would leave them running).
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Memory {
    per_conn_kb: f64,
    /// RSS growth over the first fifth of the sessions (allocator high-water mark).
    first_kb: f64,
    per_session_kb: f64,
    errors: u64,
}

/// RSS growth per open connection, then per session used over those connections.
async fn session_memory(
    server: &ServerProcess,
    any_master: &str,
    sessions: usize,
    conns: usize,
) -> anyhow::Result<Memory> {
    let sessions = sessions.max(2);
    let conns = conns.max(1);
    // Warm-up: the first requests allocate caches, thread stacks, etc.
    for _ in 0..4 {
        let mut c = Conn::connect(server.addr).await?;
        let segs = playlist_segments(&mut c, any_master).await?;
        for s in segs.iter().take(8) {
            c.request(&get_request(s), false).await?;
        }
    }
    let mut masters = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        masters.push(session(server.addr).await?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss0 = server.rss_kb()?;
    let mut open = Vec::with_capacity(conns);
    for i in 0..conns {
        let mut c = Conn::connect(server.addr).await?;
        c.request(&get_request(&masters[i % sessions]), false)
            .await?;
        open.push(c);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss1 = server.rss_kb()?;
    // The first fifth of the sessions (the same concurrency) raises the allocator's high-water
    // mark of in-flight segments; the growth over the rest is what the sessions themselves keep.
    let warm = (sessions / 5).max(1).min(sessions - 1);
    let (open, e1) = cycle(open, Arc::new(masters[..warm].to_vec())).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss2 = server.rss_kb()?;
    let (open, e2) = cycle(open, Arc::new(masters[warm..].to_vec())).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss3 = server.rss_kb()?;
    drop(open);
    Ok(Memory {
        per_conn_kb: (rss1 - rss0).max(0.0) / conns as f64,
        first_kb: (rss2 - rss1).max(0.0),
        per_session_kb: (rss3 - rss2).max(0.0) / (sessions - warm).max(1) as f64,
        errors: e1 + e2,
    })
}

/// Each connection fetches master playlist, media playlist and one segment of its share of
/// `masters`; the connections stay open.
async fn cycle(open: Vec<Conn>, masters: Arc<Vec<String>>) -> anyhow::Result<(Vec<Conn>, u64)> {
    let conns = open.len().max(1);
    let mut tasks = Vec::with_capacity(conns);
    for (k, mut c) in open.into_iter().enumerate() {
        let masters = Arc::clone(&masters);
        tasks.push(tokio::spawn(async move {
            let mut errors = 0u64;
            for (j, m) in masters.iter().enumerate().skip(k).step_by(conns) {
                match playlist_segments(&mut c, m).await {
                    Ok(segs) if !segs.is_empty() => {
                        let seg = &segs[j % segs.len()];
                        match c.request(&get_request(seg), false).await {
                            Ok(r) if r.status == 200 => {}
                            _ => errors += 1,
                        }
                    }
                    _ => errors += 1,
                }
            }
            (c, errors)
        }));
    }
    let mut kept = Vec::with_capacity(conns);
    let mut errors = 0;
    for t in tasks {
        let (c, e) = t.await?;
        kept.push(c);
        errors += e;
    }
    Ok((kept, errors))
}
