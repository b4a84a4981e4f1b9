//! The KVS control plane against a real server on a loopback port: every operation and every
//! error case the foundation issue lists.

use serde_json::{Value, json};

use crate::common::TestServer;

async fn server() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (TestServer::start(dir.path()).await, dir)
}

#[tokio::test]
async fn create_describe_by_name_and_arn() {
    let (s, _d) = server().await;
    let r = s
        .call(
            "/createStream",
            json!({
                "StreamName": "cam1",
                "DeviceName": "front-door",
                "MediaType": "video/h264,audio/aac",
                "DataRetentionInHours": 24,
                "Tags": {"site": "lobby"},
            }),
        )
        .await;
    let arn = r.assert_ok()["StreamARN"].as_str().unwrap().to_owned();
    assert!(
        arn.starts_with("arn:aws:kinesisvideo:us-east-1:000000000000:stream/cam1/"),
        "{arn}"
    );
    let id = r.request_id.clone().expect("x-amzn-RequestId is set");
    let uuid_shaped = id.len() == 36
        && id.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
        });
    assert!(uuid_shaped, "request id {id}");
    // CREATING is observable or already over; either way it must end in ACTIVE.
    let first = s
        .call("/describeStream", json!({"StreamName": "cam1"}))
        .await;
    let st = first.assert_ok()["StreamInfo"]["Status"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(st == "CREATING" || st == "ACTIVE", "{st}");
    let info = s.wait_status("cam1", Some("ACTIVE")).await;
    assert_eq!(info["StreamName"], "cam1");
    assert_eq!(info["StreamARN"], arn.as_str());
    assert_eq!(info["DeviceName"], "front-door");
    assert_eq!(info["MediaType"], "video/h264,audio/aac");
    assert_eq!(info["KmsKeyId"], "aws/kinesisvideo");
    assert_eq!(info["DataRetentionInHours"], 24);
    let created = info["CreationTime"].as_f64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - created).abs() < 60.0,
        "CreationTime is epoch seconds: {created}"
    );
    let version = info["Version"].as_str().unwrap();
    assert!(!version.is_empty() && version.chars().all(|c| c.is_ascii_alphanumeric()));
    let by_arn = s.call("/describeStream", json!({"StreamARN": arn})).await;
    assert_eq!(by_arn.assert_ok()["StreamInfo"], info);
    let both = s
        .call(
            "/describeStream",
            json!({"StreamName": "cam1", "StreamARN": arn}),
        )
        .await;
    assert_eq!(both.assert_ok()["StreamInfo"], info);
}

