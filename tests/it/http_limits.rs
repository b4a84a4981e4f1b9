//! `[http]`: what one connection may cost. Slow request heads are cut off, connections over
//! the per-address and server-wide caps are closed at once, and a flood of connections from
//! one address neither starves the server of descriptors nor stops other clients' ingest.

use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::common::media::{body, parse_acks, persisted};
use crate::common::sign::{self, SendSigned};
use crate::common::{TestServer, free_port};

/// A TCP connection to `server` from the loopback address `from` (127.0.0.x: each is its own
/// client address to the server).
async fn connect_from(from: &str, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(from.parse().unwrap(), 0))
        .unwrap();
    socket.connect(server).await.unwrap()
}

/// Whether the server closes `conn` (EOF or reset) within `within`, reading whatever it sends.
async fn closed_within(conn: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, conn.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

fn addr(s: &TestServer) -> SocketAddr {
    s.url.trim_start_matches("http://").parse().unwrap()
}

fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_request_head_sent_too_slowly_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(dir.path(), |c| c.http.header_read_timeout_secs = 1).await;
    let mut slow = connect_from("127.0.0.1", addr(&s)).await;
    slow.write_all(b"POST /listStreams HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    assert!(
        closed_within(&mut slow, Duration::from_secs(4)).await,
        "a half-sent head is not held open"
    );
    // An idle keep-alive connection is closed after as long; a prompt request is served.
    let mut idle = connect_from("127.0.0.1", addr(&s)).await;
    assert!(closed_within(&mut idle, Duration::from_secs(4)).await);
    s.call("/listStreams", json!({})).await.assert_ok();
    s.stop().await;
}

#[tokio::test]
async fn a_request_body_sent_too_slowly_is_answered_and_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(dir.path(), |c| c.http.body_read_timeout_secs = 1).await;
    let mut slow = connect_from("127.0.0.1", addr(&s)).await;
    slow.write_all(
        b"POST /listStreams HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"MaxResults\"",
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "a half-sent body is not waited for");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("did not arrive within 1 s"), "{text}");
    s.call("/listStreams", json!({})).await.assert_ok();
    s.stop().await;
}

/// A client that opened a connection and has not sent a byte yet (HTTP clients open spare
/// connections) must not hold the server's shutdown for the whole grace period.
#[tokio::test]
async fn shutdown_does_not_wait_for_connections_that_never_spoke() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let mut silent = connect_from("127.0.0.1", addr(&s)).await;
    // Accepted in order: once a later connection is answered, the silent one was accepted.
    s.call("/listStreams", json!({})).await.assert_ok();
    let t = Instant::now();
    s.stop().await;
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "stop took {:?} (the grace period is 10 s)",
        t.elapsed()
    );
    assert!(closed_within(&mut silent, Duration::from_secs(1)).await);
}

#[tokio::test]
async fn connections_over_the_per_address_cap_are_closed_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(dir.path(), |c| c.http.max_connections_per_address = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from("127.0.0.2", addr(&s)).await);
    }
    // Give the accept loop time to count them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut over = connect_from("127.0.0.2", addr(&s)).await;
    assert!(closed_within(&mut over, Duration::from_secs(2)).await);
    // Another address is served meanwhile.
    let r = client_from("127.0.0.3")
        .post(format!("{}/listStreams", s.url))
        .body("{}")
        .send_signed()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A held connection closing frees its place.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = client_from("127.0.0.2")
        .get(format!("{}/healthz", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    s.stop().await;
}

#[tokio::test]
async fn connections_over_the_server_cap_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(dir.path(), |c| c.http.max_connections = 4).await;
    let mut held = Vec::new();
    for i in 0..4 {
        held.push(connect_from(&format!("127.0.1.{}", i + 1), addr(&s)).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut over = connect_from("127.0.1.9", addr(&s)).await;
    assert!(closed_within(&mut over, Duration::from_secs(2)).await);
    held.clear();
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.call("/listStreams", json!({})).await.assert_ok();
    s.stop().await;
}

struct Child_(Child);

impl Drop for Child_ {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Issue 15: with a 256-descriptor limit, a flood of idle connections made `/healthz` time out
/// and an unrelated producer fail with "fsync failed: Too many open files". Now the flood is
/// capped (per address, and at half the descriptors in all) and the producer's fragments are
/// all PERSISTED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_flood_never_starves_ingest_of_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 256 && exec \"$0\" serve --listen 127.0.0.1:\"$1\" --data-dir \"$2\"")
        .arg(env!("CARGO_BIN_EXE_vidstream"))
        .arg(port.to_string())
        .arg(dir.path())
        .envs(crate::common::backend::env(dir.path()).await)
        .env("VIDSTREAM_LOG", "warn")
        .env("VIDSTREAM_AUTH__ROOT_ACCESS_KEY_ID", sign::ACCESS_KEY)
        .env("VIDSTREAM_AUTH__ROOT_SECRET_ACCESS_KEY", sign::SECRET_KEY)
        .env("VIDSTREAM_HTTP__MAX_CONNECTIONS_PER_ADDRESS", "64")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("vidstream starts");
    let _child = Child_(child);
    let url = format!("http://127.0.0.1:{port}");
    let server: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut up = false;
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(format!("{url}/healthz")).await
            && r.status() == 200
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(up, "server did not become healthy");

    // 300 connections from one address, held open.
    let mut flood = Vec::new();
    for _ in 0..300 {
        flood.push(connect_from("127.0.0.4", server).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Another client: health, a stream, and a PutMedia of 8 fragments, all PERSISTED.
    let other = client_from("127.0.0.5");
    let health = other.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let created = other
        .post(format!("{url}/createStream"))
        .body(json!({"StreamName": "flooded", "DataRetentionInHours": 1}).to_string())
        .send_signed()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let resp = other
        .post(format!("{url}/putMedia"))
        .header("x-amzn-stream-name", "flooded")
        .header("x-amzn-fragment-timecode-type", "ABSOLUTE")
        .header("x-amzn-producer-start-timestamp", "1700000000.000")
        .body(body(8, 5))
        .send_signed()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let acks = parse_acks(&resp.text().await.unwrap());
    assert!(
        acks.iter().all(|a| a.event != "ERROR"),
        "no fragment fails: {acks:?}"
    );
    assert_eq!(persisted(&acks).len(), 8, "{acks:?}");
    drop(flood);
}
