//! The conformance suite every [`Index`] backend must pass (quickwit's metastore test suite
//! pattern): the SQLite and the PostgreSQL tests call [`run`].

mod access_keys;
mod concurrency;
mod edges;
mod users;

use super::{
    CameraRow, Checkpoint, FragmentQuery, ImageGenerationRow, Index, NewStream, PasswordSealing,
    SegmentUsage, StoredPassword,
};
use crate::model::{
    KmsKeyId, StorageTier, StreamChanges, StreamId, StreamName, StreamStatus, TagKey, TagValue,
    Tags, Version,
};
use crate::store::StoreError;
use crate::store::fragment::{FragmentNumber, FragmentRecord, TrackHeader};
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
    segment_usage_follows_appends(index).await;
    uploads_are_marked_only_on_an_unchanged_summary(index).await;
    last_fragments_are_the_newest_in_order(index).await;
    mark_garbage_is_atomic_and_conditional(index).await;
    garbage_segments_refuse_rows(index).await;
    delete_stream_removes_summaries_and_garbage(index).await;
    rows_of_a_deleted_stream_are_refused_alone(index).await;
    cameras_crud(index).await;
    image_generation_rows(index).await;
    checkpoints_crud(index).await;
    access_keys::access_keys_crud(index).await;
    users::users_crud(index).await;
    users::login_failures_lock_at_the_limit(index).await;
    users::ui_sessions_lifecycle(index).await;
    edges::orderings_are_byte_wise(index).await;
    edges::extreme_values_round_trip(index).await;
    edges::fragment_queries_page_and_range(index).await;
    concurrency::racing_updates_one_wins(index).await;
    concurrency::racing_tag_puts_respect_the_limit(index).await;
    concurrency::racing_login_failures_all_count(index).await;
    concurrency::append_racing_a_deletion_refuses_only_its_rows(index).await;
    concurrency::mark_racing_an_append_never_strands_a_row(index).await;
}

/// Image generation configuration: set, replace, list, remove, refused for a missing stream,
/// gone with its stream.
async fn image_generation_rows(index: &dyn Index) {
    let a = index
        .create_stream(new_stream("ts-img-a", Tags::new()))
        .await
        .expect("create a");
    let b = index
        .create_stream(new_stream("ts-img-b", Tags::new()))
        .await
        .expect("create b");
    assert_eq!(index.image_generation(a.id).await.expect("get"), None);
    let row = |c: &str, ms: i64| ImageGenerationRow {
        config: c.to_owned(),
        updated_ms: ms,
    };
    index
        .put_image_generation(a.id, Some(row("{\"a\":1}", 5)))
        .await
        .expect("put a");
    index
        .put_image_generation(b.id, Some(row("{\"b\":1}", 6)))
        .await
        .expect("put b");
    index
        .put_image_generation(a.id, Some(row("{\"a\":2}", 7)))
        .await
        .expect("replace a");
    assert_eq!(
        index.image_generation(a.id).await.expect("get"),
        Some(row("{\"a\":2}", 7))
    );
    let all = index.list_image_generation().await.expect("list");
    let mine: Vec<_> = all
        .into_iter()
        .filter(|(s, _)| s.id == a.id || s.id == b.id)
        .map(|(s, r)| (s.name.to_string(), r))
        .collect();
    assert_eq!(
        mine,
        vec![
            ("ts-img-a".to_owned(), row("{\"a\":2}", 7)),
            ("ts-img-b".to_owned(), row("{\"b\":1}", 6))
        ]
    );
    index
        .put_image_generation(a.id, None)
        .await
        .expect("remove");
    assert_eq!(index.image_generation(a.id).await.expect("get"), None);
    // Removing what is not there is not an error.
    index
        .put_image_generation(a.id, None)
        .await
        .expect("remove again");
    assert!(matches!(
        index
            .put_image_generation(StreamId(987_654), Some(row("{}", 1)))
            .await,
        Err(StoreError::StreamNotFound(_))
    ));
    index.delete_stream(b.id).await.expect("delete b");
    assert_eq!(index.image_generation(b.id).await.expect("get"), None);
}

