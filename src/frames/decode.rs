//! The GStreamer side of [`crate::frames`]: decoder and encoder chains, driven synchronously
//! from the calling thread, and their pool.
//!
//! ```text
//! decoder: [our src pad] (video/x-h264 stream-format=avc | video/x-h265 stream-format=hvc1,
//!          alignment=au, codec_data=avcC|hvcC) ! avdec_h264|avdec_h265 max-threads=1
//!          ! [our sink pad]
//! encoder: [our src pad] (the decoder's raw caps) ! videoconvert ! videoscale add-borders=false
//!          ! capsfilter (width, height, pixel-aspect-ratio=1/1[, format=RGB])
//!          ! jpegenc quality=Q | pngenc snapshot=false compression-level=3 | (nothing: RGB24)
//!          ! [our sink pad]
//! ```
//!
//! Each chain sits in a bin (with ghost pads) in a `gst::Pipeline`, which gives it a bus and a
//! state: it is set PLAYING once, when built. Its two ends are pads of ours, not appsrc/appsink:
//! none of these elements has a thread of its own, so `srcpad.push(buffer)` runs the decoder in
//! our thread, and whatever picture it outputs lands in our sink pad's chain function within the
//! same call (it only appends the buffer to a small list we empty after every push). No thread
//! hop, no wake-up, no queue, no timeout: a call returns when the element is done with the
//! buffer, and nothing in the chain can wait for anything else.
//!
//! A decode pass: a segment event, every compressed frame of the run, then EOS (the decoder
//! drains its reorder buffer into our sink pad). After every push the pictures out so far are
//! handed on at once (wanted ones to the encoder, the others dropped, their memory back in the
//! decoder's pool), so a pass holds no more raw pictures than the decoder itself. The decoder is
//! then reset with a flush (FlushStart + FlushStop with reset_time): GstVideoDecoder flushes
//! libav (`avcodec_flush_buffers`) and keeps the open codec context, its output caps and its
//! buffer pool, so the next pass, on any group with the same codec configuration, starts warm.
//! Stream-start and caps are sent once, when the chain is built (they are sticky and survive
//! the flush); the segment is sent again each pass.
//!
//! The encoder takes one raw buffer and gives one image back in the same call, so it never
//! needs EOS and is never flushed. Timestamps are rebased so the run starts at 0 (epoch
//! nanoseconds do not fit a `ClockTime`) and mapped back on output.
//!
//! Raw RGB24 comes straight out of the capsfilter: GStreamer pads each row to a multiple of 4
//! bytes, so [`packed_rgb`] removes that padding (the output is `width * 3` bytes per row).
//!
//! Failures: a push the chain refuses fails the pass (or the picture, for the encoder) with the
//! element's error message from the bus. A chain that failed, or whose bus holds an error at
//! the end of a pass, is dropped, never reused.
//!
//! This file is one of the three that see GStreamer types (STYLE.md §2).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use gstreamer as gst;
use gstreamer::prelude::*;

use super::{CodedFrame, FrameError, ImageFormat, OutputSpec, Picture, output_size};
use crate::media::Codec;

/// Each wanted presentation timestamp → its picture or why not.
pub(super) type Rendered = HashMap<i64, Result<Picture, FrameError>>;

/// Packages that provide the elements used here.
const INSTALL_HINT: &str = "install gstreamer1.0-libav (avdec_h264/avdec_h265) and \
     gstreamer1.0-plugins-base/-good (videoconvert, videoscale, jpegenc, pngenc)";

/// A buffer that came out of a chain, with the caps it came with.
struct Raw {
    buffer: gst::Buffer,
    caps: Option<gst::Caps>,
}

/// What our sink pad received since it was last emptied.
#[derive(Default)]
struct Output {
    /// The caps of the buffers that follow.
    caps: Option<gst::Caps>,
    /// Buffers not yet taken.
    buffers: Vec<Raw>,
}

fn lock(out: &Mutex<Output>) -> MutexGuard<'_, Output> {
    out.lock().unwrap_or_else(|p| p.into_inner())
}

/// A chain of elements between a src pad and a sink pad of ours, run by pushing into it.
/// Dropping it stops it.
pub(super) struct Pipe {
    pipeline: gst::Pipeline,
    src: gst::Pad,
    sink: gst::Pad,
    out: Arc<Mutex<Output>>,
}

