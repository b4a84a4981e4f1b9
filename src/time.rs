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

/// Days since 1970-01-01 as a proleptic Gregorian (year, month 1–12, day 1–31) (Howard
/// Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Epoch ms as RFC 3339 / `xs:dateTime` in UTC with milliseconds: `2024-09-18T16:41:27.758Z`.
pub fn rfc3339_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        ms.rem_euclid(1000)
    )
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
    fn dates_are_rfc3339_utc() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339_ms(1_764_183_845_007), "2025-11-26T19:04:05.007Z");
        assert_eq!(rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn sim_clock_moves_only_when_told() {
        let c = SimClock::new(ServerTime(1000));
        assert_eq!(c.now(), ServerTime(1000));
        c.advance_ms(3_600_000);
        assert_eq!(c.now(), ServerTime(3_601_000));
    }
}
