//! Tiering against a real S3-protocol server (s3s-fs on loopback, `testbed::s3`): segments move,
//! read back byte-exact from the object, and are deleted with their fragments and streams.

use super::*;
use crate::store::StreamRef;
use crate::store::retention::tests::Harness;
use crate::testbed::s3::{S3Server, S3s};

/// A prefix of its own per test, on the process's shared server.
fn options(s3: &S3Server) -> crate::store::object::ObjectStoreOptions {
    s3.options(&format!("tiering-{:08x}", rand::random::<u32>()))
}

async fn harness(
    objects: crate::store::object::ObjectStoreOptions,
    hot_after_ms: Option<i64>,
) -> Harness {
    Harness::with(|o| {
        o.objects = Some(objects);
        o.tiers = TierPolicy { hot_after_ms };
    })
    .await
}

async fn keys(objects: &ObjectStore, s: StreamId) -> Vec<String> {
    let mut k: Vec<String> = objects
        .list(&stream_prefix(s))
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    k.sort();
    k
}

#[tokio::test]
async fn warm_segments_move_and_read_back_exact_from_the_object() {
    let s3 = S3s::shared().unwrap();
    let opts = options(s3);
    let objects = ObjectStore::new(&opts).unwrap();
    let h = harness(opts, None).await;
    let s = h.stream_on("warm", 24, StorageTier::Warm).await;
    let mut recs = Vec::new();
    for _ in 0..5 {
        recs.push(h.append(&s).await);
    }
    // Segments of two fragments: the first two are sealed (a later one exists), the third is
    // still open.
    let report = h.store.run_tiering_once().await.unwrap();
    assert_eq!(
        (report.uploaded, report.local_removed, report.failed),
        (2, 2, 0)
    );
    assert_eq!(keys(&objects, s.id).await.len(), 2);
    for r in &recs[..4] {
        assert!(!h.on_disk(r), "the local copy of {} is gone", r.number);
    }
    assert!(h.on_disk(&recs[4]), "the open segment stays");
    for r in &recs {
        let (cluster, trailer) = h.store.read_fragment(r).await.unwrap();
        assert_eq!(
            cluster.as_ref(),
            vec![(r.number.seq % 251) as u8; 500].as_slice()
        );
        assert_eq!(trailer.frames.len(), 1);
    }
    let usage = h.store.inner.index.segment_usage(s.id).await.unwrap();
    assert_eq!(
        usage
            .iter()
            .map(|u| u.uploaded_ms.is_some())
            .collect::<Vec<_>>(),
        [true, true, false]
    );
    // Nothing more to do, and a restart finds everything where the index says.
    let again = h.store.run_tiering_once().await.unwrap();
    assert_eq!(again, TieringReport::default());
    let h = h.reopen().await;
    for r in &recs {
        h.store.read_fragment(r).await.unwrap();
    }
}

#[tokio::test]
async fn hot_segments_move_once_old_enough_and_never_without_an_age() {
    let s3 = S3s::shared().unwrap();
    let h = harness(options(s3), Some(600_000)).await;
    let s = h.stream("hot", 24).await;
    for _ in 0..4 {
        h.append(&s).await;
    }
    assert_eq!(h.store.run_tiering_once().await.unwrap().uploaded, 0);
    h.advance(600_000);
    // Both segments: the newest is sealed too by then (its first fragment is past the
    // rotation age plus the writer's slack).
    assert_eq!(h.store.run_tiering_once().await.unwrap().uploaded, 2);

    let never = harness(options(s3), None).await;
    let s = never.stream("hot", 24).await;
    for _ in 0..4 {
        never.append(&s).await;
    }
    never.advance(100 * 3_600_000);
    assert_eq!(never.store.run_tiering_once().await.unwrap().uploaded, 0);
}

