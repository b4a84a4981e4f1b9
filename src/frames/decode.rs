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
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;

use super::{CodedFrame, FrameError, ImageFormat, OutputSpec, Picture, output_size};
use crate::media::Codec;
use crate::media::sps::PictureInfo;

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

/// How the pool keeps idle pipelines: see [`Pool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PoolLimits {
    /// Idle pipelines kept at most (the oldest goes first).
    pub max_idle: usize,
    /// An idle pipeline unused this long is stopped (by the pool's reaper thread).
    pub idle_timeout: Duration,
    /// Estimated bytes of all pipelines, busy and idle: over it, idle ones are stopped,
    /// largest first.
    pub memory_budget: u64,
}

/// An idle pipeline.
struct Idle {
    key: String,
    pipe: Pipe,
    /// Its estimated memory (see [`decoder_bytes`], [`encoder_bytes`]).
    bytes: u64,
    /// When it went idle.
    since: Instant,
}

#[derive(Default)]
struct PoolState {
    /// Oldest first.
    idle: Vec<Idle>,
    /// Estimated bytes of the pipelines checked out.
    busy_bytes: u64,
}

struct PoolInner {
    state: Mutex<PoolState>,
    limits: PoolLimits,
}

impl PoolInner {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes out of `state` what must go: idle past the timeout, the oldest over `max_idle`,
    /// the largest while over the budget. The caller drops them outside the lock.
    fn evict(&self, state: &mut PoolState, now: Instant) -> Vec<Idle> {
        let mut gone = Vec::new();
        let mut i = 0;
        while i < state.idle.len() {
            if now.saturating_duration_since(state.idle[i].since) >= self.limits.idle_timeout {
                gone.push(state.idle.remove(i));
            } else {
                i += 1;
            }
        }
        while state.idle.len() > self.limits.max_idle {
            gone.push(state.idle.remove(0));
        }
        loop {
            let idle: u64 = state.idle.iter().map(|p| p.bytes).sum();
            if idle.saturating_add(state.busy_bytes) <= self.limits.memory_budget {
                break;
            }
            let Some(largest) = (0..state.idle.len()).max_by_key(|&i| state.idle[i].bytes) else {
                break;
            };
            gone.push(state.idle.remove(largest));
        }
        gone
    }
}

/// Pipelines for reuse, keyed by configuration, with what they are estimated to hold in
/// memory. Idle ones go after `idle_timeout` (a reaper thread checks a few times per timeout,
/// and stops when the pool is dropped), past `max_idle` (oldest first), and while busy + idle
/// memory is over the budget (largest first). Busy pipelines are never stopped: their number
/// is bounded by the process-wide pass limit, their size by `[playback] decode_max_pixels`.
pub(super) struct Pool {
    inner: Arc<PoolInner>,
}

/// A pipeline checked out of (or built for) the pool: counted as busy until it is put back
/// or dropped.
pub(super) struct Leased<'p> {
    pool: &'p Pool,
    item: Option<Idle>,
}

impl Leased<'_> {
    fn pipe(&self) -> &Pipe {
        &self
            .item
            .as_ref()
            .expect("a lease holds its pipe until put or dropped")
            .pipe
    }

    fn key(&self) -> &str {
        &self
            .item
            .as_ref()
            .expect("a lease holds its pipe until put or dropped")
            .key
    }

    /// Back to the pool (it may be evicted at once).
    fn put(mut self) {
        if let Some(item) = self.item.take() {
            self.pool.put(item);
        }
    }
}

impl Drop for Leased<'_> {
    fn drop(&mut self) {
        if let Some(item) = self.item.take() {
            let mut state = self.pool.inner.lock();
            state.busy_bytes = state.busy_bytes.saturating_sub(item.bytes);
            drop(state);
            drop(item); // stopped outside the lock
        }
    }
}

