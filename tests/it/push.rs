//! `vidstream push` end to end: the built binary against a real in-process server, checked with
//! an independent demuxer (ffprobe), through a proxy that cuts the upload once, plus SigV4
//! against botocore.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vidstream::auth::sigv4::{self, Credentials, Signer};

use crate::common;
use crate::common::TestServer;
use crate::common::probe::{ffprobe, fixture, normalized, packets, split_documents};

const FIXTURE: &str = "gst_h264_320x240_gop30_5s.mkv";

async fn push(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_vidstream"))
            .arg("push")
            .args(&args)
            .env("VIDSTREAM_LOG", "info")
            .env("AWS_ACCESS_KEY_ID", crate::common::sign::ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", crate::common::sign::SECRET_KEY)
            .env_remove("AWS_SESSION_TOKEN")
            .output()
            .expect("the vidstream binary runs")
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "push failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every fragment of `stream`: (number, producer ms), in fragment order.
async fn list(s: &TestServer, stream: &str) -> Vec<(String, i64)> {
    let r = s
        .call("/listFragments", json!({ "StreamName": stream }))
        .await;
    let mut v: Vec<(String, i64)> = r.assert_ok()["Fragments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["FragmentNumber"].as_str().unwrap().to_owned(),
                (f["ProducerTimestamp"].as_f64().unwrap() * 1000.0).round() as i64,
            )
        })
        .collect();
    v.sort();
    v
}

/// The fragments' documents, written to `dir` as files.
async fn fetch_docs(s: &TestServer, stream: &str, numbers: &[String], dir: &Path) -> Vec<PathBuf> {
    let bytes = common::media::media_for_fragments_by(s.client(), &s.url, stream, numbers).await;
    split_documents(&bytes)
        .iter()
        .enumerate()
        .map(|(k, d)| {
            let p = dir.join(format!("{stream}-{k}.mkv"));
            std::fs::write(&p, d).unwrap();
            p
        })
        .collect()
}

/// Asserts the stored fragments hold exactly the fixture's packets.
async fn assert_frames_match_fixture(s: &TestServer, stream: &str, dir: &Path) {
    let frags = list(s, stream).await;
    let numbers: Vec<String> = frags.iter().map(|f| f.0.clone()).collect();
    let mut got = Vec::new();
    for doc in fetch_docs(s, stream, &numbers, dir).await {
        got.extend(packets(&doc));
    }
    let want = normalized(packets(&fixture(FIXTURE)));
    let got = normalized(got);
    assert!(!want.is_empty());
    assert_eq!(got.len(), want.len(), "packet count");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
}

/// The fixture's cluster timecodes relative to the first.
fn fixture_cluster_offsets() -> Vec<i64> {
    let mut r = vidstream::mkv::Reader::new(vidstream::mkv::Limits::default());
    r.push(&std::fs::read(fixture(FIXTURE)).unwrap());
    let mut tcs = Vec::new();
    while let Some(ev) = r.pull().unwrap() {
        if let vidstream::mkv::Event::ClusterStart { timecode, .. } = ev {
            tcs.push(timecode as i64);
        }
    }
    tcs.iter().map(|t| t - tcs[0]).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_file_fast_stores_the_files_frames() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let out = push(args(&[
        "--endpoint",
        &s.url,
        "--stream",
        "file1",
        "--create",
        "--fast",
        fixture(FIXTURE).to_str().unwrap(),
    ]))
    .await;
    assert_success(&out);
    let frags = list(&s, "file1").await;
    assert_eq!(frags.len(), 5, "{frags:?}");
    let offsets: Vec<i64> = frags.iter().map(|f| f.1 - frags[0].1).collect();
    assert_eq!(offsets, fixture_cluster_offsets());
    assert_frames_match_fixture(&s, "file1", dir.path()).await;
    s.stop().await;
}

/// Asserts a document is 320x240 H.264 per ffprobe; returns how many frames decode.
fn h264_320x240_frames(doc: &Path) -> u32 {
    let v = ffprobe(&["-show_streams", "-count_frames"], doc);
    let st = &v["streams"][0];
    assert_eq!(st["codec_name"], "h264", "{v}");
    assert_eq!(
        (st["width"].as_i64(), st["height"].as_i64()),
        (Some(320), Some(240))
    );
    st["nb_read_frames"].as_str().unwrap().parse().unwrap()
}

