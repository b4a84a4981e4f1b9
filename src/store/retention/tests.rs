//! Retention: the planner's rules as a table, then whole passes against a real store driven by a
//! `SimClock` (hours of retention in microseconds).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::model::{StorageTier, StreamName, StreamRecord, Tags};
use crate::store::fragment::{self, FragmentDraft, FragmentRecord, Trailer};
use crate::store::index::FragmentQuery;
use crate::store::{CreateStream, RetentionChange, Rotation, StoreOptions, StreamRef, segment};
use crate::time::{Clock, ServerTime, SimClock};

const T0: i64 = 1_700_000_000_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;

// ---------------------------------------------------------------------------------------------
// The planner.

fn seg(segment: i64, first: i64, last: i64, bytes: u64) -> SegmentUsage {
    SegmentUsage {
        segment,
        first_server_ms: first,
        last_server_ms: last,
        last_seq: segment + 9,
        fragments: 10,
        bytes,
        uploaded_ms: None,
    }
}

fn stream(id: i64, hours: u32, segments: Vec<SegmentUsage>) -> StreamUsage {
    StreamUsage {
        id: StreamId(id),
        retention_hours: hours,
        segments,
    }
}

fn caps(stream_max_bytes: u64, total_max_bytes: u64) -> RetentionOptions {
    RetentionOptions {
        stream_max_bytes,
        total_max_bytes,
        ..RetentionOptions::default()
    }
}

/// `(stream, segment, reason)` of each mark.
fn planned(
    now: i64,
    streams: &[StreamUsage],
    opts: RetentionOptions,
    closed_after: i64,
) -> Vec<(i64, i64, Reason)> {
    plan(now, streams, &opts, closed_after)
        .iter()
        .map(|m| (m.stream.0, m.usage.segment, m.reason))
        .collect()
}

/// What, the streams, the options, the marks expected as `(stream, segment, reason)`.
type Case = (
    &'static str,
    Vec<StreamUsage>,
    RetentionOptions,
    Vec<(i64, i64, Reason)>,
);

#[test]
fn plan_table() {
    use Reason::*;
    let now = T0 + 10 * HOUR;
    // Stream 1: retention 2 h; segments end 3 h ago, exactly 2 h ago, 1 h ago; the newest
    // started 5 minutes ago.
    let one = || {
        stream(
            1,
            2,
            vec![
                seg(100, now - 4 * HOUR, now - 3 * HOUR, 1000),
                seg(200, now - 3 * HOUR, now - 2 * HOUR, 1000),
                seg(300, now - 2 * HOUR, now - HOUR, 1000),
                seg(400, now - 5 * MIN, now - MIN, 1000),
            ],
        )
    };
    let closed = 10 * MIN + 90_000;
    let cases: Vec<Case> = vec![
        (
            "time: strictly older than the cutoff; a fragment exactly at it stays",
            vec![one()],
            caps(0, 0),
            vec![(1, 100, Expired)],
        ),
        (
            "retention 0 keeps nothing, except the newest segment while it may be written",
            vec![stream(1, 0, one().segments)],
            caps(0, 0),
            vec![(1, 100, Expired), (1, 200, Expired), (1, 300, Expired)],
        ),
        (
            "retention 0, newest segment closed: everything goes",
            vec![stream(
                1,
                0,
                vec![seg(100, now - closed, now - closed + 1, 10)],
            )],
            caps(0, 0),
            vec![(1, 100, Expired)],
        ),
        (
            "newest segment one ms too young stays even when expired",
            vec![stream(
                1,
                0,
                vec![seg(100, now - closed + 1, now - closed + 2, 10)],
            )],
            caps(0, 0),
            vec![],
        ),
        (
            "stream cap drops oldest survivors until under it",
            vec![one()],
            caps(2000, 0),
            vec![(1, 100, Expired), (1, 200, StreamCap)],
        ),
        (
            "stream cap never takes the young newest segment",
            vec![one()],
            caps(1, 0),
            vec![(1, 100, Expired), (1, 200, StreamCap), (1, 300, StreamCap)],
        ),
        (
            "total cap goes by the oldest media across streams",
            vec![
                stream(
                    1,
                    100,
                    vec![
                        seg(10, now - 9 * HOUR, now - 8 * HOUR, 500),
                        seg(20, now - 6 * HOUR, now - 5 * HOUR, 500),
                        seg(30, now - 5 * MIN, now, 500),
                    ],
                ),
                stream(
                    2,
                    100,
                    vec![
                        seg(11, now - 7 * HOUR, now - 6 * HOUR, 500),
                        seg(21, now - 5 * MIN, now, 500),
                    ],
                ),
            ],
            caps(0, 1600),
            vec![(1, 10, TotalCap), (2, 11, TotalCap)],
        ),
        (
            "total cap skips young newest segments and keeps going",
            vec![
                stream(1, 100, vec![seg(10, now - 5 * MIN, now, 500)]),
                stream(2, 100, vec![seg(11, now - 7 * HOUR, now - 6 * HOUR, 500)]),
            ],
            caps(0, 1),
            vec![(2, 11, TotalCap)],
        ),
        (
            "caps apply in order: time, then stream, then total",
            vec![
                one(),
                stream(2, 100, vec![seg(7, now - 8 * HOUR, now, 100)]),
            ],
            caps(2000, 1000),
            vec![
                (1, 100, Expired),
                (1, 200, StreamCap),
                (2, 7, TotalCap),
                (1, 300, TotalCap),
            ],
        ),
        (
            "nothing stored",
            vec![stream(1, 0, vec![])],
            caps(1, 1),
            vec![],
        ),
    ];
    for (what, streams, opts, want) in cases {
        assert_eq!(planned(now, &streams, opts, closed), want, "{what}");
    }
}

