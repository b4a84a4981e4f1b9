//! GetClip end to end: gst-made fixtures go in through PutMedia, clips come out of
//! `POST /getClip` and are checked by an independent demuxer and decoder (ffprobe, ffmpeg); the
//! decoded pictures are identified with the fixtures' framecode, so a clip that starts or ends
//! on the wrong frame fails. Then every KVS error GetClip can answer, the `[playback]` limits,
//! a codec change inside the range, and CORS.

use crate::common::sign::SendSigned;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::TestServer;
use crate::common::frames::decoded_indexes;
use crate::common::media::*;
use crate::common::probe::{ffprobe, fixture};

/// `x-amzn-producer-start-timestamp` of every ingest: the fixtures' cluster timecodes count from
/// here (the 5 s H.264 fixture's clusters are at 0, 999, 1999, 2999, 3999 ms).
const START_MS: i64 = 1_700_000_000_000;

const H264: &str = "gst_h264_320x240_gop30_5s.mkv";
const H264_AAC: &str = "gst_h264_aac_320x240_3s.mkv";
const H265: &str = "gst_h265_320x240_gop30_3s.mkv";

fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn producer_range(start_ms: i64, end_ms: i64) -> Value {
    json!({
        "FragmentSelectorType": "PRODUCER_TIMESTAMP",
        "TimestampRange": {"StartTimestamp": secs(start_ms), "EndTimestamp": secs(end_ms)}
    })
}

/// A successful GetClip, written to `dir/<file>`; checks the response headers and that the body
/// is `ftyp`, `moov`, `mdat` in this order. Returns the path and the response time.
async fn get_clip(
    s: &TestServer,
    stream: &str,
    selector: Value,
    dir: &Path,
    file: &str,
) -> (PathBuf, Duration) {
    let t0 = Instant::now();
    let resp = reqwest::Client::new()
        .post(format!("{}/getClip", s.url))
        .body(json!({"StreamName": stream, "ClipFragmentSelector": selector}).to_string())
        .send_signed()
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap();
    let elapsed = t0.elapsed();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], "video/mp4");
    let len: usize = headers["content-length"].to_str().unwrap().parse().unwrap();
    assert_eq!(len, body.len(), "Content-Length");
    assert!(
        headers.get("transfer-encoding").is_none(),
        "sent with a length, not chunked"
    );
    assert_eq!(top_level_boxes(&body), ["ftyp", "moov", "mdat"]);
    let path = dir.join(file);
    std::fs::write(&path, &body).unwrap();
    (path, elapsed)
}

/// The top-level box types of an MP4 file; fails unless the boxes tile the file exactly.
fn top_level_boxes(data: &[u8]) -> Vec<String> {
    let mut kinds = Vec::new();
    let mut pos = 0usize;
    while pos + 8 <= data.len() {
        let mut size = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as u64;
        if size == 1 {
            size = u64::from_be_bytes(data[pos + 8..pos + 16].try_into().unwrap());
        }
        kinds.push(String::from_utf8_lossy(&data[pos + 4..pos + 8]).into_owned());
        assert!(size >= 8, "box size {size}");
        pos += size as usize;
    }
    assert_eq!(pos, data.len(), "boxes tile the file");
    kinds
}

/// ffprobe's streams (frames counted by decoding) and the format duration in seconds.
fn probe(path: &Path) -> (Vec<Value>, f64) {
    let v = ffprobe(
        &[
            "-count_frames",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames,sample_rate:format=duration",
        ],
        path,
    );
    let streams = v["streams"].as_array().unwrap().clone();
    let duration = v["format"]["duration"].as_str().unwrap().parse().unwrap();
    (streams, duration)
}

fn frames(stream: &Value) -> i64 {
    stream["nb_read_frames"].as_str().unwrap().parse().unwrap()
}

/// Decodes every stream; ffmpeg must print nothing at all.
fn decodes_cleanly(path: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0", "-f", "null", "-"])
        .output()
        .expect("ffmpeg is installed (scripts/install-deps.sh)");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.trim().is_empty(), "ffmpeg complained: {stderr}");
}

