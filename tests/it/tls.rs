//! HTTPS on the listener (`[tls]`): a private CA's certificate served by rustls, trusted by the
//! clients that users run (the test client, `vidstream push --ca-file`, Chromium, curl-like
//! raw TLS); plain HTTP to the TLS port; HTTP/2 by ALPN; certificate reloading; the redirect
//! listener; Secure cookies.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, pki_types};

use crate::common::browser::{self, Kind, PlayOpts};
use crate::common::probe::fixture;
use crate::common::sign::{self, SendSigned};
use crate::common::tls::TestCa;
use crate::common::{TestServer, free_port};

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

/// A TLS handshake with `addr` trusting `ca`, offering `alpn`: the negotiated protocol and
/// the server's leaf certificate.
async fn handshake(addr: &str, ca: &Path, alpn: &[&[u8]]) -> (Option<Vec<u8>>, Vec<u8>) {
    let (alpn, cert, _) = connect(addr, ca, alpn).await;
    (alpn, cert)
}

async fn connect(addr: &str, ca: &Path, alpn: &[&[u8]]) -> (Option<Vec<u8>>, Vec<u8>, Tls) {
    use pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(pki_types::CertificateDer::from_pem_file(ca).unwrap())
        .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("handshake");
    let (_, conn) = tls.get_ref();
    (
        conn.alpn_protocol().map(<[u8]>::to_vec),
        conn.peer_certificates().unwrap()[0].to_vec(),
        tls,
    )
}

fn addr_of(s: &TestServer) -> String {
    s.url.trim_start_matches("https://").to_owned()
}

#[tokio::test]
async fn https_serves_the_api_to_clients_that_trust_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(&dir.path().join("ca"));
    let s = TestServer::start_tls(&dir.path().join("data"), &ca, |_| {}).await;
    assert!(s.url.starts_with("https://"), "{}", s.url);

    s.create_active(json!({"StreamName": "t", "DataRetentionInHours": 1}))
        .await;
    let ep = s
        .call(
            "/getDataEndpoint",
            json!({"StreamName": "t", "APIName": "GET_HLS_STREAMING_SESSION_URL"}),
        )
        .await;
    assert_eq!(ep.assert_ok()["DataEndpoint"], s.url.as_str());

    // A client without the CA refuses the certificate; nothing is answered to it.
    let untrusted = reqwest::Client::builder()
        .tls_built_in_root_certs(true)
        .build()
        .unwrap()
        .post(format!("{}/listStreams", s.url))
        .body("{}")
        .send_signed()
        .await;
    let e = untrusted.expect_err("an untrusted certificate is refused");
    assert!(e.is_connect(), "{e:?}");

    // Signatures still apply under TLS: no signature, no answer.
    let unsigned = s
        .client()
        .post(format!("{}/listStreams", s.url))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);
    s.stop().await;
}

#[tokio::test]
async fn plain_http_to_the_tls_port_gets_a_clear_400() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(&dir.path().join("ca"));
    let s = TestServer::start_tls(&dir.path().join("data"), &ca, |_| {}).await;
    let plain = format!("http://{}/listStreams", addr_of(&s));
    let r = reqwest::Client::new()
        .post(&plain)
        .body("{}")
        .send_signed()
        .await
        .expect("a plain HTTP answer, not a reset");
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["x-amzn-errortype"], "InvalidArgumentException");
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("https://"),
        "{body}"
    );
    // The listener still serves TLS afterwards.
    s.call("/listStreams", json!({})).await.assert_ok();
    s.stop().await;
}

