//! PutMedia end to end against a real server: acks, ListFragments boundaries,
//! GetMediaForFragmentList round trip, the KVS producer SDK exchange, takeover, bad input.

use crate::common::sign::SendSigned;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vidstream::mkv::{Event, TagValue};

use crate::common::TestServer;
use crate::common::media::*;

async fn server() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (TestServer::start(dir.path()).await, dir)
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

#[tokio::test]
async fn acks_list_fragments_and_round_trip() {
    let (s, _d) = server().await;
    s.create_active(json!({"StreamName": "cam", "DataRetentionInHours": 24}))
        .await;
    let (status, acks) = put_media(&s.url, "cam", body(5, 30), 1000).await;
    assert_eq!(status, 200);
    // Per fragment: BUFFERING, RECEIVED, PERSISTED, same number, FragmentTimecode = cluster
    // timecode.
    let numbers = persisted(&acks);
    assert_eq!(numbers.len(), 5, "{acks:?}");
    for (i, n) in numbers.iter().enumerate() {
        let for_n: Vec<&str> = acks
            .iter()
            .filter(|a| a.number.as_deref() == Some(n))
            .map(|a| a.event.as_str())
            .collect();
        assert_eq!(
            for_n,
            ["BUFFERING", "RECEIVED", "PERSISTED"],
            "fragment {i}"
        );
        let tc = acks
            .iter()
            .find(|a| a.number.as_deref() == Some(n))
            .and_then(|a| a.timecode);
        assert_eq!(tc, Some((BASE_MS + i as u64 * 1000) as i64));
        assert_eq!(n.len(), 47);
    }
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "numbers increase");

    // Range boundaries are inclusive on the fragment's start time.
    let list = |start: u64, end: u64, kind: &str| {
        json!({"StreamName": "cam", "FragmentSelector": {
            "FragmentSelectorType": kind,
            "TimestampRange": {"StartTimestamp": secs(start), "EndTimestamp": secs(end)}}})
    };
    let numbers_of = |v: &Value| -> Vec<String> {
        v["Fragments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["FragmentNumber"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = s
        .call(
            "/listFragments",
            list(BASE_MS + 1000, BASE_MS + 3000, "PRODUCER_TIMESTAMP"),
        )
        .await;
    assert_eq!(numbers_of(r.assert_ok()), numbers[1..4]);
    let r = s
        .call(
            "/listFragments",
            list(BASE_MS + 1001, BASE_MS + 2999, "PRODUCER_TIMESTAMP"),
        )
        .await;
    assert_eq!(numbers_of(r.assert_ok()), numbers[2..3]);
    let r = s
        .call(
            "/listFragments",
            list(BASE_MS + 5000, BASE_MS + 9000, "PRODUCER_TIMESTAMP"),
        )
        .await;
    assert!(numbers_of(r.assert_ok()).is_empty());
    let f0 = &r.body; // keep the borrow checker honest about reuse
    let _ = f0;
    let r = s
        .call(
            "/listFragments",
            list(0, 4_000_000_000_000, "SERVER_TIMESTAMP"),
        )
        .await;
    let all = r.assert_ok()["Fragments"].as_array().unwrap().clone();
    assert_eq!(numbers_of(&r.body), numbers);
    let first = &all[0];
    assert_eq!(first["ProducerTimestamp"], secs(BASE_MS));
    assert_eq!(first["FragmentLengthInMilliseconds"], 29 * 33 + 33);
    assert!(first["FragmentSizeInBytes"].as_u64().unwrap() > 30 * 200);
    // Paging with MaxResults, and the token alone continues the query.
    let mut paged = Vec::new();
    let mut body = list(BASE_MS, BASE_MS + 10_000, "PRODUCER_TIMESTAMP");
    body["MaxResults"] = json!(2);
    loop {
        let r = s.call("/listFragments", body.clone()).await;
        paged.extend(numbers_of(r.assert_ok()));
        match r.body.get("NextToken").and_then(Value::as_str) {
            Some(t) => body = json!({"StreamName": "cam", "MaxResults": 2, "NextToken": t}),
            None => break,
        }
    }
    assert_eq!(paged, numbers);

    // GetMediaForFragmentList: one standalone MKV document per fragment, frames intact.
    let asked = vec![numbers[3].clone(), numbers[0].clone()];
    let resp = reqwest::Client::new()
        .post(format!("{}/getMediaForFragmentList", s.url))
        .body(json!({"StreamName": "cam", "Fragments": asked}).to_string())
        .send_signed()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "video/webm");
    let bytes = resp.bytes().await.unwrap();
    let events = read_all(&bytes);
    let headers = events
        .iter()
        .filter(|e| matches!(e, Event::Header(_)))
        .count();
    assert_eq!(headers, 2, "one EBML document per fragment");
    /// (fragment number tag, frames as (timecode, payload)) per document.
    type Doc = (String, Vec<(i64, Vec<u8>)>);
    let mut docs: Vec<Doc> = Vec::new();
    for e in &events {
        match e {
            Event::Header(_) => docs.push((String::new(), Vec::new())),
            Event::Tags(tags) => {
                for t in tags {
                    if t.name == "AWS_KINESISVIDEO_FRAGMENT_NUMBER"
                        && let TagValue::String(v) = &t.value
                    {
                        docs.last_mut().unwrap().0 = v.clone();
                    }
                }
            }
            Event::Frame(f) => docs
                .last_mut()
                .unwrap()
                .1
                .push((f.timecode, f.data.to_vec())),
            _ => {}
        }
    }
    for (doc, (want_i, want_number)) in docs.iter().zip([(3usize, &asked[0]), (0, &asked[1])]) {
        assert_eq!(&doc.0, want_number);
        assert_eq!(doc.1.len(), 30);
        for (j, (tc, data)) in doc.1.iter().enumerate() {
            assert_eq!(*tc, (BASE_MS + want_i as u64 * 1000 + j as u64 * 33) as i64);
            assert_eq!(data, &payload(want_i, j));
        }
    }
    s.stop().await;
}