fn check_video(stream: &Value, codec: &str) {
    assert_eq!(stream["codec_name"], codec, "{stream}");
    assert_eq!(
        (stream["width"].as_u64(), stream["height"].as_u64()),
        (Some(320), Some(240))
    );
}

#[tokio::test]
async fn h264_clip_starts_and_ends_on_the_requested_frames() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&dir.path().join("data")).await;
    assert_eq!(ingest_fixture(&s, "cam", H264, START_MS).await.len(), 5);

    // 1.5 s is frame 45, between the keyframes 30 (0.999 s) and 60 (1.999 s); 3.5 s is frame
    // 105, the first one left out.
    let (path, elapsed) = get_clip(
        &s,
        "cam",
        producer_range(START_MS + 1500, START_MS + 3500),
        dir.path(),
        "clip.mp4",
    )
    .await;
    eprintln!("GetClip of 2.0 s (3 fragments): {elapsed:?}");
    let (streams, duration) = probe(&path);
    assert_eq!(streams.len(), 1, "{streams:?}");
    check_video(&streams[0], "h264");
    assert!((duration - 2.0).abs() < 0.05, "duration {duration}");
    let n = frames(&streams[0]);
    assert!((59..=61).contains(&n), "{n} frames");
    decodes_cleanly(&path);
    let shown = decoded_indexes(&path, 1000);
    assert_eq!(shown.first(), Some(&45), "{shown:?}");
    let last = *shown.last().unwrap();
    assert!((103..=105).contains(&last), "last frame {last}: {shown:?}");
    assert_eq!(
        shown,
        (45..=last).collect::<Vec<_>>(),
        "every frame once, in order"
    );

    // A clip starting exactly on a keyframe, and one starting before any media (it starts with
    // the media), ending inside the first fragment.
    let (path, _) = get_clip(
        &s,
        "cam",
        producer_range(START_MS + 1999, START_MS + 2999),
        dir.path(),
        "key.mp4",
    )
    .await;
    let shown = decoded_indexes(&path, 1000);
    assert_eq!(shown.first(), Some(&60), "{shown:?}");
    assert!((88..=90).contains(shown.last().unwrap()), "{shown:?}");
    let (path, _) = get_clip(
        &s,
        "cam",
        producer_range(START_MS - 10_000, START_MS + 500),
        dir.path(),
        "early.mp4",
    )
    .await;
    let shown = decoded_indexes(&path, 1000);
    assert_eq!(shown.first(), Some(&0), "{shown:?}");
    assert!((14..=15).contains(shown.last().unwrap()), "{shown:?}");
    s.stop().await;
}

#[tokio::test]
async fn server_timestamp_selector_uses_listed_server_times() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&dir.path().join("data")).await;
    ingest_fixture(&s, "cam", H264, START_MS).await;
    let listed = s.call("/listFragments", json!({"StreamName": "cam"})).await;
    let fragments = listed.assert_ok()["Fragments"].as_array().unwrap().clone();
    let ms = |f: &Value, k: &str| (f[k].as_f64().unwrap() * 1000.0).round() as i64;
    let server: Vec<i64> = fragments.iter().map(|f| ms(f, "ServerTimestamp")).collect();
    let producer: Vec<i64> = fragments
        .iter()
        .map(|f| ms(f, "ProducerTimestamp"))
        .collect();
    assert!(server.windows(2).all(|w| w[0] < w[1]), "{server:?}");

    // From fragment 1's server time to fragment 3's: fragment 1 from its first frame (30), and
    // fragment 2 for as long after its start as fragment 3 arrived after it.
    let selector = json!({
        "FragmentSelectorType": "SERVER_TIMESTAMP",
        "TimestampRange": {"StartTimestamp": secs(server[1]), "EndTimestamp": secs(server[3])}
    });
    let (path, _) = get_clip(&s, "cam", selector, dir.path(), "server.mp4").await;
    let want_ms = (producer[2] - producer[1]) + (server[3] - server[2]);
    let (streams, duration) = probe(&path);
    check_video(&streams[0], "h264");
    assert!(
        (duration * 1000.0 - want_ms as f64).abs() < 40.0,
        "duration {duration}, want {want_ms} ms"
    );
    decodes_cleanly(&path);
    let shown = decoded_indexes(&path, 1000);
    assert_eq!(shown.first(), Some(&30), "{shown:?}");
    let want_last = ((producer[2] + server[3] - server[2] - START_MS) as f64 / (1000.0 / 30.0))
        .ceil() as i64
        - 1;
    let last = i64::from(*shown.last().unwrap());
    assert!(
        (last - want_last).abs() <= 1,
        "last {last}, want {want_last}"
    );
    s.stop().await;
}

