//! GetImages end to end: gst-made fixtures go in through PutMedia, images come out of
//! `POST /getImages` and are read back by independent tools: ffprobe for their size, ffmpeg to
//! decode them, the fixtures' framecode (fixtures/framecode.py) to tell which frame each image
//! shows, and ffmpeg's PSNR filter against ffmpeg's own decode of the same frame. The expected
//! frame for a time is computed from the fixture's packet times (ffprobe), never hard-coded
//! from our own output. Then NO_MEDIA/MEDIA_ERROR entries, pages, and every KVS error.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::common::frames::framecodes;
use crate::common::media::*;
use crate::common::probe::{ffprobe, fixture, shown_index, video_pts};
use crate::common::{Reply, TestServer};

/// `x-amzn-producer-start-timestamp` of every ingest.
const START_MS: i64 = 1_700_000_000_000;

const H264: &str = "gst_h264_320x240_gop30_5s.mkv";
const H265: &str = "gst_h265_320x240_gop30_3s.mkv";

fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn request(stream: &str, start: i64, end: i64, extra: Value) -> Value {
    let mut v = json!({
        "StreamName": stream,
        "ImageSelectorType": "PRODUCER_TIMESTAMP",
        "StartTimestamp": secs(start),
        "EndTimestamp": secs(end),
        "SamplingInterval": 200,
        "Format": "PNG",
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

async fn images(s: &TestServer, body: Value) -> (Vec<Value>, Option<String>) {
    let r = s.call("/getImages", body).await;
    let v = r.assert_ok();
    (
        v["Images"].as_array().unwrap().clone(),
        v["NextToken"].as_str().map(str::to_owned),
    )
}

/// Writes image `n` of `img` (base64 ImageContent) under `dir`.
fn save(dir: &Path, name: &str, img: &Value) -> PathBuf {
    let content = img["ImageContent"]
        .as_str()
        .unwrap_or_else(|| panic!("an image, got {img}"));
    let path = dir.join(name);
    std::fs::write(&path, STANDARD.decode(content).unwrap()).unwrap();
    path
}

/// Codec and size of an image file, per ffprobe.
fn image_info(path: &Path) -> (String, i64, i64) {
    let v = ffprobe(&["-show_entries", "stream=codec_name,width,height"], path);
    let s = &v["streams"][0];
    (
        s["codec_name"].as_str().unwrap().to_owned(),
        s["width"].as_i64().unwrap(),
        s["height"].as_i64().unwrap(),
    )
}

/// The framecode index an image shows, decoded by ffmpeg.
fn framecode(path: &Path) -> u32 {
    let (_, w, h) = image_info(path);
    let gray = path.with_extension("gray");
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(path)
        .args(["-f", "rawvideo", "-pix_fmt", "gray"])
        .arg(&gray)
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    match framecodes(&gray, w as u32, h as u32)[..] {
        [index] => index,
        ref other => panic!("one framecode in {}, got {other:?}", path.display()),
    }
}

/// PSNR (average, dB) of `image` against ffmpeg's own decode of frame `index` of `file`.
fn psnr_vs_ffmpeg(image: &Path, file: &str, index: u32) -> f64 {
    let reference = image.with_extension("ref.yuv");
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(fixture(file))
        .args(["-vf", &format!("select=eq(n\\,{index})"), "-frames:v", "1"])
        .args(["-f", "rawvideo", "-pix_fmt", "yuv420p"])
        .arg(&reference)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("ffmpeg")
        .args(["-v", "info", "-i"])
        .arg(image)
        .args([
            "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", "320x240", "-i",
        ])
        .arg(&reference)
        .args([
            "-lavfi",
            "[0:v]format=yuv420p[a];[a][1:v]psnr",
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let avg = log
        .split("average:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no psnr in {log}"));
    if avg == "inf" {
        return f64::INFINITY;
    }
    avg.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_image_is_the_frame_shown_at_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&dir.path().join("data")).await;
    assert_eq!(ingest_fixture(&s, "cam", H264, START_MS).await.len(), 5);
    let pts = video_pts(H264);

    // Single times, PNG at the source size: inside fragments, on a keyframe, on the last frame.
    for offset in [0, 333, 1500, 2010, 2999, 4999] {
        let (imgs, token) = images(
            &s,
            request("cam", START_MS + offset, START_MS + offset, json!({})),
        )
        .await;
        assert_eq!(imgs.len(), 1);
        assert_eq!(token, None);
        assert_eq!(
            imgs[0]["TimeStamp"].as_f64().unwrap(),
            secs(START_MS + offset)
        );
        let path = save(dir.path(), &format!("t{offset}.png"), &imgs[0]);
        assert_eq!(image_info(&path), ("png".into(), 320, 240));
        let want = shown_index(&pts, offset);
        assert_eq!(framecode(&path), want, "image at +{offset} ms");
        let psnr = psnr_vs_ffmpeg(&path, H264, want);
        assert!(psnr >= 35.0, "PSNR {psnr} dB at +{offset} ms");
    }

    // One request across two fragments (shared decode passes), every 200 ms.
    let (imgs, _) = images(
        &s,
        request("cam", START_MS + 100, START_MS + 1900, json!({})),
    )
    .await;
    assert_eq!(imgs.len(), 10);
    for (k, img) in imgs.iter().enumerate() {
        let offset = 100 + 200 * k as i64;
        assert_eq!(img["TimeStamp"].as_f64().unwrap(), secs(START_MS + offset));
        let path = save(dir.path(), &format!("run{k}.png"), img);
        assert_eq!(
            framecode(&path),
            shown_index(&pts, offset),
            "image at +{offset} ms"
        );
    }

    // JPEG, width only: the height keeps the aspect ratio; the framecode still reads.
    let (imgs, _) = images(
        &s,
        request(
            "cam",
            START_MS + 1500,
            START_MS + 1500,
            json!({
                "Format": "JPEG", "WidthPixels": 160, "FormatConfig": {"JPEGQuality": "90"}
            }),
        ),
    )
    .await;
    let path = save(dir.path(), "small.jpg", &imgs[0]);
    assert_eq!(image_info(&path), ("mjpeg".into(), 160, 120));
    assert_eq!(framecode(&path), shown_index(&pts, 1500));
    // Height only, and both (stretched).
    for (extra, w, h) in [
        (json!({"HeightPixels": 480}), 640, 480),
        (json!({"WidthPixels": 100, "HeightPixels": 50}), 100, 50),
    ] {
        let mut e = extra.clone();
        e["Format"] = json!("JPEG");
        let (imgs, _) = images(&s, request("cam", START_MS + 700, START_MS + 700, e)).await;
        let path = save(dir.path(), &format!("sized{w}.jpg"), &imgs[0]);
        assert_eq!(image_info(&path), ("mjpeg".into(), w, h), "{extra}");
    }
    // JPEG quality changes the size of the image.
    let mut sizes = Vec::new();
    for q in ["10", "95"] {
        let (imgs, _) = images(
            &s,
            request(
                "cam",
                START_MS + 700,
                START_MS + 700,
                json!({
                    "Format": "JPEG", "FormatConfig": {"JPEGQuality": q}
                }),
            ),
        )
        .await;
        sizes.push(imgs[0]["ImageContent"].as_str().unwrap().len());
    }
    assert!(sizes[0] < sizes[1], "{sizes:?}");

    // SERVER_TIMESTAMP: 500 ms after the last fragment's server timestamp is the frame shown
    // 500 ms after its producer timestamp. (The ingest ran faster than real time, so earlier
    // fragments' server timestamps are less than 100 ms apart: +500 ms would be in a later
    // fragment.)
    let r = s.call("/listFragments", json!({"StreamName": "cam"})).await;
    let mut frags: Vec<(f64, f64)> = r.assert_ok()["Fragments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["ProducerTimestamp"].as_f64().unwrap(),
                f["ServerTimestamp"].as_f64().unwrap(),
            )
        })
        .collect();
    frags.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (producer, server) = frags[4];
    let server_ms = (server * 1000.0).round() as i64;
    let producer_off = (producer * 1000.0).round() as i64 - START_MS;
    let mut body = request("cam", server_ms + 500, server_ms + 500, json!({}));
    body["ImageSelectorType"] = json!("SERVER_TIMESTAMP");
    let (imgs, _) = images(&s, body).await;
    let path = save(dir.path(), "server.png", &imgs[0]);
    assert_eq!(framecode(&path), shown_index(&pts, producer_off + 500));

    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h265_images() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&dir.path().join("data")).await;
    assert!(ingest_fixture(&s, "hevc", H265, START_MS).await.len() >= 3);
    let pts = video_pts(H265);
    let (imgs, _) = images(
        &s,
        request("hevc", START_MS + 1234, START_MS + 1634, json!({})),
    )
    .await;
    assert_eq!(imgs.len(), 3);
    for (k, img) in imgs.iter().enumerate() {
        let offset = 1234 + 200 * k as i64;
        let path = save(dir.path(), &format!("h{k}.png"), img);
        assert_eq!(image_info(&path), ("png".into(), 320, 240));
        assert_eq!(framecode(&path), shown_index(&pts, offset), "+{offset} ms");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_media_media_error_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&dir.path().join("data")).await;
    assert_eq!(ingest_fixture(&s, "cam", H264, START_MS).await.len(), 5);
    let pts = video_pts(H264);

    // Before the stream: NO_MEDIA, then images.
    let (imgs, _) = images(
        &s,
        request("cam", START_MS - 400, START_MS + 400, json!({})),
    )
    .await;
    let kinds: Vec<&str> = imgs
        .iter()
        .map(|i| i["Error"].as_str().unwrap_or("image"))
        .collect();
    assert_eq!(kinds, ["NO_MEDIA", "NO_MEDIA", "image", "image", "image"]);
    assert!(imgs[0].get("ImageContent").is_none());
    // After it.
    let (imgs, _) = images(
        &s,
        request("cam", START_MS + 4900, START_MS + 5700, json!({})),
    )
    .await;
    let kinds: Vec<&str> = imgs
        .iter()
        .map(|i| i["Error"].as_str().unwrap_or("image"))
        .collect();
    assert_eq!(
        kinds,
        ["image", "NO_MEDIA", "NO_MEDIA", "NO_MEDIA", "NO_MEDIA"]
    );

    // Pages: 26 times; MaxResults 10 → 10, 10, 6; MaxResults 100 → 25 (KVS's cap), then 1.
    let body = |extra: Value| request("cam", START_MS, START_MS + 5000, extra);
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    let mut sizes = Vec::new();
    loop {
        let mut extra = json!({"MaxResults": 10, "Format": "JPEG", "WidthPixels": 160});
        if let Some(t) = &token {
            extra["NextToken"] = json!(t);
        }
        let (imgs, next) = images(&s, body(extra)).await;
        sizes.push(imgs.len());
        all.extend(imgs);
        match next {
            Some(n) => token = Some(n),
            None => break,
        }
    }
    assert_eq!(sizes, [10, 10, 6]);
    let times: Vec<f64> = all
        .iter()
        .map(|i| i["TimeStamp"].as_f64().unwrap())
        .collect();
    let want: Vec<f64> = (0..26).map(|k| secs(START_MS + 200 * k)).collect();
    assert_eq!(times, want);
    for k in [0usize, 7, 13, 24] {
        let path = save(dir.path(), &format!("page{k}.jpg"), &all[k]);
        assert_eq!(
            framecode(&path),
            shown_index(&pts, 200 * k as i64),
            "image {k}"
        );
    }
    let (imgs, next) = images(&s, body(json!({"MaxResults": 100, "Format": "JPEG"}))).await;
    assert_eq!(imgs.len(), 25);
    let (imgs, next2) = images(
        &s,
        body(json!({"MaxResults": 100, "Format": "JPEG", "NextToken": next.unwrap()})),
    )
    .await;
    assert_eq!((imgs.len(), next2), (1, None));
    // A token of another range is refused.
    let (_, next) = images(&s, body(json!({"MaxResults": 1}))).await;
    let r = s
        .call(
            "/getImages",
            request(
                "cam",
                START_MS,
                START_MS + 4000,
                json!({"NextToken": next.unwrap()}),
            ),
        )
        .await;
    r.assert_error(400, "InvalidArgumentException");

    // Undecodable H.264 (frames that are not H.264 at all): MEDIA_ERROR per image.
    s.create_active(json!({"StreamName": "junk", "DataRetentionInHours": 1}))
        .await;
    let mut b = body_head(&[h264_track(1)]);
    for i in 0..2 {
        b.extend(cluster(i, 10));
    }
    let (status, acks) = put_media(&s.url, "junk", b, 1 << 16).await;
    assert_eq!((status, persisted(&acks).len()), (200, 2), "{acks:?}");
    let base = BASE_MS as i64;
    // Fragments of 10 frames 33 ms apart, 1 s apart: 100 and 300 ms are inside the first,
    // 500..900 in the gap after it, 1100 inside the second.
    let (imgs, _) = images(&s, request("junk", base + 100, base + 1100, json!({}))).await;
    let kinds: Vec<&str> = imgs
        .iter()
        .map(|i| i["Error"].as_str().unwrap_or("image"))
        .collect();
    assert_eq!(
        kinds,
        [
            "MEDIA_ERROR",
            "MEDIA_ERROR",
            "NO_MEDIA",
            "NO_MEDIA",
            "NO_MEDIA",
            "MEDIA_ERROR"
        ]
    );
    // A stream whose video is not H.264/H.265: MEDIA_ERROR too (GetImages models no
    // UnsupportedStreamMediaTypeException).
    s.create_active(json!({"StreamName": "mjpeg", "DataRetentionInHours": 1}))
        .await;
    let mut track = h264_track(1);
    track.codec_id = "V_MJPEG".into();
    let mut b = body_head(&[track]);
    b.extend(cluster(0, 10));
    let (status, _) = put_media(&s.url, "mjpeg", b, 1 << 16).await;
    assert_eq!(status, 200);
    let (imgs, _) = images(&s, request("mjpeg", base + 100, base + 100, json!({}))).await;
    assert_eq!(imgs[0]["Error"], "MEDIA_ERROR");
    s.stop().await;
}

