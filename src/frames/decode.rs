//! The GStreamer side of [`crate::frames`]: decoder and encoder pipelines, and their pool.
//!
//! ```text
//! decoder: appsrc (video/x-h264 stream-format=avc | video/x-h265 stream-format=hvc1,
//!          alignment=au, codec_data=avcC|hvcC) ! avdec_h264|avdec_h265 max-threads=1
//!          ! appsink sync=false max-buffers=RAW_QUEUE
//! encoder: appsrc (the decoder's raw caps) ! videoconvert ! videoscale add-borders=false
//!          ! capsfilter (width, height, pixel-aspect-ratio=1/1[, format=RGB])
//!          ! jpegenc quality=Q | pngenc snapshot=false compression-level=3 | (nothing: RGB24)
//!          ! appsink sync=false
//! ```
//!
//! Raw RGB24 comes straight out of the capsfilter: GStreamer pads each row to a multiple of 4
//! bytes, so [`packed_rgb`] removes that padding (the output is `width * 3` bytes per row).
//!
//! A decode pass pushes the whole compressed run (no more than one stored fragment), then EOS,
//! then pulls raw pictures as the decoder produces them; the appsink's small queue blocks the
//! decoder's streaming thread until we pull, so at most [`RAW_QUEUE`] raw pictures wait. Each
//! wanted picture goes through the encoder at once (one buffer in, one image out, so the encoder
//! needs no EOS and stays PLAYING between uses). Timestamps are rebased so the run starts at 0
//! (epoch nanoseconds do not fit a `ClockTime`) and mapped back on output.
//!
//! This file is one of the three that see GStreamer types (STYLE.md §2).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::{
    CodedFrame, FrameError, ImageFormat, OutputSpec, PASS_TIMEOUT, Picture, RAW_QUEUE, VideoCodec,
    output_size,
};

/// Each wanted presentation timestamp → its picture or why not.
pub(super) type Rendered = HashMap<i64, Result<Picture, FrameError>>;

/// Packages that provide the elements used here.
const INSTALL_HINT: &str = "install gstreamer1.0-libav (avdec_h264/avdec_h265) and \
     gstreamer1.0-plugins-base/-good (videoconvert, videoscale, jpegenc, pngenc)";

/// How long one pull waits before checking the bus and the deadline.
const POLL: gst::ClockTime = gst::ClockTime::from_mseconds(100);

/// A pipeline between an appsrc and an appsink. Dropping it stops it.
pub(super) struct Pipe {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    sink: gst_app::AppSink,
}

impl Drop for Pipe {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

impl Pipe {
    /// Builds `description` (with elements named `src` and `sink`) and sets the source caps.
    fn build(description: &str, caps: &gst::Caps) -> Result<Pipe, FrameError> {
        gst::init().map_err(|e| FrameError::Setup(e.to_string()))?;
        let element = gst::parse::launch(description)
            .map_err(|e| FrameError::Setup(format!("`{description}`: {e}; {INSTALL_HINT}")))?;
        let pipeline = element
            .downcast::<gst::Pipeline>()
            .map_err(|_| FrameError::Setup(format!("`{description}` is not a pipeline")))?;
        let src = pipeline
            .by_name("src")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or_else(|| FrameError::Setup("the pipeline has no appsrc `src`".into()))?;
        let sink = pipeline
            .by_name("sink")
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .ok_or_else(|| FrameError::Setup("the pipeline has no appsink `sink`".into()))?;
        src.set_caps(Some(caps));
        src.set_format(gst::Format::Time);
        Ok(Pipe {
            pipeline,
            src,
            sink,
        })
    }

    fn play(&self) -> Result<(), FrameError> {
        self.pipeline
            .set_state(gst::State::Playing)
            .map(|_| ())
            .map_err(|e| self.failure(format!("could not start: {e}")))
    }