#[tokio::test]
async fn h264_aac_and_h265_clips_play() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&dir.path().join("data")).await;
    ingest_fixture(&s, "av", H264_AAC, START_MS).await;
    ingest_fixture(&s, "hevc", H265, START_MS).await;
    let range = producer_range(START_MS + 500, START_MS + 2500);

    let (path, _) = get_clip(&s, "av", range.clone(), dir.path(), "av.mp4").await;
    let (streams, duration) = probe(&path);
    assert_eq!(streams.len(), 2, "{streams:?}");
    check_video(&streams[0], "h264");
    assert_eq!(streams[1]["codec_name"], "aac");
    assert_eq!(streams[1]["sample_rate"], "48000");
    // 2 s of 1024-sample frames at 48 kHz: about 94 (plus the pre-roll frame).
    let audio = frames(&streams[1]);
    assert!((92..=97).contains(&audio), "{audio} aac frames");
    assert!((duration - 2.0).abs() < 0.1, "duration {duration}");
    decodes_cleanly(&path);
    let shown = decoded_indexes(&path, 1000);
    assert_eq!(shown.first(), Some(&15), "{shown:?}");
    assert!((73..=75).contains(shown.last().unwrap()), "{shown:?}");

    let (path, _) = get_clip(&s, "hevc", range, dir.path(), "hevc.mp4").await;
    let (streams, duration) = probe(&path);
    assert_eq!(streams.len(), 1, "{streams:?}");
    check_video(&streams[0], "hevc");
    assert!((duration - 2.0).abs() < 0.05, "duration {duration}");
    decodes_cleanly(&path);
    let shown = decoded_indexes(&path, 1000);
    assert_eq!(shown.first(), Some(&15), "{shown:?}");
    assert!((73..=75).contains(shown.last().unwrap()), "{shown:?}");
    assert_eq!(shown, (15..=*shown.last().unwrap()).collect::<Vec<_>>());
    s.stop().await;
}

/// A producer that restarts with another codec: the clip ends where the new tracks start.
#[tokio::test]
async fn clip_stops_at_a_codec_change() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&dir.path().join("data")).await;
    ingest_fixture(&s, "cam", H264, START_MS).await;
    put_fixture_paced(&s.url, "cam", H265, START_MS + 6000).await;
    let (path, _) = get_clip(
        &s,
        "cam",
        producer_range(START_MS + 3500, START_MS + 8000),
        dir.path(),
        "change.mp4",
    )
    .await;
    let (streams, duration) = probe(&path);
    assert_eq!(streams.len(), 1, "{streams:?}");
    check_video(&streams[0], "h264");
    // From 3.5 s to the end of the H.264 media (frame 149 ends at 5.0 s).
    assert!((duration - 1.5).abs() < 0.05, "duration {duration}");
    decodes_cleanly(&path);
    let shown = decoded_indexes(&path, 1000);
    assert_eq!(shown, (105..150).collect::<Vec<_>>());
    // Starting after the change: the H.265 media alone.
    let (path, _) = get_clip(
        &s,
        "cam",
        producer_range(START_MS + 6500, START_MS + 8000),
        dir.path(),
        "after.mp4",
    )
    .await;
    let (streams, _) = probe(&path);
    check_video(&streams[0], "hevc");
    assert_eq!(decoded_indexes(&path, 1000).first(), Some(&15));
    s.stop().await;
}

