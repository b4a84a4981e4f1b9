//! Storage tiers end to end (`[store] media = "local-then-object"` on a real S3-protocol server,
//! s3s-fs on loopback): a HOT stream's sealed segments move to the object store at the
//! configured age while GetMediaForFragmentList, GetClip, HLS and GetImages answer the same
//! bytes before and after (across a restart, so nothing comes from a cache); a WARM stream's
//! move as soon as they are sealed, and UpdateStreamStorageConfiguration switches a stream.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use vidstream::config::{Config, MediaEngine};
use vidstream::store::object::ObjectStore;
use vidstream::testbed::s3::{Engine, S3Server};

use crate::common::TestServer;
use crate::common::media::{media_for_fragments, put_fixture_numbers};
use crate::common::sign::SendSigned;

const H264: &str = "gst_h264_320x240_gop30_5s.mkv";
const START_MS: i64 = 1_700_000_000_000;

fn tiered(c: &mut Config, s3: &S3Server, prefix: &str, hot_tier_secs: u64) {
    c.store.media = MediaEngine::LocalThenObject;
    c.store.hot_tier_secs = hot_tier_secs;
    c.store.s3.endpoint = s3.endpoint();
    c.store.s3.bucket = s3.bucket().to_owned();
    c.store.s3.prefix = prefix.to_owned();
    c.store.s3.access_key_id = s3.access_key().to_owned();
    c.store.s3.secret_access_key = s3.secret_key().into();
    // One fragment per segment: every segment but the newest is sealed at once.
    c.segment_max_bytes = 1024;
    c.retention.interval_secs = 1;
}

/// Segment files under the data directory.
fn local_segments(dir: &Path) -> usize {
    walk(&dir.join("media"))
}

fn walk(p: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(p) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() {
                walk(&path)
            } else {
                usize::from(path.extension().is_some_and(|x| x == "seg"))
            }
        })
        .sum()
}

async fn objects(s3: &S3Server, prefix: &str) -> usize {
    ObjectStore::new(&s3.options(prefix))
        .unwrap()
        .list("media/")
        .await
        .unwrap()
        .len()
}

