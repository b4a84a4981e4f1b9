//! `vidstream bench ingest`: measures ingest against the targets of DESIGN.md and prints a
//! table. The server runs as its own process (so its CPU time and memory can be read from
//! /proc), on a data directory on the disk being measured; the producers run in this process on
//! one thread.
//!
//! Scenarios:
//! - disk baseline: sequential 1 MiB writes + a final fdatasync, in the same directory;
//! - throughput: a few producers push 2 MB fragments back to back; PERSISTED bytes per second,
//!   as a ratio to the baseline (target ≥ 0.8);
//! - fleet: N producers at 2 Mbit/s each (one 250 KB fragment per second, staggered); server CPU
//!   as a share of one core (target ≤ 70 % at 500 streams) and the latency from each fragment's
//!   last byte to its PERSISTED ack (target p50 ≤ 20 ms, p99 ≤ 100 ms);
//! - idle producers: M connections that sent only their headers; server RSS growth per
//!   connection (target ≤ 64 KB).
//!
//! `vidstream bench cameras`: server CPU per pulled RTSP camera (see `cameras`).
//! `vidstream bench push`: CPU per `vidstream push` producer process (see `push`).
//! `vidstream bench hook`: the frame hook's pictures per core and a slow destination (see `hook`).
//! `vidstream bench auth`: SigV4 verification + policy decision per request (see `auth`).
//! `vidstream bench soak`: mixed load and injected faults for a while, then every
//! acknowledged fragment verified (see `soak`).
//! `vidstream bench index`: the fragment index at scale on SQLite and PostgreSQL (see `index`).

mod auth;
mod cameras;
mod client;
mod feed;
mod hook;
mod images;
mod index;
mod live;
mod playback;
mod push;
mod rtsp_source;
mod soak;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use client::{Producer, body_head, fragment, post_json};

/// Flags of `vidstream bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to measure: `ingest`, `cameras`, `push`, `playback`, `images`, `hook`, `feed`,
    /// `auth`, `index` (the fragment index at scale, on SQLite and PostgreSQL), or `soak` (the
    /// chaos and soak run: mixed load plus faults for `--seconds`).
    #[arg(default_value = "ingest")]
    what: String,
    /// Directory for the benchmark's data (on the disk to measure); a temporary directory
    /// under it is removed afterwards.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Streams in the fleet scenario (default 500) and in `index` (default 1000).
    #[arg(long)]
    streams: Option<usize>,
    /// Seconds each timed scenario runs.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Connections in the idle-memory scenario and in `playback`'s session-memory one.
    #[arg(long, default_value_t = 200)]
    idle: usize,
    /// Cameras in the `cameras` scenario.
    #[arg(long, default_value_t = 20)]
    cameras: usize,
    /// `vidstream push` processes in the `push` scenario.
    #[arg(long, default_value_t = 10)]
    pushes: usize,
    /// Connections in the throughput scenario (default 4) and in `playback`'s segment
    /// request runs (default 32).
    #[arg(long)]
    connections: Option<usize>,
    /// HLS sessions in `playback`'s memory scenario.
    #[arg(long, default_value_t = 1000)]
    sessions: usize,
    /// Producers in `soak` (each a stream at 2 Mbit/s).
    #[arg(long, default_value_t = 6)]
    producers: usize,
    /// Server kill -9s (each followed by a restart) spread over a `soak` run.
    #[arg(long, default_value_t = 2)]
    kills: usize,
    /// Fragments `index` generates, over `--streams` streams.
    #[arg(long, default_value_t = 10_000_000)]
    fragments: u64,
    /// Which index `index` measures: `sqlite`, `postgres` or `both`.
    #[arg(long, default_value = "both")]
    backend: String,
    /// Fragments per group commit in `index`'s generator (the writer's batch is at most 512).
    #[arg(long, default_value_t = 512)]
    batch: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    match args.what.as_str() {
        "ingest" => rt.block_on(ingest(args)),
        "cameras" => rt.block_on(pulled(args)),
        "push" => rt.block_on(pushed(args)),
        "playback" => playback::run(args),
        "images" => images::run(&args),
        "hook" => hook::run(&args),
        "feed" => rt.block_on(feed::run(args)),
        "auth" => auth::run(&args),
        "index" => index::run(&args),
        "soak" => rt.block_on(soak::run(&args)),
        other => bail!(
            "unknown benchmark `{other}`; try `vidstream bench ingest`, `cameras`, `push`, `playback`, `images`, `hook`, `feed`, `auth`, `index` or `soak`"
        ),
    }
}

