//! GetImages' picking: which picture answers which sample time (the wire is `api::images`).
//!
//! Sample times are epoch ms on the producer or the server axis. The image for `T` is the frame
//! *shown* at `T`: the last frame with a presentation timestamp ≤ `T` in the fragment at `T`
//! (the tie rule of [`crate::media`]: the last fragment starting at or before `T` that lasts
//! past it; equal start timestamps keep the highest fragment number), as long as that frame is
//! still on screen (its pts + duration is past `T`); a `T` just before a fragment's first frame
//! (fragment timestamps can precede the first frame by a millisecond) shows the previous
//! contiguous fragment's last frame. It is decoded from the fragment's keyframe. This is exact
//! to the frame, where KVS works per fragment and answers `NO_MEDIA` for a time inside a
//! fragment it skipped (KVS-API.md §1.4).
//! - A `T` that no fragment covers (before the stream, in a gap, after it): [`Entry::NoMedia`].
//! - A covering fragment without H.264/H.265 video, or whose picture cannot be decoded:
//!   [`Entry::MediaError`].
//! - Server timestamps: `T` selects the fragment by server timestamps, then moves to the
//!   producer clock the media is timed in with that fragment's offset (producer − server
//!   timestamp of its start); the picture is the one shown at that producer time.
//!
//! # Cost
//! Times falling in one fragment share one decode pass, from the keyframe to the last wanted
//! picture; passes run within the process-wide decode limit ([`super::run_pass`]). The
//! segments read stay held ([`crate::store::Store::hold_segments`]) until the page is done.
//!
//! Before any fragment is read or decoded, the page is priced ([`ImageBudget`]): the picture
//! size of every covering fragment comes from its track header's SPS
//! ([`crate::media::sps`]); one over `[playback] decode_max_pixels` refuses the request
//! ([`ImagesError::TooLarge`]), and so does a page whose images cost more than
//! `[playback] images_max_request_pixels` ([`ImagesError::OverBudget`]): each image costs its
//! output pixels, a PNG [`PNG_WEIGHT`] times more (zlib over RGB is that much slower than JPEG
//! over YUV: 3–8 ms against 17–190 ms for a 1080p picture on one core, depending on how
//! noisy it is). The decode guard ([`super::picture_size`]) still checks the SPS the frames
//! carry themselves.

use std::collections::{BTreeMap, HashMap};

use super::{CodedFrame, FrameError, ImageFormat, OutputSpec, output_size};
use crate::media::sps::{self, PictureInfo};
use crate::media::{Media, ReadError, stamp};
use crate::model::StreamId;
use crate::store::fragment::FragmentRecord;
use crate::store::index::TimestampKind;

/// A fragment's indexed duration counts from its timestamp, which may precede its first frame
/// by a little, so its last frame can be on screen slightly past timestamp + duration: times up
/// to this much later are checked against the frames themselves.
const END_SLACK_MS: i64 = 1000;

/// What one sample time gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// No fragment covers the time.
    NoMedia,
    /// The covering fragment has no decodable picture for it.
    MediaError,
    /// The encoded picture.
    Image(Vec<u8>),
}

/// How much one GetImages request may make the server decode and encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageBudget {
    /// Largest coded picture decoded (`[playback] decode_max_pixels`).
    pub max_pixels: u64,
    /// Most cost units (output pixels, PNG weighted) per request
    /// (`[playback] images_max_request_pixels`).
    pub max_request_cost: u64,
}

/// Default of `[playback] images_max_request_pixels`: 128 Mi cost units. 25 JPEG images at
/// 1920x1080 cost 52 M and fit, as do 25 PNG at 640x480 (61 M); 25 JPEG at 3840x2160 (207 M)
/// or 25 PNG at 1920x1080 (415 M) do not: fewer per page do.
pub const DEFAULT_MAX_REQUEST_COST: u64 = 128 << 20;

/// How many JPEG pixels a PNG pixel costs.
pub const PNG_WEIGHT: u64 = 8;

