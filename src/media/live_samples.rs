//! A fragment on the live bus (not persisted yet) as the media model: the tracks it is produced
//! under and its frames so far as samples, so that live readers (LL-HLS parts, the frame feed)
//! build from the same types as stored ones.

use super::model::{self, MediaError, MediaTrack, Sample};
use crate::live::Buffered;

/// Fallback duration of a track's only frame so far, ms (a frame at 30 fps).
const LONE_FRAME_MS: i64 = 33;

/// The tracks and samples of a live fragment, on the producer timeline. Frames arrive in decode
/// order with presentation times only: decode times equal presentation times (live fragments
/// are cut at keyframes and sent by producers without reordering delay in their timecodes), and
/// a sample lasts until the next frame of its track (the last one: its predecessor's duration).
pub fn live_samples(b: &Buffered) -> Result<(Vec<MediaTrack>, Vec<Sample>), MediaError> {
    let tracks = model::tracks_element(&b.start.tracks)?;
    let start = b.start.producer_ms;
    let mut samples: Vec<Sample> = b
        .frames
        .iter()
        .map(|f| Sample {
            track: f.track,
            pts_ms: start + i64::from(f.rel_ms),
            dts_ms: start + i64::from(f.rel_ms),
            duration_ms: 0,
            key: f.keyframe,
            data: f.data.clone(),
        })
        .collect();
    for i in 0..samples.len() {
        let next = samples[i + 1..]
            .iter()
            .find(|x| x.track == samples[i].track)
            .map(|x| x.dts_ms - samples[i].dts_ms);
        samples[i].duration_ms = match next {
            Some(d) => d.max(0),
            None => samples[..i]
                .iter()
                .rev()
                .find(|x| x.track == samples[i].track)
                .map_or(LONE_FRAME_MS, |x| x.duration_ms),
        };
    }
    Ok((tracks, samples))
}
