//! A camera that goes away and comes back: vidstream reconnects within the backoff bound, counts
//! the reconnects and the discontinuity, and memory stays flat over repeated cycles. It runs
//! alone (`serial::alone`) so that the process RSS it samples is not other tests' memory, and its
//! reconnect bounds are not other tests' load.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::camera::*;
use crate::common::free_port;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn camera_restarts_are_reconnected_with_a_discontinuity_and_flat_memory() {
    let _alone = crate::common::serial::alone();
    let dir = tempfile::tempdir().unwrap();
    let s = start_server(dir.path()).await;
    let port = free_port();
    // The camera runs in a process of its own, killed with SIGKILL at each cycle: a camera
    // losing power, and memory measured here is vidstream's alone.
    let cam = CameraProcess::start(port, H264_LAUNCH);
    create_stream(&s, "yard").await;
    add_camera(
        &s,
        json!({ "name": "yard-cam", "url": cam.url(), "stream": "yard", "transport": "tcp" }),
    )
    .await
    .assert_error_free();
    wait_camera(&s, "yard-cam", Duration::from_secs(30), "streaming", |c| {
        state(c) == "streaming"
    })
    .await;

    // Kill the camera mid-stream: the runner notices, backs off, and comes back.
    cam.kill();
    let c = wait_camera(&s, "yard-cam", Duration::from_secs(15), "backoff", |c| {
        state(c) == "backoff"
            || state(c) == "connecting" && c["status"]["reconnects"].as_u64() >= Some(1)
    })
    .await;
    eprintln!("after the camera went away: {c:#}");
    let mut cam = CameraProcess::start(port, H264_LAUNCH);
    let back = Instant::now();
    let c = wait_camera(
        &s,
        "yard-cam",
        Duration::from_secs(20),
        "streaming again",
        |c| state(c) == "streaming" && c["status"]["discontinuities"].as_u64() >= Some(1),
    )
    .await;
    // backoff_max is 1 s: reconnected within max backoff + connect + one fragment.
    assert!(
        back.elapsed() < Duration::from_secs(8),
        "took {:?}",
        back.elapsed()
    );
    assert!(c["status"]["reconnects"].as_u64() >= Some(1), "{c:#}");
    assert!(c["status"]["lastGapMs"].as_u64().is_some(), "{c:#}");

    // 50 kill -9 / restart cycles of the camera. The first 10 warm up (GStreamer registries,
    // thread pools, allocator arenas); over the other 40, this process (vidstream) may not grow
    // by more than a generous bound: a leak of a pipeline or a session per cycle would show.
    const WARM_UP: u64 = 10;
    const CYCLES: u64 = 50;
    let t = Instant::now();
    let mut seen = 1;
    let mut rss_before = 0;
    let mut slowest = Duration::ZERO;
    for i in 0..CYCLES {
        if i == WARM_UP {
            rss_before = rss_kb();
        }
        cam.kill();
        let down = Instant::now();
        cam = CameraProcess::start(port, H264_LAUNCH);
        seen += 1;
        wait_camera(
            &s,
            "yard-cam",
            Duration::from_secs(20),
            "streaming after a restart",
            |c| state(c) == "streaming" && c["status"]["discontinuities"].as_u64() >= Some(seen),
        )
        .await;
        slowest = slowest.max(down.elapsed());
    }
    let rss_after = rss_kb();
    let c = camera(&s, "yard-cam").await;
    eprintln!(
        "{CYCLES} camera restarts in {:?} (slowest {slowest:?}): rss after {WARM_UP} {rss_before} kB -> after {CYCLES} {rss_after} kB; status {:#}",
        t.elapsed(),
        c["status"]
    );
    assert!(c["status"]["reconnects"].as_u64() >= Some(seen), "{c:#}");
    assert!(
        slowest < Duration::from_secs(8),
        "a reconnect took {slowest:?}"
    );
    assert!(
        rss_after < rss_before + 16 * 1024,
        "rss grew from {rss_before} kB to {rss_after} kB over {} cycles",
        CYCLES - WARM_UP
    );
    // The stream kept every cycle's media: fragments from before and after the last restart.
    assert!(s.fragment_numbers("yard").await.len() as u64 > CYCLES);
    let h = s.request(reqwest::Method::GET, "/healthz").await;
    h.assert_ok();
    s.stop().await;
    cam.kill();
}
