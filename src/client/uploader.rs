//! The PutMedia uploader: streams fragments over one chunked request, reads the ack stream
//! concurrently, and survives dropped connections without losing or duplicating fragments.
//!
//! Every fragment's bytes are kept, keyed by its Cluster Timecode (ABSOLUTE epoch ms, which is
//! also the `FragmentTimecode` of its acks), until its PERSISTED ack (RECEIVED for a stream
//! with 0 h retention, which never persists). When the connection drops, the uploader backs off
//! (capped exponential, with jitter), reconnects, and resends what is still unacknowledged.
//!
//! Lost acks: a fragment may have been stored just before the connection dropped and its ack
//! lost. Resending it would be refused with 4004 (its timecode is not after the stream's last
//! frame). So, before resending, the uploader asks ListFragments (PRODUCER_TIMESTAMP, the range
//! of the unacknowledged timecodes) which of them are stored and forgets those. A fragment the
//! old session was still persisting while we listed can still get 4004 on the resend: then it
//! is looked up again by its exact timestamp, and counted as stored if found; otherwise 4004 is
//! fatal. Producer timestamps are unique per fragment here because timecodes are ABSOLUTE.
//!
//! Memory is bounded by `max_buffer_bytes`: while connected, the uploader stops taking new
//! fragments from the source when the unacknowledged bytes reach it (back-pressure); while
//! disconnected it keeps taking them (a live source cannot wait) and evicts the oldest, counting
//! them in [`Progress::fragments_evicted`] and logging a warning.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::io::{ReadHalf, WriteHalf};

use super::http::Conn;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::ClientError;
use super::control::Api;
use super::http::{self, ChunkedDecoder, Endpoint};
use crate::auth::sigv4::EMPTY_PAYLOAD_SHA256;

/// One fragment ready to send.
#[derive(Debug, Clone)]
pub struct Fragment {
    /// Its Cluster Timecode: epoch ms (ABSOLUTE).
    pub timecode_ms: u64,
    /// Cluster + end-of-fragment tag.
    pub bytes: Bytes,
}

/// Settings of one upload.
#[derive(Debug, Clone)]
pub struct UploadConfig {
    /// Control plane (for ListFragments after a reconnect).
    pub api: Api,
    /// Stream name.
    pub stream: String,
    /// The PUT_MEDIA data endpoint.
    pub put_media: Endpoint,
    /// The stream keeps no data (0 h retention): RECEIVED is the final ack.
    pub ack_on_received: bool,
    /// Cap on the bytes kept for resending.
    pub max_buffer_bytes: usize,
    /// First backoff delay.
    pub backoff_min: Duration,
    /// Largest backoff delay.
    pub backoff_max: Duration,
    /// Consecutive failed connection attempts before giving up.
    pub max_failures: u32,
}

impl UploadConfig {
    /// Defaults: 64 MiB buffer, 250 ms → 10 s backoff, 20 attempts.
    pub fn new(api: Api, stream: &str, put_media: Endpoint, ack_on_received: bool) -> Self {
        UploadConfig {
            api,
            stream: stream.to_owned(),
            put_media,
            ack_on_received,
            max_buffer_bytes: 64 << 20,
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(10),
            max_failures: 20,
        }
    }
}

/// What the upload has done so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// Body bytes written (including resends).
    pub bytes_sent: u64,
    /// Fragments written (including resends).
    pub fragments_sent: u64,
    /// Fragments acknowledged PERSISTED (or found stored after a reconnect).
    pub fragments_persisted: u64,
    /// Fragments written again after a reconnect.
    pub fragments_resent: u64,
    /// Fragments found already stored after a reconnect (their ack was lost).
    pub fragments_found_stored: u64,
    /// Fragments evicted from the resend buffer while disconnected (lost).
    pub fragments_evicted: u64,
    /// Reconnections.
    pub reconnects: u64,
    /// Median of the recent ack latencies (last byte written → PERSISTED), ms.
    pub ack_latency_p50_ms: Option<f64>,
    /// Fragments waiting for their ack.
    pub pending: usize,
}