impl Drop for Pipe {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
        let _ = self.src.set_active(false);
        let _ = self.sink.set_active(false);
    }
}

/// A pad template with ANY caps: our pads accept whatever the chain negotiates.
fn any_template(direction: gst::PadDirection) -> Result<gst::PadTemplate, FrameError> {
    let name = match direction {
        gst::PadDirection::Src => "src",
        _ => "sink",
    };
    gst::PadTemplate::new(
        name,
        direction,
        gst::PadPresence::Always,
        &gst::Caps::new_any(),
    )
    .map_err(|e| FrameError::Setup(e.to_string()))
}

impl Pipe {
    /// Builds the chain `description` (one unlinked sink pad, one unlinked src pad), links our
    /// pads to it, starts it and sends stream-start and `caps`.
    fn build(description: &str, caps: &gst::Caps) -> Result<Pipe, FrameError> {
        gst::init().map_err(|e| FrameError::Setup(e.to_string()))?;
        let setup = |what: &str| FrameError::Setup(format!("`{description}`: {what}"));
        let bin = gst::parse::bin_from_description(description, true)
            .map_err(|e| setup(&format!("{e}; {INSTALL_HINT}")))?;
        let pipeline = gst::Pipeline::new();
        pipeline.add(&bin).map_err(|e| setup(&e.to_string()))?;
        let (Some(chain_sink), Some(chain_src)) = (bin.static_pad("sink"), bin.static_pad("src"))
        else {
            return Err(setup("no unlinked sink and src pads"));
        };

        let out = Arc::new(Mutex::new(Output::default()));
        let src = gst::Pad::builder_from_template(&any_template(gst::PadDirection::Src)?)
            .name("vidstream-src")
            .build();
        let chained = Arc::clone(&out);
        let evented = Arc::clone(&out);
        let sink = gst::Pad::builder_from_template(&any_template(gst::PadDirection::Sink)?)
            .name("vidstream-sink")
            .chain_function(move |_, _, buffer| {
                let mut out = lock(&chained);
                let caps = out.caps.clone();
                out.buffers.push(Raw { buffer, caps });
                Ok(gst::FlowSuccess::Ok)
            })
            .event_function(move |_, _, event| {
                if let gst::EventView::Caps(c) = event.view() {
                    lock(&evented).caps = Some(c.caps_owned());
                }
                true // EOS, flushes, segments...: nothing to do at the end of the chain
            })
            .build();
        src.link(&chain_sink)
            .map_err(|e| setup(&format!("linking its sink pad: {e}")))?;
        chain_src
            .link(&sink)
            .map_err(|e| setup(&format!("linking its src pad: {e}")))?;
        let pipe = Pipe {
            pipeline,
            src,
            sink,
            out,
        };
        pipe.src
            .set_active(true)
            .and_then(|()| pipe.sink.set_active(true))
            .map_err(|e| setup(&e.to_string()))?;
        pipe.pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| pipe.failure(format!("could not start: {e}")))?;
        pipe.event(gst::event::StreamStart::new("vidstream-frames"))?;
        pipe.event(gst::event::Caps::new(caps))?;
        Ok(pipe)
    }

    /// Sends `event` down the chain (it runs in this thread, like a buffer).
    fn event(&self, event: gst::Event) -> Result<(), FrameError> {
        let kind = event.type_();
        if self.src.push_event(event) {
            Ok(())
        } else {
            Err(self.failure(format!("the chain refused {kind:?}")))
        }
    }

    /// A segment from 0 (timestamps are rebased), before the first buffer of a pass.
    fn segment(&self) -> Result<(), FrameError> {
        let segment = gst::FormattedSegment::<gst::ClockTime>::new();
        self.event(gst::event::Segment::new(&segment))
    }

    /// Runs `buffer` through the chain.
    fn push(&self, buffer: gst::Buffer) -> Result<(), FrameError> {
        self.src
            .push(buffer)
            .map(|_| ())
            .map_err(|e| self.failure(format!("push: {e:?}")))
    }

    /// The buffers out of the chain since the last call, oldest first.
    fn take(&self) -> Vec<Raw> {
        std::mem::take(&mut lock(&self.out).buffers)
    }

    /// Ready for the next pass: a flush resets the decoder (and forgets the EOS and segment)
    /// but keeps it open. False if the chain refused it.
    fn reset(&self) -> bool {
        let flushed = self.src.push_event(gst::event::FlushStart::new())
            && self.src.push_event(gst::event::FlushStop::new(true));
        lock(&self.out).buffers.clear();
        flushed
    }

    /// The first error on the bus, if any (the bus is emptied: nothing else is read from it).
    fn bus_error(&self) -> Option<FrameError> {
        let bus = self.pipeline.bus()?;
        let mut first = None;
        while let Some(msg) = bus.pop() {
            if let gst::MessageView::Error(e) = msg.view()
                && first.is_none()
            {
                let debug = e.debug().map(|d| d.to_string()).unwrap_or_default();
                first = Some(FrameError::Decode(format!("{} ({debug})", e.error())));
            }
        }
        first
    }

    /// The first error on the bus, else `fallback`.
    fn failure(&self, fallback: String) -> FrameError {
        self.bus_error().unwrap_or(FrameError::Decode(fallback))
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

/// The decoder chain description and input caps for `codec`, and the pool key.
fn decoder_setup(codec: &Codec) -> Result<(String, gst::Caps, String), FrameError> {
    let (media, format, element, config) = match codec {
        Codec::H264 { avcc } => ("video/x-h264", "avc", "avdec_h264", avcc),
        Codec::H265 { hvcc } => ("video/x-h265", "hvc1", "avdec_h265", hvcc),
        Codec::Aac { .. } | Codec::Other(_) => {
            return Err(FrameError::Input(
                "only H.264 and H.265 video can be decoded",
            ));
        }
    };
    let caps = gst::Caps::builder(media)
        .field("stream-format", format)
        .field("alignment", "au")
        .field("codec_data", gst::Buffer::from_slice(config.clone()))
        .build();
    let description = format!("{element} max-threads=1");
    let key = format!("dec:{element}:{}", hex::encode(config));
    Ok((description, caps, key))
}

/// The encoder chain for raw pictures with `raw` caps of `src` size, for `spec`, and its key.
fn encoder_setup(raw: &gst::CapsRef, src: (u32, u32), spec: &OutputSpec) -> (String, String) {
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
        "videoconvert ! videoscale add-borders=false ! capsfilter caps=\"{out}\" {encoder}"
    );
    let key = format!("enc:{raw}:{description}");
    (description, key)
}