    /// Ready for the next pass: a flush down the pipeline (the appsink forgets its EOS only
    /// on a flush, not on a state change), then READY (the source forgets its EOS, the decoder
    /// resets). False if the pipeline would not go back.
    fn reset(&self) -> bool {
        let flushed = self.src.static_pad("src").is_some_and(|pad| {
            pad.push_event(gst::event::FlushStart::new())
                && pad.push_event(gst::event::FlushStop::new(true))
        });
        flushed && self.pipeline.set_state(gst::State::Ready).is_ok()
    }

    /// The first error on the bus, if any, else `fallback`.
    fn failure(&self, fallback: String) -> FrameError {
        if let Some(bus) = self.pipeline.bus() {
            while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
                if let gst::MessageView::Error(e) = msg.view() {
                    let debug = e.debug().map(|d| d.to_string()).unwrap_or_default();
                    return FrameError::Decode(format!("{} ({debug})", e.error()));
                }
            }
        }
        FrameError::Decode(fallback)
    }

    fn push(&self, buffer: gst::Buffer) -> Result<(), FrameError> {
        self.src
            .push_buffer(buffer)
            .map(|_| ())
            .map_err(|e| self.failure(format!("push: {e:?}")))
    }

    /// The next sample; `Ok(None)` at EOS. Fails on a bus error or past `deadline`.
    fn pull(&self, deadline: Instant) -> Result<Option<gst::Sample>, FrameError> {
        loop {
            if let Some(s) = self.sink.try_pull_sample(POLL) {
                return Ok(Some(s));
            }
            if self.sink.is_eos() {
                return Ok(None);
            }
            let err = self.failure(String::new());
            if !matches!(&err, FrameError::Decode(m) if m.is_empty()) {
                return Err(err);
            }
            if Instant::now() > deadline {
                return Err(FrameError::Timeout(PASS_TIMEOUT));
            }
        }
    }
}

/// Idle pipelines by key, oldest first, at most `max_idle`.
pub(super) struct Pool {
    idle: Mutex<Vec<(String, Pipe)>>,
    max_idle: usize,
}

impl Pool {
    pub(super) fn new(max_idle: usize) -> Pool {
        Pool {
            idle: Mutex::new(Vec::new()),
            max_idle,
        }
    }

    fn take(&self, key: &str) -> Option<Pipe> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let i = idle.iter().rposition(|(k, _)| k == key)?;
        Some(idle.remove(i).1)
    }

    fn put(&self, key: String, pipe: Pipe) {
        let evicted = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.push((key, pipe));
            if idle.len() > self.max_idle {
                Some(idle.remove(0))
            } else {
                None
            }
        };
        drop(evicted); // stopped outside the lock
    }
}

/// The decoder pipeline description and appsrc caps for `codec`, and the pool key.
fn decoder_setup(codec: &VideoCodec) -> (String, gst::Caps, String) {
    let (media, format, element, config) = match codec {
        VideoCodec::H264 { avcc } => ("video/x-h264", "avc", "avdec_h264", avcc),
        VideoCodec::H265 { hvcc } => ("video/x-h265", "hvc1", "avdec_h265", hvcc),
    };
    let caps = gst::Caps::builder(media)
        .field("stream-format", format)
        .field("alignment", "au")
        .field("codec_data", gst::Buffer::from_slice(config.clone()))
        .build();
    let description = format!(
        "appsrc name=src is-live=false ! {element} max-threads=1 \
         ! appsink name=sink sync=false max-buffers={RAW_QUEUE}"
    );
    let key = format!("dec:{element}:{}", hex::encode(config));
    (description, caps, key)
}

