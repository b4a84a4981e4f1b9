//! Conformance cases for calls that race (see `super::run`): what the [`Index`] contract says
//! is atomic must stay so when two calls overlap. SQLite serializes its writers, so it passes
//! by construction; a backend with concurrent transactions (PostgreSQL) must earn it with
//! locks. Each case polls two calls at once in one task (`tokio::join!`), so a backend with a
//! pool runs them on two connections.

use super::{new_stream, row, seqs, stream_with_segments, tags};
use crate::model::{TagKey, TagValue, Tags, Version};
use crate::store::StoreError;
use crate::store::fragment::FragmentNumber;
use crate::store::index::{Index, UserRow, UserStatus};

fn many_tags(prefix: &str, n: usize) -> Tags {
    (0..n)
        .map(|i| {
            (
                TagKey::parse(&format!("{prefix}{i}")).expect("valid"),
                TagValue::parse("v").expect("valid"),
            )
        })
        .collect()
}

/// Two updates from the same version: one wins, the other gets `VersionMismatch`.
pub(super) async fn racing_updates_one_wins(index: &dyn Index) {
    let s = index
        .create_stream(new_stream("ts-race-cas", Tags::new()))
        .await
        .expect("create");
    let (va, vb) = (
        Version::parse("va").expect("valid"),
        Version::parse("vb").expect("valid"),
    );
    let (a, b) = tokio::join!(
        index.update_stream(s.id, &s.version, &va, Default::default()),
        index.update_stream(s.id, &s.version, &vb, Default::default()),
    );
    let won = match (&a, &b) {
        (Ok(r), Err(StoreError::VersionMismatch { .. }))
        | (Err(StoreError::VersionMismatch { .. }), Ok(r)) => r.version.clone(),
        other => panic!("expected one update and one VersionMismatch, got {other:?}"),
    };
    let now = index
        .stream_by_arn(&s.arn)
        .await
        .expect("get")
        .expect("there");
    assert_eq!(now.version, won);
}

/// Two tag puts that each fit but not together: exactly one goes in, whole.
pub(super) async fn racing_tag_puts_respect_the_limit(index: &dyn Index) {
    let s = index
        .create_stream(new_stream("ts-race-tags", tags(&[("base", "1")])))
        .await
        .expect("create");
    let (a, b) = tokio::join!(
        index.put_tags(s.id, many_tags("a", 30), 50),
        index.put_tags(s.id, many_tags("b", 30), 50),
    );
    match (&a, &b) {
        (Ok(()), Err(StoreError::TooManyTags { count: 61, .. }))
        | (Err(StoreError::TooManyTags { count: 61, .. }), Ok(())) => {}
        other => panic!("expected one put and one TooManyTags (61), got {other:?}"),
    }
    assert_eq!(index.tags(s.id).await.expect("tags").len(), 31);
}

/// Failed logins from several nodes at once each count.
pub(super) async fn racing_login_failures_all_count(index: &dyn Index) {
    index
        .insert_user(UserRow {
            name: "ts-race-login".into(),
            password_hash: "$argon2id$x".into(),
            policy: "{}".into(),
            status: UserStatus::Active,
            created_ms: 1,
            failed_logins: 0,
            locked_until_ms: None,
        })
        .await
        .expect("user");
    let fail = || index.record_login_failure("ts-race-login", 100, 9);
    let all = tokio::join!(fail(), fail(), fail(), fail(), fail());
    for r in [all.0, all.1, all.2, all.3, all.4] {
        r.expect("failure").expect("user exists");
    }
    let u = index
        .user("ts-race-login")
        .await
        .expect("get")
        .expect("there");
    assert_eq!(u.failed_logins, 5);
    index.delete_user("ts-race-login").await.expect("delete");
}

/// A stream deleted while a group commit holding its rows is in flight: the commit succeeds,
/// at most that stream's rows are refused, and none of them survive.
pub(super) async fn append_racing_a_deletion_refuses_only_its_rows(index: &dyn Index) {
    let kept = stream_with_segments(index, "ts-race-kept").await;
    let gone = stream_with_segments(index, "ts-race-gone").await;
    let (appended, deleted) = tokio::join!(
        index.append_fragments(vec![
            row(kept, 105, 102, 1200, 15_000),
            row(gone, 105, 102, 1200, 15_000),
            row(kept, 106, 102, 1600, 16_000),
        ]),
        index.delete_stream(gone),
    );
    deleted.expect("delete");
    let refused = appended.expect("the batch commits");
    assert!(
        refused.is_empty()
            || refused
                == [FragmentNumber {
                    stream: gone,
                    seq: 105
                }],
        "refused {refused:?}"
    );
    assert_eq!(seqs(index, kept).await, [100, 101, 102, 103, 104, 105, 106]);
    assert!(seqs(index, gone).await.is_empty());
    assert!(index.segment_usage(gone).await.expect("usage").is_empty());
}

/// Retention marking a segment while a fragment of it is being appended: either the marking
/// sees the fragment (and skips the segment) or the fragment is refused; never a row in a
/// garbage segment, never a summary out of step.
pub(super) async fn mark_racing_an_append_never_strands_a_row(index: &dyn Index) {
    let id = stream_with_segments(index, "ts-race-mark").await;
    let usage = index.segment_usage(id).await.expect("usage");
    let (marked, appended) = tokio::join!(
        index.mark_garbage(id, vec![usage[1]], 5),
        index.append_fragments(vec![row(id, 105, 102, 1200, 15_000)]),
    );
    let marked = marked.expect("mark");
    let refused = appended.expect("append");
    let garbage: Vec<i64> = index
        .garbage()
        .await
        .expect("garbage")
        .into_iter()
        .filter(|g| g.stream == id)
        .map(|g| g.segment)
        .collect();
    if marked.is_empty() {
        assert!(refused.is_empty(), "nothing marked, nothing refused");
        assert!(garbage.is_empty());
        assert_eq!(seqs(index, id).await, [100, 101, 102, 103, 104, 105]);
        let now = index.segment_usage(id).await.expect("usage");
        assert_eq!((now[1].last_seq, now[1].fragments), (105, 4));
    } else {
        assert_eq!(marked, [usage[1]]);
        assert_eq!(
            refused,
            [FragmentNumber {
                stream: id,
                seq: 105
            }]
        );
        assert_eq!(garbage, [102]);
        assert_eq!(seqs(index, id).await, [100, 101]);
        assert_eq!(index.segment_usage(id).await.expect("usage"), [usage[0]]);
    }
}
