//! GStreamer sources → Matroska byte chunks, for `vidstream push` and `vidstream gen`.
//!
//! ```text
//! file (MP4/TS/…):  filesrc ! parsebin ! video/x-h264;video/x-h265 ! queue ! mux.
//!   --transcode:    filesrc ! decodebin ! videoconvert ! I420 ! x264enc ! h264parse ! mux.
//! rtsp://:          rtspsrc ! parsebin ! video/x-h264;video/x-h265 ! queue ! mux.
//! test pattern:     videotestsrc ! I420 WxH@fps [! timeoverlay ! clockoverlay] ! x264enc ! mux.
//! v4l2:             v4l2src device=… ! videoconvert ! I420 ! x264enc ! h264parse ! mux.
//! mux.:             matroskamux streamable=true min-cluster-duration=0 ! appsink sync=<realtime>
//! ```
//!
//! H.264/H.265 go through without re-encoding (parsebin only parses); anything else needs
//! `--transcode`. `streamable=true` and a non-seekable appsink give unknown-size Segment and
//! Clusters and, with `min-cluster-duration=0`, one Cluster per keyframe (TOOLCHAIN.md), i.e.
//! one KVS fragment per GOP. Timecodes are the pipeline's running time; the client rebases them
//! onto the wall clock (ABSOLUTE timecodes, see `client`), so nothing here depends on time.
//! MKV files with H.264/H.265 do not come here at all: the client reads them directly, which is
//! exact and cheaper.
//!
//! `realtime` sets `sync=true` on the appsink (and `is-live` on the test pattern), so a file is
//! sent at its own pace; otherwise as fast as the consumer takes it: the appsink callback blocks
//! on the bounded channel, which is the back-pressure. Because a blocked streaming thread could
//! deadlock a state change to NULL, [`Pipeline::stop`] (and drop) first drops our sender, and
//! callers drop their receiver before stopping.
//!
//! The timeoverlay/clockoverlay elements (frame counter and wall clock burnt into the pattern)
//! come from the `pango` plugin (Debian: gstreamer1.0-x); without it the pattern is plain and a
//! warning says so. The V4L2 source is built like the others but untested here (no camera).
//!
//! This file is one of the three that see GStreamer types (STYLE.md §2): callers get [`Bytes`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use tokio::sync::mpsc;
use tracing::{debug, warn};

/// MKV chunks buffered between the appsink and the consumer (about one per frame).
const CHUNK_QUEUE: usize = 256;

/// Packages that provide the elements we use.
const INSTALL_HINT: &str = "install them with: apt-get install gstreamer1.0-plugins-base \
     gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav";

/// A synthetic source: a test pattern, H.264 encoded.
#[derive(Debug, Clone, PartialEq)]
pub struct TestPattern {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Frames per GOP (= per fragment).
    pub gop: u32,
    /// Encoder bitrate in kbit/s.
    pub bitrate_kbps: u32,
    /// Stop after this long (of video); None = forever.
    pub duration: Option<Duration>,
}

/// Where the video comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A media file (MP4, MPEG-TS, MKV...).
    File {
        /// Path.
        path: PathBuf,
        /// Re-encode to H.264 (for codecs other than H.264/H.265).
        transcode: bool,
    },
    /// An RTSP camera.
    Rtsp {
        /// `rtsp://...`
        url: String,
    },
    /// A test pattern.
    TestPattern(TestPattern),
    /// A V4L2 camera, encoded to H.264 (untested here).
    V4l2 {
        /// e.g. `/dev/video0`.
        device: String,
    },
}

/// Pipeline failures.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PipelineError {
    /// GStreamer could not initialise.
    #[error("gstreamer init: {0}")]
    Init(String),
    /// Elements are missing.
    #[error("gstreamer elements missing: {0}; {INSTALL_HINT}")]
    MissingElements(String),
    /// The description did not build.
    #[error("gstreamer pipeline `{description}`: {message}")]
    Build {
        /// The pipeline description.
        description: String,
        /// Why.
        message: String,
    },
    /// A runtime error from an element.
    #[error("gstreamer: {0}")]
    Stream(String),
}

