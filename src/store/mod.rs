//! All durable state: the index and (with the ingest work) the media files. Nothing outside this
//! module touches the data directory, the index database or object storage.
//!
//! # Data directory
//! ```text
//! DATA_DIR/
//!   LOCK                          held (flock) by the one process that owns the directory
//!   index.sqlite                  streams, tags, track headers, fragments, segment summaries,
//!                                 retention's garbage list (SQLite, WAL)
//!   media/<stream-id>/<seq>.seg   append-only segment files: per fragment a normalized MKV
//!                                 Cluster + its trailer (frame table, tags, CRC-32); see
//!                                 `fragment` for the byte layout
//!   session.key                   secret signing HLS/DASH session tokens (32 bytes, mode 0600;
//!                                 see `secret`)
//!   master.key                    key sealing stored secrets, unless configured (32 bytes,
//!                                 mode 0600; see `auth::seal`)
//!   root-credentials              the generated root access key, unless configured (AWS
//!                                 shared-credentials INI, mode 0600; see `auth::root`)
//! ```
//! The index also holds the access keys (secrets sealed under the master key) and the web UI
//! users (argon2id password hashes) and sessions (SHA-256 of the session id only).
//! The directory is created with mode 0700 and `index.sqlite` (with its `-wal`/`-shm`) is kept at
//! 0600, whatever the umask: it holds secrets. An existing directory's mode is the operator's,
//! and a loose one is only warned about.
//!
//! # Invariants (each has a test; `vidstream check` verifies 5–7 offline)
//! 1. One process owns a data directory at a time: [`Store::open`] takes an exclusive lock on
//!    `LOCK` and holds it until the store is dropped. *(tests: `data_dir_is_exclusive`,
//!    `second_server_on_same_data_dir_is_refused`)*
//! 2. A stream name is unique among all stream rows, including rows being deleted, so a name is
//!    reusable only once the old stream's media is gone. Stream ids are never reused.
//!    *(testsuite `duplicate_names`, `delete_stream_lifecycle`)*
//! 3. Every update of a stream row is a compare-and-swap on its `Version` and sets a new one.
//!    *(testsuite `update_is_compare_and_swap`)*
//! 4. A stream row in CREATING or DELETING state is a transition in progress; start-up recovery
//!    finishes every such transition. *(`recovery_finishes_interrupted_transitions`)*
//! 5. A fragment's index row exists only once its bytes are fsynced (file and, for a new
//!    segment, its directory), and PERSISTED is sent only after the row is committed. A failed
//!    write or fsync fails the fragment — it is never retried silently, never acknowledged — and
//!    the stream continues in a new segment. *(`failed_fsync_fails_the_fragment_and_abandons_the_segment`,
//!    the kill -9 test `persisted_fragments_survive_kill_9`)*
//! 6. Bytes past the last indexed fragment of a segment are garbage (never acknowledged):
//!    start-up recovery truncates them; segment files without indexed fragments and media
//!    directories without a stream row are removed. So no torn fragment is ever visible.
//!    *(`recovery_truncates_torn_tails_and_removes_orphans`)*
//! 7. The fragments of a segment tile it from byte 0 with no holes and no overlap, each stored
//!    cluster matches its frame table and CRC. *(`check_reports_damage`)*
//! 8. A committed index transaction is on disk before the commit returns (`synchronous=FULL`).
//!    *(`index_commits_are_synchronous`)*
//! 9. Nothing outside this module touches the data directory, the index or object storage.
//! 10. Retention is two-phase (see `retention`). Phase 1 deletes a segment's fragment rows and
//!     lists it in the `garbage` table in one transaction, and only if no fragment arrived in it
//!     since retention looked; from then on no index query returns its fragments, and no fragment
//!     row can be added to it (the index refuses such rows and the writer fails those fragments
//!     and moves to a new segment). *(`marked_segments_leave_queries_and_refuse_rows`, testsuite
//!     `mark_garbage_is_atomic_and_conditional`)*
//! 11. A segment file is deleted only after its rows are gone (it is in `garbage`), no reader
//!     holds it ([`Store::hold_segments`]) and it was marked at least the grace period ago; its
//!     garbage row is forgotten only after the file is gone. Start-up recovery finishes every
//!     garbage row, so a crash at any point leaves a state the next start completes.
//!     *(`held_segment_is_deleted_only_after_release`, `grace_period_is_respected`,
//!     `recovery_finishes_phase_two`)*
//! 12. Retention never marks a segment the writer may still append to: a stream's newest segment
//!     becomes deletable only once its first fragment is older than the writer's rotation age
//!     plus the slack for a fragment in flight. *(`newest_segment_waits_until_closed`,
//!     `retention::tests::plan_table`)*
//! 13. A segment moves to object storage (`[store] media = "local-then-object"`, see [`tiering`]
//!     for the guarantee) only once sealed (invariant 12's rule), byte for byte under its object
//!     key; the index records the move only after the PUT succeeded and only if the segment is
//!     unchanged, and the local file goes only after that commit. Reads fall back from the file
//!     to the object. *(`tiering::tests`, `uploads_are_marked_only_on_an_unchanged_summary`,
//!     `tests/it/tiering.rs`)*
//!
//! # Backends
//! The index is SQLite in `DATA_DIR/index.sqlite` or PostgreSQL ([`IndexBackend`];
//! [`index::postgres`]); the media is the segment files, and with an object store ([`object`])
//! sealed segments move there by the streams' storage tiers ([`tiering`]).

