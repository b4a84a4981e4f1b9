//! `vidstream bench soak`: the chaos and soak run (issue 15). A `vidstream serve` child process
//! takes a mixed load for `--seconds` while faults are injected; then every fragment that was
//! acknowledged PERSISTED is verified, and the server's memory and descriptors over time are
//! reported.
//!
//! Load (see `load`): `--producers` PutMedia producers at 2 Mbit/s (each fragment's frames name
//! their stream and timecode), a live GetMedia reader, a stalled GetMedia reader that never
//! reads, a synthetic RTSP camera pulled by the server (its stream carries real H.264) that
//! goes away and comes back, an HLS player and GetImages on that stream, the frame hook writing
//! its pictures to files, streams created, fed and deleted in a loop, half-sent requests
//! (slowloris), and retention deleting old media (a per-stream size cap).
//!
//! Faults: `--kills` kill -9s of the server spread over the run, each followed by a restart on
//! the same address and data directory; the clients reconnect as real ones would.
//!
//! At the end: for each producer, every PERSISTED fragment newer than the oldest one retention
//! kept is listed by ListFragments, the newest ones' bytes come back whole (GetMediaForFragment
//! List, each frame naming its fragment), and `vidstream check` finds no problem after a clean
//! stop. Memory (RSS) and open descriptors are sampled through the run; growth is measured over
//! the last server lifetime (between its second and last quarter; descriptors without the media
//! cache's memfds, which its budget bounds). The run fails (exit status 1)
//! on any lost fragment, any check problem, a worker that never succeeded, or gross growth.

mod load;
mod verify;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{Args, Row, ServerProcess, print_rows, tempdir_in};

/// Counts by kind, shared by the workers ("producer: fragments PERSISTED", "hls: 503", ...).
#[derive(Default, Clone)]
pub struct Stats(Arc<Mutex<BTreeMap<String, u64>>>);

impl Stats {
    /// Adds `n` to `kind`.
    pub fn add(&self, kind: &str, n: u64) {
        if let Ok(mut m) = self.0.lock() {
            *m.entry(kind.to_owned()).or_default() += n;
        }
    }

    /// Adds one to `kind`.
    pub fn count(&self, kind: &str) {
        self.add(kind, 1);
    }