/// A running pipeline; dropping it stops it.
pub struct Pipeline {
    pipeline: gst::Pipeline,
    tx: SharedTx,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").finish_non_exhaustive()
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn x264(gop: u32, bitrate_kbps: u32) -> String {
    // Pin I420 before and a profile after x264enc: open caps give 4:4:4 High (TOOLCHAIN.md).
    format!(
        "x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bitrate={bitrate_kbps} \
         ! video/x-h264,profile=baseline ! h264parse"
    )
}

/// Whether the pango overlays are installed.
pub fn has_overlays() -> bool {
    init().is_ok()
        && gst::ElementFactory::find("timeoverlay").is_some()
        && gst::ElementFactory::find("clockoverlay").is_some()
}

fn init() -> Result<(), PipelineError> {
    gst::init().map_err(|e| PipelineError::Init(e.to_string()))
}

/// The gst-launch description of `source` (ending in `appsink name=sink`).
pub fn describe(source: &Source, realtime: bool) -> String {
    let mux = format!(
        "matroskamux name=mux streamable=true min-cluster-duration=0 ! appsink name=sink sync={realtime} max-buffers=0"
    );
    let passthrough = "video/x-h264;video/x-h265 ! queue ! mux.";
    match source {
        Source::File {
            path,
            transcode: false,
        } => format!(
            "filesrc location={} ! parsebin ! {passthrough} {mux}",
            quote(&path.to_string_lossy())
        ),
        Source::File {
            path,
            transcode: true,
        } => format!(
            "filesrc location={} ! decodebin ! video/x-raw ! queue ! videoconvert ! video/x-raw,format=I420 ! {} ! mux. {mux}",
            quote(&path.to_string_lossy()),
            x264(60, 4000)
        ),
        Source::Rtsp { url } => format!(
            "rtspsrc location={} latency=200 ! parsebin ! {passthrough} {mux}",
            quote(url)
        ),
        Source::TestPattern(t) => {
            let frames = t
                .duration
                .map(|d| {
                    format!(
                        "num-buffers={}",
                        (d.as_secs_f64() * f64::from(t.fps)).round() as u64
                    )
                })
                .unwrap_or_default();
            let overlay = if has_overlays() {
                "timeoverlay time-mode=buffer-count halignment=left valignment=top font-desc=\"Sans 20\" \
                 ! clockoverlay halignment=right valignment=bottom time-format=\"%H:%M:%S\" font-desc=\"Sans 20\" ! "
            } else {
                ""
            };
            format!(
                "videotestsrc is-live={realtime} {frames} ! video/x-raw,format=I420,width={},height={},framerate={}/1 \
                 ! {overlay}{} ! mux. {mux}",
                t.width,
                t.height,
                t.fps,
                x264(t.gop, t.bitrate_kbps)
            )
        }
        Source::V4l2 { device } => format!(
            "v4l2src device={} ! videoconvert ! video/x-raw,format=I420 ! {} ! mux. {mux}",
            quote(device),
            x264(30, 2000)
        ),
    }
}

fn required_elements(source: &Source) -> Vec<&'static str> {
    let mut v = vec!["matroskamux", "appsink", "queue"];
    match source {
        Source::File {
            transcode: false, ..
        } => v.extend(["filesrc", "parsebin", "capsfilter"]),
        Source::File {
            transcode: true, ..
        } => v.extend([
            "filesrc",
            "decodebin",
            "videoconvert",
            "x264enc",
            "h264parse",
        ]),
        Source::Rtsp { .. } => v.extend(["rtspsrc", "parsebin"]),
        Source::TestPattern(_) => v.extend(["videotestsrc", "x264enc", "h264parse"]),
        Source::V4l2 { .. } => v.extend(["v4l2src", "videoconvert", "x264enc", "h264parse"]),
    }
    v
}

