//! GetMedia: every start selector lands on the right frame (decoded by ffmpeg, identified by the
//! fixture's framecode), the history-to-live hand-over has no gap and no duplicate, frames of the
//! fragment being written arrive before it is sealed, and CONTINUATION_TOKEN resumes exactly.

use crate::common::sign::SendSigned;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::TestServer;
use crate::common::frames::decoded_indexes;
use crate::common::media::*;

const START_MS: i64 = 1_700_000_000_000;

/// The framecode index of the first frame of the first document a selector returns.
async fn first_frame(s: &TestServer, name: &str, selector: Value, dir: &Path) -> (u32, Doc) {
    let resp = get_media(&s.url, name, selector.clone()).await;
    let docs = read_docs(resp, 1, Duration::from_secs(10), |_, _| {}).await;
    let doc = docs
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no document for {selector}"));
    let path = dir.join("first.mkv");
    std::fs::write(&path, &doc.bytes).unwrap();
    (decoded_indexes(&path, 1)[0], doc)
}

#[tokio::test]
async fn every_selector_starts_at_the_right_frame() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&dir.path().join("data")).await;
    let numbers = ingest_fixture(&s, "fix", "gst_h264_320x240_gop30_5s.mkv", START_MS).await;
    assert_eq!(numbers.len(), 5);
    let listed = s.call("/listFragments", json!({"StreamName": "fix"})).await;
    let server_ts: Vec<f64> = listed.assert_ok()["Fragments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["ServerTimestamp"].as_f64().unwrap())
        .collect();
    let secs = |ms: i64| ms as f64 / 1000.0;
    assert!(
        server_ts.windows(2).all(|w| w[0] < w[1]),
        "paced ingest gives distinct server times: {server_ts:?}"
    );
    let cases = [
        (json!({"StartSelectorType": "EARLIEST"}), 0),
        (
            json!({"StartSelectorType": "FRAGMENT_NUMBER", "AfterFragmentNumber": numbers[2]}),
            60,
        ),
        (
            json!({"StartSelectorType": "CONTINUATION_TOKEN", "ContinuationToken": numbers[2]}),
            90,
        ),
        (
            json!({"StartSelectorType": "PRODUCER_TIMESTAMP", "StartTimestamp": secs(START_MS + 2500)}),
            60,
        ),
        (
            json!({"StartSelectorType": "PRODUCER_TIMESTAMP", "StartTimestamp": secs(START_MS + 1999)}),
            60,
        ),
        (
            json!({"StartSelectorType": "PRODUCER_TIMESTAMP", "StartTimestamp": secs(START_MS - 60_000)}),
            0,
        ),
        (
            json!({"StartSelectorType": "SERVER_TIMESTAMP", "StartTimestamp": server_ts[3]}),
            90,
        ),
    ];
    for (selector, want) in cases {
        let (got, doc) = first_frame(&s, "fix", selector.clone(), dir.path()).await;
        assert_eq!(got, want, "{selector}");
        let k = (want / 30) as usize;
        assert_eq!(doc.number, numbers[k], "{selector}");
        assert_eq!(
            doc.token.as_deref(),
            Some(numbers[k].as_str()),
            "continuation token"
        );
        assert!(
            doc.behind
                .as_deref()
                .and_then(|b| b.parse::<i64>().ok())
                .is_some()
        );
        assert_eq!(doc.frames.len(), 30);
    }
    for (selector, status, name) in [
        (
            json!({"StartSelectorType": "SIDEWAYS"}),
            400,
            "InvalidArgumentException",
        ),
        (
            json!({"StartSelectorType": "FRAGMENT_NUMBER"}),
            400,
            "InvalidArgumentException",
        ),
        (
            json!({"StartSelectorType": "FRAGMENT_NUMBER", "AfterFragmentNumber": "9".repeat(47)}),
            404,
            "ResourceNotFoundException",
        ),
        (
            json!({"StartSelectorType": "SERVER_TIMESTAMP"}),
            400,
            "InvalidArgumentException",
        ),
        (
            json!({"StartSelectorType": "SERVER_TIMESTAMP", "StartTimestamp": "noon"}),
            400,
            "InvalidArgumentException",
        ),
    ] {
        s.call(
            "/getMedia",
            json!({"StreamName": "fix", "StartSelector": selector}),
        )
        .await
        .assert_error(status, name);
    }
    s.call(
        "/getMedia",
        json!({"StreamName": "nope", "StartSelector": {"StartSelectorType": "NOW"}}),
    )
    .await
    .assert_error(404, "ResourceNotFoundException");
    s.stop().await;
}

