//! The WebSocket frame feed end to end: a gst-made fixture whose frames carry their index
//! (fixtures/framecode.py) goes in through PutMedia, a real WebSocket client
//! (tokio-tungstenite) subscribes, and the pictures that come out are read back by independent
//! tools (ffmpeg converts them to gray, framecode reads the index). The expected frames are
//! computed from the fixture's packet times (ffprobe), never from our own output.
//!
//! Covered: history with the sampling grid and `End`, RGB24 and scaled sizes, live frames with
//! the drop accounting, consumer checkpoints with an abrupt disconnect and an exact resume,
//! consumers over REST (list with lag, commit, delete), and bad input before and after the
//! upgrade.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::common::frames::framecodes;
use crate::common::media::*;
use crate::common::probe::video_pts;
use crate::common::{Reply, TestServer};

/// `x-amzn-producer-start-timestamp` of every ingest (a multiple of every interval used).
const START_MS: i64 = 1_700_000_000_000;
const H264: &str = "gst_h264_320x240_gop30_5s.mkv";

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What the feed sent.
#[derive(Debug)]
enum Event {
    Frame(Value, Vec<u8>),
    Message(Value),
    Closed(Option<u16>),
}

/// A WebSocket handshake to `url`, signed with the tests' root key (SigV4 headers).
fn signed_ws_request(url: &str) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = url.into_client_request().expect("ws url");
    let http_url = url::Url::parse(&url.replacen("ws://", "http://", 1)).expect("url");
    for (name, value) in crate::common::sign::auth_headers(
        &crate::common::sign::root_signer(),
        "GET",
        &http_url,
        &[],
        None,
    ) {
        req.headers_mut().insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            value.parse().expect("value"),
        );
    }
    req
}

async fn connect(s: &TestServer, query: &str) -> Ws {
    let url = format!(
        "{}/v1/frames/feed?{query}",
        s.url.replace("http://", "ws://")
    );
    let (ws, resp) = tokio_tungstenite::connect_async(signed_ws_request(&url))
        .await
        .expect("websocket upgrade");
    assert_eq!(resp.status(), 101);
    ws
}

async fn next(ws: &mut Ws) -> Event {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .expect("a message within 60 s");
        match msg {
            None | Some(Err(_)) => return Event::Closed(None),
            Some(Ok(Message::Close(c))) => return Event::Closed(c.map(|c| u16::from(c.code))),
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(t.as_str()).expect("json text message");
                if v["type"] != "frame" {
                    return Event::Message(v);
                }
                match ws.next().await {
                    Some(Ok(Message::Binary(b))) => return Event::Frame(v, b.to_vec()),
                    other => panic!("a binary picture after {v}, got {other:?}"),
                }
            }
            Some(Ok(_)) => {}
        }
    }
}

