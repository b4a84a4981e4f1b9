//! `vidstream bench hook`: what the frame hook (image generation) costs and how it behaves
//! under a slow destination, with a real server in this process.
//!
//! The input is the one of `bench images` (640x480, 30 fps, H.264 with B-frames, a keyframe
//! every second), `--seconds` long, sent with PutMedia as fast as the server takes it:
//! - baseline: ingest into a stream without a hook; CPU time of this process;
//! - throughput: the same into a stream whose hook makes a JPEG (q80, native size) every 200 ms
//!   to a `file://` destination; pictures per CPU-second spent beyond the baseline ("per core");
//! - slow destination: a webhook (on loopback) that takes 1 s per POST, queue of 8; ingest wall
//!   time as a ratio to the baseline's (target ≈ 1: ingest never waits) and the counters
//!   (dropped = oldest pictures the queue gave up).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::images::{cpu_secs, make_input};
use super::{Args, Row, print_rows, tempdir_in};

/// Epoch ms the input's RELATIVE timecodes start from (a multiple of the sampling interval).
const START_MS: i64 = 1_700_000_000_000;
/// The hook's sampling interval, ms.
const INTERVAL_MS: i64 = 200;

/// Runs the benchmark and prints its table.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let work = tempdir_in(&args.dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let result = rt.block_on(measure(&work, args.seconds.max(1)));
    drop(rt);
    let _ = std::fs::remove_dir_all(&work);
    print_rows(result?)
}

async fn measure(work: &Path, seconds: u64) -> anyhow::Result<Vec<Row>> {
    let input = work.join("input.mkv");
    let frames = u32::try_from(seconds * 30).unwrap_or(u32::MAX);
    make_input(&input, frames)?;
    let body = std::fs::read(&input).context("reading the input")?;
    let images = work.join("images");
    let mut config = crate::config::Config {
        listen: "127.0.0.1:0".parse().context("listen address")?,
        data_dir: work.join("data"),
        ..Default::default()
    };
    config.auth.root_access_key_id = Some(super::client::ACCESS_KEY.into());
    config.auth.root_secret_access_key = Some(super::client::SECRET_KEY.into());
    config.hook.file_root = images.to_string_lossy().into_owned();
    config.hook.queue_capacity = 8;
    config.hook.webhook_attempts = 1;
    config.hook.webhook_timeout_ms = 30_000;
    // The slow webhook listens on loopback, which webhooks may not reach by default.
    config.hook.webhook_allowed_networks = crate::egress::networks(crate::egress::LOOPBACK);
    let server = crate::server::Server::bind(&config, Arc::new(crate::time::SystemClock))
        .await
        .context("starting the server")?;
    let url = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let hook = slow_webhook().await?;
    let out = scenarios(&http, &url, &body, &images, &hook).await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(20), task).await;
    out
}

async fn scenarios(
    http: &reqwest::Client,
    url: &str,
    body: &[u8],
    images: &Path,
    webhook: &str,
) -> anyhow::Result<Vec<Row>> {
    for name in ["bench-base", "bench-hook", "bench-slow"] {
        call(
            http,
            url,
            "/createStream",
            json!({"StreamName": name, "DataRetentionInHours": 1}),
        )
        .await?;
    }
    // Streams become ACTIVE within milliseconds.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cfg = |uri: &str| {
        json!({
            "Status": "ENABLED",
            "ImageSelectorType": "PRODUCER_TIMESTAMP",
            "DestinationConfig": {"Uri": uri, "DestinationRegion": "us-east-1"},
            "SamplingInterval": INTERVAL_MS,
            "Format": "JPEG",
        })
    };
    let file_uri = format!("file://{}", images.display());
    for (name, uri) in [("bench-hook", file_uri.as_str()), ("bench-slow", webhook)] {
        call(
            http,
            url,
            "/updateImageGenerationConfiguration",
            json!({"StreamName": name, "ImageGenerationConfiguration": cfg(uri)}),
        )
        .await?;
    }

    let cpu0 = cpu_secs(false)?;
    let t0 = Instant::now();
    let fragments = put_media(http, url, "bench-base", body).await?;
    let base_wall = t0.elapsed().as_secs_f64();
    let base_cpu = cpu_secs(false)? - cpu0;

    let cpu0 = cpu_secs(false)?;
    let t0 = Instant::now();
    put_media(http, url, "bench-hook", body).await?;
    let st = settled(http, url, "bench-hook", false).await?;
    let hook_wall = t0.elapsed().as_secs_f64();
    let hook_cpu = (cpu_secs(false)? - cpu0 - base_cpu).max(1e-9);
    let made = st["Generated"].as_u64().unwrap_or(0);
    if made == 0 || st["Delivered"] != st["Generated"] {
        bail!("the file hook did not deliver every picture: {st}");
    }

    let t0 = Instant::now();
    put_media(http, url, "bench-slow", body).await?;
    let slow_wall = t0.elapsed().as_secs_f64();
    let slow = settled(http, url, "bench-slow", true).await?;

    Ok(vec![
        Row {
            what: format!("ingest without hook ({fragments} fragments, 640x480)"),
            result: format!("{base_wall:.2} s wall, {base_cpu:.2} s CPU"),
            target: "baseline".into(),
        },
        Row {
            what: format!("hook: JPEG q80 every {INTERVAL_MS} ms to file://"),
            result: format!(
                "{made} images, {:.0} images/s per core ({:.1} s wall)",
                made as f64 / hook_cpu,
                hook_wall
            ),
            target: "-".into(),
        },
        Row {
            what: "hook: webhook at 1 s per POST, queue of 8".into(),
            result: format!(
                "ingest {:.2}x baseline; {} made, {} delivered, {} dropped",
                slow_wall / base_wall.max(1e-9),
                slow["Generated"],
                slow["Delivered"],
                slow["Dropped"]
            ),
            target: "ingest ~1x; drops counted".into(),
        },
    ])
}

