//! `vidstream gen`: N synthetic cameras pushing to `{prefix}-{i}` concurrently, for load tests
//! and demos, with a live table of throughput and ack latency.
//!
//! Encoding N streams at once is impossible at scale on a small machine (x264 ultrafast takes
//! most of a core at 720p30), so the test pattern is **encoded once** and its fragments are
//! fanned out: each camera gets the same frames in its own Clusters with its own timecodes
//! (ABSOLUTE, from the wall clock when it started). The server cannot tell the cameras apart
//! from real ones except by their identical pictures. A camera whose upload falls behind has
//! fragments dropped (a live source cannot wait), which the table shows.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use super::target::Target;
use crate::client::pipeline::{Pipeline, Source, TestPattern};
use crate::client::remux::{Output, Remuxer, SourceFragment};
use crate::client::{self, Fragment, Progress, UploadConfig, uploader};

/// Flags of `vidstream gen`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: Target,
    /// Number of cameras.
    #[arg(long, default_value_t = 1)]
    cameras: u32,
    /// Width in pixels.
    #[arg(long, default_value_t = 640)]
    width: u32,
    /// Height in pixels.
    #[arg(long, default_value_t = 480)]
    height: u32,
    /// Frames per second.
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Encoder bitrate in kbit/s.
    #[arg(long, default_value_t = 1000)]
    bitrate_kbps: u32,
    /// Frames per GOP (one fragment each).
    #[arg(long, default_value_t = 30)]
    gop: u32,
    /// How long to run; 0 = until interrupted.
    #[arg(long, default_value_t = 0)]
    duration_secs: u64,
    /// Stream names are `{prefix}-{i}`; missing streams are created.
    #[arg(long, default_value = "gen")]
    prefix: String,
}

/// Per-camera queue of fragments (a few seconds of video).
const CAMERA_QUEUE: usize = 8;

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.cameras > 0, "--cameras must be at least 1");
    let api = args.target.api()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async move {
        let names: Vec<String> = (0..args.cameras)
            .map(|i| format!("{}-{i}", args.prefix))
            .collect();
        let mut setups = Vec::new();
        for n in &names {
            setups.push(
                api.prepare_stream(n, true)
                    .await
                    .with_context(|| format!("preparing stream `{n}`"))?,
            );
        }
        let pattern = TestPattern {
            width: args.width,
            height: args.height,
            fps: args.fps,
            gop: args.gop,
            bitrate_kbps: args.bitrate_kbps,
            duration: (args.duration_secs > 0).then(|| Duration::from_secs(args.duration_secs)),
        };
        let (pipeline, mut chunks) = Pipeline::start(&Source::TestPattern(pattern), true)?;
        // Remux once, until the header is known.
        let mut remux = Remuxer::new();
        let mut early: Vec<SourceFragment> = Vec::new();
        let head: Bytes = loop {
            let c = chunks
                .recv()
                .await
                .context("the test pattern ended before its header")??;
            let mut head = None;
            for o in remux.push(&c)? {
                match o {
                    Output::Head(h) => head = Some(h),
                    Output::Fragment(f) => early.push(f),
                }
            }
            if let Some(h) = head {
                break h;
            }
        };
        let mut senders = Vec::new();
        let mut progress = Vec::new();
        let mut uploads = Vec::new();
        for (name, setup) in names.iter().zip(setups) {
            let (tx, rx) = mpsc::channel::<Fragment>(CAMERA_QUEUE);
            let (ptx, prx) = watch::channel(Progress::default());
            let cfg = UploadConfig::new(api.clone(), name, setup.put_media_endpoint, setup.retention_hours == 0);
            uploads.push((name.clone(), tokio::spawn(uploader::upload(cfg, head.clone(), rx, ptx))));
            senders.push((tx, client::now_ms(), 0u64));
            progress.push((name.clone(), prx));
        }
        let table = tokio::spawn(print_table(Arc::new(progress)));
        let fan = |f: SourceFragment, senders: &mut Vec<(mpsc::Sender<Fragment>, u64, u64)>| {
            for (tx, base, dropped) in senders.iter_mut() {
                let tc = *base + f.offset_ms;
                if tx
                    .try_send(Fragment {
                        timecode_ms: tc,
                        bytes: f.serialize(tc),
                    })
                    .is_err()
                {
                    *dropped += 1;
                    tracing::warn!(timecode = tc, "camera upload behind; fragment dropped");
                }
            }
        };
        for f in early {
            fan(f, &mut senders);
        }
        let mut source_err = None;
        loop {
            let outs = match chunks.recv().await {
                Some(Ok(c)) => remux.push(&c),
                Some(Err(e)) => {
                    source_err = Some(anyhow::Error::new(e));
                    break;
                }
                None => {
                    let last = remux.finish();
                    if let Ok(outs) = last {
                        for o in outs {
                            if let Output::Fragment(f) = o {
                                fan(f, &mut senders);
                            }
                        }
                    }
                    break;
                }
            };
            for o in outs? {
                if let Output::Fragment(f) = o {
                    fan(f, &mut senders);
                }
            }
        }
        drop(senders);
        drop(pipeline);
        let mut failed = 0;
        for (name, h) in uploads {
            match h.await {
                Ok(Ok(p)) => tracing::info!(stream = %name, fragments_persisted = p.fragments_persisted, bytes_sent = p.bytes_sent, "camera done"),
                Ok(Err(e)) => {
                    failed += 1;
                    tracing::error!(stream = %name, error = %e, "camera failed");
                }
                Err(e) => {
                    failed += 1;
                    tracing::error!(stream = %name, error = %e, "camera task failed");
                }
            }
        }
        table.abort();
        if let Some(e) = source_err {
            return Err(e.context("test pattern pipeline failed"));
        }
        anyhow::ensure!(failed == 0, "{failed} of {} cameras failed", names.len());
        Ok(())
    })
}

/// Logs a table of per-camera and total throughput and ack latency every second.
async fn print_table(cams: Arc<Vec<(String, watch::Receiver<Progress>)>>) {
    let mut last: Vec<u64> = vec![0; cams.len()];
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        let mut out = format!(
            "\n{:<16} {:>10} {:>10} {:>8} {:>8} {:>10}\n",
            "stream", "kbit/s", "persisted", "pending", "resent", "p50 ms"
        );
        let (mut kbps, mut persisted, mut pending) = (0u64, 0u64, 0usize);
        let mut p50s = Vec::new();
        for (i, (name, rx)) in cams.iter().enumerate() {
            let p = rx.borrow().clone();
            let rate = p.bytes_sent.saturating_sub(last[i]) * 8 / 1000;
            last[i] = p.bytes_sent;
            kbps += rate;
            persisted += p.fragments_persisted;
            pending += p.pending;
            if let Some(v) = p.ack_latency_p50_ms {
                p50s.push(v);
            }
            out.push_str(&format!(
                "{:<16} {:>10} {:>10} {:>8} {:>8} {:>10}\n",
                name,
                rate,
                p.fragments_persisted,
                p.pending,
                p.fragments_resent,
                p.ack_latency_p50_ms
                    .map(|v| format!("{v:.0}"))
                    .unwrap_or_else(|| "-".into())
            ));
        }
        p50s.sort_by(f64::total_cmp);
        out.push_str(&format!(
            "{:<16} {:>10} {:>10} {:>8} {:>8} {:>10}",
            "total",
            kbps,
            persisted,
            pending,
            "",
            p50s.get(p50s.len() / 2)
                .map(|v| format!("{v:.0}"))
                .unwrap_or_else(|| "-".into())
        ));
        tracing::info!("{out}");
    }
}