async fn wait_objects(s3: &S3Server, prefix: &str, at_least: usize) -> usize {
    for _ in 0..300 {
        let n = objects(s3, prefix).await;
        if n >= at_least {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {at_least} objects under {prefix} after 15 s");
}

/// What the read APIs answer for the stream: every response's bytes, to compare.
async fn reads(s: &TestServer, stream: &str, numbers: &[String]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    out.push((
        "GetMediaForFragmentList".to_owned(),
        media_for_fragments(&s.url, stream, numbers).await.to_vec(),
    ));
    let range = json!({
        "StartTimestamp": START_MS as f64 / 1000.0,
        "EndTimestamp": START_MS as f64 / 1000.0 + 5.0
    });
    let clip = reqwest::Client::new()
        .post(format!("{}/getClip", s.url))
        .body(
            json!({"StreamName": stream, "ClipFragmentSelector": {
                "FragmentSelectorType": "PRODUCER_TIMESTAMP", "TimestampRange": range}})
            .to_string(),
        )
        .send_signed()
        .await
        .unwrap();
    assert_eq!(clip.status(), 200);
    out.push(("GetClip".to_owned(), clip.bytes().await.unwrap().to_vec()));
    let r = s
        .call(
            "/getHLSStreamingSessionURL",
            json!({"StreamName": stream, "PlaybackMode": "ON_DEMAND", "ContainerFormat": "FRAGMENTED_MP4",
                   "HLSFragmentSelector": {"FragmentSelectorType": "PRODUCER_TIMESTAMP", "TimestampRange": range}}),
        )
        .await;
    let url = r.assert_ok()["HLSStreamingSessionURL"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = url
        .split("SessionToken=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    for n in numbers {
        let path =
            format!("/hls/v1/getMP4MediaFragment.mp4?SessionToken={token}&FragmentNumber={n}");
        let resp = reqwest::Client::new()
            .get(format!("{}{path}", s.url))
            .send_signed()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        out.push((
            format!("HLS segment {n}"),
            resp.bytes().await.unwrap().to_vec(),
        ));
    }
    let images = s
        .call(
            "/getImages",
            json!({"StreamName": stream, "ImageSelectorType": "PRODUCER_TIMESTAMP",
                   "StartTimestamp": START_MS as f64 / 1000.0, "EndTimestamp": START_MS as f64 / 1000.0 + 4.9,
                   "SamplingInterval": 500, "Format": "PNG"}),
        )
        .await;
    let list: &Vec<Value> = images.assert_ok()["Images"].as_array().unwrap();
    assert_eq!(list.len(), 10);
    for (i, img) in list.iter().enumerate() {
        let content = img["ImageContent"]
            .as_str()
            .unwrap_or_else(|| panic!("image {i}: {img}"));
        out.push((format!("image {i}"), content.as_bytes().to_vec()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_media_moves_at_its_age_and_every_read_answers_the_same_bytes() {
    hot_media_moves(Engine::S3sFs).await;
}

/// The same on SeaweedFS, a distributed object store (master, volume, filer, S3 gateway).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_media_moves_on_seaweedfs() {
    hot_media_moves(Engine::SeaweedFs).await;
}

async fn hot_media_moves(engine: Engine) {
    let s3 =
        tokio::task::spawn_blocking(move || S3Server::shared(engine).map_err(|e| e.to_string()))
            .await
            .unwrap()
            .unwrap();
    let prefix = format!("tier-hot-{:08x}", rand::random::<u32>());
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(dir.path(), |c| tiered(c, s3, &prefix, 2)).await;
    s.create_active(json!({"StreamName": "cam", "DataRetentionInHours": 24}))
        .await;
    let numbers = put_fixture_numbers(&s.url, "cam", H264, START_MS).await;
    assert_eq!(numbers.len(), 5);
    let before = reads(&s, "cam", &numbers).await;
    assert_eq!(local_segments(dir.path()), 5);
    // HOT: after two seconds, the four sealed segments move; the newest stays local.
    let moved = wait_objects(s3, &prefix, 4).await;
    assert_eq!(moved, 4);
    for _ in 0..100 {
        if local_segments(dir.path()) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        local_segments(dir.path()),
        1,
        "moved segments leave the disk"
    );
    s.stop().await;
    // A fresh server (cold caches) reads four fragments from the object store, one from disk.
    let s = TestServer::start_with(dir.path(), |c| tiered(c, s3, &prefix, 2)).await;
    let after = reads(&s, "cam", &numbers).await;
    assert_eq!(before.len(), after.len());
    for ((what, a), (_, b)) in before.iter().zip(&after) {
        assert!(
            a == b,
            "{what} differs after the move ({} vs {} bytes)",
            a.len(),
            b.len()
        );
    }
    // Deleting the stream deletes its objects.
    let d = s
        .call("/describeStream", json!({"StreamName": "cam"}))
        .await;
    let arn = d.assert_ok()["StreamInfo"]["StreamARN"]
        .as_str()
        .unwrap()
        .to_owned();
    s.call("/deleteStream", json!({"StreamARN": arn}))
        .await
        .assert_ok();
    s.wait_status("cam", None).await;
    assert_eq!(objects(s3, &prefix).await, 0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_moves_once_sealed_and_the_tier_can_be_switched() {
    let s3 =
        tokio::task::spawn_blocking(|| S3Server::shared(Engine::S3sFs).map_err(|e| e.to_string()))
            .await
            .unwrap()
            .unwrap();
    let prefix = format!("tier-warm-{:08x}", rand::random::<u32>());
    let dir = tempfile::tempdir().unwrap();
    // HOT media never moves here.
    let s = TestServer::start_with(dir.path(), |c| tiered(c, s3, &prefix, 0)).await;
    s.create_active(json!({"StreamName": "hot", "DataRetentionInHours": 24}))
        .await;
    s.create_active(json!({"StreamName": "warm", "DataRetentionInHours": 24,
        "StreamStorageConfiguration": {"DefaultStorageTier": "WARM"}}))
        .await;
    put_fixture_numbers(&s.url, "hot", H264, START_MS).await;
    put_fixture_numbers(&s.url, "warm", H264, START_MS).await;
    assert_eq!(
        wait_objects(s3, &prefix, 4).await,
        4,
        "the WARM stream's sealed segments"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(objects(s3, &prefix).await, 4, "the HOT stream's stay local");
    // Switched to WARM, the HOT stream's sealed segments follow.
    let d = s
        .call("/describeStream", json!({"StreamName": "hot"}))
        .await;
    let version = d.assert_ok()["StreamInfo"]["Version"]
        .as_str()
        .unwrap()
        .to_owned();
    s.call(
        "/updateStreamStorageConfiguration",
        json!({"StreamName": "hot", "CurrentVersion": version,
               "StreamStorageConfiguration": {"DefaultStorageTier": "WARM"}}),
    )
    .await
    .assert_ok();
    assert_eq!(wait_objects(s3, &prefix, 8).await, 8);
    s.stop().await;
}
