//! RTSP pull: one GStreamer pipeline that turns a camera's RTP into a Matroska byte stream,
//! without re-encoding, for [`Ingest::put_media`](super::Ingest::put_media).
//!
//! ```text
//! rtspsrc location=… protocols=tcp|udp user-id/user-pw latency=…
//!   ├─ video: rtph264depay ! h264parse config-interval=-1 ─┐
//!   │     or  rtph265depay ! h265parse config-interval=-1 ─┼─ matroskamux streamable=true
//!   └─ audio: rtpmp4gdepay ! aacparse (AAC only) ──────────┘   min-cluster-duration=0 ! appsink
//! ```
//!
//! The depayloader is chosen per RTP stream from its SDP `encoding-name` (rtspsrc's
//! `select-stream`, then `pad-added`), so H.264 and H.265 cameras, with or without AAC, need no configuration. Any other
//! video encoding (MJPEG, raw, VP8…) is reported as [`RtspFailure::UnsupportedCodec`]: storing it
//! would need a re-encode, which this server never does. Audio other than AAC is dropped. matroskamux
//! cannot add a track after its header, so the video is held back (a pad block, at most 3 s)
//! until every stream selected from the SDP has its pad; AAC that arrives later still is dropped.
//!
//! This file and `pipeline.rs`/`frames/decode.rs` are the only ones that see GStreamer types
//! (STYLE §2): callers get [`Bytes`] chunks of MKV and [`RtspEvent`]s. The muxer's timecodes are
//! pipeline running time (0 ≈ when the pipeline started playing), i.e. RELATIVE timecodes.
//!
//! Nothing here blocks the caller's async runtime for long except [`RtspPull::start`] and
//! [`RtspPull::stop`] (GStreamer state changes), which the caller runs on the blocking pool. A
//! slow consumer never blocks a GStreamer streaming thread: when the data channel is full the
//! pull fails with [`RtspFailure::ConsumerTooSlow`] instead (a blocked streaming thread could
//! deadlock the state change to NULL).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use tokio::sync::mpsc;

/// MKV chunks buffered between the appsink and the ingest session (matroskamux pushes about one
/// chunk per frame, so this is a few seconds of video).
const DATA_QUEUE: usize = 512;

/// Longest the video is held back waiting for the other selected streams' pads (see [`Gate`]).
const GATE_TIMEOUT: Duration = Duration::from_secs(3);

/// RTP lower transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtspTransport {
    /// RTP interleaved in the RTSP TCP connection (works through NAT and firewalls).
    Tcp,
    /// RTP over UDP.
    Udp,
}

/// What to pull. `Debug` omits the password.
#[derive(Clone)]
pub struct RtspOptions {
    /// `rtsp://host:port/path`, without userinfo.
    pub url: String,
    /// RTSP user.
    pub username: Option<String>,
    /// RTSP password.
    pub password: Option<String>,
    /// RTP transport.
    pub transport: RtspTransport,
    /// Jitter buffer latency in ms.
    pub latency_ms: u32,
    /// TCP connect/receive timeout in ms.
    pub tcp_timeout_ms: u64,
}

impl std::fmt::Debug for RtspOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtspOptions")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("has_password", &self.password.is_some())
            .field("transport", &self.transport)
            .field("latency_ms", &self.latency_ms)
            .finish()
    }
}