/// A producer pushing in real time, frame by frame.
async fn produce_live(
    url: String,
    stream: &'static str,
    fragments: usize,
    frames: usize,
    pause_before: Option<(usize, tokio::sync::oneshot::Receiver<()>)>,
) -> Vec<Ack> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(64);
    let writer = tokio::spawn(async move {
        let mut pause = pause_before;
        tx.send(Ok(body_head(&[h264_track(1)]).into()))
            .await
            .unwrap();
        for i in 0..fragments {
            if let Some((k, _)) = &pause
                && *k == i
                && let Some((_, wait)) = pause.take()
            {
                // Fragment i-1 is complete but unsealed (no next cluster yet): hold here until
                // the reader has seen all its frames.
                tokio::time::timeout(Duration::from_secs(5), wait)
                    .await
                    .expect("the reader saw the unsealed fragment's frames")
                    .unwrap();
            }
            let mut c = Vec::new();
            vidstream::mkv::write_cluster_start(&mut c, BASE_MS + i as u64 * 1000, None);
            tx.send(Ok(c.into())).await.unwrap();
            for j in 0..frames {
                let mut b = Vec::new();
                vidstream::mkv::write_simple_block(
                    &mut b,
                    1,
                    (j * 33) as i16,
                    j == 0,
                    false,
                    false,
                    &payload(i, j),
                );
                tx.send(Ok(b.into())).await.unwrap();
                tokio::time::sleep(Duration::from_millis(8)).await;
            }
        }
    });
    let resp = reqwest::Client::new()
        .post(format!("{url}/putMedia"))
        .header("x-amzn-stream-name", stream)
        .header("x-amzn-fragment-timecode-type", "ABSOLUTE")
        .body(channel_body(rx))
        .send_signed()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    writer.await.unwrap();
    parse_acks(&text)
}

