//! The web UI end to end: real headless Chromium (tests/browser/ui.mjs, playwright-core)
//! against a real server with really ingested video whose frames carry their index.
//!
//! The walk logs in through the login page first (a wrong password shows an error), as an admin
//! user; at the end it logs out and logs in as a viewer, who sees the streams and live video but
//! none of the admin controls (as `/v1/whoami` says). The users are made through `/v1/users`
//! (unsigned on `main`, which has no gate yet; the lead signs these calls with `send_signed()`).
//!
//! The stream `yard` has 12 s of history, a 13 s gap where the producer paused, then live
//! media sent in real time for the rest of the test. The walk checks the stream list, that the
//! live view plays, that the timeline shows the gap, that seeking (click, "Go to", keyboard)
//! shows the frame of the asked time, that clip export downloads an MP4 ffprobe reads with the
//! selected duration starting at the selected frame, the frames preview, and the phone layout.
//! Screenshots of every view at 1280×800 and 390×844 are kept under
//! `$CARGO_TARGET_TMPDIR/web-ui/` as test artifacts.

use crate::common::sign::SendSigned;
use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use crate::common::TestServer;
use crate::common::frames::decoded_indexes;
use crate::common::media::{framecode_index_at, now_ms, realtime_producer};
use crate::common::probe::ffprobe;