/// The cost of one image of `out` pixels in `format`.
pub fn image_cost(format: ImageFormat, out: (u32, u32)) -> u64 {
    let px = u64::from(out.0) * u64::from(out.1);
    match format {
        ImageFormat::Jpeg { .. } => px,
        // Raw RGB24 is not a GetImages format; priced like PNG (3 bytes a pixel to copy out).
        ImageFormat::Png | ImageFormat::Rgb24 => px * PNG_WEIGHT,
    }
}

/// Why a GetImages request is refused before anything is decoded, or could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ImagesError {
    /// Reading the index or the store failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A covering fragment's pictures are larger than the server decodes.
    #[error(
        "the stream's pictures at {at_ms} ms are {width}x{height}, over the {max_pixels} pixels this server decodes ([playback] decode_max_pixels); ask for a time range without them"
    )]
    TooLarge {
        /// A sample time whose fragment has them.
        at_ms: i64,
        /// Coded width, from the SPS.
        width: u32,
        /// Coded height.
        height: u32,
        /// The limit.
        max_pixels: u64,
    },
    /// The page would cost more than the budget.
    #[error(
        "this page of {images} images of up to {width}x{height} {format} costs {cost} pixel units, over the {budget} one request may cost ([playback] images_max_request_pixels; a PNG pixel counts {PNG_WEIGHT}); ask for at most {fits} images per page with MaxResults, or smaller images with WidthPixels/HeightPixels{jpeg}"
    )]
    OverBudget {
        /// Images the page would make.
        images: usize,
        /// The largest output size among them.
        width: u32,
        /// Its height.
        height: u32,
        /// "JPEG" or "PNG".
        format: &'static str,
        /// What they cost.
        cost: u64,
        /// The budget.
        budget: u64,
        /// How many of the largest fit.
        fits: u64,
        /// The JPEG hint for PNG requests, else empty.
        jpeg: &'static str,
    },
}

/// What a time gets from one fragment, before the previous-fragment rule.
enum Got {
    Entry(Entry),
    /// Before the first frame of the fragment asked.
    BeforeFirst,
}

/// The entries for `times` (ascending, on the `kind` axis) of `stream`, in order, pictures made
/// as `spec` says.
pub async fn images_at(
    media: &Media,
    stream: StreamId,
    kind: TimestampKind,
    spec: &OutputSpec,
    times: &[i64],
    budget: &ImageBudget,
) -> Result<Vec<Entry>, ImagesError> {
    let mut entries: Vec<Entry> = times.iter().map(|_| Entry::NoMedia).collect();
    let (Some(&from), Some(&to)) = (times.first(), times.last()) else {
        return Ok(entries);
    };
    let frags = media
        .timeline(stream, kind, from, to, None)
        .await
        .map_err(ReadError::from)?;
    let _hold = media.store().hold_segments(&frags);
    // Sample indexes per covering fragment, in fragment order.
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, &t) in times.iter().enumerate() {
        if let Some(f) = covering(&frags, kind, t) {
            groups.entry(f).or_default().push(i);
        }
    }
    price(media, &frags, &groups, spec, times, budget).await?;
    // A time before the first frame of its fragment shows the last frame of the previous
    // fragment when the two are contiguous.
    let mut before_first: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (f, idx) in groups {
        let got = fragment_entries(media, kind, spec, &frags[f], times, &idx).await?;
        for (i, g) in idx.into_iter().zip(got) {
            match g {
                Got::Entry(e) => entries[i] = e,
                Got::BeforeFirst => {
                    if f > 0 && contiguous(&frags[f - 1], &frags[f], kind) {
                        before_first.entry(f - 1).or_default().push(i);
                    }
                }
            }
        }
    }
    for (f, idx) in before_first {
        let got = fragment_entries(media, kind, spec, &frags[f], times, &idx).await?;
        for (i, g) in idx.into_iter().zip(got) {
            if let Got::Entry(e) = g {
                entries[i] = e;
            }
        }
    }
    Ok(entries)
}