async fn checkpoints_crud(index: &dyn Index) {
    let a = index
        .create_stream(new_stream("ts-ckpt-a", Tags::new()))
        .await
        .expect("create a");
    let b = index
        .create_stream(new_stream("ts-ckpt-b", Tags::new()))
        .await
        .expect("create b");
    let cp = |stream: StreamId, consumer: &str, seq: i64| Checkpoint {
        stream,
        consumer: consumer.to_owned(),
        seq,
        producer_ms: seq * 1000 + 5,
        updated_ms: 1_700_000_000_000 + seq,
    };
    assert_eq!(index.checkpoint(a.id, "ml").await.expect("get"), None);
    index.put_checkpoint(cp(a.id, "ml", 3)).await.expect("put");
    index
        .put_checkpoint(cp(a.id, "ml", 4))
        .await
        .expect("replace");
    index
        .put_checkpoint(cp(a.id, "a-first", 1))
        .await
        .expect("put");
    index
        .put_checkpoint(cp(b.id, "ml", 9))
        .await
        .expect("put b");
    assert_eq!(
        index.checkpoint(a.id, "ml").await.expect("get"),
        Some(cp(a.id, "ml", 4)),
        "a second commit replaces the first"
    );
    assert_eq!(
        index.list_checkpoints(a.id).await.expect("list"),
        vec![cp(a.id, "a-first", 1), cp(a.id, "ml", 4)],
        "per stream, by name"
    );
    assert!(index.delete_checkpoint(a.id, "ml").await.expect("delete"));
    assert!(
        !index
            .delete_checkpoint(a.id, "ml")
            .await
            .expect("delete again")
    );
    assert_eq!(index.checkpoint(a.id, "ml").await.expect("get"), None);
    assert_eq!(
        index
            .checkpoint(b.id, "ml")
            .await
            .expect("other stream kept"),
        Some(cp(b.id, "ml", 9))
    );
    index.delete_stream(b.id).await.expect("delete stream");
    assert_eq!(
        index.list_checkpoints(b.id).await.expect("list"),
        vec![],
        "a deleted stream takes its consumers along"
    );
}

fn camera(n: &str, password: Option<&str>) -> CameraRow {
    CameraRow {
        name: n.to_owned(),
        url: format!("rtsp://127.0.0.1:8554/{n}"),
        username: password.map(|_| "admin".to_owned()),
        password: password.map(|p| StoredPassword::Sealed(p.as_bytes().to_vec())),
        stream_name: "ts-cam-stream".to_owned(),
        transport: "tcp".to_owned(),
        enabled: true,
    }
}

