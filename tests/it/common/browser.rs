//! Real-browser playback: runs `tests/browser/play.mjs` (Debian's Chromium, headless, driven by
//! playwright-core; hls.js or dash.js in a muted `<video>`) against a URL and returns what the
//! player did, sampled every ~250 ms. `scripts/install-deps.sh` installs Chromium, Node.js and
//! the npm packages (`tests/browser/package-lock.json`).
//!
//! ```ignore
//! let report = browser::play_async(&url, Kind::Hls, PlayOpts { frames: true, ..Default::default() }).await;
//! report.assert_playing(2.0);
//! ```
//!
//! The page is served from its own 127.0.0.1 origin, so the media URL is cross-origin: the server
//! under test must send CORS headers, as it must for a real browser page.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// Which player library plays the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// hls.js, for an HLS playlist (`.m3u8`).
    Hls,
    /// dash.js, for a DASH manifest (`.mpd`).
    Dash,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Hls => "hls",
            Kind::Dash => "dash",
        }
    }
}

/// How to play.
#[derive(Debug, Clone)]
pub struct PlayOpts {
    /// How long to sample playback after the player is attached (the run takes about 2-3 s
    /// more: Chromium start, page load).
    pub seconds: f64,
    /// hls.js `lowLatencyMode` (LL-HLS parts, blocking reloads); dash.js live catch-up with a
    /// 1.5 s target delay.
    pub low_latency: bool,
    /// Decode the framecode index (fixtures/framecode.py) of the frame on screen at each sample.
    pub frames: bool,
    /// Kill the script after this long; default `seconds` + 120 s (its own watchdog fires first).
    pub timeout: Option<Duration>,
    /// Trust the https server whose public key has this SPKI hash (base64 SHA-256; see
    /// `tls::TestCa::spki_sha256`).
    pub trust_spki: Option<String>,
}

impl Default for PlayOpts {
    fn default() -> Self {
        PlayOpts {
            seconds: 5.0,
            low_latency: false,
            frames: false,
            timeout: None,
            trust_spki: None,
        }
    }
}

/// What `play.mjs` printed (its one JSON object), plus how the run went.
#[expect(
    dead_code,
    reason = "deserialized whole; some fields only show in failure messages (Debug)"
)]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlayReport {
    /// The page loaded and no fatal player error happened.
    pub ok: bool,
    pub samples: Vec<Sample>,
    /// Player errors (hls.js ERROR events, fatal or not; dash.js ERROR; `video.error`), and what
    /// Chromium saw (console errors such as CORS refusals, failed requests, HTTP >= 400).
    pub errors: Vec<PlayerError>,
    /// First and last non-null [`Sample::frame_index`] (with [`PlayOpts::frames`]).
    pub first_frame_index: Option<u32>,
    pub last_frame_index: Option<u32>,
    pub timings: Timings,
    pub browser_version: Option<String>,
    /// Why `ok` is false.
    pub failure: Option<String>,
    /// The script's exit status: 0 ok, 1 fatal player error.
    #[serde(skip)]
    pub exit_code: i32,
    /// The script's progress log.
    #[serde(skip)]
    pub stderr: String,
    /// Wall time of the whole run, node start to exit.
    #[serde(skip)]
    pub wall: Duration,
}

/// One look at the `<video>` element.
#[expect(
    dead_code,
    reason = "deserialized whole; some fields only show in failure messages (Debug)"
)]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    /// Seconds since the player was attached.
    pub t: f64,
    pub current_time: f64,
    /// `getVideoPlaybackQuality().totalVideoFrames` / `.droppedVideoFrames`.
    pub total_frames: Option<u64>,
    pub dropped: Option<u64>,
    pub ready_state: u8,
    pub paused: bool,
    pub ended: bool,
    /// End of the last buffered range, in media seconds.
    pub buffered_end: Option<f64>,
    /// hls.js: `Date.now() - hls.playingDate` (needs EXT-X-PROGRAM-DATE-TIME); dash.js on a
    /// dynamic manifest: `getCurrentLiveLatency()`.
    pub latency_ms: Option<f64>,
    /// hls.js `hls.latency` on a live playlist.
    pub hls_latency_ms: Option<f64>,
    /// hls.js `hls.playingDate`, ISO 8601.
    pub playing_date: Option<String>,
    /// The framecode index of the frame on screen; None without `frames`, before the first
    /// frame, or when the frame carries no framecode.
    pub frame_index: Option<u32>,
}