// ---------------------------------------------------------------------------------------------
// Whole passes against a store.

/// Segments rotate at 1000 bytes (two ~530-byte fragments each) or 60 s; a stream's newest
/// segment is closed 60 s + 90 s after its first fragment; the grace period is 30 s.
fn opts(dir: &Path, retention: RetentionOptions) -> StoreOptions {
    StoreOptions {
        data_dir: dir.to_owned(),
        region: "eu-west-1".into(),
        account_id: "42".into(),
        rotation: Rotation {
            max_bytes: 1000,
            max_age_ms: MIN,
        },
        retention,
        index: Default::default(),
        objects: None,
        tiers: Default::default(),
    }
}

const CLOSED_AFTER: i64 = MIN + 90_000;
const GRACE: i64 = 30_000;

/// A store on a `SimClock` with tiny segments (two fragments each), shared with the tiering
/// tests.
pub(in crate::store) struct Harness {
    _dir: tempfile::TempDir,
    pub(in crate::store) dir: PathBuf,
    clock: SimClock,
    pub(in crate::store) store: Store,
}

impl Harness {
    async fn new(retention: RetentionOptions) -> Harness {
        Harness::with(|o| o.retention = retention).await
    }

    /// Closes the store and hands over its directory (for `check`, which takes the lock).
    pub(in crate::store) async fn close(self) -> tempfile::TempDir {
        let Harness { _dir, store, .. } = self;
        store.close().await.unwrap();
        drop(store);
        _dir
    }

