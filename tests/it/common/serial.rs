//! Which tests may run at the same time. All integration tests share one process (and, on a
//! small machine, two cores), so a test that measures the process itself (its RSS, its CPU time)
//! or holds a timing bound that other tests' load would break must run with no other test.
//!
//! - [`alone`]: an exclusive guard. It waits until no [`shared`] guard is held, then holds new
//!   ones off until it is dropped.
//! - [`shared`]: taken by every [`TestServer`](super::TestServer) for its lifetime (so most tests
//!   take it without saying so), and explicitly by tests that load the machine without one
//!   (child `vidstream` processes, Chromium). Any number may be held at once.
//!
//! A test holding [`alone`] may still start servers: a [`shared`] request from the thread that
//! holds the exclusive guard (the test's own libtest thread) is granted at once. A waiting
//! [`alone`] does not hold off new [`shared`] guards (a test that holds one may take a second,
//! e.g. for a second server, and must not deadlock); it is granted as soon as the count drops
//! to zero, which happens between tests.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread::ThreadId;
use std::time::Duration;

struct State {
    shared: usize,
    /// The thread of the test that holds the exclusive guard.
    alone: Option<ThreadId>,
}

static STATE: Mutex<State> = Mutex::new(State {
    shared: 0,
    alone: None,
});
static CHANGED: Condvar = Condvar::new();

/// The longest a guard waits: far above any one test's run time, so a wait this long is a
/// deadlock (e.g. a test holding [`alone`] that starts a server from another thread).
const PATIENCE: Duration = Duration::from_secs(20 * 60);

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|p| p.into_inner())
}

fn wait<'a>(
    guard: MutexGuard<'a, State>,
    what: &str,
    blocked: impl FnMut(&mut State) -> bool,
) -> MutexGuard<'a, State> {
    let (guard, timeout) = CHANGED
        .wait_timeout_while(guard, PATIENCE, blocked)
        .unwrap_or_else(|p| p.into_inner());
    assert!(!timeout.timed_out(), "waited {PATIENCE:?} for {what}");
    guard
}

/// Held while a test runs alone; see the module doc.
#[must_use = "the test runs alone only while the guard is held"]
pub struct Alone(());

/// Waits until no other test holds a [`shared`] guard and keeps them off until dropped.
/// Blocking: call it first thing in the test (before its runtime has work).
pub fn alone() -> Alone {
    let me = std::thread::current().id();
    let mut s = wait(state(), "the other tests to finish", |s| {
        s.alone.is_some() || s.shared > 0
    });
    s.alone = Some(me);
    Alone(())
}

impl Drop for Alone {
    fn drop(&mut self) {
        state().alone = None;
        CHANGED.notify_all();
    }
}

/// Held while a test (or a server of it) may run beside others; see the module doc.
#[must_use = "the guard keeps exclusive tests off only while it is held"]
pub struct Shared {
    counted: bool,
}

/// Waits while a test runs [`alone`] (unless it is this thread's), then counts this one in.
pub fn shared() -> Shared {
    let me = std::thread::current().id();
    let s = state();
    if s.alone == Some(me) {
        return Shared { counted: false };
    }
    let mut s = wait(s, "a test running alone", |s| s.alone.is_some());
    s.shared += 1;
    Shared { counted: true }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if self.counted {
            state().shared -= 1;
            CHANGED.notify_all();
        }
    }
}
