//! The live bus: per stream, ingest publishes every fragment start, frame, end and
//! persistence as it happens, and live readers (GetMedia now; HLS and the frame hook later)
//! subscribe instead of polling the disk.
//!
//! Each stream's channel keeps a small buffer: every fragment that is not yet persisted (the one
//! being written, and sealed ones waiting for their fsync), plus — for streams that persist
//! nothing (`DataRetentionInHours` 0) — the most recent fragments up to a byte budget, like KVS's
//! in-memory host buffer. A subscriber gets, atomically, a snapshot of that buffer and a
//! receiver for what follows, so reading history from the store, then the snapshot, then the
//! receiver has no gap and no duplicate.
//!
//! Publishing never waits for subscribers: the receivers are bounded (`tokio::sync::broadcast`),
//! and one that falls behind is told how much it missed (`Lagged`) and catches up from the
//! store. Frame payloads are shared (`Bytes`), never copied per subscriber.
//!
//! Memory is bounded for the whole process, not only per stream ([`LiveLimits`]): all buffers
//! together stay under a total (a publishing stream over it gives up its own oldest complete
//! fragments), and a stream's kept fragments are dropped some time after its last producer left
//! (they served readers of a stream that stores nothing; no one adds to them any more).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::model::StreamId;
use crate::store::fragment::FragmentNumber;

/// Events a subscriber may fall behind by before it must catch up from the store (about 30 s
/// of a 30 fps stream). The ring is allocated only once a stream has a subscriber.
const CHANNEL_CAPACITY: usize = 1024;

/// How a fragment began.
#[derive(Debug, Clone)]
pub struct FragmentStart {
    /// Its number.
    pub number: FragmentNumber,
    /// Producer timestamp (cluster timecode), epoch ms.
    pub producer_ms: i64,
    /// Arrival of its first byte, epoch ms.
    pub server_ms: i64,
    /// The MKV Tracks element it was produced under.
    pub tracks: Bytes,
}

/// One frame of the fragment being written.
#[derive(Debug, Clone)]
pub struct LiveFrame {
    /// The fragment it belongs to.
    pub number: FragmentNumber,
    /// MKV track number.
    pub track: u64,
    /// Milliseconds from the fragment's producer timestamp.
    pub rel_ms: i16,
    /// Keyframe flag.
    pub keyframe: bool,
    /// Payload.
    pub data: Bytes,
}

/// How a fragment ended.
#[derive(Debug, Clone)]
pub struct FragmentEnd {
    /// Its number.
    pub number: FragmentNumber,
    /// Playback duration.
    pub duration_ms: i64,
    /// Producer metadata tags.
    pub tags: Vec<(String, String)>,
}

/// What the bus carries.
#[derive(Debug, Clone)]
pub enum LiveEvent {
    /// A fragment's first byte arrived.
    Start(Arc<FragmentStart>),
    /// A frame arrived.
    Frame(Arc<LiveFrame>),
    /// The fragment is complete.
    End(Arc<FragmentEnd>),
    /// The fragment is durable and indexed: readers can now find it in the store.
    Persisted(FragmentNumber),
    /// The fragment was dropped (error, takeover, producer gone) and will never complete.
    Aborted(FragmentNumber),
}

/// A fragment held in a channel's buffer.
#[derive(Debug, Clone)]
pub struct Buffered {
    /// How it began.
    pub start: Arc<FragmentStart>,
    /// Its frames so far.
    pub frames: Vec<Arc<LiveFrame>>,
    /// How it ended, once it has.
    pub end: Option<Arc<FragmentEnd>>,
    bytes: usize,
}

struct State {
    fragments: VecDeque<Buffered>,
    bytes: usize,
    /// Created with the first subscriber: a broadcast ring costs memory per slot, and most
    /// streams are written without anyone watching live.
    tx: Option<broadcast::Sender<LiveEvent>>,
    /// Publishers alive (ingest sessions), and how many ever started: a linger timer only
    /// drops the buffer if no publisher came since it was set.
    publishers: usize,
    generation: u64,
}

