//! Bad input of every kind gets a KVS-shaped error, never a panic, and never harms stored data.

use reqwest::Method;
use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn bad_input_table() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let before = s
        .create_active(json!({"StreamName": "keep", "Tags": {"a": "1"}}))
        .await;

    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let huge = format!("{{\"StreamName\": \"{}\"}}", "x".repeat(2 << 20));
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "truncated JSON",
            "/createStream",
            b"{\"StreamName\":".to_vec(),
        ),
        ("not JSON", "/createStream", b"hello".to_vec()),
        ("array body", "/describeStream", b"[]".to_vec()),
        ("string body", "/describeStream", b"\"keep\"".to_vec()),
        (
            "number for string",
            "/describeStream",
            br#"{"StreamName": 5}"#.to_vec(),
        ),
        (
            "null for required",
            "/createStream",
            br#"{"StreamName": null}"#.to_vec(),
        ),
        (
            "string for integer",
            "/listStreams",
            br#"{"MaxResults": "ten"}"#.to_vec(),
        ),
        (
            "float for integer",
            "/createStream",
            br#"{"StreamName": "f", "DataRetentionInHours": 1.5}"#.to_vec(),
        ),
        (
            "overflowing integer",
            "/listStreams",
            br#"{"MaxResults": 1e400}"#.to_vec(),
        ),
        (
            "huge integer",
            "/createStream",
            br#"{"StreamName": "h", "DataRetentionInHours": 99999999999999999999}"#.to_vec(),
        ),
        (
            "list for map",
            "/createStream",
            br#"{"StreamName": "l", "Tags": ["a"]}"#.to_vec(),
        ),
        (
            "map for list",
            "/untagStream",
            br#"{"StreamName": "keep", "TagKeyList": {"a": 1}}"#.to_vec(),
        ),
        (
            "object for string",
            "/tagStream",
            br#"{"StreamName": "keep", "Tags": {"a": {"b": 1}}}"#.to_vec(),
        ),
        (
            "invalid UTF-8",
            "/describeStream",
            b"{\"StreamName\": \"\xff\xfe\"}".to_vec(),
        ),
        ("deep nesting", "/createStream", deep.into_bytes()),
        ("2 MiB body", "/createStream", huge.into_bytes()),
        (
            "duplicate key",
            "/describeStream",
            br#"{"StreamName": "keep", "StreamName": "keep"}"#.to_vec(),
        ),
        (
            "bad name",
            "/describeStream",
            br#"{"StreamName": "../../etc/passwd"}"#.to_vec(),
        ),
        (
            "control chars",
            "/createStream",
            b"{\"StreamName\": \"a\\u0000b\"}".to_vec(),
        ),
        (
            "over-long ARN",
            "/describeStream",
            format!(
                "{{\"StreamARN\": \"arn:aws:kinesisvideo:us-east-1:1:stream/{}/1\"}}",
                "a".repeat(2000)
            )
            .into_bytes(),
        ),
    ];
    for (what, path, body) in cases {
        let r = s.post_raw(path, body).await;
        assert_eq!(r.status, 400, "{what}: {r:?}");
        r.assert_error(400, "InvalidArgumentException");
    }

    for (method, path) in [
        (Method::POST, "/noSuchOperation"),
        (Method::POST, "/"),
        (Method::GET, "/createStream"),
        (Method::PUT, "/describeStream"),
        (Method::POST, "/describestream"),
        (Method::POST, "/createStream/extra"),
    ] {
        let r = s.request(method.clone(), path).await;
        r.assert_error(404, "UnknownOperationException");
        assert!(
            r.body["message"].as_str().unwrap().contains(path),
            "{method} {path}: message names the path: {r:?}"
        );
    }

    // Still healthy, and the stream stored before is untouched.
    assert_eq!(s.request(Method::GET, "/healthz").await.status, 200);
    assert_eq!(s.wait_status("keep", Some("ACTIVE")).await, before);
    let tags = s
        .call("/listTagsForStream", json!({"StreamName": "keep"}))
        .await;
    assert_eq!(tags.assert_ok()["Tags"], json!({"a": "1"}));
    s.stop().await;
}

#[tokio::test]
async fn body_limit_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(dir.path(), |c| c.max_request_body_bytes = 64).await;
    let small = json!({"StreamName": "ok"});
    s.call("/createStream", small).await.assert_ok();
    let big = json!({"StreamName": "ok2", "DeviceName": "d".repeat(100)});
    let r = s.call("/createStream", big).await;
    r.assert_error(400, "InvalidArgumentException");
    assert!(
        r.body["message"].as_str().unwrap().contains("64 bytes"),
        "{r:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn unimplemented_kvs_operations_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    for path in [
        "/updateNotificationConfiguration",
        "/createSignalingChannel",
        "/startEdgeConfigurationUpdate",
    ] {
        let r = s.call(path, json!({})).await;
        r.assert_error(501, "NotImplementedException");
        assert!(
            r.body["message"]
                .as_str()
                .unwrap()
                .contains("not implemented"),
            "{r:?}"
        );
    }
    s.stop().await;
}