#[derive(Debug)]
struct Pending {
    frag: Fragment,
    sent_at: Option<Instant>,
    sends: u32,
}

#[derive(Debug)]
enum AckMsg {
    Ack(Ack),
    Closed(String),
}

#[derive(Debug)]
struct Ack {
    event: String,
    timecode: i64,
    error_id: Option<i64>,
    error_code: Option<String>,
}

/// Uploads `fragments` (after `head`) until the channel closes and every fragment is
/// acknowledged. Progress is published on `progress` after every change.
pub async fn upload(
    cfg: UploadConfig,
    head: Bytes,
    fragments: mpsc::Receiver<Fragment>,
    progress: watch::Sender<Progress>,
) -> Result<Progress, ClientError> {
    let mut up = Uploader {
        cfg,
        head,
        fragments,
        progress,
        p: Progress::default(),
        pending: VecDeque::new(),
        pending_bytes: 0,
        latencies: VecDeque::new(),
        source_done: false,
    };
    up.run().await?;
    Ok(up.p)
}

struct Uploader {
    cfg: UploadConfig,
    head: Bytes,
    fragments: mpsc::Receiver<Fragment>,
    progress: watch::Sender<Progress>,
    p: Progress,
    pending: VecDeque<Pending>,
    pending_bytes: usize,
    latencies: VecDeque<f64>,
    source_done: bool,
}

/// Why a connection ended.
enum Ended {
    /// Dropped or refused in a retryable way: back off, reconnect.
    Failed(String),
    /// The server ended the session on purpose and we know why (e.g. a verified duplicate):
    /// reconnect at once.
    Restart,
    /// Everything was sent and acknowledged.
    Done,
}

impl Uploader {
    async fn run(&mut self) -> Result<(), ClientError> {
        let mut failures = 0u32;
        let mut first = true;
        loop {
            if self.source_done && self.pending.is_empty() {
                self.publish();
                return Ok(());
            }
            if !first {
                self.p.reconnects += 1;
                if self.pending.iter().any(|p| p.sends > 0)
                    && let Err(e) = self.forget_stored().await
                {
                    warn!(error = %e, "could not check which fragments are stored; resending all");
                }
            }
            first = false;
            match self.connection().await? {
                Ended::Done => {
                    self.publish();
                    return Ok(());
                }
                Ended::Restart => failures = 0,
                Ended::Failed(why) => {
                    failures += 1;
                    if failures > self.cfg.max_failures {
                        return Err(ClientError::Fatal(format!(
                            "giving up after {failures} failed connections; last: {why}"
                        )));
                    }
                    let delay = self.backoff(failures);
                    warn!(reason = %why, retry_in_ms = delay.as_millis() as u64, pending = self.pending.len(), "putMedia connection lost");
                    self.wait(delay).await;
                }
            }
        }
    }

    fn backoff(&self, failures: u32) -> Duration {
        let exp = self
            .cfg
            .backoff_min
            .saturating_mul(1u32 << failures.min(16).saturating_sub(1))
            .min(self.cfg.backoff_max);
        // Full jitter on the upper half keeps many producers from reconnecting in lockstep.
        let half = exp / 2;
        half + half.mul_f64(rand::rng().random::<f64>())
    }

