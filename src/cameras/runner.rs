//! One camera's life: connect, stream into an ingest session, fail, back off, reconnect.
//!
//! Each attempt resolves the target stream, opens a [`Connection`] (retina, on this task: one
//! tokio task per camera, no thread), and feeds the [`Muxer`]'s Matroska bytes to
//! [`Ingest::put_media`] as a PutMedia body with RELATIVE timecodes. The producer start timestamp
//! is the server's clock when the connection opened, and frame times count from that moment on
//! the server's clock too (RTP timestamps anchored at arrival and slewed towards it, see
//! `pull::clock`), so start + timecode is the wall-clock arrival of each frame. Cameras' own
//! RTCP/NTP clocks are often wrong or unset, so the server clock is the more trustworthy choice.
//! The ack stream drives the status (BUFFERING = streaming, RECEIVED = a fragment, ERROR = the
//! session failed).
//!
//! Every failure ends the attempt: the connection is dropped (retina tears the RTSP session
//! down), the body ends so the ingest session seals and persists what it has, and the runner
//! waits a jittered, capped exponential backoff. When an attempt that delivered media is followed
//! by one that delivers again, the gap between them is recorded as a discontinuity. A slow ingest
//! never blocks the camera task: when the body queue is full the attempt fails instead.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};

use super::Camera;
use super::pull::mux::Muxer;
use super::pull::{Connection, PullFailure, PullOptions, Pulled, connect};
use super::status::{Backoff, CameraState, CameraStatus, RateMeter};
use crate::ingest::fragmenter::TimecodeType;
use crate::ingest::{Ack, BodyStream, Ingest, PutMediaRequest};
use crate::store::{Store, StoreError, StreamRef};

/// Matroska chunks queued for the ingest session (about one per frame: a few seconds of video).
const DATA_QUEUE: usize = 512;

