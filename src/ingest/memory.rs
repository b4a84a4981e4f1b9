//! The memory ingest sessions hold: input not parsed yet (a partial block) and the fragment
//! being assembled. Each session may hold up to the largest fragment (`max_fragment_bytes`);
//! together they stay near a process-wide budget.
//!
//! The rule keeps one stream's trouble from failing another: when the budget is used up, a
//! session that asks for more fails only if it already holds more than its fair share (the
//! budget divided by the sessions open); a session below its share still gets what it asks. So a
//! producer sending one huge, slow block is refused, while the small fragments of every other
//! stream keep flowing; in the worst case the total reaches twice the budget (each session at
//! most its share beyond it), never more.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The process-wide budget.
#[derive(Debug)]
pub struct IngestMemory {
    limit: usize,
    used: AtomicUsize,
    sessions: AtomicUsize,
}

impl IngestMemory {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<IngestMemory> {
        Arc::new(IngestMemory {
            limit: limit.max(1),
            used: AtomicUsize::new(0),
            sessions: AtomicUsize::new(0),
        })
    }

    /// Bytes held by all sessions now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// A session's lease, holding nothing yet.
    pub fn lease(self: &Arc<Self>) -> Lease {
        self.sessions.fetch_add(1, Ordering::Relaxed);
        Lease {
            memory: Arc::clone(self),
            held: 0,
        }
    }
}

/// What one session holds; dropping it gives everything back.
#[derive(Debug)]
pub struct Lease {
    memory: Arc<IngestMemory>,
    held: usize,
}

impl Lease {
    /// Sets what the session holds to `want` bytes; `false` (and nothing changed) when the
    /// budget is used up and the session is over its fair share.
    pub fn resize(&mut self, want: usize) -> bool {
        let m = &self.memory;
        if want <= self.held {
            m.used.fetch_sub(self.held - want, Ordering::Relaxed);
            self.held = want;
            return true;
        }
        let more = want - self.held;
        let used = m.used.fetch_add(more, Ordering::Relaxed) + more;
        let fair = m.limit / m.sessions.load(Ordering::Relaxed).max(1);
        if used > m.limit && want > fair {
            m.used.fetch_sub(more, Ordering::Relaxed);
            return false;
        }
        self.held = want;
        true
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.memory.used.fetch_sub(self.held, Ordering::Relaxed);
        self.memory.sessions.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_greedy_session_is_refused_others_are_not() {
        let m = IngestMemory::new(1000);
        let mut greedy = m.lease();
        let mut small = m.lease();
        assert!(greedy.resize(900));
        assert!(
            !greedy.resize(1200),
            "over the budget and over its share (500)"
        );
        assert_eq!(m.used(), 900);
        // Below its share, a session gets memory even with the budget used up.
        assert!(small.resize(300));
        assert_eq!(m.used(), 1200);
        assert!(!small.resize(600), "over its share now");
        drop(greedy);
        assert_eq!(m.used(), 300);
        assert!(small.resize(900), "the budget has room again");
        drop(small);
        assert_eq!(m.used(), 0);
    }
}
