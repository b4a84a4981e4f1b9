//! The egress guard end to end (issue 14, SSRF): the server connects only where the admin
//! allowed, whoever calls the API. Cameras on a cloud metadata address or outside
//! `[cameras] allowed_networks` are refused when added, and a stored camera the policy no longer
//! allows is refused at connect; a webhook to loopback is refused by default and works once the
//! test allows `127.0.0.0/8` (never a switch that turns the guard off); an `s3://` bucket must be
//! listed; and the camera error an API caller sees is the same for a closed port, a silent one
//! and one that answers something other than RTSP (no port scanner).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use vidstream::config::Config;
use vidstream::egress::Network;

use crate::common::camera::{add_camera, camera, create_stream, state, wait_camera};
use crate::common::media::put_fixture_paced;
use crate::common::{Reply, TestServer, free_port};

fn nets(list: &[&str]) -> Vec<Network> {
    list.iter().map(|n| n.parse().unwrap()).collect()
}

fn message(r: &Reply) -> String {
    r.body["message"].as_str().unwrap_or_default().to_owned()
}

fn fast_cameras(c: &mut Config) {
    c.cameras.backoff_initial_ms = 200;
    c.cameras.backoff_max_ms = 1000;
    c.cameras.stall_timeout_ms = 1500;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cameras_outside_the_policy_are_refused_when_added() {
    let dir = tempfile::tempdir().unwrap();
    // Even a policy that allows all of link-local keeps the metadata services out.
    let s = TestServer::start_with(dir.path(), |c| {
        fast_cameras(c);
        c.cameras.allowed_networks = nets(&["192.168.0.0/16", "169.254.0.0/16"]);
    })
    .await;
    create_stream(&s, "door").await;
    let cases = [
        ("rtsp://169.254.169.254/latest", "never allowed"),
        ("rtsp://[fd00:ec2::254]:554/x", "never allowed"),
        ("rtsp://100.100.100.200/x", "never allowed"),
        ("rtsp://[::ffff:169.254.169.254]/x", "never allowed"),
        ("rtsp://0.0.0.0:554/x", "never allowed"),
        ("rtsp://metadata.google.internal/x", "never allowed"),
        ("rtsp://10.1.2.3:554/x", "[cameras] allowed_networks"),
        ("rtsp://127.0.0.1:554/x", "[cameras] allowed_networks"),
        // Names are judged by what they resolve to: loopback here.
        ("rtsp://localhost:554/x", "[cameras] allowed_hosts"),
        ("rtsp://2130706433:554/x", "[cameras] allowed_networks"),
    ];
    for (i, (url, want)) in cases.iter().enumerate() {
        let r = add_camera(
            &s,
            json!({ "name": format!("c{i}"), "url": url, "stream": "door" }),
        )
        .await;
        r.assert_error(400, "InvalidArgumentException");
        assert!(message(&r).contains(want), "{url}: {r:?}");
    }
    // Nothing was stored.
    let list = s.request(reqwest::Method::GET, "/v1/cameras").await;
    assert_eq!(list.assert_ok()["cameras"], json!([]));

    // An allowed camera cannot be moved to a refused address; it can be switched off.
    add_camera(
        &s,
        json!({ "name": "ok", "url": "rtsp://192.168.200.200:554/x", "stream": "door" }),
    )
    .await
    .assert_error_free();
    s.put(
        "/v1/cameras/ok",
        json!({ "url": "rtsp://169.254.169.254/x" }),
    )
    .await
    .assert_error(400, "InvalidArgumentException");
    s.put("/v1/cameras/ok", json!({ "enabled": false }))
        .await
        .assert_error_free();
    assert_eq!(
        camera(&s, "ok").await["url"],
        "rtsp://192.168.200.200:554/x"
    );
    s.stop().await;
}

/// The check that counts is at connect: a camera stored while loopback was allowed is refused
/// after the admin narrows the policy, with the key to change in its status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_camera_the_policy_no_longer_allows_is_refused_at_connect() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(dir.path(), |c| {
        fast_cameras(c);
        c.cameras.allowed_networks = nets(&["127.0.0.0/8"]);
    })
    .await;
    create_stream(&s, "yard").await;
    let url = format!("rtsp://127.0.0.1:{}/cam", free_port());
    add_camera(
        &s,
        json!({ "name": "yard-cam", "url": url, "stream": "yard" }),
    )
    .await
    .assert_error_free();
    s.stop().await;

    let s = TestServer::start_with(dir.path(), |c| {
        fast_cameras(c);
        c.cameras.allowed_networks = nets(&["192.168.0.0/16"]);
    })
    .await;
    let c = wait_camera(&s, "yard-cam", Duration::from_secs(10), "refused", |c| {
        c["status"]["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("[cameras] allowed_networks"))
    })
    .await;
    assert_eq!(state(&c), "error", "needs a person: {c:#}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_silent_and_non_rtsp_ports_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(dir.path(), |c| {
        fast_cameras(c);
        c.cameras.allowed_networks = nets(&["127.0.0.0/8"]);
    })
    .await;
    let closed = free_port();
    // Accepts and never says a word.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((c, _)) = silent.accept().await {
            held.push(c);
        }
    });
    // Another service: answers, but not RTSP.
    let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_port = other.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut c, _)) = other.accept().await {
            let _ = c.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").await;
        }
    });
    let ports = [
        ("closed", closed),
        ("silent", silent_port),
        ("other", other_port),
    ];
    for (name, port) in ports {
        create_stream(&s, name).await;
        add_camera(
            &s,
            json!({ "name": name, "url": format!("rtsp://127.0.0.1:{port}/cam"), "stream": name }),
        )
        .await
        .assert_error_free();
    }
    let mut seen: Vec<(String, String)> = Vec::new();
    for (name, port) in ports {
        let c = wait_camera(&s, name, Duration::from_secs(15), "an error", |c| {
            c["status"]["lastError"].is_string()
        })
        .await;
        let error = c["status"]["lastError"].as_str().unwrap();
        assert_eq!(
            error,
            format!("could not connect to the camera at 127.0.0.1:{port}"),
            "{name}: {c:#}"
        );
        // Backing off, or already trying again (the error stays until an attempt succeeds).
        assert!(
            matches!(state(&c), "backoff" | "connecting"),
            "{name}: {c:#}"
        );
        seen.push((name.to_owned(), error.replace(&port.to_string(), "PORT")));
    }
    assert!(seen.windows(2).all(|w| w[0].1 == w[1].1), "{seen:?}");
    s.stop().await;
}

