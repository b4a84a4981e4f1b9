//! Cameras pulled by the server: a real RTSP server (gst-rtsp-server, on loopback, in its own
//! glib main loop thread) feeds vidstream, which pulls it through `/v1/cameras`.
//!
//! Covered: fragments, GetMediaForFragmentList and the GetMedia live tail from pulled H.264 (TCP), H.265 (UDP) and
//! H.264 + AAC cameras (checked by ffprobe), bad sources as clear states (401, JPEG; a closed
//! port and garbage both read "could not connect", see `egress.rs`),
//! persistence across a restart, credentials never in API JSON or CLI output, KVS-shaped API
//! errors, the CLI. Reconnects and memory over cycles: `camera_cycles.rs`.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common;
use crate::common::camera::*;
use crate::common::free_port;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn h265_and_h264_with_aac_cameras_are_pulled() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_server(dir.path()).await;
    let hevc = RtspServer::start(free_port(), H265_LAUNCH, None);
    let av = RtspServer::start(free_port(), H264_AAC_LAUNCH, None);
    create_stream(&s, "hevc").await;
    create_stream(&s, "av").await;
    add_camera(
        &s,
        json!({ "name": "hevc-cam", "url": hevc.url(), "stream": "hevc", "transport": "udp" }),
    )
    .await
    .assert_error_free();
    add_camera(
        &s,
        json!({ "name": "av-cam", "url": av.url(), "stream": "av" }),
    )
    .await
    .assert_error_free();
    for (name, codec) in [("hevc-cam", "H265"), ("av-cam", "H264")] {
        // 3 received, so that the second is surely persisted (listed) by now.
        let c = wait_camera(&s, name, Duration::from_secs(30), "3 fragments", |c| {
            c["status"]["fragments"].as_u64().unwrap_or(0) >= 3
        })
        .await;
        assert_eq!(c["status"]["codec"], codec, "{c:#}");
        if name == "hevc-cam" {
            assert_eq!(c["transport"], "udp", "{c:#}");
        }
    }
    let out = probe_fragment(&s, dir.path(), "hevc", 1).await;
    assert_eq!(out, "hevc,320,240", "{out}");
    // Every fragment has both tracks (audio and video are interleaved by time, so none misses
    // one), from the first on, and the session never failed for lack of a track.
    for i in 0..2 {
        let out = probe_fragment(&s, dir.path(), "av", i).await;
        eprintln!("h264+aac fragment {i} streams: {out:?}");
        assert!(out.lines().any(|l| l == "h264,320,240"), "{out}");
        assert!(
            out.lines()
                .any(|l| l.starts_with("aac,") && l.contains("48000")),
            "{out}"
        );
    }
    let c = camera(&s, "av-cam").await;
    assert_eq!(c["status"]["reconnects"], 0, "{c:#}");
    s.stop().await;
    hevc.stop();
    av.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pulled_h264_camera_becomes_fragments_and_media() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_server(dir.path()).await;
    let cam = RtspServer::start(free_port(), H264_LAUNCH, None);
    create_stream(&s, "lobby").await;
    // Credentials in the URL move out of it; the server needs none, so they are never used.
    let url = cam.url().replacen("rtsp://", "rtsp://admin:hunter2@", 1);
    let added = add_camera(
        &s,
        json!({ "name": "lobby-cam", "url": url, "stream": "lobby" }),
    )
    .await;
    assert_eq!(added.status, 201, "{added:?}");
    assert_eq!(added.body["url"], cam.url());
    assert_eq!(added.body["username"], "admin");
    assert_eq!(added.body["hasPassword"], true);
    assert_eq!(added.body["transport"], "tcp");

    let c = wait_camera(
        &s,
        "lobby-cam",
        Duration::from_secs(30),
        "3 fragments",
        |c| c["status"]["fragments"].as_u64().unwrap_or(0) >= 3,
    )
    .await;
    assert_eq!(state(&c), "streaming", "{c:#}");
    assert_eq!(c["status"]["codec"], "H264");
    assert!(
        c["status"]["bytesPerSecond"].as_u64().unwrap_or(0) > 0,
        "{c:#}"
    );
    assert!(c["status"]["lastFrameTime"].as_f64().is_some(), "{c:#}");

    // CPU of this process (the RTSP server's encoder included) while one camera streams.
    let (t0, w0) = (cpu_ticks(), Instant::now());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ticks = cpu_ticks() - t0;
    let hz = 100.0; // USER_HZ on Linux
    eprintln!(
        "cpu while 1 camera streams (encoder + vidstream): {:.1} % of one core",
        ticks as f64 / hz / w0.elapsed().as_secs_f64() * 100.0
    );

    // Credentials never in any JSON.
    let list = s.request(reqwest::Method::GET, "/v1/cameras").await;
    let text = list.assert_ok().to_string();
    assert!(!text.contains("hunter2"), "{text}");
    assert!(
        !camera(&s, "lobby-cam")
            .await
            .to_string()
            .contains("hunter2")
    );
    assert_eq!(list.body["cameras"][0]["name"], "lobby-cam");

    // Producer timestamps are the server's clock at each frame's arrival (the runner's
    // contract), so each fragment's producer and server (arrival) timestamps agree closely.
    let listed = s
        .call("/listFragments", json!({ "StreamName": "lobby" }))
        .await;
    for f in listed.assert_ok()["Fragments"]
        .as_array()
        .expect("Fragments")
    {
        let producer = f["ProducerTimestamp"].as_f64().expect("producer");
        let server = f["ServerTimestamp"].as_f64().expect("server");
        assert!(
            (producer - server).abs() < 1.0,
            "producer {producer} vs server {server}: {f}"
        );
    }

    // ListFragments sees them; GetMediaForFragmentList returns a document ffprobe decodes.
    let numbers = s.fragment_numbers("lobby").await;
    assert!(numbers.len() >= 2, "{numbers:?}");
    let media =
        common::media::media_for_fragments(&s.url, "lobby", std::slice::from_ref(&numbers[1]))
            .await;
    let file = dir.path().join("fragment.mkv");
    std::fs::write(&file, &media).unwrap();
    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(&file)
        .output()
        .expect("ffprobe runs (apt-get install ffmpeg)");
    let out = String::from_utf8_lossy(&probe.stdout);
    let fields: Vec<&str> = out.trim().split(',').collect();
    assert_eq!(
        &fields[..3],
        ["h264", "320", "240"],
        "ffprobe: {out} {:?}",
        probe.stderr
    );
    let frames: u32 = fields[3].parse().expect("frame count");
    assert!(
        (20..=40).contains(&frames),
        "a 1 s fragment at 30 fps: {frames} frames"
    );

    // GetMedia from NOW: the live tail of the camera, frame by frame, as standalone MKV
    // documents that ffprobe decodes (what a KVS consumer of a camera stream sees).
    let resp =
        common::media::get_media(&s.url, "lobby", json!({ "StartSelectorType": "NOW" })).await;
    let docs = common::media::read_docs(resp, 2, Duration::from_secs(15), |_, _| {}).await;
    assert_eq!(docs.len(), 2, "two live fragments within 15 s");
    assert!(
        docs.iter().all(|d| d.error.is_none()),
        "{:?}",
        docs.iter().map(|d| &d.error).collect::<Vec<_>>()
    );
    let live = dir.path().join("live.mkv");
    std::fs::write(&live, &docs[1].bytes).unwrap();
    let frames_in_doc = docs[1].frames.len();
    assert!(
        (20..=40).contains(&frames_in_doc),
        "{frames_in_doc} frames in a live fragment"
    );
    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(&live)
        .output()
        .expect("ffprobe runs");
    let out = String::from_utf8_lossy(&probe.stdout);
    assert_eq!(
        out.trim(),
        format!("h264,320,240,{frames_in_doc}"),
        "ffprobe of a live GetMedia document: {out} {:?}",
        String::from_utf8_lossy(&probe.stderr)
    );

    // Remove: the pipeline stops, the camera is gone.
    s.request(reqwest::Method::DELETE, "/v1/cameras/lobby-cam")
        .await
        .assert_ok();
    s.request(reqwest::Method::GET, "/v1/cameras/lobby-cam")
        .await
        .assert_error(404, "ResourceNotFoundException");
    s.stop().await;
    cam.stop();
}