/// The encoder for raw pictures with `raw` caps of `src` size, for `spec`.
fn encoder_setup(
    raw: &gst::Caps,
    src: (u32, u32),
    spec: &OutputSpec,
) -> (String, gst::Caps, String) {
    let (w, h) = output_size(src, spec.width, spec.height);
    let clamp = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    let mut out = gst::Caps::builder("video/x-raw")
        .field("width", clamp(w))
        .field("height", clamp(h))
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1));
    let encoder = match spec.format {
        ImageFormat::Jpeg { quality } => {
            out = out.field("format", "I420");
            format!("! jpegenc quality={}", quality.clamp(1, 100))
        }
        ImageFormat::Png => {
            out = out.field("format", "RGB");
            "! pngenc snapshot=false compression-level=3".to_owned()
        }
        ImageFormat::Rgb24 => {
            out = out.field("format", "RGB");
            String::new()
        }
    };
    let out = out.build();
    let description = format!(
        "appsrc name=src is-live=false ! videoconvert ! videoscale add-borders=false \
         ! capsfilter caps=\"{out}\" {encoder} ! appsink name=sink sync=false"
    );
    let key = format!("enc:{raw}:{description}");
    (description, raw.clone(), key)
}

/// A compressed frame as a buffer, its timestamps rebased on `base_ms`.
fn coded_buffer(f: &CodedFrame, base_ms: i64) -> gst::Buffer {
    let ns = |ms: i64| gst::ClockTime::from_mseconds(u64::try_from(ms - base_ms).unwrap_or(0));
    let mut buffer = gst::Buffer::from_slice(f.data.clone());
    {
        let b = buffer
            .get_mut()
            .expect("a buffer just made has one reference");
        b.set_pts(ns(f.pts_ms));
        b.set_dts(ns(f.dts_ms));
        if !f.key {
            b.set_flags(gst::BufferFlags::DELTA_UNIT);
        }
    }
    buffer
}

/// A decoded picture's presentation time in ms (undoing the rebase).
fn picture_ms(sample: &gst::Sample, base_ms: i64) -> Option<i64> {
    let pts = sample.buffer()?.pts()?;
    let ms = (pts.nseconds() + 500_000) / 1_000_000;
    Some(base_ms + i64::try_from(ms).ok()?)
}

/// Width and height from raw caps.
fn raw_size(caps: &gst::CapsRef) -> Option<(u32, u32)> {
    let s = caps.structure(0)?;
    let w = s.get::<i32>("width").ok()?;
    let h = s.get::<i32>("height").ok()?;
    Some((u32::try_from(w).ok()?, u32::try_from(h).ok()?))
}

/// Starts a decoder for `codec` (from the pool if one is idle) and pushes `frames` then EOS.
fn start_decoder(
    pool: &Pool,
    codec: &VideoCodec,
    frames: &[CodedFrame],
) -> Result<(Pipe, String, i64), FrameError> {
    gst::init().map_err(|e| FrameError::Setup(e.to_string()))?;
    let (description, caps, key) = decoder_setup(codec);
    let dec = match pool.take(&key) {
        Some(p) => p,
        None => Pipe::build(&description, &caps)?,
    };
    dec.play()?;
    let base_ms = frames
        .iter()
        .map(|f| f.dts_ms.min(f.pts_ms))
        .min()
        .unwrap_or(0);
    for f in frames {
        dec.push(coded_buffer(f, base_ms))?;
    }
    dec.src
        .end_of_stream()
        .map_err(|e| dec.failure(format!("eos: {e:?}")))?;
    Ok((dec, key, base_ms))
}

/// One decode pass: see the module doc. With `spec` None nothing is encoded.
pub(super) fn run(
    pool: &Pool,
    codec: &VideoCodec,
    frames: &[CodedFrame],
    wanted: &[i64],
    spec: Option<&OutputSpec>,
) -> Result<Rendered, FrameError> {
    let deadline = Instant::now() + PASS_TIMEOUT;
    let (dec, key, base_ms) = start_decoder(pool, codec, frames)?;
    let mut out: Rendered = HashMap::new();
    let mut encoder: Option<(String, Pipe)> = None;
    while let Some(sample) = dec.pull(deadline)? {
        let Some(ms) = picture_ms(&sample, base_ms) else {
            continue;
        };
        if !wanted.contains(&ms) || out.contains_key(&ms) {
            continue;
        }
        let Some(spec) = spec else { continue };
        let result = encode(pool, &mut encoder, &sample, spec, deadline);
        out.insert(ms, result);
    }
    if let Some((k, enc)) = encoder {
        pool.put(k, enc);
    }
    if dec.reset() {
        pool.put(key, dec);
    }
    Ok(out)
}

