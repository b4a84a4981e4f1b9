//! `vidstream push`: send a file, an RTSP camera, a test pattern or a V4L2 camera to a KVS
//! endpoint (vidstream or AWS-compatible, plain http) with PutMedia, as a producer would.
//!
//! Sources: a path (MKV with H.264/H.265 is read directly and its frames sent byte for byte;
//! MP4, TS... go through GStreamer `parsebin`, `--transcode` re-encodes to H.264), `rtsp://...`,
//! `testsrc://?width=640&height=480&fps=30&gop=30&bitrate=2000&duration=10`, `v4l2:///dev/video0`.
//! `--realtime` (default) sends at the media's pace, `--fast` as fast as the server takes it.
//! (A directly read MKV file is paced per fragment: each one goes out at its start time.)

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, watch};

use super::target::Target;
use crate::client::pipeline::{Pipeline, Source, TestPattern};
use crate::client::{self, ClientError, Progress, PushOptions};

/// Flags of `vidstream push`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: Target,
    /// Stream name.
    #[arg(long)]
    stream: String,
    /// Create the stream (24 h retention) if it does not exist.
    #[arg(long)]
    create: bool,
    /// Send at the media's own pace (the default).
    #[arg(long, conflicts_with = "fast")]
    realtime: bool,
    /// Send as fast as the server takes it (files and test patterns).
    #[arg(long)]
    fast: bool,
    /// Re-encode to H.264 (for files whose video is not H.264/H.265).
    #[arg(long)]
    transcode: bool,
    /// A file path, rtsp://..., testsrc://?width=&height=&fps=&gop=&bitrate=&duration=, or
    /// v4l2:///dev/videoN.
    source: String,
}

/// A parsed SOURCE argument.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    /// An MKV file read directly.
    MkvFile(PathBuf),
    /// Anything GStreamer reads.
    Gst(Source),
}

/// Parses SOURCE.
pub fn parse_source(s: &str, transcode: bool) -> anyhow::Result<SourceSpec> {
    if s.starts_with("rtsp://") || s.starts_with("rtsps://") {
        return Ok(SourceSpec::Gst(Source::Rtsp { url: s.to_owned() }));
    }
    if let Some(dev) = s.strip_prefix("v4l2://") {
        let device = if dev.is_empty() { "/dev/video0" } else { dev };
        return Ok(SourceSpec::Gst(Source::V4l2 {
            device: device.to_owned(),
        }));
    }
    if let Some(q) = s.strip_prefix("testsrc://") {
        return Ok(SourceSpec::Gst(Source::TestPattern(parse_testsrc(q)?)));
    }
    let path = PathBuf::from(s);
    let mkv = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("mkv") || e.eq_ignore_ascii_case("webm"));
    Ok(if mkv && !transcode {
        SourceSpec::MkvFile(path)
    } else {
        SourceSpec::Gst(Source::File { path, transcode })
    })
}

fn parse_testsrc(q: &str) -> anyhow::Result<TestPattern> {
    let mut t = TestPattern {
        width: 640,
        height: 480,
        fps: 30,
        gop: 30,
        bitrate_kbps: 2000,
        duration: None,
    };
    let q = q.trim_start_matches('/').trim_start_matches('?');
    for kv in q.split('&').filter(|kv| !kv.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let n: u32 = v
            .parse()
            .with_context(|| format!("testsrc: `{k}={v}` is not a number"))?;
        match k {
            "width" => t.width = n,
            "height" => t.height = n,
            "fps" => t.fps = n,
            "gop" => t.gop = n,
            "bitrate" => t.bitrate_kbps = n,
            "duration" => t.duration = Some(Duration::from_secs(u64::from(n))),
            _ => bail!(
                "testsrc: unknown parameter `{k}` (width, height, fps, gop, bitrate, duration)"
            ),
        }
    }
    if t.width == 0 || t.height == 0 || t.fps == 0 || t.gop == 0 || t.bitrate_kbps == 0 {
        bail!("testsrc: width, height, fps, gop and bitrate must be positive");
    }
    Ok(t)
}

/// A started source: its MKV chunks, whether the client must pace them, and the pipeline to keep
/// alive (None for a directly read file).
pub type OpenedSource = (
    mpsc::Receiver<Result<Bytes, ClientError>>,
    bool,
    Option<Pipeline>,
);

