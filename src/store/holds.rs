//! Reader holds on segment files (store invariant 11).
//!
//! A reader that found fragments in the index takes a [`SegmentHold`] on their segments right
//! after the query and keeps it until it has read the last byte. Retention's phase 2 does not
//! delete a held segment file; the grace period covers the instant between the query and the
//! hold. A hold is an in-memory refcount per `(stream, segment)`: holds do not outlive the process,
//! and neither do readers.
//!
//! When retention (or a stream deletion) finds a segment held, it registers interest; the last
//! release of such a segment pokes retention's [`Notify`], so the file goes promptly once the
//! reader is done, without waiting for the next interval.
//!
//! A hold is not forever: a segment (or stream) wanted for longer than the hold timeout is
//! given up by its readers (a paused reader must not keep a deleted stream DELETING, or a disk
//! full). Retention then deletes it; the reader's next read of it fails and its response ends
//! early, which is what a reader stalled that long gets. Fragment files are never reused, so
//! such a reader can fail but never read other data.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::fragment::FragmentRecord;
use crate::model::StreamId;

type Key = (StreamId, i64);

#[derive(Default)]
struct State {
    counts: HashMap<Key, usize>,
    /// Held segments retention wants to delete, since when.
    wanted: HashMap<Key, Instant>,
    /// Streams being deleted whose segments are held, since when.
    wanted_streams: HashMap<StreamId, Instant>,
}

/// The registry of holds; one per store.
pub(crate) struct Holds {
    state: Mutex<State>,
    /// Poked when a wanted segment (or stream) is released, or its hold times out.
    wake: Arc<Notify>,
    /// How long a wanted segment's readers may keep it.
    timeout: Duration,
}

impl Holds {
    pub(crate) fn new(wake: Arc<Notify>, timeout: Duration) -> Arc<Holds> {
        Arc::new(Holds {
            state: Mutex::new(State::default()),
            wake,
            timeout,
        })
    }

    /// First interest in a held segment or stream: poke retention when its hold times out.
    fn wake_after_timeout(&self) {
        let (wake, timeout) = (Arc::clone(&self.wake), self.timeout);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                tokio::time::sleep(timeout + Duration::from_millis(50)).await;
                wake.notify_one();
            });
        }
    }

    /// A poisoned lock only means a panic elsewhere while counting; the counts are still whole
    /// (every update is a single map operation), so carry on with them.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds every segment the records live in until the returned guard is dropped.
    pub(crate) fn hold(self: &Arc<Self>, records: &[FragmentRecord]) -> SegmentHold {
        let mut keys: Vec<Key> = records
            .iter()
            .map(|r| (r.number.stream, r.segment))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let mut st = self.lock();
        for k in &keys {
            *st.counts.entry(*k).or_default() += 1;
        }
        drop(st);
        SegmentHold {
            holds: Arc::clone(self),
            keys,
        }
    }

    /// Whether the segment is free to delete: not held, or wanted for longer than the hold
    /// timeout. If not, the release that frees it (or the timeout) pokes retention.
    pub(crate) fn free_or_want(&self, stream: StreamId, segment: i64) -> bool {
        let mut st = self.lock();
        let key = (stream, segment);
        let held = st.counts.contains_key(&key);
        let free = self.want(&mut st.wanted, key, held);
        if free && held {
            tracing::warn!(
                stream = stream.0,
                segment,
                timeout_secs = self.timeout.as_secs(),
                "a reader held this segment past the hold timeout; deleting it anyway (that reader's response ends early)"
            );
        }
        free
    }

    /// Whether no segment of the stream is held (or they have been wanted for longer than the
    /// hold timeout); if some is, the last release (or the timeout) pokes retention.
    pub(crate) fn stream_free_or_want(&self, stream: StreamId) -> bool {
        let mut st = self.lock();
        let held = st.counts.keys().any(|(s, _)| *s == stream);
        let free = self.want(&mut st.wanted_streams, stream, held);
        if free && held {
            tracing::warn!(
                stream = stream.0,
                timeout_secs = self.timeout.as_secs(),
                "readers held the deleted stream's media past the hold timeout; deleting it anyway (their responses end early)"
            );
        }
        free
    }

    /// The one rule of both: free when not `held`; else wanted from now on (the first time,
    /// retention is poked when the hold times out) and free once wanted for the timeout.
    fn want<K: std::hash::Hash + Eq + Copy>(
        &self,
        wanted: &mut HashMap<K, Instant>,
        key: K,
        held: bool,
    ) -> bool {
        if !held {
            wanted.remove(&key);
            return true;
        }
        let now = Instant::now();
        let since = *wanted.entry(key).or_insert(now);
        if since == now {
            self.wake_after_timeout();
            return false;
        }
        if now.duration_since(since) >= self.timeout {
            wanted.remove(&key);
            return true;
        }
        false
    }

    /// How many holds are on the segment (for tests and logs).
    pub(crate) fn count(&self, stream: StreamId, segment: i64) -> usize {
        self.lock()
            .counts
            .get(&(stream, segment))
            .copied()
            .unwrap_or(0)
    }

    fn release(&self, keys: &[Key]) {
        let mut st = self.lock();
        let mut poke = false;
        for k in keys {
            let Some(n) = st.counts.get_mut(k) else {
                debug_assert!(false, "released a segment hold that was not taken");
                continue;
            };
            *n -= 1;
            if *n == 0 {
                st.counts.remove(k);
                // Interest is consumed by the poke: the pass it triggers asks again if needed.
                poke |= st.wanted.remove(k).is_some();
                if st.wanted_streams.contains_key(&k.0) && !st.counts.keys().any(|(s, _)| *s == k.0)
                {
                    st.wanted_streams.remove(&k.0);
                    poke = true;
                }
            }
        }
        drop(st);
        if poke {
            self.wake.notify_one();
        }
    }
}