async fn call(http: &reqwest::Client, url: &str, path: &str, body: Value) -> anyhow::Result<Value> {
    let mut req = http
        .post(format!("{url}{path}"))
        .body(body.to_string())
        .build()?;
    super::client::sign_reqwest(&mut req)?;
    let r = http
        .execute(req)
        .await
        .with_context(|| format!("POST {path}"))?;
    let status = r.status();
    let bytes = r.bytes().await.with_context(|| format!("{path} answer"))?;
    let v: Value = serde_json::from_slice(&bytes).with_context(|| format!("{path} answer"))?;
    if !status.is_success() {
        bail!("{path}: {status} {v}");
    }
    Ok(v)
}

/// PutMedia of the whole input; returns the PERSISTED count.
async fn put_media(
    http: &reqwest::Client,
    url: &str,
    stream: &str,
    body: &[u8],
) -> anyhow::Result<usize> {
    let mut req = http
        .post(format!("{url}/putMedia"))
        .header("x-amzn-stream-name", stream)
        .header("x-amzn-fragment-timecode-type", "RELATIVE")
        .header(
            "x-amzn-producer-start-timestamp",
            format!("{:.3}", START_MS as f64 / 1000.0),
        )
        .body(body.to_vec())
        .build()?;
    super::client::sign_reqwest(&mut req)?;
    let r = http.execute(req).await.context("putMedia")?;
    let text = r.text().await.context("putMedia acks")?;
    let n = text.matches("\"PERSISTED\"").count();
    if n == 0 {
        bail!("putMedia persisted nothing: {text}");
    }
    Ok(n)
}

/// Polls DescribeImageGenerationConfiguration until the hook has made its last picture: the
/// counters stop moving for a second with nothing queued (and, unless `slow`, everything
/// delivered).
async fn settled(
    http: &reqwest::Client,
    url: &str,
    stream: &str,
    slow: bool,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut last = Value::Null;
    let mut stable_since = Instant::now();
    loop {
        let d = call(
            http,
            url,
            "/describeImageGenerationConfiguration",
            json!({"StreamName": stream}),
        )
        .await?;
        let st = d["DeliveryStatus"].clone();
        let done = if slow {
            st["Generated"] == last["Generated"]
        } else {
            st["Queued"] == 0 && st["Delivered"] == st["Generated"] && st == last
        };
        if !done {
            stable_since = Instant::now();
        } else if stable_since.elapsed() > Duration::from_secs(1) {
            return Ok(st);
        }
        if Instant::now() > deadline {
            bail!("the hook of {stream} did not settle: {st}");
        }
        last = st;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A webhook on loopback that takes 1 s per POST; returns its URL.
async fn slow_webhook() -> anyhow::Result<String> {
    let app = axum::Router::new().route(
        "/slow",
        axum::routing::post(|| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            "ok"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the webhook")?;
    let addr = listener.local_addr().context("webhook address")?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}/slow"))
}
