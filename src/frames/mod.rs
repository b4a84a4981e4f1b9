//! Pictures from video: GetImages' picking ([`images`]), the frame hook ([`hook`]) and the
//! WebSocket frame feed ([`feed`], whose wire is `crate::api::feed`), all decoding here under
//! one process-wide limit ([`run_pass`]).
//!
//! The decode core: given one group of pictures (a keyframe and the frames after it, in decode
//! order, as stored) and the presentation timestamps of the pictures wanted, return each wanted
//! picture encoded as JPEG or PNG, or as raw packed RGB24 (for ML code that wants pixels
//! without a JPEG decode), at the asked size. The readers above it choose frames (reading
//! stored media through [`crate::media`]) and share its rules: the frame shown at a time
//! ([`shown_at`]), the run to decode for a set of frames ([`decode_run`]) and `FormatConfig`'s
//! JPEG quality ([`jpeg_quality`]). It exposes no GStreamer types: `decode` is the only file
//! that sees them (STYLE.md §2).
//!
//! # Cost model
//! - Only what is needed is decoded: the caller passes frames from a keyframe up to the last
//!   wanted one in decode order, and every wanted picture of that run shares the one pass.
//! - Only wanted pictures are converted, scaled and encoded.
//! - Decoders run single-threaded (`max-threads=1`): parallelism comes from serving several
//!   groups at once, which the caller bounds (one blocking job per core).
//! - Decoding runs in the calling thread: the compressed frames are pushed straight into the
//!   decoder element and its pictures come back within the same call (no appsrc/appsink, no
//!   thread hop per picture), as in `gst-launch-1.0 ... ! avdec_h264 ! fakesink`.
//! - Nothing larger than `[playback] decode_max_pixels` is decoded: before a pass the picture
//!   size is read from every SPS the decoder would see, the codec configuration's and those
//!   inside the frames ([`crate::media::sps`]), and a pass over a larger one (or one whose size
//!   cannot be read) fails with [`FrameError::TooLarge`] (or [`FrameError::Sps`]) without
//!   starting a decoder. A decoder's memory grows with its picture size (an 8192x8192 stream
//!   made one hold about 850 MB); this bounds it.
//! - Pipelines are reused: idle decoders (keyed by codec configuration) and encoders (keyed by
//!   raw format and output) wait in a small bounded pool ([`MAX_IDLE`]). Between passes a
//!   decoder is only flushed: its codec context and picture buffers stay allocated, so a pass
//!   costs the decoding of its frames and little more. The price is idle memory: each idle
//!   decoder keeps its few picture buffers (4 for a 1080p H.264 stream with one reference
//!   frame, 12.5 MB). So idle pipelines are released after `[playback] decoder_idle_secs`,
//!   and while the estimated memory of all pipelines (picture size × pictures held, see
//!   `decode::decoder_bytes`) is over `[playback] decoder_memory_bytes`, the largest idle ones
//!   go first. One that failed is dropped, never reused.
//! - Memory per pass is bounded: the compressed run (at most one stored fragment, shared, not
//!   copied) plus the pictures the decoder holds for reordering; each picture it outputs is
//!   encoded (if wanted) or dropped before the next frame goes in.
//! - Nothing in a pass waits for another thread, so a pass needs no timeout: it ends when the
//!   decoder has consumed its frames.
//!
//! Failures are per pass or per picture and never panic: the API turns them into an image entry
//! with `Error: MEDIA_ERROR`.

mod decode;
pub mod feed;
pub mod hook;
pub mod images;

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;

use crate::media::Codec;
use crate::media::sps::{self, PictureInfo, SpsError};

/// Idle pipelines kept for reuse (decoders and encoders together).
pub const MAX_IDLE: usize = 8;

/// What decoding may cost the process (`[playback]`'s decode keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest coded picture decoded, in pixels (width × height from the SPS).
    pub max_pixels: u64,
    /// An idle decoder or encoder is released after this long unused.
    pub idle_timeout: Duration,
    /// Estimated bytes of all decoders and encoders, busy and idle; over it idle ones are
    /// released, largest first.
    pub memory_budget: u64,
}

/// 4096x2304: DCI 4K width at 16:9, a little over 4K UHD (3840x2160).
pub const DEFAULT_MAX_PIXELS: u64 = 4096 * 2304;

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_pixels: DEFAULT_MAX_PIXELS,
            idle_timeout: Duration::from_secs(30),
            memory_budget: 256 << 20,
        }
    }
}

static LIMITS: OnceLock<DecodeLimits> = OnceLock::new();

/// Sets the process-wide decode limits, once, before the first decode (the server does it at
/// start from its configuration). False if they were already set or in use.
pub fn configure(limits: DecodeLimits) -> bool {
    LIMITS.set(limits).is_ok()
}

