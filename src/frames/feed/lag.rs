//! How far each consumer of a stream is behind live: the `LagMillis` and `LagFrames` of the
//! REST consumer listing (`api::consumers`).
//!
//! The lag in time is the newest frame's producer timestamp (the fragment being written, else
//! the end of the last stored one) minus the checkpoint's. The lag in frames counts the video
//! frames after the checkpoint in the stream's newest [`MAX_LAG_FRAGMENTS`] stored fragments
//! and the fragments on the live bus not stored yet; a checkpoint older than those fragments
//! gets a lower bound (said by [`ConsumerLag::exact`]).
//!
//! Those fragments are read once per listing, whatever the number of consumers: each consumer
//! then costs a count over their frame times (listing 300 consumers once read 64 fragments
//! per consumer).

use crate::media::{self, Media};
use crate::model::StreamId;
use crate::store::StoreError;
use crate::store::index::Checkpoint;

/// Stored fragments read to count the consumers' frame lags.
pub const MAX_LAG_FRAGMENTS: usize = 64;

/// One consumer's checkpoint and how far it is behind live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerLag {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The newest frame's producer timestamp minus the checkpoint's, ms (0 when the stream has
    /// no media or the checkpoint is ahead).
    pub millis: i64,
    /// Video frames after the checkpoint.
    pub frames: u64,
    /// Whether `frames` is exact (false: a lower bound).
    pub exact: bool,
}

/// The consumers of `stream` (by name), each with its lag.
pub async fn consumer_lags(
    media: &Media,
    stream: StreamId,
) -> Result<Vec<ConsumerLag>, StoreError> {
    let checkpoints = media.store().list_checkpoints(stream).await?;
    if checkpoints.is_empty() {
        return Ok(Vec::new());
    }
    let edge = live_edge(media, stream).await?;
    let recent = RecentFrames::read(media, stream).await?;
    Ok(checkpoints
        .into_iter()
        .map(|cp| {
            let (frames, exact) = recent.after(&cp);
            ConsumerLag {
                millis: edge.map_or(0, |e| e.saturating_sub(cp.producer_ms).max(0)),
                frames,
                exact,
                checkpoint: cp,
            }
        })
        .collect())
}

/// The video frame times of the stream's newest fragments: stored, then on the live bus.
struct RecentFrames {
    /// `(fragment seq, its video frames' pts, ms)`, by seq.
    fragments: Vec<(i64, Vec<i64>)>,
    /// Every stored fragment from this seq on is in `fragments` (`None`: all of them).
    complete_from: Option<i64>,
}

impl RecentFrames {
    async fn read(media: &Media, stream: StreamId) -> Result<RecentFrames, StoreError> {
        let stored = media
            .store()
            .last_fragments(stream, MAX_LAG_FRAGMENTS)
            .await?;
        let complete_from = match stored.first() {
            Some(first) if stored.len() >= MAX_LAG_FRAGMENTS => Some(first.number.seq),
            _ => None,
        };
        let _hold = media.store().hold_segments(&stored);
        let mut fragments = Vec::with_capacity(stored.len() + 2);
        let mut last_seq = i64::MIN;
        for rec in &stored {
            last_seq = rec.number.seq;
            // A damaged fragment counts no frames.
            let pts = match media.load(rec).await {
                Ok(loaded) => loaded
                    .video()
                    .map(|(_, video)| video.iter().map(|s| s.pts_ms).collect())
                    .unwrap_or_default(),
                Err(_) => Vec::new(),
            };
            fragments.push((rec.number.seq, pts));
        }
        // Fragments not stored yet.
        for b in media.live().snapshot(stream) {
            if b.start.number.seq <= last_seq {
                continue;
            }
            let Ok((tracks, samples)) = media::live_samples(&b) else {
                continue;
            };
            let Some((track, _)) = media::video_track(&tracks) else {
                continue;
            };
            let pts = samples
                .iter()
                .filter(|s| s.track == track)
                .map(|s| s.pts_ms)
                .collect();
            fragments.push((b.start.number.seq, pts));
        }
        fragments.sort_by_key(|(seq, _)| *seq);
        Ok(RecentFrames {
            fragments,
            complete_from,
        })
    }

    /// Video frames after `cp`: (count, exact).
    fn after(&self, cp: &Checkpoint) -> (u64, bool) {
        let exact = self.complete_from.is_none_or(|from| cp.seq >= from);
        let start = self.fragments.partition_point(|(seq, _)| *seq < cp.seq);
        let n: usize = self.fragments[start..]
            .iter()
            .map(|(seq, pts)| {
                if *seq == cp.seq {
                    pts.iter().filter(|&&p| p > cp.producer_ms).count()
                } else {
                    pts.len()
                }
            })
            .sum();
        (u64::try_from(n).unwrap_or(u64::MAX), exact)
    }
}

/// The newest producer time of the stream's media, epoch ms.
async fn live_edge(media: &Media, stream: StreamId) -> Result<Option<i64>, StoreError> {
    let snapshot = media.live().snapshot(stream);
    let buffered = snapshot
        .iter()
        .flat_map(|b| {
            b.frames
                .iter()
                .map(|f| b.start.producer_ms.saturating_add(i64::from(f.rel_ms)))
        })
        .max();
    let stored = media
        .store()
        .last_fragment(stream)
        .await?
        .map(|f| f.producer_ms.saturating_add(f.duration_ms));
    Ok(buffered.max(stored))
}