/// The right credentials are answered to a Basic and to a Digest challenge (a wrong password is
/// in `bad_sources_become_clear_states`), over TCP and UDP.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn basic_and_digest_credentials_are_answered() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_server(dir.path()).await;
    let basic = RtspServer::start_auth(free_port(), H264_LAUNCH, Some(Auth::Basic("u1", "pw-1")));
    let digest = RtspServer::start_auth(free_port(), H264_LAUNCH, Some(Auth::Digest("u2", "pw-2")));
    for (name, url, user, pass, transport) in [
        ("basic-cam", basic.url(), "u1", "pw-1", "tcp"),
        ("digest-cam", digest.url(), "u2", "pw-2", "udp"),
    ] {
        create_stream(&s, name).await;
        add_camera(
            &s,
            json!({ "name": name, "url": url, "stream": name, "username": user, "password": pass, "transport": transport }),
        )
        .await
        .assert_error_free();
    }
    for name in ["basic-cam", "digest-cam"] {
        // 3 received, so that the second is surely persisted (listed) by now.
        let c = wait_camera(&s, name, Duration::from_secs(30), "3 fragments", |c| {
            c["status"]["fragments"].as_u64().unwrap_or(0) >= 3
        })
        .await;
        assert_eq!(state(&c), "streaming", "{c:#}");
        assert_eq!(c["status"]["reconnects"], 0, "{c:#}");
        let out = probe_fragment(&s, dir.path(), name, 1).await;
        assert_eq!(out, "h264,320,240", "{name}: {out}");
    }
    s.stop().await;
    basic.stop();
    digest.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_sources_become_clear_states() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_server(dir.path()).await;
    for n in ["bad-1", "bad-2", "bad-3", "bad-4"] {
        create_stream(&s, n).await;
    }
    let closed = free_port();
    let auth = RtspServer::start(free_port(), H264_LAUNCH, Some(("user", "right")));
    let jpeg = RtspServer::start(free_port(), JPEG_LAUNCH, None);
    // A peer that answers garbage to every request.
    let garbage = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let garbage_port = garbage.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut c, _)) = garbage.accept().await {
            let _ = c.write_all(b"\x00\xffHELLO not rtsp at all\r\n\r\n").await;
        }
    });
    let cases = [
        (
            "closed-port",
            json!({ "name": "closed-port", "url": format!("rtsp://127.0.0.1:{closed}/cam"), "stream": "bad-1" }),
            format!("could not connect to the camera at 127.0.0.1:{closed}"),
        ),
        (
            "wrong-password",
            json!({ "name": "wrong-password", "url": auth.url(), "username": "user", "password": "wrong", "stream": "bad-2" }),
            "401 unauthorized".to_owned(),
        ),
        (
            "mjpeg",
            json!({ "name": "mjpeg", "url": jpeg.url(), "stream": "bad-3" }),
            "unsupported codec JPEG".to_owned(),
        ),
        (
            "garbage",
            json!({ "name": "garbage", "url": format!("rtsp://127.0.0.1:{garbage_port}/cam"), "stream": "bad-4" }),
            // Not an RTSP server: no different from a closed port (no port scanner).
            format!("could not connect to the camera at 127.0.0.1:{garbage_port}"),
        ),
    ];
    for (_, body, _) in &cases {
        add_camera(&s, body.clone()).await.assert_error_free();
    }
    for (name, _, want) in &cases {
        let c = wait_camera(&s, name, Duration::from_secs(20), want, |c| {
            c["status"]["lastError"]
                .as_str()
                .is_some_and(|e| e.contains(want.as_str()))
        })
        .await;
        eprintln!("{name}: {} / {}", state(&c), c["status"]["lastError"]);
        assert!(
            matches!(state(&c), "error" | "backoff" | "connecting"),
            "{c:#}"
        );
        assert!(!c.to_string().contains("wrong\""), "{c:#}");
    }
    s.request(reqwest::Method::GET, "/healthz")
        .await
        .assert_ok();
    // Stopping the server stops the failing pipelines promptly.
    let t = Instant::now();
    s.stop().await;
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "stop took {:?}",
        t.elapsed()
    );
    auth.stop();
    jpeg.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn cameras_persist_and_the_api_checks_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_server(dir.path()).await;
    add_camera(
        &s,
        json!({ "name": "c1", "url": "rtsp://127.0.0.1:1/x", "stream": "nope" }),
    )
    .await
    .assert_error(404, "ResourceNotFoundException");
    create_stream(&s, "door").await;
    for bad in [
        json!({ "name": "c 1", "url": "rtsp://h/x", "stream": "door" }),
        json!({ "name": "c1", "url": "http://h/x", "stream": "door" }),
        json!({ "name": "c1", "url": "rtsp://h/x", "stream": "door", "transport": "sctp" }),
        json!({ "name": "c1", "stream": "door" }),
        json!({ "name": "c1", "url": "rtsp://h/x", "stream": "door", "extra": 1 }),
    ] {
        add_camera(&s, bad)
            .await
            .assert_error(400, "InvalidArgumentException");
    }
    let body = json!({ "name": "c1", "url": "rtsp://127.0.0.1:1/x", "stream": "door",
                       "username": "u", "password": "pw-secret", "transport": "udp", "enabled": false });
    add_camera(&s, body.clone()).await.assert_error_free();
    add_camera(&s, body)
        .await
        .assert_error(400, "ResourceInUseException");
    let c = camera(&s, "c1").await;
    assert_eq!(state(&c), "disabled", "{c:#}");

    // The CLI talks to the same API.
    let cli = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_vidstream"))
                .args(args)
                .env("AWS_ACCESS_KEY_ID", crate::common::sign::ACCESS_KEY)
                .env("AWS_SECRET_ACCESS_KEY", crate::common::sign::SECRET_KEY)
                .output()
                .expect("vidstream runs")
        })
    };
    create_stream(&s, "door-2").await;
    let out = cli(vec![
        "cameras".into(),
        "add".into(),
        "--endpoint".into(),
        s.url.clone(),
        "--name".into(),
        "c2".into(),
        "--url".into(),
        "rtsp://127.0.0.1:1/z".into(),
        "--stream".into(),
        "door-2".into(),
        "--username".into(),
        "u".into(),
        "--password".into(),
        "cli-secret".into(),
        "--disabled".into(),
    ])
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = cli(vec![
        "cameras".into(),
        "list".into(),
        "--endpoint".into(),
        s.url.clone(),
    ])
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("c1\tdisabled") && text.contains("c2\tdisabled"),
        "{text}"
    );
    assert!(
        !text.contains("cli-secret") && !text.contains("pw-secret"),
        "{text}"
    );
    let out = cli(vec![
        "cameras".into(),
        "remove".into(),
        "--endpoint".into(),
        s.url.clone(),
        "--name".into(),
        "c2".into(),
    ])
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = cli(vec![
        "cameras".into(),
        "remove".into(),
        "--endpoint".into(),
        s.url.clone(),
        "--name".into(),
        "c2".into(),
    ])
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ResourceNotFoundException"),
        "{out:?}"
    );
    assert_eq!(c["transport"], "udp");

    // PUT changes the given fields only: a new path on the same host keeps the password.
    let r = s
        .put(
            "/v1/cameras/c1",
            json!({ "url": "rtsp://127.0.0.1:1/other" }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["hasPassword"], true);
    // The stored password is bound to its host: a URL on another host or port without a
    // password is refused (the server would hand the password to whoever answers there).
    for moved in [
        "rtsp://127.0.0.1:2/y",
        "rtsp://10.9.8.7:1/x",
        "rtsp://u@127.0.0.1:2/y",
    ] {
        s.put("/v1/cameras/c1", json!({ "url": moved }))
            .await
            .assert_error(400, "InvalidArgumentException");
    }
    assert_eq!(camera(&s, "c1").await["url"], "rtsp://127.0.0.1:1/other");
    let r = s
        .put(
            "/v1/cameras/c1",
            json!({ "url": "rtsp://127.0.0.1:2/y", "password": "pw-secret-2" }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["url"], "rtsp://127.0.0.1:2/y");
    assert_eq!(r.body["hasPassword"], true);
    s.put("/v1/cameras/nope", json!({ "enabled": false }))
        .await
        .assert_error(404, "ResourceNotFoundException");

    s.stop().await;
    let s = start_server(dir.path()).await;
    let c = camera(&s, "c1").await;
    assert_eq!(c["url"], "rtsp://127.0.0.1:2/y");
    assert_eq!(c["username"], "u");
    assert_eq!(c["hasPassword"], true);
    assert!(!c.to_string().contains("pw-secret"));
    s.request(reqwest::Method::DELETE, "/v1/cameras/c1")
        .await
        .assert_ok();
    s.request(reqwest::Method::DELETE, "/v1/cameras/c1")
        .await
        .assert_error(404, "ResourceNotFoundException");
    s.stop().await;
}

/// Measurement, not a check: CPU per pulled camera. Runs alone (other tests in the same process
/// would be counted): `cargo test --test it -- --ignored --nocapture cameras::cpu_per_camera`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement; run explicitly"]
async fn cpu_per_camera() {
    let _alone = crate::common::serial::alone();
    let dir = tempfile::tempdir().unwrap();
    let s = start_server(dir.path()).await;
    // One shared encoder: every camera pulls the same media, so extra cameras add only the
    // RTSP server's sending and vidstream's work.
    let cam = RtspServer::start(free_port(), H264_LAUNCH, None);
    let mut report = Vec::new();
    for n in [1usize, 4] {
        for i in 0..n {
            let name = format!("cpu-{i}");
            if camera_exists(&s, &name).await {
                continue;
            }
            create_stream(&s, &name).await;
            add_camera(
                &s,
                json!({ "name": name, "url": cam.url(), "stream": name }),
            )
            .await
            .assert_error_free();
        }
        for i in 0..n {
            wait_camera(
                &s,
                &format!("cpu-{i}"),
                Duration::from_secs(30),
                "streaming",
                |c| c["status"]["fragments"].as_u64().unwrap_or(0) >= 2,
            )
            .await;
        }
        let (enc, rest) = cpu_split(10).await;
        report.push((n, enc, rest));
    }
    for (n, enc, rest) in &report {
        eprintln!(
            "{n} camera(s) at 320x240 30 fps: encoder {enc:.1} %, vidstream + rtsp server I/O {rest:.1} % of one core"
        );
    }
    let c = camera(&s, "cpu-0").await;
    eprintln!("per camera: {} bytes/s", c["status"]["bytesPerSecond"]);
    let (_, _, one) = report[0];
    let (_, _, four) = report[1];
    eprintln!(
        "marginal cost per pulled camera: {:.2} % of one core",
        (four - one) / 3.0
    );
    s.stop().await;
    cam.stop();
}

/// Every file under `dir`, read raw, that holds `needle`.
fn files_holding(dir: &std::path::Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else if std::fs::read(&p)
                // A running server may remove a file between the listing and the read.
                .unwrap_or_default()
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
            {
                found.push(p);
            }
        }
    }
    found
}