    /// Sleeps, still accepting fragments from a live source (with eviction).
    async fn wait(&mut self, delay: Duration) {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => return,
                f = self.fragments.recv(), if !self.source_done => match f {
                    Some(f) => self.add(f, true),
                    None => self.source_done = true,
                },
            }
        }
    }

    fn add(&mut self, f: Fragment, evict: bool) {
        self.pending_bytes += f.bytes.len();
        self.pending.push_back(Pending {
            frag: f,
            sent_at: None,
            sends: 0,
        });
        while evict && self.pending_bytes > self.cfg.max_buffer_bytes && self.pending.len() > 1 {
            if let Some(old) = self.pending.pop_front() {
                self.pending_bytes -= old.frag.bytes.len();
                self.p.fragments_evicted += 1;
                warn!(
                    timecode = old.frag.timecode_ms,
                    cap = self.cfg.max_buffer_bytes,
                    "resend buffer full; fragment dropped"
                );
            }
        }
        self.p.pending = self.pending.len();
    }

    fn remove(&mut self, timecode: i64) -> Option<Pending> {
        let i = self
            .pending
            .iter()
            .position(|p| p.frag.timecode_ms as i64 == timecode)?;
        let p = self.pending.remove(i)?;
        self.pending_bytes -= p.frag.bytes.len();
        self.p.pending = self.pending.len();
        Some(p)
    }

    fn publish(&self) {
        self.progress.send_replace(self.p.clone());
    }

    /// ListFragments over the unacknowledged range; forgets what is stored.
    async fn forget_stored(&mut self) -> Result<(), ClientError> {
        let sent: Vec<i64> = self
            .pending
            .iter()
            .filter(|p| p.sends > 0)
            .map(|p| p.frag.timecode_ms as i64)
            .collect();
        let (Some(lo), Some(hi)) = (sent.iter().min(), sent.iter().max()) else {
            return Ok(());
        };
        let listed = self.list(*lo, *hi).await?;
        for l in listed {
            if sent.contains(&l.producer_ms) && self.remove(l.producer_ms).is_some() {
                self.p.fragments_persisted += 1;
                self.p.fragments_found_stored += 1;
                debug!(
                    timecode = l.producer_ms,
                    "stored before the connection dropped"
                );
            }
        }
        self.publish();
        Ok(())
    }

    async fn list(
        &self,
        lo: i64,
        hi: i64,
    ) -> Result<Vec<super::control::ListedFragment>, ClientError> {
        let api = Api {
            endpoint: self
                .cfg
                .api
                .data_endpoint(&self.cfg.stream, "LIST_FRAGMENTS")
                .await?,
            signer: self.cfg.api.signer.clone(),
        };
        api.list_fragments(&self.cfg.stream, lo, hi).await
    }

    /// One PutMedia connection: returns how it ended, or a fatal error.
    async fn connection(&mut self) -> Result<Ended, ClientError> {
        let (mut tx, mut acks) = match self.open().await {
            Ok(x) => x,
            Err(e @ ClientError::Fatal(_)) => return Err(e),
            Err(e) => return Ok(Ended::Failed(e.to_string())),
        };
        // Resend what is unacknowledged, oldest first.
        for i in 0..self.pending.len() {
            let bytes = self.pending[i].frag.bytes.clone();
            if let Err(e) = write_chunk(&mut tx, &bytes).await {
                return Ok(Ended::Failed(format!("write: {e}")));
            }
            let p = &mut self.pending[i];
            p.sends += 1;
            p.sent_at = Some(Instant::now());
            if p.sends > 1 {
                self.p.fragments_resent += 1;
            }
            self.p.bytes_sent += bytes.len() as u64;
            self.p.fragments_sent += 1;
        }
        self.publish();
        let mut body_ended = false;
        loop {
            if self.source_done && !body_ended {
                if let Err(e) = tx.write_all(b"0\r\n\r\n").await {
                    return Ok(Ended::Failed(format!("write: {e}")));
                }
                body_ended = true;
            }
            if self.source_done && self.pending.is_empty() {
                return Ok(Ended::Done);
            }
            let room = self.pending_bytes < self.cfg.max_buffer_bytes;
            tokio::select! {
                f = self.fragments.recv(), if !self.source_done && room => match f {
                    None => self.source_done = true,
                    Some(f) => {
                        let bytes = f.bytes.clone();
                        self.add(f, false);
                        if let Err(e) = write_chunk(&mut tx, &bytes).await {
                            return Ok(Ended::Failed(format!("write: {e}")));
                        }
                        if let Some(p) = self.pending.back_mut() {
                            p.sends = 1;
                            p.sent_at = Some(Instant::now());
                        }
                        self.p.bytes_sent += bytes.len() as u64;
                        self.p.fragments_sent += 1;
                        self.publish();
                    }
                },
                a = acks.recv() => match a {
                    Some(AckMsg::Ack(ack)) => {
                        if let Some(end) = self.on_ack(ack).await? {
                            return Ok(end);
                        }
                    }
                    Some(AckMsg::Closed(why)) => return Ok(Ended::Failed(why)),
                    None => return Ok(Ended::Failed("ack reader ended".into())),
                },
            }
        }
    }

    async fn on_ack(&mut self, ack: Ack) -> Result<Option<Ended>, ClientError> {
        let done = match ack.event.as_str() {
            "PERSISTED" => true,
            "RECEIVED" => self.cfg.ack_on_received,
            "ERROR" => return self.on_error(ack).await,
            _ => false,
        };
        if done && let Some(p) = self.remove(ack.timecode) {
            if let Some(t) = p.sent_at {
                self.latencies.push_back(t.elapsed().as_secs_f64() * 1000.0);
                if self.latencies.len() > 256 {
                    self.latencies.pop_front();
                }
                let mut v: Vec<f64> = self.latencies.iter().copied().collect();
                v.sort_by(f64::total_cmp);
                self.p.ack_latency_p50_ms = v.get(v.len() / 2).copied();
            }
            self.p.fragments_persisted += 1;
            self.publish();
        }
        Ok(None)
    }

    async fn on_error(&mut self, ack: Ack) -> Result<Option<Ended>, ClientError> {
        let id = ack.error_id.unwrap_or(0);
        let code = ack.error_code.clone().unwrap_or_default();
        let resent = self
            .pending
            .iter()
            .any(|p| p.frag.timecode_ms as i64 == ack.timecode && p.sends > 1);
        match id {
            4004 if resent => {
                // Stored by the previous session while we were listing? Look it up exactly.
                for _ in 0..10 {
                    let found = self.list(ack.timecode, ack.timecode).await?;
                    if found.iter().any(|f| f.producer_ms == ack.timecode) {
                        self.remove(ack.timecode);
                        self.p.fragments_persisted += 1;
                        self.p.fragments_found_stored += 1;
                        self.publish();
                        info!(
                            timecode = ack.timecode,
                            "resent fragment was already stored"
                        );
                        return Ok(Some(Ended::Restart));
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(ClientError::Fatal(format!(
                    "fragment {} was refused as out of order (4004) and is not stored; the stream has newer data from another producer?",
                    ack.timecode
                )))
            }
            // Broken read, connection too old, internal or archival failure: retry.
            4000 | 4003 | 5000 | 5001 => Ok(Some(Ended::Failed(format!(
                "server error {id} {code} at fragment {}",
                ack.timecode
            )))),
            4004 => Err(ClientError::Fatal(format!(
                "putMedia refused fragment {}: ERROR 4004 {code}: the stream already has media after \
                 this push's timestamps (a recent --fast push runs ahead of the clock; wait or use \
                 another stream)",
                ack.timecode
            ))),
            _ => Err(ClientError::Fatal(format!(
                "putMedia refused fragment {}: ERROR {id} {code}",
                ack.timecode
            ))),
        }
    }

    /// Sends the request head and the MKV head, waits for the response status.
    async fn open(&mut self) -> Result<(WriteHalf<Conn>, mpsc::Receiver<AckMsg>), ClientError> {
        let ep = &self.cfg.put_media;
        let s = ep.connect(Duration::from_secs(10)).await?;
        let (rx, mut tx) = tokio::io::split(s);
        let head = self.request_head();
        let io = |e: std::io::Error| ClientError::Io(e.to_string());
        tx.write_all(head.as_bytes()).await.map_err(io)?;
        write_chunk(&mut tx, &self.head).await.map_err(io)?;
        self.p.bytes_sent += self.head.len() as u64;
        let (ack_tx, ack_rx) = mpsc::channel(1024);
        let (status_tx, status_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(read_acks(rx, status_tx, ack_tx));
        match tokio::time::timeout(Duration::from_secs(10), status_rx).await {
            Err(_) => Err(ClientError::Io("no putMedia response within 10 s".into())),
            Ok(Err(_)) => Err(ClientError::Io(
                "connection closed before the response".into(),
            )),
            Ok(Ok(Ok(()))) => Ok((tx, ack_rx)),
            Ok(Ok(Err(e))) => Err(e),
        }
    }

    fn request_head(&self) -> String {
        let ep = &self.cfg.put_media;
        let path = ep.path("/putMedia");
        let host = ep.host_header();
        let stream = &self.cfg.stream;
        let mut h = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\nUser-Agent: vidstream-push/{}\r\nx-amzn-stream-name: {stream}\r\nx-amzn-fragment-timecode-type: ABSOLUTE\r\nx-amzn-fragment-acknowledgment-required: 1\r\n",
            env!("CARGO_PKG_VERSION")
        );
        if let Some(signer) = &self.cfg.api.signer {
            let signed = [
                ("host", host.as_str()),
                ("x-amzn-fragment-timecode-type", "ABSOLUTE"),
                ("x-amzn-stream-name", stream.as_str()),
            ];
            h.push_str(&signer.auth_lines("POST", &path, &signed, EMPTY_PAYLOAD_SHA256));
        }
        h.push_str("\r\n");
        h
    }
}

async fn write_chunk(tx: &mut WriteHalf<Conn>, data: &[u8]) -> std::io::Result<()> {
    tx.write_all(format!("{:x}\r\n", data.len()).as_bytes())
        .await?;
    tx.write_all(data).await?;
    tx.write_all(b"\r\n").await
}

/// Reads the response head (reports the status once), then newline-separated JSON acks.
async fn read_acks(
    mut rx: ReadHalf<Conn>,
    status: tokio::sync::oneshot::Sender<Result<(), ClientError>>,
    acks: mpsc::Sender<AckMsg>,
) {
    let mut status = Some(status);
    let mut buf = Vec::new();
    let mut tmp = vec![0u8; 16 * 1024];
    let mut dechunk: Option<ChunkedDecoder> = None;
    let mut plain = false;
    let mut body = Vec::new();
    let reason = loop {
        let n = match rx.read(&mut tmp).await {
            Ok(0) => break "connection closed by the server".to_owned(),
            Ok(n) => n,
            Err(e) => break format!("read: {e}"),
        };
        if dechunk.is_none() && !plain {
            buf.extend_from_slice(&tmp[..n]);
            let parsed = match http::parse_head(&buf) {
                Ok(Some(h)) => h,
                Ok(None) => continue,
                Err(e) => break e.to_string(),
            };
            let (code, headers, used) = parsed;
            if code != 200 {
                // Read the (small) error body, then report it as fatal.
                let mut rest = buf[used..].to_vec();
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while rest.len() < 64 * 1024 {
                        match rx.read(&mut tmp).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => rest.extend_from_slice(&tmp[..n]),
                        }
                    }
                })
                .await;
                let text = String::from_utf8_lossy(&rest);
                let json_start = text.find('{').unwrap_or(0);
                let v: Value =
                    serde_json::from_str(text[json_start..].lines().next().unwrap_or(""))
                        .unwrap_or(Value::Null);
                let kind = headers
                    .iter()
                    .find(|(n, _)| n == "x-amzn-errortype")
                    .map(|(_, v)| v.clone())
                    .or_else(|| v["__type"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                let msg = v["message"].as_str().unwrap_or("").to_owned();
                let err = if code >= 500 {
                    ClientError::Io(format!("putMedia: HTTP {code} {kind} {msg}"))
                } else {
                    ClientError::Fatal(format!("putMedia: HTTP {code} {kind}: {msg}"))
                };
                if let Some(s) = status.take() {
                    let _ = s.send(Err(err));
                }
                return;
            }
            if let Some(s) = status.take() {
                let _ = s.send(Ok(()));
            }
            let chunked = headers
                .iter()
                .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
            let rest = buf[used..].to_vec();
            buf.clear();
            if chunked {
                let mut d = ChunkedDecoder::default();
                if let Err(e) = d.push(&rest, &mut body) {
                    break e.to_string();
                }
                dechunk = Some(d);
            } else {
                plain = true;
                body.extend_from_slice(&rest);
            }
        } else if let Some(d) = dechunk.as_mut() {
            if let Err(e) = d.push(&tmp[..n], &mut body) {
                break e.to_string();
            }
        } else {
            body.extend_from_slice(&tmp[..n]);
        }
        while let Some(nl) = body.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = body.drain(..=nl).collect();
            let Ok(v) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            let ack = Ack {
                event: v["EventType"].as_str().unwrap_or("").to_owned(),
                timecode: v["FragmentTimecode"].as_i64().unwrap_or(-1),
                error_id: v["ErrorId"].as_i64(),
                error_code: v["ErrorCode"].as_str().map(str::to_owned),
            };
            debug!(event = %ack.event, timecode = ack.timecode, "ack");
            if acks.send(AckMsg::Ack(ack)).await.is_err() {
                return;
            }
        }
        if body.len() > 1 << 20 {
            break "ack line too long".to_owned();
        }
    };
    if let Some(s) = status.take() {
        let _ = s.send(Err(ClientError::Io(reason.clone())));
    }
    let _ = acks.send(AckMsg::Closed(reason)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uploader(cap: usize) -> (Uploader, mpsc::Sender<Fragment>) {
        let ep = Endpoint::parse("http://127.0.0.1:9").unwrap();
        let api = Api {
            endpoint: ep.clone(),
            signer: None,
        };
        let mut cfg = UploadConfig::new(api, "s", ep, false);
        cfg.max_buffer_bytes = cap;
        let (tx, rx) = mpsc::channel(8);
        let (ptx, _) = watch::channel(Progress::default());
        let up = Uploader {
            cfg,
            head: Bytes::new(),
            fragments: rx,
            progress: ptx,
            p: Progress::default(),
            pending: VecDeque::new(),
            pending_bytes: 0,
            latencies: VecDeque::new(),
            source_done: false,
        };
        (up, tx)
    }

    fn frag(tc: u64, len: usize) -> Fragment {
        Fragment {
            timecode_ms: tc,
            bytes: Bytes::from(vec![0u8; len]),
        }
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let (up, _tx) = uploader(1000);
        for f in 1..40 {
            let d = up.backoff(f);
            let exp = (Duration::from_millis(250) * (1u32 << (f - 1).min(16)))
                .min(Duration::from_secs(10));
            assert!(d >= exp / 2 && d <= exp, "failure {f}: {d:?} vs {exp:?}");
        }
    }

    #[test]
    fn the_resend_buffer_evicts_oldest_when_disconnected() {
        let (mut up, _tx) = uploader(250);
        for tc in 0..5 {
            up.add(frag(tc, 100), true);
        }
        assert_eq!(up.p.fragments_evicted, 3);
        let kept: Vec<u64> = up.pending.iter().map(|p| p.frag.timecode_ms).collect();
        assert_eq!(kept, vec![3, 4]);
        assert_eq!(up.pending_bytes, 200);
        // While connected there is no eviction: back-pressure instead.
        up.add(frag(5, 100), false);
        assert_eq!(up.pending.len(), 3);
        assert!(up.remove(4).is_some());
        assert!(up.remove(4).is_none());
        assert_eq!(up.pending_bytes, 200);
    }
}
