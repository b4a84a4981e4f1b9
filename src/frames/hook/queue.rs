//! The bounded queue between a stream's picture maker and its destination, and the counters the
//! API shows.
//!
//! Pushing never waits: when the queue is full the *oldest* picture is dropped (a live consumer
//! wants the newest ones) and `dropped` counts it. So a slow or dead destination costs at most
//! [`DeliveryQueue::capacity`] pictures of memory and never slows anything upstream.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::sync::Notify;

/// One picture with what names it.
#[derive(Debug, Clone)]
pub struct Picture {
    /// The stream's name.
    pub stream: String,
    /// The fragment it was decoded from (47-digit form).
    pub fragment: String,
    /// The sample time on the selected axis, epoch ms.
    pub sample_ms: i64,
    /// The picture's producer timestamp (its frame's pts), epoch ms.
    pub producer_ms: i64,
    /// The picture's server timestamp (its fragment's arrival plus its offset in it), epoch ms.
    pub server_ms: i64,
    /// `PRODUCER_TIMESTAMP` or `SERVER_TIMESTAMP`.
    pub selector: &'static str,
    /// `JPEG` or `PNG`.
    pub format: &'static str,
    /// The encoded picture.
    pub bytes: Bytes,
}

impl Picture {
    /// The file extension of its format.
    pub fn extension(&self) -> &'static str {
        if self.format == "PNG" { "png" } else { "jpg" }
    }

    /// Its MIME type.
    pub fn content_type(&self) -> &'static str {
        if self.format == "PNG" {
            "image/png"
        } else {
            "image/jpeg"
        }
    }

    /// The object key / relative file name: `<stream>/<yyyy>/<mm>/<dd>/<hh>/<producer ms>-<server
    /// ms>-<fragment number>.<jpg|png>`, the date and hour (UTC) of the producer timestamp.
    ///
    /// Stream names are `[a-zA-Z0-9_.-]+`, so `.` and `..` are names too: those two are written
    /// `%2E` and `%2E%2E`, so a key is always a path below its destination directory.
    pub fn key(&self) -> String {
        let secs = self.producer_ms.div_euclid(1000);
        let (y, m, d) = crate::time::civil_from_days(secs.div_euclid(86_400));
        let h = secs.rem_euclid(86_400) / 3600;
        format!(
            "{}/{y:04}/{m:02}/{d:02}/{h:02}/{}-{}-{}.{}",
            match self.stream.as_str() {
                "." => "%2E",
                ".." => "%2E%2E",
                name => name,
            },
            self.producer_ms,
            self.server_ms,
            self.fragment,
            self.extension()
        )
    }
}

/// Counters of one stream's hook since its configuration was last set (in memory).
#[derive(Debug, Default)]
pub struct Stats {
    /// Pictures made and queued.
    pub generated: AtomicU64,
    /// Pictures the destination accepted.
    pub delivered: AtomicU64,
    /// Pictures dropped unsent because the queue was full (oldest first).
    pub dropped: AtomicU64,
    /// Pictures the destination refused or that failed after every retry.
    pub failed: AtomicU64,
    /// Fragments that gave no picture: no H.264/H.265 video, damaged, or not decodable.
    pub media_errors: AtomicU64,
    /// The last delivery or media error, for the API.
    pub last_error: Mutex<Option<String>>,
}

impl Stats {
    pub(super) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn set_error(&self, e: String) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
    }

    /// A copy of the counters.
    pub fn snapshot(&self, queued: usize) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            generated: get(&self.generated),
            delivered: get(&self.delivered),
            dropped: get(&self.dropped),
            failed: get(&self.failed),
            media_errors: get(&self.media_errors),
            queued: queued as u64,
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

/// The counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// See [`Stats::generated`].
    pub generated: u64,
    /// See [`Stats::delivered`].
    pub delivered: u64,
    /// See [`Stats::dropped`].
    pub dropped: u64,
    /// See [`Stats::failed`].
    pub failed: u64,
    /// See [`Stats::media_errors`].
    pub media_errors: u64,
    /// Pictures waiting in the queue (not counting the one being sent).
    pub queued: u64,
    /// See [`Stats::last_error`].
    pub last_error: Option<String>,
}

