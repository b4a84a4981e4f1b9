//! The playback media cache is coherent: with it, every media URL (HLS fMP4 and MPEG-TS, DASH
//! per track, LL-HLS parts of stored fragments, two sessions on different timelines) returns
//! exactly the bytes the server returns without it; concurrent first requests read each
//! fragment once; a small budget is never exceeded; fragments removed by retention or
//! DeleteStream are not served from it. Payloads reach the socket with sendfile.

use crate::common::sign::SendSigned;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use vidstream::time::{ServerTime, SimClock};

use crate::common::TestServer;
use crate::common::media::{
    BASE_MS, body_head, cluster_at, h264_track, parse_acks, persisted, put_media,
};
use crate::common::probe::fixture;

const T0: f64 = 1_700_000_000.0;

async fn session_token(s: &TestServer, path: &str, field: &str, body: Value) -> String {
    let r = s.call(path, body).await;
    let url = r.assert_ok()[field].as_str().expect(field).to_owned();
    let at = url.find("SessionToken=").expect("token in URL") + "SessionToken=".len();
    url[at..].split('&').next().expect("token").to_owned()
}

fn range(start: f64) -> Value {
    json!({
        "FragmentSelectorType": "PRODUCER_TIMESTAMP",
        "TimestampRange": {"StartTimestamp": start, "EndTimestamp": start + 600.0}
    })
}

async fn hls_token(s: &TestServer, stream: &str, container: &str, start: f64) -> String {
    let body = json!({
        "StreamName": stream,
        "PlaybackMode": "ON_DEMAND",
        "ContainerFormat": container,
        "Expires": 43_200,
        "HLSFragmentSelector": range(start),
    });
    session_token(
        s,
        "/getHLSStreamingSessionURL",
        "HLSStreamingSessionURL",
        body,
    )
    .await
}

async fn dash_token(s: &TestServer, stream: &str, start: f64) -> String {
    let body = json!({
        "StreamName": stream,
        "PlaybackMode": "ON_DEMAND",
        "Expires": 43_200,
        "DASHFragmentSelector": range(start),
    });
    session_token(
        s,
        "/getDASHStreamingSessionURL",
        "DASHStreamingSessionURL",
        body,
    )
    .await
}

/// The stream's fragment numbers in producer-timestamp order.
async fn fragments(s: &TestServer, stream: &str) -> Vec<String> {
    let r = s
        .call("/listFragments", json!({"StreamName": stream}))
        .await;
    let mut f: Vec<(i64, String)> = r.assert_ok()["Fragments"]
        .as_array()
        .expect("Fragments")
        .iter()
        .map(|f| {
            (
                f["ProducerTimestamp"].as_f64().expect("timestamp") as i64,
                f["FragmentNumber"].as_str().expect("number").to_owned(),
            )
        })
        .collect();
    f.sort();
    f.into_iter().map(|(_, n)| n).collect()
}

async fn get(s: &TestServer, path: &str) -> (u16, Vec<u8>) {
    let resp = reqwest::Client::new()
        .get(format!("{}{path}", s.url))
        .timeout(Duration::from_secs(30))
        .send_signed()
        .await
        .expect("sent");
    let status = resp.status().as_u16();
    (status, resp.bytes().await.expect("body").to_vec())
}

async fn get_all(s: &TestServer, paths: &[String]) -> Vec<(u16, Vec<u8>)> {
    futures_util::future::join_all(paths.iter().map(|p| get(s, p))).await
}

/// The bytes after the `mdat` header (the samples' payloads).
fn mdat_payload(seg: &[u8]) -> &[u8] {
    let at = seg
        .windows(4)
        .position(|w| w == b"mdat")
        .expect("an mdat box");
    &seg[at + 4..]
}