#[tokio::test]
async fn create_errors() {
    let (s, _d) = server().await;
    s.create_active(json!({"StreamName": "dup"})).await;
    s.call("/createStream", json!({"StreamName": "dup"}))
        .await
        .assert_error(400, "ResourceInUseException");
    let bad: &[Value] = &[
        json!({"StreamName": "bad name!"}),
        json!({"StreamName": ""}),
        json!({"StreamName": "x".repeat(257)}),
        json!({"StreamName": "ok1", "MediaType": "video"}),
        json!({"StreamName": "ok2", "DeviceName": "has space"}),
        json!({"StreamName": "ok3", "DataRetentionInHours": -1}),
        json!({"StreamName": "ok4", "DataRetentionInHours": 87_601}),
        json!({"StreamName": "ok5", "Tags": {"bad#key": "v"}}),
        json!({"StreamName": "ok6", "Tags": {"aws:owner": "v"}}),
        json!({"StreamName": "ok7", "Tags": {"k": "v".repeat(257)}}),
        json!({"StreamName": "ok8", "Tags": {}}),
        json!({"StreamName": "ok9", "StreamStorageConfiguration": {"DefaultStorageTier": "COLD"}}),
        json!({"DeviceName": "no-stream-name"}),
    ];
    for body in bad {
        s.call("/createStream", body.clone())
            .await
            .assert_error(400, "InvalidArgumentException");
    }
    let many: serde_json::Map<String, Value> =
        (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
    s.call("/createStream", json!({"StreamName": "ok10", "Tags": many}))
        .await
        .assert_error(400, "TagsPerResourceExceededLimitException");
    // None of the rejected requests created anything.
    let list = s.call("/listStreams", json!({})).await;
    let names: Vec<&str> = list.assert_ok()["StreamInfoList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["StreamName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dup"]);
}

#[tokio::test]
async fn describe_errors() {
    let (s, _d) = server().await;
    s.call("/describeStream", json!({"StreamName": "nope"}))
        .await
        .assert_error(404, "ResourceNotFoundException");
    s.call(
        "/describeStream",
        json!({"StreamARN": "arn:aws:kinesisvideo:us-east-1:000000000000:stream/nope/1"}),
    )
    .await
    .assert_error(404, "ResourceNotFoundException");
    s.call("/describeStream", json!({}))
        .await
        .assert_error(400, "InvalidArgumentException");
    s.call("/describeStream", json!({"StreamARN": "arn:nope"}))
        .await
        .assert_error(400, "InvalidArgumentException");
    let a = s.create_active(json!({"StreamName": "a"})).await;
    s.create_active(json!({"StreamName": "b"})).await;
    s.call(
        "/describeStream",
        json!({"StreamName": "b", "StreamARN": a["StreamARN"]}),
    )
    .await
    .assert_error(400, "InvalidArgumentException");
}

fn names(v: &Value) -> Vec<String> {
    v["StreamInfoList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["StreamName"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn list_pagination_and_prefix() {
    let (s, _d) = server().await;
    for n in ["cam_3", "cam_1", "cam_2", "camX", "door"] {
        s.call("/createStream", json!({"StreamName": n}))
            .await
            .assert_ok();
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut body = json!({"MaxResults": 2});
        if let Some(t) = &token {
            body["NextToken"] = json!(t);
        }
        let r = s.call("/listStreams", body).await;
        let v = r.assert_ok();
        pages += 1;
        seen.extend(names(v));
        match v.get("NextToken").and_then(Value::as_str) {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    // Byte order of the names: `X` (0x58) sorts before `_` (0x5f).
    assert_eq!(seen, ["camX", "cam_1", "cam_2", "cam_3", "door"]);
    assert_eq!(pages, 3);
    let r = s
        .call(
            "/listStreams",
            json!({"StreamNameCondition": {"ComparisonOperator": "BEGINS_WITH", "ComparisonValue": "cam_"}}),
        )
        .await;
    assert_eq!(names(r.assert_ok()), ["cam_1", "cam_2", "cam_3"]);
    assert!(r.body.get("NextToken").is_none());
    for bad in [
        json!({"MaxResults": 0}),
        json!({"MaxResults": 10_001}),
        json!({"NextToken": "bm90YXRva2Vu"}),
        json!({"NextToken": "***"}),
        json!({"StreamNameCondition": {"ComparisonOperator": "ENDS_WITH", "ComparisonValue": "a"}}),
        json!({"StreamNameCondition": {"ComparisonOperator": "BEGINS_WITH", "ComparisonValue": "a b"}}),
    ] {
        s.call("/listStreams", bad)
            .await
            .assert_error(400, "InvalidArgumentException");
    }
}

#[tokio::test]
async fn update_stream_and_version_checks() {
    let (s, _d) = server().await;
    let info = s.create_active(json!({"StreamName": "u"})).await;
    let v1 = info["Version"].as_str().unwrap().to_owned();
    s.call(
        "/updateStream",
        json!({"StreamName": "u", "CurrentVersion": v1, "DeviceName": "dev2", "MediaType": "video/h265"}),
    )
    .await
    .assert_ok();
    let after = s.wait_status("u", Some("ACTIVE")).await;
    assert_eq!(after["DeviceName"], "dev2");
    assert_eq!(after["MediaType"], "video/h265");
    let v2 = after["Version"].as_str().unwrap().to_owned();
    assert_ne!(v1, v2, "Version changes on every update");
    s.call(
        "/updateStream",
        json!({"StreamName": "u", "CurrentVersion": v1, "DeviceName": "x"}),
    )
    .await
    .assert_error(400, "VersionMismatchException");
    s.call(
        "/updateStream",
        json!({"StreamName": "u", "CurrentVersion": "not-alnum"}),
    )
    .await
    .assert_error(400, "InvalidArgumentException");
    s.call("/updateStream", json!({"StreamName": "u"}))
        .await
        .assert_error(400, "InvalidArgumentException");
    s.call(
        "/updateStream",
        json!({"StreamName": "nope", "CurrentVersion": v2}),
    )
    .await
    .assert_error(404, "ResourceNotFoundException");
    s.call(
        "/updateStream",
        json!({"StreamARN": after["StreamARN"], "CurrentVersion": v2, "MediaType": "bad"}),
    )
    .await
    .assert_error(400, "InvalidArgumentException");
    // The failed calls changed nothing.
    assert_eq!(s.wait_status("u", Some("ACTIVE")).await, after);
}

#[tokio::test]
async fn update_data_retention() {
    let (s, _d) = server().await;
    let info = s
        .create_active(json!({"StreamName": "r", "DataRetentionInHours": 2}))
        .await;
    let v = info["Version"].as_str().unwrap().to_owned();
    let call = |op: &str, h: i64, v: &str| json!({"StreamName": "r", "CurrentVersion": v, "Operation": op, "DataRetentionChangeInHours": h});
    s.call(
        "/updateDataRetention",
        call("INCREASE_DATA_RETENTION", 10, &v),
    )
    .await
    .assert_ok();
    let info = s.wait_status("r", Some("ACTIVE")).await;
    assert_eq!(info["DataRetentionInHours"], 12);
    let v2 = info["Version"].as_str().unwrap().to_owned();
    assert_ne!(v, v2);
    s.call(
        "/updateDataRetention",
        call("DECREASE_DATA_RETENTION", 1, &v),
    )
    .await
    .assert_error(400, "VersionMismatchException");
    s.call(
        "/updateDataRetention",
        call("DECREASE_DATA_RETENTION", 13, &v2),
    )
    .await
    .assert_error(400, "InvalidArgumentException");
    s.call(
        "/updateDataRetention",
        call("DECREASE_DATA_RETENTION", 0, &v2),
    )
    .await
    .assert_error(400, "InvalidArgumentException");
    s.call("/updateDataRetention", call("SIDEWAYS", 1, &v2))
        .await
        .assert_error(400, "InvalidArgumentException");
    s.call(
        "/updateDataRetention",
        call("INCREASE_DATA_RETENTION", 87_600, &v2),
    )
    .await
    .assert_error(400, "InvalidArgumentException");
    s.call(
        "/updateDataRetention",
        call("DECREASE_DATA_RETENTION", 12, &v2),
    )
    .await
    .assert_ok();
    let info = s.wait_status("r", Some("ACTIVE")).await;
    assert_eq!(info["DataRetentionInHours"], 0);
}

#[tokio::test]
async fn delete_stream_lifecycle() {
    let (s, _d) = server().await;
    let info = s
        .create_active(json!({"StreamName": "d", "Tags": {"a": "1"}}))
        .await;
    let arn = info["StreamARN"].as_str().unwrap().to_owned();
    s.call(
        "/deleteStream",
        json!({"StreamARN": arn, "CurrentVersion": "stale"}),
    )
    .await
    .assert_error(400, "VersionMismatchException");
    s.call("/deleteStream", json!({"StreamName": "d"}))
        .await
        .assert_error(400, "InvalidArgumentException");
    s.call(
        "/deleteStream",
        json!({"StreamARN": arn, "CurrentVersion": info["Version"]}),
    )
    .await
    .assert_ok();
    s.wait_status("d", None).await;
    s.call("/deleteStream", json!({"StreamARN": arn}))
        .await
        .assert_error(404, "ResourceNotFoundException");
    // The name is reusable, with a new ARN and no old tags.
    let again = s.create_active(json!({"StreamName": "d"})).await;
    assert_ne!(again["StreamARN"], arn.as_str());
    let tags = s
        .call("/listTagsForStream", json!({"StreamName": "d"}))
        .await;
    assert_eq!(tags.assert_ok()["Tags"], json!({}));
}

#[tokio::test]
async fn get_data_endpoint_for_every_api() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    s.create_active(json!({"StreamName": "e"})).await;
    for api in [
        "PUT_MEDIA",
        "GET_MEDIA",
        "LIST_FRAGMENTS",
        "GET_MEDIA_FOR_FRAGMENT_LIST",
        "GET_HLS_STREAMING_SESSION_URL",
        "GET_DASH_STREAMING_SESSION_URL",
        "GET_CLIP",
        "GET_IMAGES",
    ] {
        let r = s
            .call(
                "/getDataEndpoint",
                json!({"StreamName": "e", "APIName": api}),
            )
            .await;
        assert_eq!(r.assert_ok()["DataEndpoint"], s.url.as_str(), "{api}");
    }
    s.call(
        "/getDataEndpoint",
        json!({"StreamName": "e", "APIName": "GET_COFFEE"}),
    )
    .await
    .assert_error(400, "InvalidArgumentException");
    s.call("/getDataEndpoint", json!({"StreamName": "e"}))
        .await
        .assert_error(400, "InvalidArgumentException");
    s.call(
        "/getDataEndpoint",
        json!({"StreamName": "nope", "APIName": "GET_MEDIA"}),
    )
    .await
    .assert_error(404, "ResourceNotFoundException");
    s.stop().await;

    let dir2 = tempfile::tempdir().unwrap();
    let p = TestServer::start_with(dir2.path(), |c| {
        c.public_url = Some("https://video.example.com/".into());
    })
    .await;
    p.create_active(json!({"StreamName": "e"})).await;
    let r = p
        .call(
            "/getDataEndpoint",
            json!({"StreamName": "e", "APIName": "PUT_MEDIA"}),
        )
        .await;
    assert_eq!(r.assert_ok()["DataEndpoint"], "https://video.example.com");
    p.stop().await;
}

#[tokio::test]
async fn stream_tags() {
    let (s, _d) = server().await;
    let info = s
        .create_active(json!({"StreamName": "t", "Tags": {"a": "1", "b": "2"}}))
        .await;
    let arn = info["StreamARN"].clone();
    s.call(
        "/tagStream",
        json!({"StreamARN": arn, "Tags": {"b": "two", "c": "3"}}),
    )
    .await
    .assert_ok();
    let r = s
        .call("/listTagsForStream", json!({"StreamName": "t"}))
        .await;
    assert_eq!(
        r.assert_ok()["Tags"],
        json!({"a": "1", "b": "two", "c": "3"})
    );
    assert!(r.body.get("NextToken").is_none());
    s.call(
        "/untagStream",
        json!({"StreamName": "t", "TagKeyList": ["a", "zz"]}),
    )
    .await
    .assert_ok();
    let r = s
        .call("/listTagsForStream", json!({"StreamARN": arn}))
        .await;
    assert_eq!(r.assert_ok()["Tags"], json!({"b": "two", "c": "3"}));
    // Tagging does not change the version.
    assert_eq!(
        s.wait_status("t", Some("ACTIVE")).await["Version"],
        info["Version"]
    );

    let forty_eight: serde_json::Map<String, Value> =
        (0..48).map(|i| (format!("k{i}"), json!("v"))).collect();
    s.call(
        "/tagStream",
        json!({"StreamName": "t", "Tags": forty_eight}),
    )
    .await
    .assert_ok();
    s.call(
        "/tagStream",
        json!({"StreamName": "t", "Tags": {"one-too-many": "x"}}),
    )
    .await
    .assert_error(400, "TagsPerResourceExceededLimitException");
    let r = s
        .call("/listTagsForStream", json!({"StreamName": "t"}))
        .await;
    assert_eq!(r.assert_ok()["Tags"].as_object().unwrap().len(), 50);

    for (path, body, status, name) in [
        (
            "/tagStream",
            json!({"StreamName": "nope", "Tags": {"a": "1"}}),
            404,
            "ResourceNotFoundException",
        ),
        (
            "/tagStream",
            json!({"StreamName": "t", "Tags": {}}),
            400,
            "InvalidArgumentException",
        ),
        (
            "/tagStream",
            json!({"StreamName": "t", "Tags": {"bad#key": "1"}}),
            400,
            "InvalidArgumentException",
        ),
        (
            "/tagStream",
            json!({"StreamName": "t"}),
            400,
            "InvalidArgumentException",
        ),
        (
            "/untagStream",
            json!({"StreamName": "t", "TagKeyList": []}),
            400,
            "InvalidArgumentException",
        ),
        (
            "/untagStream",
            json!({"StreamName": "nope", "TagKeyList": ["a"]}),
            404,
            "ResourceNotFoundException",
        ),
        (
            "/listTagsForStream",
            json!({"StreamName": "nope"}),
            404,
            "ResourceNotFoundException",
        ),
        (
            "/listTagsForStream",
            json!({"StreamName": "t", "NextToken": "abc"}),
            400,
            "InvalidArgumentException",
        ),
    ] {
        s.call(path, body).await.assert_error(status, name);
    }
}

#[tokio::test]
async fn resource_tags() {
    let (s, _d) = server().await;
    let info = s.create_active(json!({"StreamName": "rt"})).await;
    let arn = info["StreamARN"].clone();
    s.call(
        "/TagResource",
        json!({"ResourceARN": arn, "Tags": [{"Key": "site", "Value": "lobby"}, {"Key": "floor", "Value": "2"}]}),
    )
    .await
    .assert_ok();
    let r = s
        .call("/ListTagsForResource", json!({"ResourceARN": arn}))
        .await;
    assert_eq!(
        r.assert_ok()["Tags"],
        json!({"floor": "2", "site": "lobby"})
    );
    // Both families see the same tags.
    let r = s
        .call("/listTagsForStream", json!({"StreamName": "rt"}))
        .await;
    assert_eq!(
        r.assert_ok()["Tags"],
        json!({"floor": "2", "site": "lobby"})
    );
    s.call(
        "/UntagResource",
        json!({"ResourceARN": arn, "TagKeyList": ["site"]}),
    )
    .await
    .assert_ok();
    let r = s
        .call("/ListTagsForResource", json!({"ResourceARN": arn}))
        .await;
    assert_eq!(r.assert_ok()["Tags"], json!({"floor": "2"}));

    let missing = "arn:aws:kinesisvideo:us-east-1:000000000000:stream/none/1";
    let channel = "arn:aws:kinesisvideo:us-east-1:000000000000:channel/ch/1";
    let fifty_one: Vec<Value> = (0..51)
        .map(|i| json!({"Key": format!("k{i}"), "Value": "v"}))
        .collect();
    for (path, body, status, name) in [
        (
            "/TagResource",
            json!({"ResourceARN": missing, "Tags": [{"Key": "a", "Value": "b"}]}),
            404,
            "ResourceNotFoundException",
        ),
        (
            "/TagResource",
            json!({"ResourceARN": channel, "Tags": [{"Key": "a", "Value": "b"}]}),
            404,
            "ResourceNotFoundException",
        ),
        (
            "/TagResource",
            json!({"ResourceARN": "not-an-arn", "Tags": [{"Key": "a", "Value": "b"}]}),
            400,
            "InvalidArgumentException",
        ),
        (
            "/TagResource",
            json!({"ResourceARN": arn, "Tags": [{"Key": "bad#key", "Value": "b"}]}),
            400,
            "InvalidArgumentException",
        ),
        (
            "/TagResource",
            json!({"ResourceARN": arn, "Tags": [{"Key": "a"}]}),
            400,
            "InvalidArgumentException",
        ),
        (
            "/TagResource",
            json!({"ResourceARN": arn, "Tags": []}),
            400,
            "InvalidArgumentException",
        ),
        (
            "/TagResource",
            json!({"ResourceARN": arn, "Tags": fifty_one}),
            400,
            "TagsPerResourceExceededLimitException",
        ),
        (
            "/UntagResource",
            json!({"ResourceARN": missing, "TagKeyList": ["a"]}),
            404,
            "ResourceNotFoundException",
        ),
        (
            "/UntagResource",
            json!({"ResourceARN": arn}),
            400,
            "InvalidArgumentException",
        ),
        (
            "/ListTagsForResource",
            json!({"ResourceARN": missing}),
            404,
            "ResourceNotFoundException",
        ),
        (
            "/ListTagsForResource",
            json!({}),
            400,
            "InvalidArgumentException",
        ),
    ] {
        s.call(path, body).await.assert_error(status, name);
    }
}

#[tokio::test]
async fn healthz_and_graceful_stop() {
    let (s, _d) = server().await;
    let r = s.request(reqwest::Method::GET, "/healthz").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "ok");
    s.stop().await;
}
