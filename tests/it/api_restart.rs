//! Restart persistence and schema upgrades of a data directory.

use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn streams_tags_and_versions_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let info = s
        .create_active(json!({
            "StreamName": "persist",
            "DeviceName": "dev",
            "MediaType": "video/h264",
            "DataRetentionInHours": 48,
            "Tags": {"site": "lobby", "floor": "2"},
        }))
        .await;
    s.call(
        "/updateStream",
        json!({"StreamName": "persist", "CurrentVersion": info["Version"], "DeviceName": "dev2"}),
    )
    .await
    .assert_ok();
    let before = s.wait_status("persist", Some("ACTIVE")).await;
    let other = s.create_active(json!({"StreamName": "other"})).await;
    let doomed = s.create_active(json!({"StreamName": "doomed"})).await;
    s.call("/deleteStream", json!({"StreamARN": doomed["StreamARN"]}))
        .await
        .assert_ok();
    s.wait_status("doomed", None).await;
    s.stop().await;

    let s = TestServer::start(dir.path()).await;
    let after = s.wait_status("persist", Some("ACTIVE")).await;
    assert_eq!(
        after, before,
        "StreamInfo, including Version and CreationTime"
    );
    assert_eq!(after["DeviceName"], "dev2");
    let tags = s
        .call("/listTagsForStream", json!({"StreamName": "persist"}))
        .await;
    assert_eq!(
        tags.assert_ok()["Tags"],
        json!({"floor": "2", "site": "lobby"})
    );
    assert_eq!(s.wait_status("other", Some("ACTIVE")).await, other);
    s.call("/describeStream", json!({"StreamName": "doomed"}))
        .await
        .assert_error(404, "ResourceNotFoundException");
    // The old version token is still the current one after the restart.
    s.call(
        "/updateStream",
        json!({"StreamName": "persist", "CurrentVersion": before["Version"], "MediaType": "video/h265"}),
    )
    .await
    .assert_ok();
    s.stop().await;
}

#[tokio::test]
async fn second_server_on_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let config = vidstream::config::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        ..Default::default()
    };
    let second =
        vidstream::server::Server::bind(&config, std::sync::Arc::new(vidstream::time::SystemClock))
            .await;
    let err = second.err().expect("the data dir is locked").to_string();
    assert!(err.contains("in use by another vidstream process"), "{err}");
    s.stop().await;
}

#[tokio::test]
async fn version_1_data_dir_is_upgraded() {
    if crate::common::backend::on_postgres() {
        // An SQLite upgrade path; the PostgreSQL index has its own migration tests.
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    {
        let conn = rusqlite::Connection::open(dir.path().join("index.sqlite")).unwrap();
        conn.execute_batch(vidstream::store::index::sqlite::SCHEMA_V1)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO streams VALUES
               (1, 'legacy', 'arn:aws:kinesisvideo:us-east-1:000000000000:stream/legacy/1600000000000',
                NULL, 'video/h264', 'aws/kinesisvideo', 'v1abc', 'ACTIVE', 1600000000000, 12);
             INSERT INTO stream_tags VALUES (1, 'k', 'v');
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let s = TestServer::start(dir.path()).await;
    let info = s.wait_status("legacy", Some("ACTIVE")).await;
    assert_eq!(info["Version"], "v1abc");
    assert_eq!(info["DataRetentionInHours"], 12);
    assert_eq!(info["CreationTime"], 1_600_000_000.0);
    assert_eq!(
        info["StreamStorageConfiguration"]["DefaultStorageTier"],
        "HOT"
    );
    let tags = s
        .call("/listTagsForStream", json!({"StreamName": "legacy"}))
        .await;
    assert_eq!(tags.assert_ok()["Tags"], json!({"k": "v"}));
    s.stop().await;
    let conn = rusqlite::Connection::open(dir.path().join("index.sqlite")).unwrap();
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, vidstream::store::index::sqlite::SCHEMA_VERSION);
}
