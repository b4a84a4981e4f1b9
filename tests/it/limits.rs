//! `[limits]`: quotas and per-stream limits, each refused with KVS's error while other streams'
//! traffic keeps flowing.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::TestServer;
use crate::common::media::{body, persisted, put_media};
use crate::common::sign::SendSigned;

#[tokio::test]
async fn streams_over_the_quota_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(dir.path(), |c| c.limits.max_streams = 2).await;
    for name in ["a", "b"] {
        s.create_active(json!({"StreamName": name})).await;
    }
    let r = s.call("/createStream", json!({"StreamName": "c"})).await;
    r.assert_error(400, "AccountStreamLimitExceededException");
    assert!(r.body["message"].as_str().unwrap().contains("max_streams"));
    s.stop().await;
}

/// A GetMedia request, whatever its answer.
async fn get_media(url: &str, stream: &str, selector: serde_json::Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{url}/getMedia"))
        .body(json!({"StreamName": stream, "StartSelector": selector}).to_string())
        .send_signed()
        .await
        .expect("getMedia sent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_media_connections_per_stream_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(dir.path(), |c| {
        c.limits.get_media_connections_per_stream = 1;
    })
    .await;
    for name in ["a", "b"] {
        s.create_active(json!({"StreamName": name, "DataRetentionInHours": 1}))
            .await;
    }
    let now = json!({"StartSelectorType": "NOW"});
    // A live reader of `a` stays open (nothing is being written).
    let first = get_media(&s.url, "a", now.clone()).await;
    assert_eq!(first.status(), 200);
    let second = get_media(&s.url, "a", now.clone()).await;
    assert_eq!(second.status(), 400);
    assert_eq!(
        second.headers()["x-amzn-errortype"],
        "ConnectionLimitExceededException"
    );
    // Another stream has its own place.
    let other = get_media(&s.url, "b", now.clone()).await;
    assert_eq!(other.status(), 200);
    // The first reader gone, its place is free.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let again = get_media(&s.url, "a", now.clone()).await;
        if again.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the place is never given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(other);
    s.stop().await;
}

#[tokio::test]
async fn consumers_per_stream_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(dir.path(), |c| c.limits.max_consumers_per_stream = 2).await;
    s.create_active(json!({"StreamName": "cam", "DataRetentionInHours": 1}))
        .await;
    let (_, acks) = put_media(&s.url, "cam", body(1, 3), 4096).await;
    let number = persisted(&acks)[0].clone();
    let commit = |consumer: &str| {
        json!({"StreamName": "cam", "Consumer": consumer, "FragmentNumber": number,
               "ProducerTimestamp": 1_700_000_000_000i64})
    };
    for c in ["c1", "c2"] {
        s.call("/v1/frames/consumers/checkpoint", commit(c))
            .await
            .assert_ok();
    }
    s.call("/v1/frames/consumers/checkpoint", commit("c3"))
        .await
        .assert_error(400, "ClientLimitExceededException");
    // A known consumer still moves its checkpoint.
    s.call("/v1/frames/consumers/checkpoint", commit("c1"))
        .await
        .assert_ok();
    // The feed refuses a new consumer at connect.
    let r = s
        .request(
            reqwest::Method::GET,
            "/v1/frames/feed?StreamName=cam&Consumer=c4",
        )
        .await;
    r.assert_error(400, "ClientLimitExceededException");
    s.stop().await;
}

#[tokio::test]
async fn cameras_over_the_quota_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(dir.path(), |c| {
        c.limits.max_cameras = 1;
        c.cameras.allowed_networks = vidstream::egress::networks(vidstream::egress::LOOPBACK);
    })
    .await;
    s.create_active(json!({"StreamName": "cam"})).await;
    let camera = |name: &str| json!({"name": name, "url": "rtsp://127.0.0.1:1/x", "stream": "cam", "enabled": false});
    let r = s.post_raw("/v1/cameras", camera("one").to_string()).await;
    assert_eq!(r.status, 201, "{r:?}");
    s.post_raw("/v1/cameras", camera("two").to_string())
        .await
        .assert_error(400, "ClientLimitExceededException");
    s.stop().await;
}

/// A producer faster than `put_media_bytes_per_second` is slowed down, not refused: the body
/// takes at least (bytes / rate) - 1 s (one second of burst), and every fragment is PERSISTED.
#[tokio::test]
async fn put_media_is_paced_not_refused() {
    let dir = tempfile::tempdir().unwrap();
    const RATE: u64 = 20_000;
    let s = TestServer::start_with(dir.path(), |c| {
        c.limits.put_media_bytes_per_second = RATE;
    })
    .await;
    s.create_active(json!({"StreamName": "fast", "DataRetentionInHours": 1}))
        .await;
    let payload = body(4, 30);
    let least = Duration::from_secs_f64(payload.len() as f64 / RATE as f64 - 1.0);
    assert!(least >= Duration::from_secs(1), "{least:?}");
    let t = Instant::now();
    let (status, acks) = put_media(&s.url, "fast", payload, 4 << 10).await;
    let took = t.elapsed();
    assert_eq!(status, 200);
    assert_eq!(persisted(&acks).len(), 4, "{acks:?}");
    assert!(took >= least, "{took:?} < {least:?}");
    s.stop().await;
}

