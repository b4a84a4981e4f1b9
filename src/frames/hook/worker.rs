//! One stream's hook tasks: the picker (persisted fragments → pictures → queue) and the sender
//! (queue → destination). See the module doc of `hook` for the shape.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use super::ImageGenerationConfig;
use super::dest::Destination;
use super::queue::{DeliveryQueue, Picture, Stats};
use super::select;
use crate::frames::{self, CodedFrame};
use crate::media::Media;
use crate::media::follow::{Follow, Item};
use crate::model::StreamId;
use crate::store::fragment::FragmentRecord;
use crate::store::index::TimestampKind;

/// How long a quiet picker waits before checking that its configuration still exists (it is
/// deleted with its stream, and a deleted stream's live channel stays open).
const IDLE_CHECK: std::time::Duration = std::time::Duration::from_secs(60);

/// The picker of one stream.
pub(super) struct Worker {
    pub media: Media,
    /// The stream's persisted fragments, from the last one stored when the hook started.
    pub follow: Follow,
    pub decode: Arc<tokio::sync::Semaphore>,
    pub stream: StreamId,
    pub name: String,
    pub config: ImageGenerationConfig,
    pub stats: Arc<Stats>,
    pub queue: Arc<DeliveryQueue>,
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
        loop {
            match tokio::time::timeout(IDLE_CHECK, self.follow.next()).await {
                Ok(Ok(Some(Item::Stored(f)))) => self.fragment(&f).await,
                Ok(Ok(Some(_))) => {} // a lag: the follower catches up from the store
                Ok(Ok(None)) => return,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "hook: reading fragments failed; retrying on the next one");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                Err(_) => {
                    if let Ok(None) = self.media.store().image_generation(self.stream).await {
                        tracing::info!("hook: configuration gone (stream deleted); stopped");
                        return;
                    }
                }
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
        let loaded = match self.media.load(f).await {
            Ok(l) => l,
            Err(e) => return self.media_error(f, e.to_string()),
        };
        let Some((codec, samples)) = loaded.video() else {
            return self.media_error(f, "no H.264/H.265 video track".into());
        };
        let video: Vec<CodedFrame> = samples.into_iter().map(CodedFrame::from).collect();
        let plan = select::plan(&video, &times, offset);
        let Some((first, last)) = plan.range else {
            return;
        };
        let run: Vec<CodedFrame> = video[first..=last].to_vec();
        let wanted: Vec<i64> = plan.picks.iter().map(|p| p.pts_ms).collect();
        let spec = self.config.spec;
        // The hooks' own share (`[hook] decode_threads`), within the process-wide decode limit.
        let Ok(_share) = self.decode.acquire().await else {
            return;
        };
        let result =
            frames::run_pass(move |frames| frames.render(&codec, &run, &wanted, &spec)).await;
        let mut pictures = match result.and_then(|r| r) {
            Ok(p) => p,
            Err(e) => return self.media_error(f, e.to_string()),
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
