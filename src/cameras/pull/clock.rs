//! Frame times from RTP timestamps, kept on the server's clock.
//!
//! The camera agent's contract (see `runner`) is that a frame's producer timestamp is when it
//! reached the server. Stamping each frame with its arrival time would pass network and
//! packetization jitter into the frame durations (a keyframe arrives later than a small P-frame
//! sent at the same rate), so frames are timed by their RTP timestamps instead, anchored at the
//! first frame's arrival. The anchor then slews slowly towards the arrival times, so a camera
//! whose clock runs fast or slow does not drift away from the server's clock; a jump (a camera
//! that restarted its timestamps, a long stall) re-anchors at once. Pure: no clock, no I/O.

/// Re-anchor when the RTP time is this far ahead of the arrival time (ms)…
const MAX_AHEAD_MS: i64 = 1_000;
/// …or this far behind it (ms).
const MAX_BEHIND_MS: i64 = 3_000;
/// The anchor moves by 1/SLEW of the current error per frame: a time constant of about 8 s at
/// 30 fps, so arrival jitter averages out and a 100 ppm clock error lags by under 1 ms.
const SLEW: f64 = 256.0;

/// One RTP stream's clock.
#[derive(Debug, Clone)]
pub struct FrameClock {
    rate: f64,
    /// (RTP ticks, arrival ms) of the anchor; ms may be fractional after slewing.
    anchor: Option<(i64, f64)>,
}

impl FrameClock {
    /// A clock for an RTP stream with the given clock rate (Hz; 0 is taken as 90 kHz).
    pub fn new(clock_rate: u32) -> Self {
        FrameClock {
            rate: if clock_rate == 0 {
                90_000.0
            } else {
                f64::from(clock_rate)
            },
            anchor: None,
        }
    }

    /// The time (ms on the caller's clock) of a frame with unwrapped RTP timestamp `ticks`
    /// (retina's `Timestamp::elapsed`) that arrived at `arrival_ms`.
    pub fn stamp(&mut self, ticks: i64, arrival_ms: i64) -> i64 {
        let arrival = arrival_ms as f64;
        let Some((t0, a0)) = self.anchor else {
            self.anchor = Some((ticks, arrival));
            return arrival_ms;
        };
        let out = a0 + (ticks - t0) as f64 * 1000.0 / self.rate;
        let err = arrival - out;
        if !(-(MAX_AHEAD_MS as f64)..=MAX_BEHIND_MS as f64).contains(&err) {
            self.anchor = Some((ticks, arrival));
            return arrival_ms;
        }
        self.anchor = Some((t0, a0 + err / SLEW));
        out.round() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: i64 = 3000; // 30 fps at 90 kHz

    #[test]
    fn follows_rtp_time_not_arrival_jitter() {
        let mut c = FrameClock::new(90_000);
        assert_eq!(c.stamp(1000, 5000), 5000);
        // Frame 1 arrives 40 ms late, frame 2 on time: stamps stay 33 ms apart.
        let t1 = c.stamp(1000 + FRAME, 5033 + 40);
        let t2 = c.stamp(1000 + 2 * FRAME, 5067);
        assert_eq!((t1, t2), (5033, 5067));
    }

    #[test]
    fn b_frames_go_back() {
        let mut c = FrameClock::new(90_000);
        c.stamp(10 * FRAME, 0);
        let p = c.stamp(12 * FRAME, 33);
        let b = c.stamp(11 * FRAME, 67);
        assert!(b < p, "{b} {p}");
    }

    #[test]
    fn a_timestamp_jump_reanchors_at_arrival() {
        let mut c = FrameClock::new(90_000);
        c.stamp(0, 0);
        c.stamp(FRAME, 33);
        assert_eq!(c.stamp(FRAME + 900_000_000, 67), 67);
        assert_eq!(c.stamp(2 * FRAME + 900_000_000, 100), 100);
        // A camera that went quiet for 5 s and resumes with continuous timestamps.
        assert_eq!(c.stamp(3 * FRAME + 900_000_000, 5133), 5133);
    }

    #[test]
    fn a_drifting_camera_clock_stays_near_arrival() {
        // The camera's 90 kHz runs 200 ppm fast (or slow): after an hour its RTP time is 720 ms
        // off; the stamps must stay within a few ms of arrival and 33 ms apart.
        for ppm in [200i64, -200] {
            let mut c = FrameClock::new(90_000);
            let mut worst = 0i64;
            let mut prev = None;
            for i in 0..108_000i64 {
                let arrival = i * 100 / 3;
                let ticks = i * FRAME * (1_000_000 + ppm) / 1_000_000;
                let t = c.stamp(ticks, arrival);
                if i > 3000 {
                    worst = worst.max((t - arrival).abs());
                }
                if let Some(p) = prev {
                    assert!((32..=35).contains(&(t - p)), "{ppm} ppm: step {}", t - p);
                }
                prev = Some(t);
            }
            assert!(worst <= 3, "{ppm} ppm: drifted {worst} ms");
        }
    }
}
