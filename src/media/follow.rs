//! Following a stream: stored history, then the live bus, with no gap and no duplicate. Written
//! once here; GetMedia, the frame feed and the frame hook consume it.
//!
//! The hand-over: subscribe to the live bus *first* (a snapshot of its buffer plus a receiver
//! for what follows), then page persisted fragments after the last one handed out from the
//! store, then replay the snapshot (fragments not yet persisted, the one being written from its
//! first frame), then live events, skipping every fragment number already handed out. A reader
//! that falls behind the bus (its receiver lost events) is told ([`Item::Lagged`]); the open live
//! fragment is abandoned and the follower resubscribes and resumes from the store, so that
//! fragment comes again, whole, once it is persisted.
//!
//! Two modes: [`Mode::Frames`] hands out live fragments frame by frame as they arrive;
//! [`Mode::Persisted`] hands out only persisted fragments (from the store), using the bus as a
//! wake-up (the frame hook, which reads what is durable).
//!
//! [`Follow::next`] is cancel-safe: its state changes only between its awaits, so it can sit in a
//! `select!` or under a timeout.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::reader::Media;
use crate::live::{FragmentEnd, FragmentStart, LiveEvent, LiveFrame, Subscription};
use crate::model::StreamId;
use crate::store::fragment::{FragmentNumber, FragmentRecord};
use crate::store::{SegmentHold, StoreError};

/// Stored fragments listed per index query.
const PAGE: usize = 64;

/// Where a follower starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// With the fragment being written now (from its first frame), or the next one to start.
    Now,
    /// With the first fragment whose seq is at least this.
    AtSeq(i64),
    /// With the first fragment whose seq is greater than this.
    AfterSeq(i64),
}

/// What a follower hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Stored fragments, then live fragments frame by frame.
    Frames,
    /// Persisted fragments only, each as soon as it is indexed.
    Persisted,
}

/// One step of a followed stream.
#[derive(Debug, Clone)]
pub enum Item {
    /// A persisted fragment from the store. Its segment is held until the follower reads its
    /// next page, so it can be read even if retention expires it meanwhile.
    Stored(FragmentRecord),
    /// A live fragment began (it is not persisted yet).
    Start(Arc<FragmentStart>),
    /// A frame of the open live fragment.
    Frame(Arc<LiveFrame>),
    /// The open live fragment ended whole.
    End(Arc<FragmentEnd>),
    /// The open live fragment was dropped and will never complete (nor be stored).
    Aborted(FragmentNumber),
    /// Everything that was buffered on the bus at subscription has been handed out; what
    /// follows arrives as it happens. Once per subscription.
    LiveEdge,
    /// The reader fell behind the bus and `missed` events were lost. `open` is the live fragment
    /// that was being handed out (abandoned; it comes again from the store). The follower
    /// resumes from the store.
    Lagged {
        /// Events lost.
        missed: u64,
        /// The abandoned live fragment.
        open: Option<FragmentNumber>,
    },
}

/// A stream being followed.
pub struct Follow {
    media: Media,
    stream: StreamId,
    mode: Mode,
    /// `Start::Now` not resolved yet.
    now: bool,
    /// Seq of the last fragment handed out whole (or skipped over).
    done: i64,
    sub: Option<Subscription>,
    /// Snapshot events still to replay, then [`Item::LiveEdge`].
    replay: VecDeque<Item>,
    /// Store history still to read.
    history: bool,
    page: VecDeque<FragmentRecord>,
    hold: Option<SegmentHold>,
    /// The live fragment being handed out.
    open: Option<FragmentNumber>,
}

impl Follow {
    /// Follows `stream` from `start`.
    pub fn new(media: Media, stream: StreamId, start: Start, mode: Mode) -> Follow {
        let (now, done) = match start {
            Start::Now => (true, i64::MIN),
            Start::AtSeq(s) => (false, s.saturating_sub(1)),
            Start::AfterSeq(s) => (false, s),
        };
        Follow {
            media,
            stream,
            mode,
            now,
            done,
            sub: None,
            replay: VecDeque::new(),
            history: !now,
            page: VecDeque::new(),
            hold: None,
            open: None,
        }
    }

    /// Seq of the last fragment handed out whole.
    pub fn done(&self) -> i64 {
        self.done
    }

