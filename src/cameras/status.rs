//! What a camera is doing, as the API shows it, and the pure pieces of the runner's policy:
//! the reconnect backoff and the bitrate meter. No I/O, no clock of their own (callers pass
//! times), so they are table-tested here.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Serialize;

/// A camera's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CameraState {
    /// Not pulled (`enabled: false`).
    Disabled,
    /// Connecting, or connected and waiting for the first fragment.
    Connecting,
    /// Fragments are arriving.
    Streaming,
    /// The last attempt failed for a reason that may pass (network, camera restart); waiting to
    /// retry.
    Backoff,
    /// The last attempt failed for a reason that needs a person (401, unsupported codec, no such
    /// stream); still retried, at the longest backoff.
    Error,
}

/// A camera's status: `GET /v1/cameras/{name}` shows it as `status`. Times are epoch seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CameraStatus {
    /// The state.
    pub state: CameraState,
    /// When the last media bytes arrived from the camera.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_frame_time: Option<f64>,
    /// Connection attempts after the first one.
    pub reconnects: u64,
    /// Gaps in the recording: a session that delivered media was followed by another one.
    pub discontinuities: u64,
    /// Length of the last gap, in ms (last media of one session to first of the next).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_gap_ms: Option<u64>,
    /// When the last gap ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_gap_time: Option<f64>,
    /// Media bytes per second over the last few seconds.
    pub bytes_per_second: u64,
    /// Fragments received since the server started.
    pub fragments: u64,
    /// Video codec of the current or last session (`H264`, `H265`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codec: Option<&'static str>,
    /// Why the last attempt failed, in clear text; kept until a session delivers a fragment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// In backoff/error: ms until the next attempt (when the status was read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_in_ms: Option<u64>,
}

impl CameraStatus {
    /// The status of a camera in `state` with nothing recorded yet.
    pub fn new(state: CameraState) -> Self {
        CameraStatus {
            state,
            last_frame_time: None,
            reconnects: 0,
            discontinuities: 0,
            last_gap_ms: None,
            last_gap_time: None,
            bytes_per_second: 0,
            fragments: 0,
            codec: None,
            last_error: None,
            next_attempt_in_ms: None,
        }
    }
}

/// Capped exponential backoff with jitter: the n-th consecutive failure waits
/// `min(max, initial × 2^(n-1))`, scaled by a random factor in [0.5, 1] so that cameras behind
/// one failed switch do not reconnect in lock step.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    /// A backoff starting at `initial` (at least 1 ms), capped at `max` (at least `initial`).
    pub fn new(initial: Duration, max: Duration) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        Backoff {
            initial,
            max: max.max(initial),
            failures: 0,
        }
    }

    /// A session delivered media: the next failure starts from `initial` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// The wait before the next attempt, before jitter.
    pub fn next_base(&mut self) -> Duration {
        let shift = self.failures.min(20);
        self.failures = self.failures.saturating_add(1);
        self.initial.saturating_mul(1 << shift).min(self.max)
    }

    /// The longest wait (for failures that need a person).
    pub fn max(&self) -> Duration {
        self.max
    }

    /// `base` scaled by `unit` ∈ [0, 1] into [base/2, base].
    pub fn jitter(base: Duration, unit: f64) -> Duration {
        base.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
    }
}

/// Bytes per second over a sliding window of samples of a running byte count.
#[derive(Debug, Default)]
pub struct RateMeter {
    samples: VecDeque<(u64, u64)>,
}

impl RateMeter {
    /// Samples kept: with one sample a second, the rate covers the last five seconds.
    const WINDOW: usize = 6;

    /// Records the running total `bytes` at `at_ms`; returns bytes/s over the window.
    pub fn sample(&mut self, at_ms: u64, bytes: u64) -> u64 {
        self.samples.push_back((at_ms, bytes));
        while self.samples.len() > Self::WINDOW {
            self.samples.pop_front();
        }
        match (self.samples.front(), self.samples.back()) {
            (Some(&(t0, b0)), Some(&(t1, b1))) if t1 > t0 => {
                b1.saturating_sub(b0).saturating_mul(1000) / (t1 - t0)
            }
            _ => 0,
        }
    }

    /// Forgets the samples (a new session starts from zero).
    pub fn clear(&mut self) {
        self.samples.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let waits: Vec<u128> = (0..6).map(|_| b.next_base().as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
        b.reset();
        assert_eq!(b.next_base(), Duration::from_millis(100));
        for _ in 0..100 {
            assert!(b.next_base() <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn jitter_stays_in_half_to_full() {
        let base = Duration::from_millis(1000);
        assert_eq!(Backoff::jitter(base, 0.0), Duration::from_millis(500));
        assert_eq!(Backoff::jitter(base, 1.0), base);
        assert_eq!(Backoff::jitter(base, 7.0), base);
    }

    #[test]
    fn rate_over_the_window() {
        let mut m = RateMeter::default();
        assert_eq!(m.sample(0, 0), 0);
        assert_eq!(m.sample(1000, 1000), 1000);
        assert_eq!(m.sample(2000, 3000), 1500);
        for i in 3..20u64 {
            m.sample(i * 1000, 3000 + (i - 2) * 500);
        }
        assert_eq!(m.sample(20_000, 3000 + 18 * 500), 500);
    }
}