/// Starts a source: its MKV chunks, whether the client must pace them, and the pipeline to
/// keep alive (None for a directly read file).
pub fn open_source(spec: &SourceSpec, realtime: bool) -> anyhow::Result<OpenedSource> {
    let (tx, rx) = mpsc::channel(64);
    match spec {
        SourceSpec::MkvFile(path) => {
            let path = path.clone();
            let file = std::fs::File::open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            tokio::spawn(async move {
                let mut f = tokio::fs::File::from_std(file);
                loop {
                    let mut buf = vec![0u8; 256 * 1024];
                    match f.read(&mut buf).await {
                        Ok(0) => return,
                        Ok(n) => {
                            buf.truncate(n);
                            if tx.send(Ok(Bytes::from(buf))).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = tx
                                .send(Err(ClientError::Source(format!("{}: {e}", path.display()))))
                                .await;
                            return;
                        }
                    }
                }
            });
            Ok((rx, realtime, None))
        }
        SourceSpec::Gst(source) => {
            if let Source::File { path, .. } = source {
                std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            }
            let (pipeline, mut chunks) = Pipeline::start(source, realtime)?;
            tokio::spawn(async move {
                while let Some(c) = chunks.recv().await {
                    let c = c.map_err(|e| ClientError::Source(e.to_string()));
                    if tx.send(c).await.is_err() {
                        return;
                    }
                }
            });
            Ok((rx, false, Some(pipeline)))
        }
    }
}

/// Logs progress every second until `rx` closes.
pub async fn log_progress(stream: String, mut rx: watch::Receiver<Progress>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            r = rx.changed() => {
                if r.is_err() { return; }
                continue;
            }
        }
        let p = rx.borrow().clone();
        tracing::info!(
            stream = %stream,
            bytes_sent = p.bytes_sent,
            kbit_per_s = (p.bytes_sent - last) * 8 / 1000,
            fragments_sent = p.fragments_sent,
            fragments_persisted = p.fragments_persisted,
            pending = p.pending,
            reconnects = p.reconnects,
            ack_latency_p50_ms = p.ack_latency_p50_ms.map(|v| v.round() as u64),
            "progress"
        );
        last = p.bytes_sent;
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let api = args.target.api()?;
    let spec = parse_source(&args.source, args.transcode)?;
    let realtime = !args.fast;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async move {
        let (chunks, pace, pipeline) = open_source(&spec, realtime)?;
        let (ptx, prx) = watch::channel(Progress::default());
        let logger = tokio::spawn(log_progress(args.stream.clone(), prx));
        let opts = PushOptions {
            api,
            stream: args.stream.clone(),
            create: args.create,
            pace,
        };
        let result = client::push_mkv(opts, chunks, ptx).await;
        logger.abort();
        drop(pipeline);
        let p = result.with_context(|| format!("push to stream `{}` failed", args.stream))?;
        tracing::info!(
            stream = %args.stream,
            bytes_sent = p.bytes_sent,
            fragments_persisted = p.fragments_persisted,
            fragments_resent = p.fragments_resent,
            fragments_found_stored = p.fragments_found_stored,
            reconnects = p.reconnects,
            ack_latency_p50_ms = p.ack_latency_p50_ms.map(|v| v.round() as u64),
            "push done"
        );
        if p.fragments_evicted > 0 {
            bail!(
                "{} fragments were dropped because the resend buffer was full while disconnected",
                p.fragments_evicted
            );
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse() {
        assert_eq!(
            parse_source("a/b.mkv", false).unwrap(),
            SourceSpec::MkvFile("a/b.mkv".into())
        );
        assert!(matches!(
            parse_source("a/b.mkv", true).unwrap(),
            SourceSpec::Gst(Source::File {
                transcode: true,
                ..
            })
        ));
        assert!(matches!(
            parse_source("x.mp4", false).unwrap(),
            SourceSpec::Gst(Source::File {
                transcode: false,
                ..
            })
        ));
        assert_eq!(
            parse_source("v4l2:///dev/video2", false).unwrap(),
            SourceSpec::Gst(Source::V4l2 {
                device: "/dev/video2".into()
            })
        );
        let SourceSpec::Gst(Source::TestPattern(t)) = parse_source(
            "testsrc://?width=320&height=240&fps=15&gop=15&bitrate=300&duration=3",
            false,
        )
        .unwrap() else {
            panic!("testsrc");
        };
        assert_eq!(
            (t.width, t.height, t.fps, t.gop, t.bitrate_kbps),
            (320, 240, 15, 15, 300)
        );
        assert_eq!(t.duration, Some(Duration::from_secs(3)));
        assert!(parse_source("testsrc://?colour=red", false).is_err());
        assert!(parse_source("testsrc://?width=0", false).is_err());
    }
}