/// Frames until the feed ends (`end` message, then close 1000).
async fn until_end(ws: &mut Ws) -> Vec<(Value, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        match next(ws).await {
            Event::Frame(m, b) => out.push((m, b)),
            Event::Message(m) if m["type"] == "end" => {
                assert!(matches!(next(ws).await, Event::Closed(Some(1000))));
                return out;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

async fn ingest(s: &TestServer, name: &str) {
    assert_eq!(ingest_fixture(s, name, H264, START_MS).await.len(), 5);
}

/// The frames the sampling rule picks from `from` (ms offset): the first frame at or after
/// `from`, then the first at or after each multiple of `interval`, as indexes.
fn expected(interval: i64, from: i64, to: i64) -> Vec<u32> {
    let pts = video_pts(H264);
    let mut out = Vec::new();
    let mut last_bucket = None;
    for (i, &p) in pts.iter().enumerate() {
        if p < from || p > to {
            continue;
        }
        let b = (START_MS + p).div_euclid(interval);
        if last_bucket.is_none_or(|l| b > l) {
            out.push(i as u32);
            last_bucket = Some(b);
        }
    }
    out
}

/// The framecode index of each picture, via ffmpeg (pictures → gray) and framecode.py.
fn indexes(pictures: &[(Value, Vec<u8>)], scratch: &Path) -> Vec<u32> {
    let mut gray = Vec::new();
    for (i, (meta, data)) in pictures.iter().enumerate() {
        let (w, h) = (
            meta["width"].as_u64().unwrap(),
            meta["height"].as_u64().unwrap(),
        );
        assert_eq!((w, h), (320, 240), "framecode reads full-size pictures");
        let input = scratch.join(format!("p{i}"));
        std::fs::write(&input, data).unwrap();
        let out_path = scratch.join(format!("p{i}.gray"));
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-v", "error", "-y"]);
        if meta["format"] == "RGB24" {
            cmd.args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "320x240"]);
        }
        let out = cmd
            .arg("-i")
            .arg(&input)
            .args(["-f", "rawvideo", "-pix_fmt", "gray"])
            .arg(&out_path)
            .output()
            .expect("ffmpeg is installed (scripts/install-deps.sh)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        gray.extend(std::fs::read(&out_path).unwrap());
    }
    let all = scratch.join("all.gray");
    std::fs::write(&all, gray).unwrap();
    framecodes(&all, 320, 240)
}

fn producer_ms(m: &Value) -> i64 {
    m["producer_timestamp_ms"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_sends_the_grid_frames_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&dir.path().join("data")).await;
    ingest(&s, "cam").await;
    let pts = video_pts(H264);

    // RGB24 from a time inside the first fragment, 500 ms grid, up to 4.2 s.
    let q = format!(
        "StreamName=cam&Format=RGB24&SamplingInterval=500&Start={}&End={}",
        START_MS + 100,
        START_MS + 4200
    );
    let got = until_end(&mut connect(&s, &q).await).await;
    let want = expected(500, 100, 4200);
    assert_eq!(want.len(), 9, "100 ms, then 500, 1000, ... 4000");
    for (m, data) in &got {
        assert_eq!(m["format"], "RGB24");
        assert_eq!(data.len(), 320 * 240 * 3, "packed RGB24, no row padding");
        assert_eq!(m["bytes"].as_u64().unwrap() as usize, data.len());
        assert_eq!(m["dropped"], 0, "history never drops");
    }
    assert_eq!(indexes(&got, dir.path()), want, "which frames arrived");
    let times: Vec<i64> = got.iter().map(|(m, _)| producer_ms(m) - START_MS).collect();
    let want_times: Vec<i64> = want.iter().map(|&i| pts[i as usize]).collect();
    assert_eq!(times, want_times, "producer timestamps are the frames'");
    let numbers: Vec<&str> = got
        .iter()
        .map(|(m, _)| m["fragment_number"].as_str().unwrap())
        .collect();
    assert!(numbers.windows(2).all(|w| w[0] <= w[1]), "{numbers:?}");
    assert_eq!(
        numbers
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        5,
        "one or more frames from each of the 5 fragments"
    );
    for (m, _) in &got {
        let server = m["server_timestamp_ms"].as_i64().unwrap();
        assert!(
            server > START_MS,
            "server timestamps are arrival times: {m}"
        );
    }

    // JPEG, EARLIEST, 1 s grid: frames 0, 30, 60, 90, 120.
    let last = START_MS + pts[pts.len() - 1];
    let q = format!(
        "StreamName=cam&Format=JPEG&JPEGQuality=90&SamplingInterval=1000&Start=EARLIEST&End={last}"
    );
    let got = until_end(&mut connect(&s, &q).await).await;
    assert!(
        got.iter()
            .all(|(m, d)| m["format"] == "JPEG" && d.starts_with(&[0xff, 0xd8]))
    );
    assert_eq!(indexes(&got, dir.path()), vec![0, 30, 60, 90, 120]);

    // PNG scaled: one width keeps the aspect ratio; both stretch; RGB24 sizes follow.
    let q = format!("StreamName=cam&Format=PNG&WidthPixels=160&Start={START_MS}&End={START_MS}");
    let got = until_end(&mut connect(&s, &q).await).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].0["width"].as_u64(), got[0].0["height"].as_u64()),
        (Some(160), Some(120))
    );
    assert!(got[0].1.starts_with(b"\x89PNG"));
    let q = format!(
        "StreamName=cam&Format=RGB24&WidthPixels=101&HeightPixels=33&Start={START_MS}&End={START_MS}"
    );
    let got = until_end(&mut connect(&s, &q).await).await;
    assert_eq!(got[0].1.len(), 101 * 33 * 3, "odd width: rows still packed");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_frames_arrive_as_ingested_and_drops_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&dir.path().join("data")).await;
    s.create_active(json!({"StreamName": "live", "DataRetentionInHours": 1}))
        .await;
    let mut ws = connect(
        &s,
        "StreamName=live&Format=RGB24&SamplingInterval=200&Start=NOW",
    )
    .await;
    let url = s.url.clone();
    let producer =
        tokio::spawn(async move { put_fixture_paced(&url, "live", H264, START_MS).await });
    let want = expected(200, 0, 5000);
    let mut got = Vec::new();
    let mut dropped = 0;
    while got.len() as u64 + dropped < want.len() as u64 {
        match next(&mut ws).await {
            Event::Frame(m, b) => {
                dropped += m["dropped"].as_u64().unwrap();
                got.push((m, b));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(producer.await.unwrap(), 5);
    let idx = indexes(&got, dir.path());
    // Each frame sent is a grid frame, in order; the ones not sent were reported as dropped.
    let mut rest = want.iter();
    for i in &idx {
        assert!(
            rest.any(|w| w == i),
            "{i} is not a grid frame in order: {idx:?} vs {want:?}"
        );
    }
    assert_eq!(idx.len() as u64 + dropped, want.len() as u64);
    assert!(idx.len() >= 2, "live pictures arrive: {idx:?}");
    drop(ws);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_hands_over_to_live_without_gap_or_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&dir.path().join("data")).await;
    s.create_active(json!({"StreamName": "mid", "DataRetentionInHours": 1}))
        .await;
    let url = s.url.clone();
    let producer =
        tokio::spawn(async move { put_fixture_paced(&url, "mid", H264, START_MS).await });
    // Joins while the producer is sending: the first fragments come from the store (or the
    // bus snapshot), the rest live.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let pts = video_pts(H264);
    let q = format!(
        "StreamName=mid&Format=RGB24&SamplingInterval=200&Start={START_MS}&End={}",
        START_MS + pts[pts.len() - 1]
    );
    let mut ws = connect(&s, &q).await;
    let mut got = Vec::new();
    let mut dropped = 0;
    loop {
        match next(&mut ws).await {
            Event::Frame(m, b) => {
                dropped += m["dropped"].as_u64().unwrap();
                got.push((m, b));
            }
            Event::Message(m) if m["type"] == "end" => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(producer.await.unwrap(), 5);
    let want = expected(200, 0, 4999);
    let idx = indexes(&got, dir.path());
    let mut rest = want.iter();
    for i in &idx {
        assert!(
            rest.any(|w| w == i),
            "{i} repeated or out of order: {idx:?}"
        );
    }
    assert_eq!(
        idx.len() as u64 + dropped,
        want.len() as u64,
        "every grid frame is sent or reported dropped: {idx:?}"
    );
    s.stop().await;
}

async fn checkpoint(ws: &mut Ws, m: &Value) {
    let msg = json!({"checkpoint": {
        "fragment_number": m["fragment_number"],
        "producer_timestamp_ms": m["producer_timestamp_ms"],
    }});
    ws.send(Message::Text(msg.to_string().into()))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_consumer_resumes_exactly_after_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&dir.path().join("data")).await;
    ingest(&s, "cam").await;
    let pts = video_pts(H264);
    let end = START_MS + pts[pts.len() - 1];
    let want = expected(200, 0, 4999);
    assert_eq!(want.len(), 25);

    // No End here: the feed must still be open when the checkpoint is acknowledged.
    let q =
        format!("StreamName=cam&Consumer=ml&Format=RGB24&SamplingInterval=200&Start={START_MS}");
    let mut ws = connect(&s, &q).await;
    let mut first = Vec::new();
    let mut acked = false;
    while first.len() < 9 || !acked {
        match next(&mut ws).await {
            Event::Frame(m, b) => {
                first.push((m.clone(), b));
                if first.len() == 7 {
                    checkpoint(&mut ws, &m).await;
                }
            }
            Event::Message(m) if m["type"] == "checkpointed" => {
                assert_eq!(m["fragment_number"], first[6].0["fragment_number"]);
                acked = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Killed: two more frames were processed but not checkpointed; no close handshake.
    let tcp = ws.into_inner();
    drop(tcp);
    assert_eq!(indexes(&first, dir.path()), want[..first.len()]);

    // The consumer is listed with its lag behind live.
    let r = s
        .request(reqwest::Method::GET, "/v1/frames/consumers?StreamName=cam")
        .await;
    let c = &r.assert_ok()["Consumers"];
    assert_eq!(c.as_array().unwrap().len(), 1, "{c}");
    assert_eq!(c[0]["Consumer"], "ml");
    assert_eq!(c[0]["FragmentNumber"], first[6].0["fragment_number"]);
    assert_eq!(
        c[0]["ProducerTimestamp"],
        first[6].0["producer_timestamp_ms"]
    );
    let cp_index = want[6] as usize;
    assert_eq!(
        c[0]["LagFrames"].as_u64().unwrap() as usize,
        pts.len() - 1 - cp_index,
        "every frame after the checkpoint"
    );
    let lag_ms = c[0]["LagMillis"].as_i64().unwrap();
    assert!(
        (lag_ms - (5000 - pts[cp_index])).abs() <= 40,
        "lag {lag_ms} ms behind the end of the stream"
    );

    // Reconnect from the checkpoint: exactly the frames after it, none skipped, none repeated.
    let q = format!(
        "StreamName=cam&Consumer=ml&Format=RGB24&SamplingInterval=200&Start=CHECKPOINT&End={end}"
    );
    let rest = until_end(&mut connect(&s, &q).await).await;
    let mut all = indexes(&first[..7], dir.path());
    all.extend(indexes(&rest, dir.path()));
    assert_eq!(
        all, want,
        "first session up to the checkpoint, then the resumed one"
    );

    // A checkpoint committed over REST moves the resume point too.
    let r = s
        .call(
            "/v1/frames/consumers/checkpoint",
            json!({"StreamName": "cam", "Consumer": "ml",
                   "FragmentNumber": rest[10].0["fragment_number"],
                   "ProducerTimestamp": rest[10].0["producer_timestamp_ms"]}),
        )
        .await;
    r.assert_ok();
    let again = until_end(&mut connect(&s, &q).await).await;
    assert_eq!(
        indexes(&again, dir.path()),
        indexes(&rest[11..], dir.path())
    );

    // Deleted: gone from the list, and CHECKPOINT has nothing to resume from.
    let r = s
        .request(
            reqwest::Method::DELETE,
            "/v1/frames/consumers?StreamName=cam&Consumer=ml",
        )
        .await;
    r.assert_ok();
    let r = s
        .request(
            reqwest::Method::DELETE,
            "/v1/frames/consumers?StreamName=cam&Consumer=ml",
        )
        .await;
    r.assert_error(404, "ResourceNotFoundException");
    let r = s
        .request(reqwest::Method::GET, "/v1/frames/consumers?StreamName=cam")
        .await;
    assert_eq!(r.assert_ok()["Consumers"], json!([]));
    let r = get(&s, "StreamName=cam&Consumer=ml&Start=CHECKPOINT").await;
    r.assert_error(404, "ResourceNotFoundException");
    s.stop().await;
}

/// A plain GET with WebSocket upgrade headers, so that errors before the upgrade are
/// visible as HTTP responses.
async fn get(s: &TestServer, query: &str) -> Reply {
    s.request(reqwest::Method::GET, &format!("/v1/frames/feed?{query}"))
        .await
}

/// Issue 15: 300 consumers are listed from one read of the stream (each costs a count, not a
/// read of 64 fragments), each with its exact frame lag; a checkpoint at `i64::MIN` (which
/// overflowed the lag arithmetic) is refused and never breaks the listing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_consumers_are_listed_with_exact_lags() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(&dir.path().join("data"), |c| {
        c.limits.max_consumers_per_stream = 300;
    })
    .await;
    ingest(&s, "cam").await;
    let listed = s.call("/listFragments", json!({"StreamName": "cam"})).await;
    let mut fragments: Vec<(String, i64)> = listed.assert_ok()["Fragments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let ms = (f["ProducerTimestamp"].as_f64().unwrap() * 1000.0).round() as i64;
            (f["FragmentNumber"].as_str().unwrap().to_owned(), ms)
        })
        .collect();
    fragments.sort();
    let pts = video_pts(H264);
    let expected = |ts: i64| pts.iter().filter(|&&p| START_MS + p > ts).count() as u64;
    for i in 0..300 {
        let (number, ms) = &fragments[i % fragments.len()];
        s.call(
            "/v1/frames/consumers/checkpoint",
            json!({"StreamName": "cam", "Consumer": format!("c{i:03}"),
                   "FragmentNumber": number, "ProducerTimestamp": ms + 100}),
        )
        .await
        .assert_ok();
    }
    let bad = s
        .call(
            "/v1/frames/consumers/checkpoint",
            json!({"StreamName": "cam", "Consumer": "min", "FragmentNumber": fragments[0].0,
                   "ProducerTimestamp": i64::MIN}),
        )
        .await;
    bad.assert_error(400, "InvalidArgumentException");
    let r = s
        .request(reqwest::Method::GET, "/v1/frames/consumers?StreamName=cam")
        .await;
    let consumers = r.assert_ok()["Consumers"].as_array().unwrap().clone();
    assert_eq!(consumers.len(), 300);
    for c in &consumers {
        let i: usize = c["Consumer"].as_str().unwrap()[1..].parse().unwrap();
        let (_, ms) = &fragments[i % fragments.len()];
        assert_eq!(c["LagFrames"].as_u64().unwrap(), expected(ms + 100), "{c}");
        assert_eq!(c["LagFramesExact"], true, "{c}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_kvs_errors_and_never_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&dir.path().join("data")).await;
    ingest(&s, "cam").await;

    for (q, status, name) in [
        ("StreamName=cam&Format=GIF", 400, "InvalidArgumentException"),
        (
            "StreamName=cam&Format=PNG&JPEGQuality=50",
            400,
            "InvalidArgumentException",
        ),
        (
            "StreamName=cam&WidthPixels=0",
            400,
            "InvalidArgumentException",
        ),
        (
            "StreamName=cam&WidthPixels=3841",
            400,
            "InvalidArgumentException",
        ),
        (
            "StreamName=cam&HeightPixels=99999999999999999999",
            400,
            "InvalidArgumentException",
        ),
        (
            "StreamName=cam&SamplingInterval=0",
            400,
            "InvalidArgumentException",
        ),
        (
            "StreamName=cam&Start=yesterday",
            400,
            "InvalidArgumentException",
        ),
        (
            "StreamName=cam&Start=CHECKPOINT",
            400,
            "InvalidArgumentException",
        ),
        (
            "StreamName=cam&Consumer=a%20b",
            400,
            "InvalidArgumentException",
        ),
        (
            "StreamName=cam&Start=2000&End=1000",
            400,
            "InvalidArgumentException",
        ),
        ("StreamName=cam&Nonsense=1", 400, "InvalidArgumentException"),
        ("Format=JPEG", 400, "InvalidArgumentException"),
        ("StreamName=nope", 404, "ResourceNotFoundException"),
        (
            "StreamName=cam&Consumer=new&Start=CHECKPOINT",
            404,
            "ResourceNotFoundException",
        ),
        // Valid, but a plain HTTP request: the feed is a WebSocket.
        ("StreamName=cam", 400, "InvalidArgumentException"),
    ] {
        let r = get(&s, q).await;
        r.assert_error(status, name);
    }
    // A range in the past with no media.
    let r = get(
        &s,
        &format!(
            "StreamName=cam&Start={}&End={}",
            START_MS - 200_000,
            START_MS - 150_000
        ),
    )
    .await;
    r.assert_error(404, "ResourceNotFoundException");

    // A stream without video (an AAC track only).
    s.create_active(json!({"StreamName": "audio", "DataRetentionInHours": 1}))
        .await;
    let mut aac = h264_track(1);
    aac.track_type = vidstream::mkv::TrackType::Audio;
    aac.codec_id = "A_AAC".into();
    aac.codec_private = bytes::Bytes::from_static(&[0x12, 0x10]);
    aac.video = None;
    aac.audio = Some(vidstream::mkv::AudioSettings {
        sampling_frequency: 44100.0,
        channels: 1,
        bit_depth: None,
    });
    let mut body = body_head(&[aac]);
    body.extend(cluster(0, 5));
    body.extend(cluster(1, 5));
    let (status, _) = put_media(&s.url, "audio", body, 4096).await;
    assert_eq!(status, 200);
    let r = get(&s, "StreamName=audio").await;
    r.assert_error(400, "UnsupportedStreamMediaTypeException");

    // Video that does not decode: each sample is reported, the feed goes on.
    s.create_active(json!({"StreamName": "junk", "DataRetentionInHours": 1}))
        .await;
    let (status, _) = put_media(&s.url, "junk", body_fn(3), 4096).await;
    assert_eq!(status, 200);
    let q = format!(
        "StreamName=junk&Start=EARLIEST&SamplingInterval=1000&End={}",
        BASE_MS + 2000 + 9 * 33
    );
    let mut ws = connect(&s, &q).await;
    let mut errors = 0;
    loop {
        match next(&mut ws).await {
            Event::Message(m) if m["type"] == "frame_error" => errors += 1,
            Event::Message(m) if m["type"] == "end" => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(errors, 3, "one per sampled frame");

    // After the upgrade: a bad client message gets an error message and close 1008.
    let mut ws = connect(&s, "StreamName=cam&Start=NOW").await;
    ws.send(Message::Text("{\"checkpoint\": 5}".into()))
        .await
        .unwrap();
    match next(&mut ws).await {
        Event::Message(m) => {
            assert_eq!(m["type"], "error");
            assert_eq!(m["__type"], "InvalidArgumentException");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(next(&mut ws).await, Event::Closed(Some(1008))));
    // A checkpoint without a Consumer: refused the same way.
    let mut ws = connect(&s, "StreamName=cam&Start=NOW").await;
    ws.send(Message::Text(
        json!({"checkpoint": {"fragment_number": "1", "producer_timestamp_ms": 1}})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    assert!(
        matches!(next(&mut ws).await, Event::Message(m) if m["__type"] == "InvalidArgumentException")
    );

    // The server is still fine.
    s.request(reqwest::Method::GET, "/healthz")
        .await
        .assert_ok();
    s.stop().await;
}

/// `n` fragments of undecodable "H.264" (frames that name themselves).
fn body_fn(n: usize) -> Vec<u8> {
    body(n, 10)
}