struct Channel {
    state: Mutex<State>,
    /// Bytes buffered by every channel of the bus.
    total: Arc<AtomicUsize>,
}

/// Process-wide bounds of the live buffers.
#[derive(Debug, Clone, Copy)]
pub struct LiveLimits {
    /// Bytes buffered by all streams together, at most (beyond it, publishing streams drop
    /// their own oldest complete fragments).
    pub total_bytes: usize,
    /// A stream's kept fragments are dropped this long after its last producer left.
    pub linger: Duration,
}

impl Default for LiveLimits {
    fn default() -> Self {
        LiveLimits {
            total_bytes: 256 << 20,
            linger: Duration::from_secs(60),
        }
    }
}

/// A subscription: the buffer as it was, then everything after.
pub struct Subscription {
    /// Buffered fragments, oldest first (the last one may be in progress).
    pub snapshot: Vec<Buffered>,
    /// Events published after the snapshot.
    pub rx: broadcast::Receiver<LiveEvent>,
}

/// All streams' channels.
pub struct LiveBus {
    channels: Mutex<HashMap<StreamId, Arc<Channel>>>,
    /// True once the server is shutting down: live sessions end on their own.
    closing: tokio::sync::watch::Sender<bool>,
    limits: LiveLimits,
    total: Arc<AtomicUsize>,
}

impl Default for LiveBus {
    fn default() -> Self {
        LiveBus::new(LiveLimits::default())
    }
}