/// `vidstream bench cameras`: server CPU per pulled RTSP camera.
async fn pulled(args: Args) -> anyhow::Result<()> {
    let work = tempdir_in(&args.dir)?;
    let server = ServerProcess::start(&work.join("data")).await?;
    let n = args.cameras;
    let (cpu, rate) = cameras::pulled_cameras(&server, n, 2000, args.seconds).await?;
    drop(server);
    let _ = std::fs::remove_dir_all(&work);
    print_rows(vec![Row {
        what: format!("{n} pulled RTSP cameras (H.264 640x480, remux only): server CPU"),
        result: format!(
            "{:.1} % of one core, {:.2} Mbit/s each = {:.0} cameras per core",
            cpu * 100.0,
            rate * 8.0 / 1e6,
            n as f64 / cpu.max(1e-9)
        ),
        target: ">= 300 x 2 Mbit/s per core".into(),
    }])
}

/// `vidstream bench push`: CPU per `vidstream push` process.
async fn pushed(args: Args) -> anyhow::Result<()> {
    let work = tempdir_in(&args.dir)?;
    let server = ServerProcess::start(&work.join("data")).await?;
    let n = args.pushes.max(1);
    let r = push::push_cpu(&server, &work, n, args.seconds).await;
    drop(server);
    let _ = std::fs::remove_dir_all(&work);
    let r = r?;
    print_rows(vec![
        Row {
            what: format!("{n} x `vidstream push` of an MKV file (H.264 2 Mbit/s, pass-through)"),
            result: format!(
                "{:.2} % of one core per push process = {:.0} per core (SigV4-signed, {} fragments persisted)",
                r.per_stream * 100.0,
                1.0 / r.per_stream.max(1e-9),
                r.fragments
            ),
            target: "report".into(),
        },
        Row {
            what: "`vidstream push` of the test pattern (640x480 x264 encode, 2 Mbit/s)".into(),
            result: format!("{:.1} % of one core", r.pattern * 100.0),
            target: "report".into(),
        },
    ])
}

struct Row {
    what: String,
    result: String,
    target: String,
}