/// A bounded queue that drops its oldest entry when full.
#[derive(Debug)]
pub struct DeliveryQueue {
    items: Mutex<VecDeque<Picture>>,
    capacity: usize,
    ready: Notify,
    closed: std::sync::atomic::AtomicBool,
}

impl DeliveryQueue {
    /// A queue of at most `capacity` pictures (at least 1).
    pub fn new(capacity: usize) -> DeliveryQueue {
        DeliveryQueue {
            items: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            ready: Notify::new(),
            closed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Its capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Pictures waiting.
    pub fn len(&self) -> usize {
        self.items.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a picture; returns the one dropped to make room, if any. Never waits.
    pub fn push(&self, p: Picture) -> Option<Picture> {
        let dropped = {
            let mut items = self.items.lock().unwrap_or_else(|p| p.into_inner());
            let dropped = if items.len() >= self.capacity {
                items.pop_front()
            } else {
                None
            };
            items.push_back(p);
            dropped
        };
        self.ready.notify_one();
        dropped
    }

    /// No more pictures will come: [`DeliveryQueue::pop`] returns None once the queue is empty.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.ready.notify_one();
    }

    /// The oldest picture, waiting for one; None once the queue is closed and empty.
    pub async fn pop(&self) -> Option<Picture> {
        loop {
            let notified = self.ready.notified();
            if let Some(p) = self
                .items
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_front()
            {
                return Some(p);
            }
            if self.closed.load(Ordering::SeqCst) {
                return None;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pic(n: i64) -> Picture {
        Picture {
            stream: "cam".into(),
            fragment: "91343852333181432392682062607743920146959420404".into(),
            sample_ms: n,
            producer_ms: 1_700_000_000_000 + n,
            server_ms: 1_700_000_000_500 + n,
            selector: "PRODUCER_TIMESTAMP",
            format: "JPEG",
            bytes: Bytes::new(),
        }
    }

    #[tokio::test]
    async fn full_queue_drops_the_oldest() {
        let q = DeliveryQueue::new(2);
        assert!(q.push(pic(1)).is_none());
        assert!(q.push(pic(2)).is_none());
        assert_eq!(q.push(pic(3)).map(|p| p.sample_ms), Some(1));
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop().await.map(|p| p.sample_ms), Some(2));
        assert_eq!(q.pop().await.map(|p| p.sample_ms), Some(3));
        assert!(q.is_empty());
        // pop waits for a push, and ends once the queue is closed and drained.
        let q = std::sync::Arc::new(q);
        let q2 = std::sync::Arc::clone(&q);
        let waiter = tokio::spawn(async move { q2.pop().await.map(|p| p.sample_ms) });
        tokio::task::yield_now().await;
        q.push(pic(9));
        assert_eq!(waiter.await.unwrap(), Some(9));
        q.push(pic(10));
        q.close();
        assert_eq!(q.pop().await.map(|p| p.sample_ms), Some(10));
        assert!(q.pop().await.is_none());
    }

    #[test]
    fn keys_name_stream_time_and_fragment() {
        // 1_700_000_000_123 ms = 2023-11-14 22:13:20.123 UTC.
        let mut p = pic(123);
        assert_eq!(
            p.key(),
            "cam/2023/11/14/22/1700000000123-1700000000623-91343852333181432392682062607743920146959420404.jpg"
        );
        p.format = "PNG";
        assert!(p.key().ends_with(".png"));
        assert_eq!(p.content_type(), "image/png");
        // Issue 15: a stream named `..` wrote above the destination directory.
        for (name, dir) in [
            ("..", "%2E%2E"),
            (".", "%2E"),
            ("...", "..."),
            ("a.b", "a.b"),
        ] {
            p.stream = name.into();
            let key = p.key();
            assert!(key.starts_with(&format!("{dir}/")), "{key}");
            assert!(
                std::path::Path::new(&key)
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_))),
                "{key}"
            );
        }
    }
}