/// A compressed frame as a buffer (sharing its bytes), its timestamps rebased on `base_ms`.
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
fn picture_ms(buffer: &gst::BufferRef, base_ms: i64) -> Option<i64> {
    let ms = (buffer.pts()?.nseconds() + 500_000) / 1_000_000;
    Some(base_ms + i64::try_from(ms).ok()?)
}

/// Width and height from raw caps.
fn raw_size(caps: &gst::CapsRef) -> Option<(u32, u32)> {
    let s = caps.structure(0)?;
    let w = s.get::<i32>("width").ok()?;
    let h = s.get::<i32>("height").ok()?;
    Some((u32::try_from(w).ok()?, u32::try_from(h).ok()?))
}

/// Decodes `frames` with a decoder for `codec` (from the pool if one is idle), handing each
/// picture to `picture` as soon as the decoder outputs it. The decoder goes back to the pool
/// only after a clean pass.
fn decode(
    pool: &Pool,
    codec: &Codec,
    frames: &[CodedFrame],
    mut picture: impl FnMut(Raw, i64),
) -> Result<(), FrameError> {
    gst::init().map_err(|e| FrameError::Setup(e.to_string()))?;
    let (description, caps, key) = decoder_setup(codec)?;
    let dec = match pool.take(&key) {
        Some(p) => p,
        None => Pipe::build(&description, &caps)?,
    };
    let base_ms = frames
        .iter()
        .map(|f| f.dts_ms.min(f.pts_ms))
        .min()
        .unwrap_or(0);
    let mut pass = || -> Result<(), FrameError> {
        dec.segment()?;
        for f in frames {
            dec.push(coded_buffer(f, base_ms))?;
            for raw in dec.take() {
                picture(raw, base_ms);
            }
        }
        dec.event(gst::event::Eos::new())?;
        for raw in dec.take() {
            picture(raw, base_ms);
        }
        Ok(())
    };
    pass()?;
    // An error the decoder posted without refusing a frame (e.g. "no valid frames" at EOS)
    // leaves the pass valid (what came out came out; the rest is not produced), but that
    // decoder is not trusted again.
    match dec.bus_error() {
        Some(e) => tracing::debug!(error = %e, "decoder reported an error; dropped"),
        None if dec.reset() => pool.put(key, dec),
        None => tracing::debug!("decoder refused the flush; dropped"),
    }
    Ok(())
}

