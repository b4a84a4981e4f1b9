//! A synthetic RTSP camera served by gst-rtsp-server, for `vidstream bench cameras`: one shared
//! encoded test pattern (one encoder whatever the number of clients), so what the benchmark
//! measures is vidstream pulling and remuxing, not encoding. GStreamer types stay in this file.

use std::sync::mpsc;
use std::thread::JoinHandle;

use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;
use rtsp::gst::glib;

/// Why the synthetic camera could not start.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// GStreamer did not initialize.
    #[error("GStreamer: {0}")]
    Init(String),
    /// The server could not listen.
    #[error("the RTSP server could not listen on 127.0.0.1:{0}")]
    Listen(u16),
}

/// A running synthetic camera; stops when dropped.
pub struct SyntheticCamera {
    port: u16,
    main_loop: glib::MainLoop,
    thread: Option<JoinHandle<()>>,
}

impl SyntheticCamera {
    /// Serves `rtsp://127.0.0.1:PORT/cam`: H.264 test pattern at the given size, 30 fps, one
    /// keyframe a second, `kbps` kilobits per second.
    pub fn start(port: u16, width: u32, height: u32, kbps: u32) -> Result<Self, SourceError> {
        rtsp::gst::init().map_err(|e| SourceError::Init(e.to_string()))?;
        let launch = format!(
            "( videotestsrc is-live=true ! video/x-raw,format=I420,width={width},height={height},framerate=30/1 \
             ! x264enc tune=zerolatency speed-preset=ultrafast pass=cbr bitrate={kbps} vbv-buf-capacity=1000 key-int-max=30 \
             ! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=1 )"
        );
        let ctx = glib::MainContext::new();
        let main_loop = glib::MainLoop::new(Some(&ctx), false);
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = {
            let ctx = ctx.clone();
            let main_loop = main_loop.clone();
            std::thread::spawn(move || {
                let _ = ctx.with_thread_default(|| {
                    let server = rtsp::RTSPServer::new();
                    server.set_address("127.0.0.1");
                    server.set_service(&port.to_string());
                    let factory = rtsp::RTSPMediaFactory::new();
                    factory.set_launch(&launch);
                    factory.set_shared(true);
                    if let Some(mounts) = server.mount_points() {
                        mounts.add_factory("/cam", factory);
                    }
                    let attached = server.attach(Some(&ctx));
                    let _ = ready_tx.send(attached.is_ok());
                    if attached.is_ok() {
                        main_loop.run();
                    }
                });
            })
        };
        if ready_rx.recv().unwrap_or(false) {
            Ok(SyntheticCamera {
                port,
                main_loop,
                thread: Some(thread),
            })
        } else {
            let _ = thread.join();
            Err(SourceError::Listen(port))
        }
    }

    /// The camera's URL.
    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/cam", self.port)
    }
}

impl Drop for SyntheticCamera {
    fn drop(&mut self) {
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
