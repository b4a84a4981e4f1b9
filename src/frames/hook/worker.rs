//! One stream's hook tasks: the picker (persisted fragments → pictures → queue) and the sender
//! (queue → destination). See the module doc of `hook` for the shape.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use tokio::sync::broadcast::error::RecvError;

use super::ImageGenerationConfig;
use super::dest::Destination;
use super::queue::{DeliveryQueue, Picture, Stats};
use super::select;
use crate::frames::{self, CodedFrame, VideoCodec};
use crate::live::{LiveEvent, Subscription};
use crate::model::StreamId;
use crate::playback::media::{self, Codec};
use crate::store::fragment::FragmentRecord;
use crate::store::index::{FragmentQuery, TimestampKind};
use crate::store::{Store, StoreError};

/// Fragments read from the index per query.
const PAGE: usize = 64;
/// How long a quiet picker waits before checking that its configuration still exists (it is
/// deleted with its stream, and a deleted stream's live channel stays open).
const IDLE_CHECK: std::time::Duration = std::time::Duration::from_secs(60);

/// The picker of one stream.
pub(super) struct Worker {
    pub store: Store,
    pub decode: Arc<tokio::sync::Semaphore>,
    pub stream: StreamId,
    pub name: String,
    pub config: ImageGenerationConfig,
    pub stats: Arc<Stats>,
    pub queue: Arc<DeliveryQueue>,
    /// The stream's live events, subscribed before `after` was read.
    pub sub: Subscription,
    /// The seq of the last fragment that existed when the hook started (None: none did).
    pub after: Option<i64>,
    /// The latest sample time given a picture (`i64::MIN`: none yet). Sample times only move
    /// forward, so fragments whose time ranges overlap (media sent faster than real time, on the
    /// server axis) never give two pictures for one time.
    pub last_sample: AtomicI64,
}

impl Worker {
    /// Runs until the stream's configuration is gone (stream deleted) or its live channel
    /// closes, or the task is aborted (configuration replaced, server stopping); then closes
    /// the queue, so the sender ends once it is drained.
    pub async fn run(mut self) {
        self.pick().await;
        self.queue.close();
    }

    async fn pick(&mut self) {
        let mut after = self.after;
        // Fragments persisted between the subscription and the reading of `after` were
        // announced: look once at the start anyway.
        match self.catch_up(after).await {
            Ok(a) => after = a,
            Err(e) => tracing::warn!(error = %e, "hook: reading fragments failed"),
        }
        loop {
            // Wait for a persisted fragment (a lag may have hidden one: look anyway).
            loop {
                match tokio::time::timeout(IDLE_CHECK, self.sub.rx.recv()).await {
                    Ok(Ok(LiveEvent::Persisted(_)) | Err(RecvError::Lagged(_))) => break,
                    Ok(Ok(_)) => {}
                    Ok(Err(RecvError::Closed)) => return,
                    Err(_) => {
                        if let Ok(None) = self.store.image_generation(self.stream).await {
                            tracing::info!("hook: configuration gone (stream deleted); stopped");
                            return;
                        }
                    }
                }
            }
            match self.catch_up(after).await {
                Ok(a) => after = a,
                Err(e) => {
                    tracing::warn!(error = %e, "hook: reading fragments failed; retrying on the next one");
                }
            }
        }
    }

    /// Makes the pictures of every fragment after `after`; returns the new position.
    async fn catch_up(&self, mut after: Option<i64>) -> Result<Option<i64>, StoreError> {
        loop {
            let page = self
                .store
                .list_fragments(FragmentQuery {
                    stream: self.stream,
                    range: None,
                    after_seq: after,
                    limit: PAGE,
                })
                .await?;
            for f in &page {
                self.fragment(f).await;
                after = Some(f.number.seq);
            }
            if page.len() < PAGE {
                return Ok(after);
            }
        }
    }

    fn media_error(&self, f: &FragmentRecord, why: String) {
        tracing::warn!(fragment = %f.number, error = %why, "hook: no picture from fragment");
        Stats::add(&self.stats.media_errors);
        self.stats
            .set_error(format!("fragment {}: {why}", f.number));
    }

