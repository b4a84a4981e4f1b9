//! A small KVS producer client: what `vidstream push` and `vidstream gen` use to send video to
//! vidstream (or to anything speaking the KVS wire API).
//!
//! - Requests are signed with [`crate::auth::sigv4::Signer`] (AWS Signature Version 4), the same
//!   canonicalization the server verifies with.
//! - [`http`]: the bit of HTTP/1.1 we need, on a tokio `TcpStream` or TLS over it (rustls) for
//!   `https://`.
//! - [`control`]: describeStream → createStream → getDataEndpoint, as kvssink calls them, and
//!   listFragments.
//! - [`remux`]: any MKV byte stream → one body header + self-contained fragments.
//! - [`uploader`]: the PutMedia upload with acks, reconnects and resends.
//! - [`pipeline`]: GStreamer sources (files, RTSP, test pattern, V4L2) → MKV chunks; the only
//!   GStreamer on the producer side.
//!
//! Timecodes are ABSOLUTE: a fragment's Cluster Timecode is `start wall clock (ms) + its offset in
//! the source`. That makes the producer timestamp of a fragment the same on every connection, so
//! after a reconnect "was this stored?" is one ListFragments by producer timestamp, and acks are
//! matched to fragments by the timecode they carry. The catch: a source pushed "as fast as
//! possible" gets timestamps ahead of the wall clock, so pushing again to the same stream right
//! away is refused (4004) until the wall clock passes the previous push's last frame.
//!
//! Errors are [`ClientError`]; `Fatal` ones (stream not found, invalid media, 4006/4010/4012...)
//! are never retried.

pub mod control;
pub mod http;
pub mod pipeline;
pub mod remux;
pub mod uploader;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tracing::info;

pub use control::Api;
pub use uploader::{Fragment, Progress, UploadConfig};

/// Client failures.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The endpoint URL is unusable.
    #[error("invalid endpoint {0}")]
    Endpoint(String),
    /// Network failure (retryable).
    #[error("network: {0}")]
    Io(String),
    /// The peer spoke something we do not understand.
    #[error("protocol: {0}")]
    Protocol(String),
    /// Not retryable: the server refused the stream or the media.
    #[error("{0}")]
    Fatal(String),
    /// The media source failed or produced unusable MKV.
    #[error("source: {0}")]
    Source(String),
}

/// What to push where.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Control-plane API.
    pub api: Api,
    /// Stream name.
    pub stream: String,
    /// Create the stream when describeStream says 404.
    pub create: bool,
    /// Hold each fragment until its time since the start has passed (for sources that are not
    /// paced themselves, e.g. a file read directly).
    pub pace: bool,
}

/// Now, in epoch ms.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Pushes an MKV byte stream (`chunks`, ending with the channel) to `opts.stream`.
pub async fn push_mkv(
    opts: PushOptions,
    mut chunks: mpsc::Receiver<Result<Bytes, ClientError>>,
    progress: watch::Sender<Progress>,
) -> Result<Progress, ClientError> {
    let setup = opts.api.prepare_stream(&opts.stream, opts.create).await?;
    info!(stream = %opts.stream, arn = %setup.arn, created = setup.created, "stream ready");
    let (frag_tx, frag_rx) = mpsc::channel::<Fragment>(4);
    let (head_tx, head_rx) = tokio::sync::oneshot::channel::<Bytes>();
    let pace = opts.pace;
    let source = tokio::spawn(async move {
        let mut remux = remux::Remuxer::new();
        let mut head_tx = Some(head_tx);
        let mut base: Option<(u64, Instant)> = None;
        let mut outs = Vec::new();
        loop {
            let ended = match chunks.recv().await {
                Some(Ok(b)) => {
                    outs.extend(remux.push(&b)?);
                    false
                }
                Some(Err(e)) => return Err(e),
                None => {
                    outs.extend(remux.finish()?);
                    true
                }
            };
            for o in outs.drain(..) {
                match o {
                    remux::Output::Head(h) => {
                        if let Some(t) = head_tx.take() {
                            let _ = t.send(h);
                        }
                    }
                    remux::Output::Fragment(f) => {
                        let (base_ms, t0) = *base.get_or_insert_with(|| (now_ms(), Instant::now()));
                        if pace {
                            tokio::time::sleep_until(
                                (t0 + Duration::from_millis(f.offset_ms)).into(),
                            )
                            .await;
                        }
                        let tc = base_ms + f.offset_ms;
                        let frag = Fragment {
                            timecode_ms: tc,
                            bytes: f.serialize(tc),
                        };
                        if frag_tx.send(frag).await.is_err() {
                            return Ok(());
                        }
                    }
                }
            }
            if ended {
                return Ok(());
            }
        }
    });
    let head = match head_rx.await {
        Ok(h) => h,
        Err(_) => {
            return Err(match source.await {
                Ok(Err(e)) => e,
                _ => ClientError::Source("the source ended before its MKV Tracks".into()),
            });
        }
    };
    let cfg = UploadConfig::new(
        opts.api.clone(),
        &opts.stream,
        setup.put_media_endpoint,
        setup.retention_hours == 0,
    );
    let result = uploader::upload(cfg, head, frag_rx, progress).await;
    if result.is_err() {
        source.abort();
        return result;
    }
    // A source error wins: the upload only ended because the source did.
    match source.await {
        Ok(Err(e)) => Err(e),
        Err(e) => Err(ClientError::Source(format!("source task: {e}"))),
        Ok(Ok(())) => result,
    }
}
