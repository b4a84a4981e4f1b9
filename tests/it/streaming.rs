//! HLS and DASH end to end: GetHLS/GetDASHStreamingSessionURL, then the URLs read by independent
//! players — ffprobe/ffmpeg (HLS in both containers and DASH, frame-exact via the fixtures'
//! framecode), hls.js and dash.js in headless Chromium (ON_DEMAND and LIVE), LL-HLS with its
//! player latency — and the session errors (forged, expired, bad parameters) in the KVS shape.

use crate::common::sign::SendSigned;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common;
use crate::common::TestServer;
use crate::common::browser::{self, Kind, PlayOpts};
use crate::common::media::*;
use crate::common::probe::fixture;

const T0: f64 = 1_700_000_000.0;

async fn put_fixture(s: &TestServer, stream: &str, file: &str) {
    s.create_active(json!({"StreamName": stream, "DataRetentionInHours": 1}))
        .await;
    let resp = reqwest::Client::new()
        .post(format!("{}/putMedia", s.url))
        .header("x-amzn-stream-name", stream)
        .header("x-amzn-fragment-timecode-type", "RELATIVE")
        .header("x-amzn-producer-start-timestamp", format!("{T0:.3}"))
        .body(std::fs::read(fixture(file)).unwrap())
        .send_signed()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let acks = parse_acks(&resp.text().await.unwrap());
    assert!(!persisted(&acks).is_empty(), "{acks:?}");
}

async fn hls_url(s: &TestServer, body: Value) -> String {
    let r = s.call("/getHLSStreamingSessionURL", body).await;
    r.assert_ok()["HLSStreamingSessionURL"]
        .as_str()
        .expect("HLSStreamingSessionURL")
        .to_owned()
}

fn on_demand(stream: &str, container: &str) -> Value {
    json!({
        "StreamName": stream,
        "PlaybackMode": "ON_DEMAND",
        "ContainerFormat": container,
        "DisplayFragmentTimestamp": "ALWAYS",
        "HLSFragmentSelector": {
            "FragmentSelectorType": "PRODUCER_TIMESTAMP",
            "TimestampRange": {"StartTimestamp": T0 - 1.0, "EndTimestamp": T0 + 60.0}
        }
    })
}

/// ffprobe of a URL: (codec, width, height, decoded frames, duration s) of the video stream.
fn probe_video(url: &str) -> (String, u32, u32, u32, f64) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames:format=duration",
            "-of",
            "json",
            url,
        ])
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "ffprobe {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("ffprobe json");
    let st = &v["streams"][0];
    (
        st["codec_name"].as_str().unwrap_or("").to_owned(),
        st["width"].as_u64().unwrap_or(0) as u32,
        st["height"].as_u64().unwrap_or(0) as u32,
        st["nb_read_frames"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        v["format"]["duration"]
            .as_str()
            .and_then(|d| d.parse().ok())
            .unwrap_or(0.0),
    )
}

/// ffprobe's codec names of every stream of `url`, one per line.
fn codec_names(url: &str) -> String {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
            url,
        ])
        .output()
        .expect("ffprobe runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ffmpeg -v error -i URL -f null -` prints nothing.
fn decodes_cleanly(url: &str) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i", url, "-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.trim().is_empty(),
        "ffmpeg {url}: {err}"
    );
}

/// The framecode indexes of every frame ffmpeg decodes from `url`.
fn frame_indexes(url: &str, dir: &Path) -> Vec<u32> {
    common::frames::indexes_of(url, &dir.join("frames.gray"), None)
}