    /// The pictures of one fragment, queued.
    async fn fragment(&self, f: &FragmentRecord) {
        let (start, offset) = match self.config.selector {
            TimestampKind::Producer => (f.producer_ms, 0),
            TimestampKind::Server => (f.server_ms, f.producer_ms - f.server_ms),
        };
        let last = self.last_sample.load(Ordering::Relaxed);
        let mut times = select::grid(start, f.duration_ms, self.config.interval_ms);
        times.retain(|&t| t > last);
        if times.is_empty() {
            return;
        }
        let _hold = self.store.hold_segments(std::slice::from_ref(f));
        let header = match self.store.track_header(f.track_header_id).await {
            Ok(h) => h.header,
            Err(e) => return self.media_error(f, e.to_string()),
        };
        let tracks = match media::tracks(&header) {
            Ok(t) => t,
            Err(e) => return self.media_error(f, e.to_string()),
        };
        let Some((track, codec)) = tracks.iter().find_map(|t| match &t.codec {
            Codec::H264 { avcc } => Some((t.number, VideoCodec::H264 { avcc: avcc.clone() })),
            Codec::H265 { hvcc } => Some((t.number, VideoCodec::H265 { hvcc: hvcc.clone() })),
            _ => None,
        }) else {
            return self.media_error(f, "no H.264/H.265 video track".into());
        };
        let (cluster, trailer) = match self.store.read_fragment(f).await {
            Ok(x) => x,
            Err(e) => return self.media_error(f, e.to_string()),
        };
        let video: Vec<CodedFrame> = match media::samples(&tracks, &cluster, &trailer) {
            Ok(s) => s
                .into_iter()
                .filter(|s| s.track == track)
                .map(CodedFrame::from)
                .collect(),
            Err(e) => return self.media_error(f, e.to_string()),
        };
        let plan = select::plan(&video, &times, offset);
        let Some((first, last)) = plan.range else {
            return;
        };
        let run: Vec<CodedFrame> = video[first..=last].to_vec();
        let wanted: Vec<i64> = plan.picks.iter().map(|p| p.pts_ms).collect();
        let spec = self.config.spec;
        let Ok(permit) = Arc::clone(&self.decode).acquire_owned().await else {
            return;
        };
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            frames::shared().render(&codec, &run, &wanted, &spec)
        })
        .await;
        let mut pictures = match result {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return self.media_error(f, e.to_string()),
            Err(e) => return self.media_error(f, format!("decode task failed: {e}")),
        };
        let fragment = f.number.to_string();
        let format = super::format_name(&spec.format);
        let selector = match self.config.selector {
            TimestampKind::Producer => "PRODUCER_TIMESTAMP",
            TimestampKind::Server => "SERVER_TIMESTAMP",
        };
        if let Some(last) = plan.picks.iter().map(|p| p.sample_ms).max() {
            self.last_sample.fetch_max(last, Ordering::Relaxed);
        }
        for pick in &plan.picks {
            match pictures.remove(&pick.pts_ms) {
                Some(Ok(img)) => {
                    let p = Picture {
                        stream: self.name.clone(),
                        fragment: fragment.clone(),
                        sample_ms: pick.sample_ms,
                        producer_ms: pick.pts_ms,
                        server_ms: f.server_ms + (pick.pts_ms - f.producer_ms),
                        selector,
                        format,
                        bytes: bytes::Bytes::from(img),
                    };
                    Stats::add(&self.stats.generated);
                    if self.queue.push(p).is_some() {
                        Stats::add(&self.stats.dropped);
                    }
                }
                Some(Err(e)) => self.media_error(f, e.to_string()),
                None => self.media_error(f, format!("no picture at {}", pick.pts_ms)),
            }
        }
    }
}

/// The sender: delivers queued pictures one at a time until the queue closes and drains (or
/// the task is aborted with its hook).
pub(super) async fn send(dest: Destination, queue: Arc<DeliveryQueue>, stats: Arc<Stats>) {
    while let Some(p) = queue.pop().await {
        match dest.deliver(&p).await {
            Ok(()) => Stats::add(&stats.delivered),
            Err(e) => {
                tracing::warn!(error = %e, "hook: delivery failed");
                Stats::add(&stats.failed);
                stats.set_error(e);
            }
        }
    }
}