/// A producer sending more than `put_media_fragments_per_second` is slowed down too: 15
/// fragments at once at 5 per second take at least 14 / 5 - 1 = 1.8 s (a fragment is taken
/// when the next begins, the last at the body's end; one second of burst), all PERSISTED;
/// meanwhile another stream's producer is not held up.
#[tokio::test]
async fn put_media_fragment_rate_is_paced() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(dir.path(), |c| {
        c.limits.put_media_fragments_per_second = 5;
    })
    .await;
    for name in ["many", "other"] {
        s.create_active(json!({"StreamName": name, "DataRetentionInHours": 1}))
            .await;
    }
    let t = Instant::now();
    let many = put_media(&s.url, "many", body(15, 2), 64 << 10);
    let other = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let t = Instant::now();
        let (status, acks) = put_media(&s.url, "other", body(3, 2), 64 << 10).await;
        (status, acks, t.elapsed())
    };
    let ((status, acks), (other_status, other_acks, other_took)) = tokio::join!(many, other);
    let took = t.elapsed();
    assert_eq!((status, other_status), (200, 200));
    assert_eq!(persisted(&acks).len(), 15, "{acks:?}");
    assert!(took >= Duration::from_millis(1800), "{took:?}");
    assert_eq!(persisted(&other_acks).len(), 3, "{other_acks:?}");
    assert!(other_took < Duration::from_millis(1500), "{other_took:?}");
    s.stop().await;
}

/// A GetMedia reader that stops reading holds its connection and the stream's reader place
/// only until `[http] write_timeout_secs`: then the server closes it and the place is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_stops_reading_is_cut_off_after_the_write_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(dir.path(), |c| {
        c.limits.get_media_connections_per_stream = 1;
        c.http.write_timeout_secs = 2;
        c.limits.put_media_fragments_per_second = 1000;
    })
    .await;
    s.create_active(json!({"StreamName": "big", "DataRetentionInHours": 1}))
        .await;
    // 16 MB stored: more than the socket buffers between a stalled client and the server.
    let mut big = crate::common::media::body_head(&[crate::common::media::h264_track(1)]);
    for i in 0..16u64 {
        vidstream::mkv::write_cluster_start(
            &mut big,
            crate::common::media::BASE_MS + i * 1000,
            None,
        );
        for j in 0..10 {
            let frame = vec![b'a' + j as u8; 100 << 10];
            vidstream::mkv::write_simple_block(
                &mut big,
                1,
                (j * 33) as i16,
                j == 0,
                false,
                false,
                &frame,
            );
        }
    }
    let (status, acks) = put_media(&s.url, "big", big, 1 << 20).await;
    assert_eq!((status, persisted(&acks).len()), (200, 16), "{acks:?}");

    // A raw client with a small receive buffer asks for everything and reads only the head.
    let url = url::Url::parse(&format!("{}/getMedia", s.url)).unwrap();
    let payload = json!({"StreamName": "big", "StartSelector": {"StartSelectorType": "EARLIEST"}})
        .to_string();
    let mut head = "POST /getMedia HTTP/1.1\r\ncontent-type: application/json\r\n".to_owned();
    for (n, v) in crate::common::sign::auth_headers(
        &crate::common::sign::root_signer(),
        "POST",
        &url,
        &[("content-type".to_owned(), "application/json".to_owned())],
        Some(payload.as_bytes()),
    ) {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\n\r\n{payload}",
        payload.len()
    ));
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut conn = socket
        .connect(s.url.trim_start_matches("http://").parse().unwrap())
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut first = [0u8; 64];
    let n = conn.read(&mut first).await.unwrap();
    assert!(
        first[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&first[..n])
    );

    // While it holds its place, another reader of the stream is refused...
    let now = json!({"StartSelectorType": "NOW"});
    let refused = get_media(&s.url, "big", now.clone()).await;
    assert_eq!(refused.status(), 400);
    // ...until the write timeout ends the stalled one.
    let t = Instant::now();
    loop {
        let again = get_media(&s.url, "big", now.clone()).await;
        if again.status() == 200 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "the stalled reader is never cut off"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The stalled connection was closed: reading it now ends before the 16 MB.
    let mut total = n;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(k)) => total += k,
            Err(_) => panic!("the stalled connection is still open"),
        }
    }
    assert!(total < 16 << 20, "{total} bytes: the response was cut");
    s.stop().await;
}