#[tokio::test]
async fn cached_media_equals_uncached_per_session_track_and_part_within_budget() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(dir.path(), |c| c.playback.media_cache_bytes = 0).await;
    s.create_active(json!({"StreamName": "cam", "DataRetentionInHours": 24}))
        .await;
    let resp = reqwest::Client::new()
        .post(format!("{}/putMedia", s.url))
        .header("x-amzn-stream-name", "cam")
        .header("x-amzn-fragment-timecode-type", "RELATIVE")
        .header("x-amzn-producer-start-timestamp", format!("{T0:.3}"))
        .body(std::fs::read(fixture("gst_h264_aac_320x240_3s.mkv")).unwrap())
        .send_signed()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(!persisted(&parse_acks(&resp.text().await.unwrap())).is_empty());
    let numbers = fragments(&s, "cam").await;
    assert!(numbers.len() >= 3, "{numbers:?}");
    // Session A starts at the first fragment, B at the second: different timelines. A token
    // serves only its own range, so the fragments both sessions share are asked for.
    let numbers = numbers[1..].to_vec();
    let a = hls_token(&s, "cam", "FRAGMENTED_MP4", T0 - 1.0).await;
    let b = hls_token(&s, "cam", "FRAGMENTED_MP4", T0 + 0.5).await;
    let ts = hls_token(&s, "cam", "MPEG_TS", T0 - 1.0).await;
    let d = dash_token(&s, "cam", T0 - 1.0).await;
    let mut paths = Vec::new();
    for n in &numbers {
        let hls = |t: &str| {
            format!("/hls/v1/getMP4MediaFragment.mp4?SessionToken={t}&FragmentNumber={n}")
        };
        paths.push(hls(&a));
        paths.push(hls(&b));
        paths.push(format!("{}&Part=0", hls(&a)));
        paths.push(format!("{}&Part=1", hls(&b)));
        paths.push(format!(
            "/hls/v1/getTSFragment.ts?SessionToken={ts}&FragmentNumber={n}"
        ));
        for track in [1, 2] {
            paths.push(format!(
                "/dash/v1/getMP4MediaFragment.mp4?SessionToken={d}&FragmentNumber={n}&TrackNumber={track}"
            ));
        }
    }
    // The reference: the same server without a cache (every request reads the store).
    let zero_copy_before = vidstream::zerocopy::bytes_sent_zero_copy();
    let mut reference = Vec::new();
    for p in &paths {
        reference.push(get(&s, p).await);
    }
    // The payloads went to the socket with sendfile (crate::zerocopy), not copied.
    let payload_bytes: usize = reference
        .iter()
        .step_by(7)
        .map(|r| mdat_payload(&r.1).len())
        .sum();
    assert!(
        vidstream::zerocopy::bytes_sent_zero_copy() - zero_copy_before >= payload_bytes as u64,
        "fMP4 payloads sent with sendfile"
    );
    assert_eq!(s.media_cache.stats().entries, 0, "budget 0 keeps nothing");
    for (p, (status, body)) in paths.iter().zip(&reference) {
        assert_eq!(*status, 200, "{p}: {}", String::from_utf8_lossy(body));
    }
    for k in 0..numbers.len() {
        let (ha, hb) = (&reference[7 * k].1, &reference[7 * k + 1].1);
        assert_ne!(ha, hb, "two timelines, two moofs");
        assert_eq!(mdat_payload(ha), mdat_payload(hb), "same samples");
        assert_ne!(
            reference[7 * k + 5].1,
            reference[7 * k + 6].1,
            "one track each"
        );
    }
    s.stop().await;

    // With the cache: all at once (misses coalesce: one load per fragment), then again (hits).
    let s = TestServer::start(dir.path()).await;
    let first = get_all(&s, &paths).await;
    let stats = s.media_cache.stats();
    assert_eq!(stats.loads, numbers.len() as u64, "{stats:?}");
    assert_eq!(stats.entries, numbers.len(), "{stats:?}");
    let mut again = Vec::new();
    for p in paths.iter().rev() {
        again.push(get(&s, p).await);
    }
    again.reverse();
    for (i, p) in paths.iter().enumerate() {
        assert!(first[i] == reference[i], "{p}: first request differs");
        assert!(again[i] == reference[i], "{p}: cached request differs");
    }
    let after = s.media_cache.stats();
    assert_eq!(
        after.loads,
        numbers.len() as u64,
        "hits read nothing: {after:?}"
    );
    assert_eq!(
        after.builds,
        paths.len() as u64,
        "each variant built once: {after:?}"
    );
    let full = after.bytes;
    s.stop().await;

    // A budget for about a third of that: never exceeded, bytes still right.
    let budget = full / 3;
    let s = TestServer::start_with(dir.path(), |c| c.playback.media_cache_bytes = budget).await;
    for round in 0..2 {
        for (i, p) in paths.iter().enumerate() {
            let got = get(&s, p).await;
            assert!(got == reference[i], "{p}: round {round} differs");
            let st = s.media_cache.stats();
            assert!(st.bytes <= budget, "{st:?} over {budget}");
        }
    }
    let st = s.media_cache.stats();
    assert!(st.entries < numbers.len(), "{st:?}");
    assert!(
        st.loads > numbers.len() as u64,
        "evicted ones were read again: {st:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn fragments_removed_by_retention_or_delete_stream_are_not_served_from_cache() {
    let dir = tempfile::tempdir().unwrap();
    let clock = SimClock::new(ServerTime(BASE_MS as i64));
    let s = TestServer::start_with_clock(
        dir.path(),
        |c| {
            c.segment_max_bytes = 8192;
            c.segment_max_secs = 10;
            c.retention.interval_secs = 3600;
            c.retention.grace_secs = 30;
        },
        Arc::new(clock.clone()),
    )
    .await;
    let start = BASE_MS as f64 / 1000.0 - 1.0;
    for (name, hours) in [("old", 1), ("gone", 24)] {
        s.create_active(json!({"StreamName": name, "DataRetentionInHours": hours}))
            .await;
        let mut body = body_head(&[h264_track(1)]);
        for i in 0..3 {
            body.extend(cluster_at(BASE_MS + i as u64 * 1000, i, 10));
        }
        let (status, acks) = put_media(&s.url, name, body, 64 * 1024).await;
        assert_eq!(status, 200, "{acks:?}");
        assert_eq!(persisted(&acks).len(), 3, "{acks:?}");
    }
    let url = |token: &str, n: &str| {
        format!("/hls/v1/getMP4MediaFragment.mp4?SessionToken={token}&FragmentNumber={n}")
    };
    let old = hls_token(&s, "old", "FRAGMENTED_MP4", start).await;
    let gone = hls_token(&s, "gone", "FRAGMENTED_MP4", start).await;
    let old_n = fragments(&s, "old").await;
    let gone_n = fragments(&s, "gone").await;
    for (t, n) in [(&old, &old_n[0]), (&gone, &gone_n[0])] {
        assert_eq!(get(&s, &url(t, n)).await.0, 200);
        assert_eq!(get(&s, &url(t, n)).await.0, 200);
    }
    assert_eq!(
        s.media_cache.stats().loads,
        2,
        "the second requests were hits"
    );

    // Retention removes `old`'s fragments from the index (phase 1): no longer served.
    clock.advance_ms(2 * 3_600_000);
    let r = s.store.run_retention_once().await.unwrap();
    assert!(r.segments_marked > 0, "{r:?}");
    let (status, body) = get(&s, &url(&old, &old_n[0])).await;
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    assert!(
        String::from_utf8_lossy(&body).contains("ResourceNotFoundException"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    // `gone` is untouched by that: still served (revalidated once against the index).
    assert_eq!(get(&s, &url(&gone, &gone_n[0])).await.0, 200);
    assert_eq!(s.media_cache.stats().loads, 2);

    // DeleteStream: once the stream is gone, its cached fragments are not served either.
    let d = s
        .call("/describeStream", json!({"StreamName": "gone"}))
        .await;
    let arn = d.assert_ok()["StreamInfo"]["StreamARN"]
        .as_str()
        .expect("arn")
        .to_owned();
    s.call("/deleteStream", json!({"StreamARN": arn}))
        .await
        .assert_ok();
    let mut deleted = false;
    for _ in 0..400 {
        let r = s
            .call("/describeStream", json!({"StreamName": "gone"}))
            .await;
        if r.status == 404 {
            deleted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(deleted, "the stream was not deleted within 10 s");
    let (status, body) = get(&s, &url(&gone, &gone_n[0])).await;
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    assert_eq!(s.media_cache.stats().entries, 0);
    s.stop().await;
}
