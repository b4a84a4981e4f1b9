//! Retention: deletes the oldest media by time (per-stream `DataRetentionInHours`) and by size
//! (a per-stream cap and a cap on the whole data directory), safely under concurrent readers.
//!
//! # Granularity
//! Media lives in append-only segment files holding many fragments, so retention deletes whole
//! **segments**. A segment is deletable when every fragment in it is expired (its newest server
//! timestamp is older than `now - retention`), or when it is among the oldest segments that must
//! go to bring a stream (or the directory) under its cap. Expired fragments therefore stay
//! readable until the rest of their segment expires too: at most `segment_max_secs` (or
//! `segment_max_bytes` of media) longer than the retention period.
//!
//! Retention counts time by the **server** timestamp (arrival), never the producer's: a producer
//! with a wrong clock must not get its media deleted early, or kept forever. A stream with
//! retention 0 keeps nothing (KVS: "not persisted"); ingest stores nothing for it, and anything
//! stored before a decrease to 0 expires at once.
//!
//! # The writer's segment
//! The writer may still append to a stream's newest segment. It rotates a segment once its first
//! fragment is `rotation.max_age_ms` old by the clock (see `writer::append_one`), so the newest
//! segment is deletable only once `now - first_server_ms >= max_age_ms + writer_slack_ms`; the
//! slack covers the longest fragment still in flight and the writer's fsync and commit. Should a
//! fragment still arrive for a marked segment, the index refuses its row (invariant 10).
//!
//! # Two phases (store invariants 10 and 11)
//! 1. **Mark**, in one index transaction per stream: delete the segment's fragment rows and
//!    summary, list it in `garbage`. ListFragments and GetMedia* stop seeing its fragments at
//!    once; readers that already hold the segment keep reading it by record.
//! 2. **Sweep**, on a later pass: delete the file of each garbage segment that is older than the
//!    grace period and held by no reader, then forget its garbage row. Readers take their hold
//!    right after their index query; the grace period covers that instant. Start-up recovery
//!    sweeps every garbage row (no readers exist then).
//!
//! The job ([`RetentionJob`]) runs a pass every `interval_secs`, and at once when poked: by
//! UpdateDataRetention DECREASE, by DeleteStream, and by a reader releasing a segment a pass wanted
//! to delete. Tests drive passes with [`Store::run_retention_once`] and a `SimClock`.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::index::SegmentUsage;
use super::{Store, StoreError, finish_delete};
use crate::model::{StreamId, StreamStatus};

/// Retention settings the store applies (from the `[retention]` config table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionOptions {
    /// A marked segment's file is deleted no sooner than this after the mark (ms).
    pub grace_ms: i64,
    /// Most indexed bytes per stream; 0 = no cap.
    pub stream_max_bytes: u64,
    /// Most indexed bytes in the whole data directory; 0 = no cap.
    pub total_max_bytes: u64,
    /// How long past the writer's rotation age a stream's newest segment may still receive a
    /// fragment (ms): the longest fragment plus a margin for fsync and commit.
    pub writer_slack_ms: i64,
    /// How long readers may keep a segment (or a deleted stream) that retention wants to
    /// delete (ms); see `holds`.
    pub reader_hold_timeout_ms: i64,
}

impl Default for RetentionOptions {
    fn default() -> Self {
        RetentionOptions {
            grace_ms: 30_000,
            stream_max_bytes: 0,
            total_max_bytes: 0,
            writer_slack_ms: 30_000 + 60_000,
            reader_hold_timeout_ms: 15_000,
        }
    }
}

/// What one retention pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RetentionReport {
    /// Segments marked as garbage (phase 1).
    pub segments_marked: usize,
    /// Indexed bytes of the segments marked.
    pub bytes_marked: u64,
    /// Segment files deleted (phase 2).
    pub files_deleted: usize,
    /// Bytes of the files deleted.
    pub bytes_freed: u64,
    /// Garbage segments left for a later pass because a reader holds them.
    pub held: usize,
    /// Deleted streams whose media this pass removed (their DeleteStream found them held).
    pub streams_deleted: usize,
}

impl RetentionReport {
    fn is_empty(&self) -> bool {
        *self == RetentionReport::default()
    }
}

/// Why a segment is marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// Every fragment is older than the stream's retention.
    Expired,
    /// The stream is over `stream_max_bytes`.
    StreamCap,
    /// The data directory is over `total_max_bytes`.
    TotalCap,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Expired => "expired",
            Reason::StreamCap => "stream_max_bytes",
            Reason::TotalCap => "total_max_bytes",
        }
    }
}