/// One decode pass: see the module doc. With `spec` None nothing is encoded.
pub(super) fn run(
    pool: &Pool,
    codec: &Codec,
    frames: &[CodedFrame],
    wanted: &[i64],
    spec: Option<&OutputSpec>,
) -> Result<Rendered, FrameError> {
    let mut out: Rendered = HashMap::new();
    let mut encoder: Option<(String, Pipe)> = None;
    decode(pool, codec, frames, |raw, base_ms| {
        let Some(ms) = picture_ms(&raw.buffer, base_ms) else {
            return;
        };
        if !wanted.contains(&ms) || out.contains_key(&ms) {
            return;
        }
        let Some(spec) = spec else { return };
        let result = encode(pool, &mut encoder, raw, spec);
        out.insert(ms, result);
    })?;
    if let Some((k, enc)) = encoder {
        pool.put(k, enc);
    }
    Ok(out)
}

/// Decodes `frames` and counts the pictures.
pub(super) fn count(
    pool: &Pool,
    codec: &Codec,
    frames: &[CodedFrame],
) -> Result<usize, FrameError> {
    let mut n = 0;
    decode(pool, codec, frames, |_, _| n += 1)?;
    Ok(n)
}

/// Encodes one raw picture, with the encoder in `slot` if it fits, else one from the pool or
/// a new one. A failed encoder is dropped.
fn encode(
    pool: &Pool,
    slot: &mut Option<(String, Pipe)>,
    raw: Raw,
    spec: &OutputSpec,
) -> Result<Picture, FrameError> {
    let caps = raw
        .caps
        .ok_or(FrameError::Input("decoded picture without caps"))?;
    let size = raw_size(&caps).ok_or(FrameError::Input("decoded picture without a size"))?;
    let (description, key) = encoder_setup(&caps, size, spec);
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
                    let p = Pipe::build(&description, &caps)?;
                    p.segment()?;
                    p
                }
            }
        }
    };
    enc.push(raw.buffer)?;
    let mut images = enc.take();
    if let Some(e) = enc.bus_error() {
        return Err(e);
    }
    if images.len() != 1 {
        return Err(FrameError::Decode(format!(
            "the encoder made {} images of one picture",
            images.len()
        )));
    }
    let image = images
        .pop()
        .and_then(|i| i.buffer.map_readable().ok().map(|m| m.as_slice().to_vec()))
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
    use super::*;
    use bytes::Bytes;
    use gstreamer_app as gst_app;

    impl Pool {
        /// The names of the idle pipelines (GStreamer names each one uniquely).
        fn idle_names(&self) -> Vec<String> {
            let idle = self.idle.lock().unwrap();
            idle.iter()
                .map(|(_, p)| p.pipeline.name().to_string())
                .collect()
        }
    }

    /// `n` frames of videotestsrc 160x120 at 25 fps as H.264 High with B-frames and a
    /// keyframe every 25: the codec and the frames in GOPs (decode order, as stored).
    fn h264_gops(n: u32) -> (Codec, Vec<Vec<CodedFrame>>) {
        gst::init().unwrap();
        let pipeline = gst::parse::launch(&format!(
            "videotestsrc num-buffers={n} pattern=ball \
             ! video/x-raw,format=I420,width=160,height=120,framerate=25/1 \
             ! x264enc speed-preset=veryfast key-int-max=25 bframes=2 \
             ! video/x-h264,profile=high,stream-format=avc,alignment=au \
             ! appsink name=sink sync=false"
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let sink = pipeline
            .by_name("sink")
            .unwrap()
            .downcast::<gst_app::AppSink>()
            .unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let (mut avcc, mut gops) = (None, Vec::<Vec<CodedFrame>>::new());
        let ms = |t: Option<gst::ClockTime>| t.map_or(0, |t| t.mseconds() as i64);
        while let Ok(sample) = sink.pull_sample() {
            let caps = sample.caps().unwrap().structure(0).unwrap();
            let config = caps.get::<gst::Buffer>("codec_data").unwrap();
            avcc.get_or_insert_with(|| Bytes::copy_from_slice(&config.map_readable().unwrap()));
            let b = sample.buffer().unwrap();
            let key = !b.flags().contains(gst::BufferFlags::DELTA_UNIT);
            if key {
                gops.push(Vec::new());
            }
            gops.last_mut().unwrap().push(CodedFrame {
                pts_ms: ms(b.pts()),
                dts_ms: ms(b.dts().or(b.pts())),
                duration_ms: 40,
                key,
                data: Bytes::copy_from_slice(&b.map_readable().unwrap()),
            });
        }
        pipeline.set_state(gst::State::Null).unwrap();
        let avcc = avcc.unwrap();
        (Codec::H264 { avcc }, gops)
    }

    fn rgb(width: u32) -> OutputSpec {
        OutputSpec {
            format: ImageFormat::Rgb24,
            width: Some(width),
            height: None,
        }
    }

    #[test]
    fn one_decoder_serves_pass_after_pass() {
        let (codec, gops) = h264_gops(75);
        assert_eq!(gops.iter().map(Vec::len).collect::<Vec<_>>(), [25, 25, 25]);
        assert!(gops[0].iter().any(|f| f.pts_ms != f.dts_ms), "no B-frames");
        let pool = Pool::new(4);
        assert_eq!(count(&pool, &codec, &gops[0]).unwrap(), 25);
        let decoder = pool.idle_names();
        assert_eq!(decoder.len(), 1);

        // Every picture of another group, through the same (flushed) decoder.
        let wanted: Vec<i64> = gops[1].iter().map(|f| f.pts_ms).collect();
        let out = run(&pool, &codec, &gops[1], &wanted, Some(&rgb(80))).unwrap();
        assert_eq!(out.len(), 25);
        for pts in &wanted {
            let p = out[pts].as_ref().unwrap();
            assert_eq!((p.width, p.height, p.data.len()), (80, 60, 80 * 60 * 3));
        }
        // Two pictures wanted from the last group: only those are encoded.
        let two = [gops[2][0].pts_ms, gops[2][7].pts_ms];
        let out = run(&pool, &codec, &gops[2], &two, Some(&rgb(80))).unwrap();
        assert_eq!(out.len(), 2);
        assert!(out.values().all(Result::is_ok));
        assert_eq!(count(&pool, &codec, &gops[0]).unwrap(), 25);

        // The same decoder all along, plus one encoder.
        let idle = pool.idle_names();
        assert_eq!(idle.len(), 2, "{idle:?}");
        assert!(idle.contains(&decoder[0]), "{idle:?} lost {decoder:?}");
    }

    #[test]
    fn after_undecodable_frames_the_next_pass_is_right() {
        let (codec, gops) = h264_gops(25);
        let pool = Pool::new(4);
        assert_eq!(count(&pool, &codec, &gops[0]).unwrap(), 25);
        let junk: Vec<CodedFrame> = (0..10)
            .map(|i| CodedFrame {
                pts_ms: i * 40,
                dts_ms: i * 40,
                duration_ms: 40,
                key: i == 0,
                data: Bytes::from(vec![0, 0, 0, 8, 0x65, 1, 2, 3, 4, 5, 6, 7]),
            })
            .collect();
        let wanted = [0, 40];
        match run(&pool, &codec, &junk, &wanted, Some(&rgb(80))) {
            Err(_) => {}
            Ok(out) => assert!(out.values().all(Result::is_err), "{out:?}"),
        }
        // The decoder reported an error: it was dropped, not pooled.
        assert_eq!(pool.idle_names(), Vec::<String>::new());
        assert_eq!(count(&pool, &codec, &gops[0]).unwrap(), 25);
    }

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