impl LiveBus {
    /// A bus within `limits`.
    pub fn new(limits: LiveLimits) -> Self {
        LiveBus {
            channels: Mutex::default(),
            closing: tokio::sync::watch::channel(false).0,
            limits,
            total: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Bytes buffered by all streams now.
    pub fn buffered_bytes(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Tells every live session (ingest and readers) to end: the server is shutting down.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Completes once [`LiveBus::close`] has been called.
    pub async fn closed(&self) {
        let mut rx = self.closing.subscribe();
        // The sender lives as long as the bus, so this only ends when closing becomes true.
        let _ = rx.wait_for(|c| *c).await;
    }

    fn channel(&self, stream: StreamId) -> Arc<Channel> {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(map.entry(stream).or_insert_with(|| {
            Arc::new(Channel {
                state: Mutex::new(State {
                    fragments: VecDeque::new(),
                    bytes: 0,
                    tx: None,
                    publishers: 0,
                    generation: 0,
                }),
                total: Arc::clone(&self.total),
            })
        }))
    }

    /// Subscribes to a stream.
    pub fn subscribe(&self, stream: StreamId) -> Subscription {
        let ch = self.channel(stream);
        let mut state = ch.state.lock().unwrap_or_else(|p| p.into_inner());
        // Under the state lock, so no event falls between the snapshot and the receiver.
        let rx = state
            .tx
            .get_or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe();
        Subscription {
            snapshot: state.fragments.iter().cloned().collect(),
            rx,
        }
    }

    /// The stream's buffered fragments now, oldest first, without subscribing.
    pub fn snapshot(&self, stream: StreamId) -> Vec<Buffered> {
        let channel = {
            let map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
            map.get(&stream).cloned()
        };
        channel.map_or_else(Vec::new, |ch| {
            let state = ch.state.lock().unwrap_or_else(|p| p.into_inner());
            state.fragments.iter().cloned().collect()
        })
    }

    /// The publishing side for a stream's ingest session. `keep_bytes` is the budget for
    /// completed fragments kept in memory when the stream does not persist (0 otherwise).
    pub fn publisher(&self, stream: StreamId, keep_bytes: usize) -> Publisher {
        let channel = self.channel(stream);
        {
            let mut st = channel.state.lock().unwrap_or_else(|p| p.into_inner());
            st.publishers += 1;
            st.generation += 1;
        }
        Publisher {
            channel,
            keep_bytes,
            total_bytes: self.limits.total_bytes,
            linger: self.limits.linger,
        }
    }

    /// Forgets a stream (it was deleted): its buffered fragments are dropped and its
    /// subscribers see the channel close, even while an ingest session still holds its
    /// publisher (what that publishes from now on reaches no one).
    pub fn remove(&self, stream: StreamId) {
        let channel = {
            let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
            map.remove(&stream)
        };
        if let Some(ch) = channel {
            let mut state = ch.state.lock().unwrap_or_else(|p| p.into_inner());
            state.tx = None;
            clear(&ch.total, &mut state);
        }
    }

    /// Streams the bus holds a channel for.
    pub fn streams(&self) -> usize {
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

/// Publishes one stream's events.
pub struct Publisher {
    channel: Arc<Channel>,
    keep_bytes: usize,
    total_bytes: usize,
    linger: Duration,
}

impl Drop for Publisher {
    /// The last producer of a stream left: its kept fragments go after the linger time, unless
    /// a producer comes back meanwhile.
    fn drop(&mut self) {
        let generation = {
            let mut st = self.channel.state.lock().unwrap_or_else(|p| p.into_inner());
            st.publishers = st.publishers.saturating_sub(1);
            if st.publishers > 0 || st.fragments.is_empty() {
                return;
            }
            st.generation
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let channel = Arc::clone(&self.channel);
        let linger = self.linger;
        rt.spawn(async move {
            tokio::time::sleep(linger).await;
            let mut st = channel.state.lock().unwrap_or_else(|p| p.into_inner());
            if st.publishers == 0 && st.generation == generation {
                clear(&channel.total, &mut st);
            }
        });
    }
}

impl Publisher {
    fn publish(&self, ev: LiveEvent, apply: impl FnOnce(&mut State, &Budget)) {
        let budget = Budget {
            keep: self.keep_bytes,
            total: self.total_bytes,
            all: &self.channel.total,
        };
        let mut state = self.channel.state.lock().unwrap_or_else(|p| p.into_inner());
        apply(&mut state, &budget);
        if let Some(tx) = &state.tx
            && tx.send(ev).is_err()
        {
            // Every subscriber has gone: free the ring until someone subscribes again.
            state.tx = None;
        }
    }

    /// A fragment started.
    pub fn start(&self, s: FragmentStart) {
        let s = Arc::new(s);
        let b = Buffered {
            start: Arc::clone(&s),
            frames: Vec::new(),
            end: None,
            bytes: 0,
        };
        self.publish(LiveEvent::Start(s), |st, _| st.fragments.push_back(b));
    }

    /// A frame of the current fragment arrived.
    pub fn frame(&self, f: LiveFrame) {
        let f = Arc::new(f);
        let n = f.number;
        let len = f.data.len();
        let keep = Arc::clone(&f);
        self.publish(LiveEvent::Frame(f), |st, budget| {
            if let Some(b) = st.fragments.back_mut()
                && b.start.number == n
            {
                b.frames.push(keep);
                b.bytes += len;
                st.bytes += len;
                budget.all.fetch_add(len, Ordering::Relaxed);
            }
            evict(st, budget);
        });
    }

    /// A fragment is complete.
    pub fn end(&self, e: FragmentEnd) {
        let e = Arc::new(e);
        let n = e.number;
        let stored = Arc::clone(&e);
        self.publish(LiveEvent::End(e), |st, budget| {
            if let Some(b) = st.fragments.iter_mut().find(|b| b.start.number == n) {
                b.end = Some(stored);
            }
            evict(st, budget);
        });
    }

    /// A fragment is durable and in the index.
    pub fn persisted(&self, n: FragmentNumber) {
        self.publish(LiveEvent::Persisted(n), |st, budget| {
            remove(st, budget.all, n)
        });
    }

    /// A fragment will never complete.
    pub fn aborted(&self, n: FragmentNumber) {
        self.publish(LiveEvent::Aborted(n), |st, budget| {
            remove(st, budget.all, n)
        });
    }
}

/// What a publisher may keep.
struct Budget<'a> {
    /// This stream's bytes of kept fragments (0: it persists, keeps nothing).
    keep: usize,
    /// All streams' bytes.
    total: usize,
    all: &'a AtomicUsize,
}

/// Streams that persist drop fragments on Persisted; the others keep the most recent complete
/// fragments within their byte budget, and within the process-wide total (the fragment in
/// progress always stays).
fn evict(st: &mut State, budget: &Budget<'_>) {
    if budget.keep == 0 {
        return;
    }
    while (st.bytes > budget.keep || budget.all.load(Ordering::Relaxed) > budget.total)
        && st.fragments.front().is_some_and(|b| b.end.is_some())
    {
        if let Some(old) = st.fragments.pop_front() {
            st.bytes -= old.bytes;
            budget.all.fetch_sub(old.bytes, Ordering::Relaxed);
        }
    }
}

fn remove(st: &mut State, all: &AtomicUsize, n: FragmentNumber) {
    if let Some(i) = st.fragments.iter().position(|b| b.start.number == n)
        && let Some(b) = st.fragments.remove(i)
    {
        st.bytes -= b.bytes;
        all.fetch_sub(b.bytes, Ordering::Relaxed);
    }
}

/// Drops every buffered fragment of a channel.
fn clear(all: &AtomicUsize, st: &mut State) {
    st.fragments.clear();
    all.fetch_sub(st.bytes, Ordering::Relaxed);
    st.bytes = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(seq: i64) -> FragmentNumber {
        FragmentNumber {
            stream: StreamId(1),
            seq,
        }
    }

    fn start(p: &Publisher, seq: i64) {
        p.start(FragmentStart {
            number: num(seq),
            producer_ms: seq * 1000,
            server_ms: seq * 1000,
            tracks: Bytes::new(),
        });
    }

    fn frame(p: &Publisher, seq: i64, i: u8) {
        p.frame(LiveFrame {
            number: num(seq),
            track: 1,
            rel_ms: i16::from(i),
            keyframe: i == 0,
            data: Bytes::from(vec![i; 100]),
        });
    }

    fn end(p: &Publisher, seq: i64) {
        p.end(FragmentEnd {
            number: num(seq),
            duration_ms: 1000,
            tags: vec![],
        });
    }

    #[test]
    fn a_removed_stream_closes_its_subscribers_and_drops_its_buffer() {
        let bus = LiveBus::default();
        let p = bus.publisher(StreamId(1), 1 << 20);
        start(&p, 1);
        frame(&p, 1, 0);
        let mut sub = bus.subscribe(StreamId(1));
        assert_eq!(sub.snapshot.len(), 1);
        assert_eq!(bus.streams(), 1);
        bus.remove(StreamId(1));
        assert_eq!(bus.streams(), 0);
        // The session still publishes; the old subscriber sees the end, not new frames.
        frame(&p, 1, 1);
        assert!(matches!(
            sub.rx.try_recv(),
            Err(broadcast::error::TryRecvError::Closed)
        ));
        assert!(bus.subscribe(StreamId(1)).snapshot.is_empty());
    }

    #[test]
    fn snapshot_then_receiver_has_no_gap_and_no_duplicate() {
        let bus = LiveBus::default();
        let p = bus.publisher(StreamId(1), 0);
        start(&p, 1);
        frame(&p, 1, 0);
        frame(&p, 1, 1);
        let mut sub = bus.subscribe(StreamId(1));
        frame(&p, 1, 2);
        end(&p, 1);
        assert_eq!(sub.snapshot.len(), 1);
        assert_eq!(sub.snapshot[0].frames.len(), 2);
        assert!(sub.snapshot[0].end.is_none());
        match sub.rx.try_recv() {
            Ok(LiveEvent::Frame(f)) => assert_eq!(f.rel_ms, 2),
            other => panic!("{other:?}"),
        }
        assert!(matches!(sub.rx.try_recv(), Ok(LiveEvent::End(_))));
        assert!(sub.rx.try_recv().is_err());
    }

    #[test]
    fn persisted_fragments_leave_the_buffer() {
        let bus = LiveBus::default();
        let p = bus.publisher(StreamId(1), 0);
        for seq in 1..=3 {
            start(&p, seq);
            frame(&p, seq, 0);
            end(&p, seq);
        }
        p.persisted(num(1));
        p.aborted(num(3));
        let sub = bus.subscribe(StreamId(1));
        let seqs: Vec<i64> = sub.snapshot.iter().map(|b| b.start.number.seq).collect();
        assert_eq!(
            seqs,
            [2],
            "only the sealed, unpersisted fragment is buffered"
        );
    }

    #[test]
    fn all_streams_together_stay_within_the_total() {
        // Issue 15: 8 streams that store nothing kept 188 MB; now their sum is bounded.
        let bus = LiveBus::new(LiveLimits {
            total_bytes: 450,
            linger: Duration::from_secs(3600),
        });
        let publishers: Vec<Publisher> =
            (1..=4).map(|s| bus.publisher(StreamId(s), 1_000)).collect();
        for (i, p) in publishers.iter().enumerate() {
            let base = (i as i64 + 1) * 100;
            for seq in base..base + 5 {
                // Each fragment 100 bytes, numbers of their own stream.
                p.start(FragmentStart {
                    number: FragmentNumber {
                        stream: StreamId(i as i64 + 1),
                        seq,
                    },
                    producer_ms: seq,
                    server_ms: seq,
                    tracks: Bytes::new(),
                });
                p.frame(LiveFrame {
                    number: FragmentNumber {
                        stream: StreamId(i as i64 + 1),
                        seq,
                    },
                    track: 1,
                    rel_ms: 0,
                    keyframe: true,
                    data: Bytes::from(vec![0; 100]),
                });
                p.end(FragmentEnd {
                    number: FragmentNumber {
                        stream: StreamId(i as i64 + 1),
                        seq,
                    },
                    duration_ms: 1,
                    tags: Vec::new(),
                });
            }
        }
        assert!(bus.buffered_bytes() <= 450, "{}", bus.buffered_bytes());
        let kept: usize = (1..=4).map(|s| bus.snapshot(StreamId(s)).len() * 100).sum();
        assert_eq!(kept, bus.buffered_bytes(), "the count matches what is held");
        drop(publishers);
    }

    #[tokio::test]
    async fn kept_fragments_go_after_the_producer_left() {
        let bus = LiveBus::new(LiveLimits {
            total_bytes: 1 << 20,
            linger: Duration::from_millis(100),
        });
        let p = bus.publisher(StreamId(1), 10_000);
        for seq in 1..=3 {
            start(&p, seq);
            frame(&p, seq, 0);
            end(&p, seq);
        }
        drop(p);
        // A producer back within the linger time keeps them.
        let again = bus.publisher(StreamId(1), 10_000);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(bus.snapshot(StreamId(1)).len(), 3);
        drop(again);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(bus.snapshot(StreamId(1)).is_empty());
        assert_eq!(bus.buffered_bytes(), 0);
    }

    #[test]
    fn unpersisted_streams_keep_a_byte_budget() {
        let bus = LiveBus::default();
        let p = bus.publisher(StreamId(1), 250);
        for seq in 1..=5 {
            start(&p, seq);
            frame(&p, seq, 0);
            end(&p, seq);
        }
        start(&p, 6);
        frame(&p, 6, 0);
        let sub = bus.subscribe(StreamId(1));
        let seqs: Vec<i64> = sub.snapshot.iter().map(|b| b.start.number.seq).collect();
        assert_eq!(
            seqs,
            [5, 6],
            "oldest complete fragments go first, the current one stays"
        );
    }

    #[test]
    fn slow_subscriber_lags_without_blocking_the_publisher() {
        let bus = LiveBus::default();
        let p = bus.publisher(StreamId(1), 0);
        let mut sub = bus.subscribe(StreamId(1));
        start(&p, 1);
        for i in 0..(CHANNEL_CAPACITY + 10) {
            frame(&p, 1, (i % 200) as u8);
        }
        assert!(matches!(
            sub.rx.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(_))
        ));
    }
}