#[tokio::test]
async fn bad_requests_get_kvs_errors() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&dir.path().join("data")).await;
    s.create_active(json!({"StreamName": "cam", "DataRetentionInHours": 1}))
        .await;
    let ok = request("cam", START_MS, START_MS + 1000, json!({}));
    // The valid request works (no media: NO_MEDIA entries, not an error).
    let (imgs, _) = images(&s, ok.clone()).await;
    assert!(imgs.iter().all(|i| i["Error"] == "NO_MEDIA"));

    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = ok.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    let bad: Vec<(&str, Value)> = vec![
        ("format AVI", with("Format", json!("AVI"))),
        ("no format", without("Format")),
        ("no selector type", without("ImageSelectorType")),
        ("bad selector type", with("ImageSelectorType", json!("NOW"))),
        ("no start", without("StartTimestamp")),
        ("start not a number", with("StartTimestamp", json!("x"))),
        ("width 0", with("WidthPixels", json!(0))),
        ("width 5000", with("WidthPixels", json!(5000))),
        ("height 2161", with("HeightPixels", json!(2161))),
        ("interval 199", with("SamplingInterval", json!(199))),
        ("max results 0", with("MaxResults", json!(0))),
        ("max results 101", with("MaxResults", json!(101))),
        (
            "quality 0",
            with("FormatConfig", json!({"JPEGQuality": "0"})),
        ),
        (
            "quality key",
            with("FormatConfig", json!({"Quality": "50"})),
        ),
        (
            "end before start",
            with("EndTimestamp", json!(secs(START_MS - 1))),
        ),
        (
            "range over 300 s",
            with("EndTimestamp", json!(secs(START_MS + 300_001))),
        ),
        ("forged token", with("NextToken", json!("bm9wZQ=="))),
        ("no stream", without("StreamName")),
    ];
    for (case, body) in bad {
        let r: Reply = s.call("/getImages", body).await;
        r.assert_error(400, "InvalidArgumentException");
        assert!(!r.body["message"].as_str().unwrap().is_empty(), "{case}");
    }
    // Exactly 300 s is allowed.
    let (imgs, _) = images(&s, with("EndTimestamp", json!(secs(START_MS + 300_000)))).await;
    assert_eq!(imgs.len(), 25);
    s.call("/getImages", with("StreamName", json!("nope")))
        .await
        .assert_error(404, "ResourceNotFoundException");
    s.create_active(json!({"StreamName": "live", "DataRetentionInHours": 0}))
        .await;
    s.call("/getImages", with("StreamName", json!("live")))
        .await
        .assert_error(400, "NoDataRetentionException");
    s.stop().await;
}

