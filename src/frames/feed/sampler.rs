//! Which frames a feed sends: a pure, deterministic rule, so that a consumer resuming from its
//! checkpoint gets exactly the frames an uninterrupted connection would have sent.
//!
//! The producer-timestamp axis is cut into buckets `[k·I, (k+1)·I)` (`I` = the sampling
//! interval, `k` an integer, epoch-aligned). Frames are considered in stream order (fragment
//! number, then decode order); a frame is taken when its bucket is greater than the bucket of
//! the last frame taken — i.e. the feed sends the first frame at or after each grid time
//! `k·I` that has media (with monotonic timestamps: the first frame of every bucket). Frames
//! at or before the last taken position `(fragment seq, producer ms)` are never taken, so
//! resuming from a checkpoint `(seq, ms)` = starting with `last = (seq, ms)`.

/// The sampling state of one feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sampler {
    interval: i64,
    /// Frames before this producer time are not taken (`Start=<timestamp>`).
    min_ms: i64,
    /// The position (fragment seq, producer ms) of the last frame taken or skipped over.
    last: Option<(i64, i64)>,
    /// The bucket of the last frame taken; None: the next frame past `last` is taken.
    last_bucket: Option<i64>,
}

impl Sampler {
    /// A sampler taking frames at or after `min_ms`, one per `interval_ms` bucket.
    pub fn new(interval_ms: i64, min_ms: i64) -> Sampler {
        Sampler {
            interval: interval_ms.max(1),
            min_ms,
            last: None,
            last_bucket: None,
        }
    }

    /// A sampler resuming after the frame at `(seq, producer_ms)` (a checkpoint).
    pub fn resume(interval_ms: i64, seq: i64, producer_ms: i64) -> Sampler {
        let mut s = Sampler::new(interval_ms, i64::MIN);
        s.last = Some((seq, producer_ms));
        s.last_bucket = Some(s.bucket(producer_ms));
        s
    }

    /// A sampler that takes the first frame strictly after `(seq, producer_ms)`, whatever its
    /// bucket (`Start=NOW`: the first frame to arrive).
    pub fn after(interval_ms: i64, seq: i64, producer_ms: i64) -> Sampler {
        let mut s = Sampler::new(interval_ms, i64::MIN);
        s.last = Some((seq, producer_ms));
        s
    }

    fn bucket(&self, ms: i64) -> i64 {
        ms.div_euclid(self.interval)
    }

    /// Whether the frame at `(seq, producer_ms)` is sent; if so it becomes the last position.
    pub fn take(&mut self, seq: i64, producer_ms: i64) -> bool {
        if producer_ms < self.min_ms || self.last.is_some_and(|l| (seq, producer_ms) <= l) {
            return false;
        }
        let b = self.bucket(producer_ms);
        if self.last_bucket.is_some_and(|l| b <= l) {
            return false;
        }
        self.last = Some((seq, producer_ms));
        self.last_bucket = Some(b);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (seq, ms) of a 30 fps stream: fragments of 30 frames, 33 ms apart, from `t0`.
    fn stream(t0: i64, fragments: i64) -> Vec<(i64, i64)> {
        (0..fragments)
            .flat_map(|f| (0..30).map(move |i| (f + 1, t0 + (f * 30 + i) * 33)))
            .collect()
    }

    fn run(s: &mut Sampler, frames: &[(i64, i64)]) -> Vec<(i64, i64)> {
        frames
            .iter()
            .copied()
            .filter(|&(q, t)| s.take(q, t))
            .collect()
    }

    #[test]
    fn one_frame_per_bucket_on_an_epoch_grid() {
        let frames = stream(10_000, 3);
        let taken = run(&mut Sampler::new(500, i64::MIN), &frames);
        // Buckets of 500 ms: the first frame at or after 10000, 10500, 11000, ...
        let times: Vec<i64> = taken.iter().map(|t| t.1).collect();
        assert_eq!(&times[..4], &[10_000, 10_528, 11_023, 11_518]);
        assert!(times.windows(2).all(|w| w[1] / 500 == w[0] / 500 + 1));
        // Interval 1: every frame.
        assert_eq!(run(&mut Sampler::new(1, i64::MIN), &frames).len(), 90);
    }

    #[test]
    fn start_time_is_the_first_frame_at_or_after_it() {
        let frames = stream(10_000, 2);
        let taken = run(&mut Sampler::new(1000, 10_400), &frames);
        assert_eq!(taken[0].1, 10_429, "first frame at or after the start");
        assert_eq!(taken[1].1, 11_023, "then the grid");
    }

    #[test]
    fn resume_from_any_taken_frame_gives_exactly_the_rest() {
        let frames = stream(7, 5);
        for interval in [1, 33, 100, 250, 1000] {
            let all = run(&mut Sampler::new(interval, i64::MIN), &frames);
            for (k, &(seq, ms)) in all.iter().enumerate() {
                // Resume reads from the checkpoint's fragment on.
                let rest: Vec<(i64, i64)> = frames.iter().copied().filter(|f| f.0 >= seq).collect();
                let resumed = run(&mut Sampler::resume(interval, seq, ms), &rest);
                assert_eq!(resumed, all[k + 1..], "interval {interval}, after {k}");
            }
        }
    }

    #[test]
    fn after_takes_the_next_frame_then_follows_the_grid() {
        let frames = stream(0, 2);
        let taken = run(&mut Sampler::after(1000, 1, 99), &frames);
        assert_eq!(taken[0], (1, 132));
        assert_eq!(taken[1], (2, 1023));
    }
}