/// One error the player or the browser reported.
#[expect(
    dead_code,
    reason = "deserialized whole; some fields only show in failure messages (Debug)"
)]
#[derive(Debug, Clone, Deserialize)]
pub struct PlayerError {
    /// Seconds since the player was attached (None: before).
    pub t: Option<f64>,
    /// `hls`, `dash`, `video`, `page`, `console`, `network` or `http`.
    pub source: String,
    pub fatal: bool,
    /// hls.js `type` (`networkError`, `mediaError`, ...), or what kind of event it was.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// hls.js `details` (`manifestLoadError`, ...), dash.js `code N`.
    pub details: Option<String>,
    /// HTTP status, where known (0: no response, e.g. refused by CORS).
    pub status: Option<u16>,
    pub url: Option<String>,
    pub message: Option<String>,
}

#[expect(
    dead_code,
    reason = "deserialized whole; some fields only show in failure messages (Debug)"
)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    /// Chromium start (including a retry).
    pub launch_ms: Option<u64>,
    /// Harness page load.
    pub page_ms: Option<u64>,
    /// Player attached to the first `playing` event.
    pub first_playing_ms: Option<u64>,
    /// The script's whole run.
    pub total_ms: Option<u64>,
}

impl PlayReport {
    pub fn fatal_errors(&self) -> Vec<&PlayerError> {
        self.errors.iter().filter(|e| e.fatal).collect()
    }

    /// Media seconds played: last `currentTime` minus first.
    pub fn advanced_secs(&self) -> f64 {
        match (self.samples.first(), self.samples.last()) {
            (Some(a), Some(b)) => b.current_time - a.current_time,
            _ => 0.0,
        }
    }

    /// Growth of `totalVideoFrames` over the run.
    pub fn frames_presented(&self) -> u64 {
        let f = |s: Option<&Sample>| s.and_then(|s| s.total_frames).unwrap_or(0);
        f(self.samples.last()).saturating_sub(f(self.samples.first()))
    }

    /// The decoded framecode indexes, in sample order (samples without one skipped).
    pub fn frame_indexes(&self) -> Vec<u32> {
        self.samples.iter().filter_map(|s| s.frame_index).collect()
    }

    /// A short description for assertion messages: outcome, last sample, errors, stderr.
    pub fn summary(&self) -> String {
        let errors: Vec<String> = self.errors.iter().map(|e| format!("  {e:?}")).collect();
        format!(
            "ok={} exit={} failure={:?} samples={} advanced={:.2}s frames={} indexes {:?}..{:?} timings {:?} wall {:?}\nlast sample: {:?}\nerrors:\n{}\nplay.mjs stderr:\n{}",
            self.ok,
            self.exit_code,
            self.failure,
            self.samples.len(),
            self.advanced_secs(),
            self.frames_presented(),
            self.first_frame_index,
            self.last_frame_index,
            self.timings,
            self.wall,
            self.samples.last(),
            errors.join("\n"),
            self.stderr
        )
    }

    /// Asserts real playback: ok, no fatal error, `currentTime` advanced by more than
    /// `min_secs`, and frames were presented.
    pub fn assert_playing(&self, min_secs: f64) {
        assert!(self.ok, "player failed: {}", self.summary());
        assert!(
            self.fatal_errors().is_empty(),
            "fatal errors: {}",
            self.summary()
        );
        assert!(
            self.advanced_secs() > min_secs,
            "currentTime advanced {:.2} s, want > {min_secs} s: {}",
            self.advanced_secs(),
            self.summary()
        );
        assert!(
            self.frames_presented() > 0,
            "totalVideoFrames did not grow: {}",
            self.summary()
        );
    }
}

/// One browser at a time in the test binary: Chromium start and 30 fps decode are real work on a
/// 2-core machine, and parallel browsers would make the timing assertions flaky.
static ONE_BROWSER: Mutex<()> = Mutex::new(());

