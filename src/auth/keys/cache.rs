//! The lookup cache of [`KeyStore`](super::KeyStore): access key id → what it resolved to
//! (`None`: unknown or inactive), with the time it was read from the index.
//!
//! A read that started before an invalidation must not put its (possibly stale) answer back: a
//! miss hands out a [`Ticket`] holding the invalidation count, and [`Cache::put`] drops the
//! answer if any invalidation happened since. Invalidations are rare (key changes), so one
//! counter for the whole cache is enough.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::Resolved;

/// A cached answer.
type Answer = Option<Arc<Resolved>>;

/// What [`Cache::get`] found.
pub(super) enum Cached {
    /// A fresh entry.
    Hit(Answer),
    /// No fresh entry: read the index, then [`Cache::put`] with this ticket.
    Miss(Ticket),
}

/// The invalidation count when a miss was seen.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ticket(u64);

struct Entry {
    answer: Answer,
    read_at: Instant,
}

#[derive(Default)]
struct State {
    entries: HashMap<String, Entry>,
    invalidations: u64,
}

pub(super) struct Cache {
    state: Mutex<State>,
    ttl: Duration,
    capacity: usize,
}

impl Cache {
    pub(super) fn new(ttl: Duration, capacity: usize) -> Cache {
        Cache {
            state: Mutex::default(),
            ttl,
            capacity: capacity.max(1),
        }
    }

    /// The state. A panic while it was held cannot leave it inconsistent (every change is one
    /// map operation or a counter increment), so a poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn get(&self, id: &str) -> Cached {
        let state = self.lock();
        match state.entries.get(id) {
            Some(e) if e.read_at.elapsed() < self.ttl => Cached::Hit(e.answer.clone()),
            _ => Cached::Miss(Ticket(state.invalidations)),
        }
    }

    /// Caches an answer read after `ticket` was handed out, unless an invalidation happened since.
    pub(super) fn put(&self, id: &str, answer: Answer, ticket: Ticket) {
        let mut state = self.lock();
        if state.invalidations != ticket.0 {
            return;
        }
        if state.entries.len() >= self.capacity && !state.entries.contains_key(id) {
            let ttl = self.ttl;
            state.entries.retain(|_, e| e.read_at.elapsed() < ttl);
            if state.entries.len() >= self.capacity {
                // All fresh: drop an eighth, arbitrary ones, so that this scan is rare.
                let victims: Vec<String> = state
                    .entries
                    .keys()
                    .take(self.capacity / 8 + 1)
                    .cloned()
                    .collect();
                for v in victims {
                    state.entries.remove(&v);
                }
            }
        }
        state.entries.insert(
            id.to_owned(),
            Entry {
                answer,
                read_at: Instant::now(),
            },
        );
    }

    /// Forgets `id` and voids every ticket handed out so far.
    pub(super) fn invalidate(&self, id: &str) {
        let mut state = self.lock();
        state.entries.remove(id);
        state.invalidations += 1;
    }

    pub(super) fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_reads_are_not_cached_and_capacity_holds() {
        let c = Cache::new(Duration::from_secs(60), 16);
        let Cached::Miss(t) = c.get("a") else {
            panic!("empty cache hit")
        };
        c.invalidate("b");
        c.put("a", None, t);
        assert!(
            matches!(c.get("a"), Cached::Miss(_)),
            "a read that raced with an invalidation is dropped"
        );
        for i in 0..100 {
            let Cached::Miss(t) = c.get(&i.to_string()) else {
                panic!("miss expected")
            };
            c.put(&i.to_string(), None, t);
            assert!(c.len() <= 16, "{}", c.len());
        }
        assert!(matches!(c.get("99"), Cached::Hit(None)));
        let Cached::Miss(t) = c.get("new") else {
            panic!("miss expected")
        };
        c.put("new", None, t);
        c.invalidate("new");
        assert!(matches!(c.get("new"), Cached::Miss(_)));
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let c = Cache::new(Duration::ZERO, 4);
        let Cached::Miss(t) = c.get("a") else {
            panic!("miss expected")
        };
        c.put("a", None, t);
        assert!(
            matches!(c.get("a"), Cached::Miss(_)),
            "a zero TTL never hits"
        );
    }
}