const HISTORY_END_MS: i64 = 12_000;
const ADMIN_PASSWORD: &str = "admin password for the walk";
const VIEWER_PASSWORD: &str = "viewer password for the walk";
const LIVE_FROM_MS: i64 = 25_000;

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-ui");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("artifact dir");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn web_ui_lists_plays_seeks_exports_and_fits_a_phone() {
    let dir = tempfile::tempdir().unwrap();
    let web = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web");
    let s = TestServer::start_with(dir.path(), |c| c.web_dir = Some(web)).await;
    for (name, hours) in [("yard", 24), ("porch", 1)] {
        s.create_active(json!({"StreamName": name, "DataRetentionInHours": hours}))
            .await;
    }
    // A camera that cannot connect: the cameras view shows its state and error.
    let cam = reqwest::Client::new()
        .post(format!("{}/v1/cameras", s.url))
        .json(&json!({"name": "porch-cam", "url": "rtsp://127.0.0.1:9/none", "stream": "porch"}))
        .send_signed()
        .await
        .unwrap();
    assert_eq!(cam.status(), 201);
    for (name, password, policy) in [
        ("walker", ADMIN_PASSWORD, "admin"),
        ("watcher", VIEWER_PASSWORD, "viewer"),
    ] {
        let r = reqwest::Client::new()
            .post(format!("{}/v1/users", s.url))
            .json(&json!({"name": name, "password": password, "policy": policy}))
            .send_signed()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{:?}", r.text().await);
    }

    // History [t0, t0+12 s) at once, then live from t0+25 s (now) in real time.
    let t0 = now_ms() - LIVE_FROM_MS;
    realtime_producer(s.url.clone(), "yard".into(), t0, 0, HISTORY_END_MS).await;
    let live = tokio::spawn(realtime_producer(
        s.url.clone(),
        "yard".into(),
        t0,
        LIVE_FROM_MS,
        LIVE_FROM_MS + 300_000,
    ));
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    // An ML consumer that checkpointed the history's last fragment: the frames view shows its lag.
    let summary = s.request(reqwest::Method::GET, "/v1/streams/yard").await;
    let history_last = &summary.assert_ok()["lastFragment"];
    let ckpt = reqwest::Client::new()
        .post(format!("{}/v1/frames/consumers/checkpoint", s.url))
        .json(&json!({
            "StreamName": "yard",
            "Consumer": "detector",
            "FragmentNumber": history_last["fragmentNumber"],
            "ProducerTimestamp": history_last["producerMs"],
        }))
        .send_signed()
        .await
        .unwrap();
    assert_eq!(ckpt.status(), 200, "{:?}", ckpt.text().await);

    let out = artifacts();
    let goto_ms = t0 + 4_321;
    let clip = (t0 + 1_000, t0 + 7_000);
    let (base, outdir) = (s.url.clone(), out.clone());
    let run = tokio::task::spawn_blocking(move || {
        let _one = crate::common::browser::one_browser();
        Command::new("node")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/ui.mjs"))
            .args(["--base", &base, "--stream", "yard", "--out"])
            .arg(&outdir)
            .args(["--goto-ms", &goto_ms.to_string()])
            .args(["--clip", &format!("{},{}", clip.0, clip.1)])
            .args(["--user", "walker", "--password", ADMIN_PASSWORD])
            .args(["--viewer", "watcher", "--viewer-password", VIEWER_PASSWORD])
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    live.abort();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "ui.mjs printed no report ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&run.stderr)
        )
    });
    assert_eq!(
        report["ok"],
        true,
        "UI walk failed: {report:#}\nstderr: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let d = &report["desktop"];

    // The login page: a wrong password shows an error as an alert, focus back on the password;
    // the right one opens the app with the user in the header.
    let login = &report["login"];
    assert_eq!(login["focused"], "login-user", "{login}");
    assert_eq!(login["error"]["role"], "alert", "{login}");
    assert_eq!(
        login["error"]["text"], "Wrong user name or password.",
        "{login}"
    );
    assert_eq!(login["focusedAfterError"], "login-password", "{login}");
    assert_eq!(login["headerUser"], "walker", "{login}");

    // Stream list: both streams, yard live, porch offline.
    let states: Vec<(String, String)> = d["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().into(),
                r["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        states.contains(&("yard".into(), "live".into())),
        "{states:?}"
    );
    assert!(
        states.contains(&("porch".into(), "offline".into())),
        "{states:?}"
    );

    // Live view plays and shows a latency.
    let lv = &d["live"];
    assert!(lv["advancedSecs"].as_f64().unwrap() >= 3.0, "live: {lv}");
    let latency = lv["latencyMs"].as_f64().expect("latency shown");
    assert!(
        (0.0..10_000.0).contains(&latency),
        "live latency {latency} ms"
    );
    assert!(lv["latencyText"].as_str().unwrap().starts_with("latency "));

    // Timeline coverage: history, the gap, live.
    let spans = d["coverage"]["spans"].as_array().unwrap();
    assert!(
        d["coverage"]["drawnSpans"].as_u64().unwrap() >= 2,
        "{:#}",
        d["coverage"]
    );
    let rel = |v: &Value| v.as_i64().unwrap() - t0;
    assert!(
        spans
            .iter()
            .any(|s| (rel(&s["start"]) <= 0) && (11_900..=12_100).contains(&rel(&s["end"]))),
        "a span [t0, t0+12 s): {spans:?}"
    );
    assert!(
        spans
            .iter()
            .any(|s| (24_900..=25_100).contains(&rel(&s["start"]))),
        "a span from t0+25 s: {spans:?}"
    );
    assert!(
        !spans
            .iter()
            .any(|s| rel(&s["start"]) <= 18_000 && rel(&s["end"]) > 18_000),
        "the gap is not covered: {spans:?}"
    );
    assert_eq!(d["thumbnail"]["width"], 160, "{}", d["thumbnail"]);

    // Seeks show the frame of the time the UI says it shows, and the asked time.
    for key in ["opening", "clickSeek", "gotoSeek", "keyboardSeek"] {
        let k = &d[key];
        let pos = k["positionMs"]
            .as_i64()
            .unwrap_or_else(|| panic!("{key}: {k}"));
        assert_eq!(
            k["frameIndex"].as_u64().map(|i| i as u32),
            Some(framecode_index_at(pos - t0)),
            "{key}: frame on screen vs position {} ms: {k}",
            pos - t0
        );
    }
    let click = &d["clickSeek"];
    assert!(
        (click["positionMs"].as_i64().unwrap() - goto_ms).abs() < 1_000,
        "click seek lands near the clicked time: {click}"
    );
    let goto = &d["gotoSeek"];
    assert!(
        (goto["positionMs"].as_i64().unwrap() - goto["askedMs"].as_i64().unwrap()).abs() <= 2,
        "go-to lands on the asked ms: {goto}"
    );
    assert_eq!(
        goto["frameIndex"].as_u64().map(|i| i as u32),
        Some(framecode_index_at(goto["askedMs"].as_i64().unwrap() - t0))
    );
    let kb = d["keyboardSeek"]["positionMs"].as_i64().unwrap();
    assert!(
        (kb - (goto["positionMs"].as_i64().unwrap() - 1_000)).abs() <= 2,
        "Shift+← then Enter seeks 1 s back: {}",
        d["keyboardSeek"]
    );

    // Clip export: an MP4 of the selected range, starting at the selected frame.
    let sel: Vec<i64> = d["selection"]
        .as_array()
        .expect("a selection")
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert!(
        (sel[0] - clip.0).abs() < 1_000 && (sel[1] - clip.1).abs() < 1_000,
        "{sel:?}"
    );
    let path = PathBuf::from(d["clipPath"].as_str().unwrap());
    let probe = ffprobe(&["-show_format", "-show_streams"], &path);
    assert_eq!(probe["streams"][0]["codec_name"], "h264", "{probe:#}");
    let secs: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let want = (sel[1] - sel[0]) as f64 / 1000.0;
    assert!(
        (secs - want).abs() <= 0.1,
        "clip {secs} s, selection {want} s"
    );
    assert_eq!(
        decoded_indexes(&path, 1),
        vec![framecode_index_at(sel[0] - t0)],
        "the clip starts at the selected frame"
    );
    assert!(d["clipName"].as_str().unwrap().ends_with(".mp4"));

    assert!(
        d["frames"].as_u64().unwrap() >= 3,
        "frames preview: {}",
        d["frames"]
    );

    // The viewer: streams and live video, no admin controls, as whoami says.
    let v = &report["viewer"];
    assert_eq!(v["login"]["headerUser"], "watcher", "{v}");
    assert!(
        v["streams"].as_array().unwrap().contains(&json!("yard")),
        "{v}"
    );
    assert!(v["liveAdvancedSecs"].as_f64().unwrap() >= 1.0, "{v}");
    for control in [
        "createStreamForms",
        "deleteButtons",
        "addCameraForms",
        "removeCameraButtons",
    ] {
        assert_eq!(v[control], 0, "the viewer sees {control}: {v}");
    }
    assert_eq!(v["exportClipButtons"], 1, "a viewer may export clips: {v}");
    assert_eq!(v["cameraRows"], json!(["porch-cam"]), "{v}");
    let allowed = &v["whoami"]["allowed"];
    for action in [
        "kinesisvideo:CreateStream",
        "kinesisvideo:DeleteStream",
        "vidstream:PutCamera",
        "vidstream:DeleteCamera",
    ] {
        assert_eq!(allowed[action], false, "whoami: {action}: {allowed}");
    }
    assert_eq!(allowed["kinesisvideo:GetHLSStreamingSessionURL"], true);
    assert_eq!(v["loggedOut"], 401, "logout ended the session: {v}");
    // The admin saw the controls the viewer does not (the walk used them).
    assert!(
        d["deleted"].as_bool().unwrap_or(false) && d["cameraRemoved"].as_bool().unwrap_or(false)
    );

    // Phone: no view scrolls sideways.
    for (view, px) in report["phone"]["overflowPx"].as_object().unwrap() {
        assert!(
            px.as_i64().unwrap() <= 1,
            "phone {view} overflows by {px} px"
        );
    }
    assert!(
        report["phone"]["loginOverflowPx"].as_i64().unwrap() <= 1,
        "the phone login page overflows: {}",
        report["phone"]
    );
    // Every view was captured at both sizes.
    for prefix in ["desktop", "phone"] {
        for view in ["streams", "live", "archive", "frames", "cameras", "login"] {
            let f = out.join(format!("{prefix}-{view}.png"));
            let len = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
            assert!(len > 5_000, "{} missing or empty", f.display());
        }
    }
    let exceptions: Vec<&Value> = report["pageErrors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            let e = e.as_str().unwrap_or("");
            // Console errors are the page's own business, except a CSP violation: the UI must
            // work under its own content security policy.
            !e.starts_with("console:") || e.contains("Content Security Policy")
        })
        .collect();
    assert!(exceptions.is_empty(), "page exceptions: {exceptions:?}");
    s.stop().await;
}

