//! One camera's life: connect, stream into an ingest session, fail, back off, reconnect.
//!
//! Each attempt resolves the target stream, starts an [`RtspPull`] (on the blocking pool: state
//! changes block), and feeds its MKV bytes to [`Ingest::put_media`] as a PutMedia body with
//! RELATIVE timecodes. The producer start timestamp is the server's clock when the pipeline was
//! started: the muxer's timecodes are pipeline running time, so start + timecode is the wall-clock
//! arrival of each frame (minus the jitter buffer latency). Cameras' own RTCP/NTP clocks are often
//! wrong or unset, so the server clock is the more trustworthy choice. The ack stream drives the
//! status (BUFFERING = streaming, RECEIVED = a fragment, ERROR = the session failed).
//!
//! Every failure ends the attempt: the pipeline goes to NULL, the body ends so the ingest session
//! seals and persists what it has, and the runner waits a jittered, capped exponential backoff.
//! When an attempt that delivered media is followed by one that delivers again, the gap between
//! them is recorded as a discontinuity.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};

use super::status::{Backoff, CameraState, CameraStatus, RateMeter};
use super::{Camera, Transport};
use crate::ingest::fragmenter::TimecodeType;
use crate::ingest::rtsp::{RtspEvent, RtspFailure, RtspOptions, RtspPull, RtspTransport};
use crate::ingest::{BodyStream, Ingest, PutMediaRequest};
use crate::store::{Store, StoreError, StreamRef};

/// How cameras are pulled (from `[cameras]` in the config).
#[derive(Debug, Clone)]
pub struct CameraOptions {
    /// First reconnect wait.
    pub backoff_initial: Duration,
    /// Longest reconnect wait.
    pub backoff_max: Duration,
    /// rtspsrc jitter buffer latency in ms.
    pub latency_ms: u32,
    /// No media for this long fails the attempt.
    pub stall_timeout: Duration,
}

/// The status plus when the next attempt is due (turned into `nextAttemptInMs` when read).
#[derive(Debug)]
pub(super) struct Shared {
    pub status: CameraStatus,
    pub next_attempt: Option<Instant>,
}

impl Shared {
    pub fn new(state: CameraState) -> Arc<Mutex<Shared>> {
        Arc::new(Mutex::new(Shared {
            status: CameraStatus::new(state),
            next_attempt: None,
        }))
    }

    /// A copy of the status as of now.
    pub fn snapshot(shared: &Mutex<Shared>) -> CameraStatus {
        let g = lock(shared);
        let mut s = g.status.clone();
        s.next_attempt_in_ms = g.next_attempt.map(|t| {
            u64::try_from(t.saturating_duration_since(Instant::now()).as_millis())
                .unwrap_or(u64::MAX)
        });
        s
    }
}

fn lock(m: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    // A panic while holding the lock leaves plain data behind; keep using it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Why an attempt ended.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Rtsp(#[from] RtspFailure),
    #[error("target {0}")]
    Stream(StoreError),
    #[error("no media from the camera for {0} ms")]
    Stalled(u128),
    #[error("ingest refused the camera's media: {0}")]
    Ingest(String),
    #[error("the ingest session ended")]
    SessionEnded,
}

impl Failure {
    /// Failures that retrying soon will not fix.
    fn needs_a_person(&self) -> bool {
        matches!(
            self,
            Failure::Rtsp(
                RtspFailure::Unauthorized
                    | RtspFailure::NotFound(_)
                    | RtspFailure::UnsupportedCodec(_)
                    | RtspFailure::NoVideo
                    | RtspFailure::MissingElement(_)
            ) | Failure::Stream(_)
                | Failure::Ingest(_)
        )
    }
}