#[tokio::test]
async fn retention_and_stream_deletion_delete_the_objects() {
    let s3 = S3s::shared().unwrap();
    let opts = options(s3);
    let objects = ObjectStore::new(&opts).unwrap();
    let h = harness(opts, None).await;
    let s = h.stream_on("expiring", 1, StorageTier::Warm).await;
    for _ in 0..5 {
        h.append(&s).await;
    }
    h.store.run_tiering_once().await.unwrap();
    assert_eq!(keys(&objects, s.id).await.len(), 2);
    // Past the retention period and the grace period: marked, then deleted, objects included.
    h.advance(3_600_000 + 200_000);
    h.pass().await;
    h.advance(60_000);
    let report = h.pass().await;
    assert!(report.files_deleted >= 2, "{report:?}");
    assert!(keys(&objects, s.id).await.is_empty());

    let other = h.stream_on("deleted", 24, StorageTier::Warm).await;
    for _ in 0..3 {
        h.append(&other).await;
    }
    h.store.run_tiering_once().await.unwrap();
    assert_eq!(keys(&objects, other.id).await.len(), 1);
    h.store
        .delete_stream(&StreamRef::Name(other.name.clone()), None)
        .await
        .unwrap();
    for _ in 0..100 {
        if keys(&objects, other.id).await.is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the deleted stream's objects are still listed");
}

#[tokio::test]
async fn an_unreachable_object_store_delays_the_move_and_loses_nothing() {
    let s3 = S3s::start().unwrap();
    let mut opts = options(&s3);
    opts.request_timeout = std::time::Duration::from_secs(1);
    opts.max_attempts = 1;
    let h = harness(opts, None).await;
    let s = h.stream_on("outage", 24, StorageTier::Warm).await;
    let mut recs = Vec::new();
    for _ in 0..3 {
        recs.push(h.append(&s).await);
    }
    s3.kill().unwrap();
    let report = h.store.run_tiering_once().await.unwrap();
    assert_eq!((report.uploaded, report.failed), (0, 1));
    for r in &recs {
        assert!(h.on_disk(r));
        h.store.read_fragment(r).await.unwrap();
    }
    s3.restart().unwrap();
    assert_eq!(h.store.run_tiering_once().await.unwrap().uploaded, 1);
    for r in &recs {
        h.store.read_fragment(r).await.unwrap();
    }
    // Without the object store, a moved segment cannot be read: the error says to retry.
    s3.kill().unwrap();
    match h.store.read_fragment(&recs[0]).await {
        Err(StoreError::ObjectsUnavailable(m)) => assert!(!m.contains(s3.secret_key()), "{m}"),
        other => panic!("expected ObjectsUnavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn check_verifies_moved_segments_in_the_object_store() {
    let s3 = S3s::shared().unwrap();
    let opts = options(s3);
    let objects = ObjectStore::new(&opts).unwrap();
    let h = harness(opts.clone(), None).await;
    let s = h.stream_on("checked", 24, StorageTier::Warm).await;
    let mut recs = Vec::new();
    for _ in 0..5 {
        recs.push(h.append(&s).await);
    }
    assert_eq!(h.store.run_tiering_once().await.unwrap().uploaded, 2);
    let dir = h.close().await;
    // The harness's clusters are not MKV: that finding is the same for every fragment,
    // wherever it is stored, and is left out.
    let check = |o: Option<crate::store::object::ObjectStoreOptions>| {
        let path = dir.path().to_owned();
        async move {
            let mut r = crate::store::check::check(&path, &Default::default(), o.as_ref())
                .await
                .unwrap();
            r.problems.retain(|p| !p.contains("stored cluster"));
            r
        }
    };
    let report = check(Some(opts.clone())).await;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(report.leftovers.is_empty(), "{:?}", report.leftovers);
    let stored: u64 = recs
        .iter()
        .map(|r| u64::from(r.cluster_len) + u64::from(r.trailer_len))
        .sum();
    assert_eq!(
        (report.fragments, report.bytes),
        (5, stored),
        "every byte verified"
    );
    // Without the object store's settings, the moved segments cannot be verified.
    let blind = check(None).await;
    assert_eq!(blind.problems.len(), 2, "{:?}", blind.problems);
    assert!(
        blind.problems[0].contains("--config"),
        "{:?}",
        blind.problems
    );
    // A damaged object, and an object no segment owns.
    let key = object_key(s.id, recs[0].segment);
    let mut bytes = objects.get(&key).await.unwrap().to_vec();
    bytes[40] ^= 0xff;
    objects.put(&key, Bytes::from(bytes)).await.unwrap();
    objects
        .put(&object_key(StreamId(999), 7), Bytes::from_static(b"stray"))
        .await
        .unwrap();
    let damaged = check(Some(opts)).await;
    assert_eq!(damaged.problems.len(), 1, "{:?}", damaged.problems);
    assert!(
        damaged.problems[0].contains("checksum"),
        "{:?}",
        damaged.problems
    );
    assert_eq!(damaged.leftovers.len(), 1, "{:?}", damaged.leftovers);
    assert!(
        damaged.leftovers[0].contains("media/999/"),
        "{:?}",
        damaged.leftovers
    );
}

/// A crash between the mark and the unlink leaves the moved segment's local file: the first
/// pass after the next start removes it, and reads are the same either way.
#[tokio::test]
async fn a_local_copy_left_by_a_crash_is_removed_after_the_start() {
    let s3 = S3s::shared().unwrap();
    let h = harness(options(s3), None).await;
    let s = h.stream_on("crashed", 24, StorageTier::Warm).await;
    let mut recs = Vec::new();
    for _ in 0..3 {
        recs.push(h.append(&s).await);
    }
    assert_eq!(h.store.run_tiering_once().await.unwrap().uploaded, 1);
    let (cluster, _) = h.store.read_fragment(&recs[0]).await.unwrap();
    // What the crash left: the file, as it was, beside the object.
    let objects = h.store.inner.objects.clone().unwrap();
    let end = recs[1].end();
    let bytes = objects
        .get_range(&object_key(s.id, recs[0].segment), 0, end)
        .await
        .unwrap();
    let path = crate::store::segment::segment_path(&h.dir.join("media"), s.id, recs[0].segment);
    std::fs::write(&path, &bytes).unwrap();
    let h = h.reopen().await;
    assert!(
        h.on_disk(&recs[0]),
        "recovery keeps it: its bytes are indexed"
    );
    let report = h.store.run_tiering_once().await.unwrap();
    assert_eq!((report.uploaded, report.local_removed), (0, 1));
    assert!(!h.on_disk(&recs[0]));
    assert_eq!(h.store.read_fragment(&recs[0]).await.unwrap().0, cluster);
    assert_eq!(
        h.store.run_tiering_once().await.unwrap(),
        TieringReport::default()
    );
}