#[tokio::test]
async fn stream_summary_and_coverage_api_validate_input() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(dir.path(), |c| c.web_dir = Some(PathBuf::new())).await;
    s.create_active(json!({"StreamName": "empty", "DataRetentionInHours": 1}))
        .await;
    let srv = &s;
    let get = |path: String| async move { srv.request(reqwest::Method::GET, &path).await };

    let one = get("/v1/streams/empty".to_owned()).await;
    let body = one.assert_ok();
    assert_eq!(body["streamName"], "empty");
    assert_eq!(body["live"], false);
    assert!(body.get("lastFragment".to_owned()).is_none(), "{body}");
    assert_eq!(body["storageBytes"], 0);
    let all = get("/v1/streams".to_owned()).await;
    assert_eq!(all.assert_ok()["streams"][0]["streamName"], "empty");

    let cov = get("/v1/streams/empty/coverage?start=0&end=1000&minGapMs=10".to_owned()).await;
    assert_eq!(cov.assert_ok()["spans"], json!([]));

    get("/v1/streams/nope".to_owned())
        .await
        .assert_error(404, "ResourceNotFoundException");
    get("/v1/streams/nope/coverage?start=0&end=1".to_owned())
        .await
        .assert_error(404, "ResourceNotFoundException");
    for bad in [
        "start=0",
        "start=x&end=1",
        "start=5&end=1",
        "start=0&end=1&minGapMs=-1",
        "start=0&end=1&timestamp=wall",
        "start=0&end=1&zoom=2",
    ] {
        get(format!("/v1/streams/empty/coverage?{bad}"))
            .await
            .assert_error(400, "InvalidArgumentException");
    }
    // With the UI turned off, `/` says so in the KVS error shape.
    get("/".to_owned())
        .await
        .assert_error(404, "ResourceNotFoundException");
    s.stop().await;
}

/// The UI's files carry a content security policy (own scripts and API only, no framing) and
/// the other browser security headers.
#[tokio::test]
async fn ui_files_carry_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let web = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/web"));
    let s = TestServer::start_with(dir.path(), |c| c.web_dir = Some(web)).await;
    for path in ["/ui/", "/ui/js/app.js"] {
        let r = reqwest::get(format!("{}{path}", s.url)).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        for part in [
            "default-src 'self'",
            "script-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
    }
    s.stop().await;
}