const H264: &str = "gst_h264_320x240_gop30_5s.mkv";

fn hook_config(uri: &str) -> Value {
    json!({
        "Status": "ENABLED",
        "ImageSelectorType": "PRODUCER_TIMESTAMP",
        "DestinationConfig": {"Uri": uri, "DestinationRegion": "us-east-1"},
        "SamplingInterval": 1000,
        "Format": "JPEG",
    })
}

async fn set_hook(s: &TestServer, stream: &str, uri: &str) -> Reply {
    s.call(
        "/updateImageGenerationConfiguration",
        json!({"StreamName": stream, "ImageGenerationConfiguration": hook_config(uri)}),
    )
    .await
}

/// A webhook receiver on loopback counting POSTs.
async fn receiver() -> (u16, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&hits);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let h = Arc::clone(&h);
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_to_loopback_need_the_admin_and_metadata_never_works() {
    let (port, hits) = receiver().await;
    let hook = format!("http://127.0.0.1:{port}/hook");
    let dir = tempfile::tempdir().unwrap();

    // Defaults: webhooks go to the public internet only.
    let s = TestServer::start(&dir.path().join("default")).await;
    s.create_active(json!({"StreamName": "web", "DataRetentionInHours": 1}))
        .await;
    for uri in [
        hook.clone(),
        format!("http://localhost:{port}/hook"),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://192.168.1.1/hook".to_owned(),
    ] {
        let r = set_hook(&s, "web", &uri).await;
        r.assert_error(400, "InvalidArgumentException");
        let m = message(&r);
        assert!(
            m.contains("[hook] webhook_allowed_networks") || m.contains("never allowed"),
            "{uri}: {m}"
        );
    }
    s.stop().await;

    // The admin allows loopback (and, to no avail, link-local).
    let s = TestServer::start_with(&dir.path().join("allowed"), |c| {
        c.hook.webhook_allowed_networks = nets(&["public", "127.0.0.0/8", "169.254.0.0/16"]);
    })
    .await;
    s.create_active(json!({"StreamName": "web", "DataRetentionInHours": 1}))
        .await;
    let r = set_hook(&s, "web", "http://169.254.169.254/latest/meta-data/").await;
    r.assert_error(400, "InvalidArgumentException");
    assert!(message(&r).contains("never allowed"), "{r:?}");
    set_hook(&s, "web", &hook).await.assert_ok();
    assert_eq!(
        put_fixture_paced(&s.url, "web", H264, 1_700_000_000_000).await,
        5
    );
    for _ in 0..300 {
        if hits.load(Ordering::SeqCst) >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(hits.load(Ordering::SeqCst), 5, "one picture per second");
    s.stop().await;
}

#[tokio::test]
async fn s3_buckets_must_be_listed() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&dir.path().join("default")).await;
    s.create_active(json!({"StreamName": "shots", "DataRetentionInHours": 1}))
        .await;
    let r = set_hook(&s, "shots", "s3://cam-images/x").await;
    r.assert_error(400, "InvalidArgumentException");
    assert!(message(&r).contains("[hook] allowed_s3_buckets"), "{r:?}");
    s.stop().await;

    let s = TestServer::start_with(&dir.path().join("listed"), |c| {
        c.hook.allowed_s3_buckets = vec!["cam-images".into()];
    })
    .await;
    s.create_active(json!({"StreamName": "shots", "DataRetentionInHours": 1}))
        .await;
    let r = set_hook(&s, "shots", "s3://someone-elses-bucket/x").await;
    r.assert_error(400, "InvalidArgumentException");
    assert!(message(&r).contains("[hook] allowed_s3_buckets"), "{r:?}");
    set_hook(&s, "shots", "s3://cam-images/x").await.assert_ok();
    s.stop().await;
}