/// Decodes `frames` and counts the pictures.
pub(super) fn count(
    pool: &Pool,
    codec: &VideoCodec,
    frames: &[CodedFrame],
) -> Result<usize, FrameError> {
    let deadline = Instant::now() + PASS_TIMEOUT;
    let (dec, key, _) = start_decoder(pool, codec, frames)?;
    let mut n = 0;
    while dec.pull(deadline)?.is_some() {
        n += 1;
    }
    if dec.reset() {
        pool.put(key, dec);
    }
    Ok(n)
}

/// Encodes one raw picture, with the encoder in `slot` if it fits, else one from the pool or
/// a new one. A failed encoder is dropped.
fn encode(
    pool: &Pool,
    slot: &mut Option<(String, Pipe)>,
    sample: &gst::Sample,
    spec: &OutputSpec,
    deadline: Instant,
) -> Result<Picture, FrameError> {
    let caps = sample
        .caps()
        .ok_or(FrameError::Input("decoded picture without caps"))?;
    let buffer = sample
        .buffer_owned()
        .ok_or(FrameError::Input("decoded picture without data"))?;
    let size = raw_size(caps).ok_or(FrameError::Input("decoded picture without a size"))?;
    let (description, raw, key) = encoder_setup(&caps.to_owned(), size, spec);
    let (width, height) = output_size(size, spec.width, spec.height);
    let enc = match slot.take() {
        Some((k, p)) if k == key => p,
        other => {
            if let Some((k, p)) = other {
                pool.put(k, p);
            }
            match pool.take(&key) {
                Some(p) => p,
                None => {
                    let p = Pipe::build(&description, &raw)?;
                    p.play()?;
                    p
                }
            }
        }
    };
    enc.push(buffer)?;
    let sample = enc
        .pull(deadline)?
        .ok_or_else(|| enc.failure("the encoder ended".into()))?;
    let image = sample
        .buffer()
        .and_then(|b| b.map_readable().ok().map(|m| m.as_slice().to_vec()))
        .ok_or(FrameError::Input("encoded picture without data"))?;
    *slot = Some((key, enc));
    let data = match spec.format {
        ImageFormat::Rgb24 => packed_rgb(image, width, height)?,
        ImageFormat::Jpeg { .. } | ImageFormat::Png => image,
    };
    Ok(Picture {
        width,
        height,
        data,
    })
}

/// Raw RGB rows without GStreamer's padding (each row is stored on a multiple of 4 bytes).
fn packed_rgb(raw: Vec<u8>, width: u32, height: u32) -> Result<Vec<u8>, FrameError> {
    let (w, h) = (width as usize, height as usize);
    let row = w * 3;
    let stride = row.div_ceil(4) * 4;
    if raw.len() == row * h {
        return Ok(raw);
    }
    if raw.len() != stride * h {
        return Err(FrameError::Decode(format!(
            "raw RGB picture of {} bytes for {width}x{height}",
            raw.len()
        )));
    }
    let mut out = Vec::with_capacity(row * h);
    for r in raw.chunks_exact(stride) {
        out.extend_from_slice(&r[..row]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::packed_rgb;

    #[test]
    fn rgb_rows_lose_their_padding() {
        // 2x2: rows of 6 bytes padded to 8.
        let raw = vec![1, 2, 3, 4, 5, 6, 0, 0, 7, 8, 9, 10, 11, 12, 0, 0];
        assert_eq!(
            packed_rgb(raw, 2, 2).unwrap(),
            vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
        );
        // 4 pixels wide: no padding.
        assert_eq!(packed_rgb(vec![0; 24], 4, 2).unwrap().len(), 24);
        assert!(packed_rgb(vec![0; 5], 2, 2).is_err());
    }
}
