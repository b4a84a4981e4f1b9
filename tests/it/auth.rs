//! Access control end to end: SigV4 verification on every KVS surface (the errors AWS gives for
//! each failure), access keys made through `/v1/keys` with built-in and custom policies (the
//! policy matrix), temporary credentials that stop at their expiry, the playback session key's
//! rotation, the Host allow-list and the JSON content type.

use serde_json::{Value, json};

use crate::common::TestServer;
use crate::common::sign::{self, SendSigned};
use vidstream::auth::sigv4::{self, Signer};

/// Creates a key through the admin API; returns its signer.
async fn new_key(s: &TestServer, name: &str, policy: Value, streams: Option<&str>) -> Signer {
    let mut body = json!({ "name": name, "policy": policy });
    if let Some(p) = streams {
        body["streams"] = json!(p);
    }
    let r = s.call("/v1/keys", body).await;
    assert_eq!(r.status, 201, "{r:?}");
    sign::signer(
        r.body["accessKeyId"].as_str().unwrap(),
        r.body["secretAccessKey"].as_str().unwrap(),
        r.body["sessionToken"].as_str(),
    )
}

/// POSTs a KVS operation signed by `signer`; (status, error type).
async fn op(s: &TestServer, signer: &Signer, path: &str, body: Value) -> (u16, String) {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", s.url))
        .body(body.to_string())
        .send_signed_by(signer.clone())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let kind = resp
        .headers()
        .get("x-amzn-errortype")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind)
}

fn kvs_error(status: u16, kind: &str) -> (u16, String) {
    (status, kind.to_owned())
}

#[tokio::test]
async fn unsigned_unknown_wrong_tampered_and_stale_requests_get_the_aws_errors() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    s.create_active(json!({"StreamName": "cam"})).await;
    let url = format!("{}/describeStream", s.url);
    let body = json!({"StreamName": "cam"}).to_string();
    let client = reqwest::Client::new();

    // No signature at all.
    let r = client
        .post(&url)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.headers()["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );
    // A key the server does not know, and the right key with a wrong secret.
    let unknown = sign::signer("VSAKAAAAAAAAAAAAAAAA", "whatever-secret-000000", None);
    assert_eq!(
        op(
            &s,
            &unknown,
            "/describeStream",
            json!({"StreamName": "cam"})
        )
        .await,
        kvs_error(403, "UnrecognizedClientException")
    );
    let wrong = sign::signer(sign::ACCESS_KEY, "not-the-secret-0000000000", None);
    assert_eq!(
        op(&s, &wrong, "/describeStream", json!({"StreamName": "cam"})).await,
        kvs_error(403, "InvalidSignatureException")
    );
    // A body other than the one signed.
    let mut req = client.post(&url).body(body.clone()).build().unwrap();
    sign::sign(&mut req, &sign::root_signer());
    *req.body_mut() = Some(json!({"StreamName": "other"}).to_string().into());
    let r = client.execute(req).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["x-amzn-errortype"], "InvalidSignatureException");
    // A signature made 10 minutes ago (the window is 5).
    let host = s.url.trim_start_matches("http://").to_owned();
    let stale = sign::root_signer().sign_headers(
        "POST",
        "/describeStream",
        &[("content-type", "application/json"), ("host", &host)],
        &sigv4::payload_sha256(body.as_bytes()),
        sigv4::now_secs() - 600,
    );
    let (stale_date, authorization) = (&stale[0].1, &stale[1].1);
    let r = client
        .post(&url)
        .header("content-type", "application/json")
        .header("x-amz-date", stale_date)
        .header("authorization", authorization)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["x-amzn-errortype"], "InvalidSignatureException");
    let text = r.text().await.unwrap();
    assert!(text.contains("Signature expired"), "{text}");
    // The same request signed now works.
    assert_eq!(
        op(
            &s,
            &sign::root_signer(),
            "/describeStream",
            json!({"StreamName": "cam"})
        )
        .await,
        (200, String::new())
    );
    s.stop().await;
}