/// Why a pull failed, in words an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtspFailure {
    /// TCP connect failed or timed out.
    #[error("camera unreachable: {0}; check the host, port and network")]
    Unreachable(String),
    /// The camera answered 401.
    #[error("401 unauthorized: the camera refused the username/password")]
    Unauthorized,
    /// The camera answered 404 (or equivalent) for the URL.
    #[error("camera answered not found: {0}; check the URL path")]
    NotFound(String),
    /// A video encoding vidstream cannot store without re-encoding.
    #[error(
        "unsupported codec {0}: vidstream stores H.264 or H.265 video as sent (no re-encoding)"
    )]
    UnsupportedCodec(String),
    /// The camera offers no video stream.
    #[error("the camera offers no video stream")]
    NoVideo,
    /// The peer does not speak RTSP properly (garbage, a closed connection, a bad answer).
    #[error("rtsp error: {0}")]
    Protocol(String),
    /// The camera ended the stream (RTSP teardown or end of stream).
    #[error("the camera ended the stream")]
    Ended,
    /// The ingest side did not keep up with the camera's data.
    #[error("ingest is not keeping up with the camera; the connection was restarted")]
    ConsumerTooSlow,
    /// A GStreamer element is not installed.
    #[error(
        "gstreamer element `{0}` is missing; install gstreamer1.0-plugins-good, -bad and gstreamer1.0-rtsp (scripts/install-deps.sh)"
    )]
    MissingElement(&'static str),
    /// Any other pipeline failure.
    #[error("pipeline error: {0}")]
    Pipeline(String),
}

/// Something that happened to a running pull, besides data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtspEvent {
    /// The pull failed; it produces no more data.
    Failed(RtspFailure),
    /// A video track is linked: `H264` or `H265`.
    Video(&'static str),
}

/// A running pipeline. Dropping it stops the pipeline (state NULL), which may block briefly:
/// prefer [`RtspPull::stop`] on the blocking pool.
pub struct RtspPull {
    pipeline: gst::Pipeline,
    /// MKV bytes, in order; ends when the pipeline stops.
    pub data: mpsc::Receiver<Bytes>,
    /// Failures and track notices.
    pub events: mpsc::UnboundedReceiver<RtspEvent>,
}