fn frame_ids(docs: &[Doc]) -> Vec<(usize, usize)> {
    let mut ids = Vec::new();
    for d in docs {
        for (_, _, data) in &d.frames {
            let text = String::from_utf8_lossy(&data[..32]).into_owned();
            let i: usize = text[9..13].parse().unwrap();
            let j: usize = text[20..24].parse().unwrap();
            assert_eq!(data, &payload(i, j));
            ids.push((i, j));
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_hand_over_is_gap_free_and_frames_arrive_before_the_seal() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    s.create_active(json!({"StreamName": "live", "DataRetentionInHours": 1}))
        .await;
    const FRAGS: usize = 8;
    const FRAMES: usize = 10;
    let (saw_tx, saw_rx) = tokio::sync::oneshot::channel();
    let producer = tokio::spawn(produce_live(
        s.url.clone(),
        "live",
        FRAGS,
        FRAMES,
        Some((6, saw_rx)),
    ));
    // Let a few fragments be persisted, then read from the EARLIEST: history, then live.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let resp = get_media(&s.url, "live", json!({"StartSelectorType": "EARLIEST"})).await;
    let mut saw_tx = Some(saw_tx);
    let docs = read_docs(resp, FRAGS - 1, Duration::from_secs(20), |doc, frames| {
        // Fragment 5 is complete but unsealed while the producer waits: its frames must still
        // reach us.
        if doc == 5
            && frames == FRAMES
            && let Some(tx) = saw_tx.take()
        {
            let _ = tx.send(());
        }
    })
    .await;
    let acks = producer.await.unwrap();
    assert_eq!(persisted(&acks).len(), FRAGS);
    let want: Vec<(usize, usize)> = (0..FRAGS - 1)
        .flat_map(|i| (0..FRAMES).map(move |j| (i, j)))
        .collect();
    assert_eq!(frame_ids(&docs), want, "every frame once, in order");
    for (d, n) in docs.iter().zip(persisted(&acks)) {
        assert_eq!(d.number, n);
        assert_eq!(d.token.as_deref(), Some(n.as_str()));
        assert!(d.error.is_none());
    }

    // CONTINUATION_TOKEN resumes right after the last fragment read.
    let resume = get_media(
        &s.url,
        "live",
        json!({"StartSelectorType": "CONTINUATION_TOKEN", "ContinuationToken": docs[3].token}),
    )
    .await;
    let rest = read_docs(resume, FRAGS - 4, Duration::from_secs(10), |_, _| {}).await;
    let want: Vec<(usize, usize)> = (4..FRAGS)
        .flat_map(|i| (0..FRAMES).map(move |j| (i, j)))
        .collect();
    assert_eq!(frame_ids(&rest), want);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn now_starts_with_the_fragment_being_written() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    s.create_active(json!({"StreamName": "now", "DataRetentionInHours": 1}))
        .await;
    let producer = tokio::spawn(produce_live(s.url.clone(), "now", 6, 10, None));
    // Join once the stream is under way (at least one fragment stored), whatever the load.
    for _ in 0..500 {
        let r = s.call("/listFragments", json!({"StreamName": "now"})).await;
        if !r.assert_ok()["Fragments"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let resp = get_media(&s.url, "now", json!({"StartSelectorType": "NOW"})).await;
    let docs = read_docs(resp, 2, Duration::from_secs(10), |_, _| {}).await;
    producer.await.unwrap();
    let ids = frame_ids(&docs);
    let first = ids[0].0;
    assert!(
        (1..=4).contains(&first),
        "joined near the live edge: {ids:?}"
    );
    let want: Vec<(usize, usize)> = (first..first + 2)
        .flat_map(|i| (0..10).map(move |j| (i, j)))
        .collect();
    assert_eq!(
        ids, want,
        "from the first frame of the fragment in progress"
    );
    s.stop().await;
}

/// DeleteStream ends the live tails of the stream (they do not wait for a producer that may
/// never stop), and a new reader of the name is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_stream_ends_live_readers() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let info = s
        .create_active(json!({"StreamName": "gone", "DataRetentionInHours": 1}))
        .await;
    let arn = info["StreamARN"].as_str().expect("StreamARN").to_owned();
    // About 12 s of live media: far longer than the reader waits below.
    let producer = tokio::spawn(produce_live(s.url.clone(), "gone", 40, 30, None));
    let mut resp = get_media(&s.url, "gone", json!({"StartSelectorType": "NOW"})).await;
    let first = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
        .await
        .expect("live media arrives")
        .unwrap();
    assert!(first.is_some());
    s.call("/deleteStream", json!({"StreamARN": arn}))
        .await
        .assert_ok();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = resp.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the live tail ended after DeleteStream");
    producer.abort();
    // The media and row go in the background (the stream is DELETING until then), which can
    // take longer than the tail's end on a loaded machine.
    s.wait_status("gone", None).await;
    s.call(
        "/getMedia",
        json!({"StreamName": "gone", "StartSelector": {"StartSelectorType": "NOW"}}),
    )
    .await
    .assert_error(404, "ResourceNotFoundException");
    s.stop().await;
}

/// Streams that persist nothing still serve live readers (KVS's in-memory buffer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_zero_streams_are_readable_live() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    s.create_active(json!({"StreamName": "mem"})).await;
    let producer = tokio::spawn(produce_live(s.url.clone(), "mem", 5, 10, None));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let resp = get_media(&s.url, "mem", json!({"StartSelectorType": "EARLIEST"})).await;
    let docs = read_docs(resp, 3, Duration::from_secs(10), |_, _| {}).await;
    let acks = producer.await.unwrap();
    assert!(persisted(&acks).is_empty());
    let ids = frame_ids(&docs);
    assert_eq!(ids[0], (0, 0), "the buffer kept the start of the stream");
    assert_eq!(ids.len(), 30);
    s.stop().await;
}

/// A reader that stops reading never slows ingest; when it reads again it is told where it lost
/// live data (an error-tagged document) and catches up from the store, so every fragment still
/// arrives whole and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_reader_does_not_slow_ingest_and_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    s.create_active(json!({"StreamName": "slow", "DataRetentionInHours": 1}))
        .await;
    // Start with one fragment so the reader has a live edge to follow.
    let (_, first) = put_media(&s.url, "slow", body(1, 5), 4096).await;
    assert_eq!(persisted(&first).len(), 1);
    let resp = get_media(&s.url, "slow", json!({"StartSelectorType": "EARLIEST"})).await;
    // Far more events than the bus keeps for one subscriber (4096), while nobody reads.
    const FRAGS: usize = 30;
    const FRAMES: usize = 300;
    let big = vec![0x42u8; 4096];
    let mut b = body_head(&[h264_track(1)]);
    for i in 1..=FRAGS {
        vidstream::mkv::write_cluster_start(&mut b, BASE_MS + i as u64 * 20_000, None);
        for j in 0..FRAMES {
            vidstream::mkv::write_simple_block(
                &mut b,
                1,
                (j * 33) as i16,
                j == 0,
                false,
                false,
                &big,
            );
        }
    }
    let started = std::time::Instant::now();
    let (_, acks) = put_media(&s.url, "slow", b, 1 << 16).await;
    let ingest_time = started.elapsed();
    assert_eq!(
        persisted(&acks).len(),
        FRAGS,
        "ingest completed while the reader stalled"
    );
    assert!(ingest_time < Duration::from_secs(20), "{ingest_time:?}");
    // Now read everything: 36 MB of frames could not all wait in socket buffers, so the reader
    // fell behind the bus at least once.
    let docs = read_docs(resp, FRAGS + 2, Duration::from_secs(30), |_, _| {}).await;
    let whole: Vec<&Doc> = docs.iter().filter(|d| d.error.is_none()).collect();
    assert_eq!(whole.len(), FRAGS + 1, "every fragment arrived whole");
    assert_eq!(
        docs.iter().filter(|d| d.error.is_some()).count(),
        1,
        "one partial document marks the fall-behind"
    );
    let numbers: Vec<String> = std::iter::once(persisted(&first)[0].clone())
        .chain(persisted(&acks))
        .collect();
    // Every fragment arrives whole exactly once, in order; at most one partial document
    // (error-tagged) marks where the reader fell behind.
    let got: Vec<&str> = whole.iter().map(|d| d.number.as_str()).collect();
    let want: Vec<&str> = numbers.iter().map(String::as_str).collect();
    assert_eq!(got, want);
    for d in &whole {
        let i = d.frames.len();
        assert!(i == 5 || i == FRAMES, "whole fragments only: {i}");
    }
    s.stop().await;
}