/// What decoding may cost is checked before any decoding: a stream whose SPS declares
/// 8192x8192 pictures is refused (today's code decoded it: 905 MB at peak, 856 MB kept by the
/// idle decoder), and so is a page of 25 4K PNGs from a 300-byte request (1.3 s of CPU);
/// legitimate pages still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pictures_and_pages_over_the_limits_are_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&dir.path().join("data")).await;

    // A crafted stream: its CodecPrivate's SPS says 8192x8192, its frames are not real.
    s.create_active(json!({"StreamName": "huge", "DataRetentionInHours": 1}))
        .await;
    let mut track = h264_track(1);
    track.codec_private = vidstream::media::sps::craft::avcc(8192, 8192).into();
    let mut b = body_head(&[track]);
    b.extend(cluster(0, 10));
    let (status, acks) = put_media(&s.url, "huge", b, 1 << 16).await;
    assert_eq!((status, persisted(&acks).len()), (200, 1), "{acks:?}");
    let base = BASE_MS as i64;
    let r = s
        .call(
            "/getImages",
            request("huge", base + 100, base + 300, json!({})),
        )
        .await;
    r.assert_error(400, "InvalidArgumentException");
    let message = r.body["message"].as_str().unwrap();
    assert!(
        message.contains("8192x8192") && message.contains("decode_max_pixels"),
        "{message}"
    );
    // A time outside those pictures is not refused for them.
    let (imgs, _) = images(&s, request("huge", base + 5000, base + 5000, json!({}))).await;
    assert_eq!(imgs[0]["Error"], "NO_MEDIA");

    // A 320x240 stream: 25 PNGs stretched to 3840x2160 are over the budget, and the message
    // says what fits; the same page as JPEG at 1920x1080 works.
    assert_eq!(ingest_fixture(&s, "cam", H264, START_MS).await.len(), 5);
    let big = json!({"MaxResults": 25, "WidthPixels": 3840, "HeightPixels": 2160});
    let r = s
        .call("/getImages", request("cam", START_MS, START_MS + 4800, big))
        .await;
    r.assert_error(400, "InvalidArgumentException");
    let message = r.body["message"].as_str().unwrap();
    assert!(
        message.contains("25 images of up to 3840x2160 PNG")
            && message.contains("at most 2 images per page with MaxResults")
            && message.contains("images_max_request_pixels"),
        "{message}"
    );
    let hd = json!({"Format": "JPEG", "MaxResults": 25, "WidthPixels": 1920, "HeightPixels": 1080});
    let (imgs, _) = images(&s, request("cam", START_MS, START_MS + 4800, hd)).await;
    assert_eq!(imgs.len(), 25);
    assert!(imgs.iter().all(|i| i.get("ImageContent").is_some()));
    let path = save(dir.path(), "hd.jpg", &imgs[3]);
    assert_eq!(image_info(&path), ("mjpeg".to_owned(), 1920, 1080));
    s.stop().await;
}