#[tokio::test]
async fn errors_are_kvs_shaped() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&dir.path().join("data")).await;
    ingest_fixture(&s, "cam", H264, START_MS).await;
    let clip = |stream: &str, selector: Value| json!({"StreamName": stream, "ClipFragmentSelector": selector});
    let ok_range = producer_range(START_MS + 1500, START_MS + 3500);

    let invalid = [
        json!({"StreamName": "cam"}),
        clip("cam", json!({"FragmentSelectorType": "PRODUCER_TIMESTAMP"})),
        clip(
            "cam",
            json!({"FragmentSelectorType": "ARRIVAL", "TimestampRange": {"StartTimestamp": 1, "EndTimestamp": 2}}),
        ),
        clip("cam", producer_range(START_MS + 2000, START_MS + 2000)),
        clip("cam", producer_range(START_MS + 3000, START_MS + 2000)),
        clip(
            "cam",
            json!({"FragmentSelectorType": "PRODUCER_TIMESTAMP", "TimestampRange": {"StartTimestamp": "soon", "EndTimestamp": 2}}),
        ),
        json!({"ClipFragmentSelector": ok_range}),
        clip("bad name!", ok_range.clone()),
    ];
    for body in invalid {
        s.call("/getClip", body.clone())
            .await
            .assert_error(400, "InvalidArgumentException");
    }
    s.post_raw("/getClip", "{not json")
        .await
        .assert_error(400, "InvalidArgumentException");

    s.call("/getClip", clip("nope", ok_range.clone()))
        .await
        .assert_error(404, "ResourceNotFoundException");
    let none = s
        .call(
            "/getClip",
            clip(
                "cam",
                producer_range(START_MS - 600_000, START_MS - 500_000),
            ),
        )
        .await;
    none.assert_error(404, "ResourceNotFoundException");
    assert_eq!(
        none.body["message"],
        "No fragments found in the given time range"
    );
    // After the media: nothing either.
    s.call(
        "/getClip",
        clip("cam", producer_range(START_MS + 6000, START_MS + 9000)),
    )
    .await
    .assert_error(404, "ResourceNotFoundException");

    // Retention 0: nothing is kept to clip.
    s.create_active(json!({"StreamName": "live", "DataRetentionInHours": 0}))
        .await;
    s.call("/getClip", clip("live", ok_range.clone()))
        .await
        .assert_error(400, "NoDataRetentionException");

    // A stream of MJPEG video: no H.264/H.265.
    s.create_active(json!({"StreamName": "mjpeg", "DataRetentionInHours": 1}))
        .await;
    let mut track = h264_track(1);
    track.codec_id = "V_MJPEG".into();
    let mut b = body_head(&[track]);
    for i in 0..3 {
        b.extend(cluster(i, 10));
    }
    let (status, acks) = put_media(&s.url, "mjpeg", b, 1 << 16).await;
    assert_eq!((status, persisted(&acks).len()), (200, 3), "{acks:?}");
    let base = BASE_MS as i64;
    s.call("/getClip", clip("mjpeg", producer_range(base, base + 2500)))
        .await
        .assert_error(400, "UnsupportedStreamMediaTypeException");
    s.stop().await;
}

#[tokio::test]
async fn limits_refuse_clips_that_are_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(&dir.path().join("data"), |c| {
        c.playback.clip_max_fragments = 2;
        c.playback.clip_max_bytes = 20_000;
    })
    .await;
    ingest_fixture(&s, "cam", H264, START_MS).await;
    let body = |a: i64, b: i64| json!({"StreamName": "cam", "ClipFragmentSelector": producer_range(START_MS + a, START_MS + b)});
    // Fragments 1, 2 and 3.
    let r = s.call("/getClip", body(1500, 3500)).await;
    r.assert_error(400, "InvalidArgumentException");
    let msg = r.body["message"].as_str().unwrap();
    assert!(
        msg.contains("clip_max_fragments") && msg.contains('2'),
        "{msg}"
    );
    // Two fragments, but more than 20 000 bytes of media.
    let r = s.call("/getClip", body(1000, 2500)).await;
    r.assert_error(400, "InvalidArgumentException");
    let msg = r.body["message"].as_str().unwrap();
    assert!(msg.contains("clip_max_bytes"), "{msg}");
    // Within both limits.
    let (path, _) = get_clip(
        &s,
        "cam",
        producer_range(START_MS + 1500, START_MS + 1800),
        dir.path(),
        "small.mp4",
    )
    .await;
    assert_eq!(decoded_indexes(&path, 1000).first(), Some(&45));
    s.stop().await;
}