impl RtspPull {
    /// Builds the pipeline and sets it playing. Blocking (GStreamer state change).
    pub fn start(opts: &RtspOptions) -> Result<RtspPull, RtspFailure> {
        gst::init().map_err(|e| RtspFailure::Pipeline(format!("gstreamer init: {e}")))?;
        let (data_tx, data) = mpsc::channel(DATA_QUEUE);
        let (events_tx, events) = mpsc::unbounded_channel();
        let pipeline = gst::Pipeline::new();

        let mut src = make("rtspsrc")?
            .property("location", opts.url.as_str())
            .property("latency", opts.latency_ms)
            .property("tcp-timeout", opts.tcp_timeout_ms.saturating_mul(1000))
            .property_from_str(
                "protocols",
                match opts.transport {
                    RtspTransport::Tcp => "tcp",
                    RtspTransport::Udp => "udp",
                },
            );
        if let Some(u) = &opts.username {
            src = src.property("user-id", u.as_str());
        }
        if let Some(p) = &opts.password {
            src = src.property("user-pw", p.as_str());
        }
        let src = src.build().map_err(pipeline_err)?;
        let mux = make("matroskamux")?
            .property("streamable", true)
            .property_from_str("min-cluster-duration", "0")
            .build()
            .map_err(pipeline_err)?;
        let started = Arc::new(AtomicBool::new(false));
        let sink = appsink(data_tx, events_tx.clone(), Arc::clone(&started));
        pipeline
            .add_many([&src, &mux, sink.upcast_ref()])
            .map_err(pipeline_err)?;
        mux.link(&sink).map_err(pipeline_err)?;

        let has_video = Arc::new(AtomicBool::new(false));
        let gate = Arc::new(Gate::default());
        {
            let gate = Arc::clone(&gate);
            // Streams are chosen from the SDP, before any packet: an unsupported video
            // encoding fails at once instead of after a stall timeout.
            let events = events_tx.clone();
            let supported = Arc::new(AtomicBool::new(false));
            src.connect("select-stream", false, move |args| {
                let caps = args.get(2).and_then(|v| v.get::<gst::Caps>().ok());
                let (media, encoding) = caps
                    .as_ref()
                    .and_then(|c| c.structure(0))
                    .map(|s| {
                        (
                            s.get::<&str>("media").unwrap_or("").to_owned(),
                            s.get::<&str>("encoding-name")
                                .unwrap_or("")
                                .to_ascii_uppercase(),
                        )
                    })
                    .unwrap_or_default();
                let select = match media.as_str() {
                    "video" if encoding == "H264" || encoding == "H265" => {
                        supported.store(true, Ordering::SeqCst);
                        true
                    }
                    "video" => {
                        if !supported.load(Ordering::SeqCst) {
                            let _ = events
                                .send(RtspEvent::Failed(RtspFailure::UnsupportedCodec(encoding)));
                        }
                        false
                    }
                    "audio" => encoding == "MPEG4-GENERIC",
                    _ => false,
                };
                if select {
                    gate.expected.fetch_add(1, Ordering::SeqCst);
                }
                Some(select.to_value())
            });
        }
        {
            let pipeline = pipeline.downgrade();
            let mux = mux.downgrade();
            let events = events_tx.clone();
            let has_video = Arc::clone(&has_video);
            src.connect_pad_added(move |_, pad| {
                let (Some(pipeline), Some(mux)) = (pipeline.upgrade(), mux.upgrade()) else {
                    return;
                };
                let linked = link_rtp_pad(&pipeline, &mux, pad, &started, &gate);
                gate.linked();
                match linked {
                    Ok(Linked::Video(codec)) => {
                        has_video.store(true, Ordering::SeqCst);
                        let _ = events.send(RtspEvent::Video(codec));
                    }
                    Ok(Linked::Audio | Linked::Dropped) => {}
                    Err(f) => {
                        let _ = events.send(RtspEvent::Failed(f));
                    }
                }
            });
        }
        {
            let events = events_tx.clone();
            src.connect_no_more_pads(move |_| {
                if !has_video.load(Ordering::SeqCst) {
                    let _ = events.send(RtspEvent::Failed(RtspFailure::NoVideo));
                }
            });
        }
        let bus = pipeline
            .bus()
            .ok_or_else(|| RtspFailure::Pipeline("pipeline has no bus".into()))?;
        bus.set_sync_handler(move |_, msg| {
            use gst::MessageView;
            match msg.view() {
                MessageView::Error(e) => {
                    let debug = e.debug().map(|d| d.to_string()).unwrap_or_default();
                    let _ = events_tx.send(RtspEvent::Failed(classify(&e.error(), &debug)));
                }
                MessageView::Eos(_) => {
                    let _ = events_tx.send(RtspEvent::Failed(RtspFailure::Ended));
                }
                MessageView::Warning(w) => {
                    tracing::debug!(warning = %w.error(), "gstreamer warning");
                }
                _ => {}
            }
            gst::BusSyncReply::Drop
        });
        let pull = RtspPull {
            pipeline,
            data,
            events,
        };
        pull.pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| RtspFailure::Pipeline(format!("could not start the pipeline: {e}")))?;
        Ok(pull)
    }

    /// Stops the pipeline (state NULL). Blocking; run it on the blocking pool.
    pub fn stop(self) {
        // Drop does the work.
    }
}

impl Drop for RtspPull {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
        if let Some(bus) = self.pipeline.bus() {
            bus.unset_sync_handler();
        }
    }
}

fn make<'a>(
    factory: &'static str,
) -> Result<gst::element_factory::ElementBuilder<'a>, RtspFailure> {
    if gst::ElementFactory::find(factory).is_none() {
        return Err(RtspFailure::MissingElement(factory));
    }
    Ok(gst::ElementFactory::make(factory))
}

fn pipeline_err(e: impl std::fmt::Display) -> RtspFailure {
    RtspFailure::Pipeline(e.to_string())
}