    /// A harness whose options `tweak` changed.
    pub(in crate::store) async fn with(tweak: impl FnOnce(&mut StoreOptions)) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let clock = SimClock::new(ServerTime(T0));
        let path = dir.path().to_owned();
        let mut o = opts(&path, RetentionOptions::default());
        tweak(&mut o);
        let store = Store::open(o, Arc::new(clock.clone())).await.unwrap();
        Harness {
            _dir: dir,
            dir: path,
            clock,
            store,
        }
    }

    pub(in crate::store) async fn reopen(self) -> Harness {
        let Harness {
            _dir,
            dir,
            clock,
            store,
        } = self;
        let o = store.inner.opts.clone();
        drop(store);
        let store = Store::open(o, Arc::new(clock.clone())).await.unwrap();
        Harness {
            _dir,
            dir,
            clock,
            store,
        }
    }

    pub(in crate::store) async fn stream(&self, name: &str, hours: u32) -> StreamRecord {
        self.stream_on(name, hours, StorageTier::Hot).await
    }

    /// An ACTIVE stream of that storage tier.
    pub(in crate::store) async fn stream_on(
        &self,
        name: &str,
        hours: u32,
        tier: StorageTier,
    ) -> StreamRecord {
        let name = StreamName::parse(name).unwrap();
        self.store
            .create_stream(CreateStream {
                name: name.clone(),
                device_name: None,
                media_type: None,
                kms_key_id: None,
                data_retention_hours: hours,
                tags: Tags::new(),
                storage_tier: tier,
            })
            .await
            .unwrap();
        let r = StreamRef::Name(name);
        for _ in 0..200 {
            let s = self.store.describe(&r).await.unwrap();
            if s.status == StreamStatus::Active {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("stream never became active");
    }

    /// Appends a ~530-byte fragment arriving now.
    pub(in crate::store) async fn append(&self, s: &StreamRecord) -> FragmentRecord {
        let number = self.store.allocate_fragment_number(s.id).await.unwrap();
        let now = self.clock.now().millis();
        let payload = vec![(number.seq % 251) as u8; 500];
        let draft = FragmentDraft {
            number,
            producer_ms: now,
            server_ms: now,
            duration_ms: 1000,
            track_header: Arc::new(fragment::TrackHeader {
                timecode_scale: 1_000_000,
                tracks: Bytes::from_static(b"tracks"),
            }),
            cluster: Bytes::from(payload),
            trailer: Trailer {
                cluster_crc: 0,
                frames: vec![fragment::FrameEntry {
                    track: 1,
                    flags: fragment::FLAG_KEY,
                    rel_timecode: 0,
                    offset: 0,
                    len: 500,
                }],
                tags: Vec::new(),
            },
        };
        self.store.append_fragment(draft).await.unwrap()
    }

    pub(in crate::store) fn advance(&self, ms: i64) {
        self.clock.advance_ms(ms);
    }

    pub(in crate::store) async fn pass(&self) -> RetentionReport {
        self.store.run_retention_once().await.unwrap()
    }

    fn seg_path(&self, r: &FragmentRecord) -> PathBuf {
        segment::segment_path(&self.dir.join("media"), r.number.stream, r.segment)
    }

    pub(in crate::store) fn on_disk(&self, r: &FragmentRecord) -> bool {
        self.seg_path(r).try_exists().unwrap()
    }

    pub(in crate::store) async fn listed(&self, s: &StreamRecord) -> Vec<i64> {
        self.store
            .list_fragments(FragmentQuery {
                stream: s.id,
                range: None,
                after_seq: None,
                limit: 1000,
            })
            .await
            .unwrap()
            .iter()
            .map(|f| f.number.seq)
            .collect()
    }

    pub(in crate::store) async fn garbage(&self) -> Vec<(StreamId, i64)> {
        self.store
            .inner
            .index
            .garbage()
            .await
            .unwrap()
            .iter()
            .map(|g| (g.stream, g.segment))
            .collect()
    }
}

fn seqs(rs: &[&FragmentRecord]) -> Vec<i64> {
    rs.iter().map(|r| r.number.seq).collect()
}

#[tokio::test]
async fn time_expiry_deletes_whole_expired_segments_after_the_grace_period() {
    let h = Harness::new(RetentionOptions::default()).await;
    let s = h.stream("cam", 1).await;
    let a1 = h.append(&s).await;
    h.advance(30_000);
    let a2 = h.append(&s).await;
    h.advance(30 * MIN);
    let b1 = h.append(&s).await;
    assert_eq!(a1.segment, a2.segment, "two fragments per segment");
    assert_ne!(a1.segment, b1.segment);
    let file_len = std::fs::metadata(h.seg_path(&a1)).unwrap().len();

    // a1 is expired, a2 not yet: the segment stays whole.
    h.advance(HOUR - 30 * MIN - 30_000 + 1);
    assert_eq!(h.pass().await, RetentionReport::default());
    assert_eq!(h.listed(&s).await, seqs(&[&a1, &a2, &b1]));

    // Both expired: phase 1 removes them from the index, the file waits for the grace period.
    h.advance(30_000);
    let r = h.pass().await;
    assert_eq!((r.segments_marked, r.bytes_marked), (1, a2.end()));
    assert_eq!(r.files_deleted, 0);
    assert_eq!(h.listed(&s).await, seqs(&[&b1]));
    assert!(h.on_disk(&a1));
    assert_eq!(h.store.stored_bytes(s.id).await.unwrap(), b1.end());
    let (cluster, _) = h.store.read_fragment(&a1).await.unwrap();
    assert_eq!(
        cluster.len(),
        500,
        "a reader that has the record still reads it"
    );

    // Phase 2.
    h.advance(GRACE);
    let r = h.pass().await;
    assert_eq!(
        r,
        RetentionReport {
            files_deleted: 1,
            bytes_freed: file_len,
            ..Default::default()
        }
    );
    assert!(!h.on_disk(&a1));
    assert!(h.on_disk(&b1));
    assert!(h.garbage().await.is_empty());
    assert_eq!(h.listed(&s).await, seqs(&[&b1]));
}

/// Invariant 12.
#[tokio::test]
async fn newest_segment_waits_until_closed() {
    let h = Harness::new(RetentionOptions {
        stream_max_bytes: 100,
        ..RetentionOptions::default()
    })
    .await;
    let s = h.stream("cam", 24).await;
    let a = h.append(&s).await;
    // Over the cap, but the writer may still append to its only segment.
    h.advance(CLOSED_AFTER - 1);
    assert_eq!(h.pass().await.segments_marked, 0);
    assert_eq!(h.listed(&s).await, seqs(&[&a]));
    h.advance(1);
    assert_eq!(h.pass().await.segments_marked, 1);
    assert!(h.listed(&s).await.is_empty());
    // The writer has moved on: the next fragment goes to a new segment and is stored.
    let b = h.append(&s).await;
    assert_ne!(b.segment, a.segment);
    assert_eq!(h.listed(&s).await, seqs(&[&b]));
}

/// Invariant 10, from the writer's side: even if retention marked the segment the writer is
/// appending to (which the newest-segment rule prevents), no row lands in it.
#[tokio::test]
async fn marked_segments_leave_queries_and_refuse_rows() {
    let h = Harness::new(RetentionOptions::default()).await;
    let s = h.stream("cam", 24).await;
    let a = h.append(&s).await;
    let usage = h.store.inner.index.segment_usage(s.id).await.unwrap();
    let marked = h
        .store
        .inner
        .index
        .mark_garbage(s.id, usage, h.clock.now().millis())
        .await
        .unwrap();
    assert_eq!(marked.len(), 1);
    assert!(h.listed(&s).await.is_empty());
    assert!(
        h.store
            .fragments_by_number(s.id, &[a.number])
            .await
            .unwrap()
            .is_empty()
    );
    // The writer still has the segment open (it is young and small): the fragment fails.
    let n = h.store.allocate_fragment_number(s.id).await.unwrap();
    let draft = FragmentDraft {
        number: n,
        producer_ms: a.producer_ms + 1000,
        server_ms: h.clock.now().millis(),
        duration_ms: 1000,
        track_header: Arc::new(fragment::TrackHeader {
            timecode_scale: 1_000_000,
            tracks: Bytes::from_static(b"tracks"),
        }),
        cluster: Bytes::from_static(b"late"),
        trailer: Trailer::default(),
    };
    let refused = h.store.append_fragment(draft).await;
    assert!(refused.is_err(), "{refused:?}");
    assert!(h.listed(&s).await.is_empty());
    // ... and the stream continues in a new segment.
    let b = h.append(&s).await;
    assert_ne!(b.segment, a.segment);
    assert_eq!(h.listed(&s).await, seqs(&[&b]));
}

#[tokio::test]
async fn stream_cap_deletes_the_oldest_segments_first() {
    let h = Harness::new(RetentionOptions {
        stream_max_bytes: 2200,
        ..RetentionOptions::default()
    })
    .await;
    let s = h.stream("cam", 24).await;
    let other = h.stream("other", 24).await;
    let mut recs = Vec::new();
    for _ in 0..10 {
        recs.push(h.append(&s).await);
        h.append(&other).await;
        h.advance(1000);
    }
    let segments: std::collections::BTreeSet<i64> = recs.iter().map(|r| r.segment).collect();
    assert_eq!(segments.len(), 5);
    let r = h.pass().await;
    assert_eq!(r.segments_marked, 6, "three of each stream");
    let kept = &recs[6..];
    assert_eq!(h.listed(&s).await, seqs(&kept.iter().collect::<Vec<_>>()));
    let bytes = h.store.stored_bytes(s.id).await.unwrap();
    assert!(bytes <= 2200 && bytes > 1100, "{bytes}");
    h.advance(GRACE);
    assert_eq!(h.pass().await.files_deleted, 6);
    for r in &recs[..6] {
        assert!(!h.on_disk(r));
    }
    for r in kept {
        assert!(h.on_disk(r));
    }
}

#[tokio::test]
async fn total_cap_deletes_the_globally_oldest_first() {
    let h = Harness::new(RetentionOptions {
        total_max_bytes: 1600,
        ..RetentionOptions::default()
    })
    .await;
    let a = h.stream("a", 24).await;
    let b = h.stream("b", 24).await;
    // One fragment per segment (they are a minute apart): a1 a2 a3 b1 b2 in time order.
    let mut recs = Vec::new();
    for s in [&a, &a, &a, &b, &b] {
        recs.push(h.append(s).await);
        h.advance(MIN);
    }
    let [a1, a2, a3, b1, b2] = &recs[..] else {
        unreachable!()
    };
    let r = h.pass().await;
    assert_eq!(r.segments_marked, 2);
    assert_eq!(h.listed(&a).await, seqs(&[a3]), "a's two oldest went");
    assert_eq!(
        h.listed(&b).await,
        seqs(&[b1, b2]),
        "b1 is newer than a2: kept"
    );
    let total =
        h.store.stored_bytes(a.id).await.unwrap() + h.store.stored_bytes(b.id).await.unwrap();
    assert!(total <= 1600, "{total}");
    h.advance(GRACE);
    assert_eq!(h.pass().await.files_deleted, 2);
    assert!(!h.on_disk(a1) && !h.on_disk(a2));
    assert!(h.on_disk(a3) && h.on_disk(b1) && h.on_disk(b2));
}

/// Invariant 11: a held segment's file outlives its grace period until the hold is released,
/// and the release pokes the job.
#[tokio::test]
async fn held_segment_is_deleted_only_after_release() {
    let h = Harness::new(RetentionOptions::default()).await;
    let s = h.stream("cam", 1).await;
    let a = h.append(&s).await;
    h.advance(30 * MIN);
    let b = h.append(&s).await;
    // A reader found `a` and holds it, then retention expires it.
    let found = h
        .store
        .fragments_by_number(s.id, &[a.number])
        .await
        .unwrap();
    let hold = h.store.hold_segments(&found);
    h.advance(HOUR - 29 * MIN);
    assert_eq!(h.pass().await.segments_marked, 1);
    h.advance(10 * GRACE);
    let r = h.pass().await;
    assert_eq!((r.files_deleted, r.held), (0, 1));
    assert!(h.on_disk(&a));
    let (cluster, _) = h.store.read_fragment(&found[0]).await.unwrap();
    assert_eq!(cluster.len(), 500, "the holder reads every byte");
    let wake = h.store.retention_wake();
    drop(hold);
    tokio::time::timeout(Duration::from_secs(1), wake.notified())
        .await
        .expect("releasing a wanted segment pokes retention");
    let r = h.pass().await;
    assert_eq!((r.files_deleted, r.held), (1, 0));
    assert!(!h.on_disk(&a));
    assert!(h.on_disk(&b));
}

#[tokio::test]
async fn grace_period_is_respected() {
    let h = Harness::new(RetentionOptions::default()).await;
    let s = h.stream("cam", 1).await;
    let a = h.append(&s).await;
    h.advance(30 * MIN);
    h.append(&s).await;
    h.advance(HOUR - 29 * MIN);
    assert_eq!(h.pass().await.segments_marked, 1);
    h.advance(GRACE - 1);
    assert_eq!(h.pass().await.files_deleted, 0);
    assert!(h.on_disk(&a));
    h.advance(1);
    assert_eq!(h.pass().await.files_deleted, 1);
    assert!(!h.on_disk(&a));
}

/// Invariant 11: a crash after phase 1 (file still there) or in the middle of phase 2 (file gone,
/// row left) is finished by the next start.
#[tokio::test]
async fn recovery_finishes_phase_two() {
    let h = Harness::new(RetentionOptions::default()).await;
    let s = h.stream("cam", 1).await;
    let mut recs = Vec::new();
    for _ in 0..3 {
        recs.push(h.append(&s).await);
        h.advance(2 * MIN);
    }
    h.advance(HOUR - 3 * MIN);
    assert_eq!(h.pass().await.segments_marked, 2);
    assert_eq!(h.garbage().await.len(), 2);
    // "Crash" in the middle of phase 2: one file already unlinked, its row not yet forgotten.
    std::fs::remove_file(h.seg_path(&recs[1])).unwrap();
    let h = h.reopen().await;
    let report = h.store.recovery_report().clone();
    assert_eq!(report.garbage_swept, 2);
    assert_eq!(report.removed, 0, "not mistaken for orphans");
    assert!(h.garbage().await.is_empty());
    assert!(!h.on_disk(&recs[0]) && !h.on_disk(&recs[1]));
    assert!(h.on_disk(&recs[2]));
    assert_eq!(h.listed(&s).await, seqs(&[&recs[2]]));
    drop(h.store);
    let check = crate::store::check::check(&h.dir, &Default::default(), None)
        .await
        .unwrap();
    let unrelated: Vec<_> = check
        .problems
        .iter()
        .filter(|p| !p.contains("stored cluster")) // test clusters are not MKV
        .collect();
    assert!(unrelated.is_empty(), "{unrelated:?}");
}

/// DECREASE pokes the job; INCREASE does not.
#[tokio::test]
async fn decreasing_retention_pokes_the_job() {
    let h = Harness::new(RetentionOptions::default()).await;
    let s = h.stream("cam", 24).await;
    let wake = h.store.retention_wake();
    let r = StreamRef::Name(s.name.clone());
    let s = h
        .store
        .update_retention(&r, &s.version, RetentionChange::Increase(1))
        .await
        .unwrap();
    let poked = tokio::time::timeout(Duration::from_millis(20), wake.notified()).await;
    assert!(poked.is_err(), "an increase deletes nothing");
    h.store
        .update_retention(&r, &s.version, RetentionChange::Decrease(25))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(1), wake.notified())
        .await
        .expect("a decrease pokes retention");
}