#[tokio::test]
async fn archived_media_errors() {
    let (s, _d) = server().await;
    s.create_active(json!({"StreamName": "cam", "DataRetentionInHours": 1}))
        .await;
    s.create_active(json!({"StreamName": "other", "DataRetentionInHours": 1}))
        .await;
    let (_, acks) = put_media(&s.url, "other", body(1, 3), 4096).await;
    let other = persisted(&acks);
    assert_eq!(other.len(), 1);
    let cases = [
        (
            "/getMediaForFragmentList",
            json!({"StreamName": "cam", "Fragments": []}),
            400,
            "InvalidArgumentException",
        ),
        (
            "/getMediaForFragmentList",
            json!({"StreamName": "cam", "Fragments": ["12x"]}),
            400,
            "InvalidArgumentException",
        ),
        (
            "/getMediaForFragmentList",
            json!({"StreamName": "cam", "Fragments": [other[0]]}),
            404,
            "ResourceNotFoundException",
        ),
        // Issue 15: one fragment listed 1000 times made a 51 KB request answer 1000 copies.
        (
            "/getMediaForFragmentList",
            json!({"StreamName": "other", "Fragments": [other[0], other[0]]}),
            400,
            "InvalidArgumentException",
        ),
        (
            "/getMediaForFragmentList",
            json!({"StreamName": "cam", "Fragments": ["123"]}),
            404,
            "ResourceNotFoundException",
        ),
        (
            "/getMediaForFragmentList",
            json!({"StreamName": "nope", "Fragments": ["123"]}),
            404,
            "ResourceNotFoundException",
        ),
        (
            "/listFragments",
            json!({"StreamName": "nope"}),
            404,
            "ResourceNotFoundException",
        ),
        (
            "/listFragments",
            json!({"StreamName": "cam", "MaxResults": 0}),
            400,
            "InvalidArgumentException",
        ),
        (
            "/listFragments",
            json!({"StreamName": "cam", "MaxResults": 1001}),
            400,
            "InvalidArgumentException",
        ),
        (
            "/listFragments",
            json!({"StreamName": "cam", "NextToken": "garbage"}),
            400,
            "InvalidArgumentException",
        ),
        (
            "/listFragments",
            json!({"StreamName": "cam", "FragmentSelector": {"FragmentSelectorType": "X", "TimestampRange": {"StartTimestamp": 1, "EndTimestamp": 2}}}),
            400,
            "InvalidArgumentException",
        ),
        (
            "/listFragments",
            json!({"StreamName": "cam", "FragmentSelector": {"FragmentSelectorType": "SERVER_TIMESTAMP", "TimestampRange": {"StartTimestamp": 5, "EndTimestamp": 2}}}),
            400,
            "InvalidArgumentException",
        ),
        (
            "/listFragments",
            json!({"StreamName": "cam", "FragmentSelector": {"FragmentSelectorType": "SERVER_TIMESTAMP", "TimestampRange": {"StartTimestamp": "soon", "EndTimestamp": 2}}}),
            400,
            "InvalidArgumentException",
        ),
    ];
    for (path, body, status, name) in cases {
        s.call(path, body).await.assert_error(status, name);
    }
    s.stop().await;
}

