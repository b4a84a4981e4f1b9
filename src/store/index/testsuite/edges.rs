//! Conformance cases at the edges (see `super::run`): byte-wise ordering of names, values at
//! the ends of their types, fragment paging and ranges. Added with the PostgreSQL backend,
//! whose defaults differ from SQLite's on each (a locale's collation, 32-bit INTEGER, `OFFSET`
//! as a reserved word); both backends are held to them.

use super::{camera, name, new_stream, row, seqs, stream_with_segments};
use crate::model::{StreamId, StreamRecord, Tags, Version};
use crate::store::fragment::{FragmentNumber, FragmentRecord, TrackHeader};
use crate::store::index::{
    AccessKeyRow, AccessKeyStatus, Checkpoint, FragmentQuery, Index, SegmentUsage, TimestampKind,
    UserRow, UserStatus,
};

fn names(v: Vec<StreamRecord>) -> Vec<String> {
    v.into_iter().map(|s| s.name.to_string()).collect()
}

/// Names sort by their bytes (as Rust's `str` does, and SQLite's BINARY collation): `-` < `.`
/// < digits < upper case < `_` < lower case < non-ASCII. A locale's collation (en_US: case
/// and punctuation mostly ignored) would give another order, and paging by `after` would skip
/// or repeat streams.
pub(super) async fn orderings_are_byte_wise(index: &dyn Index) {
    let mut want: Vec<String> = [
        "ord-", "ord-a", "ord.a", "ord0", "ordA", "ordB", "ordZ_", "ord_", "ord_a", "orda", "ordb",
        "ordz", "ord-B", "ord.B",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for n in &want {
        index
            .create_stream(new_stream(n, Tags::new()))
            .await
            .expect("create");
    }
    want.sort();
    let all = index
        .list_streams(Some("ord"), None, 100)
        .await
        .expect("list");
    assert_eq!(names(all), want, "ordered byte-wise");
    // Paging by `after` in small pages visits every stream once, in the same order.
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = index
            .list_streams(Some("ord"), after.as_deref(), 3)
            .await
            .expect("page");
        let Some(last) = page.last() else { break };
        after = Some(last.name.to_string());
        paged.extend(names(page));
    }
    assert_eq!(paged, want, "paging by name");
    let after_underscore = index
        .list_streams(Some("ord"), Some("ord_"), 100)
        .await
        .expect("list");
    assert_eq!(
        names(after_underscore),
        ["ord_a", "orda", "ordb", "ordz"],
        "`after` compares bytes too"
    );
    let underscore = index
        .list_streams(Some("ord_"), None, 100)
        .await
        .expect("list");
    assert_eq!(names(underscore), ["ord_", "ord_a"], "`_` is literal");

    // Cameras, access keys, users and consumers list by name, byte-wise too.
    let camera_names = [
        "ts-ord-b",
        "ts-ord-B",
        "ts-ord-_",
        "ts-ord-\u{e9}",
        "ts-ord-0",
    ];
    for n in camera_names {
        index.insert_camera(camera(n, None)).await.expect("camera");
    }
    let listed: Vec<String> = index
        .list_cameras()
        .await
        .expect("cameras")
        .into_iter()
        .map(|c| c.name)
        .filter(|n| n.starts_with("ts-ord-"))
        .collect();
    assert_eq!(listed, sorted(&camera_names), "cameras by name");
    for n in camera_names {
        index.delete_camera(n).await.expect("delete camera");
    }

    let key_names = ["ts-ord-key-b", "ts-ord-key-B", "ts-ord-key-_"];
    for (i, n) in key_names.iter().enumerate() {
        index
            .insert_access_key(access_key(&format!("VSAKORD{i:013}"), n))
            .await
            .expect("key");
    }
    let listed: Vec<String> = index
        .list_access_keys()
        .await
        .expect("keys")
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(listed, sorted(&key_names), "access keys by name");
    for i in 0..key_names.len() {
        index
            .delete_access_key(&format!("VSAKORD{i:013}"))
            .await
            .expect("delete key");
    }

    let user_names = ["ts-ord-user-b", "ts-ord-user-B", "ts-ord-user.x"];
    for n in user_names {
        index.insert_user(user(n)).await.expect("user");
    }
    let listed: Vec<String> = index
        .list_users()
        .await
        .expect("users")
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(listed, sorted(&user_names), "users by name");
    for n in user_names {
        index.delete_user(n).await.expect("delete user");
    }

    let s = index
        .create_stream(new_stream("ts-ord-consumers", Tags::new()))
        .await
        .expect("create");
    let consumer_names = ["ml", "ML", "m-l", "m_l"];
    for c in consumer_names {
        index
            .put_checkpoint(checkpoint(s.id, c, 1))
            .await
            .expect("checkpoint");
    }
    let listed: Vec<String> = index
        .list_checkpoints(s.id)
        .await
        .expect("checkpoints")
        .into_iter()
        .map(|c| c.consumer)
        .collect();
    assert_eq!(listed, sorted(&consumer_names), "consumers by name");
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn access_key(id: &str, name: &str) -> AccessKeyRow {
    AccessKeyRow {
        access_key_id: id.to_owned(),
        name: name.to_owned(),
        sealed_secret: vec![1],
        status: AccessKeyStatus::Active,
        policy: "{}".to_owned(),
        created_ms: 1,
        expires_ms: None,
        session_token_sha256: None,
        created_by: "root".to_owned(),
    }
}

fn user(name: &str) -> UserRow {
    UserRow {
        name: name.to_owned(),
        password_hash: "$argon2id$x".to_owned(),
        policy: "{}".to_owned(),
        status: UserStatus::Active,
        created_ms: 1,
        failed_logins: 0,
        locked_until_ms: None,
    }
}

fn checkpoint(stream: StreamId, consumer: &str, seq: i64) -> Checkpoint {
    Checkpoint {
        stream,
        consumer: consumer.to_owned(),
        seq,
        producer_ms: 5,
        updated_ms: 6,
    }
}

/// Values at the ends of their Rust types round-trip: u32 lengths, retention and failed-login
/// counts (past a 32-bit signed column), u64 offsets and timecode scales up to `i64::MAX`,
/// seqs and timestamps across the whole `i64` range.
pub(super) async fn extreme_values_round_trip(index: &dyn Index) {
    let mut new = new_stream("ts-extreme", Tags::new());
    new.data_retention_hours = u32::MAX;
    let s = index.create_stream(new).await.expect("create");
    assert_eq!(s.data_retention_hours, u32::MAX);
    let got = index
        .stream_by_name(&name("ts-extreme"))
        .await
        .expect("get")
        .expect("there");
    assert_eq!(got.data_retention_hours, u32::MAX);
    let changed = index
        .update_stream(
            s.id,
            &s.version,
            &Version::parse("v2").expect("valid"),
            crate::model::StreamChanges {
                data_retention_hours: Some(u32::MAX - 1),
                ..Default::default()
            },
        )
        .await
        .expect("update");
    assert_eq!(changed.data_retention_hours, u32::MAX - 1);

    let header = TrackHeader {
        timecode_scale: i64::MAX as u64,
        tracks: bytes::Bytes::from_static(&[0, 255, 0x1f, 0x43, 0xb6, 0x75]),
    };
    let th = index
        .put_track_header(s.id, header.clone())
        .await
        .expect("header");
    let stored = index.track_header(th).await.expect("get").expect("there");
    assert_eq!(stored.header, header);

    let segment = i64::MAX - 1;
    let big = |seq: i64, offset: u64| FragmentRecord {
        number: FragmentNumber { stream: s.id, seq },
        producer_ms: i64::MIN + seq % 7,
        server_ms: i64::MAX - 5 + (seq - segment),
        duration_ms: i64::MAX,
        track_header_id: th,
        segment,
        offset,
        cluster_len: u32::MAX,
        trailer_len: u32::MAX,
    };
    let len = 2 * u64::from(u32::MAX);
    let rows = vec![big(i64::MAX - 1, 1 << 40), big(i64::MAX, (1 << 40) + len)];
    let refused = index.append_fragments(rows.clone()).await.expect("append");
    assert!(refused.is_empty());
    assert_eq!(
        index.last_fragment(s.id).await.expect("last"),
        Some(rows[1])
    );
    assert_eq!(
        index
            .fragments_by_seq(s.id, vec![i64::MAX, i64::MAX - 1])
            .await
            .expect("by seq"),
        [rows[1], rows[0]]
    );
    let after = index
        .list_fragments(FragmentQuery {
            stream: s.id,
            range: None,
            after_seq: Some(i64::MAX - 1),
            limit: usize::MAX,
        })
        .await
        .expect("list");
    assert_eq!(after, [rows[1]]);
    let usage = index.segment_usage(s.id).await.expect("usage");
    assert_eq!(
        usage,
        [SegmentUsage {
            segment,
            first_server_ms: rows[0].server_ms,
            last_server_ms: rows[1].server_ms,
            last_seq: i64::MAX,
            fragments: 2,
            bytes: 2 * len,
            uploaded_ms: None,
        }]
    );
    assert_eq!(index.stream_bytes(s.id).await.expect("bytes"), 2 * len);
    assert_eq!(
        index.segment_ends(s.id).await.expect("ends"),
        [(segment, rows[1].end())]
    );
    let marked = index
        .mark_garbage(s.id, usage.clone(), i64::MAX)
        .await
        .expect("mark");
    assert_eq!(marked, usage);
    assert!(seqs(index, s.id).await.is_empty());

    let cp = Checkpoint {
        producer_ms: i64::MIN,
        updated_ms: i64::MAX,
        ..checkpoint(s.id, "ts-extreme", i64::MAX)
    };
    index.put_checkpoint(cp.clone()).await.expect("checkpoint");
    assert_eq!(
        index.checkpoint(s.id, "ts-extreme").await.expect("get"),
        Some(cp)
    );

    let u = UserRow {
        failed_logins: u32::MAX - 1,
        locked_until_ms: Some(i64::MAX),
        created_ms: i64::MIN,
        ..user("ts-extreme")
    };
    index.insert_user(u.clone()).await.expect("user");
    assert_eq!(index.user("ts-extreme").await.expect("get"), Some(u));
    let failures = index
        .record_login_failure("ts-extreme", u32::MAX, 7)
        .await
        .expect("failure")
        .expect("user exists");
    assert_eq!(
        (failures.failed_logins, failures.locked_until_ms),
        (0, Some(7)),
        "the count reaches u32::MAX and locks"
    );
    index.delete_user("ts-extreme").await.expect("delete");
    index.delete_stream(s.id).await.expect("delete stream");
}

/// Fragment listings: paging by `after_seq`, limits, producer and server time ranges
/// (inclusive), and `fragments_by_seq` in the order asked.
pub(super) async fn fragment_queries_page_and_range(index: &dyn Index) {
    // Fragments 100..=104, server_ms 10_000..=14_000, producer_ms 3 ms earlier.
    let id = stream_with_segments(index, "ts-queries").await;
    let list = |range: Option<(TimestampKind, i64, i64)>, after_seq, limit| async move {
        index
            .list_fragments(FragmentQuery {
                stream: id,
                range,
                after_seq,
                limit,
            })
            .await
            .expect("list")
            .iter()
            .map(|f| f.number.seq)
            .collect::<Vec<_>>()
    };
    assert_eq!(list(None, Some(101), 2).await, [102, 103]);
    assert_eq!(list(None, Some(104), 10).await, Vec::<i64>::new());
    assert_eq!(list(None, None, 0).await, Vec::<i64>::new());
    let server = Some((TimestampKind::Server, 11_000, 13_000));
    assert_eq!(list(server, None, 10).await, [101, 102, 103]);
    assert_eq!(list(server, Some(101), 10).await, [102, 103]);
    assert_eq!(list(server, None, 1).await, [101]);
    let producer = Some((TimestampKind::Producer, 10_997, 11_997));
    assert_eq!(list(producer, None, 10).await, [101, 102]);
    let empty = Some((TimestampKind::Server, 13_000, 12_000));
    assert_eq!(list(empty, None, 10).await, Vec::<i64>::new());
    let by_seq: Vec<i64> = index
        .fragments_by_seq(id, vec![104, 100, 999, 102])
        .await
        .expect("by seq")
        .iter()
        .map(|f| f.number.seq)
        .collect();
    assert_eq!(
        by_seq,
        [104, 100, 102],
        "the ones that exist, in the order asked"
    );
    assert!(
        index
            .fragments_by_seq(id, vec![])
            .await
            .expect("none asked")
            .is_empty()
    );
    // A stream's rows are its own.
    let other = stream_with_segments(index, "ts-queries-other").await;
    index
        .append_fragments(vec![row(other, 105, 102, 1200, 15_000)])
        .await
        .expect("append");
    assert_eq!(seqs(index, id).await, [100, 101, 102, 103, 104]);
}