/// The process-wide decode limits.
pub fn limits() -> DecodeLimits {
    *LIMITS.get_or_init(DecodeLimits::default)
}

/// The image encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// JPEG at a quality of 1..=100.
    Jpeg {
        /// 1 (smallest) ..= 100 (best).
        quality: u8,
    },
    /// PNG (lossless).
    Png,
    /// Raw pixels: `height` rows of `width * 3` bytes (R, G, B), no padding, no header.
    Rgb24,
}

/// One picture and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The encoded image (or the raw RGB24 bytes).
    pub data: Vec<u8>,
}

/// What the pictures should look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OutputSpec {
    /// Encoding.
    pub format: ImageFormat,
    /// Asked width in pixels, if any.
    pub width: Option<u32>,
    /// Asked height in pixels, if any.
    pub height: Option<u32>,
}

/// One compressed frame, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodedFrame {
    /// Presentation timestamp, ms.
    pub pts_ms: i64,
    /// Decode timestamp, ms.
    pub dts_ms: i64,
    /// How long it is shown, ms (0 when unknown).
    pub duration_ms: i64,
    /// Keyframe.
    pub key: bool,
    /// Length-prefixed NAL units (AVC/HVC sample format).
    pub data: Bytes,
}

impl From<crate::media::Sample> for CodedFrame {
    /// A sample of a video track (its bytes are shared, not copied).
    fn from(s: crate::media::Sample) -> Self {
        CodedFrame {
            pts_ms: s.pts_ms,
            dts_ms: s.dts_ms,
            duration_ms: s.duration_ms,
            key: s.key,
            data: s.data,
        }
    }
}

#[cfg(test)]
impl CodedFrame {
    /// A 33 ms test frame with no payload.
    pub(crate) fn test(pts: i64, key: bool) -> CodedFrame {
        CodedFrame {
            pts_ms: pts,
            dts_ms: pts,
            duration_ms: 33,
            key,
            data: Bytes::new(),
        }
    }
}

/// Why pictures could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// GStreamer or one of its elements is missing or would not start.
    #[error("gstreamer: {0}")]
    Setup(String),
    /// The decoder or encoder reported an error.
    #[error("decode: {0}")]
    Decode(String),
    /// The decoder produced no picture with this presentation timestamp.
    #[error("the decoder produced no picture at {0} ms")]
    NotProduced(i64),
    /// The input is not usable (no frames, no keyframe first...).
    #[error("{0}")]
    Input(&'static str),
    /// The pictures are larger than the server decodes: nothing was decoded.
    #[error(
        "the pictures are {width}x{height}, over the {max_pixels} pixels this server decodes ([playback] decode_max_pixels)"
    )]
    TooLarge {
        /// Coded width, from the SPS.
        width: u32,
        /// Coded height.
        height: u32,
        /// The limit.
        max_pixels: u64,
    },
    /// The output pictures would be larger than the server decodes (one asked dimension and
    /// a very narrow source): nothing was decoded.
    #[error(
        "the images would be {width}x{height}, over the {max_pixels} pixels this server makes ([playback] decode_max_pixels); ask for a smaller size"
    )]
    OutputTooLarge {
        /// Output width.
        width: u32,
        /// Output height.
        height: u32,
        /// The limit.
        max_pixels: u64,
    },
    /// The picture size could not be read: nothing was decoded.
    #[error("cannot tell the picture size: {0}")]
    Sps(SpsError),
}

/// The frame shown at producer time `t` among `video` (decode order): the one with the largest
/// presentation timestamp ≤ `t` (the later in decode order on a tie), as a decode-order index.
pub fn shown_at(video: &[CodedFrame], t: i64) -> Option<usize> {
    video
        .iter()
        .enumerate()
        .filter(|(_, f)| f.pts_ms <= t)
        .max_by_key(|(i, f)| (f.pts_ms, *i))
        .map(|(i, _)| i)
}

/// The decode-order run that yields the frames at `indexes` of `video`: from the last keyframe
/// at or before the earliest of them to the latest. None without indexes or without such a
/// keyframe.
pub fn decode_run(
    video: &[CodedFrame],
    indexes: impl IntoIterator<Item = usize> + Clone,
) -> Option<(usize, usize)> {
    let lo = indexes.clone().into_iter().min()?;
    let hi = indexes.into_iter().max()?;
    let key = video.get(..=lo)?.iter().rposition(|f| f.key)?;
    Some((key, hi))
}

