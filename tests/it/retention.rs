//! Retention against a real server on a `SimClock`: expired media leaves ListFragments,
//! GetMediaForFragmentList and the disk while newer media stays; size caps hold per stream and in
//! total (oldest media first); DECREASE_DATA_RETENTION takes effect without waiting for the
//! job's interval; a reader streaming an expiring segment gets every byte; the data directory
//! passes `vidstream check` afterwards.

use crate::common::sign::SendSigned;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use vidstream::config::Config;
use vidstream::time::{ServerTime, SimClock};

use crate::common;
use crate::common::TestServer;
use crate::common::media::{body_head, cluster_at, h264_track, persisted, put_media};

const T0: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;

/// Small segments (several per ingest), a short rotation age (a stream's newest segment is
/// closed 10 + 30 + 60 s after its first fragment), and a job that only runs when poked.
fn tweak(c: &mut Config) {
    c.segment_max_bytes = 8192;
    c.segment_max_secs = 10;
    c.retention.interval_secs = 3600;
    c.retention.grace_secs = 30;
}

async fn start(dir: &Path, clock: &SimClock, more: impl FnOnce(&mut Config)) -> TestServer {
    TestServer::start_with_clock(
        dir,
        |c| {
            tweak(c);
            more(c);
        },
        Arc::new(clock.clone()),
    )
    .await
}

/// PutMedia of `n` fragments of `frames` frames whose producer timestamps start `first` seconds
/// after the test epoch (4 s apart, so later batches continue the stream's timeline). Returns
/// the PERSISTED fragment numbers.
async fn ingest(
    s: &TestServer,
    stream: &str,
    first: usize,
    n: usize,
    frames: usize,
) -> Vec<String> {
    let mut b = body_head(&[h264_track(1)]);
    for i in first..first + n {
        b.extend(cluster_at(
            common::media::BASE_MS + i as u64 * 4000,
            i,
            frames,
        ));
    }
    let (status, acks) = put_media(&s.url, stream, b, 64 * 1024).await;
    assert_eq!(status, 200, "{acks:?}");
    let numbers = persisted(&acks);
    assert_eq!(numbers.len(), n, "{acks:?}");
    numbers
}

fn media_request(s: &TestServer, stream: &str, numbers: &[String]) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{}/getMediaForFragmentList", s.url))
        .body(json!({ "StreamName": stream, "Fragments": numbers }).to_string())
        .timeout(Duration::from_secs(60))
}

async fn media(s: &TestServer, stream: &str, numbers: &[String]) -> (u16, Vec<u8>) {
    let resp = media_request(s, stream, numbers)
        .send_signed()
        .await
        .expect("sent");
    let status = resp.status().as_u16();
    (status, resp.bytes().await.expect("body").to_vec())
}

/// The stream id a fragment number carries (digits 2..17).
fn stream_id(number: &str) -> i64 {
    number[2..17].parse().expect("fragment number")
}

/// Segment files of the stream, and their total size.
fn on_disk(dir: &Path, id: i64) -> (usize, u64) {
    let mut files = 0;
    let mut bytes = 0;
    let d = dir.join("media").join(id.to_string());
    for e in std::fs::read_dir(d).expect("media dir") {
        let e = e.expect("entry");
        if e.file_name().to_string_lossy().ends_with(".seg") {
            files += 1;
            bytes += e.metadata().expect("metadata").len();
        }
    }
    (files, bytes)
}

async fn stored_bytes(s: &TestServer, id: i64) -> u64 {
    s.store
        .stored_bytes(vidstream::model::StreamId(id))
        .await
        .expect("stored bytes")
}

async fn check_clean(dir: &Path) {
    let report = crate::common::backend::check(dir)
        .await
        .expect("check runs");
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
}

async fn create(s: &TestServer, name: &str, hours: u32) -> Value {
    s.create_active(json!({ "StreamName": name, "DataRetentionInHours": hours }))
        .await
}