/// One stream as the planner sees it.
#[derive(Debug, Clone)]
pub(crate) struct StreamUsage {
    pub id: StreamId,
    pub retention_hours: u32,
    /// Ordered by segment, oldest first.
    pub segments: Vec<SegmentUsage>,
}

/// A segment to mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    pub stream: StreamId,
    pub usage: SegmentUsage,
    pub reason: Reason,
}

/// Decides what to mark; pure, so its rules are table-tested.
///
/// `closed_after_ms`: a stream's newest segment is deletable only once its first fragment is
/// this old (the writer's rotation age plus slack); older segments are always closed.
pub(crate) fn plan(
    now_ms: i64,
    streams: &[StreamUsage],
    opts: &RetentionOptions,
    closed_after_ms: i64,
) -> Vec<Mark> {
    let mut marks = Vec::new();
    // Survivors of the per-stream rules, with whether each may be deleted, for the total cap.
    let mut survivors: Vec<(StreamId, SegmentUsage, bool)> = Vec::new();
    for s in streams {
        let cutoff = now_ms.saturating_sub(i64::from(s.retention_hours).saturating_mul(3_600_000));
        let newest = s.segments.len().saturating_sub(1);
        let mut kept: Vec<(SegmentUsage, bool)> = Vec::new();
        for (i, u) in s.segments.iter().enumerate() {
            let closed = i < newest || now_ms.saturating_sub(u.first_server_ms) >= closed_after_ms;
            if closed && u.last_server_ms < cutoff {
                marks.push(Mark {
                    stream: s.id,
                    usage: *u,
                    reason: Reason::Expired,
                });
            } else {
                kept.push((*u, closed));
            }
        }
        if opts.stream_max_bytes > 0 {
            let mut total: u64 = kept.iter().map(|(u, _)| u.bytes).sum();
            kept.retain(|(u, closed)| {
                if total <= opts.stream_max_bytes || !closed {
                    return true;
                }
                total -= u.bytes;
                marks.push(Mark {
                    stream: s.id,
                    usage: *u,
                    reason: Reason::StreamCap,
                });
                false
            });
        }
        survivors.extend(kept.into_iter().map(|(u, closed)| (s.id, u, closed)));
    }
    if opts.total_max_bytes > 0 {
        let mut total: u64 = survivors.iter().map(|(_, u, _)| u.bytes).sum();
        // Oldest media first, across streams.
        survivors.sort_by_key(|(s, u, _)| (u.first_server_ms, *s, u.segment));
        for (stream, u, closed) in survivors {
            if total <= opts.total_max_bytes {
                break;
            }
            if closed {
                total -= u.bytes;
                marks.push(Mark {
                    stream,
                    usage: u,
                    reason: Reason::TotalCap,
                });
            }
        }
    }
    marks
}

/// One retention pass: finish held stream deletions, mark (phase 1), sweep (phase 2).
pub(super) async fn run_once(store: &Store) -> Result<RetentionReport, StoreError> {
    let inner = &store.inner;
    let _one_at_a_time = inner.maintenance.lock().await;
    let mut report = RetentionReport::default();
    let index = inner.index.as_ref();

    // Stream deletions that found their media held by a reader, or failed.
    for s in index.streams_with_status(StreamStatus::Deleting).await? {
        if inner.holds.stream_free_or_want(s.id) {
            store.note_removal();
            let done =
                finish_delete(index, &inner.opts.data_dir, inner.objects.as_deref(), &s).await;
            store.note_removal();
            done?;
            report.streams_deleted += 1;
        }
    }

    // Phase 1.
    let now = inner.clock.now().millis();
    let mut streams = Vec::new();
    for s in index.list_streams(None, None, usize::MAX).await? {
        if matches!(s.status, StreamStatus::Active | StreamStatus::Updating) {
            streams.push(StreamUsage {
                id: s.id,
                retention_hours: s.data_retention_hours,
                segments: index.segment_usage(s.id).await?,
            });
        }
    }
    let opts = &inner.opts.retention;
    let closed_after = inner
        .opts
        .rotation
        .max_age_ms
        .saturating_add(opts.writer_slack_ms);
    let mut by_stream: BTreeMap<StreamId, Vec<Mark>> = BTreeMap::new();
    for m in plan(now, &streams, opts, closed_after) {
        by_stream.entry(m.stream).or_default().push(m);
    }
    for (stream, marks) in by_stream {
        let usages = marks.iter().map(|m| m.usage).collect();
        store.note_removal();
        let marked = index.mark_garbage(stream, usages, now).await;
        store.note_removal();
        for u in marked? {
            let reason = marks
                .iter()
                .find(|m| m.usage.segment == u.segment)
                .map_or("", |m| m.reason.as_str());
            tracing::info!(
                stream = stream.0,
                segment = u.segment,
                fragments = u.fragments,
                bytes = u.bytes,
                last_server_ms = u.last_server_ms,
                reason,
                "retention: segment marked for deletion"
            );
            report.segments_marked += 1;
            report.bytes_marked += u.bytes;
        }
    }

    // Phase 2.
    let media_root = inner.opts.data_dir.join("media");
    for g in index.garbage().await? {
        if now.saturating_sub(g.marked_ms) < opts.grace_ms {
            continue;
        }
        if !inner.holds.free_or_want(g.stream, g.segment) {
            tracing::debug!(
                stream = g.stream.0,
                segment = g.segment,
                readers = inner.holds.count(g.stream, g.segment),
                "retention: segment still held by readers"
            );
            report.held += 1;
            continue;
        }
        if let Some(objects) = &inner.objects
            && let Err(e) = super::tiering::delete_object(objects, g.stream, g.segment).await
        {
            // Left listed: the next pass tries again.
            tracing::error!(stream = g.stream.0, segment = g.segment, error = %e, "retention: cannot delete segment object; will retry");
            continue;
        }
        let root = media_root.clone();
        let removed = tokio::task::spawn_blocking(move || {
            super::recovery::remove_segment(&root, g.stream, g.segment)
        })
        .await
        .map_err(|e| StoreError::internal(format!("retention task failed: {e}")))?;
        match removed {
            Ok(bytes) => {
                index.forget_garbage(g.stream, g.segment).await?;
                tracing::info!(
                    stream = g.stream.0,
                    segment = g.segment,
                    bytes,
                    "retention: segment file deleted"
                );
                report.files_deleted += 1;
                report.bytes_freed += bytes;
            }
            // Left listed: the next pass (or start-up recovery) tries again.
            Err(e) => tracing::error!(
                stream = g.stream.0,
                segment = g.segment,
                error = %e,
                "retention: cannot delete segment file; will retry"
            ),
        }
    }
    Ok(report)
}