/// `FormatConfig` (GetImages, image generation): at most the one key `JPEGQuality`, "1".."100";
/// 80 when absent. The error is the message for an `InvalidArgument`.
pub fn jpeg_quality(
    config: Option<&std::collections::BTreeMap<String, String>>,
) -> Result<u8, String> {
    let Some(config) = config else { return Ok(80) };
    let mut quality = 80;
    for (k, v) in config {
        if k != "JPEGQuality" {
            return Err(format!(
                "FormatConfig key `{k}` is invalid: the only key is JPEGQuality"
            ));
        }
        quality = v
            .parse::<u8>()
            .ok()
            .filter(|q| (1..=100).contains(q))
            .ok_or_else(|| {
                format!("FormatConfig JPEGQuality `{v}` is invalid: give an integer from 1 to 100")
            })?;
    }
    Ok(quality)
}

/// The size of the output picture for a `src` picture, following KVS's rules: neither
/// dimension asked → the source size; one → the other follows the source aspect ratio (at least
/// 1 pixel); both → exactly that size (the picture is stretched).
pub fn output_size(src: (u32, u32), width: Option<u32>, height: Option<u32>) -> (u32, u32) {
    let (sw, sh) = (u64::from(src.0.max(1)), u64::from(src.1.max(1)));
    let scale = |v: u32, num: u64, den: u64| -> u32 {
        let r = (u64::from(v) * num + den / 2) / den;
        u32::try_from(r.max(1)).unwrap_or(u32::MAX)
    };
    match (width, height) {
        (None, None) => (src.0, src.1),
        (Some(w), None) => (w, scale(w, sh, sw)),
        (None, Some(h)) => (scale(h, sw, sh), h),
        (Some(w), Some(h)) => (w, h),
    }
}

/// What a pass returns: each wanted presentation timestamp → its encoded picture or why not.
pub type Pictures = HashMap<i64, Result<Vec<u8>, FrameError>>;

/// The picture service: a pool of reusable pipelines. Cheap to share (`&'static` via
/// [`shared`]); every method blocks, so call it from `spawn_blocking` or a thread of its own.
pub struct Frames {
    pool: decode::Pool,
    max_pixels: u64,
}

impl Frames {
    /// A service keeping at most `max_idle` idle pipelines, with the process-wide
    /// [`limits`] otherwise.
    pub fn new(max_idle: usize) -> Frames {
        Frames::with_limits(max_idle, limits())
    }

    /// A service keeping at most `max_idle` idle pipelines, within `limits`.
    pub fn with_limits(max_idle: usize, limits: DecodeLimits) -> Frames {
        Frames {
            pool: decode::Pool::new(decode::PoolLimits {
                max_idle,
                idle_timeout: limits.idle_timeout,
                memory_budget: limits.memory_budget,
            }),
            max_pixels: limits.max_pixels,
        }
    }

    /// Estimated bytes of the idle pipelines.
    pub fn idle_bytes(&self) -> u64 {
        self.pool.idle_bytes()
    }

    /// Decodes `frames` (decode order, the first a keyframe) and encodes the pictures whose
    /// presentation timestamps are in `wanted` as `spec` says. The error is for the whole pass
    /// (nothing decodable); per-picture failures are in the map.
    pub fn render(
        &self,
        codec: &Codec,
        frames: &[CodedFrame],
        wanted: &[i64],
        spec: &OutputSpec,
    ) -> Result<Pictures, FrameError> {
        Ok(self
            .render_pictures(codec, frames, wanted, spec)?
            .into_iter()
            .map(|(pts, p)| (pts, p.map(|p| p.data)))
            .collect())
    }

    /// As [`Frames::render`], with each picture's size.
    pub fn render_pictures(
        &self,
        codec: &Codec,
        frames: &[CodedFrame],
        wanted: &[i64],
        spec: &OutputSpec,
    ) -> Result<HashMap<i64, Result<Picture, FrameError>>, FrameError> {
        check_input(frames)?;
        let picture = picture_size(codec, frames, self.max_pixels)?;
        let (width, height) = output_size((picture.width, picture.height), spec.width, spec.height);
        if u64::from(width) * u64::from(height) > self.max_pixels {
            return Err(FrameError::OutputTooLarge {
                width,
                height,
                max_pixels: self.max_pixels,
            });
        }
        let mut out = decode::run(&self.pool, codec, &picture, frames, wanted, Some(spec))?;
        for &pts in wanted {
            out.entry(pts).or_insert(Err(FrameError::NotProduced(pts)));
        }
        Ok(out)
    }

    /// Decodes `frames` and counts the pictures the decoder produced, encoding nothing (for
    /// `vidstream bench images`).
    pub fn decode_count(&self, codec: &Codec, frames: &[CodedFrame]) -> Result<usize, FrameError> {
        check_input(frames)?;
        let picture = picture_size(codec, frames, self.max_pixels)?;
        decode::count(&self.pool, codec, &picture, frames)
    }
}