mod cameras;
pub mod check;
mod consumers;
mod error;
pub mod fragment;
mod holds;
mod image_generation;
pub mod index;
mod keys;
mod lifecycle;
/// An S3-compatible object-store client (puts, ranged gets, lists, deletes under a prefix).
pub mod object;
mod recovery;
pub mod retention;
pub mod secret;
pub mod segment;
pub mod tiering;
mod users;
mod writer;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
pub use error::StoreError;
use fragment::{FragmentDraft, FragmentNumber, FragmentRecord, StoredTrackHeader, Trailer};
pub use holds::SegmentHold;
use index::{FragmentQuery, Index, NewStream};
pub(crate) use lifecycle::open_index;
use lifecycle::{activate, finish_delete, recover_garbage, recover_media, recover_transitions};
pub use recovery::RecoveryReport;
pub use retention::{RetentionJob, RetentionOptions, RetentionReport};
pub use secret::Secret;
pub use writer::Rotation;

use crate::model::{
    Arn, DeviceName, Invalid, KmsKeyId, MAX_RETENTION_HOURS, MAX_TAGS_PER_RESOURCE, MediaType,
    StorageTier, StreamChanges, StreamId, StreamName, StreamRecord, StreamStatus, TagKey, Tags,
    Version,
};
use crate::time::Clock;

/// How a request names a stream: by name, by ARN, or both (which must agree).
#[derive(Debug, Clone)]
pub enum StreamRef {
    /// `StreamName`.
    Name(StreamName),
    /// `StreamARN`.
    Arn(Arn),
    /// Both were given.
    Both(StreamName, Arn),
}

/// Everything CreateStream may set.
#[derive(Debug, Clone)]
pub struct CreateStream {
    /// Unique name.
    pub name: StreamName,
    /// Optional device name.
    pub device_name: Option<DeviceName>,
    /// Optional media type.
    pub media_type: Option<MediaType>,
    /// KMS key id; KVS's default when absent.
    pub kms_key_id: Option<KmsKeyId>,
    /// Retention; 0 when absent.
    pub data_retention_hours: u32,
    /// Initial tags.
    pub tags: Tags,
    /// Storage tier; HOT when absent.
    pub storage_tier: StorageTier,
}

/// UpdateDataRetention's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionChange {
    /// Keep media longer.
    Increase(u32),
    /// Keep media for less time.
    Decrease(u32),
}