async fn ingest(args: Args) -> anyhow::Result<()> {
    let work = tempdir_in(&args.dir)?;
    let mut rows = Vec::new();

    // The disk is measured right before and right after the ingest run, for as long, and the
    // two are averaged: shared virtual disks drift a lot from minute to minute.
    let before = disk_baseline(&work.join("baseline"), args.seconds)?;
    // The storage path is measured, not the per-connection pacing (12.5 MB/s and 5 fragments
    // per second by default, as KVS): lifted for this server.
    let server = ServerProcess::start_with_env(
        &work.join("data"),
        &[
            (
                "VIDSTREAM_LIMITS__PUT_MEDIA_BYTES_PER_SECOND",
                "10000000000".into(),
            ),
            (
                "VIDSTREAM_LIMITS__PUT_MEDIA_FRAGMENTS_PER_SECOND",
                "100000".into(),
            ),
        ],
    )
    .await?;
    let cpu0 = server.cpu_secs()?;
    let t0 = Instant::now();
    let connections = args.connections.unwrap_or(4);
    let tput = throughput(&server, connections, args.seconds).await?;
    let tput_cpu = (server.cpu_secs()? - cpu0) / t0.elapsed().as_secs_f64();
    let after = disk_baseline(&work.join("baseline"), args.seconds)?;
    let disk = (before + after) / 2.0;
    rows.push(Row {
        what: "disk: sequential 1 MiB writes, fdatasync every 32 MiB".into(),
        result: format!("{disk:.0} MB/s (before {before:.0}, after {after:.0})"),
        target: "baseline".into(),
    });
    rows.push(Row {
        what: format!("PutMedia ingest, fsync'd acks ({connections} connections)"),
        result: format!(
            "{tput:.0} MB/s = {:.2} x disk (server CPU {:.0} %)",
            tput / disk,
            tput_cpu * 100.0
        ),
        target: ">= 0.80 x disk".into(),
    });

    let light = fleet(&server, 50, args.seconds, "light").await?;
    rows.push(Row {
        what: "PERSISTED ack after fragment end (50 x 2 Mbit/s)".into(),
        result: format!("p50 {:.1} ms, p99 {:.1} ms", light.p50_ms, light.p99_ms),
        target: "p50 <= 20 ms, p99 <= 100 ms".into(),
    });
    let streams = args.streams.unwrap_or(500);
    let fleet = fleet(&server, streams, args.seconds, "fleet").await?;
    rows.push(Row {
        what: format!("{streams} streams x 2 Mbit/s: server CPU"),
        result: format!(
            "{:.0} % of one core ({} fragments, {} errors)",
            fleet.cpu * 100.0,
            fleet.persisted,
            fleet.errors
        ),
        target: "<= 70 % at 500 streams".into(),
    });
    rows.push(Row {
        what: format!("PERSISTED ack after fragment end ({streams} x 2 Mbit/s)"),
        result: format!("p50 {:.1} ms, p99 {:.1} ms", fleet.p50_ms, fleet.p99_ms),
        target: "p50 <= 20 ms, p99 <= 100 ms".into(),
    });
    drop(server);

    let server = ServerProcess::start(&work.join("live")).await?;
    let live_streams = streams.min(100);
    server.create_streams("live", live_streams).await?;
    let lat = live::live_latency(server.addr, "live", live_streams, 10, args.seconds).await?;
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    rows.push(Row {
        what: format!(
            "PutMedia -> GetMedia live, per frame ({live_streams} streams at 30 fps, 10 readers)"
        ),
        result: format!(
            "p50 {:.1} ms, p99 {:.1} ms ({} frames)",
            pct(0.5),
            pct(0.99),
            lat.len()
        ),
        target: "p50 <= 5 ms, p99 <= 50 ms".into(),
    });
    drop(server);

    let server = ServerProcess::start(&work.join("idle")).await?;
    let per_conn = idle_memory(&server, args.idle).await?;
    rows.push(Row {
        what: format!(
            "memory per connected idle producer ({} connections)",
            args.idle
        ),
        result: format!("{per_conn:.1} KB"),
        target: "<= 64 KB".into(),
    });
    drop(server);
    let _ = std::fs::remove_dir_all(&work);

    print_rows(rows)
}

fn print_rows(rows: Vec<Row>) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<56} {:<44} target", "measure", "result")?;
    for r in rows {
        writeln!(out, "{:<56} {:<44} {}", r.what, r.result, r.target)?;
    }
    Ok(())
}

fn tempdir_in(dir: &Path) -> anyhow::Result<PathBuf> {
    let p = dir.join(format!("vidstream-bench-{}", std::process::id()));
    std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
    Ok(p)
}

/// MB/s of a durable sequential writer: 1 MiB writes for `seconds`, an fdatasync every 32 MiB
/// and at the end (what an ideal ingest with group commit could do on this disk).
fn disk_baseline(path: &Path, seconds: u64) -> anyhow::Result<f64> {
    let block = vec![0x5au8; 1 << 20];
    let mut f = std::fs::File::create(path)?;
    let start = Instant::now();
    let mut written = 0u64;
    while start.elapsed() < Duration::from_secs(seconds) {
        for _ in 0..32 {
            f.write_all(&block)?;
        }
        f.sync_data()?;
        written += 32 << 20;
    }
    let secs = start.elapsed().as_secs_f64();
    drop(f);
    std::fs::remove_file(path)?;
    Ok(written as f64 / 1e6 / secs)
}