/// A camera password is sealed before it reaches the index (its bytes are in no file of the
/// data directory), the runner opens it to authenticate, and a clear-text password an older
/// build stored is sealed when the server starts, and still authenticates.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passwords_are_sealed_at_rest_and_old_clear_ones_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let password = "sealed-at-rest-pw-1";
    let cam = RtspServer::start_auth(free_port(), H264_LAUNCH, Some(Auth::Basic("u1", password)));
    let s = start_server(dir.path()).await;
    create_stream(&s, "sealed").await;
    create_stream(&s, "legacy").await;
    add_camera(
        &s,
        json!({ "name": "sealed-cam", "url": cam.url(), "stream": "sealed", "username": "u1", "password": password }),
    )
    .await
    .assert_error_free();
    wait_camera(
        &s,
        "sealed-cam",
        Duration::from_secs(30),
        "a fragment",
        |c| c["status"]["fragments"].as_u64().unwrap_or(0) >= 1,
    )
    .await;
    assert_eq!(
        files_holding(dir.path(), password),
        Vec::<std::path::PathBuf>::new(),
        "the password is in the data directory"
    );
    s.stop().await;
    assert_eq!(
        files_holding(dir.path(), password),
        Vec::<std::path::PathBuf>::new()
    );

    if crate::common::backend::on_postgres() {
        // No build before sealing kept cameras on PostgreSQL; the PostgreSQL index's own test
        // seals a legacy row (src/store/index/postgres/tests.rs).
        cam.stop();
        return;
    }
    // What a build before sealing left: the password in clear text in the `password` column.
    let index = dir.path().join("index.sqlite");
    {
        let db = rusqlite::Connection::open(&index).unwrap();
        db.execute(
            "INSERT INTO cameras (name, url, username, password, stream_name, transport, enabled)
             VALUES ('legacy-cam', ?1, 'u1', ?2, 'legacy', 'tcp', 1)",
            rusqlite::params![cam.url(), password],
        )
        .unwrap();
    }
    assert!(!files_holding(dir.path(), password).is_empty());
    let s = start_server(dir.path()).await;
    let c = wait_camera(
        &s,
        "legacy-cam",
        Duration::from_secs(30),
        "a fragment",
        |c| c["status"]["fragments"].as_u64().unwrap_or(0) >= 1,
    )
    .await;
    assert_eq!(c["hasPassword"], true, "{c:#}");
    assert!(!c.to_string().contains(password), "{c:#}");
    assert_eq!(
        files_holding(dir.path(), password),
        Vec::<std::path::PathBuf>::new(),
        "sealed and scrubbed at start"
    );
    s.stop().await;
    let db = rusqlite::Connection::open(&index).unwrap();
    let (clear, sealed): (Option<String>, Option<Vec<u8>>) = db
        .query_row(
            "SELECT password, password_sealed FROM cameras WHERE name = 'legacy-cam'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(clear, None);
    assert!(sealed.is_some_and(|s| s.len() > password.len()));
    drop(db);
    assert_eq!(
        files_holding(dir.path(), password),
        Vec::<std::path::PathBuf>::new()
    );
    cam.stop();
}