/// Checks the page against `budget` before anything is decoded: every covering fragment's
/// picture size (from its track header, read once per header) and the page's total cost.
async fn price(
    media: &Media,
    frags: &[FragmentRecord],
    groups: &BTreeMap<usize, Vec<usize>>,
    spec: &OutputSpec,
    times: &[i64],
    budget: &ImageBudget,
) -> Result<(), ImagesError> {
    let mut sizes: HashMap<i64, Option<(u32, u32)>> = HashMap::new();
    let (mut images, mut cost, mut largest) = (0usize, 0u64, (0u32, 0u32));
    for (&f, idx) in groups {
        let rec = &frags[f];
        let size = match sizes.get(&rec.track_header_id) {
            Some(s) => *s,
            None => {
                let s = source_size(media, rec.track_header_id, budget).await?;
                sizes.insert(rec.track_header_id, s.map(|s| s.1));
                if let Some((coded, _)) = s
                    && u64::from(coded.0) * u64::from(coded.1) > budget.max_pixels
                {
                    return Err(ImagesError::TooLarge {
                        at_ms: times[idx[0]],
                        width: coded.0,
                        height: coded.1,
                        max_pixels: budget.max_pixels,
                    });
                }
                s.map(|s| s.1)
            }
        };
        // Without a size in the header (no SPS; the frames carry it) assume the largest
        // picture decoded, 16:9.
        let src = size.unwrap_or_else(|| largest_16_9(budget.max_pixels));
        let out = output_size(src, spec.width, spec.height);
        images += idx.len();
        cost = cost.saturating_add(image_cost(spec.format, out).saturating_mul(idx.len() as u64));
        if u64::from(out.0) * u64::from(out.1) > u64::from(largest.0) * u64::from(largest.1) {
            largest = out;
        }
    }
    if cost > budget.max_request_cost {
        let each = image_cost(spec.format, largest).max(1);
        let png = matches!(spec.format, ImageFormat::Png | ImageFormat::Rgb24);
        return Err(ImagesError::OverBudget {
            images,
            width: largest.0,
            height: largest.1,
            format: if png { "PNG" } else { "JPEG" },
            cost,
            budget: budget.max_request_cost,
            fits: budget.max_request_cost / each,
            jpeg: if png { ", or JPEG" } else { "" },
        });
    }
    Ok(())
}

/// The (coded, shown) picture size of a track header's video, from its SPS; failing that, the
/// shown size the container declares (coded unknown: taken as the same). None without either.
async fn source_size(
    media: &Media,
    track_header_id: i64,
    budget: &ImageBudget,
) -> Result<Option<((u32, u32), (u32, u32))>, ReadError> {
    let tracks = match media.tracks(track_header_id).await {
        Ok(t) => t,
        Err(ReadError::Store(e)) => return Err(e.into()),
        Err(_) => return Ok(None), // damaged: its fragments get MEDIA_ERROR
    };
    let Some(track) = tracks.iter().find(|t| t.codec.is_video()) else {
        return Ok(None);
    };
    let from_sps = sps::params(&track.codec)
        .ok()
        .and_then(|p| p.picture)
        .map(|p: PictureInfo| ((p.coded_width, p.coded_height), (p.width, p.height)));
    let declared = track
        .video
        .filter(|&(w, h)| w > 0 && h > 0 && u64::from(w) * u64::from(h) <= budget.max_pixels)
        .map(|s| (s, s));
    Ok(from_sps.or(declared))
}

/// The largest 16:9 picture of at most `max_pixels`.
fn largest_16_9(max_pixels: u64) -> (u32, u32) {
    let unit = (max_pixels / (16 * 9)).isqrt();
    let w = u32::try_from(unit * 16).unwrap_or(u32::MAX);
    let h = u32::try_from(unit * 9).unwrap_or(u32::MAX);
    (w.max(1), h.max(1))
}

/// The fragment that may cover `t` among `frags` (a [`Media::timeline`]): the last one starting
/// at or before `t`, if its indexed duration (plus [`END_SLACK_MS`]) reaches past `t`. Whether
/// it really does is decided on its frames (see `plan_pass`).
fn covering(frags: &[FragmentRecord], kind: TimestampKind, t: i64) -> Option<usize> {
    let i = frags.iter().rposition(|f| stamp(kind, f) <= t)?;
    Media::covers(kind, &frags[i], t, END_SLACK_MS).then_some(i)
}

/// Whether `next` starts where `prev` ends (no gap between them).
fn contiguous(prev: &FragmentRecord, next: &FragmentRecord, kind: TimestampKind) -> bool {
    stamp(kind, prev).saturating_add(prev.duration_ms.max(0)) >= stamp(kind, next)
}