/// The largest picture the decoder would meet in `frames` of `codec`: from the configuration's
/// SPS and any SPS inside the frames (a producer may change its parameters in-band). Refused
/// when over `max_pixels` (coded size: cropping does not make a decoder's buffers smaller) or
/// when no SPS tells the size.
pub fn picture_size(
    codec: &Codec,
    frames: &[CodedFrame],
    max_pixels: u64,
) -> Result<PictureInfo, FrameError> {
    let params = match sps::params(codec) {
        Ok(p) => p,
        Err(SpsError::NotVideo) => {
            return Err(FrameError::Input(
                "only H.264 and H.265 video can be decoded",
            ));
        }
        Err(e) => return Err(FrameError::Sps(e)),
    };
    let mut largest = params.picture;
    for f in frames {
        // A malformed frame ends its walk: the decoder reports it, and it cannot hide an SPS
        // from the decoder that it hides from us (the decoder walks the same lengths).
        for nal in sps::nal_units(&f.data, params.length_size).map_while(Result::ok) {
            if let Some(p) = sps::sps(codec, nal).map_err(FrameError::Sps)?
                && largest.is_none_or(|q| coded_pixels(&p) > coded_pixels(&q))
            {
                largest = Some(p);
            }
        }
    }
    let p = largest.ok_or(FrameError::Sps(SpsError::Config(
        "no SPS in the codec configuration nor in the frames",
    )))?;
    if coded_pixels(&p) > max_pixels {
        return Err(FrameError::TooLarge {
            width: p.coded_width,
            height: p.coded_height,
            max_pixels,
        });
    }
    Ok(p)
}

fn coded_pixels(p: &PictureInfo) -> u64 {
    u64::from(p.coded_width) * u64::from(p.coded_height)
}

fn check_input(frames: &[CodedFrame]) -> Result<(), FrameError> {
    match frames.first() {
        None => Err(FrameError::Input("no frames to decode")),
        Some(f) if !f.key => Err(FrameError::Input("decoding must start at a keyframe")),
        Some(_) => Ok(()),
    }
}

/// The process-wide picture service (the API's).
pub fn shared() -> &'static Frames {
    static FRAMES: OnceLock<Frames> = OnceLock::new();
    FRAMES.get_or_init(|| Frames::new(MAX_IDLE))
}

/// The one decode limit of the process: passes of GetImages, the frame feed and the frame hook
/// together run at most one per core, so decoding never starves the blocking pool the store
/// uses, nor one reader another.
fn passes() -> &'static tokio::sync::Semaphore {
    static PASSES: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    PASSES.get_or_init(|| {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(n)
    })
}

/// Runs one decode pass (`job`, which calls [`shared`]) on a blocking thread once the process-wide
/// decode limit allows.
pub async fn run_pass<T: Send + 'static>(
    job: impl FnOnce(&'static Frames) -> T + Send + 'static,
) -> Result<T, FrameError> {
    let permit = passes()
        .acquire()
        .await
        .map_err(|_| FrameError::Setup("the server is shutting down".into()))?;
    // The permit goes with the job: a caller that stops waiting does not free it early.
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        job(shared())
    })
    .await
    .map_err(|e| FrameError::Setup(format!("decode task failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_sizes_follow_kvs_rules() {
        // (source, width, height, expected)
        let cases = [
            ((320, 240), None, None, (320, 240)),
            ((320, 240), Some(160), None, (160, 120)),
            ((320, 240), None, Some(60), (80, 60)),
            ((320, 240), Some(100), Some(100), (100, 100)),
            ((1920, 1080), Some(1), None, (1, 1)),
            ((1920, 1080), Some(3840), None, (3840, 2160)),
            ((1920, 1080), Some(101), None, (101, 57)),
            ((0, 0), Some(10), None, (10, 10)),
        ];
        for (src, w, h, want) in cases {
            assert_eq!(output_size(src, w, h), want, "{src:?} {w:?} {h:?}");
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let f = Frames::new(1);
        let codec = Codec::H264 { avcc: Bytes::new() };
        let spec = OutputSpec {
            format: ImageFormat::Png,
            width: None,
            height: None,
        };
        assert!(f.render(&codec, &[], &[0], &spec).is_err());
        let not_key = CodedFrame {
            pts_ms: 0,
            dts_ms: 0,
            duration_ms: 33,
            key: false,
            data: Bytes::from_static(b"\0\0\0\x01\x65"),
        };
        assert!(f.render(&codec, &[not_key], &[0], &spec).is_err());
    }
}