/// A `vidstream serve` child process.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
}

impl ServerProcess {
    async fn start(data_dir: &Path) -> anyhow::Result<ServerProcess> {
        Self::start_with_env(data_dir, &[]).await
    }

    /// Starts a server on a free port with extra `VIDSTREAM_*` environment settings.
    async fn start_with_env(
        data_dir: &Path,
        env: &[(&str, String)],
    ) -> anyhow::Result<ServerProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        Self::start_at(data_dir, addr, env).await
    }

    /// Starts a server on `addr` with extra `VIDSTREAM_*` environment settings.
    async fn start_at(
        data_dir: &Path,
        addr: SocketAddr,
        env: &[(&str, String)],
    ) -> anyhow::Result<ServerProcess> {
        let child = Command::new(std::env::current_exe()?)
            .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
            .arg(data_dir)
            .env("VIDSTREAM_AUTH__ROOT_ACCESS_KEY_ID", client::ACCESS_KEY)
            .env("VIDSTREAM_AUTH__ROOT_SECRET_ACCESS_KEY", client::SECRET_KEY)
            .env(
                "VIDSTREAM_LOG",
                std::env::var("BENCH_SERVER_LOG").unwrap_or_else(|_| "error".into()),
            )
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .spawn()
            .context("starting vidstream serve")?;
        let server = ServerProcess { child, addr };
        for _ in 0..400 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        bail!("the server did not start")
    }

    async fn create_streams(&self, prefix: &str, n: usize) -> anyhow::Result<()> {
        for i in 0..n {
            let body = format!(r#"{{"StreamName":"{prefix}{i}","DataRetentionInHours":1}}"#);
            post_json(self.addr, "/createStream", &body).await?;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(())
    }

    /// CPU seconds the server has used (user + system).
    fn cpu_secs(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields after the parenthesised command name; utime and stime are 14th and 15th.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0)
            + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0);
        Ok(ticks as f64 / 100.0) // USER_HZ is 100 on Linux
    }

    /// Memory in KB: resident memory, plus the memfds the media cache keeps payloads in
    /// (`crate::zerocopy`), whose pages live in the page cache and count in RSS only where the
    /// process touched them (those, `RssShmem`, are taken out so nothing counts twice).
    fn rss_kb(&self) -> anyhow::Result<f64> {
        let pid = self.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
        };
        let rss = field("VmRSS:").context("VmRSS")?;
        let shmem_mapped = field("RssShmem:").unwrap_or(0.0);
        let mut memfd_bytes = 0u64;
        if let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
            for fd in fds.flatten() {
                let is_memfd = std::fs::read_link(fd.path())
                    .is_ok_and(|t| t.to_string_lossy().starts_with("/memfd:"));
                if is_memfd && let Ok(m) = std::fs::metadata(fd.path()) {
                    memfd_bytes += m.len();
                }
            }
        }
        Ok(rss - shmem_mapped + memfd_bytes as f64 / 1024.0)
    }
}

