//! One ingest session per stream: a newer session takes over from an older one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::model::StreamId;

struct Slot {
    id: u64,
    stop: watch::Sender<bool>,
    done: watch::Receiver<bool>,
}

/// The live sessions.
#[derive(Default)]
pub struct Sessions {
    slots: Mutex<HashMap<StreamId, Slot>>,
    next: AtomicU64,
}

/// A claimed session slot. Dropping it marks the session done.
pub struct Claim {
    sessions: Arc<Sessions>,
    stream: StreamId,
    id: u64,
    /// Becomes true when a newer session wants the stream.
    pub stop: watch::Receiver<bool>,
    done: watch::Sender<bool>,
    /// The previous session's `done`, to wait on before starting.
    pub previous: Option<watch::Receiver<bool>>,
}

impl Sessions {
    /// Takes the stream's slot, telling its current holder (if any) to stop.
    pub fn claim(self: &Arc<Self>, stream: StreamId) -> Claim {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (stop_tx, stop_rx) = watch::channel(false);
        let (done_tx, done_rx) = watch::channel(false);
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let previous = slots
            .insert(
                stream,
                Slot {
                    id,
                    stop: stop_tx,
                    done: done_rx,
                },
            )
            .map(|old| {
                let _ = old.stop.send(true);
                old.done
            });
        Claim {
            sessions: Arc::clone(self),
            stream,
            id,
            stop: stop_rx,
            done: done_tx,
            previous,
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let _ = self.done.send(true);
        let mut slots = self
            .sessions
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if slots.get(&self.stream).is_some_and(|s| s.id == self.id) {
            slots.remove(&self.stream);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_claim_stops_older_and_waits_for_it() {
        let s = Arc::new(Sessions::default());
        let first = s.claim(StreamId(1));
        assert!(first.previous.is_none());
        assert!(!*first.stop.borrow());
        let second = s.claim(StreamId(1));
        assert!(*first.stop.borrow(), "the old session is told to stop");
        let prev = second.previous.clone().expect("waits on the old one");
        assert!(!*prev.borrow());
        drop(first);
        assert!(*prev.borrow(), "done once the old session is gone");
        // The slot still belongs to the second session.
        let third = s.claim(StreamId(1));
        assert!(*second.stop.borrow());
        drop(third);
        drop(second);
        assert!(s.slots.lock().unwrap().is_empty());
        // Other streams are independent.
        let a = s.claim(StreamId(2));
        let b = s.claim(StreamId(3));
        assert!(!*a.stop.borrow() && b.previous.is_none());
    }
}