/// Where the store keeps its state and how it names resources.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The data directory.
    pub data_dir: PathBuf,
    /// Region used in ARNs.
    pub region: String,
    /// Account id used in ARNs.
    pub account_id: String,
    /// When segment files rotate.
    pub rotation: Rotation,
    /// What retention deletes and when.
    pub retention: RetentionOptions,
    /// Which database holds the index.
    pub index: IndexBackend,
    /// Object storage for sealed segments (`[store] media = "local-then-object"`); None: local
    /// disk only.
    pub objects: Option<object::ObjectStoreOptions>,
    /// Which segments move to object storage, and when.
    pub tiers: tiering::TierPolicy,
}

/// Which database holds the index.
#[derive(Clone, Default)]
pub enum IndexBackend {
    /// `DATA_DIR/index.sqlite` (embedded).
    #[default]
    Sqlite,
    /// A PostgreSQL database.
    Postgres {
        /// `postgres://...`; may carry a password, so `Debug` shows only where it points.
        url: String,
        /// Connections in the pool at most.
        pool_size: usize,
    },
}

impl std::fmt::Debug for IndexBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IndexBackend::Sqlite => f.write_str("Sqlite"),
            IndexBackend::Postgres { pool_size, .. } => f
                .debug_struct("Postgres")
                .field("url", &"<redacted>")
                .field("pool_size", pool_size)
                .finish(),
        }
    }
}

/// The store facade shared by every API handler.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    index: Arc<dyn Index>,
    opts: StoreOptions,
    clock: Arc<dyn Clock>,
    writer: writer::Writer,
    /// Last fragment seq handed out per stream (see [`Store::allocate_fragment_number`]).
    seqs: Mutex<HashMap<StreamId, i64>>,
    /// What start-up recovery did.
    recovery: RecoveryReport,
    /// Reader holds on segment files (invariant 11).
    holds: Arc<holds::Holds>,
    /// Object storage for sealed segments, if configured.
    objects: Option<Arc<object::ObjectStore>>,
    /// Whether a tiering pass has looked for local copies of moved segments since the start.
    tiering_swept: std::sync::atomic::AtomicBool,
    /// Pokes the retention job (see [`Store::retention_wake`]).
    retention_wake: Arc<tokio::sync::Notify>,
    /// Serializes retention passes and stream deletions.
    maintenance: tokio::sync::Mutex<()>,
    /// Counts commits that removed fragment rows (see [`Store::removal_epoch`]).
    removals: std::sync::atomic::AtomicU64,
    /// Held for the store's lifetime (invariant 1); released when the file is closed.
    _lock: File,
}

