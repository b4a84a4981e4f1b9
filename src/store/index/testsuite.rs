//! The conformance suite every [`Index`] backend must pass (quickwit's metastore test suite
//! pattern): the SQLite tests call [`run`], and so will the PostgreSQL ones.

use super::{Index, NewStream};
use crate::model::{
    KmsKeyId, StorageTier, StreamChanges, StreamName, StreamStatus, TagKey, TagValue, Tags, Version,
};
use crate::store::StoreError;
use crate::time::ServerTime;

fn name(s: &str) -> StreamName {
    StreamName::parse(s).expect("test names are valid")
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| {
            (
                TagKey::parse(k).expect("valid test key"),
                TagValue::parse(v).expect("valid test value"),
            )
        })
        .collect()
}

fn new_stream(n: &str, t: Tags) -> NewStream {
    NewStream {
        name: name(n),
        arn: format!("arn:aws:kinesisvideo:us-east-1:1:stream/{n}/1"),
        device_name: None,
        media_type: None,
        kms_key_id: KmsKeyId::aws_default(),
        version: Version::parse("v1").expect("valid"),
        status: StreamStatus::Creating,
        creation_time: ServerTime(1_700_000_000_000),
        data_retention_hours: 24,
        storage_tier: StorageTier::Hot,
        tags: t,
    }
}

/// Runs every check against an empty index. Panics (test failure) on the first broken rule.
pub async fn run(index: &dyn Index) {
    create_and_get(index).await;
    duplicate_names(index).await;
    list_order_prefix_and_paging(index).await;
    update_is_compare_and_swap(index).await;
    tag_limit_is_atomic(index).await;
    delete_removes_tags(index).await;
}

async fn create_and_get(index: &dyn Index) {
    let rec = index
        .create_stream(new_stream("ts-get", tags(&[("a", "1")])))
        .await
        .expect("create");
    assert_eq!(rec.name.as_str(), "ts-get");
    assert_eq!(rec.status, StreamStatus::Creating);
    assert_eq!(rec.data_retention_hours, 24);
    let by_name = index.stream_by_name(&name("ts-get")).await.expect("get");
    assert_eq!(by_name.as_ref(), Some(&rec));
    let by_arn = index.stream_by_arn(&rec.arn).await.expect("get");
    assert_eq!(by_arn.as_ref(), Some(&rec));
    assert_eq!(
        index.stream_by_name(&name("ts-nope")).await.expect("get"),
        None
    );
    assert_eq!(index.tags(rec.id).await.expect("tags"), tags(&[("a", "1")]));
    let creating = index
        .streams_with_status(StreamStatus::Creating)
        .await
        .expect("by status");
    assert!(creating.iter().any(|s| s.id == rec.id));
}

async fn duplicate_names(index: &dyn Index) {
    index
        .create_stream(new_stream("ts-dup", Tags::new()))
        .await
        .expect("create");
    let mut again = new_stream("ts-dup", Tags::new());
    again.arn.push('9'); // a different ARN must not matter: names are unique
    match index.create_stream(again).await {
        Err(StoreError::StreamExists(n)) => assert_eq!(n, "ts-dup"),
        other => panic!("expected StreamExists, got {other:?}"),
    }
}

async fn list_order_prefix_and_paging(index: &dyn Index) {
    for n in ["ls_b", "ls_a", "ls_c", "lsxd", "other"] {
        index
            .create_stream(new_stream(n, Tags::new()))
            .await
            .expect("create");
    }
    let names = |v: Vec<crate::model::StreamRecord>| {
        v.into_iter()
            .map(|s| s.name.to_string())
            .collect::<Vec<_>>()
    };
    // `_` is literal, not a wildcard.
    let page = index
        .list_streams(Some("ls_"), None, 2)
        .await
        .expect("list");
    assert_eq!(names(page), ["ls_a", "ls_b"]);
    let page = index
        .list_streams(Some("ls_"), Some("ls_b"), 2)
        .await
        .expect("list");
    assert_eq!(names(page), ["ls_c"]);
    let all = index.list_streams(None, None, 1000).await.expect("list");
    let all = names(all);
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "listing is ordered by name");
    assert!(all.contains(&"other".to_owned()));
}

async fn update_is_compare_and_swap(index: &dyn Index) {
    let rec = index
        .create_stream(new_stream("ts-upd", Tags::new()))
        .await
        .expect("create");
    let v2 = Version::parse("v2").expect("valid");
    let changes = StreamChanges {
        data_retention_hours: Some(48),
        status: Some(StreamStatus::Active),
        ..Default::default()
    };
    let after = index
        .update_stream(rec.id, &rec.version, &v2, changes.clone())
        .await
        .expect("update");
    assert_eq!(after.version, v2);
    assert_eq!(after.data_retention_hours, 48);
    assert_eq!(after.status, StreamStatus::Active);
    assert_eq!(after.device_name, None, "unchanged fields stay");
    // The old version is now stale.
    let v3 = Version::parse("v3").expect("valid");
    match index
        .update_stream(rec.id, &rec.version, &v3, changes)
        .await
    {
        Err(StoreError::VersionMismatch { name, given }) => {
            assert_eq!((name.as_str(), given.as_str()), ("ts-upd", "v1"));
        }
        other => panic!("expected VersionMismatch, got {other:?}"),
    }
    let now = index.stream_by_name(&name("ts-upd")).await.expect("get");
    assert_eq!(now.map(|s| s.version), Some(v2));
}

async fn tag_limit_is_atomic(index: &dyn Index) {
    let rec = index
        .create_stream(new_stream("ts-tags", tags(&[("keep", "x")])))
        .await
        .expect("create");
    let many: Tags = (0..49)
        .map(|i| {
            (
                TagKey::parse(&format!("k{i}")).expect("valid"),
                TagValue::parse("v").expect("valid"),
            )
        })
        .collect();
    index.put_tags(rec.id, many, 50).await.expect("50 tags fit");
    // Replacing an existing key does not add one.
    index
        .put_tags(rec.id, tags(&[("keep", "y")]), 50)
        .await
        .expect("replace");
    match index.put_tags(rec.id, tags(&[("extra", "z")]), 50).await {
        Err(StoreError::TooManyTags { count, .. }) => assert_eq!(count, 51),
        other => panic!("expected TooManyTags, got {other:?}"),
    }
    let now = index.tags(rec.id).await.expect("tags");
    assert_eq!(now.len(), 50, "the failed put changed nothing");
    assert_eq!(
        now.get(&TagKey::parse("keep").expect("valid"))
            .map(|v| v.as_str()),
        Some("y")
    );
    index
        .remove_tags(
            rec.id,
            vec![
                TagKey::parse("keep").expect("valid"),
                TagKey::parse("absent").expect("valid"),
            ],
        )
        .await
        .expect("untag");
    assert_eq!(index.tags(rec.id).await.expect("tags").len(), 49);
}

async fn delete_removes_tags(index: &dyn Index) {
    let rec = index
        .create_stream(new_stream("ts-del", tags(&[("a", "1")])))
        .await
        .expect("create");
    index.delete_stream(rec.id).await.expect("delete");
    assert_eq!(
        index.stream_by_name(&name("ts-del")).await.expect("get"),
        None
    );
    assert!(index.tags(rec.id).await.expect("tags").is_empty());
    // The name is free again.
    index
        .create_stream(new_stream("ts-del", Tags::new()))
        .await
        .expect("re-create");
}
