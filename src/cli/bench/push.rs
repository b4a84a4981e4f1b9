//! The push scenario: CPU of `vidstream push` producer processes against a server.
//!
//! - pass-through: N `push --realtime` children of one fixture MKV (H.264 640x480, 30 fps, one
//!   keyframe a second, about 2 Mbit/s, made once by the test-pattern pipeline), i.e. read, pace
//!   and PutMedia, no encoding; their CPU per stream is reported;
//! - test pattern: one `push testsrc://…` child at the same size and bitrate (x264 encoding
//!   included).
//!
//! Each child's CPU time comes from /proc, over the same window for all of them. The children
//! sign their PutMedia with SigV4 (the benchmarks' root key from the environment, as kvssink
//! takes its credentials) and the server checks it; afterwards every pass-through stream must
//! hold fragments, so a refused or failing push cannot pass for a cheap one.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::AsyncWriteExt;

use super::ServerProcess;
use crate::client::pipeline::{Pipeline, Source, TestPattern};

/// Time the children get to connect and settle before the window opens.
const WARMUP: Duration = Duration::from_secs(2);

/// The result: CPU as a share of one core, per pass-through stream and for the pattern.
pub struct PushCpu {
    pub per_stream: f64,
    pub pattern: f64,
    /// Fragments the server persisted from the pass-through pushes.
    pub fragments: usize,
}

fn pattern(seconds: u64) -> TestPattern {
    TestPattern {
        width: 640,
        height: 480,
        fps: 30,
        gop: 30,
        bitrate_kbps: 2000,
        duration: Some(Duration::from_secs(seconds)),
    }
}

/// Writes `seconds` of encoded test pattern to `path` as MKV (as fast as it encodes).
async fn fixture(path: &Path, seconds: u64) -> anyhow::Result<()> {
    let (pipeline, mut rx) = Pipeline::start(&Source::TestPattern(pattern(seconds)), false)
        .context("encoding the fixture")?;
    let mut file = tokio::fs::File::create(path).await?;
    while let Some(chunk) = rx.recv().await {
        file.write_all(&chunk.context("encoding the fixture")?)
            .await?;
    }
    file.flush().await?;
    drop(rx);
    pipeline.stop();
    Ok(())
}

fn cpu_secs(child: &Child) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", child.id())) else {
        return 0.0;
    };
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}

fn push(server: &ServerProcess, stream: &str, source: &str) -> anyhow::Result<Child> {
    Command::new(std::env::current_exe()?)
        .args(["push", "--realtime", "--stream", stream, "--endpoint"])
        .arg(format!("http://{}", server.addr))
        .arg(source)
        .env("AWS_ACCESS_KEY_ID", super::client::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", super::client::SECRET_KEY)
        .env_remove("AWS_SESSION_TOKEN")
        .env("VIDSTREAM_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting vidstream push")
}

/// CPU (share of one core) of `children` over `seconds`, after the warm-up; kills them.
async fn measure(mut children: Vec<Child>, seconds: u64) -> anyhow::Result<f64> {
    tokio::time::sleep(WARMUP).await;
    let t0 = Instant::now();
    let c0: f64 = children.iter().map(cpu_secs).sum();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let c1: f64 = children.iter().map(cpu_secs).sum();
    let secs = t0.elapsed().as_secs_f64();
    let mut exited = 0;
    for c in &mut children {
        if c.try_wait().ok().flatten().is_some() {
            exited += 1;
        }
        let _ = c.kill();
        let _ = c.wait();
    }
    anyhow::ensure!(
        exited == 0,
        "{exited} push process(es) ended before the measurement did"
    );
    Ok((c1 - c0) / secs)
}

/// Runs both rows with `n` pass-through pushes, each for `seconds`.
pub async fn push_cpu(
    server: &ServerProcess,
    work: &Path,
    n: usize,
    seconds: u64,
) -> anyhow::Result<PushCpu> {
    // Long enough that no push reaches the end of the file inside the window.
    let file = work.join("fixture.mkv");
    fixture(&file, seconds + WARMUP.as_secs() + 5).await?;
    server.create_streams("push", n).await?;
    server.create_streams("pattern", 1).await?;
    let source = file.to_string_lossy().into_owned();
    let children = (0..n)
        .map(|i| push(server, &format!("push{i}"), &source))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let all = measure(children, seconds).await?;
    let mut fragments = 0;
    for i in 0..n {
        let held = fragment_count(server, &format!("push{i}")).await?;
        anyhow::ensure!(
            held > 0,
            "stream push{i} holds no fragment: its `vidstream push` was refused or failed"
        );
        fragments += held;
    }
    let url = format!(
        "testsrc://?width=640&height=480&fps=30&gop=30&bitrate=2000&duration={}",
        seconds + WARMUP.as_secs() + 5
    );
    let pattern = measure(vec![push(server, "pattern0", &url)?], seconds).await?;
    Ok(PushCpu {
        per_stream: all / n.max(1) as f64,
        pattern,
        fragments,
    })
}

/// Fragments the server holds for `stream` (ListFragments, signed).
async fn fragment_count(server: &ServerProcess, stream: &str) -> anyhow::Result<usize> {
    let body = serde_json::json!({"StreamName": stream}).to_string();
    let resp = super::client::post_json(server.addr, "/listFragments", &body).await?;
    let json = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .context("listFragments: no body")?;
    let v: serde_json::Value = serde_json::from_str(json).context("listFragments")?;
    Ok(v["Fragments"].as_array().map_or(0, Vec::len))
}
