//! The frame hook end to end (UpdateImageGenerationConfiguration): a gst-made fixture whose
//! frames carry their index goes in through PutMedia, pictures come out at a real destination —
//! a directory, a webhook server on loopback, and a real S3-protocol server (s3s-fs through
//! `vidstream::testbed::s3`; scripts/install-deps.sh --test-tools installs it) — and ffmpeg +
//! the fixture's framecode tell which frame each picture shows; the expected frame per sample
//! time comes from the fixture's packet times (ffprobe). Then: a webhook that takes seconds per picture does not slow ingest (the drop
//! counter rises instead), and bad configurations get KVS errors.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::common;
use crate::common::media::put_fixture_paced;
use crate::common::probe::{shown_index, video_pts};
use crate::common::{Reply, TestServer};
use vidstream::egress;
use vidstream::store::object::ObjectStore;
use vidstream::testbed::s3::S3s;

/// The webhook receivers of these tests listen on loopback, which webhooks may not reach
/// unless the admin allows it (`[hook] webhook_allowed_networks`).
fn allow_loopback_webhooks(c: &mut vidstream::config::Config) {
    c.hook.webhook_allowed_networks = egress::networks(egress::LOOPBACK);
}

/// The bucket of the `s3://` configurations: an API caller may only name listed buckets.
fn allow_bucket(c: &mut vidstream::config::Config, bucket: &str) {
    c.hook.allowed_s3_buckets = vec![bucket.to_owned()];
}

/// `x-amzn-producer-start-timestamp` of every ingest (a multiple of every interval used).
const START_MS: i64 = 1_700_000_000_000;
const H264: &str = "gst_h264_320x240_gop30_5s.mkv";

/// The framecode index of the picture in `bytes`, decoded by ffmpeg.
fn framecode(dir: &Path, name: &str, bytes: &[u8]) -> u32 {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let got =
        common::frames::indexes_of(&path.to_string_lossy(), &path.with_extension("gray"), None);
    assert_eq!(got.len(), 1, "one picture in {name}");
    got[0]
}

fn config(uri: &str, interval: i64, format: &str) -> Value {
    json!({
        "Status": "ENABLED",
        "ImageSelectorType": "PRODUCER_TIMESTAMP",
        "DestinationConfig": {"Uri": uri, "DestinationRegion": "us-east-1"},
        "SamplingInterval": interval,
        "Format": format,
    })
}

async fn create(s: &TestServer, name: &str) {
    s.create_active(json!({"StreamName": name, "DataRetentionInHours": 1}))
        .await;
}

async fn set(s: &TestServer, name: &str, cfg: Value) -> Reply {
    s.call(
        "/updateImageGenerationConfiguration",
        json!({"StreamName": name, "ImageGenerationConfiguration": cfg}),
    )
    .await
}

async fn status(s: &TestServer, name: &str) -> Value {
    let r = s
        .call(
            "/describeImageGenerationConfiguration",
            json!({"StreamName": name}),
        )
        .await;
    r.assert_ok()["DeliveryStatus"].clone()
}

/// Polls DeliveryStatus until `done` holds (60 s at most).
async fn wait_status(s: &TestServer, name: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let st = status(s, name).await;
        if done(&st) {
            return st;
        }
        assert!(Instant::now() < deadline, "hook of {name} stuck at {st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"))
}

/// One request a webhook received.
#[derive(Clone, Debug)]
struct Hit {
    headers: HeaderMap,
    body: Bytes,
}

/// A webhook on loopback that records every POST after sleeping `delay`.
async fn webhook(delay: Duration) -> (String, Arc<Mutex<Vec<Hit>>>) {
    let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
    let h = Arc::clone(&hits);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let h = Arc::clone(&h);
            async move {
                tokio::time::sleep(delay).await;
                h.lock().unwrap().push(Hit { headers, body });
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), hits)
}