/// The background retention job (STYLE §11): a pass every `interval`, and at once when poked.
pub struct RetentionJob {
    store: Store,
    interval: Duration,
}

impl RetentionJob {
    /// A job over `store`, running a pass every `interval` (at least one second).
    pub fn new(store: Store, interval: Duration) -> RetentionJob {
        RetentionJob {
            store,
            interval: interval.max(Duration::from_secs(1)),
        }
    }

    /// Runs passes until `shutdown` completes. A pass cut short by shutdown is safe: every step
    /// is atomic, and what is left is finished by the next pass or start-up recovery.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let wake = self.store.retention_wake();
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                _ = tick.tick() => {}
                () = wake.notified() => tracing::debug!("retention: poked"),
            }
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                r = self.store.run_retention_once() => match r {
                    Ok(report) if report.is_empty() => {}
                    Ok(report) => tracing::info!(
                        segments_marked = report.segments_marked,
                        bytes_marked = report.bytes_marked,
                        files_deleted = report.files_deleted,
                        bytes_freed = report.bytes_freed,
                        held = report.held,
                        streams_deleted = report.streams_deleted,
                        "retention pass done"
                    ),
                    Err(e) => tracing::error!(error = %e, "retention pass failed; retrying at the next interval"),
                },
            }
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                r = self.store.run_tiering_once() => match r {
                    Ok(report) if report == Default::default() => {}
                    Ok(report) => tracing::info!(
                        uploaded = report.uploaded,
                        bytes = report.bytes,
                        local_removed = report.local_removed,
                        failed = report.failed,
                        "tiering pass done"
                    ),
                    Err(e) => tracing::error!(error = %e, "tiering pass failed; retrying at the next interval"),
                },
            }
        }
        tracing::debug!("retention stopped");
    }

    /// Spawns [`run`](Self::run) in an `info_span!("retention")`; the handle stops it.
    pub fn spawn(self) -> RetentionHandle {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(tracing::Instrument::instrument(
            self.run(async move {
                // A send or a dropped handle both stop the job.
                let _ = stopped.await;
            }),
            tracing::info_span!("retention"),
        ));
        RetentionHandle {
            stop: Some(stop),
            task: Some(task),
        }
    }
}

/// Stops the retention job: call [`stop`](Self::stop) to wait for it, or drop it to stop it
/// without waiting.
pub struct RetentionHandle {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RetentionHandle {
    /// Stops the job and waits until it has.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take()
            && let Err(e) = t.await
        {
            tracing::error!(error = %e, "retention task panicked");
        }
    }
}

impl Drop for RetentionHandle {
    fn drop(&mut self) {
        // Dropping the sender completes the job's shutdown future.
        self.stop.take();
    }
}

#[cfg(test)]
pub(super) mod tests;