/// An `rtsp://` SOURCE: `push` pulls a real RTSP server on loopback and its H.264 arrives
/// without re-encoding (the camera's 320x240 stream, fragments one GOP long).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_rtsp_source_stores_the_cameras_h264() {
    common::camera::require_elements();
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let cam =
        common::camera::RtspServer::start(common::free_port(), common::camera::H264_LAUNCH, None);
    let mut child = Command::new(env!("CARGO_BIN_EXE_vidstream"))
        .args([
            "push",
            "--endpoint",
            &s.url,
            "--stream",
            "rtsp1",
            "--create",
        ])
        .arg(cam.url())
        .env("VIDSTREAM_LOG", "info")
        .env("AWS_ACCESS_KEY_ID", crate::common::sign::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", crate::common::sign::SECRET_KEY)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the vidstream binary runs");
    // A live source never ends: wait for a few fragments, then stop the push.
    let mut frags = Vec::new();
    for _ in 0..150 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if s.call("/describeStream", json!({"StreamName": "rtsp1"}))
            .await
            .status
            == 200
        {
            frags = list(&s, "rtsp1").await;
            if frags.len() >= 3 {
                break;
            }
        }
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert!(
        frags.len() >= 3,
        "fragments from the RTSP source: {frags:?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let numbers: Vec<String> = frags.iter().take(3).map(|f| f.0.clone()).collect();
    let docs = fetch_docs(&s, "rtsp1", &numbers, dir.path()).await;
    for doc in &docs {
        let n = h264_320x240_frames(doc);
        assert!(
            (20..=40).contains(&n),
            "one GOP (30 frames) per fragment: {n}"
        );
    }
    cam.stop();
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_test_pattern_stores_h264_of_the_asked_size() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let out = push(args(&[
        "--endpoint",
        &s.url,
        "--stream",
        "pattern",
        "--create",
        "testsrc://?width=320&height=240&fps=30&gop=30&bitrate=400&duration=3",
    ]))
    .await;
    assert_success(&out);
    let frags = list(&s, "pattern").await;
    assert_eq!(frags.len(), 3, "{frags:?}");
    let numbers: Vec<String> = frags.iter().map(|f| f.0.clone()).collect();
    let docs = fetch_docs(&s, "pattern", &numbers, dir.path()).await;
    let mut frames = 0;
    for doc in &docs {
        frames += h264_320x240_frames(doc);
    }
    assert_eq!(frames, 90, "3 s at 30 fps, every frame decodes");
    s.stop().await;
}

/// Forwards to `upstream`. The first putMedia connection loses every ack (the server's bytes
/// after the response head are swallowed) and is cut after `cut_after` request bytes: the
/// fragments sent before the cut are stored, but the client cannot know it from acks.
async fn cutting_proxy(
    listener: TcpListener,
    upstream: SocketAddr,
    cut_after: usize,
    cut: Arc<AtomicBool>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            return;
        };
        let cut = Arc::clone(&cut);
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            let mut buf = vec![0u8; 8192];
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let armed = buf.starts_with(b"POST /putMedia") && !cut.swap(true, Ordering::SeqCst);
            let back = tokio::spawn(async move {
                if !armed {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                    let _ = cw.shutdown().await;
                    return;
                }
                // Forward the response head only; the acks are lost.
                let mut head = Vec::new();
                let mut b = [0u8; 4096];
                while let Ok(n) = sr.read(&mut b).await {
                    if n == 0 {
                        return;
                    }
                    if !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        head.extend_from_slice(&b[..n]);
                        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                            let _ = cw.write_all(&head[..end + 4]).await;
                        }
                    }
                }
            });
            let mut sent = 0usize;
            let mut n = n;
            loop {
                if armed && sent + n > cut_after {
                    let _ = sw.write_all(&buf[..cut_after - sent]).await;
                    // Drop both directions at once, like a broken network.
                    back.abort();
                    return;
                }
                sent += n;
                if sw.write_all(&buf[..n]).await.is_err() {
                    break;
                }
                n = match cr.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
            }
            let _ = sw.shutdown().await;
            let _ = back.await;
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_survives_a_dropped_connection_without_loss_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", listener.local_addr().unwrap());
    let public = proxy_url.clone();
    // The server advertises the proxy as its data endpoint, so putMedia goes through it.
    let s = TestServer::start_with(dir.path(), move |c| c.public_url = Some(public)).await;
    let upstream: SocketAddr = s.url.trim_start_matches("http://").parse().unwrap();
    let cut = Arc::new(AtomicBool::new(false));
    tokio::spawn(cutting_proxy(listener, upstream, 50_000, Arc::clone(&cut)));
    let out = push(args(&[
        "--endpoint",
        &proxy_url,
        "--stream",
        "flaky",
        "--create",
        "--fast",
        fixture(FIXTURE).to_str().unwrap(),
    ]))
    .await;
    assert_success(&out);
    assert!(
        cut.load(Ordering::SeqCst),
        "the proxy cut a putMedia connection"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("putMedia connection lost"), "{stderr}");
    // The fragments stored before the cut were recognised (their acks were lost), not resent.
    let found: u32 = stderr
        .split("fragments_found_stored=")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("push done line");
    assert!(found >= 1, "{stderr}");
    let frags = list(&s, "flaky").await;
    let offsets: Vec<i64> = frags.iter().map(|f| f.1 - frags[0].1).collect();
    assert_eq!(offsets, fixture_cluster_offsets(), "{frags:?}\n{stderr}");
    assert_frames_match_fixture(&s, "flaky", dir.path()).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_to_a_missing_stream_without_create_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let out = push(args(&[
        "--endpoint",
        &s.url,
        "--stream",
        "nope",
        "--fast",
        fixture(FIXTURE).to_str().unwrap(),
    ]))
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("stream `nope` not found") && stderr.contains("--create"),
        "{stderr}"
    );
    s.wait_status("nope", None).await;
    s.stop().await;
}