    /// The next item if one is ready without waiting: snapshot replay, or live events already
    /// queued (events this reader does not need are consumed on the way). None when
    /// [`Follow::next`] would wait or has to read the store: a live reader drains with it to act
    /// on the newest item only.
    pub fn try_next(&mut self) -> Option<Item> {
        loop {
            if self.sub.is_none() || self.history || !self.page.is_empty() {
                return None;
            }
            if let Some(item) = self.replay.pop_front() {
                if let Some(item) = self.accept(item) {
                    return Some(item);
                }
                continue;
            }
            let sub = self.sub.as_mut()?;
            match sub.rx.try_recv() {
                Ok(ev) => {
                    if let Some(item) = self.on_event(ev) {
                        return Some(item);
                    }
                }
                Err(TryRecvError::Lagged(missed)) => return Some(self.lagged(missed)),
                Err(_) => return None,
            }
        }
    }

    /// The next item; None once the stream is gone (deleted) or the server is closing.
    pub async fn next(&mut self) -> Result<Option<Item>, StoreError> {
        loop {
            if self.sub.is_none() {
                self.subscribe().await?;
            }
            if let Some(rec) = self.page.pop_front() {
                self.done = self.done.max(rec.number.seq);
                return Ok(Some(Item::Stored(rec)));
            }
            if self.history {
                let page = self
                    .media
                    .pages(self.stream, None, Some(self.done), PAGE)
                    .next()
                    .await?
                    .unwrap_or_default();
                // Retention may expire these segments while the reader reads them.
                self.hold = Some(self.media.store().hold_segments(&page));
                self.history = page.len() == PAGE;
                self.page.extend(page);
                continue;
            }
            self.hold = None;
            if let Some(item) = self.replay.pop_front() {
                if let Some(item) = self.accept(item) {
                    return Ok(Some(item));
                }
                continue;
            }
            let Some(sub) = self.sub.as_mut() else {
                continue;
            };
            let bus = Arc::clone(self.media.live());
            let ev = tokio::select! {
                ev = sub.rx.recv() => ev,
                () = bus.closed() => return Ok(None),
            };
            match ev {
                Ok(ev) => {
                    if let Some(item) = self.on_event(ev) {
                        return Ok(Some(item));
                    }
                }
                Err(RecvError::Lagged(missed)) => return Ok(Some(self.lagged(missed))),
                Err(RecvError::Closed) => return Ok(None),
            }
        }
    }

    fn lagged(&mut self, missed: u64) -> Item {
        self.sub = None;
        self.replay.clear();
        self.history = true;
        Item::Lagged {
            missed,
            open: self.open.take(),
        }
    }

    async fn subscribe(&mut self) -> Result<(), StoreError> {
        let mut sub = self.media.live().subscribe(self.stream);
        if self.now {
            self.now = false;
            // Skip history: start with the fragment in progress, or the next.
            let in_progress = sub.snapshot.iter().find(|b| b.end.is_none());
            self.done = match in_progress {
                Some(b) => b.start.number.seq - 1,
                None => match sub.snapshot.last() {
                    Some(b) => b.start.number.seq,
                    None => self
                        .media
                        .store()
                        .last_fragment(self.stream)
                        .await?
                        .map_or(i64::MIN, |f| f.number.seq),
                },
            };
        }
        if self.mode == Mode::Frames {
            for b in std::mem::take(&mut sub.snapshot) {
                self.replay.push_back(Item::Start(b.start));
                self.replay.extend(b.frames.into_iter().map(Item::Frame));
                if let Some(e) = b.end {
                    self.replay.push_back(Item::End(e));
                }
            }
        }
        sub.snapshot.clear();
        self.replay.push_back(Item::LiveEdge);
        self.sub = Some(sub);
        Ok(())
    }

    fn on_event(&mut self, ev: LiveEvent) -> Option<Item> {
        match (self.mode, ev) {
            (Mode::Persisted, LiveEvent::Persisted(n)) => {
                self.history |= n.seq > self.done;
                None
            }
            (Mode::Persisted, _) => None,
            (Mode::Frames, LiveEvent::Start(s)) => self.accept(Item::Start(s)),
            (Mode::Frames, LiveEvent::Frame(f)) => self.accept(Item::Frame(f)),
            (Mode::Frames, LiveEvent::End(e)) => self.accept(Item::End(e)),
            (Mode::Frames, LiveEvent::Aborted(n)) => self.accept(Item::Aborted(n)),
            (Mode::Frames, LiveEvent::Persisted(_)) => None,
        }
    }

