//! gst-made fixtures through PutMedia and back out of GetMediaForFragmentList, checked with an
//! independent demuxer (ffprobe): same packets, same payload bytes (MD5), same key flags, same
//! timing. And the malformed fixtures get the right ERROR acks.

use crate::common::sign::SendSigned;
use serde_json::json;

use crate::common::TestServer;
use crate::common::media::*;
use crate::common::probe::{fixture, normalized, packets, split_documents};

async fn put_relative(url: &str, stream: &str, body: Vec<u8>) -> Vec<Ack> {
    let resp = reqwest::Client::new()
        .post(format!("{url}/putMedia"))
        .header("x-amzn-stream-name", stream)
        .header("x-amzn-fragment-timecode-type", "RELATIVE")
        .header("x-amzn-producer-start-timestamp", "1700000000.000")
        .body(body)
        .send_signed()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    parse_acks(&resp.text().await.unwrap())
}

#[tokio::test]
async fn fixtures_round_trip_byte_exact_per_ffprobe() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    for (i, (file, clusters)) in [
        ("gst_h264_320x240_gop30_5s.mkv", 5),
        ("gst_h265_320x240_gop30_3s.mkv", 3),
        ("gst_h264_aac_320x240_3s.mkv", 3),
        ("kvs_style_h264_unknown_size.mkv", 3),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("f{i}");
        s.create_active(json!({"StreamName": name, "DataRetentionInHours": 1}))
            .await;
        let original = fixture(file);
        let acks = put_relative(&s.url, &name, std::fs::read(&original).unwrap()).await;
        let numbers = persisted(&acks);
        assert_eq!(numbers.len(), clusters, "{file}: {acks:?}");
        let listed = s.call("/listFragments", json!({"StreamName": name})).await;
        let producer: Vec<i64> = listed.assert_ok()["Fragments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["ProducerTimestamp"].as_f64().unwrap() * 1000.0).round() as i64)
            .collect();
        assert_eq!(producer[0], 1_700_000_000_000, "{file}: RELATIVE rebased");
        let bytes = media_for_fragments(&s.url, &name, &numbers).await;
        // One standalone document per fragment; ffprobe reads each on its own (ffmpeg stops
        // at the end of a file's first Segment).
        let docs = split_documents(&bytes);
        assert_eq!(docs.len(), clusters, "{file}");
        let mut got = Vec::new();
        for (k, doc) in docs.iter().enumerate() {
            let out = dir.path().join(format!("{name}-{k}.mkv"));
            std::fs::write(&out, doc).unwrap();
            got.extend(packets(&out));
        }
        let want = normalized(packets(&original));
        let got = normalized(got);
        assert!(!want.is_empty());
        assert_eq!(got.len(), want.len(), "{file}: packet count");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{file}");
        }
    }
    s.stop().await;
}

#[tokio::test]
async fn malformed_fixtures_get_their_error_acks() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    for (i, (file, id, code)) in [
        ("truncated_cluster.mkv", 4006, "INVALID_MKV_DATA"),
        ("garbage.bin", 4006, "INVALID_MKV_DATA"),
        ("huge_element_size.mkv", 4001, "MAX_FRAGMENT_SIZE_REACHED"),
        (
            "decreasing_timecodes.mkv",
            4004,
            "FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS",
        ),
        ("four_tracks.mkv", 4012, "MORE_THAN_ALLOWED_TRACKS_FOUND"),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("m{i}");
        s.create_active(json!({"StreamName": name, "DataRetentionInHours": 1}))
            .await;
        let acks = put_relative(&s.url, &name, std::fs::read(fixture(file)).unwrap()).await;
        let last = acks.last().expect("some ack");
        assert_eq!(last.event, "ERROR", "{file}: {acks:?}");
        assert_eq!(last.error_id, Some(id), "{file}: {acks:?}");
        assert_eq!(last.error_code.as_deref(), Some(code), "{file}");
        // Whatever was acknowledged PERSISTED before the error is listed and readable.
        let kept = persisted(&acks);
        let listed = s.call("/listFragments", json!({"StreamName": name})).await;
        assert_eq!(
            listed.assert_ok()["Fragments"].as_array().unwrap().len(),
            kept.len(),
            "{file}"
        );
    }
    s.stop().await;
}