/// The Python with botocore: the repo's .venv (scripts/pytest.sh makes it), else python3.
fn python_with_botocore() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    for py in [venv, PathBuf::from("python3")] {
        let ok = Command::new(&py)
            .args(["-c", "import botocore"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            return py;
        }
    }
    panic!(
        "botocore not found: run scripts/pytest.sh once (it creates .venv with botocore) or `pip install botocore`"
    );
}

const BOTOCORE_SIGN: &str = r#"
import json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
out = []
for c in json.load(sys.stdin):
    req = AWSRequest(method="POST", url=c["url"], data=c["body"].encode(), headers=c["headers"])
    req.context["timestamp"] = c["date"]
    auth = SigV4Auth(Credentials(c["ak"], c["sk"], c["token"]), "kinesisvideo", c["region"])
    auth._modify_request_before_signing(req)
    if c["empty_payload"]:
        auth.payload = lambda r: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    canonical = auth.canonical_request(req)
    signature = auth.signature(auth.string_to_sign(req, canonical), req)
    auth._inject_signature_to_request(req, signature)
    out.append({k.lower(): v for k, v in req.headers.items()})
print(json.dumps(out))
"#;

#[test]
fn sigv4_matches_botocore() {
    let date = "20260126T101112Z";
    let cases = [
        // A control-plane call, with a session token.
        (
            "/describeStream",
            r#"{"StreamName":"cam-1"}"#,
            vec![("Content-Type", "application/json")],
            Some("FwoGZXIvYXdzEXAMPLETOKEN"),
            false,
        ),
        // Streaming putMedia: signed as if the body were empty.
        (
            "/putMedia",
            "",
            vec![
                ("x-amzn-stream-name", "cam-1"),
                ("x-amzn-fragment-timecode-type", "ABSOLUTE"),
            ],
            None,
            true,
        ),
    ];
    let spec: Vec<Value> = cases
        .iter()
        .map(|(path, body, headers, token, empty)| {
            json!({
                "url": format!("http://127.0.0.1:8080{path}"),
                "body": body,
                "headers": headers.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect::<serde_json::Map<String, Value>>(),
                "date": date, "ak": "AKIDEXAMPLE", "sk": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                "token": token, "region": "eu-west-3", "empty_payload": empty,
            })
        })
        .collect();
    let mut child = Command::new(python_with_botocore())
        .args(["-c", BOTOCORE_SIGN])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(Value::Array(spec).to_string().as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let boto: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    for ((path, body, headers, token, empty), b) in cases.iter().zip(&boto) {
        let signer = Signer {
            credentials: Credentials {
                access_key: "AKIDEXAMPLE".into(),
                secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
                session_token: token.map(str::to_owned),
            },
            region: "eu-west-3".into(),
            service: sigv4::SERVICE.into(),
        };
        let mut h: Vec<(&str, &str)> = headers.clone();
        h.push(("host", "127.0.0.1:8080"));
        h.push(("x-amz-date", date));
        if let Some(t) = token {
            h.push(("x-amz-security-token", t));
        }
        let hash = if *empty {
            sigv4::EMPTY_PAYLOAD_SHA256.to_owned()
        } else {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(body.as_bytes()))
        };
        let sig = signer.sign(
            &sigv4::Request {
                method: "POST",
                path,
                query: &[],
                headers: &h,
                payload_sha256: &hash,
            },
            date,
        );
        assert_eq!(b["x-amz-date"], date, "{b}");
        assert_eq!(
            b["authorization"].as_str(),
            Some(sig.authorization.as_str()),
            "{path}: {b}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gen_fans_one_pattern_out_to_every_camera() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let url = s.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_vidstream"))
            .args([
                "gen",
                "--endpoint",
                &url,
                "--cameras",
                "3",
                "--width",
                "320",
            ])
            .args([
                "--height",
                "240",
                "--fps",
                "30",
                "--bitrate-kbps",
                "300",
                "--gop",
                "30",
            ])
            .args(["--duration-secs", "2", "--prefix", "cam"])
            .env("AWS_ACCESS_KEY_ID", crate::common::sign::ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", crate::common::sign::SECRET_KEY)
            .output()
            .expect("the vidstream binary runs")
    })
    .await
    .unwrap();
    assert_success(&out);
    let mut first = Vec::new();
    for i in 0..3 {
        let name = format!("cam-{i}");
        let frags = list(&s, &name).await;
        assert_eq!(frags.len(), 2, "{name}: {frags:?}");
        let numbers: Vec<String> = frags.iter().map(|f| f.0.clone()).collect();
        let docs = fetch_docs(&s, &name, &numbers, dir.path()).await;
        let md5s: Vec<String> = docs
            .iter()
            .flat_map(|d| packets(d))
            .map(|p| p.md5)
            .collect();
        assert_eq!(md5s.len(), 60, "{name}: 2 s at 30 fps");
        // Encoded once: every camera carries the very same frames.
        if i == 0 {
            first = md5s;
        } else {
            assert_eq!(md5s, first, "{name}");
        }
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_over_https_checks_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    // The server speaks TLS itself with a private CA's certificate; GetDataEndpoint answers
    // https, so PutMedia goes through TLS too.
    let ca = crate::common::tls::TestCa::new(&dir.path().join("ca"));
    let s = TestServer::start_tls(&dir.path().join("data"), &ca, |_| {}).await;
    let https = s.url.clone();

    let push_with = |ca: Option<PathBuf>, stream: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vidstream"));
        cmd.args([
            "push",
            "--endpoint",
            &https,
            "--stream",
            stream,
            "--create",
            "--fast",
        ])
        .arg(fixture(FIXTURE))
        .env("AWS_ACCESS_KEY_ID", crate::common::sign::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", crate::common::sign::SECRET_KEY)
        .env_remove("SSL_CERT_FILE")
        .env_remove("AWS_CA_BUNDLE");
        if let Some(ca) = ca {
            cmd.arg("--ca-file").arg(ca);
        }
        cmd
    };
    // Without trusting the private CA: refused, nothing stored.
    let mut untrusted = push_with(None, "tls");
    let out = tokio::task::spawn_blocking(move || untrusted.output().unwrap())
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("TLS handshake") && err.contains("certificate"),
        "{err}"
    );
    let none = s
        .call("/describeStream", json!({"StreamName": "tls"}))
        .await;
    none.assert_error(404, "ResourceNotFoundException");

    // Trusting the private CA (--ca-file): every fragment stored, frames as in the file.
    let mut trusted = push_with(Some(ca.ca_file()), "tls");
    let out = tokio::task::spawn_blocking(move || trusted.output().unwrap())
        .await
        .unwrap();
    assert_success(&out);
    assert_eq!(list(&s, "tls").await.len(), 5);
    assert_frames_match_fixture(&s, "tls", dir.path()).await;
    s.stop().await;
}