/// Keeps segment files from being deleted by retention while a reader uses them; dropping it
/// releases them. Take it with [`Store::hold_segments`](super::Store::hold_segments) right
/// after the index query that returned the fragments, and keep it until the last byte is read.
#[must_use = "the segments are released as soon as the hold is dropped"]
pub struct SegmentHold {
    holds: Arc<Holds>,
    keys: Vec<Key>,
}

impl SegmentHold {
    /// The segments held, as `(stream, segment)`.
    pub fn segments(&self) -> impl Iterator<Item = (StreamId, i64)> + '_ {
        self.keys.iter().copied()
    }
}

impl std::fmt::Debug for SegmentHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentHold")
            .field("segments", &self.keys.len())
            .finish()
    }
}

impl Drop for SegmentHold {
    fn drop(&mut self) {
        self.holds.release(&self.keys);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fragment::FragmentNumber;

    fn rec(stream: i64, seq: i64, segment: i64) -> FragmentRecord {
        FragmentRecord {
            number: FragmentNumber {
                stream: StreamId(stream),
                seq,
            },
            producer_ms: 0,
            server_ms: 0,
            duration_ms: 0,
            track_header_id: 0,
            segment,
            offset: 0,
            cluster_len: 0,
            trailer_len: 0,
        }
    }

    #[test]
    fn holds_count_per_segment_and_release_on_drop() {
        let holds = Holds::new(Arc::new(Notify::new()), Duration::from_secs(3600));
        // Three fragments in two segments: one hold per segment, not per fragment.
        let a = holds.hold(&[rec(1, 10, 10), rec(1, 11, 10), rec(1, 12, 12)]);
        let b = holds.hold(&[rec(1, 12, 12)]);
        assert_eq!(a.segments().count(), 2);
        assert_eq!(holds.count(StreamId(1), 10), 1);
        assert_eq!(holds.count(StreamId(1), 12), 2);
        assert!(!holds.free_or_want(StreamId(1), 12));
        assert!(!holds.stream_free_or_want(StreamId(1)));
        assert!(holds.stream_free_or_want(StreamId(2)));
        drop(a);
        assert_eq!(holds.count(StreamId(1), 10), 0);
        assert!(holds.free_or_want(StreamId(1), 10));
        assert!(!holds.free_or_want(StreamId(1), 12));
        drop(b);
        assert!(holds.free_or_want(StreamId(1), 12));
        assert!(holds.stream_free_or_want(StreamId(1)));
    }

    #[tokio::test]
    async fn a_hold_wanted_past_the_timeout_is_given_up() {
        let wake = Arc::new(Notify::new());
        let holds = Holds::new(Arc::clone(&wake), Duration::from_millis(200));
        let _paused = holds.hold(&[rec(1, 10, 10), rec(2, 5, 5)]);
        assert!(!holds.free_or_want(StreamId(1), 10));
        assert!(!holds.stream_free_or_want(StreamId(2)));
        // The timeout pokes retention, which then finds both free.
        tokio::time::timeout(Duration::from_secs(2), wake.notified())
            .await
            .expect("the hold timeout pokes");
        assert!(holds.free_or_want(StreamId(1), 10));
        assert!(holds.stream_free_or_want(StreamId(2)));
    }

    #[tokio::test]
    async fn releasing_a_wanted_segment_pokes_retention() {
        let wake = Arc::new(Notify::new());
        let holds = Holds::new(Arc::clone(&wake), Duration::from_secs(3600));
        let h = holds.hold(&[rec(1, 10, 10)]);
        let unwanted = holds.hold(&[rec(1, 20, 20)]);
        assert!(!holds.free_or_want(StreamId(1), 10));
        drop(unwanted); // nobody wants segment 20: no poke
        let poked = tokio::time::timeout(std::time::Duration::from_millis(20), wake.notified());
        assert!(poked.await.is_err(), "an unwanted release must not poke");
        drop(h);
        tokio::time::timeout(std::time::Duration::from_secs(1), wake.notified())
            .await
            .expect("the release of a wanted segment pokes");
    }
}