/// Held while a Chromium runs (see [`ONE_BROWSER`]); for tests that drive one of their own.
pub fn one_browser() -> MutexGuard<'static, ()> {
    ONE_BROWSER.lock().unwrap_or_else(|p| p.into_inner())
}

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Plays `url` in headless Chromium and reports what happened. Returns the report whether or not
/// the player failed (check [`PlayReport::ok`] or [`PlayReport::assert_playing`]); panics, with
/// the script's stderr, when the harness itself could not run (no Chromium or node modules, the
/// page never loaded, timeout). Blocking: from async tests use [`play_async`].
pub fn play(url: &str, kind: Kind, opts: PlayOpts) -> PlayReport {
    try_play(url, kind, &opts).unwrap_or_else(|e| panic!("browser harness: {e}"))
}

/// [`play`] on tokio's blocking pool, so the test's runtime (and an in-process server on it)
/// keeps running while the browser plays.
pub async fn play_async(url: &str, kind: Kind, opts: PlayOpts) -> PlayReport {
    let url = url.to_owned();
    match tokio::task::spawn_blocking(move || play(&url, kind, opts)).await {
        Ok(report) => report,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("browser harness task: {e}"),
    }
}

/// [`play`] without the panic: Err when the harness could not run.
pub fn try_play(url: &str, kind: Kind, opts: &PlayOpts) -> Result<PlayReport, String> {
    let dir = browser_dir();
    if !dir.join("node_modules/playwright-core").is_dir() {
        return Err(format!(
            "{}/node_modules is missing: run scripts/install-deps.sh (npm ci --prefix tests/browser)",
            dir.display()
        ));
    }
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".to_owned());
    let mut cmd = Command::new(&node);
    cmd.arg(dir.join("play.mjs"))
        .args(["--url", url, "--kind", kind.as_str()])
        .args(["--seconds", &opts.seconds.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if opts.low_latency {
        cmd.arg("--low-latency");
    }
    if opts.frames {
        cmd.arg("--frames");
    }
    if let Some(spki) = &opts.trust_spki {
        cmd.args(["--trust-spki", spki]);
    }
    let timeout = opts
        .timeout
        .unwrap_or(Duration::from_secs_f64(opts.seconds + 120.0));

    let _turn = super::serial::shared();
    let _one = one_browser();
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| {
        format!("cannot run {node} (install Node.js: scripts/install-deps.sh): {e}")
    })?;
    let stdout = reader(child.stdout.take());
    let stderr = reader(child.stderr.take());
    let status = wait_timeout(&mut child, timeout);
    let wall = start.elapsed();
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let Some(status) = status else {
        return Err(format!(
            "play.mjs did not finish within {timeout:?}; killed. stderr:\n{stderr}"
        ));
    };
    let code = status.code().unwrap_or(-1);
    let parsed = serde_json::from_str::<PlayReport>(stdout.trim());
    match (code, parsed) {
        (0 | 1, Ok(mut report)) => {
            report.exit_code = code;
            report.stderr = stderr;
            report.wall = wall;
            eprintln!(
                "browser: {} {url}: ok={} {} samples, advanced {:.2} s, wall {:.2} s (chromium start {:?} ms, first frame {:?} ms)",
                kind.as_str(),
                report.ok,
                report.samples.len(),
                report.advanced_secs(),
                wall.as_secs_f64(),
                report.timings.launch_ms,
                report.timings.first_playing_ms,
            );
            Ok(report)
        }
        (_, parsed) => Err(format!(
            "play.mjs exited with {status} ({}); stdout: {}\nstderr:\n{stderr}",
            match parsed {
                Ok(r) => r.failure.unwrap_or_default(),
                Err(e) => format!("no report: {e}"),
            },
            stdout.trim()
        )),
    }
}

fn reader(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_string(&mut s);
        }
        s
    })
}

/// Waits for `child` up to `timeout`; on timeout asks it to stop (SIGTERM lets playwright close
/// Chromium), then kills it, and returns None.
fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => break,
        }
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let grace = Instant::now() + Duration::from_secs(5);
    while Instant::now() < grace {
        if let Ok(Some(_)) = child.try_wait() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}