/// Producers, viewers and explicit denies, each through the API a client uses.
#[tokio::test]
async fn the_policy_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    for name in ["cam-1", "lobby"] {
        s.create_active(json!({"StreamName": name, "DataRetentionInHours": 1}))
            .await;
    }
    let producer = new_key(&s, "producer-cams", json!("producer"), Some("cam-*")).await;
    let viewer = new_key(&s, "viewer", json!("viewer"), None).await;
    let denied = new_key(
        &s,
        "viewer-but-lobby",
        json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "kinesisvideo:*", "Resource": "*"},
                {"Effect": "Deny", "Action": ["kinesisvideo:Get*", "kinesisvideo:List*"],
                 "Resource": "arn:aws:kinesisvideo:*:*:stream/lobby/*"}
            ]
        }),
        None,
    )
    .await;

    // The producer may create and describe streams matching cam-*, and nothing else.
    assert_eq!(
        op(
            &s,
            &producer,
            "/createStream",
            json!({"StreamName": "cam-2"})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        op(
            &s,
            &producer,
            "/describeStream",
            json!({"StreamName": "cam-1"})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        op(
            &s,
            &producer,
            "/createStream",
            json!({"StreamName": "lobby-2"})
        )
        .await,
        kvs_error(401, "AccessDeniedException")
    );
    assert_eq!(
        op(
            &s,
            &producer,
            "/describeStream",
            json!({"StreamName": "lobby"})
        )
        .await,
        kvs_error(401, "NotAuthorizedException")
    );
    assert_eq!(
        op(
            &s,
            &producer,
            "/getMedia",
            json!({"StreamName": "cam-1", "StartSelector": {"StartSelectorType": "NOW"}})
        )
        .await,
        kvs_error(401, "NotAuthorizedException")
    );
    let cam1_arn = s.wait_status("cam-1", Some("ACTIVE")).await["StreamARN"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        op(
            &s,
            &producer,
            "/deleteStream",
            json!({"StreamARN": cam1_arn})
        )
        .await,
        kvs_error(401, "NotAuthorizedException")
    );
    // PutMedia: allowed on cam-1, refused on lobby.
    for (stream, status) in [("cam-1", 200), ("lobby", 401)] {
        let r = reqwest::Client::new()
            .post(format!("{}/putMedia", s.url))
            .header("x-amzn-stream-name", stream)
            .header("x-amzn-fragment-timecode-type", "ABSOLUTE")
            .body(crate::common::media::body_head(&[
                crate::common::media::h264_track(1),
            ]))
            .send_signed_by(producer.clone())
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "PutMedia to {stream}");
    }

    // The viewer reads and plays, but does not write, delete or manage cameras or keys.
    assert_eq!(
        op(
            &s,
            &viewer,
            "/listFragments",
            json!({"StreamName": "lobby"})
        )
        .await
        .0,
        200
    );
    assert_eq!(op(&s, &viewer, "/listStreams", json!({})).await.0, 200);
    let live = json!({"StreamName": "cam-1", "PlaybackMode": "ON_DEMAND",
        "HLSFragmentSelector": {"FragmentSelectorType": "SERVER_TIMESTAMP",
            "TimestampRange": {"StartTimestamp": 0, "EndTimestamp": 1}}});
    let (status, kind) = op(&s, &viewer, "/getHLSStreamingSessionURL", live).await;
    assert_ne!(status, 401, "the viewer may ask for a session URL ({kind})");
    assert_eq!(
        op(&s, &viewer, "/createStream", json!({"StreamName": "cam-3"})).await,
        kvs_error(401, "AccessDeniedException")
    );
    assert_eq!(
        op(&s, &viewer, "/deleteStream", json!({"StreamARN": cam1_arn})).await,
        kvs_error(401, "NotAuthorizedException")
    );
    let cam = reqwest::Client::new()
        .post(format!("{}/v1/cameras", s.url))
        .body(json!({"name": "c", "url": "rtsp://127.0.0.1:1/x", "stream": "cam-1"}).to_string())
        .send_signed_by(viewer.clone())
        .await
        .unwrap();
    assert_eq!(cam.status(), 401, "viewers do not add cameras");
    let keys = reqwest::Client::new()
        .get(format!("{}/v1/keys", s.url))
        .send_signed_by(viewer.clone())
        .await
        .unwrap();
    assert_eq!(keys.status(), 401, "viewers do not list keys");

    // An explicit Deny beats the Allow.
    assert_eq!(
        op(
            &s,
            &denied,
            "/listFragments",
            json!({"StreamName": "lobby"})
        )
        .await,
        kvs_error(401, "NotAuthorizedException")
    );
    assert_eq!(
        op(
            &s,
            &denied,
            "/listFragments",
            json!({"StreamName": "cam-1"})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        op(
            &s,
            &denied,
            "/describeStream",
            json!({"StreamName": "lobby"})
        )
        .await
        .0,
        200
    );
    s.stop().await;
}

#[tokio::test]
async fn keys_are_listed_without_secrets_disabled_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let r = s
        .call(
            "/v1/keys",
            json!({"name": "cam-7", "policy": "producer", "streams": "cam-7"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.body["accessKeyId"].as_str().unwrap().to_owned();
    let secret = r.body["secretAccessKey"].as_str().unwrap().to_owned();
    assert!(id.starts_with("VSAK"), "{id}");
    let key = sign::signer(&id, &secret, None);
    assert_eq!(
        op(&s, &key, "/createStream", json!({"StreamName": "cam-7"}))
            .await
            .0,
        200
    );
    let list = s.request(reqwest::Method::GET, "/v1/keys").await;
    let text = list.assert_ok().to_string();
    assert!(text.contains(&id) && !text.contains(&secret), "{text}");
    // A policy with a typo is refused with where the mistake is.
    let bad = s
        .call(
            "/v1/keys",
            json!({"name": "typo", "policy": {"Statement": [{"Effect": "Allow", "Action": "kinesisvideo:GetMedai", "Resource": "*"}]}}),
        )
        .await;
    bad.assert_error(400, "InvalidArgumentException");
    assert!(
        bad.body["message"].as_str().unwrap().contains("GetMedai"),
        "{bad:?}"
    );

    s.put(&format!("/v1/keys/{id}"), json!({"status": "Inactive"}))
        .await
        .assert_ok();
    assert_eq!(
        op(&s, &key, "/describeStream", json!({"StreamName": "cam-7"})).await,
        kvs_error(403, "UnrecognizedClientException")
    );
    s.put(&format!("/v1/keys/{id}"), json!({"status": "Active"}))
        .await
        .assert_ok();
    assert_eq!(
        op(&s, &key, "/describeStream", json!({"StreamName": "cam-7"}))
            .await
            .0,
        200
    );
    s.request(reqwest::Method::DELETE, &format!("/v1/keys/{id}"))
        .await
        .assert_ok();
    assert_eq!(
        op(&s, &key, "/describeStream", json!({"StreamName": "cam-7"})).await,
        kvs_error(403, "UnrecognizedClientException")
    );
    s.stop().await;
}

/// A temporary credential works with its session token until its expiry, then answers
/// `ExpiredTokenException`; without its token it never works.
#[tokio::test]
async fn temporary_credentials_stop_at_their_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(vidstream::time::SimClock::new(vidstream::time::ServerTime(
        1_800_000_000_000,
    )));
    let s = TestServer::start_with_clock(dir.path(), |_| {}, clock.clone()).await;
    s.create_active(json!({"StreamName": "cam-1"})).await;
    let r = s
        .call(
            "/v1/keys",
            json!({"name": "device-1", "policy": "producer", "streams": "cam-*", "expiresInSeconds": 600}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.body["accessKeyId"].as_str().unwrap();
    assert!(id.starts_with("VSTK"), "{id}");
    let secret = r.body["secretAccessKey"].as_str().unwrap();
    let token = r.body["sessionToken"].as_str().expect("a session token");
    let temp = sign::signer(id, secret, Some(token));
    let describe = json!({"StreamName": "cam-1"});
    assert_eq!(
        op(&s, &temp, "/describeStream", describe.clone()).await.0,
        200
    );
    let no_token = sign::signer(id, secret, None);
    assert_eq!(
        op(&s, &no_token, "/describeStream", describe.clone()).await,
        kvs_error(403, "UnrecognizedClientException")
    );
    clock.advance_ms(601_000);
    assert_eq!(
        op(&s, &temp, "/describeStream", describe).await,
        kvs_error(403, "ExpiredTokenException")
    );
    s.stop().await;
}

/// After `rotate-session-key`, playback URLs handed out before are refused; new ones work.
#[tokio::test]
async fn rotating_the_session_key_ends_old_playback_urls() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    crate::common::media::ingest_fixture(
        &s,
        "cam",
        "gst_h264_320x240_gop30_5s.mkv",
        1_700_000_000_000,
    )
    .await;
    let session = || {
        s.call(
            "/getHLSStreamingSessionURL",
            json!({"StreamName": "cam", "PlaybackMode": "ON_DEMAND",
                "HLSFragmentSelector": {"FragmentSelectorType": "PRODUCER_TIMESTAMP",
                    "TimestampRange": {"StartTimestamp": 1_699_999_999, "EndTimestamp": 1_700_000_060}}}),
        )
    };
    let old = session().await.assert_ok()["HLSStreamingSessionURL"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(reqwest::get(&old).await.unwrap().status(), 200);
    s.call("/v1/keys/rotate-session-key", json!({}))
        .await
        .assert_ok();
    let r = reqwest::get(&old).await.unwrap();
    assert_eq!(r.status(), 401, "an old URL after rotation");
    let new = session().await.assert_ok()["HLSStreamingSessionURL"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(reqwest::get(&new).await.unwrap().status(), 200);
    s.stop().await;
}

/// DNS rebinding and cross-site forms: a name the server was not told about, and a body that
/// is not JSON, are refused even when signed.
#[tokio::test]
async fn foreign_host_names_and_non_json_bodies_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(dir.path(), |c| {
        c.auth.allowed_hosts = vec!["vidstream.test".into()];
    })
    .await;
    let port = s.url.rsplit(':').next().unwrap().to_owned();
    let client = reqwest::Client::builder()
        .resolve("evil.example", format!("127.0.0.1:{port}").parse().unwrap())
        .resolve(
            "vidstream.test",
            format!("127.0.0.1:{port}").parse().unwrap(),
        )
        .build()
        .unwrap();
    for (host, status) in [("evil.example", 401), ("vidstream.test", 200)] {
        let r = client
            .post(format!("http://{host}:{port}/listStreams"))
            .body("{}")
            .send_signed()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "Host {host}");
    }
    let r = reqwest::Client::new()
        .post(format!("{}/createStream", s.url))
        .header("content-type", "text/plain")
        .body(json!({"StreamName": "x"}).to_string())
        .send_signed()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["x-amzn-errortype"], "InvalidArgumentException");
    s.wait_status("x", None).await;
    s.stop().await;
}

/// A presigned URL (the SigV4 query form, what a browser or a `<video>` can carry): works
/// unchanged without headers until `X-Amz-Expires` has passed, then answers `RequestExpired`;
/// a changed parameter breaks it.
#[tokio::test]
async fn presigned_urls_work_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    s.create_active(json!({"StreamName": "cam-1"})).await;
    let host = s.url.trim_start_matches("http://").to_owned();
    let presign = |path: &str, signed_secs_ago: u64, expires: u32| -> String {
        let now = sigv4::now_secs() - signed_secs_ago;
        let target = sign::root_signer().presign("GET", path, &host, expires, now);
        format!("{}{target}", s.url)
    };
    let fresh = presign("/v1/streams/cam-1", 0, 60);
    let r = reqwest::get(&fresh).await.unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let tampered = fresh.replace("X-Amz-Expires=60", "X-Amz-Expires=600");
    let r = reqwest::get(&tampered).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["x-amzn-errortype"], "InvalidSignatureException");
    let stale = presign("/v1/streams/cam-1", 120, 60);
    let r = reqwest::get(&stale).await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["x-amzn-errortype"], "RequestExpired");
    s.stop().await;
}
