//! How far each consumer of a stream is behind live: the `LagMillis` and `LagFrames` of the
//! REST consumer listing (`api::consumers`).
//!
//! The lag in time is the newest frame's producer timestamp (the fragment being written, else
//! the end of the last stored one) minus the checkpoint's. The lag in frames counts the video
//! frames after the checkpoint, reading at most [`MAX_LAG_FRAGMENTS`] stored fragments (then
//! it is a lower bound, said by [`ConsumerLag::exact`]) and the fragments on the live bus not
//! stored yet.

use crate::media::{self, Media};
use crate::model::StreamId;
use crate::store::StoreError;
use crate::store::index::Checkpoint;

/// Stored fragments read to count one consumer's frame lag.
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
    let edge = live_edge(media, stream).await?;
    let mut out = Vec::new();
    for cp in media.store().list_checkpoints(stream).await? {
        let (frames, exact) = frames_after(media, &cp).await?;
        out.push(ConsumerLag {
            millis: edge.map_or(0, |e| (e - cp.producer_ms).max(0)),
            frames,
            exact,
            checkpoint: cp,
        });
    }
    Ok(out)
}

/// The newest producer time of the stream's media, epoch ms.
async fn live_edge(media: &Media, stream: StreamId) -> Result<Option<i64>, StoreError> {
    let snapshot = media.live().snapshot(stream);
    let buffered = snapshot
        .iter()
        .flat_map(|b| {
            b.frames
                .iter()
                .map(|f| b.start.producer_ms + i64::from(f.rel_ms))
        })
        .max();
    let stored = media
        .store()
        .last_fragment(stream)
        .await?
        .map(|f| f.producer_ms + f.duration_ms);
    Ok(buffered.max(stored))
}

/// Video frames after the checkpoint: (count, exact).
async fn frames_after(media: &Media, cp: &Checkpoint) -> Result<(u64, bool), StoreError> {
    let after = |seq: i64, s: &media::Sample| (seq, s.pts_ms) > (cp.seq, cp.producer_ms);
    let mut n = 0u64;
    let page = media
        .pages(cp.stream, None, Some(cp.seq - 1), MAX_LAG_FRAGMENTS + 1)
        .next()
        .await?
        .unwrap_or_default();
    let exact = page.len() <= MAX_LAG_FRAGMENTS;
    let mut last_seq = cp.seq - 1;
    let _hold = media.store().hold_segments(&page);
    for rec in page.iter().take(MAX_LAG_FRAGMENTS) {
        last_seq = rec.number.seq;
        let Ok(loaded) = media.load(rec).await else {
            continue; // a damaged fragment counts no frames
        };
        if let Some((_, video)) = loaded.video() {
            n += video.iter().filter(|s| after(rec.number.seq, s)).count() as u64;
        }
    }
    if exact {
        // Fragments not stored yet.
        for b in media.live().snapshot(cp.stream) {
            if b.start.number.seq <= last_seq {
                continue;
            }
            let Ok((tracks, samples)) = media::live_samples(&b) else {
                continue;
            };
            let Some((track, _)) = media::video_track(&tracks) else {
                continue;
            };
            n += samples
                .iter()
                .filter(|s| s.track == track && after(b.start.number.seq, s))
                .count() as u64;
        }
    }
    Ok((n, exact))
}