/// How cameras are pulled (from `[cameras]` in the config).
#[derive(Debug, Clone)]
pub struct CameraOptions {
    /// First reconnect wait.
    pub backoff_initial: Duration,
    /// Longest reconnect wait.
    pub backoff_max: Duration,
    /// No media for this long fails the attempt.
    pub stall_timeout: Duration,
    /// Where cameras may be (`[cameras] allowed_*`), checked at every connection.
    pub egress: Arc<crate::egress::Policy>,
    /// Largest RTSP message accepted from a camera (`[cameras] max_rtsp_message_bytes`).
    pub max_rtsp_message_bytes: usize,
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
    Pull(#[from] PullFailure),
    #[error("target {0}")]
    Stream(StoreError),
    #[error("no media from the camera for {0} ms")]
    Stalled(u128),
    #[error("ingest refused the camera's media: {0}")]
    Ingest(String),
    #[error("the ingest session ended")]
    SessionEnded,
    #[error("camera password: {0}")]
    Password(crate::auth::seal::SealError),
}

impl Failure {
    /// Failures that retrying soon will not fix.
    fn needs_a_person(&self) -> bool {
        match self {
            Failure::Pull(p) => p.needs_a_person(),
            Failure::Stream(_) | Failure::Ingest(_) | Failure::Password(_) => true,
            Failure::Stalled(_) | Failure::SessionEnded => false,
        }
    }
}

/// Media counters of one attempt.
#[derive(Default)]
struct Counters {
    bytes: u64,
    /// Wall-clock ms of the first and the latest bytes handed to the ingest session.
    first_data_ms: i64,
    last_data_ms: i64,
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
    /// Opens the camera's sealed password for each connection.
    pub sealer: crate::auth::seal::Sealer,
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
        // The password is opened for this connection only.
        let password = match &self.camera.password {
            None => None,
            Some(p) => match p.open(&self.sealer, &self.camera.name) {
                Ok(p) => Some(p.to_string()),
                Err(e) => return (Some(Failure::Password(e)), false),
            },
        };
        let opts = PullOptions {
            url: self.camera.url.clone(),
            username: self.camera.username.clone(),
            password,
            transport: self.camera.transport,
            max_message_bytes: self.opts.max_rtsp_message_bytes,
        };
        let started = Instant::now();
        let stall = self.opts.stall_timeout;
        // The connection's frame times count from when it opened; so does the session start.
        let mut conn = tokio::select! {
            _ = stopped(stop) => return (None, false),
            r = tokio::time::timeout(stall, Connection::open(&opts, &self.opts.egress)) => match r {
                Ok(Ok(c)) => c,
                Ok(Err(f)) => return (Some(f.into()), false),
                Err(_) => {
                    // The same words as a refused connection (see `pull::connect`).
                    tracing::info!(timeout_ms = stall.as_millis(), "no rtsp session within the stall timeout");
                    return (
                        Some(PullFailure::CannotConnect(connect::target(&self.camera.url)).into()),
                        false,
                    );
                }
            },
        };
        let start_ms = self.store.now().0;
        tracing::info!(url = %self.camera.url, codec = conn.codec, audio = conn.audio_spec().is_some(), "camera connected");
        lock(&self.shared).status.codec = Some(conn.codec);
        // The ingest session opens only with the first bytes (the first keyframe): a camera
        // that cannot deliver must not take its stream over from another producer (one session
        // per stream).
        let mut mux: Option<Muxer> = None;
        let first = loop {
            let pulled = tokio::select! {
                _ = stopped(stop) => return (None, false),
                p = conn.next() => p,
                () = tokio::time::sleep_until((started + stall).into()) => {
                    return (Some(Failure::Stalled(started.elapsed().as_millis())), false);
                }
            };
            match pulled {
                Ok(Pulled::Frame(f)) => {
                    let m = match &mut mux {
                        Some(m) => m,
                        None => {
                            let Some(video) = conn.video_spec() else {
                                continue;
                            };
                            mux.insert(Muxer::new(video, conn.audio_spec()))
                        }
                    };
                    if let Some(b) = m.push(f.track, f.ms, f.key, f.data) {
                        break b;
                    }
                }
                Ok(Pulled::Nothing) => {}
                Err(f) => return (Some(f.into()), false),
            }
        };
        let Some(mut mux) = mux else {
            return (Some(PullFailure::NoVideo.into()), false);
        };
        let mut counters = Counters::default();
        let now = wall_ms();
        counters.bytes = first.len() as u64;
        counters.first_data_ms = now;
        counters.last_data_ms = now;
        let (data_tx, data) = mpsc::channel::<Bytes>(DATA_QUEUE);
        let _ = data_tx.try_send(first);
        let body: BodyStream = Box::pin(futures_util::stream::unfold(
            data,
            |mut rx: mpsc::Receiver<Bytes>| async move { rx.recv().await.map(|b| (Ok(b), rx)) },
        ));
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
                pulled = conn.next() => match pulled {
                    Ok(Pulled::Frame(f)) => {
                        let Some(b) = mux.push(f.track, f.ms, f.key, f.data) else { continue };
                        counters.bytes += b.len() as u64;
                        counters.last_data_ms = wall_ms();
                        match data_tx.try_send(b) {
                            Ok(()) => {}
                            Err(mpsc::error::TrySendError::Full(_)) => {
                                break Some(PullFailure::ConsumerTooSlow.into());
                            }
                            Err(mpsc::error::TrySendError::Closed(_)) => break Some(Failure::SessionEnded),
                        }
                    }
                    Ok(Pulled::Nothing) => {}
                    Err(f) => break Some(f.into()),
                },
                ack = acks.next() => match ack {
                    Some(ack) => {
                        if let Some(f) = self.on_ack(&ack, &mut delivered, &counters, last_media_ms) {
                            break Some(f);
                        }
                    }
                    None => break Some(Failure::SessionEnded),
                },
                _ = tick.tick() => {
                    let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    let rate = meter.sample(ms, counters.bytes);
                    {
                        let mut g = lock(&self.shared);
                        g.status.bytes_per_second = rate;
                        g.status.last_frame_time = Some(secs(counters.last_data_ms));
                    }
                    let idle = Duration::from_millis(
                        u64::try_from(wall_ms() - counters.last_data_ms).unwrap_or(0),
                    );
                    if idle > stall {
                        break Some(Failure::Stalled(idle.as_millis()));
                    }
                }
            }
        };
        // Close the camera connection (retina sends TEARDOWN in the background), end the body
        // so the ingest session seals what it has, then read the remaining acks (PERSISTED of
        // complete fragments).
        drop(conn);
        drop(data_tx);
        let drain = async {
            while let Some(ack) = acks.next().await {
                let _ = self.on_ack(&ack, &mut delivered, &counters, last_media_ms);
            }
        };
        if tokio::time::timeout(Duration::from_secs(30), drain)
            .await
            .is_err()
        {
            tracing::warn!(
                "ingest session did not end within 30 s of the camera connection closing"
            );
        }
        let last = counters.last_data_ms;
        if delivered && last != 0 {
            *last_media_ms = Some(last);
            lock(&self.shared).status.last_frame_time = Some(secs(last));
        }
        tracing::info!(delivered, "camera connection closed");
        (failure, delivered)
    }

    /// Updates the status from one ack; returns a failure for an ERROR ack.
    fn on_ack(
        &self,
        ack: &Ack,
        delivered: &mut bool,
        counters: &Counters,
        last_media_ms: &mut Option<i64>,
    ) -> Option<Failure> {
        match ack {
            Ack::Buffering { .. } if !*delivered => {
                *delivered = true;
                let mut g = lock(&self.shared);
                g.status.state = CameraState::Streaming;
                g.status.last_error = None;
                if let Some(prev) = last_media_ms.take() {
                    let first = counters.first_data_ms;
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
            Ack::Received { .. } => {
                lock(&self.shared).status.fragments += 1;
                None
            }
            Ack::Error { id, .. } => Some(Failure::Ingest(format!("{} ({})", id.code(), id.id()))),
            _ => None,
        }
    }
}

/// Completes when `stop` turns true or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
