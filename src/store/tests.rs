use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::time::{ServerTime, SimClock};

fn opts(dir: &Path) -> StoreOptions {
    StoreOptions {
        data_dir: dir.to_owned(),
        region: "eu-west-1".into(),
        account_id: "42".into(),
    }
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(SimClock::new(ServerTime(1_700_000_000_000)))
}

fn create(name: &str) -> CreateStream {
    CreateStream {
        name: StreamName::parse(name).unwrap(),
        device_name: None,
        media_type: None,
        kms_key_id: None,
        data_retention_hours: 0,
        tags: Tags::new(),
        storage_tier: StorageTier::Hot,
    }
}

async fn wait_status(store: &Store, name: &str, want: Option<StreamStatus>) {
    let r = StreamRef::Name(StreamName::parse(name).unwrap());
    for _ in 0..200 {
        let now = match store.describe(&r).await {
            Ok(s) => Some(s.status),
            Err(StoreError::StreamNotFound(_)) => None,
            Err(e) => panic!("{e}"),
        };
        if now == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("stream {name} never reached {want:?}");
}

#[tokio::test]
async fn data_dir_is_exclusive() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(opts(dir.path()), clock()).await.unwrap();
    match Store::open(opts(dir.path()), clock()).await {
        Err(StoreError::DataDirLocked(_)) => {}
        other => panic!("expected DataDirLocked, got {:?}", other.err()),
    }
}

#[tokio::test]
async fn create_becomes_active_with_media_dir_and_arn() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(opts(dir.path()), clock()).await.unwrap();
    let rec = store.create_stream(create("cam1")).await.unwrap();
    assert_eq!(rec.status, StreamStatus::Creating);
    assert_eq!(
        rec.arn,
        "arn:aws:kinesisvideo:eu-west-1:42:stream/cam1/1700000000000"
    );
    wait_status(&store, "cam1", Some(StreamStatus::Active)).await;
    assert!(dir.path().join("media").join(rec.id.0.to_string()).is_dir());
    let active = store
        .describe(&StreamRef::Name(rec.name.clone()))
        .await
        .unwrap();
    assert_ne!(
        active.version, rec.version,
        "activation changes the version"
    );
}

#[tokio::test]
async fn delete_removes_media_then_row_and_frees_the_name() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(opts(dir.path()), clock()).await.unwrap();
    let rec = store.create_stream(create("gone")).await.unwrap();
    wait_status(&store, "gone", Some(StreamStatus::Active)).await;
    let r = StreamRef::Arn(Arn::parse(&rec.arn).unwrap());
    // A stale version is refused and changes nothing.
    match store.delete_stream(&r, Some(&rec.version)).await {
        Err(StoreError::VersionMismatch { .. }) => {}
        other => panic!("expected VersionMismatch, got {other:?}"),
    }
    store.delete_stream(&r, None).await.unwrap();
    wait_status(&store, "gone", None).await;
    assert!(
        !dir.path()
            .join("media")
            .join(rec.id.0.to_string())
            .try_exists()
            .unwrap()
    );
    store.create_stream(create("gone")).await.unwrap();
}

#[tokio::test]
async fn recovery_finishes_interrupted_transitions() {
    let dir = tempfile::tempdir().unwrap();
    let (creating, deleting) = {
        // Simulate a crash: write rows in CREATING and DELETING state straight to the index.
        let index = index::sqlite::SqliteIndex::open(&dir.path().join("index.sqlite")).unwrap();
        let mk = |n: &str, status| NewStream {
            name: StreamName::parse(n).unwrap(),
            arn: format!("arn:aws:kinesisvideo:eu-west-1:42:stream/{n}/1"),
            device_name: None,
            media_type: None,
            kms_key_id: KmsKeyId::aws_default(),
            version: Version::random(),
            status,
            creation_time: ServerTime(1),
            data_retention_hours: 0,
            storage_tier: StorageTier::Hot,
            tags: Tags::new(),
        };
        let c = index
            .create_stream(mk("c", StreamStatus::Creating))
            .await
            .unwrap();
        let d = index
            .create_stream(mk("d", StreamStatus::Deleting))
            .await
            .unwrap();
        std::fs::create_dir_all(dir.path().join("media").join(d.id.0.to_string())).unwrap();
        (c, d)
    };
    let store = Store::open(opts(dir.path()), clock()).await.unwrap();
    let c = store
        .describe(&StreamRef::Name(creating.name.clone()))
        .await
        .unwrap();
    assert_eq!(c.status, StreamStatus::Active);
    assert!(matches!(
        store
            .describe(&StreamRef::Name(deleting.name.clone()))
            .await,
        Err(StoreError::StreamNotFound(_))
    ));
    assert!(
        !dir.path()
            .join("media")
            .join(deleting.id.0.to_string())
            .try_exists()
            .unwrap()
    );
}

#[tokio::test]
async fn retention_changes_are_bounded_and_versioned() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(opts(dir.path()), clock()).await.unwrap();
    let mut req = create("ret");
    req.data_retention_hours = 2;
    store.create_stream(req).await.unwrap();
    wait_status(&store, "ret", Some(StreamStatus::Active)).await;
    let r = StreamRef::Name(StreamName::parse("ret").unwrap());
    let v = store.describe(&r).await.unwrap().version;
    assert!(matches!(
        store
            .update_retention(&r, &v, RetentionChange::Decrease(3))
            .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store
            .update_retention(&r, &v, RetentionChange::Increase(MAX_RETENTION_HOURS))
            .await,
        Err(StoreError::Invalid(_))
    ));
    let after = store
        .update_retention(&r, &v, RetentionChange::Increase(22))
        .await
        .unwrap();
    assert_eq!(after.data_retention_hours, 24);
    assert!(matches!(
        store
            .update_retention(&r, &v, RetentionChange::Increase(1))
            .await,
        Err(StoreError::VersionMismatch { .. })
    ));
}
