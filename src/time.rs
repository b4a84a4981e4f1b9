//! Time: typed timestamps and an injectable clock.
//!
//! Producer and server timestamps are different things (one comes from the media, one from our
//! clock) and must never be mixed, so each gets a newtype. Anything time-based takes a [`Clock`], so
//! tests can run hours of retention in microseconds with [`SimClock`].

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, as stamped by the server's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerTime(pub i64);

impl ServerTime {
    /// Seconds since the epoch as the JSON number KVS uses (`1515006185.591`).
    pub fn as_epoch_seconds(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// Milliseconds since the epoch.
    pub fn millis(self) -> i64 {
        self.0
    }
}

/// A source of the current server time.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> ServerTime;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> ServerTime {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        ServerTime(ms)
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug, Clone)]
pub struct SimClock(Arc<AtomicI64>);

impl SimClock {
    /// A clock stopped at `start`.
    pub fn new(start: ServerTime) -> Self {
        SimClock(Arc::new(AtomicI64::new(start.0)))
    }

    /// Moves the clock forward by `ms` milliseconds.
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for SimClock {
    fn now(&self) -> ServerTime {
        ServerTime(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_seconds_keep_millis() {
        assert_eq!(
            ServerTime(1_515_006_185_591).as_epoch_seconds(),
            1_515_006_185.591
        );
    }

    #[test]
    fn sim_clock_moves_only_when_told() {
        let c = SimClock::new(ServerTime(1000));
        assert_eq!(c.now(), ServerTime(1000));
        c.advance_ms(3_600_000);
        assert_eq!(c.now(), ServerTime(3_601_000));
    }
}