impl Pool {
    pub(super) fn new(limits: PoolLimits) -> Pool {
        let inner = Arc::new(PoolInner {
            state: Mutex::new(PoolState::default()),
            limits,
        });
        let weak = Arc::downgrade(&inner);
        let period =
            (limits.idle_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(5));
        let reaper = std::thread::Builder::new()
            .name("decoder-reaper".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(period);
                    let Some(inner) = weak.upgrade() else { return };
                    let gone = inner.evict(&mut inner.lock(), Instant::now());
                    if !gone.is_empty() {
                        tracing::debug!(stopped = gone.len(), "frames: idle pipelines released");
                    }
                    drop(gone);
                }
            });
        if let Err(e) = reaper {
            tracing::warn!(error = %e, "frames: no reaper thread; idle pipelines stay until evicted");
        }
        Pool { inner }
    }

    /// The idle pipeline for `key`, or a new one from `build`, counted as `bytes` while busy.
    fn checkout(
        &self,
        key: &str,
        bytes: u64,
        build: impl FnOnce() -> Result<Pipe, FrameError>,
    ) -> Result<Leased<'_>, FrameError> {
        let found = {
            let mut state = self.inner.lock();
            let found = state
                .idle
                .iter()
                .rposition(|p| p.key == key)
                .map(|i| state.idle.remove(i));
            state.busy_bytes = state.busy_bytes.saturating_add(bytes);
            found
        };
        let pipe = match found {
            Some(p) => p.pipe,
            None => match build() {
                Ok(p) => p,
                Err(e) => {
                    let mut state = self.inner.lock();
                    state.busy_bytes = state.busy_bytes.saturating_sub(bytes);
                    return Err(e);
                }
            },
        };
        Ok(Leased {
            pool: self,
            item: Some(Idle {
                key: key.to_owned(),
                pipe,
                bytes,
                since: Instant::now(),
            }),
        })
    }

    fn put(&self, mut item: Idle) {
        let gone = {
            let mut state = self.inner.lock();
            state.busy_bytes = state.busy_bytes.saturating_sub(item.bytes);
            item.since = Instant::now();
            state.idle.push(item);
            self.inner.evict(&mut state, Instant::now())
        };
        drop(gone); // stopped outside the lock
    }

    /// Estimated bytes of the idle pipelines.
    pub(super) fn idle_bytes(&self) -> u64 {
        self.inner.lock().idle.iter().map(|p| p.bytes).sum()
    }
}

/// A decoder's estimated memory: its reference and reorder pictures plus a few in flight
/// (GstVideoDecoder's output pool, libav's frame being decoded).
pub(super) fn decoder_bytes(picture: &PictureInfo) -> u64 {
    picture
        .picture_bytes()
        .saturating_mul(u64::from(picture.dpb_pictures) + 3)
}

/// An encoder's estimated memory: a source picture and an output one in RGB, each twice
/// (videoconvert's and videoscale's pools).
fn encoder_bytes(src: (u32, u32), out: (u32, u32)) -> u64 {
    let px = |(w, h): (u32, u32)| u64::from(w) * u64::from(h);
    (px(src) * 3 / 2 + px(out) * 3) * 2
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
    picture_info: &PictureInfo,
    frames: &[CodedFrame],
    mut picture: impl FnMut(Raw, i64),
) -> Result<(), FrameError> {
    gst::init().map_err(|e| FrameError::Setup(e.to_string()))?;
    let (description, caps, key) = decoder_setup(codec)?;
    let lease = pool.checkout(&key, decoder_bytes(picture_info), || {
        Pipe::build(&description, &caps)
    })?;
    let dec = lease.pipe();
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
        None if dec.reset() => lease.put(),
        None => tracing::debug!("decoder refused the flush; dropped"),
    }
    Ok(())
}