impl ServerProcess {
    /// Stops the server with SIGTERM (a clean shutdown) and waits up to 30 s for it.
    fn terminate(&mut self) -> anyhow::Result<()> {
        let pid =
            rustix::process::Pid::from_raw(self.child.id() as i32).context("the server's pid")?;
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("the server exited with {status}");
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the server did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// MB/s of fragment payload acknowledged PERSISTED.
async fn throughput(server: &ServerProcess, conns: usize, seconds: u64) -> anyhow::Result<f64> {
    server.create_streams("tput", conns).await?;
    let frame = vec![0x42u8; 33_000];
    let frag_bytes = (60 * frame.len()) as f64;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..conns {
        let frame = frame.clone();
        let addr = server.addr;
        tasks.push(tokio::spawn(async move {
            let mut p = Producer::connect(addr, &format!("tput{c}")).await?;
            p.send(&body_head()).await?;
            let mut tc = 1_700_000_000_000u64;
            while Instant::now() < deadline {
                p.send_fragment(tc, &fragment(tc, 60, &frame)).await?;
                tc += 2000;
            }
            p.finish().await?;
            // Let the last acks arrive.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let persisted = p.log.lock().map(|l| l.persisted).unwrap_or(0);
            anyhow::Ok(persisted)
        }));
    }
    let mut persisted = 0;
    for t in tasks {
        persisted += t.await??;
    }
    let secs = start.elapsed().as_secs_f64() - 0.5;
    Ok(persisted as f64 * frag_bytes / 1e6 / secs)
}

struct Fleet {
    cpu: f64,
    p50_ms: f64,
    p99_ms: f64,
    persisted: u64,
    errors: u64,
}

async fn fleet(
    server: &ServerProcess,
    streams: usize,
    seconds: u64,
    prefix: &str,
) -> anyhow::Result<Fleet> {
    server.create_streams(prefix, streams).await?;
    // 2 Mbit/s at 30 fps: 30 frames of 8333 bytes per one-second fragment.
    let frame = vec![0x17u8; 8333];
    let mut producers = Vec::with_capacity(streams);
    for i in 0..streams {
        let mut p = Producer::connect(server.addr, &format!("{prefix}{i}")).await?;
        p.send(&body_head()).await?;
        producers.push(p);
    }
    let cpu0 = server.cpu_secs()?;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (i, mut p) in producers.into_iter().enumerate() {
        let frame = frame.clone();
        let offset = Duration::from_micros((1_000_000 * i / streams.max(1)) as u64);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(offset).await;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut tc = 1_700_000_000_000u64;
            for _ in 0..seconds {
                tick.tick().await;
                p.send_fragment(tc, &fragment(tc, 30, &frame)).await?;
                tc += 1000;
            }
            p.finish().await?;
            anyhow::Ok(p)
        }));
    }
    let mut producers = Vec::new();
    for t in tasks {
        producers.push(t.await??);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let logs: Vec<_> = producers.iter().map(|p| Arc::clone(&p.log)).collect();
    let cpu = (server.cpu_secs()? - cpu0) / start.elapsed().as_secs_f64();
    let mut lat = Vec::new();
    let (mut persisted, mut errors) = (0, 0);
    for l in logs {
        if let Ok(l) = l.lock() {
            lat.extend(l.persisted_latency.iter().map(|d| d.as_secs_f64() * 1000.0));
            persisted += l.persisted;
            errors += l.errors;
        }
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    Ok(Fleet {
        cpu,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        persisted,
        errors,
    })
}

/// KB of server RSS per connected producer that has sent only its headers.
async fn idle_memory(server: &ServerProcess, n: usize) -> anyhow::Result<f64> {
    server.create_streams("idle", n).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = server.rss_kb()?;
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut p = Producer::connect(server.addr, &format!("idle{i}")).await?;
        p.send(&body_head()).await?;
        conns.push(p);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = server.rss_kb()?;
    drop(conns);
    Ok((after - before).max(0.0) / n as f64)
}

/// Every event of the MKV file at `path` (an input the bench made).
fn mkv_events(path: &std::path::Path) -> anyhow::Result<Vec<crate::mkv::Event>> {
    use anyhow::Context;
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut reader = crate::mkv::Reader::new(crate::mkv::Limits::default());
    reader.push(&data);
    let mut events = Vec::new();
    while let Some(e) = reader.pull().context("parsing the input")? {
        events.push(e);
    }
    events.extend(reader.finish().context("parsing the input")?);
    Ok(events)
}