/// Checks that the pictures (name → bytes) are exactly the frames shown at
/// START_MS + k * interval, named by their producer timestamps.
fn check_frames(scratch: &Path, pictures: &BTreeMap<i64, Vec<u8>>, interval: i64, ext: &str) {
    let pts = video_pts(H264);
    let want: Vec<(i64, u32)> = (0..5000 / interval)
        .map(|k| shown_index(&pts, k * interval))
        .map(|f| (START_MS + pts[f as usize], f))
        .collect();
    let got: Vec<(i64, u32)> = pictures
        .iter()
        .map(|(producer, bytes)| {
            (
                *producer,
                framecode(scratch, &format!("{producer}.{ext}"), bytes),
            )
        })
        .collect();
    assert_eq!(got, want, "pictures (producer ms, frame index)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_and_webhook_destinations_get_the_frames_on_the_grid() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("images");
    let r = root.clone();
    let s = TestServer::start_with(&dir.path().join("data"), move |c| {
        c.hook.file_root = r.to_string_lossy().into_owned();
        c.hook.queue_capacity = 64;
        allow_loopback_webhooks(c);
    })
    .await;
    let (url, hits) = webhook(Duration::ZERO).await;
    create(&s, "hook-file").await;
    create(&s, "hook-web").await;
    let uri = format!("file://{}/cams", root.display());
    set(&s, "hook-file", config(&uri, 1000, "PNG"))
        .await
        .assert_ok();
    let mut web = config(&url, 500, "JPEG");
    web["FormatConfig"] = json!({"JPEGQuality": "95"});
    set(&s, "hook-web", web.clone()).await.assert_ok();
    // Describe echoes the configuration (JPEG quality included).
    let d = s
        .call(
            "/describeImageGenerationConfiguration",
            json!({"StreamName": "hook-web"}),
        )
        .await;
    assert_eq!(d.assert_ok()["ImageGenerationConfiguration"], web);

    let (a, b) = tokio::join!(
        put_fixture_paced(&s.url, "hook-file", H264, START_MS),
        put_fixture_paced(&s.url, "hook-web", H264, START_MS),
    );
    assert_eq!((a, b), (5, 5), "fragments persisted");
    let st = wait_status(&s, "hook-file", |v| n(v, "Delivered") >= 5).await;
    assert_eq!(
        (n(&st, "Generated"), n(&st, "Dropped"), n(&st, "Failed")),
        (5, 0, 0),
        "{st}"
    );
    let st = wait_status(&s, "hook-web", |v| n(v, "Delivered") >= 10).await;
    assert_eq!(
        (n(&st, "Generated"), n(&st, "Dropped"), n(&st, "Failed")),
        (10, 0, 0),
        "{st}"
    );

    // Files: <root>/cams/<stream>/<yyyy>/<mm>/<dd>/<hh>/<producer>-<server>-<fragment>.png,
    // and no temporary file left behind.
    let stream_dir = root.join("cams/hook-file/2023/11/14/22");
    let mut files: BTreeMap<i64, Vec<u8>> = BTreeMap::new();
    for e in std::fs::read_dir(&stream_dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        let parts: Vec<&str> = name.trim_end_matches(".png").split('-').collect();
        assert!(
            name.ends_with(".png") && parts.len() == 3,
            "file name {name}"
        );
        assert_eq!(parts[2].len(), 47, "fragment number in {name}");
        let producer: i64 = parts[0].parse().unwrap();
        let server: i64 = parts[1].parse().unwrap();
        assert!(
            server > producer,
            "server time of {name} is the arrival, after 2023"
        );
        files.insert(producer, std::fs::read(stream_dir.join(&name)).unwrap());
    }
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    check_frames(&scratch, &files, 1000, "png");

    // Webhook: one POST per picture, metadata in headers.
    let hits = hits.lock().unwrap().clone();
    let mut posts: BTreeMap<i64, Vec<u8>> = BTreeMap::new();
    for h in &hits {
        let hv = |k: &str| h.headers[k].to_str().unwrap().to_owned();
        assert_eq!(hv("content-type"), "image/jpeg");
        assert_eq!(hv("x-vidstream-stream-name"), "hook-web");
        assert_eq!(hv("x-vidstream-format"), "JPEG");
        assert_eq!(hv("x-vidstream-image-selector-type"), "PRODUCER_TIMESTAMP");
        assert_eq!(hv("x-vidstream-fragment-number").len(), 47);
        let sample: i64 = hv("x-vidstream-sample-timestamp").parse().unwrap();
        assert_eq!(sample % 500, 0, "sample times are on the grid");
        let producer: i64 = hv("x-vidstream-producer-timestamp").parse().unwrap();
        assert!(
            producer <= sample && sample - producer < 40,
            "{producer} shows {sample}"
        );
        posts.insert(producer, h.body.to_vec());
    }
    assert_eq!(posts.len(), 10, "{} distinct pictures", posts.len());
    check_frames(&scratch, &posts, 500, "jpg");

    // DISABLED keeps the configuration and stops the hook; no configuration removes it.
    let mut off = config(&uri, 1000, "PNG");
    off["Status"] = json!("DISABLED");
    set(&s, "hook-file", off.clone()).await.assert_ok();
    let d = s
        .call(
            "/describeImageGenerationConfiguration",
            json!({"StreamName": "hook-file"}),
        )
        .await;
    let d = d.assert_ok();
    assert_eq!(d["ImageGenerationConfiguration"], off);
    assert!(d.get("DeliveryStatus").is_none(), "{d}");
    s.call(
        "/updateImageGenerationConfiguration",
        json!({"StreamName": "hook-file"}),
    )
    .await
    .assert_ok();
    let d = s
        .call(
            "/describeImageGenerationConfiguration",
            json!({"StreamName": "hook-file"}),
        )
        .await;
    assert_eq!(d.assert_ok(), &json!({}));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_webhook_does_not_slow_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(dir.path(), |c| {
        c.hook.queue_capacity = 2;
        c.hook.webhook_timeout_ms = 30_000;
        c.hook.webhook_attempts = 1;
        allow_loopback_webhooks(c);
    })
    .await;
    // Every POST takes 3 s: the 25 pictures below would take 75 s to deliver.
    let (url, hits) = webhook(Duration::from_secs(3)).await;
    create(&s, "hook-base").await;
    create(&s, "hook-slow").await;
    set(&s, "hook-slow", config(&url, 200, "PNG"))
        .await
        .assert_ok();

    let t = Instant::now();
    assert_eq!(
        put_fixture_paced(&s.url, "hook-base", H264, START_MS).await,
        5
    );
    let baseline = t.elapsed();
    let t = Instant::now();
    assert_eq!(
        put_fixture_paced(&s.url, "hook-slow", H264, START_MS).await,
        5
    );
    let hooked = t.elapsed();
    eprintln!("ingest of 5 fragments: {baseline:?} without a hook, {hooked:?} with the slow one");
    // Ingest with the hook takes about what it takes without, far less than one POST.
    assert!(
        hooked < baseline + Duration::from_millis(2500),
        "ingest took {hooked:?} with a slow hook, {baseline:?} without"
    );
    // All 25 pictures are made; the queue of 2 drops the oldest instead of waiting.
    let st = wait_status(&s, "hook-slow", |v| n(v, "Generated") >= 25).await;
    eprintln!("hook counters once all pictures were made: {st}");
    assert_eq!(n(&st, "Generated"), 25, "{st}");
    assert!(n(&st, "Dropped") >= 20, "{st}");
    assert!(n(&st, "Queued") <= 2, "{st}");
    let accounted = n(&st, "Delivered") + n(&st, "Dropped") + n(&st, "Failed") + n(&st, "Queued");
    assert!(
        accounted == 25 || accounted == 24,
        "every picture delivered, dropped, failed, queued or in flight: {st}"
    );
    // The newest pictures survive: the last one delivered is from the last second.
    let st = wait_status(&s, "hook-slow", |v| {
        n(v, "Queued") == 0 && n(v, "Delivered") + n(v, "Dropped") == 25
    })
    .await;
    assert_eq!(n(&st, "Failed"), 0, "{st}");
    let last = hits
        .lock()
        .unwrap()
        .iter()
        .map(|h| {
            h.headers["x-vidstream-sample-timestamp"]
                .to_str()
                .unwrap()
                .parse::<i64>()
                .unwrap()
        })
        .max()
        .expect("something delivered");
    assert!(last >= START_MS + 4000, "last delivered sample {last}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_destination_puts_objects_on_a_real_s3_server() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3s::start().expect("s3s-fs (scripts/install-deps.sh --test-tools installs it)");
    let (endpoint, key, secret) = (
        s3.endpoint(),
        s3.access_key().to_owned(),
        s3.secret_key().to_owned(),
    );
    let bucket = s3.bucket().to_owned();
    let b = bucket.clone();
    let s = TestServer::start_with(&dir.path().join("data"), move |c| {
        c.hook.s3_endpoint = endpoint;
        c.hook.s3_access_key_id = key;
        c.hook.s3_secret_access_key = secret.into();
        allow_bucket(c, &b);
    })
    .await;
    create(&s, "hook-s3").await;
    set(
        &s,
        "hook-s3",
        config(&format!("s3://{bucket}/shots/"), 1000, "JPEG"),
    )
    .await
    .assert_ok();
    assert_eq!(
        put_fixture_paced(&s.url, "hook-s3", H264, START_MS).await,
        5
    );
    let st = wait_status(&s, "hook-s3", |v| n(v, "Delivered") + n(v, "Failed") >= 5).await;
    assert_eq!((n(&st, "Delivered"), n(&st, "Failed")), (5, 0), "{st}");
    // Read back through the object-store client, under the picture keys' hour prefix.
    let store = ObjectStore::new(&s3.options("shots/hook-s3/2023/11/14/22")).unwrap();
    let mut objects: BTreeMap<i64, Vec<u8>> = BTreeMap::new();
    for o in store.list("").await.unwrap() {
        assert!(o.key.ends_with(".jpg"), "{}", o.key);
        let producer: i64 = o.key.split('-').next().unwrap().parse().unwrap();
        objects.insert(producer, store.get(&o.key).await.unwrap().to_vec());
    }
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    check_frames(&scratch, &objects, 1000, "jpg");
    s.stop().await;
    drop(s3);
}

#[tokio::test]
async fn bad_configurations_get_kvs_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("images");
    let r = root.clone();
    let s = TestServer::start_with(&dir.path().join("data"), move |c| {
        c.hook.file_root = r.to_string_lossy().into_owned();
        allow_bucket(c, "bucket");
    })
    .await;
    create(&s, "hook-bad").await;
    let good = config("s3://bucket/prefix", 1000, "JPEG");
    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let cases = [
        with("Format", json!("GIF")),
        with("Status", json!("ON")),
        with("ImageSelectorType", json!("NOW")),
        with("SamplingInterval", json!(100)),
        with("SamplingInterval", json!(20_001)),
        with("WidthPixels", json!(0)),
        with("WidthPixels", json!(3841)),
        with("HeightPixels", json!(2161)),
        with("FormatConfig", json!({"JPEGQuality": "101"})),
        with(
            "DestinationConfig",
            json!({"Uri": "ftp://x/y", "DestinationRegion": "us-east-1"}),
        ),
        with(
            "DestinationConfig",
            json!({"Uri": "s3://bucket/p", "DestinationRegion": "x"}),
        ),
        with(
            "DestinationConfig",
            json!({"Uri": "file:///etc/cron.d", "DestinationRegion": "us-east-1"}),
        ),
        with(
            "DestinationConfig",
            json!({"Uri": format!("file://{}/../x", root.display()), "DestinationRegion": "us-east-1"}),
        ),
        json!({"Status": "ENABLED"}),
        json!("not an object"),
    ];
    for c in cases {
        set(&s, "hook-bad", c.clone())
            .await
            .assert_error(400, "InvalidArgumentException");
    }
    set(&s, "nope", good.clone())
        .await
        .assert_error(404, "ResourceNotFoundException");
    s.call(
        "/describeImageGenerationConfiguration",
        json!({"StreamName": "nope"}),
    )
    .await
    .assert_error(404, "ResourceNotFoundException");
    // A stream that keeps no media, and one whose media type has no video.
    s.create_active(json!({"StreamName": "hook-noretention"}))
        .await;
    set(&s, "hook-noretention", good.clone())
        .await
        .assert_error(400, "NoDataRetentionException");
    s.create_active(
        json!({"StreamName": "hook-audio", "DataRetentionInHours": 1, "MediaType": "audio/aac"}),
    )
    .await;
    set(&s, "hook-audio", good.clone())
        .await
        .assert_error(400, "InvalidArgumentException");
    // Nothing was stored by the refused calls.
    for name in ["hook-bad", "hook-noretention", "hook-audio"] {
        let d = s
            .call(
                "/describeImageGenerationConfiguration",
                json!({"StreamName": name}),
            )
            .await;
        assert_eq!(d.assert_ok(), &json!({}), "{name}");
    }
    // The configuration survives a restart.
    set(&s, "hook-bad", good.clone()).await.assert_ok();
    s.stop().await;
    let s = TestServer::start_with(&dir.path().join("data"), |c| allow_bucket(c, "bucket")).await;
    let d = s
        .call(
            "/describeImageGenerationConfiguration",
            json!({"StreamName": "hook-bad"}),
        )
        .await;
    let mut want = good.clone();
    want["FormatConfig"] = json!({"JPEGQuality": "80"});
    assert_eq!(d.assert_ok()["ImageGenerationConfiguration"], want);
    s.stop().await;
}

/// A webhook that answers 503 to the first POST of each picture (by producer timestamp) and
/// 200 to the next.
async fn flaky_webhook() -> (String, Arc<Mutex<Vec<Hit>>>) {
    let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
    let h = Arc::clone(&hits);
    let app = axum::Router::new().route(
        "/flaky",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let h = Arc::clone(&h);
            async move {
                let mut hits = h.lock().unwrap();
                let key = headers["x-vidstream-producer-timestamp"].clone();
                let seen = hits
                    .iter()
                    .any(|x| x.headers["x-vidstream-producer-timestamp"] == key);
                hits.push(Hit { headers, body });
                if seen {
                    axum::http::StatusCode::OK
                } else {
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/flaky"), hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_retries_and_server_timestamp_sampling() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(dir.path(), |c| {
        c.hook.webhook_attempts = 2;
        c.hook.webhook_backoff_ms = 10;
        c.hook.queue_capacity = 64;
        allow_loopback_webhooks(c);
    })
    .await;
    let (url, hits) = flaky_webhook().await;
    create(&s, "hook-server-ts").await;
    let mut cfg = config(&url, 1000, "PNG");
    cfg["ImageSelectorType"] = json!("SERVER_TIMESTAMP");
    set(&s, "hook-server-ts", cfg).await.assert_ok();
    assert_eq!(
        put_fixture_paced(&s.url, "hook-server-ts", H264, START_MS).await,
        5
    );
    // Sampled on the server clock: the fixture arrives in about half a second, while each
    // fragment spans a second from its arrival, so the fragments overlap on the server axis and
    // only the few whole server seconds they cover get a picture, each once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let st = wait_status(&s, "hook-server-ts", |v| n(v, "Queued") == 0).await;
    let made = n(&st, "Generated");
    assert!((1..=4).contains(&made), "{st}");
    assert_eq!((n(&st, "Delivered"), n(&st, "Failed")), (made, 0), "{st}");
    let hits = hits.lock().unwrap().clone();
    assert_eq!(
        hits.len() as u64,
        2 * made,
        "one 503 then one 200 per picture"
    );
    let pts = video_pts(H264);
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let mut samples = Vec::new();
    for h in hits.iter().skip(1).step_by(2) {
        let hv = |k: &str| -> i64 { h.headers[k].to_str().unwrap().parse().unwrap() };
        let sample = hv("x-vidstream-sample-timestamp");
        let server = hv("x-vidstream-server-timestamp");
        let producer = hv("x-vidstream-producer-timestamp");
        assert_eq!(sample % 1000, 0, "a whole server second");
        samples.push(sample);
        assert!(
            server <= sample && sample - server < 40,
            "the picture on screen at server time {sample} arrived at {server}"
        );
        assert_eq!(
            h.headers["x-vidstream-image-selector-type"],
            "SERVER_TIMESTAMP"
        );
        let frame = framecode(&scratch, &format!("{sample}.png"), &h.body);
        assert_eq!(
            START_MS + pts[frame as usize],
            producer,
            "the picture shows the frame of its producer timestamp"
        );
    }
    let mut distinct = samples.clone();
    distinct.dedup();
    assert_eq!(distinct, samples, "one picture per sample time, in order");
    s.stop().await;
}