#[tokio::test]
async fn alpn_offers_http2_and_http1() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(&dir.path().join("ca"));
    let s = TestServer::start_tls(&dir.path().join("data"), &ca, |_| {}).await;
    let addr = addr_of(&s);
    let (alpn, _) = handshake(&addr, &ca.ca_file(), &[b"h2", b"http/1.1"]).await;
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    let (alpn, _) = handshake(&addr, &ca.ca_file(), &[b"http/1.1"]).await;
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));

    // HTTP/2 spoken: to the client preface (and an empty SETTINGS frame) the server answers
    // with its own SETTINGS frame (type 4).
    let (_, _, mut tls) = connect(&addr, &ca.ca_file(), &[b"h2"]).await;
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let mut frame = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(5), tls.read_exact(&mut frame))
        .await
        .expect("an HTTP/2 frame")
        .unwrap();
    assert_eq!(frame[3], 4, "SETTINGS first: {frame:?}");
    drop(tls);
    s.stop().await;
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(&dir.path().join("ca"));
    let s = TestServer::start_tls(&dir.path().join("data"), &ca, |c| {
        c.tls.reload_interval_secs = 1;
    })
    .await;
    let addr = addr_of(&s);
    let first = TestCa::der(&ca.dir.join("server.pem"));
    assert_eq!(handshake(&addr, &ca.ca_file(), &[]).await.1, first);

    // Renewal: a new pair renamed over the served files.
    let (cert, key) = ca.issue("renewed");
    let second = TestCa::der(&cert);
    assert_ne!(first, second);
    std::fs::rename(&key, ca.dir.join("server.key")).unwrap();
    std::fs::rename(&cert, ca.dir.join("server.pem")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while handshake(&addr, &ca.ca_file(), &[]).await.1 != second {
        assert!(
            Instant::now() < deadline,
            "the renewed certificate is served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    s.call("/listStreams", json!({})).await.assert_ok();

    // A broken renewal (a certificate without its key) keeps the previous pair serving.
    let (cert, _) = ca.issue("orphan");
    std::fs::rename(&cert, ca.dir.join("server.pem")).unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(handshake(&addr, &ca.ca_file(), &[]).await.1, second);
    s.stop().await;
}

#[tokio::test]
async fn the_redirect_listener_sends_plain_http_to_https() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(&dir.path().join("ca"));
    let port = free_port();
    let s = TestServer::start_tls(&dir.path().join("data"), &ca, |c| {
        c.tls.redirect_http_listen = Some(format!("127.0.0.1:{port}").parse().unwrap());
    })
    .await;
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{port}/hls/x.m3u8?a=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], format!("{}/hls/x.m3u8?a=1", s.url));

    // Followed, with the CA trusted, a redirect lands on the TLS listener.
    let health = ca_following_client(&ca)
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(health.url().as_str().starts_with("https://"));
    s.stop().await;
}

fn ca_following_client(ca: &TestCa) -> reqwest::Client {
    let pem = std::fs::read(ca.ca_file()).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn web_ui_cookies_are_secure_under_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(&dir.path().join("ca"));
    let s = TestServer::start_tls(&dir.path().join("data"), &ca, |_| {}).await;
    let password = "correct horse battery staple";
    s.call(
        "/v1/users",
        json!({"name": "ann", "password": password, "policy": "viewer"}),
    )
    .await
    .assert_error_free();
    let r = s
        .client()
        .post(format!("{}/v1/login", s.url))
        .json(&json!({"user": "ann", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    s.stop().await;
}

/// `vidstream push --ca-file` over https (PutMedia through TLS), then hls.js in Chromium plays
/// the stream from the https session URL, trusting the server's key, frames in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn push_and_hls_playback_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(&dir.path().join("ca"));
    let s = TestServer::start_tls(&dir.path().join("data"), &ca, |_| {}).await;
    let mut push = Command::new(env!("CARGO_BIN_EXE_vidstream"));
    push.args([
        "push",
        "--endpoint",
        &s.url,
        "--stream",
        "tls",
        "--create",
        "--fast",
    ])
    .arg("--ca-file")
    .arg(ca.ca_file())
    .arg(fixture("gst_h264_320x240_gop30_5s.mkv"))
    .env("AWS_ACCESS_KEY_ID", sign::ACCESS_KEY)
    .env("AWS_SECRET_ACCESS_KEY", sign::SECRET_KEY)
    .env_remove("SSL_CERT_FILE")
    .env_remove("AWS_CA_BUNDLE");
    let out = tokio::task::spawn_blocking(move || push.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let r = s
        .call(
            "/getHLSStreamingSessionURL",
            json!({
                "StreamName": "tls",
                "PlaybackMode": "ON_DEMAND",
                "ContainerFormat": "FRAGMENTED_MP4",
                "HLSFragmentSelector": {
                    "FragmentSelectorType": "SERVER_TIMESTAMP",
                    "TimestampRange": {"StartTimestamp": now - 600, "EndTimestamp": now + 60}
                }
            }),
        )
        .await;
    let url = r.assert_ok()["HLSStreamingSessionURL"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.starts_with("https://"), "{url}");
    let report = browser::play_async(
        &url,
        Kind::Hls,
        PlayOpts {
            seconds: 4.0,
            frames: true,
            trust_spki: Some(TestCa::spki_sha256(&ca.dir.join("server.pem"))),
            ..Default::default()
        },
    )
    .await;
    report.assert_playing(2.0);
    let idx = report.frame_indexes();
    assert!(idx.windows(2).all(|w| w[0] <= w[1]), "{idx:?}");
    assert!(
        idx.last().copied().unwrap_or(0) >= idx.first().copied().unwrap_or(0) + 60,
        "{idx:?}"
    );
    s.stop().await;
}

/// Raw bytes that are neither TLS nor HTTP get the connection closed, not a hang.
#[tokio::test]
async fn garbage_on_the_tls_port_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(&dir.path().join("ca"));
    let s = TestServer::start_tls(&dir.path().join("data"), &ca, |_| {}).await;
    let mut tcp = TcpStream::connect(addr_of(&s)).await.unwrap();
    tcp.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server closes a bad handshake");
    s.call("/listStreams", json!({})).await.assert_ok();
    s.stop().await;
}