#[tokio::test]
async fn expired_fragments_leave_listings_reads_and_disk() {
    let dir = tempfile::tempdir().unwrap();
    let clock = SimClock::new(ServerTime(T0));
    let s = start(dir.path(), &clock, |_| {}).await;
    create(&s, "cam", 1).await;
    let old = ingest(&s, "cam", 0, 12, 10).await;
    clock.advance_ms(2 * HOUR);
    let new = ingest(&s, "cam", 12, 12, 10).await;
    let id = stream_id(&old[0]);
    let (files_before, _) = on_disk(dir.path(), id);
    let (status, new_bytes) = media(&s, "cam", &new).await;
    assert_eq!(status, 200);

    // Phase 1: the old fragments leave the index at once.
    let r = s.store.run_retention_once().await.unwrap();
    assert!(r.segments_marked >= 2, "{r:?}");
    assert_eq!(s.fragment_numbers("cam").await, new);
    for n in [&old[0], &old[11]] {
        let (status, body) = media(&s, "cam", std::slice::from_ref(n)).await;
        assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
        let err: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(err["__type"], "ResourceNotFoundException");
    }
    assert_eq!(
        media(&s, "cam", &new).await,
        (200, new_bytes.clone()),
        "newer media is untouched"
    );
    assert_eq!(
        on_disk(dir.path(), id).0,
        files_before,
        "files wait for the grace period"
    );

    // Phase 2: their bytes leave the disk.
    clock.advance_ms(31_000);
    let r = s.store.run_retention_once().await.unwrap();
    let (files_after, bytes_after) = on_disk(dir.path(), id);
    assert_eq!(files_after, files_before - r.files_deleted, "{r:?}");
    assert!(r.files_deleted >= 2 && r.bytes_freed > 0, "{r:?}");
    assert_eq!(
        bytes_after,
        stored_bytes(&s, id).await,
        "only indexed media is left"
    );
    assert_eq!(media(&s, "cam", &new).await, (200, new_bytes));
    s.stop().await;
    check_clean(dir.path()).await;
}

#[tokio::test]
async fn stream_cap_keeps_each_stream_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = SimClock::new(ServerTime(T0));
    let s = start(dir.path(), &clock, |c| {
        c.retention.stream_max_bytes = 30_000
    })
    .await;
    create(&s, "a", 24).await;
    create(&s, "b", 24).await;
    let a = ingest(&s, "a", 0, 24, 10).await;
    let b = ingest(&s, "b", 0, 8, 10).await;
    let (ida, idb) = (stream_id(&a[0]), stream_id(&b[0]));
    assert!(
        stored_bytes(&s, ida).await > 60_000,
        "the test needs `a` over the cap"
    );
    let b_bytes = stored_bytes(&s, idb).await;
    assert!(b_bytes < 30_000, "and `b` under it");

    let r = s.store.run_retention_once().await.unwrap();
    assert!(r.segments_marked > 0, "{r:?}");
    let kept = s.fragment_numbers("a").await;
    assert!(stored_bytes(&s, ida).await <= 30_000);
    assert!(
        !kept.is_empty() && a.ends_with(&kept),
        "the oldest went: {kept:?}"
    );
    assert_eq!(s.fragment_numbers("b").await, b, "`b` is under the cap");
    clock.advance_ms(31_000);
    s.store.run_retention_once().await.unwrap();
    assert_eq!(on_disk(dir.path(), ida).1, stored_bytes(&s, ida).await);
    assert_eq!(on_disk(dir.path(), idb).1, b_bytes);
    s.stop().await;
    check_clean(dir.path()).await;
}

#[tokio::test]
async fn total_cap_deletes_the_oldest_media_across_streams() {
    let dir = tempfile::tempdir().unwrap();
    let clock = SimClock::new(ServerTime(T0));
    let s = start(dir.path(), &clock, |c| c.retention.total_max_bytes = 40_000).await;
    create(&s, "old", 24).await;
    create(&s, "new", 24).await;
    let old = ingest(&s, "old", 0, 12, 10).await;
    clock.advance_ms(10 * 60_000); // `old`'s last segment is closed by now
    let new = ingest(&s, "new", 0, 24, 10).await;
    let (id_old, id_new) = (stream_id(&old[0]), stream_id(&new[0]));
    let before = stored_bytes(&s, id_old).await + stored_bytes(&s, id_new).await;
    assert!(before > 80_000, "{before}");

    s.store.run_retention_once().await.unwrap();
    assert!(
        s.fragment_numbers("old").await.is_empty(),
        "every segment of the older stream goes before any of the newer one"
    );
    let kept = s.fragment_numbers("new").await;
    assert!(!kept.is_empty() && new.ends_with(&kept) && kept.len() < new.len());
    let after = stored_bytes(&s, id_new).await;
    assert!(after <= 40_000 && after > 20_000, "{after}");
    clock.advance_ms(31_000);
    s.store.run_retention_once().await.unwrap();
    assert_eq!(on_disk(dir.path(), id_old), (0, 0));
    assert_eq!(on_disk(dir.path(), id_new).1, after);
    s.stop().await;
    check_clean(dir.path()).await;
}