async fn cameras_crud(index: &dyn Index) {
    assert_eq!(index.list_cameras().await.expect("list"), vec![]);
    let b = camera("ts-cam-b", Some("s3cret"));
    let a = camera("ts-cam-a", None);
    index.insert_camera(b.clone()).await.expect("insert b");
    index.insert_camera(a.clone()).await.expect("insert a");
    assert!(matches!(
        index.insert_camera(a.clone()).await,
        Err(StoreError::CameraExists(n)) if n == "ts-cam-a"
    ));
    assert_eq!(
        index.list_cameras().await.expect("list"),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(
        index.camera("ts-cam-b").await.expect("get"),
        Some(b.clone())
    );
    assert_eq!(index.camera("ts-cam-nope").await.expect("get"), None);
    let changed = CameraRow {
        transport: "udp".to_owned(),
        enabled: false,
        password: None,
        ..b.clone()
    };
    index.update_camera(changed.clone()).await.expect("update");
    assert_eq!(index.camera("ts-cam-b").await.expect("get"), Some(changed));
    assert!(matches!(
        index.update_camera(camera("ts-cam-nope", None)).await,
        Err(StoreError::CameraNotFound(_))
    ));
    index.delete_camera("ts-cam-a").await.expect("delete");
    assert!(matches!(
        index.delete_camera("ts-cam-a").await,
        Err(StoreError::CameraNotFound(_))
    ));
    // A legacy clear-text password is sealed only while the row still holds it.
    let legacy = CameraRow {
        password: Some(StoredPassword::Legacy("old-clear".to_owned())),
        ..b.clone()
    };
    index.update_camera(legacy.clone()).await.expect("legacy");
    assert_eq!(index.camera("ts-cam-b").await.expect("get"), Some(legacy));
    let sealing = |legacy: &str| PasswordSealing {
        name: "ts-cam-b".to_owned(),
        legacy: legacy.to_owned(),
        sealed: vec![1, 2, 3],
    };
    assert_eq!(
        index
            .seal_camera_passwords(vec![sealing("another")])
            .await
            .expect("seal"),
        0,
        "the row holds another clear text: left alone"
    );
    assert_eq!(
        index
            .seal_camera_passwords(vec![sealing("old-clear")])
            .await
            .expect("seal"),
        1
    );
    let sealed = index.camera("ts-cam-b").await.expect("get").expect("there");
    assert_eq!(sealed.password, Some(StoredPassword::Sealed(vec![1, 2, 3])));
    index.delete_camera("ts-cam-b").await.expect("delete");
    assert_eq!(index.list_cameras().await.expect("list"), vec![]);
    assert!(
        !format!("{b:?}").contains("s3cret"),
        "Debug shows no password"
    );
    assert!(!format!("{:?}", sealing("old-clear")).contains("old-clear"));
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
        storage_tier: Some(StorageTier::Warm),
        ..Default::default()
    };
    let after = index
        .update_stream(rec.id, &rec.version, &v2, changes.clone())
        .await
        .expect("update");
    assert_eq!(after.version, v2);
    assert_eq!(after.data_retention_hours, 48);
    assert_eq!(after.storage_tier, StorageTier::Warm);
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

/// A fragment row of `len` bytes (cluster 3/4, trailer 1/4) at `offset` of `segment`.
fn row(stream: StreamId, seq: i64, segment: i64, offset: u64, server_ms: i64) -> FragmentRecord {
    FragmentRecord {
        number: FragmentNumber { stream, seq },
        producer_ms: server_ms - 3,
        server_ms,
        duration_ms: 1000,
        track_header_id: 1,
        segment,
        offset,
        cluster_len: 300,
        trailer_len: 100,
    }
}

/// A stream with fragments 100, 101 in segment 100 and 102..=104 in segment 102.
async fn stream_with_segments(index: &dyn Index, n: &str) -> StreamId {
    let id = index
        .create_stream(new_stream(n, Tags::new()))
        .await
        .expect("create")
        .id;
    index
        .put_track_header(
            id,
            TrackHeader {
                timecode_scale: 1_000_000,
                tracks: bytes::Bytes::from_static(b"tracks"),
            },
        )
        .await
        .expect("track header");
    let rows = vec![
        row(id, 100, 100, 0, 10_000),
        row(id, 101, 100, 400, 11_000),
        row(id, 102, 102, 0, 12_000),
        row(id, 103, 102, 400, 13_000),
    ];
    let refused = index.append_fragments(rows).await.expect("append");
    assert!(refused.is_empty());
    // A later batch extends segment 102.
    let refused = index
        .append_fragments(vec![row(id, 104, 102, 800, 14_000)])
        .await
        .expect("append");
    assert!(refused.is_empty());
    id
}

fn usage(segment: i64, first: i64, last: i64, last_seq: i64, fragments: u64) -> SegmentUsage {
    SegmentUsage {
        segment,
        first_server_ms: first,
        last_server_ms: last,
        last_seq,
        fragments,
        bytes: fragments * 400,
        uploaded_ms: None,
    }
}

async fn seqs(index: &dyn Index, id: StreamId) -> Vec<i64> {
    index
        .list_fragments(FragmentQuery {
            stream: id,
            range: None,
            after_seq: None,
            limit: 100,
        })
        .await
        .expect("list")
        .iter()
        .map(|f| f.number.seq)
        .collect()
}

async fn last_fragments_are_the_newest_in_order(index: &dyn Index) {
    let id = stream_with_segments(index, "ts-last").await;
    let last = |n| async move {
        index
            .last_fragments(id, n)
            .await
            .expect("last")
            .iter()
            .map(|f| f.number.seq)
            .collect::<Vec<_>>()
    };
    assert_eq!(last(2).await, [103, 104]);
    assert_eq!(last(100).await, [100, 101, 102, 103, 104]);
    assert_eq!(last(0).await, Vec::<i64>::new());
    let other = StreamId(id.0 + 1_000_000);
    assert!(
        index
            .last_fragments(other, 5)
            .await
            .expect("last")
            .is_empty()
    );
}

async fn segment_usage_follows_appends(index: &dyn Index) {
    let id = stream_with_segments(index, "ts-usage").await;
    assert_eq!(
        index.segment_usage(id).await.expect("usage"),
        [
            usage(100, 10_000, 11_000, 101, 2),
            usage(102, 12_000, 14_000, 104, 3)
        ]
    );
    assert_eq!(index.stream_bytes(id).await.expect("bytes"), 5 * 400);
    let other = StreamId(id.0 + 1_000_000);
    assert!(index.segment_usage(other).await.expect("usage").is_empty());
    assert_eq!(index.stream_bytes(other).await.expect("bytes"), 0);
}

/// A segment is recorded as uploaded only if nothing was appended since the uploader read its
/// summary, once; the mark survives later reads and goes with the segment to garbage.
async fn uploads_are_marked_only_on_an_unchanged_summary(index: &dyn Index) {
    let id = stream_with_segments(index, "ts-upload").await;
    let before = index.segment_usage(id).await.expect("usage");
    let mut stale = before[1];
    stale.fragments -= 1;
    stale.last_seq -= 1;
    assert!(!index.mark_uploaded(id, stale, 50_000).await.expect("mark"));
    assert!(
        index
            .mark_uploaded(id, before[0], 50_000)
            .await
            .expect("mark")
    );
    assert!(
        !index
            .mark_uploaded(id, before[0], 60_000)
            .await
            .expect("mark"),
        "marked once"
    );
    let after = index.segment_usage(id).await.expect("usage");
    assert_eq!(after[0].uploaded_ms, Some(50_000));
    assert_eq!(after[1].uploaded_ms, None);
    assert_eq!(
        SegmentUsage {
            uploaded_ms: None,
            ..after[0]
        },
        before[0],
        "nothing else changes"
    );
    // A row appended to an uploaded segment would be lost from the object: the uploader only
    // takes sealed segments, and the summary check refuses a segment that changed after all.
    let gone = StreamId(id.0 + 1_000_000);
    assert!(!index.mark_uploaded(gone, before[1], 1).await.expect("mark"));
    let marked = index
        .mark_garbage(id, vec![after[0]], 70_000)
        .await
        .expect("garbage");
    assert_eq!(marked.len(), 1);
    assert_eq!(marked[0].uploaded_ms, Some(50_000));
}

async fn mark_garbage_is_atomic_and_conditional(index: &dyn Index) {
    let id = stream_with_segments(index, "ts-mark").await;
    let before = index.segment_usage(id).await.expect("usage");
    // A stale view of segment 102 (a fragment arrived since) is skipped; segment 100 is marked;
    // both decisions happen in one call.
    let mut stale = before[1];
    stale.fragments -= 1;
    stale.last_seq = 103;
    let marked = index
        .mark_garbage(id, vec![before[0], stale], 77_000)
        .await
        .expect("mark");
    assert_eq!(marked, [before[0]]);
    assert_eq!(
        seqs(index, id).await,
        [102, 103, 104],
        "marked rows are gone"
    );
    assert!(
        index
            .fragments_by_seq(id, vec![100, 101])
            .await
            .expect("by seq")
            .is_empty()
    );
    assert_eq!(index.segment_usage(id).await.expect("usage"), [before[1]]);
    assert_eq!(index.stream_bytes(id).await.expect("bytes"), 3 * 400);
    assert_eq!(
        index.segment_ends(id).await.expect("ends"),
        [(102, 1200)],
        "recovery no longer sees the segment"
    );
    let garbage: Vec<_> = index
        .garbage()
        .await
        .expect("garbage")
        .into_iter()
        .filter(|g| g.stream == id)
        .map(|g| (g.segment, g.marked_ms))
        .collect();
    assert_eq!(garbage, [(100, 77_000)]);
    // Marking it again does nothing: it has no summary any more.
    let again = index
        .mark_garbage(id, vec![before[0]], 78_000)
        .await
        .expect("mark");
    assert!(again.is_empty());
    index.forget_garbage(id, 100).await.expect("forget");
    assert!(
        !index
            .garbage()
            .await
            .expect("garbage")
            .iter()
            .any(|g| g.stream == id)
    );
}

async fn garbage_segments_refuse_rows(index: &dyn Index) {
    let id = stream_with_segments(index, "ts-refuse").await;
    let u = index.segment_usage(id).await.expect("usage");
    index.mark_garbage(id, vec![u[0]], 1).await.expect("mark");
    // A late fragment of the marked segment is refused; the rest of the batch commits.
    let refused = index
        .append_fragments(vec![
            row(id, 105, 100, 800, 15_000),
            row(id, 106, 102, 1200, 16_000),
        ])
        .await
        .expect("append");
    assert_eq!(
        refused,
        [FragmentNumber {
            stream: id,
            seq: 105
        }]
    );
    assert_eq!(seqs(index, id).await, [102, 103, 104, 106]);
    assert_eq!(
        index.segment_usage(id).await.expect("usage"),
        [SegmentUsage {
            bytes: 4 * 400,
            ..usage(102, 12_000, 16_000, 106, 4)
        }]
    );
}

/// One stream deleted while its fragments are in a group commit never fails the other
/// streams' fragments of that commit (issue 15: a DeleteStream ended producers of other
/// streams with ERROR 5001).
async fn rows_of_a_deleted_stream_are_refused_alone(index: &dyn Index) {
    let kept = stream_with_segments(index, "ts-kept").await;
    let gone = stream_with_segments(index, "ts-gone").await;
    index.delete_stream(gone).await.expect("delete");
    let refused = index
        .append_fragments(vec![
            row(kept, 105, 102, 1200, 15_000),
            row(gone, 105, 102, 1200, 15_000),
            row(kept, 106, 102, 1600, 16_000),
        ])
        .await
        .expect("the batch commits");
    assert_eq!(
        refused,
        [FragmentNumber {
            stream: gone,
            seq: 105
        }]
    );
    assert_eq!(seqs(index, kept).await, [100, 101, 102, 103, 104, 105, 106]);
    assert!(seqs(index, gone).await.is_empty());
}

async fn delete_stream_removes_summaries_and_garbage(index: &dyn Index) {
    let id = stream_with_segments(index, "ts-delgarbage").await;
    let u = index.segment_usage(id).await.expect("usage");
    index.mark_garbage(id, vec![u[0]], 1).await.expect("mark");
    index.delete_stream(id).await.expect("delete");
    assert!(index.segment_usage(id).await.expect("usage").is_empty());
    assert!(
        !index
            .garbage()
            .await
            .expect("garbage")
            .iter()
            .any(|g| g.stream == id)
    );
}