/// One decode pass: see the module doc. With `spec` None nothing is encoded.
pub(super) fn run(
    pool: &Pool,
    codec: &Codec,
    picture_info: &PictureInfo,
    frames: &[CodedFrame],
    wanted: &[i64],
    spec: Option<&OutputSpec>,
) -> Result<Rendered, FrameError> {
    let mut out: Rendered = HashMap::new();
    let mut encoder: Option<Leased<'_>> = None;
    decode(pool, codec, picture_info, frames, |raw, base_ms| {
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
    if let Some(enc) = encoder {
        enc.put();
    }
    Ok(out)
}

/// Decodes `frames` and counts the pictures.
pub(super) fn count(
    pool: &Pool,
    codec: &Codec,
    picture_info: &PictureInfo,
    frames: &[CodedFrame],
) -> Result<usize, FrameError> {
    let mut n = 0;
    decode(pool, codec, picture_info, frames, |_, _| n += 1)?;
    Ok(n)
}

/// Encodes one raw picture, with the encoder in `slot` if it fits, else one from the pool or
/// a new one. A failed encoder is dropped.
fn encode<'p>(
    pool: &'p Pool,
    slot: &mut Option<Leased<'p>>,
    raw: Raw,
    spec: &OutputSpec,
) -> Result<Picture, FrameError> {
    let caps = raw
        .caps
        .ok_or(FrameError::Input("decoded picture without caps"))?;
    let size = raw_size(&caps).ok_or(FrameError::Input("decoded picture without a size"))?;
    let (description, key) = encoder_setup(&caps, size, spec);
    let (width, height) = output_size(size, spec.width, spec.height);
    let lease = match slot.take() {
        Some(l) if l.key() == key => l,
        other => {
            if let Some(l) = other {
                l.put();
            }
            pool.checkout(&key, encoder_bytes(size, (width, height)), || {
                let p = Pipe::build(&description, &caps)?;
                p.segment()?;
                Ok(p)
            })?
        }
    };
    let enc = lease.pipe();
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
    *slot = Some(lease);
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
            let state = self.inner.lock();
            state
                .idle
                .iter()
                .map(|p| p.pipe.pipeline.name().to_string())
                .collect()
        }

        /// The keys of the idle pipelines, oldest first.
        fn idle_keys(&self) -> Vec<String> {
            self.inner
                .lock()
                .idle
                .iter()
                .map(|p| p.key.clone())
                .collect()
        }
    }

    fn limits(max_idle: usize) -> PoolLimits {
        PoolLimits {
            max_idle,
            idle_timeout: Duration::from_secs(600),
            memory_budget: u64::MAX,
        }
    }

    /// The picture size the guard reads (see `frames::picture_size`).
    fn info(codec: &Codec) -> PictureInfo {
        super::super::picture_size(codec, &[], u64::MAX).unwrap()
    }

    /// `n` frames of videotestsrc 160x120 at 25 fps as H.264 High with B-frames and a
    /// keyframe every 25: the codec and the frames in GOPs (decode order, as stored).
    fn h264_gops(n: u32) -> (Codec, Vec<Vec<CodedFrame>>) {
        h264_gops_sized(n, 160, 120)
    }

    /// As [`h264_gops`], `width`x`height`.
    fn h264_gops_sized(n: u32, width: u32, height: u32) -> (Codec, Vec<Vec<CodedFrame>>) {
        gst::init().unwrap();
        let pipeline = gst::parse::launch(&format!(
            "videotestsrc num-buffers={n} pattern=ball \
             ! video/x-raw,format=I420,width={width},height={height},framerate=25/1 \
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
        let pool = Pool::new(limits(4));
        let i = info(&codec);
        assert_eq!(count(&pool, &codec, &i, &gops[0]).unwrap(), 25);
        let decoder = pool.idle_names();
        assert_eq!(decoder.len(), 1);

        // Every picture of another group, through the same (flushed) decoder.
        let wanted: Vec<i64> = gops[1].iter().map(|f| f.pts_ms).collect();
        let out = run(&pool, &codec, &i, &gops[1], &wanted, Some(&rgb(80))).unwrap();
        assert_eq!(out.len(), 25);
        for pts in &wanted {
            let p = out[pts].as_ref().unwrap();
            assert_eq!((p.width, p.height, p.data.len()), (80, 60, 80 * 60 * 3));
        }
        // Two pictures wanted from the last group: only those are encoded.
        let two = [gops[2][0].pts_ms, gops[2][7].pts_ms];
        let out = run(&pool, &codec, &i, &gops[2], &two, Some(&rgb(80))).unwrap();
        assert_eq!(out.len(), 2);
        assert!(out.values().all(Result::is_ok));
        assert_eq!(count(&pool, &codec, &i, &gops[0]).unwrap(), 25);

        // The same decoder all along, plus one encoder.
        let idle = pool.idle_names();
        assert_eq!(idle.len(), 2, "{idle:?}");
        assert!(idle.contains(&decoder[0]), "{idle:?} lost {decoder:?}");
    }

    #[test]
    fn after_undecodable_frames_the_next_pass_is_right() {
        let (codec, gops) = h264_gops(25);
        let pool = Pool::new(limits(4));
        let i = info(&codec);
        assert_eq!(count(&pool, &codec, &i, &gops[0]).unwrap(), 25);
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
        match run(&pool, &codec, &i, &junk, &wanted, Some(&rgb(80))) {
            Err(_) => {}
            Ok(out) => assert!(out.values().all(Result::is_err), "{out:?}"),
        }
        // The decoder reported an error: it was dropped, not pooled.
        assert_eq!(pool.idle_names(), Vec::<String>::new());
        assert_eq!(count(&pool, &codec, &i, &gops[0]).unwrap(), 25);
    }

    #[test]
    fn idle_pipelines_are_released_after_the_idle_timeout() {
        let (codec, gops) = h264_gops(25);
        let pool = Pool::new(PoolLimits {
            idle_timeout: Duration::from_millis(200),
            ..limits(4)
        });
        let i = info(&codec);
        let wanted = [gops[0][3].pts_ms];
        let out = run(&pool, &codec, &i, &gops[0], &wanted, Some(&rgb(80))).unwrap();
        assert!(out.values().all(Result::is_ok));
        assert_eq!(pool.idle_names().len(), 2, "a decoder and an encoder idle");
        assert!(pool.idle_bytes() >= decoder_bytes(&i));
        // The reaper looks every 50 ms: gone within the timeout plus a few periods.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !pool.idle_names().is_empty() {
            assert!(
                Instant::now() < deadline,
                "still idle: {:?}",
                pool.idle_names()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(pool.idle_bytes(), 0);
        // And the pool still serves.
        assert_eq!(count(&pool, &codec, &i, &gops[0]).unwrap(), 25);
    }

    #[test]
    fn over_the_memory_budget_the_largest_idle_decoder_goes_first() {
        let (small, small_gops) = h264_gops_sized(25, 160, 120);
        let (large, large_gops) = h264_gops_sized(25, 640, 480);
        let (si, li) = (info(&small), info(&large));
        assert!(decoder_bytes(&li) > 4 * decoder_bytes(&si), "{si:?} {li:?}");
        // Room for the small decoder and a bit, not for both.
        let pool = Pool::new(PoolLimits {
            memory_budget: decoder_bytes(&si) + decoder_bytes(&li) / 2,
            ..limits(4)
        });
        assert_eq!(count(&pool, &small, &si, &small_gops[0]).unwrap(), 25);
        assert_eq!(pool.idle_keys().len(), 1);
        let small_key = pool.idle_keys()[0].clone();
        // The large one is the newest, and still the one released.
        assert_eq!(count(&pool, &large, &li, &large_gops[0]).unwrap(), 25);
        assert_eq!(pool.idle_keys(), vec![small_key]);
        assert_eq!(pool.idle_bytes(), decoder_bytes(&si));
        // A budget below even the small one keeps nothing idle.
        let pool = Pool::new(PoolLimits {
            memory_budget: decoder_bytes(&si) - 1,
            ..limits(4)
        });
        assert_eq!(count(&pool, &small, &si, &small_gops[0]).unwrap(), 25);
        assert_eq!(pool.idle_keys(), Vec::<String>::new());
    }

    /// A huge SPS, in the codec configuration or inside a frame: refused before any decoder is
    /// built (today's code decoded it, and the pool kept the decoder's ~850 MB afterwards).
    #[test]
    fn pictures_over_the_limit_are_not_decoded() {
        use crate::media::sps::craft;
        let (codec, gops) = h264_gops(25);
        let frames = super::super::Frames::with_limits(
            4,
            super::super::DecodeLimits {
                max_pixels: 4096 * 2304,
                ..Default::default()
            },
        );
        let huge = Codec::H264 {
            avcc: Bytes::from(craft::avcc(8192, 8192)),
        };
        let err = frames.decode_count(&huge, &gops[0]).unwrap_err();
        assert_eq!(
            err,
            FrameError::TooLarge {
                width: 8192,
                height: 8192,
                max_pixels: 4096 * 2304
            }
        );
        assert!(err.to_string().contains("decode_max_pixels"), "{err}");
        // In-band: the configuration says 160x120, the keyframe carries an 8192x8192 SPS.
        let mut sneaky = gops[0].clone();
        let sps = craft::h264_sps(8192, 8192);
        let mut data = (sps.len() as u32).to_be_bytes().to_vec();
        data.extend(&sps);
        data.extend(&sneaky[0].data[..]);
        sneaky[0].data = Bytes::from(data);
        let err = frames.decode_count(&codec, &sneaky).unwrap_err();
        assert!(
            matches!(err, FrameError::TooLarge { width: 8192, .. }),
            "{err}"
        );
        // No SPS anywhere: the size is unknown, nothing decoded.
        let bare = Codec::H264 {
            avcc: Bytes::from_static(&[1, 66, 0, 30, 0xff, 0xe0, 0]),
        };
        let slice_only = [CodedFrame {
            data: Bytes::from_static(&[0, 0, 0, 2, 0x65, 0x88]),
            ..CodedFrame::test(0, true)
        }];
        assert!(matches!(
            frames.decode_count(&bare, &slice_only),
            Err(FrameError::Sps(_))
        ));
        assert_eq!(frames.idle_bytes(), 0, "no decoder was built");
        // 4K UHD is under the limit (the guard only: no 4K frames here).
        let uhd = Codec::H264 {
            avcc: Bytes::from(craft::avcc(3840, 2160)),
        };
        assert!(super::super::picture_size(&uhd, &[], 4096 * 2304).is_ok());
        assert_eq!(frames.decode_count(&codec, &gops[0]).unwrap(), 25);
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