/// Media counters shared with the body stream.
#[derive(Default)]
struct Counters {
    bytes: AtomicU64,
    first_data_ms: AtomicI64,
    last_data_ms: AtomicI64,
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

pub(super) struct Runner {
    pub camera: Camera,
    pub ingest: Ingest,
    pub store: Store,
    pub opts: CameraOptions,
    pub shared: Arc<Mutex<Shared>>,
}

impl Runner {
    /// Attempts, backs off and retries until `stop` turns true (or its sender is dropped).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut backoff = Backoff::new(self.opts.backoff_initial, self.opts.backoff_max);
        let mut last_media_ms: Option<i64> = None;
        let mut first = true;
        loop {
            {
                let mut g = lock(&self.shared);
                if !first {
                    g.status.reconnects += 1;
                }
                g.status.state = CameraState::Connecting;
                g.status.bytes_per_second = 0;
                g.next_attempt = None;
            }
            first = false;
            let (failure, delivered) = self.attempt(&mut stop, &mut last_media_ms).await;
            let Some(failure) = failure else { return };
            if delivered {
                backoff.reset();
            }
            let needs_a_person = failure.needs_a_person();
            let base = if needs_a_person {
                backoff.max()
            } else {
                backoff.next_base()
            };
            let wait = Backoff::jitter(base, rand::random::<f64>());
            tracing::warn!(
                error = %failure,
                retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "camera attempt failed"
            );
            {
                let mut g = lock(&self.shared);
                g.status.state = if needs_a_person {
                    CameraState::Error
                } else {
                    CameraState::Backoff
                };
                g.status.last_error = Some(failure.to_string());
                g.status.bytes_per_second = 0;
                g.next_attempt = Some(Instant::now() + wait);
            }
            tokio::select! {
                _ = stopped(&mut stop) => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One connection. Returns the failure (None = stopped) and whether media was delivered.
    async fn attempt(
        &self,
        stop: &mut watch::Receiver<bool>,
        last_media_ms: &mut Option<i64>,
    ) -> (Option<Failure>, bool) {
        let stream = match self
            .store
            .resolve(&StreamRef::Name(self.camera.stream.clone()))
            .await
        {
            Ok(s) => s,
            Err(e) => return (Some(Failure::Stream(e)), false),
        };
        let opts = RtspOptions {
            url: self.camera.url.clone(),
            username: self.camera.username.clone(),
            password: self.camera.password.clone(),
            transport: match self.camera.transport {
                Transport::Tcp => RtspTransport::Tcp,
                Transport::Udp => RtspTransport::Udp,
            },
            latency_ms: self.opts.latency_ms,
            tcp_timeout_ms: u64::try_from(self.opts.stall_timeout.as_millis()).unwrap_or(u64::MAX),
        };
        let start_ms = self.store.now().0;
        let mut pull = match tokio::task::spawn_blocking(move || RtspPull::start(&opts)).await {
            Ok(Ok(p)) => p,
            Ok(Err(f)) => return (Some(f.into()), false),
            Err(e) => {
                return (
                    Some(RtspFailure::Pipeline(format!("start task failed: {e}")).into()),
                    false,
                );
            }
        };
        tracing::info!(url = %self.camera.url, "camera pipeline started");
        let mut data = std::mem::replace(&mut pull.data, mpsc::channel(1).1);
        let started = Instant::now();
        // The ingest session opens only with the first bytes: a camera that cannot deliver must
        // not take its stream over from another producer (one session per stream).
        let first = loop {
            tokio::select! {
                _ = stopped(stop) => {
                    stop_pull(pull).await;
                    return (None, false);
                }
                Some(ev) = pull.events.recv() => match ev {
                    RtspEvent::Failed(f) => {
                        stop_pull(pull).await;
                        return (Some(f.into()), false);
                    }
                    RtspEvent::Video(codec) => {
                        tracing::info!(codec, "camera video track");
                        lock(&self.shared).status.codec = Some(codec);
                    }
                },
                chunk = data.recv() => match chunk {
                    Some(b) => break b,
                    None => {
                        stop_pull(pull).await;
                        return (Some(RtspFailure::Ended.into()), false);
                    }
                },
                () = tokio::time::sleep_until((started + self.opts.stall_timeout).into()) => {
                    stop_pull(pull).await;
                    return (Some(Failure::Stalled(started.elapsed().as_millis())), false);
                }
            }
        };
        let counters = Arc::new(Counters::default());
        let now = wall_ms();
        counters.bytes.store(first.len() as u64, Ordering::Relaxed);
        counters.first_data_ms.store(now, Ordering::Relaxed);
        counters.last_data_ms.store(now, Ordering::Relaxed);
        let rest = futures_util::stream::unfold(
            (data, Arc::clone(&counters)),
            |(mut rx, c): (mpsc::Receiver<Bytes>, Arc<Counters>)| async move {
                let b = rx.recv().await?;
                let now = wall_ms();
                c.bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
                let _ =
                    c.first_data_ms
                        .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
                c.last_data_ms.store(now, Ordering::Relaxed);
                Some((Ok(b), (rx, c)))
            },
        );
        let body: BodyStream =
            Box::pin(futures_util::stream::once(async move { Ok(first) }).chain(rest));
        let acks = self.ingest.put_media(
            PutMediaRequest {
                stream,
                timecode_type: TimecodeType::Relative { start_ms },
            },
            body,
        );
        // Fused: the drain below may poll it again after it ended.
        let mut acks = std::pin::pin!(acks.fuse());
        let mut meter = RateMeter::default();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut delivered = false;
        let failure = loop {
            tokio::select! {
                _ = stopped(stop) => break None,
                Some(ev) = pull.events.recv() => match ev {
                    RtspEvent::Failed(f) => break Some(Failure::from(f)),
                    RtspEvent::Video(codec) => {
                        tracing::info!(codec, "camera video track");
                        lock(&self.shared).status.codec = Some(codec);
                    }
                },
                ack = acks.next() => match ack {
                    Some(Ok(line)) => {
                        if let Some(f) = self.on_ack(&line, &mut delivered, &counters, last_media_ms) {
                            break Some(f);
                        }
                    }
                    _ => break Some(Failure::SessionEnded),
                },
                _ = tick.tick() => {
                    let bytes = counters.bytes.load(Ordering::Relaxed);
                    let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    let rate = meter.sample(ms, bytes);
                    let last = counters.last_data_ms.load(Ordering::Relaxed);
                    {
                        let mut g = lock(&self.shared);
                        g.status.bytes_per_second = rate;
                        if last != 0 {
                            g.status.last_frame_time = Some(secs(last));
                        }
                    }
                    let idle = if last == 0 {
                        started.elapsed()
                    } else {
                        Duration::from_millis(u64::try_from(wall_ms() - last).unwrap_or(0))
                    };
                    if idle > self.opts.stall_timeout {
                        break Some(Failure::Stalled(idle.as_millis()));
                    }
                }
            }
        };
        // Stop the pipeline: its appsink's sender goes, the body ends, and the ingest session
        // seals what it has; then read the remaining acks (PERSISTED of complete fragments).
        stop_pull(pull).await;
        let drain = async {
            while let Some(Ok(line)) = acks.next().await {
                let _ = self.on_ack(&line, &mut delivered, &counters, last_media_ms);
            }
        };
        if tokio::time::timeout(Duration::from_secs(30), drain)
            .await
            .is_err()
        {
            tracing::warn!("ingest session did not end within 30 s of the pipeline stopping");
        }
        let last = counters.last_data_ms.load(Ordering::Relaxed);
        if delivered && last != 0 {
            *last_media_ms = Some(last);
            lock(&self.shared).status.last_frame_time = Some(secs(last));
        }
        tracing::info!(delivered, "camera pipeline stopped");
        (failure, delivered)
    }

    /// Updates the status from one ack line; returns a failure for an ERROR ack.
    fn on_ack(
        &self,
        line: &Bytes,
        delivered: &mut bool,
        counters: &Counters,
        last_media_ms: &mut Option<i64>,
    ) -> Option<Failure> {
        let v: serde_json::Value = serde_json::from_slice(line).ok()?;
        match v["EventType"].as_str()? {
            "BUFFERING" if !*delivered => {
                *delivered = true;
                let mut g = lock(&self.shared);
                g.status.state = CameraState::Streaming;
                g.status.last_error = None;
                if let Some(prev) = last_media_ms.take() {
                    let first = counters.first_data_ms.load(Ordering::Relaxed);
                    let gap = u64::try_from(first.saturating_sub(prev)).unwrap_or(0);
                    g.status.discontinuities += 1;
                    g.status.last_gap_ms = Some(gap);
                    g.status.last_gap_time = Some(secs(first));
                    tracing::warn!(gap_ms = gap, "discontinuity: media resumed after a gap");
                } else {
                    tracing::info!("camera streaming");
                }
                None
            }
            "RECEIVED" => {
                lock(&self.shared).status.fragments += 1;
                None
            }
            "ERROR" => Some(Failure::Ingest(format!(
                "{} ({})",
                v["ErrorCode"].as_str().unwrap_or("unknown"),
                v["ErrorId"]
            ))),
            _ => None,
        }
    }
}

/// Sets the pipeline to NULL on the blocking pool (the state change blocks).
async fn stop_pull(pull: RtspPull) {
    let _ = tokio::task::spawn_blocking(move || pull.stop()).await;
}

/// Completes when `stop` turns true or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