#[tokio::test]
async fn put_media_header_errors() {
    let (s, _d) = server().await;
    s.create_active(json!({"StreamName": "cam", "DataRetentionInHours": 1}))
        .await;
    let client = reqwest::Client::new();
    type Case = (Vec<(&'static str, &'static str)>, u16, &'static str);
    let cases: Vec<Case> = vec![
        (
            vec![("x-amzn-fragment-timecode-type", "ABSOLUTE")],
            400,
            "InvalidArgumentException",
        ),
        (
            vec![("x-amzn-stream-name", "cam")],
            400,
            "InvalidArgumentException",
        ),
        (
            vec![
                ("x-amzn-stream-name", "cam"),
                ("x-amzn-fragment-timecode-type", "SIDEWAYS"),
            ],
            400,
            "InvalidArgumentException",
        ),
        (
            vec![
                ("x-amzn-stream-name", "nope"),
                ("x-amzn-fragment-timecode-type", "ABSOLUTE"),
            ],
            404,
            "ResourceNotFoundException",
        ),
        (
            vec![
                ("x-amzn-stream-name", "bad name"),
                ("x-amzn-fragment-timecode-type", "ABSOLUTE"),
            ],
            400,
            "InvalidArgumentException",
        ),
    ];
    for (headers, status, name) in cases {
        let mut req = client.post(format!("{}/putMedia", s.url)).body("x");
        for (k, v) in &headers {
            req = req.header(*k, *v);
        }
        let resp = req.send_signed().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{headers:?}");
        assert_eq!(resp.headers()["x-amzn-ErrorType"], name, "{headers:?}");
    }
    s.stop().await;
}

/// The exchange kvssink makes (KVS-API.md §1.8), written byte for byte on a raw socket: Host
/// without a port, Expect: 100-continue, chunked, unknown-size clusters with absolute
/// timecodes, and the end-of-fragment tag after which the last fragment must be PERSISTED at
/// once, before the producer ends its body.
#[tokio::test]
async fn kvs_producer_sdk_exchange() {
    let (s, _d) = server().await;
    let addr = s.url.trim_start_matches("http://").to_owned();
    // The control-plane calls kvssink makes, in its order, as it makes them (Host without the
    // port, SigV4 headers, JSON bodies of producer-c): describeStream → 404 → createStream →
    // tagStream → getDataEndpoint; no describe after create.
    let (status, body) = sdk_call(&addr, "/describeStream", r#"{"StreamName":"sdk"}"#).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("ResourceNotFoundException"));
    let (status, body) = sdk_call(
        &addr,
        "/createStream",
        r#"{"DeviceName":"Kinesis_Video_Device","StreamName":"sdk","MediaType":"video/h264","DataRetentionInHours":2}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let arn = serde_json::from_str::<Value>(&body).unwrap()["StreamARN"]
        .as_str()
        .unwrap()
        .to_owned();
    let tag = format!(r#"{{"StreamARN":"{arn}","Tags":{{"camera":"lobby"}}}}"#);
    let (status, body) = sdk_call(&addr, "/tagStream", &tag).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = sdk_call(
        &addr,
        "/getDataEndpoint",
        r#"{"StreamName":"sdk","APIName":"PUT_MEDIA"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let endpoint = serde_json::from_str::<Value>(&body).unwrap()["DataEndpoint"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(endpoint, s.url, "PutMedia goes to the DataEndpoint");
    // PutMedia right away: the stream may still be CREATING.
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (date, authorization) = sdk_signature("/putMedia", b"");
    let head = format!(
        "POST /putMedia HTTP/1.1\r\n\
        Host: 127.0.0.1\r\n\
        Accept: */*\r\n\
        Authorization: {authorization}\r\n\
        connection: keep-alive\r\n\
        content-type: application/json\r\n\
        transfer-encoding: chunked\r\n\
        user-agent: {SDK_AGENT}\r\n\
        X-Amz-Date: {date}\r\n\
        x-amzn-fragment-acknowledgment-required: 1\r\n\
        x-amzn-fragment-timecode-type: ABSOLUTE\r\n\
        x-amzn-producer-start-timestamp: 1700000000.000\r\n\
        x-amzn-stream-name: sdk\r\n\
        Expect: 100-continue\r\n\r\n"
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // The server answers 100 Continue before any body byte is sent.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !String::from_utf8_lossy(&got).contains("100 Continue") {
        let n = tokio::time::timeout_at(deadline, sock.read(&mut buf))
            .await
            .expect("100 Continue within 5 s")
            .unwrap();
        assert!(n > 0, "connection closed");
        got.extend_from_slice(&buf[..n]);
    }
    let chunk = |data: &[u8]| {
        let mut c = format!("{:x}\r\n", data.len()).into_bytes();
        c.extend_from_slice(data);
        c.extend_from_slice(b"\r\n");
        c
    };
    let mut body = body_head(&[h264_track(1)]);
    body.extend(cluster(0, 10));
    sock.write_all(&chunk(&body)).await.unwrap();
    sock.write_all(&chunk(&cluster(1, 10))).await.unwrap();
    sock.write_all(&chunk(&end_of_fragment())).await.unwrap();
    // Do not end the body: the second fragment must be PERSISTED on the end-of-fragment tag.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if text.matches("\"PERSISTED\"").count() >= 2 {
            break;
        }
        let n = tokio::time::timeout_at(deadline, sock.read(&mut buf))
            .await
            .expect("both fragments PERSISTED before the body ends")
            .unwrap();
        assert!(n > 0, "connection closed early: {text}");
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    assert!(text.contains("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains(&format!("\"FragmentTimecode\":{}", BASE_MS + 1000)),
        "FragmentTimecode is the cluster timecode: {text}"
    );
    // Now the producer ends its body; the response ends too.
    sock.write_all(b"0\r\n\r\n").await.unwrap();
    let rest = tokio::time::timeout(Duration::from_secs(5), async {
        let mut rest = Vec::new();
        loop {
            let n = sock.read(&mut buf).await.unwrap_or(0);
            rest.extend_from_slice(&buf[..n]);
            if n == 0 || rest.ends_with(b"0\r\n\r\n") {
                break;
            }
        }
        rest
    })
    .await
    .expect("response ends after the body ends");
    assert!(!String::from_utf8_lossy(&rest).contains("ERROR"));
    let r = s.call("/listFragments", json!({"StreamName": "sdk"})).await;
    assert_eq!(r.assert_ok()["Fragments"].as_array().unwrap().len(), 2);
    s.stop().await;
}

#[tokio::test]
async fn retention_zero_is_received_but_not_persisted() {
    let (s, _d) = server().await;
    s.create_active(json!({"StreamName": "live"})).await;
    let (_, acks) = put_media(&s.url, "live", body(3, 5), 4096).await;
    let received = acks.iter().filter(|a| a.event == "RECEIVED").count();
    assert_eq!(received, 3, "{acks:?}");
    assert!(persisted(&acks).is_empty());
    let r = s
        .call("/listFragments", json!({"StreamName": "live"}))
        .await;
    assert!(r.assert_ok()["Fragments"].as_array().unwrap().is_empty());
    s.stop().await;
}

/// One control-plane request the way kvssink (libcurl) sends it; returns (status, body).
/// The user agent of the KVS producer SDK.
const SDK_AGENT: &str = "AWS-SDK-KVS-CPP-CLIENT/3.5.0/1.5.0 GCC/12.2.0 Linux/6.1 x86_64";

/// `X-Amz-Date` and `Authorization` as the producer SDK signs a request: `host` (without the
/// port), `user-agent` and `x-amz-date`, the body's SHA-256 (the empty body's for PutMedia).
fn sdk_signature(path: &str, body: &[u8]) -> (String, String) {
    sdk_signature_by(&crate::common::sign::root_signer(), path, body)
}

fn sdk_signature_by(
    signer: &vidstream::auth::sigv4::Signer,
    path: &str,
    body: &[u8],
) -> (String, String) {
    use vidstream::auth::sigv4;
    let headers = signer.sign_headers(
        "POST",
        path,
        &[("host", "127.0.0.1"), ("user-agent", SDK_AGENT)],
        &sigv4::payload_sha256(body),
        sigv4::now_secs(),
    );
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .expect("signed")
    };
    (get("x-amz-date"), get("authorization"))
}

async fn sdk_call(addr: &str, path: &str, body: &str) -> (u16, String) {
    sdk_call_by(&crate::common::sign::root_signer(), addr, path, body).await
}

async fn sdk_call_by(
    signer: &vidstream::auth::sigv4::Signer,
    addr: &str,
    path: &str,
    body: &str,
) -> (u16, String) {
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (date, authorization) = sdk_signature_by(signer, path, body.as_bytes());
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\
         Authorization: {authorization}\r\n\
         content-type: application/json\r\nuser-agent: {SDK_AGENT}\r\n\
         X-Amz-Date: {date}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    sock.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text[9..12].parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

/// The producer SDK's exact requests (Host without the port, `host;user-agent;x-amz-date`
/// signed) are refused when signed with a wrong secret or an unknown key.
#[tokio::test]
async fn kvs_producer_sdk_exchange_with_a_wrong_key_is_refused() {
    let (s, _d) = server().await;
    let addr = s.url.trim_start_matches("http://").to_owned();
    s.create_active(json!({"StreamName": "sdk"})).await;
    let (status, body) = sdk_call(&addr, "/describeStream", r#"{"StreamName":"sdk"}"#).await;
    assert_eq!(status, 200, "{body}");
    for (signer, error) in [
        (
            crate::common::sign::signer(
                crate::common::sign::ACCESS_KEY,
                "wrong-secret-000000000",
                None,
            ),
            "InvalidSignatureException",
        ),
        (
            crate::common::sign::signer("VSAKNOSUCHKEY0000000", "wrong-secret-000000000", None),
            "UnrecognizedClientException",
        ),
    ] {
        let (status, body) =
            sdk_call_by(&signer, &addr, "/describeStream", r#"{"StreamName":"sdk"}"#).await;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains(error), "{body}");
        // PutMedia with the SDK's headers: refused before any media is read.
        let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let (date, authorization) = sdk_signature_by(&signer, "/putMedia", b"");
        let head = format!(
            "POST /putMedia HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {authorization}\r\n\
             content-type: application/json\r\ntransfer-encoding: chunked\r\nuser-agent: {SDK_AGENT}\r\n\
             X-Amz-Date: {date}\r\nx-amzn-fragment-timecode-type: ABSOLUTE\r\nx-amzn-stream-name: sdk\r\n\
             connection: close\r\n\r\n0\r\n\r\n"
        );
        sock.write_all(head.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        sock.read_to_end(&mut out).await.unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 403"), "{text}");
        assert!(text.contains(error), "{text}");
    }
    s.stop().await;
}

/// A bad body gets the right ERROR ack, earlier fragments stay, other streams keep flowing.
#[tokio::test]
async fn malformed_bodies_get_the_right_error_ack() {
    let (s, _d) = server().await;
    let mut four_tracks = body_head(&[h264_track(1), h264_track(2), h264_track(3), h264_track(4)]);
    four_tracks.extend(cluster(0, 2));
    let mut truncated = body(2, 5);
    let cut = truncated.len() - 50;
    truncated.truncate(cut);
    let mut decreasing = body(2, 5);
    decreasing.extend(cluster_at(BASE_MS + 500, 9, 5));
    let mut huge = body(2, 5);
    // A SimpleBlock claiming 2^50 bytes.
    huge.extend([0xA3, 0x01, 0x04, 0, 0, 0, 0, 0, 0]);
    let mut garbage = body(2, 5);
    garbage.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let mut unknown_track = body(2, 5);
    let mut c = Vec::new();
    vidstream::mkv::write_cluster_start(&mut c, BASE_MS + 5000, None);
    vidstream::mkv::write_simple_block(&mut c, 7, 0, true, false, false, b"x");
    unknown_track.extend(c);
    // The last number: the ERROR ack's FragmentTimecode, the timecode of the cluster at fault
    // as sent (issue 15: it was 0, and kvssink logged "ack timestamp not recognised"); None
    // when no cluster was started.
    let at = |ms: u64| Some(ms as i64);
    // (what, body, ErrorId, ErrorCode, fragments kept, FragmentTimecode of the ERROR ack)
    type Case = (&'static str, Vec<u8>, i64, &'static str, usize, Option<i64>);
    let cases: Vec<Case> = vec![
        (
            "four tracks",
            four_tracks,
            4012,
            "MORE_THAN_ALLOWED_TRACKS_FOUND",
            0,
            None,
        ),
        (
            "truncated cluster",
            truncated,
            4006,
            "INVALID_MKV_DATA",
            1,
            at(BASE_MS + 1000),
        ),
        (
            "decreasing timecodes",
            decreasing,
            4004,
            "FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS",
            2,
            at(BASE_MS + 500),
        ),
        (
            "huge element size",
            huge,
            4001,
            "MAX_FRAGMENT_SIZE_REACHED",
            1,
            at(BASE_MS + 1000),
        ),
        (
            "garbage",
            garbage,
            4006,
            "INVALID_MKV_DATA",
            1,
            at(BASE_MS + 1000),
        ),
        (
            "unknown track",
            unknown_track,
            4010,
            "TRACK_NUMBER_MISMATCH",
            2,
            at(BASE_MS + 5000),
        ),
        (
            "not MKV at all",
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            4006,
            "INVALID_MKV_DATA",
            0,
            None,
        ),
    ];
    s.create_active(json!({"StreamName": "steady", "DataRetentionInHours": 1}))
        .await;
    for (i, (what, bad, id, code, kept, error_at)) in cases.into_iter().enumerate() {
        let name = format!("bad{i}");
        s.create_active(json!({"StreamName": name, "DataRetentionInHours": 1}))
            .await;
        // Another stream ingests at the same time.
        let steady = tokio::spawn({
            let url = s.url.clone();
            async move {
                let mut b = body_head(&[h264_track(1)]);
                for k in 0..3 {
                    b.extend(cluster_at(
                        BASE_MS + (i * 10 + k) as u64 * 1000 + 100_000,
                        k,
                        3,
                    ));
                }
                put_media(&url, "steady", b, 512).await
            }
        });
        let (status, acks) = put_media(&s.url, &name, bad, 700).await;
        assert_eq!(status, 200, "{what}");
        let err = acks
            .last()
            .filter(|a| a.event == "ERROR")
            .unwrap_or_else(|| panic!("{what}: the last ack is not an ERROR: {acks:?}"));
        assert_eq!(err.error_id, Some(id), "{what}: {err:?}");
        assert_eq!(err.error_code.as_deref(), Some(code), "{what}");
        if error_at.is_some() {
            assert_eq!(err.timecode, error_at, "{what}: {err:?}");
        }
        assert_eq!(persisted(&acks).len(), kept, "{what}: {acks:?}");
        let listed = s.call("/listFragments", json!({"StreamName": name})).await;
        assert_eq!(
            listed.assert_ok()["Fragments"].as_array().unwrap().len(),
            kept,
            "{what}: earlier fragments are intact"
        );
        let (_, steady_acks) = steady.await.unwrap();
        assert_eq!(
            persisted(&steady_acks).len(),
            3,
            "{what}: the other stream flowed"
        );
    }
    s.stop().await;
}

/// A second PutMedia for a stream takes over: the first session ends, the second works.
#[tokio::test]
async fn newer_connection_takes_over() {
    let (s, _d) = server().await;
    s.create_active(json!({"StreamName": "cam", "DataRetentionInHours": 1}))
        .await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(4);
    let first = reqwest::Client::new()
        .post(format!("{}/putMedia", s.url))
        .header("x-amzn-stream-name", "cam")
        .header("x-amzn-fragment-timecode-type", "ABSOLUTE")
        .body(channel_body(rx))
        .send_signed();
    let first = tokio::spawn(first);
    let mut b = body_head(&[h264_track(1)]);
    b.extend(cluster(0, 3));
    b.extend(cluster(1, 3)); // seals fragment 0
    tx.send(Ok(b.into())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The second connection resumes after what the first persisted.
    let mut second = body_head(&[h264_track(1)]);
    second.extend(cluster(2, 3));
    let (_, acks2) = put_media(&s.url, "cam", second, 4096).await;
    assert_eq!(persisted(&acks2).len(), 1, "{acks2:?}");
    let resp = tokio::time::timeout(Duration::from_secs(5), first)
        .await
        .expect("first response ends")
        .unwrap()
        .unwrap();
    let acks1 = parse_acks(&resp.text().await.unwrap_or_default());
    assert_eq!(
        persisted(&acks1).len(),
        1,
        "the complete fragment was kept: {acks1:?}"
    );
    drop(tx);
    let r = s.call("/listFragments", json!({"StreamName": "cam"})).await;
    let producer: Vec<f64> = r.assert_ok()["Fragments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["ProducerTimestamp"].as_f64().unwrap())
        .collect();
    assert_eq!(producer, [secs(BASE_MS), secs(BASE_MS + 2000)]);
    s.stop().await;
}

/// A producer that stalls mid-fragment gets IDLE acks, then is disconnected; its incomplete
/// fragment is not stored, so a stalled producer cannot hold server memory for long.
#[tokio::test]
async fn stalled_producer_is_disconnected() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(dir.path(), |c| {
        c.ingest.idle_timeout_secs = 1;
        c.ingest.idle_ack_interval_ms = 200;
    })
    .await;
    s.create_active(json!({"StreamName": "cam", "DataRetentionInHours": 1}))
        .await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(4);
    let mut b = body(1, 5);
    b.extend(cluster(1, 2)); // seals fragment 0, starts fragment 1
    tx.send(Ok(b.into())).await.unwrap();
    let started = std::time::Instant::now();
    let resp = reqwest::Client::new()
        .post(format!("{}/putMedia", s.url))
        .header("x-amzn-stream-name", "cam")
        .header("x-amzn-fragment-timecode-type", "ABSOLUTE")
        .body(channel_body(rx))
        .send_signed()
        .await
        .unwrap();
    let text = tokio::time::timeout(Duration::from_secs(10), resp.text())
        .await
        .expect("the server ends the response")
        .unwrap_or_default();
    let elapsed = started.elapsed();
    let acks = parse_acks(&text);
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
    assert!(acks.iter().any(|a| a.event == "IDLE"), "{acks:?}");
    assert_eq!(persisted(&acks).len(), 1, "{acks:?}");
    drop(tx);
    let r = s.call("/listFragments", json!({"StreamName": "cam"})).await;
    assert_eq!(r.assert_ok()["Fragments"].as_array().unwrap().len(), 1);
    s.stop().await;
}

/// Producer metadata tags after a cluster stay with that fragment and come back after its
/// cluster in GetMediaForFragmentList.
#[tokio::test]
async fn producer_metadata_tags_are_kept() {
    let (s, _d) = server().await;
    s.create_active(json!({"StreamName": "tagged", "DataRetentionInHours": 1}))
        .await;
    let mut b = body_head(&[h264_track(1)]);
    b.extend(cluster(0, 2));
    let mut tags = Vec::new();
    vidstream::mkv::write_tags(
        &mut tags,
        &[vidstream::mkv::SimpleTag {
            name: "site".into(),
            value: TagValue::String("lobby".into()),
        }],
    );
    b.extend(tags);
    b.extend(cluster(1, 2));
    let (_, acks) = put_media(&s.url, "tagged", b, 4096).await;
    let numbers = persisted(&acks);
    assert_eq!(numbers.len(), 2);
    let bytes = media_for_fragments(&s.url, "tagged", &numbers).await;
    // Per document: the names of the tags that follow its cluster.
    let mut after_cluster: Vec<Vec<String>> = Vec::new();
    let mut seen_cluster = false;
    for e in read_all(&bytes) {
        match e {
            Event::Header(_) => {
                after_cluster.push(Vec::new());
                seen_cluster = false;
            }
            Event::ClusterStart { .. } => seen_cluster = true,
            Event::Tags(t) if seen_cluster => after_cluster
                .last_mut()
                .unwrap()
                .extend(t.into_iter().map(|t| format!("{}={:?}", t.name, t.value))),
            _ => {}
        }
    }
    assert_eq!(after_cluster.len(), 2);
    assert_eq!(
        after_cluster[0],
        [format!("site={:?}", TagValue::String("lobby".into()))]
    );
    assert!(after_cluster[1].is_empty());
    s.stop().await;
}

/// Issue 15: one half-sent 49 MB block held 47 MB, and many such producers could take all the
/// memory. With `[ingest] memory_budget_bytes`, a producer sending one huge block slowly is
/// refused (ERROR 5000) once the budget is used up, while another stream's small fragments keep
/// flowing meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_slow_block_is_refused_other_streams_flow() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(dir.path(), |c| c.ingest.memory_budget_bytes = 2 << 20).await;
    for name in ["huge", "steady"] {
        s.create_active(json!({"StreamName": name, "DataRetentionInHours": 1}))
            .await;
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(4);
    let huge = tokio::spawn(
        reqwest::Client::new()
            .post(format!("{}/putMedia", s.url))
            .header("x-amzn-stream-name", "huge")
            .header("x-amzn-fragment-timecode-type", "ABSOLUTE")
            .header("x-amzn-producer-start-timestamp", "1700000000.000")
            .body(channel_body(rx))
            .send_signed(),
    );
    // Tracks, a cluster, and a SimpleBlock that claims 40 MB (within max_fragment_bytes)...
    let mut head = body_head(&[h264_track(1)]);
    vidstream::mkv::write_cluster_start(&mut head, BASE_MS, None);
    head.extend([0xA3, 0x01, 0, 0, 0, 0x02, 0x62, 0x5A, 0x00]); // size 40_000_000
    head.extend([0x81, 0, 0, 0x80]); // track 1, timecode 0, keyframe
    tx.send(Ok(head.into())).await.unwrap();
    // ...whose payload arrives slowly: 64 KiB at a time, 4 MiB in all.
    let feeder = tokio::spawn(async move {
        for _ in 0..64 {
            if tx.send(Ok(vec![0u8; 64 << 10].into())).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Hold the body open until the server has answered.
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    // Meanwhile another stream sends 5 small fragments, all PERSISTED.
    let (_, steady) = put_media(&s.url, "steady", body(5, 5), 1024).await;
    assert_eq!(persisted(&steady).len(), 5, "{steady:?}");
    let resp = huge.await.unwrap().unwrap();
    let acks = parse_acks(&resp.text().await.unwrap());
    let last = acks.last().expect("an ack");
    assert_eq!(last.event, "ERROR", "{acks:?}");
    assert_eq!(last.error_id, Some(5000), "{acks:?}");
    feeder.abort();
    s.stop().await;
}