/// A page on an origin listed in `[auth] cors_allowed_origins` may call the API (its
/// preflight is answered); a page on any other origin may not.
#[tokio::test]
async fn cors_preflight_is_answered_for_configured_origins_only() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(&dir.path().join("data"), |c| {
        c.auth.cors_allowed_origins = vec!["http://console.example".into()];
    })
    .await;
    for (origin, allowed) in [
        ("http://console.example", true),
        ("http://evil.example", false),
    ] {
        let resp = reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, format!("{}/getClip", s.url))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "content-type,authorization,x-amz-date",
            )
            .send()
            .await
            .unwrap();
        let allow = resp.headers().get("access-control-allow-origin");
        assert_eq!(
            allow.map(|v| v.to_str().unwrap().to_owned()),
            allowed.then(|| origin.to_owned()),
            "{origin}: {:?}",
            resp.headers()
        );
    }
    s.stop().await;
}

/// Retention expiring the whole range while a clip is being sent: the clip holds its segments,
/// so every byte still arrives, the same bytes as before retention.
#[tokio::test]
async fn a_clip_being_sent_keeps_its_segments_through_retention() {
    use std::sync::Arc;
    use vidstream::time::{ServerTime, SimClock};
    const HOUR: i64 = 3_600_000;
    let dir = tempfile::tempdir().unwrap();
    let clock = SimClock::new(ServerTime(START_MS));
    let s = TestServer::start_with_clock(
        &dir.path().join("data"),
        |c| {
            c.segment_max_bytes = 256 * 1024;
            c.segment_max_secs = 10;
            c.retention.interval_secs = 3600;
            c.retention.grace_secs = 30;
            c.playback.clip_max_fragments = 1000;
        },
        Arc::new(clock.clone()),
    )
    .await;
    s.create_active(json!({"StreamName": "cam", "DataRetentionInHours": 1}))
        .await;
    // 80 copies of the 5 s fixture back to back: 400 s, ~7.5 MB, far more than socket buffers.
    let body = std::fs::read(fixture(H264)).unwrap();
    let copies = 80i64;
    for k in 0..copies {
        let resp = reqwest::Client::new()
            .post(format!("{}/putMedia", s.url))
            .header("x-amzn-stream-name", "cam")
            .header("x-amzn-fragment-timecode-type", "RELATIVE")
            .header(
                "x-amzn-producer-start-timestamp",
                format!("{:.3}", secs(START_MS + k * 5000)),
            )
            .body(body.clone())
            .send_signed()
            .await
            .unwrap();
        let acks = parse_acks(&resp.text().await.unwrap());
        assert_eq!(persisted(&acks).len(), 5, "{acks:?}");
    }
    let request = json!({
        "StreamName": "cam",
        "ClipFragmentSelector": producer_range(START_MS + 100, START_MS + copies * 5000),
    })
    .to_string();
    let client = reqwest::Client::new();
    let t0 = Instant::now();
    let expected = client
        .post(format!("{}/getClip", s.url))
        .body(request.clone())
        .send_signed()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    eprintln!(
        "GetClip of {} s ({} fragments, {} bytes): {:?}",
        copies * 5,
        copies * 5,
        expected.len(),
        t0.elapsed()
    );
    assert!(expected.len() > 6_000_000, "{}", expected.len());
    assert_eq!(top_level_boxes(&expected), ["ftyp", "moov", "mdat"]);

    let mut resp = client
        .post(format!("{}/getClip", s.url))
        .body(request.clone())
        .send_signed()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut got = resp.chunk().await.unwrap().expect("a first chunk").to_vec();
    // Everything expires: phase 1 takes it out of the index, phase 2 spares the held segments.
    clock.advance_ms(2 * HOUR);
    let r = s.store.run_retention_once().await.unwrap();
    assert!(r.segments_marked >= 10, "{r:?}");
    s.call("/getClip", serde_json::from_str(&request).unwrap())
        .await
        .assert_error(404, "ResourceNotFoundException");
    clock.advance_ms(31_000);
    let r = s.store.run_retention_once().await.unwrap();
    assert!(r.held > 0, "the clip still holds segments: {r:?}");
    while let Some(c) = resp.chunk().await.expect("the rest of the clip") {
        got.extend_from_slice(&c);
    }
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "every byte arrived as before retention");
    s.stop().await;
}