/// The entries for `times[idx]` from fragment `rec`, the times moved to the producer clock.
async fn fragment_entries(
    media: &Media,
    kind: TimestampKind,
    spec: &OutputSpec,
    rec: &FragmentRecord,
    times: &[i64],
    idx: &[usize],
) -> Result<Vec<Got>, ImagesError> {
    let offset = match kind {
        TimestampKind::Producer => 0,
        TimestampKind::Server => rec.producer_ms - rec.server_ms,
    };
    let producer_times: Vec<i64> = idx.iter().map(|&i| times[i] + offset).collect();
    Ok(fragment_images(media, rec, &producer_times, spec).await?)
}

/// What producer times `times` inside fragment `rec` get: one decode pass.
async fn fragment_images(
    media: &Media,
    rec: &FragmentRecord,
    times: &[i64],
    spec: &OutputSpec,
) -> Result<Vec<Got>, ReadError> {
    let all_error = || {
        times
            .iter()
            .map(|_| Got::Entry(Entry::MediaError))
            .collect()
    };
    let loaded = match media.load(rec).await {
        Ok(l) => l,
        Err(ReadError::Store(e)) => return Err(e.into()),
        Err(e) => {
            tracing::warn!(fragment = %rec.number, error = %e, "images: stored fragment is damaged");
            return Ok(all_error());
        }
    };
    let Some((codec, samples)) = loaded.video() else {
        return Ok(all_error());
    };
    let video: Vec<CodedFrame> = samples.into_iter().map(CodedFrame::from).collect();
    let plan = plan_pass(&video, times);
    let Some((first, last)) = plan.range else {
        return Ok(plan
            .wanted
            .iter()
            .map(|w| match w {
                Pick::Pts(_) => Got::Entry(Entry::MediaError), // no keyframe to decode from
                Pick::BeforeFirst => Got::BeforeFirst,
                Pick::After => Got::Entry(Entry::NoMedia),
            })
            .collect());
    };
    let run: Vec<CodedFrame> = video[first..=last].to_vec();
    let pts: Vec<i64> = plan
        .wanted
        .iter()
        .filter_map(|w| match w {
            Pick::Pts(p) => Some(*p),
            _ => None,
        })
        .collect();
    let spec = *spec;
    let result = super::run_pass(move |frames| frames.render(&codec, &run, &pts, &spec)).await;
    // A failed pass fails the pictures it was to make; times before or after the fragment's
    // frames keep their own answer.
    let pictures = match result.and_then(|r| r) {
        Ok(p) => p,
        Err(e) => {
            log_failure(rec, &e);
            super::Pictures::new()
        }
    };
    Ok(plan
        .wanted
        .iter()
        .map(|w| match w {
            Pick::BeforeFirst => Got::BeforeFirst,
            Pick::After => Got::Entry(Entry::NoMedia),
            Pick::Pts(p) => Got::Entry(match pictures.get(p) {
                Some(Ok(img)) => Entry::Image(img.clone()),
                Some(Err(e)) => {
                    log_failure(rec, e);
                    Entry::MediaError
                }
                None => Entry::MediaError,
            }),
        })
        .collect())
}

fn log_failure(rec: &FragmentRecord, e: &FrameError) {
    tracing::warn!(fragment = %rec.number, error = %e, "images: picture not made");
}

/// Where a time falls in a fragment's frames.
enum Slot {
    /// Before its first frame.
    BeforeFirst,
    /// This frame (decode-order index) is shown.
    Frame(usize),
    /// After its last frame stopped being shown.
    After,
}

/// What a time gets from one fragment.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pick {
    /// The frame with this pts.
    Pts(i64),
    /// Nothing: before the first frame.
    BeforeFirst,
    /// Nothing: after the last frame.
    After,
}

/// Which frames one decode pass needs.
#[derive(Debug, PartialEq)]
struct Pass {
    /// Per time: what is shown then.
    wanted: Vec<Pick>,
    /// Decode-order indexes of the run to decode (from a keyframe to the last wanted frame).
    range: Option<(usize, usize)>,
}