    /// Filters a live item: only the fragments not handed out yet, and of those only the open
    /// one's frames. A fragment that starts while another is open means the open one was
    /// dropped: that is handed out first, as [`Item::Aborted`].
    fn accept(&mut self, item: Item) -> Option<Item> {
        match item {
            Item::Start(s) => {
                if s.number.seq <= self.done {
                    return None; // already handed out from the store
                }
                if let Some(prev) = self.open.replace(s.number) {
                    self.done = self.done.max(prev.seq);
                    self.replay.push_front(Item::Start(s));
                    self.open = None;
                    return Some(Item::Aborted(prev));
                }
                Some(Item::Start(s))
            }
            Item::Frame(f) => (self.open == Some(f.number)).then_some(Item::Frame(f)),
            Item::End(e) => {
                if self.open != Some(e.number) {
                    return None;
                }
                self.open = None;
                self.done = self.done.max(e.number.seq);
                Some(Item::End(e))
            }
            Item::Aborted(n) => {
                if self.open != Some(n) {
                    return None;
                }
                self.open = None;
                // Never stored: do not look for it again.
                self.done = self.done.max(n.seq);
                Some(Item::Aborted(n))
            }
            other => Some(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;

    use super::*;
    use crate::live::LiveBus;
    use crate::media::MediaCache;
    use crate::store::{RetentionOptions, Rotation, Store, StoreOptions};
    use crate::time::{ServerTime, SimClock};

    async fn media(dir: &std::path::Path) -> Media {
        let opts = StoreOptions {
            data_dir: dir.to_owned(),
            region: "eu-west-1".into(),
            account_id: "42".into(),
            rotation: Rotation {
                max_bytes: 1 << 20,
                max_age_ms: 60_000,
            },
            retention: RetentionOptions::default(),
            index: Default::default(),
            objects: None,
            tiers: Default::default(),
        };
        let clock = Arc::new(SimClock::new(ServerTime(1_700_000_000_000)));
        let store = Store::open(opts, clock).await.unwrap();
        Media::new(
            store,
            Arc::new(LiveBus::default()),
            Arc::new(MediaCache::new(0)),
            30_000,
        )
    }

    /// A live reader drains what is queued with `try_next`, then waits with `next`: the events
    /// it does not need (a persisted fragment, in `Frames` mode) are consumed by `try_next`, so
    /// the reader learns that nothing is left instead of waiting for an event that never comes.
    #[tokio::test]
    async fn try_next_drains_queued_events_and_skips_the_unneeded() {
        let dir = tempfile::tempdir().unwrap();
        let media = media(dir.path()).await;
        let stream = StreamId(7);
        let n = FragmentNumber { stream, seq: 1 };
        let mut follow = Follow::new(media.clone(), stream, Start::AtSeq(1), Mode::Frames);
        assert!(matches!(follow.next().await.unwrap(), Some(Item::LiveEdge)));
        let publisher = media.live().publisher(stream, 0);
        publisher.start(FragmentStart {
            number: n,
            producer_ms: 1000,
            server_ms: 2000,
            tracks: Bytes::new(),
        });
        publisher.frame(LiveFrame {
            number: n,
            track: 1,
            rel_ms: 0,
            keyframe: true,
            data: Bytes::from_static(b"frame"),
        });
        publisher.end(FragmentEnd {
            number: n,
            duration_ms: 33,
            tags: Vec::new(),
        });
        publisher.persisted(n);
        assert!(matches!(follow.try_next(), Some(Item::Start(_))));
        assert!(matches!(follow.try_next(), Some(Item::Frame(_))));
        assert!(matches!(follow.try_next(), Some(Item::End(_))));
        assert!(
            follow.try_next().is_none(),
            "the persisted event is not the reader's"
        );
        assert_eq!(follow.done(), 1);
        let waited = tokio::time::timeout(Duration::from_millis(50), follow.next()).await;
        assert!(waited.is_err(), "nothing more to hand out");
    }
}