/// A stream deleted while a reader holds one of its segments keeps its media until the reader is
/// done; the job then finishes the deletion.
#[tokio::test]
async fn stream_deletion_waits_for_readers() {
    let h = Harness::new(RetentionOptions::default()).await;
    let s = h.stream("cam", 24).await;
    let a = h.append(&s).await;
    let hold = h.store.hold_segments(&[a]);
    h.store
        .delete_stream(&StreamRef::Name(s.name.clone()), None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(h.pass().await.streams_deleted, 0);
    assert!(h.on_disk(&a), "held media stays");
    let (cluster, _) = h.store.read_fragment(&a).await.unwrap();
    assert_eq!(cluster.len(), 500);
    drop(hold);
    assert_eq!(h.pass().await.streams_deleted, 1);
    assert!(
        !segment::stream_dir(&h.dir.join("media"), s.id)
            .try_exists()
            .unwrap()
    );
    assert!(matches!(
        h.store.describe(&StreamRef::Name(s.name.clone())).await,
        Err(StoreError::StreamNotFound(_))
    ));
}

/// The job runs a pass when poked, and stops when its handle says so.
#[tokio::test]
async fn job_runs_when_poked_and_stops() {
    let h = Harness::new(RetentionOptions::default()).await;
    let s = h.stream("cam", 1).await;
    let a = h.append(&s).await;
    h.advance(2 * MIN);
    h.append(&s).await;
    let job = RetentionJob::new(h.store.clone(), Duration::from_secs(3600)).spawn();
    // Let the immediate first pass happen (nothing to do yet), then expire `a` and poke.
    tokio::time::sleep(Duration::from_millis(50)).await;
    h.advance(HOUR);
    h.store.retention_wake().notify_one();
    for _ in 0..200 {
        if h.listed(&s).await.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(h.listed(&s).await.len(), 1, "the poked pass marked `a`");
    tokio::time::timeout(Duration::from_secs(5), job.stop())
        .await
        .expect("the job stops");
    assert!(h.on_disk(&a), "within the grace period");
}
