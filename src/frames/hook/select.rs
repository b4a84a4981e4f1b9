//! Which pictures of one fragment the hook makes: pure, no I/O.
//!
//! Sample times are the multiples of the sampling interval on the selected timestamp axis
//! (epoch ms) that fall in the fragment, `[start, start + duration)`. The picture for a time `T`
//! is the frame *shown* at `T`, as GetImages chooses it (`api/images.rs`): the last frame with
//! a presentation timestamp ≤ `T` moved to the producer clock (for `SERVER_TIMESTAMP`, by the
//! fragment's producer − server offset). A time before the fragment's first frame gets nothing.
//! Two times showing the same frame give one picture (the earlier time names it), so a
//! destination never receives the same picture twice.

use super::super::CodedFrame;

/// One picture to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    /// The sample time on the selected axis, epoch ms (a multiple of the interval).
    pub sample_ms: i64,
    /// The shown frame's presentation timestamp, producer epoch ms.
    pub pts_ms: i64,
}

/// What to decode for a fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The pictures, in sample order.
    pub picks: Vec<Pick>,
    /// Decode-order indexes of the run to decode: from the keyframe before the earliest pick
    /// to the last pick. None when there is nothing to decode.
    pub range: Option<(usize, usize)>,
}

/// Most sample times per fragment (a 30 s fragment at the 200 ms minimum has 150): a bound
/// against a damaged duration, not a limit met in practice.
pub const MAX_SAMPLES: usize = 1000;

/// The sample times in `[start, start + duration)` that are multiples of `interval`, at most
/// [`MAX_SAMPLES`].
pub fn grid(start: i64, duration: i64, interval: i64) -> Vec<i64> {
    if interval <= 0 || duration <= 0 {
        return Vec::new();
    }
    let first = start.div_euclid(interval).saturating_mul(interval);
    let first = if first < start {
        first.saturating_add(interval)
    } else {
        first
    };
    let end = start.saturating_add(duration);
    let mut out = Vec::new();
    let mut t = first;
    while t < end && out.len() < MAX_SAMPLES {
        out.push(t);
        t = t.saturating_add(interval);
    }
    out
}

/// Plans the pictures of one fragment: `video` its video frames in decode order, `times` the
/// sample times, `offset` what turns a sample time into a producer time.
pub fn plan(video: &[CodedFrame], times: &[i64], offset: i64) -> Plan {
    let mut picks: Vec<Pick> = Vec::new();
    let mut indexes: Vec<usize> = Vec::new();
    for &t in times {
        let Some(i) = crate::frames::shown_at(video, t.saturating_add(offset)) else {
            continue;
        };
        let pts_ms = video[i].pts_ms;
        if picks.iter().any(|k| k.pts_ms == pts_ms) {
            continue;
        }
        picks.push(Pick {
            sample_ms: t,
            pts_ms,
        });
        indexes.push(i);
    }
    let range = crate::frames::decode_run(video, indexes.iter().copied());
    if range.is_none() {
        picks.clear();
    }
    Plan { picks, range }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(pts: i64, key: bool) -> CodedFrame {
        CodedFrame::test(pts, key)
    }

    #[test]
    fn grid_is_the_multiples_inside_the_fragment() {
        assert_eq!(grid(999, 1000, 500), vec![1000, 1500]);
        assert_eq!(grid(1000, 1000, 500), vec![1000, 1500]);
        assert_eq!(grid(1001, 999, 500), vec![1500]);
        assert_eq!(grid(1001, 498, 500), Vec::<i64>::new());
        assert_eq!(grid(-700, 1000, 500), vec![-500, 0]);
        assert_eq!(grid(0, 0, 500), Vec::<i64>::new());
        assert_eq!(grid(0, 1000, 0), Vec::<i64>::new());
        // i64::MAX is a multiple of 7: only MAX - 7 is inside.
        assert_eq!(grid(i64::MAX - 10, 100, 7), vec![i64::MAX - 7]);
        // A huge duration is cut at MAX_SAMPLES.
        assert_eq!(grid(0, i64::MAX, 200).len(), MAX_SAMPLES);
    }

    #[test]
    fn picks_the_frame_shown_and_plans_one_run() {
        // I0 P33 P66 P100 I133 P166 at producer epoch 10_000 + pts.
        let v: Vec<CodedFrame> = [0, 33, 66, 100, 133, 166]
            .iter()
            .map(|&p| frame(10_000 + p, p == 0 || p == 133))
            .collect();
        let p = plan(&v, &[10_000, 10_050, 10_150], 0);
        let pts: Vec<i64> = p.picks.iter().map(|k| k.pts_ms).collect();
        assert_eq!(pts, vec![10_000, 10_033, 10_133]);
        assert_eq!(p.range, Some((0, 4)));
        // Later times only: the run starts at the second keyframe.
        let p = plan(&v, &[10_140, 10_170], 0);
        assert_eq!(p.range, Some((4, 5)));
        // The server axis: sample 5_000 on a server clock 5 s behind the producer.
        let p = plan(&v, &[5_040], 5_000);
        assert_eq!(
            p.picks,
            vec![Pick {
                sample_ms: 5_040,
                pts_ms: 10_033
            }]
        );
        // Before the first frame: nothing.
        let p = plan(&v, &[9_999], 0);
        assert!(p.picks.is_empty() && p.range.is_none());
        // Two times on one frame: one picture, named by the earlier time.
        let p = plan(&v, &[10_034, 10_040], 0);
        assert_eq!(p.picks.len(), 1);
        assert_eq!(p.picks[0].sample_ms, 10_034);
        // No keyframe to start from: nothing.
        let p = plan(&[frame(0, false)], &[5], 0);
        assert!(p.picks.is_empty() && p.range.is_none());
    }
}