/// Waits (up to 20 s) until the stream has `n` fragments.
async fn wait_fragments(s: &TestServer, stream: &str, n: usize) {
    let mut fragments = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let r = s
            .call("/listFragments", json!({"StreamName": stream}))
            .await;
        fragments = r.body["Fragments"].as_array().map_or(0, Vec::len);
        if fragments >= n {
            return;
        }
    }
    panic!("the producer made {fragments} fragments of {stream}, not {n}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_demand_master_urls_play_in_ffmpeg_frame_exact() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    put_fixture(&s, "h264", "gst_h264_320x240_gop30_5s.mkv").await;
    put_fixture(&s, "h265", "gst_h265_320x240_gop30_3s.mkv").await;
    put_fixture(&s, "av", "gst_h264_aac_320x240_3s.mkv").await;
    for container in ["FRAGMENTED_MP4", "MPEG_TS"] {
        let url = hls_url(&s, on_demand("h264", container)).await;
        assert!(url.starts_with(&format!(
            "{}/hls/v1/getHLSMasterPlaylist.m3u8?SessionToken=",
            s.url
        )));
        let (codec, w, h, frames, duration) = probe_video(&url);
        assert_eq!(
            (codec.as_str(), w, h, frames),
            ("h264", 320, 240, 150),
            "{container}"
        );
        assert!((duration - 5.0).abs() < 0.15, "{container}: {duration} s");
        decodes_cleanly(&url);
        let idx = frame_indexes(&url, dir.path());
        assert_eq!(idx, (0..150).collect::<Vec<u32>>(), "{container}");

        let url = hls_url(&s, on_demand("h265", container)).await;
        let (codec, w, h, frames, _) = probe_video(&url);
        assert_eq!(
            (codec.as_str(), w, h, frames),
            ("hevc", 320, 240, 90),
            "{container}"
        );
        decodes_cleanly(&url);

        let url = hls_url(&s, on_demand("av", container)).await;
        decodes_cleanly(&url);
        let codecs = codec_names(&url);
        assert!(
            codecs.contains("h264") && codecs.contains("aac"),
            "{container}: {codecs}"
        );
    }

    // The playlist itself: VOD, one init (fMP4), program date times from producer time.
    let url = hls_url(&s, on_demand("h264", "FRAGMENTED_MP4")).await;
    let master = reqwest::get(&url).await.unwrap();
    assert_eq!(
        master.headers()["content-type"],
        "application/vnd.apple.mpegurl"
    );
    let master = master.text().await.unwrap();
    let media_path = master
        .lines()
        .find(|l| l.starts_with("getHLSMediaPlaylist"))
        .expect("variant");
    assert!(
        master.contains("CODECS=\"avc1.") && master.contains("RESOLUTION=320x240"),
        "{master}"
    );
    let base = url.split("getHLSMasterPlaylist").next().unwrap();
    let media = reqwest::get(format!("{base}{media_path}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let p = m3u8_rs::parse_media_playlist_res(media.as_bytes()).expect("valid playlist");
    assert_eq!(p.segments.len(), 5, "{media}");
    assert!(p.end_list);
    assert_eq!(p.segments.iter().filter(|s| s.map.is_some()).count(), 1);
    assert!(
        media.contains("#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z"),
        "{media}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_refuse_bad_requests_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(vidstream::time::SimClock::new(vidstream::time::ServerTime(
        1_800_000_000_000,
    )));
    let s = TestServer::start_with_clock(dir.path(), |_| {}, clock.clone()).await;
    put_fixture(&s, "cam", "gst_h264_320x240_gop30_5s.mkv").await;
    s.create_active(json!({"StreamName": "nokeep", "DataRetentionInHours": 0}))
        .await;
    s.create_active(json!({"StreamName": "empty", "DataRetentionInHours": 1}))
        .await;
    let bad = |body: Value, status: u16, name: &'static str| {
        let s = &s;
        async move {
            s.call("/getHLSStreamingSessionURL", body.clone())
                .await
                .assert_error(status, name);
        }
    };
    let range = json!({"StartTimestamp": T0, "EndTimestamp": T0 + 10.0});
    bad(
        json!({"StreamName": "cam", "PlaybackMode": "ON_DEMAND"}),
        400,
        "InvalidArgumentException",
    )
    .await;
    bad(json!({"StreamName": "cam", "HLSFragmentSelector": {"FragmentSelectorType": "PRODUCER_TIMESTAMP", "TimestampRange": range}}), 400, "InvalidArgumentException").await;
    bad(
        json!({"StreamName": "cam", "PlaybackMode": "SOMETIMES"}),
        400,
        "InvalidArgumentException",
    )
    .await;
    bad(
        json!({"StreamName": "cam", "ContainerFormat": "AVI"}),
        400,
        "InvalidArgumentException",
    )
    .await;
    bad(
        json!({"StreamName": "cam", "Expires": 10}),
        400,
        "InvalidArgumentException",
    )
    .await;
    bad(
        json!({"StreamName": "cam", "MaxMediaPlaylistFragmentResults": 0}),
        400,
        "InvalidArgumentException",
    )
    .await;
    bad(json!({"StreamName": "cam", "PlaybackMode": "ON_DEMAND", "HLSFragmentSelector": {"FragmentSelectorType": "PRODUCER_TIMESTAMP", "TimestampRange": {"StartTimestamp": T0, "EndTimestamp": T0 - 1.0}}}), 400, "InvalidArgumentException").await;
    bad(
        json!({"StreamName": "missing"}),
        404,
        "ResourceNotFoundException",
    )
    .await;
    bad(
        json!({"StreamName": "nokeep"}),
        400,
        "NoDataRetentionException",
    )
    .await;
    // LIVE needs a fragment received in the last 30 s.
    bad(
        json!({"StreamName": "empty"}),
        404,
        "ResourceNotFoundException",
    )
    .await;
    bad(json!({"StreamName": "cam", "PlaybackMode": "ON_DEMAND", "HLSFragmentSelector": {"FragmentSelectorType": "PRODUCER_TIMESTAMP", "TimestampRange": {"StartTimestamp": T0 + 100.0, "EndTimestamp": T0 + 200.0}}}), 404, "ResourceNotFoundException").await;

    // A good session, then its token forged, truncated, and expired.
    let mut body = on_demand("cam", "FRAGMENTED_MP4");
    body["Expires"] = json!(300);
    let url = hls_url(&s, body).await;
    let ok = reqwest::get(&url).await.unwrap();
    assert_eq!(ok.status(), 200);
    let token = url.split("SessionToken=").nth(1).unwrap().to_owned();
    let (payload, tag) = token.split_once('.').unwrap();
    let flipped = if tag.starts_with('A') { "B" } else { "A" };
    let forged = format!("{payload}.{flipped}{}", &tag[1..]);
    let base = url.split("SessionToken=").next().unwrap();
    for t in [forged.as_str(), &token[..token.len() / 2], "nonsense"] {
        let r = reqwest::get(format!("{base}SessionToken={t}"))
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.headers()["x-amzn-errortype"]
                .to_str()
                .unwrap()
                .split(':')
                .next(),
            Some("NotAuthorizedException")
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["__type"], "NotAuthorizedException");
    }
    let r = reqwest::get(base).await.unwrap();
    assert_eq!(r.status(), 400);
    clock.advance_ms(301_000);
    let r = reqwest::get(&url).await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap_or("").contains("expired"),
        "{body}"
    );
    // Five minutes after the producer stopped, LIVE has nothing to play.
    bad(
        json!({"StreamName": "cam"}),
        404,
        "ResourceNotFoundException",
    )
    .await;

    // Playback URLs answer CORS preflights from any origin (players on other sites); the API
    // answers none by default ([auth] cors_allowed_origins is empty).
    let preflight = |path: String| {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, format!("{}{path}", s.url))
            .header("Origin", "http://player.example")
            .header("Access-Control-Request-Method", "GET")
            .header(
                "Access-Control-Request-Headers",
                "content-type,authorization",
            )
            .send()
    };
    let playlist = url.trim_start_matches(&s.url).to_owned();
    let pre = preflight(playlist).await.unwrap();
    assert!(pre.status().is_success());
    assert_eq!(
        pre.headers()["access-control-allow-origin"],
        "http://player.example"
    );
    let pre = preflight("/getHLSStreamingSessionURL".into())
        .await
        .unwrap();
    assert!(
        !pre.headers().contains_key("access-control-allow-origin"),
        "{:?}",
        pre.headers()
    );
    s.stop().await;
}