#[tokio::test]
async fn decrease_retention_takes_effect_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let clock = SimClock::new(ServerTime(T0));
    // The job runs once at start and then only when poked (the interval is an hour).
    let s = start(dir.path(), &clock, |_| {}).await;
    let info = create(&s, "cam", 24).await;
    let old = ingest(&s, "cam", 0, 6, 10).await;
    clock.advance_ms(2 * HOUR);
    let new = ingest(&s, "cam", 6, 6, 10).await;
    let all: Vec<String> = old.iter().chain(&new).cloned().collect();
    assert_eq!(
        s.fragment_numbers("cam").await,
        all,
        "24 h retention keeps both"
    );

    s.call(
        "/updateDataRetention",
        json!({
            "StreamName": "cam",
            "CurrentVersion": info["Version"],
            "Operation": "DECREASE_DATA_RETENTION",
            "DataRetentionChangeInHours": 23,
        }),
    )
    .await
    .assert_ok();
    let mut now = Vec::new();
    for _ in 0..500 {
        now = s.fragment_numbers("cam").await;
        if now.len() < all.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        now, new,
        "media older than the new retention went without a pass being run"
    );
    s.stop().await;
    check_clean(dir.path()).await;
}

#[tokio::test]
async fn a_reader_inside_an_expiring_segment_gets_every_byte() {
    let dir = tempfile::tempdir().unwrap();
    let clock = SimClock::new(ServerTime(T0));
    let s = start(dir.path(), &clock, |c| c.segment_max_bytes = 64 * 1024).await;
    create(&s, "cam", 1).await;
    // ~35 KB fragments, ~7 MB in all: far more than the socket buffers, so the server is still
    // reading segments when the client pauses.
    let numbers = ingest(&s, "cam", 0, 200, 100).await;
    let id = stream_id(&numbers[0]);
    let (status, expected) = media(&s, "cam", &numbers).await;
    assert_eq!(status, 200);
    assert!(expected.len() > 6_000_000, "{}", expected.len());

    let mut resp = media_request(&s, "cam", &numbers)
        .send_signed()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 200);
    let mut got = resp
        .chunk()
        .await
        .expect("first chunk")
        .expect("not empty")
        .to_vec();

    // Everything expires: phase 1 takes it out of the index ...
    clock.advance_ms(2 * HOUR);
    let r = s.store.run_retention_once().await.unwrap();
    assert!(r.segments_marked >= 50, "{r:?}");
    assert!(s.fragment_numbers("cam").await.is_empty());
    assert_eq!(media(&s, "cam", &numbers[..1]).await.0, 404);
    // ... and phase 2 spares the segments the reader still holds.
    clock.advance_ms(31_000);
    let r = s.store.run_retention_once().await.unwrap();
    assert!(r.held > 0, "the reader still holds segments: {r:?}");
    assert!(on_disk(dir.path(), id).0 >= r.held);

    while let Some(c) = resp.chunk().await.expect("the rest of the body") {
        got.extend_from_slice(&c);
    }
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "every byte arrived as before retention");

    // The reader is done: its segments go (the release pokes the job; a pass here does too).
    for _ in 0..200 {
        s.store.run_retention_once().await.unwrap();
        if on_disk(dir.path(), id).0 == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(on_disk(dir.path(), id), (0, 0));
    s.stop().await;
    check_clean(dir.path()).await;
}

/// Issue 15: a paused GetMediaForFragmentList reader kept a deleted stream DELETING (its name
/// not reusable) for as long as it stayed paused. Past `reader_hold_timeout_secs` its media goes
/// anyway: the stream is gone, its name reusable, and the paused response ends early with a
/// prefix of the right bytes, never other data.
#[tokio::test]
async fn a_paused_reader_cannot_keep_a_deleted_stream() {
    let dir = tempfile::tempdir().unwrap();
    let clock = SimClock::new(ServerTime(T0));
    let s = start(dir.path(), &clock, |c| {
        c.segment_max_bytes = 64 * 1024;
        c.retention.reader_hold_timeout_secs = 1;
    })
    .await;
    create(&s, "cam", 1).await;
    let numbers = ingest(&s, "cam", 0, 200, 100).await;
    let (_, expected) = media(&s, "cam", &numbers).await;
    let mut resp = media_request(&s, "cam", &numbers)
        .send_signed()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 200);
    let mut got = resp
        .chunk()
        .await
        .expect("first chunk")
        .expect("not empty")
        .to_vec();

    let described = s
        .call("/describeStream", json!({"StreamName": "cam"}))
        .await;
    let arn = described.assert_ok()["StreamInfo"]["StreamARN"].clone();
    s.call("/deleteStream", json!({"StreamARN": arn}))
        .await
        .assert_ok();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let d = s
            .call("/describeStream", json!({"StreamName": "cam"}))
            .await;
        if d.status == 404 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the stream is still there: {d:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    create(&s, "cam", 1).await;

    // The paused response ends (early, or complete if it was all buffered) and what it sent is
    // the start of the right bytes.
    let rest = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(c)) = resp.chunk().await {
            got.extend_from_slice(&c);
        }
    })
    .await;
    assert!(rest.is_ok(), "the paused response ends");
    assert!(got.len() <= expected.len());
    assert!(got[..] == expected[..got.len()], "only the right bytes");
    s.stop().await;
}