impl Store {
    /// Opens the data directory (creating it if needed), takes its lock, opens the index and runs
    /// start-up recovery.
    pub async fn open(opts: StoreOptions, clock: Arc<dyn Clock>) -> Result<Store, StoreError> {
        let dir = opts.data_dir.clone();
        secret::create_data_dir(&dir)?;
        let lock_path = dir.join("LOCK");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::io(format!("opening {}", lock_path.display()), e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::DataDirLocked(dir.display().to_string()));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(StoreError::io(
                    format!("locking {}", lock_path.display()),
                    e,
                ));
            }
        }
        let index = open_index(&opts.index, &dir).await?;
        let objects = match &opts.objects {
            None => None,
            Some(o) => Some(Arc::new(
                object::ObjectStore::new(o).map_err(tiering::object_error)?,
            )),
        };
        recover_transitions(index.as_ref(), &dir, objects.as_deref()).await?;
        let swept = recover_garbage(index.as_ref(), &dir, objects.as_deref()).await?;
        let mut recovery = recover_media(index.as_ref(), &dir).await?;
        recovery.garbage_swept = swept;
        let writer = writer::Writer::start(
            Arc::clone(&index),
            dir.join("media"),
            opts.rotation,
            Arc::clone(&clock),
        );
        let retention_wake = Arc::new(tokio::sync::Notify::new());
        let hold_timeout = std::time::Duration::from_millis(
            u64::try_from(opts.retention.reader_hold_timeout_ms).unwrap_or(0),
        );
        Ok(Store {
            inner: Arc::new(Inner {
                index,
                opts,
                clock,
                writer,
                seqs: Mutex::new(HashMap::new()),
                recovery,
                holds: holds::Holds::new(Arc::clone(&retention_wake), hold_timeout),
                objects,
                tiering_swept: Default::default(),
                retention_wake,
                maintenance: tokio::sync::Mutex::new(()),
                removals: Default::default(),
                _lock: lock,
            }),
        })
    }

    /// What start-up recovery did.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.inner.recovery
    }

    fn index(&self) -> &dyn Index {
        self.inner.index.as_ref()
    }

    /// The current server time.
    pub fn now(&self) -> crate::time::ServerTime {
        self.inner.clock.now()
    }

    /// The region in ARNs.
    pub fn region(&self) -> &str {
        &self.inner.opts.region
    }

    /// The account id in ARNs.
    pub fn account_id(&self) -> &str {
        &self.inner.opts.account_id
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.inner.opts.data_dir
    }

    /// A secret kept in the data directory, created (random, mode 0600) on first use. Blocking
    /// file I/O: call it at start-up.
    pub fn secret(&self, which: Secret) -> Result<Vec<u8>, StoreError> {
        secret::load_or_create(&self.inner.opts.data_dir, which)
    }

    /// Creates a stream in CREATING state; it becomes ACTIVE once its storage is provisioned,
    /// which happens in the background right after this returns (as in KVS, creation is
    /// asynchronous: clients poll DescribeStream).
    pub async fn create_stream(&self, req: CreateStream) -> Result<StreamRecord, StoreError> {
        if req.tags.len() > MAX_TAGS_PER_RESOURCE {
            return Err(StoreError::TooManyTags {
                name: req.name.to_string(),
                count: req.tags.len(),
            });
        }
        check_retention(req.data_retention_hours)?;
        let now = self.inner.clock.now();
        let arn = Arn::stream(
            &self.inner.opts.region,
            &self.inner.opts.account_id,
            &req.name,
            now,
        );
        let rec = self
            .index()
            .create_stream(NewStream {
                name: req.name,
                arn: arn.to_string(),
                device_name: req.device_name,
                media_type: req.media_type,
                kms_key_id: req.kms_key_id.unwrap_or_else(KmsKeyId::aws_default),
                version: Version::random(),
                status: StreamStatus::Creating,
                creation_time: now,
                data_retention_hours: req.data_retention_hours,
                storage_tier: req.storage_tier,
                tags: req.tags,
            })
            .await?;
        tracing::info!(stream = %rec.name, id = rec.id.0, "stream created");
        let store = self.clone();
        let created = rec.clone();
        tokio::spawn(async move {
            if let Err(e) = store.activate(&created).await {
                // Left in CREATING: the next start-up's recovery retries.
                tracing::error!(stream = %created.name, error = %e, "stream activation failed");
            }
        });
        Ok(rec)
    }

    /// Provisions storage and moves CREATING → ACTIVE.
    async fn activate(&self, s: &StreamRecord) -> Result<(), StoreError> {
        activate(self.index(), &self.inner.opts.data_dir, s).await
    }

    /// Resolves a reference to a stream in any state.
    pub async fn describe(&self, r: &StreamRef) -> Result<StreamRecord, StoreError> {
        let (found, asked) = match r {
            StreamRef::Name(n) => (self.index().stream_by_name(n).await?, n.to_string()),
            StreamRef::Arn(a) => {
                let s = a.to_string();
                (self.index().stream_by_arn(&s).await?, s)
            }
            StreamRef::Both(n, a) => {
                let s = a.to_string();
                let found = self.index().stream_by_arn(&s).await?;
                if let Some(rec) = &found
                    && rec.name != *n
                {
                    return Err(Invalid(format!(
                        "StreamName `{n}` and StreamARN `{s}` name different streams; give one of them"
                    ))
                    .into());
                }
                (found, s)
            }
        };
        found.ok_or(StoreError::StreamNotFound(asked))
    }

    /// Resolves a reference to a stream that is not being deleted.
    pub async fn resolve(&self, r: &StreamRef) -> Result<StreamRecord, StoreError> {
        let s = self.describe(r).await?;
        if s.status == StreamStatus::Deleting {
            return Err(StoreError::StreamBusy {
                name: s.name.to_string(),
                status: s.status.as_str(),
            });
        }
        Ok(s)
    }

    /// How many streams exist.
    pub async fn count_streams(&self) -> Result<usize, StoreError> {
        self.index().count_streams().await
    }

    /// Lists streams by name; see [`Index::list_streams`].
    pub async fn list_streams(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StreamRecord>, StoreError> {
        self.index().list_streams(prefix, after, limit).await
    }

    /// UpdateStream: changes device name and/or media type if `version` is current.
    pub async fn update_stream(
        &self,
        r: &StreamRef,
        version: &Version,
        device_name: Option<DeviceName>,
        media_type: Option<MediaType>,
    ) -> Result<StreamRecord, StoreError> {
        let s = self.resolve(r).await?;
        let changes = StreamChanges {
            device_name,
            media_type,
            ..Default::default()
        };
        self.index()
            .update_stream(s.id, version, &Version::random(), changes)
            .await
    }

    /// Sets the stream's default storage tier (UpdateStreamStorageConfiguration): where its
    /// sealed segments go from now on (see [`tiering`]); segments already moved stay moved.
    pub async fn update_storage_tier(
        &self,
        r: &StreamRef,
        version: &Version,
        tier: StorageTier,
    ) -> Result<StreamRecord, StoreError> {
        let s = self.resolve(r).await?;
        let changes = StreamChanges {
            storage_tier: Some(tier),
            ..Default::default()
        };
        self.index()
            .update_stream(s.id, version, &Version::random(), changes)
            .await
    }

    /// UpdateDataRetention: moves retention up or down if `version` is current.
    pub async fn update_retention(
        &self,
        r: &StreamRef,
        version: &Version,
        change: RetentionChange,
    ) -> Result<StreamRecord, StoreError> {
        let s = self.resolve(r).await?;
        if s.version != *version {
            return Err(StoreError::VersionMismatch {
                name: s.name.to_string(),
                given: version.to_string(),
            });
        }
        let old = i64::from(s.data_retention_hours);
        let new = match change {
            RetentionChange::Increase(h) => old + i64::from(h),
            RetentionChange::Decrease(h) => old - i64::from(h),
        };
        if new < 0 {
            return Err(Invalid(format!(
                "cannot decrease retention of stream `{}` by {} hours: it is {old} hours",
                s.name,
                old - new
            ))
            .into());
        }
        let new = u32::try_from(new).unwrap_or(u32::MAX);
        check_retention(new)?;
        let changes = StreamChanges {
            data_retention_hours: Some(new),
            ..Default::default()
        };
        // The compare-and-swap on `version` makes the read-modify-write above atomic.
        let updated = self
            .index()
            .update_stream(s.id, version, &Version::random(), changes)
            .await?;
        if matches!(change, RetentionChange::Decrease(_)) {
            // Takes effect at once, not at the next interval.
            self.inner.retention_wake.notify_one();
        }
        Ok(updated)
    }

    /// DeleteStream: marks the stream DELETING (checking `version` if given), then removes its
    /// media and row in the background, once no reader holds its segments (invariant 11); the
    /// retention job finishes deletions that had to wait or failed. Returns the stream's id.
    pub async fn delete_stream(
        &self,
        r: &StreamRef,
        version: Option<&Version>,
    ) -> Result<StreamId, StoreError> {
        let s = self.resolve(r).await?;
        let expected = version.unwrap_or(&s.version);
        let changes = StreamChanges {
            status: Some(StreamStatus::Deleting),
            ..Default::default()
        };
        let marked = self
            .index()
            .update_stream(s.id, expected, &Version::random(), changes)
            .await?;
        tracing::info!(stream = %s.name, id = s.id.0, "stream deleting");
        let store = self.clone();
        tokio::spawn(async move {
            if let Err(e) = store.finish_delete(&marked).await {
                tracing::error!(stream = %marked.name, error = %e, "stream deletion failed; the retention job retries it every interval");
            }
        });
        Ok(s.id)
    }

    /// Removes a DELETING stream's media, then its row, unless a reader still holds some of its
    /// segments: then the retention job finishes it once they are released (it is poked).
    async fn finish_delete(&self, s: &StreamRecord) -> Result<(), StoreError> {
        let _one_at_a_time = self.inner.maintenance.lock().await;
        if !self.inner.holds.stream_free_or_want(s.id) {
            tracing::info!(stream = %s.name, id = s.id.0, "stream deletion waits for its readers");
            return Ok(());
        }
        self.note_removal();
        let done = finish_delete(
            self.index(),
            &self.inner.opts.data_dir,
            self.inner.objects.as_deref(),
            s,
        )
        .await;
        self.note_removal();
        done
    }

    /// The tags of a stream.
    pub async fn tags(&self, r: &StreamRef) -> Result<Tags, StoreError> {
        let s = self.resolve(r).await?;
        self.index().tags(s.id).await
    }

    /// Adds or replaces tags; at most 50 in all.
    pub async fn tag(&self, r: &StreamRef, tags: Tags) -> Result<(), StoreError> {
        let s = self.resolve(r).await?;
        self.index()
            .put_tags(s.id, tags, MAX_TAGS_PER_RESOURCE)
            .await
    }

    /// Removes tags by key.
    pub async fn untag(&self, r: &StreamRef, keys: Vec<TagKey>) -> Result<(), StoreError> {
        let s = self.resolve(r).await?;
        self.index().remove_tags(s.id, keys).await
    }

    /// Allocates the number of a fragment that starts arriving now. Numbers are
    /// `max(previous + 1, now_ms * 1000)`: strictly increasing, and (with a sane clock) never
    /// handed out twice even across a crash that lost unpersisted fragments.
    pub async fn allocate_fragment_number(
        &self,
        stream: StreamId,
    ) -> Result<FragmentNumber, StoreError> {
        let known = self
            .inner
            .seqs
            .lock()
            .map(|m| m.get(&stream).copied())
            .unwrap_or(None);
        let last = match known {
            Some(l) => l,
            None => self
                .index()
                .last_fragment(stream)
                .await?
                .map_or(0, |f| f.number.seq),
        };
        let floor = self.inner.clock.now().millis().saturating_mul(1000);
        let mut seqs = self
            .inner
            .seqs
            .lock()
            .map_err(|_| StoreError::internal("fragment counter poisoned"))?;
        let prev = seqs.get(&stream).copied().unwrap_or(last).max(last);
        let seq = prev.saturating_add(1).max(floor);
        seqs.insert(stream, seq);
        Ok(FragmentNumber { stream, seq })
    }

    /// Persists a sealed fragment (group commit); returns once it is durable and indexed.
    pub async fn append_fragment(
        &self,
        draft: FragmentDraft,
    ) -> Result<FragmentRecord, StoreError> {
        self.inner.writer.append(draft.number.stream, draft).await
    }

    /// The stream's last persisted fragment.
    pub async fn last_fragment(
        &self,
        stream: StreamId,
    ) -> Result<Option<FragmentRecord>, StoreError> {
        self.index().last_fragment(stream).await
    }

    /// The stream's newest `limit` fragments, oldest first.
    pub async fn last_fragments(
        &self,
        stream: StreamId,
        limit: usize,
    ) -> Result<Vec<FragmentRecord>, StoreError> {
        self.index().last_fragments(stream, limit).await
    }

    /// Fragments matching a query, ordered by number.
    pub async fn list_fragments(
        &self,
        q: FragmentQuery,
    ) -> Result<Vec<FragmentRecord>, StoreError> {
        self.index().list_fragments(q).await
    }

    /// The fragments with these numbers that exist, in the order asked.
    pub async fn fragments_by_number(
        &self,
        stream: StreamId,
        numbers: &[FragmentNumber],
    ) -> Result<Vec<FragmentRecord>, StoreError> {
        let seqs = numbers
            .iter()
            .filter(|n| n.stream == stream)
            .map(|n| n.seq)
            .collect();
        self.index().fragments_by_seq(stream, seqs).await
    }

    /// A track header by id.
    pub async fn track_header(&self, id: i64) -> Result<StoredTrackHeader, StoreError> {
        self.index().track_header(id).await?.ok_or_else(|| {
            StoreError::corruption(format!("track header {id} is missing from the index"))
        })
    }

    /// Keeps the segments of `records` from being deleted by retention until the returned guard
    /// is dropped (invariant 11). Readers call it right after the index query that returned the
    /// records and keep the guard until they have read the last byte; [`Store::read_fragment`]
    /// then works even if retention marks the segments meanwhile.
    pub fn hold_segments(&self, records: &[FragmentRecord]) -> SegmentHold {
        self.inner.holds.hold(records)
    }

    /// Indexed bytes (clusters and trailers) of a stream's fragments.
    pub async fn stored_bytes(&self, stream: StreamId) -> Result<u64, StoreError> {
        self.index().stream_bytes(stream).await
    }

    /// Runs one retention pass now: deletions of streams whose readers are gone, marking
    /// (phase 1), then deleting marked files past the grace period (phase 2). The background
    /// [`RetentionJob`] calls this; tests call it directly with a `SimClock`.
    pub async fn run_retention_once(&self) -> Result<RetentionReport, StoreError> {
        retention::run_once(self).await
    }

    /// Runs one tiering pass now: sealed segments due to move go to object storage (see
    /// [`tiering`]); nothing without an object store. The retention job runs one after each
    /// of its passes.
    pub async fn run_tiering_once(&self) -> Result<tiering::TieringReport, StoreError> {
        match &self.inner.objects {
            None => Ok(tiering::TieringReport::default()),
            Some(objects) => tiering::run_once(self, objects).await,
        }
    }

    /// Notified when retention should run before its next interval.
    pub(crate) fn retention_wake(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.inner.retention_wake)
    }

    /// The removal epoch: a counter that grows before and after every index commit that removed
    /// fragment rows (retention marking segments, a stream deletion finishing). A reader that read
    /// it before an index query found a fragment knows that the fragment still existed at that
    /// epoch; while the epoch has not moved, it still does (read caches rely on this). The bump
    /// before the commit makes every reader that validated earlier look again, so none can be
    /// answered from its cache in the moment between the commit and the bump after it.
    pub fn removal_epoch(&self) -> u64 {
        self.inner
            .removals
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Called before and after an index commit that removes fragment rows.
    fn note_removal(&self) {
        self.inner
            .removals
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Reads a stored fragment: its cluster bytes and its trailer. It reads by record, so a
    /// reader holding the segment ([`Store::hold_segments`]) can read it after retention removed
    /// the fragment from the index.
    pub async fn read_fragment(
        &self,
        rec: &FragmentRecord,
    ) -> Result<(Bytes, Trailer), StoreError> {
        let media_root = self.inner.opts.data_dir.join("media");
        let rec = *rec;
        let len = rec.cluster_len as usize + rec.trailer_len as usize;
        let (stream, seg, offset) = (rec.number.stream, rec.segment, rec.offset);
        let local = tokio::task::spawn_blocking(move || {
            segment::try_read_range(&media_root, stream, seg, offset, len)
        })
        .await
        .map_err(|e| StoreError::internal(format!("read task failed: {e}")))??;
        let mut cluster = match (local, &self.inner.objects) {
            (Some(buf), _) => Bytes::from(buf),
            // Moved to object storage (see `tiering`).
            (None, Some(objects)) => {
                tiering::read_object(objects, stream, seg, offset, len).await?
            }
            (None, None) => {
                return Err(StoreError::corruption(format!(
                    "segment file {seg} of stream {} is missing",
                    stream.0
                )));
            }
        };
        let trailer_bytes = cluster.split_off(rec.cluster_len as usize);
        let trailer = Trailer::decode(&trailer_bytes).map_err(|e| {
            StoreError::corruption(format!("trailer of fragment {}: {e}", rec.number))
        })?;
        Ok((cluster, trailer))
    }

    /// Flushes the index; call once at shutdown.
    pub async fn close(&self) -> Result<(), StoreError> {
        self.index().close().await
    }
}

fn check_retention(hours: u32) -> Result<(), Invalid> {
    if hours > MAX_RETENTION_HOURS {
        return Err(Invalid(format!(
            "retention of {hours} hours is over the maximum of {MAX_RETENTION_HOURS} (10 years)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