impl Pipeline {
    /// Builds and starts the pipeline; MKV chunks (then the channel closes at EOS, or an error
    /// item) arrive on the returned receiver.
    pub fn start(
        source: &Source,
        realtime: bool,
    ) -> Result<(Pipeline, mpsc::Receiver<Result<Bytes, PipelineError>>), PipelineError> {
        init()?;
        let missing: Vec<&str> = required_elements(source)
            .into_iter()
            .filter(|e| gst::ElementFactory::find(e).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(PipelineError::MissingElements(missing.join(", ")));
        }
        if matches!(source, Source::TestPattern(_)) && !has_overlays() {
            warn!(
                "timeoverlay/clockoverlay not installed (Debian: gstreamer1.0-x); test pattern without clock and frame counter"
            );
        }
        let description = describe(source, realtime);
        debug!(%description, "gstreamer pipeline");
        let build = |message: String| PipelineError::Build {
            description: description.clone(),
            message,
        };
        let pipeline = gst::parse::launch(&description)
            .map_err(|e| build(e.to_string()))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| build("not a pipeline".into()))?;
        let sink = pipeline
            .by_name("sink")
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .ok_or_else(|| build("no appsink".into()))?;
        let (tx, rx) = mpsc::channel(CHUNK_QUEUE);
        let tx = Arc::new(Mutex::new(Some(tx)));
        let sample_tx = Arc::clone(&tx);
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let Some(buffer) = sample.buffer() else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
                    let chunk = Bytes::copy_from_slice(map.as_slice());
                    // Clone out of the lock so stop() never waits on a blocked send.
                    let tx = sample_tx.lock().ok().and_then(|g| g.clone());
                    match tx {
                        Some(tx) if tx.blocking_send(Ok(chunk)).is_ok() => Ok(gst::FlowSuccess::Ok),
                        _ => Err(gst::FlowError::Flushing),
                    }
                })
                .build(),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let bus = pipeline.bus().ok_or_else(|| build("no bus".into()))?;
        if let Err(e) = pipeline.set_state(gst::State::Playing) {
            // The element's own error (e.g. "Could not open file") says more than the state change.
            let why = bus
                .pop_filtered(&[gst::MessageType::Error])
                .and_then(|m| match m.view() {
                    gst::MessageView::Error(err) => Some(err.error().to_string()),
                    _ => None,
                })
                .unwrap_or_else(|| e.to_string());
            let _ = pipeline.set_state(gst::State::Null);
            return Err(build(format!("cannot start: {why}")));
        }
        // Started only now so that a failed start's error stays on the bus for the lines above.
        let (bus_tx, bus_stop) = (Arc::clone(&tx), Arc::clone(&stop));
        let pipeline = Pipeline { pipeline, tx, stop };
        std::thread::Builder::new()
            .name("gst-bus".into())
            .spawn(move || watch_bus(bus, bus_tx, bus_stop))
            .map_err(|e| build(e.to_string()))?;
        Ok((pipeline, rx))
    }

    /// Stops the pipeline (also done on drop).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Ok(mut g) = self.tx.lock() {
            g.take();
        }
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.stop();
    }
}

type SharedTx = Arc<Mutex<Option<mpsc::Sender<Result<Bytes, PipelineError>>>>>;

/// Ends the channel at EOS, or sends the first error.
fn watch_bus(bus: gst::Bus, tx: SharedTx, stop: Arc<AtomicBool>) {
    use gst::MessageView;
    while !stop.load(Ordering::SeqCst) {
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
            continue;
        };
        let err = match msg.view() {
            MessageView::Eos(_) => None,
            MessageView::Error(e) => Some(PipelineError::Stream(format!(
                "{} ({})",
                e.error(),
                e.debug().map(|d| d.to_string()).unwrap_or_default()
            ))),
            MessageView::Warning(w) => {
                warn!(warning = %w.error(), "gstreamer");
                continue;
            }
            _ => continue,
        };
        let sender = tx.lock().ok().and_then(|mut g| g.take());
        if let (Some(s), Some(e)) = (sender, err) {
            let _ = s.blocking_send(Err(e));
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_pin_formats_and_pace() {
        let t = Source::TestPattern(TestPattern {
            width: 320,
            height: 240,
            fps: 30,
            gop: 30,
            bitrate_kbps: 500,
            duration: Some(Duration::from_secs(2)),
        });
        let d = describe(&t, false);
        assert!(
            d.contains("format=I420,width=320,height=240,framerate=30/1"),
            "{d}"
        );
        assert!(d.contains("num-buffers=60"), "{d}");
        assert!(d.contains("key-int-max=30"), "{d}");
        assert!(d.contains("sync=false"), "{d}");
        assert!(d.contains("is-live=false"), "{d}");
        let f = describe(
            &Source::File {
                path: "/tmp/a \"b\".mp4".into(),
                transcode: false,
            },
            true,
        );
        assert!(f.contains(r#"location="/tmp/a \"b\".mp4""#), "{f}");
        assert!(f.contains("sync=true"), "{f}");
    }
}
