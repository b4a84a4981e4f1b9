//! Durability under kill -9: ingest several streams, kill the server at random moments, restart,
//! and check that every fragment acknowledged PERSISTED is there byte for byte, that nothing
//! torn is visible, and that `vidstream check` passes.

use crate::common::sign::SendSigned;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use vidstream::mkv::{Event, TagValue};

use crate::common;
use crate::common::free_port;
use crate::common::media::*;

const STREAMS: usize = 3;
const ROUNDS: usize = 6;

struct Server {
    child: Child,
    url: String,
}

async fn start(dir: &std::path::Path) -> Server {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vidstream"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir)
        .envs(crate::common::backend::env(dir).await)
        .env("VIDSTREAM_LOG", "warn")
        .env(
            "VIDSTREAM_AUTH__ROOT_ACCESS_KEY_ID",
            crate::common::sign::ACCESS_KEY,
        )
        .env(
            "VIDSTREAM_AUTH__ROOT_SECRET_ACCESS_KEY",
            crate::common::sign::SECRET_KEY,
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("vidstream starts");
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(format!("{url}/healthz")).await
            && r.status() == 200
        {
            return Server { child, url };
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("server did not become healthy");
}

async fn call(url: &str, path: &str, body: serde_json::Value) -> serde_json::Value {
    let r = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .body(body.to_string())
        .send_signed()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

/// Pushes fragments of round `round` slowly; returns the acks it saw before the connection died.
async fn produce(url: String, stream: String, round: usize) -> Vec<Ack> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    let writer = tokio::spawn(async move {
        let mut head = body_head(&[h264_track(1)]);
        for i in 0..40 {
            let idx = round * 1000 + i;
            let mut c = std::mem::take(&mut head);
            c.extend(cluster_at(BASE_MS + idx as u64 * 1000, idx, 8));
            if tx.send(Ok(c.into())).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    });
    let resp = reqwest::Client::new()
        .post(format!("{url}/putMedia"))
        .header("x-amzn-stream-name", stream)
        .header("x-amzn-fragment-timecode-type", "ABSOLUTE")
        .body(channel_body(rx))
        .send_signed()
        .await;
    let mut text = Vec::new();
    if let Ok(mut resp) = resp {
        while let Ok(Some(chunk)) = resp.chunk().await {
            text.extend_from_slice(&chunk);
        }
    }
    writer.abort();
    // Only complete lines count: the connection may die mid-ack.
    let s = String::from_utf8_lossy(&text);
    let complete = match s.rfind('\n') {
        Some(i) => &s[..=i],
        None => "",
    };
    parse_acks(complete)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persisted_fragments_survive_kill_9() {
    // Its servers are child processes, not `TestServer`s: count them in by hand.
    let _turn = common::serial::shared();
    let dir = tempfile::tempdir().unwrap();
    // PERSISTED fragment number → (stream, fragment index).
    let mut persisted_all: HashMap<String, (String, usize)> = HashMap::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..ROUNDS {
        let mut server = start(dir.path()).await;
        if round == 0 {
            for k in 0..STREAMS {
                call(
                    &server.url,
                    "/createStream",
                    json!({"StreamName": format!("s{k}"), "DataRetentionInHours": 24}),
                )
                .await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let producers: Vec<_> = (0..STREAMS)
            .map(|k| tokio::spawn(produce(server.url.clone(), format!("s{k}"), round)))
            .collect();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let wait = 150 + seed % 450;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        for (k, p) in producers.into_iter().enumerate() {
            let acks = p.await.unwrap();
            for a in acks.iter().filter(|a| a.event == "PERSISTED") {
                let tc = a.timecode.unwrap() as u64;
                let idx = ((tc - BASE_MS) / 1000) as usize;
                persisted_all.insert(a.number.clone().unwrap(), (format!("s{k}"), idx));
            }
        }
    }
    assert!(
        persisted_all.len() > 10,
        "the test persisted too little: {}",
        persisted_all.len()
    );

    // Restart once more and verify every acknowledged fragment, byte for byte.
    let mut server = start(dir.path()).await;
    let mut by_stream: HashMap<String, Vec<(String, usize)>> = HashMap::new();
    for (n, (s, idx)) in &persisted_all {
        by_stream
            .entry(s.clone())
            .or_default()
            .push((n.clone(), *idx));
    }
    for (stream, frags) in by_stream {
        let listed = call(&server.url, "/listFragments", json!({"StreamName": stream})).await;
        let listed: Vec<String> = listed["Fragments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["FragmentNumber"].as_str().unwrap().to_owned())
            .collect();
        for (n, _) in &frags {
            assert!(
                listed.contains(n),
                "PERSISTED fragment {n} of {stream} is missing"
            );
        }
        // Everything listed (acknowledged or not) must be readable whole: nothing torn.
        let bytes = media_for_fragments(&server.url, &stream, &listed).await;
        let mut current: Option<String> = None;
        let mut frames: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
        for e in read_all(&bytes) {
            match e {
                Event::Tags(tags) => {
                    for t in tags {
                        if t.name == "AWS_KINESISVIDEO_FRAGMENT_NUMBER"
                            && let TagValue::String(v) = t.value
                        {
                            current = Some(v);
                        }
                    }
                }
                Event::Frame(f) => frames
                    .entry(current.clone().unwrap())
                    .or_default()
                    .push(f.data.to_vec()),
                _ => {}
            }
        }
        assert_eq!(
            frames.len(),
            listed.len(),
            "every listed fragment came back"
        );
        for (n, idx) in frags {
            let got = &frames[&n];
            assert_eq!(got.len(), 8, "fragment {n}");
            for (j, data) in got.iter().enumerate() {
                assert_eq!(data, &payload(idx, j), "fragment {n} frame {j}");
            }
        }
    }
    // A graceful stop, then the offline check.
    let pid = server.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = server.child.wait().unwrap();
    assert!(status.success(), "graceful stop: {status:?}");
    let out = Command::new(env!("CARGO_BIN_EXE_vidstream"))
        .args(["check", "--data-dir"])
        .arg(dir.path())
        .envs(crate::common::backend::env(dir.path()).await)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "vidstream check failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains(": ok"));
}

/// `vidstream check` passes on a healthy directory and names each kind of damage.
#[tokio::test]
async fn check_reports_damage() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::TestServer::start(dir.path()).await;
    s.create_active(json!({"StreamName": "cam", "DataRetentionInHours": 24}))
        .await;
    let (_, acks) = put_media(&s.url, "cam", body(3, 5), 4096).await;
    assert_eq!(persisted(&acks).len(), 3);
    s.stop().await;
    let report = crate::common::backend::check(dir.path()).await.unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
    assert_eq!((report.streams, report.fragments), (1, 3));

    let stream_dir = std::fs::read_dir(dir.path().join("media"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let seg = std::fs::read_dir(&stream_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let original = std::fs::read(&seg).unwrap();

    // A flipped byte in a frame payload.
    let mut flipped = original.clone();
    let at = flipped.windows(8).position(|w| w == b"fragment").unwrap() + 3;
    flipped[at] ^= 0x20;
    std::fs::write(&seg, &flipped).unwrap();
    let report = crate::common::backend::check(dir.path()).await.unwrap();
    assert!(
        report.problems.iter().any(|p| p.contains("checksum")),
        "{report:?}"
    );

    // Garbage past the last fragment: a leftover of a write that failed or was cut short,
    // which start-up recovery truncates; not a problem.
    let mut longer = original.clone();
    longer.extend_from_slice(b"garbage");
    std::fs::write(&seg, &longer).unwrap();
    let report = crate::common::backend::check(dir.path()).await.unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
    assert!(
        report.leftovers.iter().any(|p| p.contains("7 bytes past")),
        "{report:?}"
    );

    // A torn fragment: the file is cut short.
    std::fs::write(&seg, &original[..original.len() - 10]).unwrap();
    let report = crate::common::backend::check(dir.path()).await.unwrap();
    assert!(
        report.problems.iter().any(|p| p.contains("torn")),
        "{report:?}"
    );

    // An orphan segment and an orphan stream directory: leftovers recovery removes.
    std::fs::write(&seg, &original).unwrap();
    std::fs::write(stream_dir.join("00000000000000000001.seg"), b"x").unwrap();
    std::fs::create_dir(dir.path().join("media/999")).unwrap();
    let report = crate::common::backend::check(dir.path()).await.unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
    assert_eq!(report.leftovers.len(), 2, "{report:?}");

    // And the next start does remove them: check is then clean of leftovers too.
    let s = common::TestServer::start(dir.path()).await;
    s.stop().await;
    let report = crate::common::backend::check(dir.path()).await.unwrap();
    assert_eq!(
        (report.problems.len(), report.leftovers.len()),
        (0, 0),
        "{report:?}"
    );
}