/// The appsink: MKV chunks into `data`; a full queue fails the pull instead of blocking.
fn appsink(
    data: mpsc::Sender<Bytes>,
    events: mpsc::UnboundedSender<RtspEvent>,
    started: Arc<AtomicBool>,
) -> gst_app::AppSink {
    let callbacks = gst_app::AppSinkCallbacks::builder()
        .new_sample(move |sink| {
            started.store(true, Ordering::SeqCst);
            let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
            let buffer = sample.buffer().ok_or(gst::FlowError::Error)?;
            let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
            match data.try_send(Bytes::copy_from_slice(map.as_slice())) {
                Ok(()) => Ok(gst::FlowSuccess::Ok),
                Err(mpsc::error::TrySendError::Full(_)) => {
                    let _ = events.send(RtspEvent::Failed(RtspFailure::ConsumerTooSlow));
                    Err(gst::FlowError::Error)
                }
                Err(mpsc::error::TrySendError::Closed(_)) => Err(gst::FlowError::Eos),
            }
        })
        .build();
    gst_app::AppSink::builder()
        .sync(false)
        .callbacks(callbacks)
        .build()
}

enum Linked {
    Video(&'static str),
    Audio,
    Dropped,
}

/// Links one of rtspsrc's RTP pads: video to depay ! parse ! mux, AAC to the mux if it has not
/// started, anything else to a fakesink (so rtspsrc does not fail with not-linked).
fn link_rtp_pad(
    pipeline: &gst::Pipeline,
    mux: &gst::Element,
    pad: &gst::Pad,
    mux_started: &AtomicBool,
    gate: &Arc<Gate>,
) -> Result<Linked, RtspFailure> {
    let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
    let s = caps
        .structure(0)
        .ok_or_else(|| RtspFailure::Protocol("rtp pad without caps".into()))?;
    let media = s.get::<&str>("media").unwrap_or("");
    let encoding = s
        .get::<&str>("encoding-name")
        .unwrap_or("")
        .to_ascii_uppercase();
    let chain: Option<(&str, &str, &str, Linked)> = match (media, encoding.as_str()) {
        ("video", "H264") => Some((
            "rtph264depay",
            "h264parse",
            "video_%u",
            Linked::Video("H264"),
        )),
        ("video", "H265") => Some((
            "rtph265depay",
            "h265parse",
            "video_%u",
            Linked::Video("H265"),
        )),
        ("video", other) => {
            drop_pad(pipeline, pad)?;
            return Err(RtspFailure::UnsupportedCodec(if other.is_empty() {
                "(none)".to_owned()
            } else {
                other.to_owned()
            }));
        }
        ("audio", "MPEG4-GENERIC") if !mux_started.load(Ordering::SeqCst) => {
            Some(("rtpmp4gdepay", "aacparse", "audio_%u", Linked::Audio))
        }
        _ => None,
    };
    let Some((depay, parse, template, linked)) = chain else {
        tracing::info!(
            media,
            encoding,
            "dropping an rtp stream vidstream does not store"
        );
        drop_pad(pipeline, pad)?;
        return Ok(Linked::Dropped);
    };
    let depay = make(depay)?.build().map_err(pipeline_err)?;
    let mut parse = make(parse)?;
    if matches!(linked, Linked::Video(_)) {
        parse = parse.property("config-interval", -1i32);
    }
    let parse = parse.build().map_err(pipeline_err)?;
    pipeline.add_many([&depay, &parse]).map_err(pipeline_err)?;
    depay.link(&parse).map_err(pipeline_err)?;
    let mux_pad = mux
        .request_pad_simple(template)
        .ok_or_else(|| RtspFailure::Pipeline(format!("matroskamux refused a {template} pad")))?;
    let parse_src = parse
        .static_pad("src")
        .ok_or_else(|| RtspFailure::Pipeline("parser without src pad".into()))?;
    parse_src.link(&mux_pad).map_err(pipeline_err)?;
    if matches!(linked, Linked::Video(_)) {
        gate.hold(&parse_src);
    }
    for e in [&parse, &depay] {
        e.sync_state_with_parent().map_err(pipeline_err)?;
    }
    let depay_sink = depay
        .static_pad("sink")
        .ok_or_else(|| RtspFailure::Pipeline("depayloader without sink pad".into()))?;
    pad.link(&depay_sink).map_err(pipeline_err)?;
    Ok(linked)
}

fn drop_pad(pipeline: &gst::Pipeline, pad: &gst::Pad) -> Result<(), RtspFailure> {
    let sink = make("fakesink")?
        .property("sync", false)
        .property("async", false)
        .build()
        .map_err(pipeline_err)?;
    pipeline.add(&sink).map_err(pipeline_err)?;
    sink.sync_state_with_parent().map_err(pipeline_err)?;
    let sink_pad = sink
        .static_pad("sink")
        .ok_or_else(|| RtspFailure::Pipeline("fakesink without sink pad".into()))?;
    pad.link(&sink_pad).map_err(pipeline_err)?;
    Ok(())
}

/// Turns a GStreamer error message into words (rtspsrc reports a 401 as NOT_AUTHORIZED, a
/// refused or timed-out connection as OPEN_READ_WRITE, an RTSP 404 as NOT_FOUND).
fn classify(err: &gst::glib::Error, debug: &str) -> RtspFailure {
    let detail = if debug.is_empty() {
        err.to_string()
    } else {
        // The debug text's first line is the source location; keep the human part.
        let tail = debug.rsplit(":\n").next().unwrap_or(debug);
        format!("{err} ({})", tail.trim())
    };
    match err.kind::<gst::ResourceError>() {
        Some(gst::ResourceError::NotAuthorized) => RtspFailure::Unauthorized,
        Some(gst::ResourceError::NotFound) => RtspFailure::NotFound(detail),
        Some(gst::ResourceError::OpenReadWrite | gst::ResourceError::OpenRead)
            if debug.contains("connect") || debug.contains("Could not connect") =>
        {
            RtspFailure::Unreachable(detail)
        }
        Some(_) => RtspFailure::Protocol(detail),
        None => match err.kind::<gst::StreamError>() {
            Some(gst::StreamError::CodecNotFound | gst::StreamError::Format) => {
                RtspFailure::UnsupportedCodec(detail)
            }
            _ => RtspFailure::Pipeline(detail),
        },
    }
}

/// Holds the video back until every stream selected from the SDP has its pad linked (rtspsrc
/// adds a pad only when that stream's first packet arrives), or for at most [`GATE_TIMEOUT`].
/// matroskamux writes its header, and can take no new track after it, as soon as the pads it
/// has are ready; without the gate, audio arriving a few ms after the video would be lost.
#[derive(Default)]
struct Gate {
    expected: AtomicUsize,
    linked: AtomicUsize,
    open: AtomicBool,
    held: Mutex<Vec<(gst::Pad, gst::PadProbeId)>>,
}

impl Gate {
    /// Blocks `pad` until the gate opens (not at all with a single selected stream).
    fn hold(self: &Arc<Self>, pad: &gst::Pad) {
        if self.open.load(Ordering::SeqCst) || self.expected.load(Ordering::SeqCst) <= 1 {
            return;
        }
        let Some(id) = pad.add_probe(gst::PadProbeType::BLOCK_DOWNSTREAM, |_, _| {
            gst::PadProbeReturn::Ok
        }) else {
            return;
        };
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((pad.clone(), id));
        if self.open.load(Ordering::SeqCst) {
            self.release();
            return;
        }
        let gate = Arc::clone(self);
        std::thread::spawn(move || {
            std::thread::sleep(GATE_TIMEOUT);
            gate.release();
        });
    }

    /// One more selected stream has its pad; the last one opens the gate.
    fn linked(&self) {
        let n = self.linked.fetch_add(1, Ordering::SeqCst) + 1;
        if n >= self.expected.load(Ordering::SeqCst) {
            self.release();
        }
    }

    fn release(&self) {
        self.open.store(true, Ordering::SeqCst);
        let held: Vec<_> = self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        for (pad, id) in held {
            pad.remove_probe(id);
        }
    }
}