/// Plans a pass over `video` (one fragment's frames, decode order) for producer `times`: the
/// frame shown at `t` is the one with the largest pts ≤ `t`; the run starts at the last
/// keyframe at or before the earliest wanted frame (in decode order) and ends at the last
/// wanted frame.
fn plan_pass(video: &[CodedFrame], times: &[i64]) -> Pass {
    // Where the fragment's pictures stop being shown: the last one's pts + its duration (at
    // least 1 ms).
    let end = video
        .iter()
        .map(|f| f.pts_ms.saturating_add(f.duration_ms.max(1)))
        .max();
    let first = video.iter().map(|f| f.pts_ms).min();
    let slots: Vec<Slot> = times
        .iter()
        .map(|&t| match (first, end) {
            (Some(first), _) if t < first => Slot::BeforeFirst,
            (_, Some(end)) if t >= end => Slot::After,
            _ => super::shown_at(video, t).map_or(Slot::After, Slot::Frame),
        })
        .collect();
    let picks = slots.iter().filter_map(|s| match s {
        Slot::Frame(i) => Some(*i),
        _ => None,
    });
    let range = super::decode_run(video, picks);
    let wanted = slots
        .iter()
        .map(|s| match s {
            Slot::Frame(i) => Pick::Pts(video[*i].pts_ms),
            Slot::BeforeFirst => Pick::BeforeFirst,
            Slot::After => Pick::After,
        })
        .collect();
    Pass { wanted, range }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(pts: i64, key: bool) -> CodedFrame {
        CodedFrame::test(pts, key)
    }

    /// Legitimate pages fit the default budget; 25 4K PNGs (1.3 s of CPU for a 300-byte
    /// request before this budget) do not, and the refusal says what fits.
    #[test]
    fn request_costs() {
        let jpeg = ImageFormat::Jpeg { quality: 80 };
        let page = |n: u64, f: ImageFormat, out: (u32, u32)| image_cost(f, out) * n;
        let fits = |c: u64| c <= DEFAULT_MAX_REQUEST_COST;
        assert!(fits(page(100, jpeg, (640, 480))));
        assert!(fits(page(25, jpeg, (1920, 1080))));
        assert!(fits(page(25, ImageFormat::Png, (640, 480))));
        assert!(fits(page(7, ImageFormat::Png, (1920, 1080))));
        assert!(!fits(page(25, ImageFormat::Png, (3840, 2160))));
        assert!(!fits(page(25, jpeg, (3840, 2160))));
        assert_eq!(largest_16_9(super::super::DEFAULT_MAX_PIXELS), (4096, 2304));
        assert_eq!(largest_16_9(0), (1, 1));
    }

    #[test]
    fn pass_planning() {
        // I0 P33 P66 P100 I133 P166
        let v: Vec<CodedFrame> = [0, 33, 66, 100, 133, 166]
            .iter()
            .map(|&p| frame(p, p == 0 || p == 133))
            .collect();
        use Pick::*;
        let p = plan_pass(&v, &[50, 66, 99]);
        assert_eq!(p.wanted, vec![Pts(33), Pts(66), Pts(66)]);
        assert_eq!(p.range, Some((0, 2)));
        // The last frame (166, 33 ms long) is shown until 199.
        let p = plan_pass(&v, &[150, 198, 199, 1000]);
        assert_eq!(p.wanted, vec![Pts(133), Pts(166), After, After]);
        assert_eq!(p.range, Some((4, 5)));
        let p = plan_pass(&v, &[-1]);
        assert_eq!(p.wanted, vec![BeforeFirst]);
        assert_eq!(p.range, None);
        // B-frames: decode order I0 P99 B33 B66; 70 shows B66 (decode index 3).
        let b = vec![
            frame(0, true),
            frame(99, false),
            frame(33, false),
            frame(66, false),
        ];
        let p = plan_pass(&b, &[70]);
        assert_eq!(p.wanted, vec![Pts(66)]);
        assert_eq!(p.range, Some((0, 3)));
        // No keyframe: nothing to decode from.
        let p = plan_pass(&[frame(0, false)], &[5]);
        assert_eq!(p.range, None);
        assert_eq!(p.wanted, vec![Pts(0)]);
    }
}