    fn get(&self, kind: &str) -> u64 {
        self.0
            .lock()
            .map(|m| m.get(kind).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

/// One sample of the server process.
#[derive(Debug, Clone, Copy)]
struct Sample {
    secs: f64,
    life: usize,
    rss_mb: f64,
    /// Open descriptors other than the media cache's memfds.
    fds: usize,
    /// The media cache's memfds (bounded by its budget and a quarter of the fd limit).
    memfds: usize,
    threads: usize,
}

/// Environment of every server of the run: retention deletes old media during the run
/// (a per-stream cap, checked every few seconds), the hook may write under `hook_root`, and
/// the media cache is small enough (16 MiB) to fill in the first minute, so that its growth up
/// to the budget, which is by design, is over before memory is judged.
fn server_env(hook_root: &Path) -> Vec<(&'static str, String)> {
    vec![
        (
            "VIDSTREAM_PLAYBACK__MEDIA_CACHE_BYTES",
            (16u64 << 20).to_string(),
        ),
        (
            "VIDSTREAM_RETENTION__STREAM_MAX_BYTES",
            (24u64 << 20).to_string(),
        ),
        ("VIDSTREAM_RETENTION__INTERVAL_SECS", "5".into()),
        ("VIDSTREAM_RETENTION__GRACE_SECS", "2".into()),
        ("VIDSTREAM_HOOK__FILE_ROOT", hook_root.display().to_string()),
    ]
}

pub async fn run(args: &Args) -> anyhow::Result<()> {
    let work = tempdir_in(&args.dir)?;
    let out = soak(args, &work).await;
    let _ = std::fs::remove_dir_all(&work);
    let rows = out?;
    let failed = rows.iter().any(|r| r.target == "FAILED");
    print_rows(rows)?;
    if failed {
        bail!("the soak run failed (see the rows marked FAILED)");
    }
    Ok(())
}

async fn soak(args: &Args, work: &Path) -> anyhow::Result<Vec<Row>> {
    let data = work.join("data");
    let hook_root = work.join("hook");
    std::fs::create_dir_all(&hook_root)?;
    let env = server_env(&hook_root);
    let mut server = ServerProcess::start(&data).await?;
    let addr = server.addr;
    // The first start picked the address; every restart reuses it (and the settings).
    drop(server);
    server = ServerProcess::start_at(&data, addr, &env).await?;

    let seconds = args.seconds.max(10);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let stats = Stats::default();
    let plan = load::Plan {
        addr,
        producers: args.producers.max(1),
        deadline,
        hook_root: hook_root.clone(),
    };
    let running = load::start(&plan, &stats).await?;

    // Faults and samples until the deadline.
    let kill_at: Vec<Duration> = (1..=args.kills)
        .map(|k| Duration::from_secs(seconds * k as u64 / (args.kills as u64 + 1)))
        .collect();
    let sample_every = Duration::from_secs((seconds / 40).clamp(2, 60));
    let mut samples = Vec::new();
    let mut life = 0usize;
    let mut kills = 0usize;
    let mut downtime = Duration::ZERO;
    while Instant::now() < deadline {
        tokio::time::sleep(sample_every.min(deadline.saturating_duration_since(Instant::now())))
            .await;
        if let Ok(s) = sample(&server, started, life) {
            samples.push(s);
        }
        if kills < kill_at.len() && started.elapsed() >= kill_at[kills] {
            let t = Instant::now();
            let _ = server.child.kill();
            let _ = server.child.wait();
            server = ServerProcess::start_at(&data, addr, &env)
                .await
                .context("restarting after kill -9")?;
            downtime += t.elapsed();
            kills += 1;
            life += 1;
            stats.count("fault: kill -9 + restart");
        }
    }
    let load_result = running.stop().await;

    // Verification on the running server, then a clean stop and `vidstream check`.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let verified = verify::fragments(addr, &load_result.producers).await;
    let stopped = server.terminate();
    let check = verify::check(&data);

    report(
        args,
        seconds,
        &stats,
        &samples,
        (kills, downtime),
        &load_result,
        verified,
        stopped,
        check,
    )
}

/// RSS, descriptors and threads of the server now.
fn sample(server: &ServerProcess, started: Instant, life: usize) -> anyhow::Result<Sample> {
    let pid = server.child.id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let (mut fds, mut memfds) = (0, 0);
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))?.flatten() {
        let memfd =
            std::fs::read_link(fd.path()).is_ok_and(|t| t.to_string_lossy().starts_with("/memfd:"));
        if memfd {
            memfds += 1;
        } else {
            fds += 1;
        }
    }
    Ok(Sample {
        secs: started.elapsed().as_secs_f64(),
        life,
        rss_mb: server.rss_kb()? / 1024.0,
        fds,
        memfds,
        threads,
    })
}

/// Median of `v` (0 when empty).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Growth over the last server lifetime: medians of its second quarter and of its last one.
fn growth(samples: &[Sample], f: impl Fn(&Sample) -> f64) -> Option<(f64, f64)> {
    let last = samples.last()?.life;
    let life: Vec<&Sample> = samples.iter().filter(|s| s.life == last).collect();
    if life.len() < 8 {
        return None;
    }
    let q = life.len() / 4;
    let early = median(life[q..2 * q].iter().map(|s| f(s)).collect());
    let late = median(life[life.len() - q..].iter().map(|s| f(s)).collect());
    Some((early, late))
}

#[allow(clippy::too_many_arguments)]
fn report(
    args: &Args,
    seconds: u64,
    stats: &Stats,
    samples: &[Sample],
    (kills, downtime): (usize, Duration),
    load: &load::Outcome,
    verified: anyhow::Result<verify::Verified>,
    stopped: anyhow::Result<()>,
    check: anyhow::Result<verify::Checked>,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let verdict = |ok: bool, target: &str| {
        if ok {
            target.to_owned()
        } else {
            "FAILED".to_owned()
        }
    };
    rows.push(Row {
        what: format!(
            "soak: {seconds} s, {} producers, {kills} kill -9 + restart",
            args.producers
        ),
        result: format!(
            "server down {:.1} s in all while restarting",
            downtime.as_secs_f64()
        ),
        target: "report".into(),
    });
    // Every worker made progress.
    for (what, kind) in load::PROGRESS {
        let n = stats.get(kind);
        rows.push(Row {
            what: (*what).to_owned(),
            result: n.to_string(),
            target: verdict(n > 0, "> 0"),
        });
    }
    let mut other = String::new();
    for (k, v) in stats.snapshot() {
        if !load::PROGRESS.iter().any(|(_, p)| *p == k) {
            let _ = write!(other, "{k}: {v}; ");
        }
    }
    rows.push(Row {
        what: "other events (errors by kind, reconnects)".into(),
        result: other.trim_end_matches("; ").to_owned(),
        target: "report".into(),
    });
    match verified {
        Ok(v) => {
            rows.push(Row {
                what: "PERSISTED fragments acknowledged / kept / deleted by retention".into(),
                result: format!("{} / {} / {}", v.acknowledged, v.kept, v.retired),
                target: "report".into(),
            });
            rows.push(Row {
                what: "PERSISTED fragments lost (listing + bytes of the newest)".into(),
                result: format!(
                    "{} lost, {} fragments' bytes checked{}",
                    v.lost.len(),
                    v.bytes_checked,
                    v.lost
                        .first()
                        .map(|l| format!(" (first: {l})"))
                        .unwrap_or_default()
                ),
                target: verdict(v.lost.is_empty() && v.acknowledged > 0, "0 lost"),
            });
        }
        Err(e) => rows.push(Row {
            what: "verification of PERSISTED fragments".into(),
            result: format!("could not run: {e:#}"),
            target: "FAILED".into(),
        }),
    }
    rows.push(Row {
        what: "clean stop (SIGTERM) after the run".into(),
        result: match &stopped {
            Ok(()) => "exit 0".into(),
            Err(e) => format!("{e:#}"),
        },
        target: verdict(stopped.is_ok(), "exit 0"),
    });
    let (check_ok, check_text) = match check {
        Ok(c) => (
            c.problems == 0,
            format!("{} problems, {} leftovers", c.problems, c.leftovers),
        ),
        Err(e) => (false, format!("{e:#}")),
    };
    rows.push(Row {
        what: "`vidstream check` of the data directory".into(),
        result: check_text,
        target: verdict(check_ok, "0 problems"),
    });
    let _ = load.hook_files;
    // Memory and descriptors over time.
    let step = (samples.len() / 10).max(1);
    let mut series = String::new();
    for s in samples.iter().step_by(step) {
        let _ = write!(
            series,
            "{:.0}s:{:.0}MB/{}fd+{}m/{}t ",
            s.secs, s.rss_mb, s.fds, s.memfds, s.threads
        );
    }
    rows.push(Row {
        what: "server over time (RSS / fds + cache memfds / threads)".into(),
        result: series.trim_end().to_owned(),
        target: "report".into(),
    });
    if let (Some((m0, m1)), Some((f0, f1))) = (
        growth(samples, |s| s.rss_mb),
        growth(samples, |s| s.fds as f64),
    ) {
        let mem_ok = m1 <= m0 * 1.5 + 64.0;
        let fd_ok = f1 <= f0 + 64.0;
        rows.push(Row {
            what: "last server lifetime: RSS, 2nd quarter -> last quarter".into(),
            result: format!("{m0:.0} MB -> {m1:.0} MB ({:+.1} MB)", m1 - m0),
            target: verdict(mem_ok, "flat (gross: > 1.5x + 64 MB fails)"),
        });
        rows.push(Row {
            what: "last server lifetime: open fds, 2nd quarter -> last quarter".into(),
            result: format!("{f0:.0} -> {f1:.0} ({:+.0})", f1 - f0),
            target: verdict(fd_ok, "flat (gross: > +64 fails)"),
        });
    }
    Ok(rows)
}
