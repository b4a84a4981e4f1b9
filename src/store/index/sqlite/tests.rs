use std::collections::BTreeMap;

use rusqlite::Connection;

use super::*;
use crate::store::index::{UiSessionRow, UserIndex, UserRow, UserStatus};

#[tokio::test]
async fn conformance() {
    let index = SqliteIndex::open_in_memory().expect("open");
    crate::store::index::testsuite::run(&index).await;
}

/// Tables, columns (name, type, not-null, default, pk) and indexes, for schema comparison.
fn describe(conn: &Connection) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut tables = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    let names: Vec<String> = tables
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for t in names {
        let mut cols = conn.prepare(&format!("PRAGMA table_xinfo({t})")).unwrap();
        let mut desc: Vec<String> = cols
            .query_map([], |r| {
                Ok(format!(
                    "col {}:{}:{}:{:?}:{}",
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, i64>(5)?
                ))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut idx = conn.prepare(&format!("PRAGMA index_list({t})")).unwrap();
        let idx: Vec<String> = idx
            .query_map([], |r| {
                Ok(format!(
                    "index unique={} origin={}",
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?
                ))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        desc.extend(idx);
        desc.sort();
        out.insert(t, desc);
    }
    out
}

#[test]
fn upgrade_from_v1_matches_fresh_schema_and_keeps_rows() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.sqlite");
    {
        let conn = Connection::open(&old).unwrap();
        conn.execute_batch(SCHEMA_V1).unwrap();
        conn.execute_batch(
            "INSERT INTO streams VALUES
               (7, 'cam1', 'arn:aws:kinesisvideo:us-east-1:1:stream/cam1/5', 'dev', 'video/h264',
                'aws/kinesisvideo', 'abc', 'ACTIVE', 5, 24);
             INSERT INTO stream_tags VALUES (7, 'site', 'lobby');
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let fresh = dir.path().join("fresh.sqlite");
    drop(SqliteIndex::open(&fresh).unwrap());
    let upgraded = SqliteIndex::open(&old).unwrap();
    {
        let conn = upgraded.conn.lock().unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let fresh_conn = Connection::open(&fresh).unwrap();
        assert_eq!(describe(&conn), describe(&fresh_conn));
    }
    // The old row is readable through the index, with the new column defaulted.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let rec = rt
        .block_on(upgraded.stream_by_name(&StreamName::parse("cam1").unwrap()))
        .unwrap()
        .expect("row survived the upgrade");
    assert_eq!(rec.id, StreamId(7));
    assert_eq!(rec.storage_tier, StorageTier::Hot);
    assert_eq!(rec.version.as_str(), "abc");
    let tags = rt.block_on(upgraded.tags(rec.id)).unwrap();
    assert_eq!(tags.len(), 1);
}

#[test]
fn refuses_newer_schema_and_foreign_databases() {
    let dir = tempfile::tempdir().unwrap();
    let newer = dir.path().join("newer.sqlite");
    Connection::open(&newer)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99;")
        .unwrap();
    match SqliteIndex::open(&newer) {
        Err(StoreError::SchemaTooNew { found: 99, .. }) => {}
        other => panic!("expected SchemaTooNew, got {:?}", other.err()),
    }
    let foreign = dir.path().join("foreign.sqlite");
    Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE t (x);")
        .unwrap();
    assert!(matches!(
        SqliteIndex::open(&foreign),
        Err(StoreError::Database(_))
    ));
    // A file that is not a database at all (overwritten, truncated header) is damage.
    let garbage = dir.path().join("garbage.sqlite");
    std::fs::write(&garbage, vec![0x5a; 8192]).unwrap();
    match SqliteIndex::open(&garbage) {
        Err(StoreError::Corruption(_)) => {}
        other => panic!("expected Corruption, got {:?}", other.err()),
    }
}

/// A version-5 database (before web UI users, v6, and sealed camera passwords, v7) keeps its
/// rows (streams, cameras, checkpoints, access keys), ends with the fresh schema, and takes users
/// and sessions. Its clear-text camera password reads as a legacy one, for the camera supervisor
/// to seal.
#[test]
fn upgrade_from_previous_version_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("v5.sqlite");
    {
        let conn = Connection::open(&old).unwrap();
        conn.execute_batch(SCHEMA_V1).unwrap();
        for step in &open::UPGRADES[..4] {
            conn.execute_batch(step).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO streams (id, name, arn, kms_key_id, version, status, creation_time_ms,
                 data_retention_hours)
               VALUES (3, 'cam3', 'arn:aws:kinesisvideo:us-east-1:1:stream/cam3/5',
                 'aws/kinesisvideo', 'v', 'ACTIVE', 5, 1);
             INSERT INTO cameras VALUES ('door', 'rtsp://10.0.0.2/s', 'u', 'p', 'cam3', 'tcp', 1);
             INSERT INTO consumers VALUES (3, 'ml', 42, 1000, 2000);
             INSERT INTO access_keys VALUES ('VSAKAAAAAAAAAAAAAAAA', 'before-upgrade', x'0101',
               'Active', '{}', 1, NULL, NULL, 'root');
             PRAGMA user_version = 5;",
        )
        .unwrap();
    }
    let fresh = dir.path().join("fresh.sqlite");
    drop(SqliteIndex::open(&fresh).unwrap());
    let upgraded = SqliteIndex::open(&old).unwrap();
    {
        let conn = upgraded.conn.lock().unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        assert_eq!(
            describe(&conn),
            describe(&Connection::open(&fresh).unwrap())
        );
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = upgraded
            .stream_by_name(&StreamName::parse("cam3").unwrap())
            .await
            .unwrap()
            .expect("stream kept");
        assert_eq!(s.id, StreamId(3));
        let cam = upgraded.camera("door").await.unwrap().expect("camera kept");
        assert_eq!(
            cam.password,
            Some(crate::store::index::StoredPassword::Legacy("p".into()))
        );
        let cp = upgraded.checkpoint(s.id, "ml").await.unwrap();
        assert_eq!(cp.map(|c| c.seq), Some(42), "checkpoint kept");
        let key = upgraded
            .access_key("VSAKAAAAAAAAAAAAAAAA")
            .await
            .unwrap()
            .expect("access key kept");
        assert_eq!(key.name, "before-upgrade");
        let user = UserRow {
            name: "after-upgrade".into(),
            password_hash: "$argon2id$x".into(),
            policy: "{}".into(),
            status: UserStatus::Active,
            created_ms: 1,
            failed_logins: 0,
            locked_until_ms: None,
        };
        upgraded.insert_user(user.clone()).await.unwrap();
        assert_eq!(upgraded.list_users().await.unwrap(), vec![user]);
        let session = UiSessionRow {
            id_sha256: [3; 32],
            user: "after-upgrade".into(),
            csrf_token: "t".into(),
            created_ms: 1,
            last_seen_ms: 1,
            expires_ms: 2,
        };
        upgraded.insert_ui_session(session.clone()).await.unwrap();
        assert_eq!(upgraded.ui_session([3; 32]).await.unwrap(), Some(session));
    });
}

/// Sealing a legacy clear-text camera password leaves no copy of it in the index's files: not
/// in the row's old bytes, not in the write-ahead log.
#[test]
fn sealing_a_legacy_password_scrubs_the_clear_text() {
    use crate::store::index::{CameraRow, PasswordSealing, StoredPassword};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.sqlite");
    let clear = "legacy-clear-hunter2";
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let index = SqliteIndex::open(&path).unwrap();
    rt.block_on(async {
        for name in ["door", "yard"] {
            index
                .insert_camera(CameraRow {
                    name: name.into(),
                    url: "rtsp://10.0.0.2/s".into(),
                    username: Some("u".into()),
                    password: Some(StoredPassword::Legacy(clear.into())),
                    stream_name: name.into(),
                    transport: "tcp".into(),
                    enabled: true,
                })
                .await
                .unwrap();
        }
        // As an old build would have left it: the clear text in the database file itself.
        index
            .conn
            .lock()
            .unwrap()
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        let sealings = ["door", "yard"]
            .map(|name| PasswordSealing {
                name: name.into(),
                legacy: clear.into(),
                sealed: vec![0xAA; 40],
            })
            .to_vec();
        assert_eq!(index.seal_camera_passwords(sealings).await.unwrap(), 2);
        let door = index.camera("door").await.unwrap().unwrap();
        assert_eq!(door.password, Some(StoredPassword::Sealed(vec![0xAA; 40])));
    });
    // Read while the index is open: closing checkpoints and removes the log on its own.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        assert!(
            !bytes.windows(clear.len()).any(|w| w == clear.as_bytes()),
            "{} still holds the clear text",
            p.display()
        );
    }
    drop(index);
}