/// A session token is scoped to what it was minted for: an ON_DEMAND token for the first second
/// of a stream serves that fragment's media and init segments, and no other fragment's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_demand_tokens_serve_only_their_range() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    put_fixture(&s, "cam", "gst_h264_320x240_gop30_5s.mkv").await;
    let numbers = s.fragment_numbers("cam").await;
    assert!(numbers.len() >= 3, "{numbers:?}");
    let mut body = on_demand("cam", "FRAGMENTED_MP4");
    body["HLSFragmentSelector"]["TimestampRange"] =
        json!({"StartTimestamp": T0 - 1.0, "EndTimestamp": T0 + 0.5});
    let url = hls_url(&s, body).await;
    let token = url.split("SessionToken=").nth(1).unwrap();
    let get = |file: &str, n: &str| {
        reqwest::get(format!(
            "{}/hls/v1/{file}?SessionToken={token}&FragmentNumber={n}",
            s.url
        ))
    };
    for file in ["getMP4MediaFragment.mp4", "getMP4InitFragment.mp4"] {
        assert_eq!(
            get(file, &numbers[0]).await.unwrap().status(),
            200,
            "{file}"
        );
        for n in &numbers[1..] {
            let r = get(file, n).await.unwrap();
            assert_eq!(r.status(), 404, "{file} {n} is outside the token's range");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["__type"], "ResourceNotFoundException", "{body}");
        }
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hls_js_plays_on_demand_and_live() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    put_fixture(&s, "vod", "gst_h264_320x240_gop30_5s.mkv").await;
    let url = hls_url(&s, on_demand("vod", "FRAGMENTED_MP4")).await;
    let r = browser::play_async(
        &url,
        Kind::Hls,
        PlayOpts {
            seconds: 4.0,
            frames: true,
            ..Default::default()
        },
    )
    .await;
    r.assert_playing(2.0);
    let idx = r.frame_indexes();
    assert!(
        idx.windows(2).all(|w| w[0] <= w[1]),
        "frames in order: {idx:?}"
    );
    assert!(
        idx.last().copied().unwrap_or(0) >= idx.first().copied().unwrap_or(0) + 60,
        "{idx:?}"
    );

    // LIVE: a test-pattern producer (vidstream push) sends in real time.
    s.create_active(json!({"StreamName": "live", "DataRetentionInHours": 1}))
        .await;
    let mut push = Command::new(env!("CARGO_BIN_EXE_vidstream"))
        .args(["push", "--endpoint", &s.url, "--stream", "live"])
        .env("AWS_ACCESS_KEY_ID", common::sign::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", common::sign::SECRET_KEY)
        .arg("testsrc://?width=320&height=240&fps=30&gop=30&duration=40")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("vidstream push");
    wait_fragments(&s, "live", 3).await;
    let url = hls_url(
        &s,
        json!({"StreamName": "live", "PlaybackMode": "LIVE", "DisplayFragmentTimestamp": "ALWAYS"}),
    )
    .await;
    let r = browser::play_async(
        &url,
        Kind::Hls,
        PlayOpts {
            seconds: 8.0,
            ..Default::default()
        },
    )
    .await;
    let _ = push.kill();
    let _ = push.wait();
    r.assert_playing(4.0);
    let lat: Vec<f64> = r.samples.iter().filter_map(|x| x.latency_ms).collect();
    let p50 = percentile(lat.clone(), 0.5);
    eprintln!("LIVE (plain HLS) hls.js latency p50 {p50:.0} ms (samples {lat:?})");
    // The target is 6 s (reported above); the assertion leaves room for a loaded CI.
    assert!(p50 < 9000.0, "plain HLS latency p50 {p50} ms");
    s.stop().await;
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(((v.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn low_latency_hls_parts_blocking_reload_and_player_latency() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    s.create_active(json!({"StreamName": "ll", "DataRetentionInHours": 1}))
        .await;
    // A producer that sends every frame the moment it is "captured", as kvssink and cameras
    // do (vidstream push sends whole fragments), for 60 s.
    let producer = tokio::spawn(realtime_producer(
        s.url.clone(),
        "ll".into(),
        now_ms(),
        0,
        60_000,
    ));
    wait_fragments(&s, "ll", 2).await;
    let url = hls_url(
        &s,
        json!({"StreamName": "ll", "DisplayFragmentTimestamp": "ALWAYS", "LowLatency": true}),
    )
    .await;
    let base = url.split("getHLSMasterPlaylist").next().unwrap().to_owned();
    let token = url.split("SessionToken=").nth(1).unwrap().to_owned();
    let media_url = format!("{base}getHLSMediaPlaylist.m3u8?SessionToken={token}");
    let text = reqwest::get(&media_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("#EXT-X-PART-INF:PART-TARGET=0.333"), "{text}");
    assert!(
        text.contains("CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.0"),
        "{text}"
    );
    let hint = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""))
        .unwrap_or_else(|| panic!("a preload hint in\n{text}"))
        .trim_end_matches('"')
        .to_owned();
    let p = m3u8_rs::parse_media_playlist_res(text.as_bytes()).expect("valid playlist");
    let next_msn = p.media_sequence + p.segments.len() as u64;
    let next_part: u64 = hint.rsplit("Part=").next().unwrap().parse().unwrap();

    // The hinted part does not exist yet: fetching it blocks until it does, then it is a
    // media segment whose frames ffprobe decodes after the init segment.
    let t = std::time::Instant::now();
    let part = reqwest::get(format!("{base}{hint}")).await.unwrap();
    assert_eq!(part.status(), 200, "{hint}");
    let part = part.bytes().await.unwrap();
    let waited = t.elapsed();
    let init_path = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .expect("a map")
        .trim_end_matches('"')
        .to_owned();
    let init = reqwest::get(format!("{base}{init_path}"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let file = dir.path().join("part.mp4");
    std::fs::write(&file, [&init[..], &part[..]].concat()).unwrap();
    // Packets, not decoded frames: a hinted part other than a fragment's first starts after
    // its keyframe, so on its own (init + part) its frames cannot be decoded; which part the
    // hint names depends on timing.
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_packets",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "csv=p=0",
        ])
        .arg(&file)
        .output()
        .unwrap();
    let frames: u32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(
        (5..=15).contains(&frames),
        "a 333 ms part at 30 fps: {frames} frames"
    );

    // Blocking reload: asking for that part returns a playlist that lists it.
    let t = std::time::Instant::now();
    let blocked = reqwest::get(format!(
        "{media_url}&_HLS_msn={next_msn}&_HLS_part={next_part}"
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(
        blocked.contains(&format!("Part={next_part}\"")) || {
            let q = m3u8_rs::parse_media_playlist_res(blocked.as_bytes()).unwrap();
            q.media_sequence + q.segments.len() as u64 > next_msn
        },
        "{blocked}"
    );
    // A request far ahead is refused at once.
    let far = reqwest::get(format!("{media_url}&_HLS_msn={}", next_msn + 10))
        .await
        .unwrap();
    assert_eq!(far.status(), 400);
    eprintln!(
        "hinted part waited {waited:?}; blocking reload took {:?}",
        t.elapsed()
    );

    // hls.js in low-latency mode: latency by program date time.
    let r = browser::play_async(
        &url,
        Kind::Hls,
        PlayOpts {
            seconds: 10.0,
            low_latency: true,
            ..Default::default()
        },
    )
    .await;
    r.assert_playing(5.0);
    let lat: Vec<f64> = r
        .samples
        .iter()
        .filter(|x| x.current_time > 1.0)
        .filter_map(|x| x.latency_ms)
        .collect();
    let p50 = percentile(lat.clone(), 0.5);
    eprintln!("LL-HLS hls.js latency p50 {p50:.0} ms (samples {lat:?})");
    // The target is 1.5 s (reported by this line); the assertion leaves room for a loaded CI.
    assert!(p50 < 3000.0, "LL-HLS latency p50 {p50} ms");
    producer.abort();
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dash_manifests_play_in_ffmpeg_and_dash_js() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    put_fixture(&s, "vod", "gst_h264_320x240_gop30_5s.mkv").await;
    put_fixture(&s, "av", "gst_h264_aac_320x240_3s.mkv").await;
    let dash_url = |stream: &str| {
        json!({
            "StreamName": stream,
            "PlaybackMode": "ON_DEMAND",
            "DisplayFragmentTimestamp": "ALWAYS",
            "DisplayFragmentNumber": "ALWAYS",
            "DASHFragmentSelector": {
                "FragmentSelectorType": "PRODUCER_TIMESTAMP",
                "TimestampRange": {"StartTimestamp": T0 - 1.0, "EndTimestamp": T0 + 60.0}
            }
        })
    };
    let r = s.call("/getDASHStreamingSessionURL", dash_url("vod")).await;
    let url = r.assert_ok()["DASHStreamingSessionURL"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        url.contains("/dash/v1/getDASHManifest.mpd?SessionToken="),
        "{url}"
    );
    let mpd = reqwest::get(&url).await.unwrap();
    assert_eq!(mpd.headers()["content-type"], "application/dash+xml");
    let mpd = mpd.text().await.unwrap();
    assert!(
        mpd.contains("kvs:fn=\"91") && mpd.contains("kvs:ts=\"1700000000000\""),
        "{mpd}"
    );
    // ffprobe's DASH demuxer reports whole seconds of duration; the manifest says it exactly.
    assert!(mpd.contains("mediaPresentationDuration=\"PT4.99"), "{mpd}");
    let (codec, w, h, frames, _) = probe_video(&url);
    assert_eq!((codec.as_str(), w, h, frames), ("h264", 320, 240, 150));
    decodes_cleanly(&url);
    assert_eq!(
        frame_indexes(&url, dir.path()),
        (0..150).collect::<Vec<u32>>()
    );

    let r = s.call("/getDASHStreamingSessionURL", dash_url("av")).await;
    let av = r.assert_ok()["DASHStreamingSessionURL"]
        .as_str()
        .unwrap()
        .to_owned();
    let codecs = codec_names(&av);
    assert!(
        codecs.contains("h264") && codecs.contains("aac"),
        "{codecs}"
    );

    let r = browser::play_async(
        &url,
        Kind::Dash,
        PlayOpts {
            seconds: 4.0,
            frames: true,
            ..Default::default()
        },
    )
    .await;
    r.assert_playing(2.0);
    let idx = r.frame_indexes();
    assert!(
        idx.windows(2).all(|w| w[0] <= w[1]),
        "frames in order: {idx:?}"
    );

    // LIVE: a real-time producer, dash.js follows the dynamic manifest.
    s.create_active(json!({"StreamName": "live", "DataRetentionInHours": 1}))
        .await;
    let producer = tokio::spawn(realtime_producer(
        s.url.clone(),
        "live".into(),
        now_ms(),
        0,
        40_000,
    ));
    wait_fragments(&s, "live", 3).await;
    let r = s
        .call("/getDASHStreamingSessionURL", json!({"StreamName": "live"}))
        .await;
    let live = r.assert_ok()["DASHStreamingSessionURL"]
        .as_str()
        .unwrap()
        .to_owned();
    let mpd = reqwest::get(&live).await.unwrap().text().await.unwrap();
    assert!(mpd.contains("type=\"dynamic\""), "{mpd}");
    let r = browser::play_async(
        &live,
        Kind::Dash,
        PlayOpts {
            seconds: 8.0,
            ..Default::default()
        },
    )
    .await;
    producer.abort();
    r.assert_playing(3.0);
    let lat: Vec<f64> = r.samples.iter().filter_map(|x| x.latency_ms).collect();
    eprintln!("LIVE dash.js latency ms: {lat:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn codec_change_gets_a_new_init_segment_and_a_discontinuity() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    put_fixture(&s, "mixed", "gst_h264_320x240_gop30_5s.mkv").await;
    // The H.265 fixture ten seconds later: a codec change and a gap.
    let resp = reqwest::Client::new()
        .post(format!("{}/putMedia", s.url))
        .header("x-amzn-stream-name", "mixed")
        .header("x-amzn-fragment-timecode-type", "RELATIVE")
        .header(
            "x-amzn-producer-start-timestamp",
            format!("{:.3}", T0 + 10.0),
        )
        .body(std::fs::read(fixture("gst_h265_320x240_gop30_3s.mkv")).unwrap())
        .send_signed()
        .await
        .unwrap();
    assert!(!persisted(&parse_acks(&resp.text().await.unwrap())).is_empty());
    for (mode, discontinuities) in [("ON_DISCONTINUITY", 1), ("NEVER", 1), ("ALWAYS", 8)] {
        let mut body = on_demand("mixed", "FRAGMENTED_MP4");
        body["DiscontinuityMode"] = json!(mode);
        let url = hls_url(&s, body).await;
        let base = url.split("getHLSMasterPlaylist").next().unwrap().to_owned();
        let token = url.split("SessionToken=").nth(1).unwrap();
        let media = reqwest::get(format!(
            "{base}getHLSMediaPlaylist.m3u8?SessionToken={token}"
        ))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
        let p = m3u8_rs::parse_media_playlist_res(media.as_bytes()).unwrap();
        assert_eq!(p.segments.len(), 8, "{media}");
        let maps: Vec<usize> = (0..8).filter(|&i| p.segments[i].map.is_some()).collect();
        assert_eq!(maps, [0, 5], "{mode}: {media}");
        let disc = p.segments.iter().filter(|x| x.discontinuity).count();
        assert_eq!(disc, discontinuities, "{mode}: {media}");
        assert!(p.segments[5].discontinuity, "{mode}");
        // Each init + its first segment decodes as its own codec.
        for (i, codec) in [(0, "h264"), (5, "hevc")] {
            let seg = &p.segments[i];
            let init = reqwest::get(format!("{base}{}", seg.map.as_ref().unwrap().uri))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let data = reqwest::get(format!("{base}{}", seg.uri))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let file = dir.path().join(format!("seg{i}.mp4"));
            std::fs::write(&file, [&init[..], &data[..]].concat()).unwrap();
            let (c, _, _, frames, _) = probe_video(file.to_str().unwrap());
            assert_eq!((c.as_str(), frames), (codec, 30), "{mode} segment {i}");
        }
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn live_replay_grows_in_real_time_and_slides_with_numbered_segments() {
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(vidstream::time::SimClock::new(vidstream::time::ServerTime(
        (T0 * 1000.0) as i64 + 60_000,
    )));
    let s = TestServer::start_with_clock(dir.path(), |_| {}, clock.clone()).await;
    put_fixture(&s, "cam", "gst_h264_320x240_gop30_5s.mkv").await;
    let playlist = |body: Value| {
        let s = &s;
        async move {
            let url = hls_url(s, body).await;
            let base = url.split("getHLSMasterPlaylist").next().unwrap().to_owned();
            let token = url.split("SessionToken=").nth(1).unwrap().to_owned();
            let media_url = format!("{base}getHLSMediaPlaylist.m3u8?SessionToken={token}");
            (media_url, base)
        }
    };
    let get = |url: String| async move {
        let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
        m3u8_rs::parse_media_playlist_res(text.as_bytes()).unwrap()
    };
    // Replay from 20 s before the fixture: the head (start + elapsed + 10 s lead) has not
    // reached it yet, so the playlist is empty; 10 s later it shows the first fragments.
    let body = json!({
        "StreamName": "cam",
        "PlaybackMode": "LIVE_REPLAY",
        "MaxMediaPlaylistFragmentResults": 2,
        "HLSFragmentSelector": {
            "FragmentSelectorType": "PRODUCER_TIMESTAMP",
            "TimestampRange": {"StartTimestamp": T0 - 20.0}
        }
    });
    // No fragment in [T0 - 20, ...) until the head reaches T0: still a valid session (the
    // range has fragments), the window is empty at first.
    let (url, _) = playlist(body).await;
    let p = get(url.clone()).await;
    assert_eq!(p.segments.len(), 0);
    assert!(!p.end_list);
    clock.advance_ms(11_500);
    let p = get(url.clone()).await;
    assert_eq!(
        p.segments.len(),
        2,
        "head at T0 + 1.5 s: fragments at 0 and 1 s"
    );
    assert_eq!(p.media_sequence, 0);
    clock.advance_ms(3_000);
    let p = get(url.clone()).await;
    // Head at T0 + 4.5 s: fragments 0..4 visible, the window holds the newest 2 (3 and 4).
    assert_eq!(p.media_sequence, 3, "sliding window numbering");
    assert_eq!(p.segments.len(), 2);
    assert!(!p.end_list);
    // With an end in the past of the head, the playlist ends.
    let (url, _) = playlist(json!({
        "StreamName": "cam",
        "PlaybackMode": "LIVE_REPLAY",
        "HLSFragmentSelector": {
            "FragmentSelectorType": "PRODUCER_TIMESTAMP",
            "TimestampRange": {"StartTimestamp": T0, "EndTimestamp": T0 + 2.5}
        }
    }))
    .await;
    let p = get(url).await;
    assert!(p.end_list);
    assert_eq!(p.segments.len(), 3);
    s.stop().await;
}
