//! The group-commit writer: the only code that appends to segment files.
//!
//! Ingest sessions send sealed fragments; the writer works in batches (everything queued at
//! that moment) through a two-stage pipeline:
//! 1. the **append** stage writes each fragment's cluster + trailer to its stream's current
//!    segment file (page cache only) and hands the batch on;
//! 2. the **sync** stage fdatasyncs every file the batch touched (and a new file's directory),
//!    inserts all the batch's index rows in one transaction, and only then answers each sender,
//!    which may then send PERSISTED.
//!
//! While one batch is being synced, the next is being appended, so the disk never waits for
//! the CPU or the other way round; one index commit serves every stream in a batch.
//!
//! Failures: a failed write or fsync fails that stream's fragments (never retried silently,
//! never acknowledged) and poisons its segment: every later fragment already appended to that
//! segment fails too, and the append stage starts a new segment for the stream. The failed
//! bytes are garbage past the segment's last indexed fragment, which start-up recovery
//! truncates (store invariant 2). A failed index commit fails (and poisons) the whole batch.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::fragment::{FragmentDraft, FragmentRecord, TrackHeader};
use super::index::Index;
use super::segment::{self, OpenSegment};
use crate::model::StreamId;
use crate::time::Clock;

/// When the writer starts a new segment file for a stream.
#[derive(Debug, Clone, Copy)]
pub struct Rotation {
    /// Once a segment holds this many bytes.
    pub max_bytes: u64,
    /// Once a segment's first fragment is this old (server time): checked against both the
    /// arriving fragment's server timestamp and the clock, so the writer never appends to a
    /// segment after `started + max_age_ms` by the clock, however slowly a fragment arrived
    /// (retention relies on it to know when a stream's newest segment is closed).
    pub max_age_ms: i64,
}

/// Most fragments in one batch.
const MAX_BATCH: usize = 512;

type Reply = oneshot::Sender<Result<FragmentRecord, StoreError>>;

struct WriteOp {
    stream: StreamId,
    draft: FragmentDraft,
    reply: Reply,
}

/// The handle ingest uses; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<WriteOp>,
}

/// Streams whose current segment the sync stage gave up on; the append stage rotates them.
type Poisoned = Arc<Mutex<HashSet<StreamId>>>;

impl Writer {
    /// Starts the writer's two tasks.
    pub fn start(
        index: Arc<dyn Index>,
        media_root: PathBuf,
        rotation: Rotation,
        clock: Arc<dyn Clock>,
    ) -> Writer {
        let (tx, rx) = mpsc::channel(4096);
        // Capacity 1: one batch syncing, one waiting, one being appended.
        let (to_sync, from_append) = mpsc::channel(1);
        let poisoned: Poisoned = Arc::default();
        let append = AppendStage {
            rx,
            index: Arc::clone(&index),
            media_root,
            rotation,
            clock,
            files: HashMap::new(),
            headers: HashMap::new(),
            poisoned: Arc::clone(&poisoned),
            to_sync,
        };
        let sync = SyncStage {
            rx: from_append,
            index,
            poisoned,
            failed_segments: HashSet::new(),
        };
        tokio::spawn(tracing::Instrument::instrument(
            append.run(),
            tracing::info_span!("writer_append"),
        ));
        tokio::spawn(tracing::Instrument::instrument(
            sync.run(),
            tracing::info_span!("writer_sync"),
        ));
        Writer { tx }
    }

    /// Persists one fragment: returns once its bytes are fsynced and its row committed.
    pub async fn append(
        &self,
        stream: StreamId,
        draft: FragmentDraft,
    ) -> Result<FragmentRecord, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(WriteOp {
                stream,
                draft,
                reply,
            })
            .await
            .map_err(|_| StoreError::internal("the writer has stopped"))?;
        rx.await
            .map_err(|_| StoreError::internal("the writer dropped a fragment"))?
    }
}

/// One file the sync stage must fdatasync.
struct SyncJob {
    path: PathBuf,
    stream: StreamId,
    segment: i64,
    file: Arc<File>,
    /// The directory to fsync too, for a newly created file.
    new_dir: Option<PathBuf>,
}

/// A batch between the stages.
struct Appended {
    ops: Vec<(StreamId, Reply, Result<FragmentRecord, StoreError>)>,
    syncs: Vec<SyncJob>,
}

struct AppendStage {
    rx: mpsc::Receiver<WriteOp>,
    index: Arc<dyn Index>,
    media_root: PathBuf,
    rotation: Rotation,
    clock: Arc<dyn Clock>,
    files: HashMap<StreamId, OpenSegment>,
    /// Last track header stored per stream, to avoid a lookup per fragment.
    headers: HashMap<StreamId, (Arc<TrackHeader>, i64)>,
    poisoned: Poisoned,
    to_sync: mpsc::Sender<Appended>,
}

/// A stream's segment with no append for this long is closed (its descriptor and cached track
/// header released); the stream's next fragment starts a new segment. Producers append every
/// fragment (seconds apart); this is for streams that stopped or were deleted, which would
/// otherwise keep a descriptor each for as long as the server runs.
const IDLE_CLOSE_MS: i64 = 60_000;

impl AppendStage {
    async fn run(mut self) {
        loop {
            let first = match tokio::time::timeout(
                std::time::Duration::from_millis(IDLE_CLOSE_MS as u64 / 2),
                self.rx.recv(),
            )
            .await
            {
                Ok(Some(op)) => op,
                Ok(None) => break,
                Err(_) => {
                    self.close_idle();
                    continue;
                }
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match self.rx.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(_) => break,
                }
            }
            let appended = self.append_batch(batch).await;
            if self.to_sync.send(appended).await.is_err() {
                tracing::error!("the sync stage has stopped");
                return;
            }
        }
        tracing::debug!("writer stopped: every sender is gone");
    }

    /// Closes segments idle for [`IDLE_CLOSE_MS`] or too old to append to (rotation would start
    /// a new one anyway), and forgets those streams' cached track headers.
    fn close_idle(&mut self) {
        let now = self.clock.now().millis();
        let max_age = self.rotation.max_age_ms;
        let before = self.files.len();
        self.files
            .retain(|_, s| now - s.last_append_ms < IDLE_CLOSE_MS && now - s.started_ms < max_age);
        let files = &self.files;
        self.headers.retain(|stream, _| files.contains_key(stream));
        if self.files.len() < before {
            tracing::debug!(closed = before - self.files.len(), "closed idle segments");
        }
    }

    async fn track_header_id(
        &mut self,
        stream: StreamId,
        h: &Arc<TrackHeader>,
    ) -> Result<i64, StoreError> {
        if let Some((known, id)) = self.headers.get(&stream)
            && (Arc::ptr_eq(known, h) || **known == **h)
        {
            return Ok(*id);
        }
        let id = self.index.put_track_header(stream, (**h).clone()).await?;
        self.headers.insert(stream, (Arc::clone(h), id));
        Ok(id)
    }

    async fn append_batch(&mut self, batch: Vec<WriteOp>) -> Appended {
        // Resolve track header ids first (a query only when tracks change).
        let mut jobs = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        for op in batch {
            let h = self
                .track_header_id(op.stream, &op.draft.track_header)
                .await;
            jobs.push((op.stream, op.draft, h));
            replies.push((op.stream, op.reply));
        }
        // Segments the sync stage gave up on are closed; their streams start new ones.
        if let Ok(mut p) = self.poisoned.lock() {
            for s in p.drain() {
                self.files.remove(&s);
            }
        }
        self.close_idle();
        let files = std::mem::take(&mut self.files);
        let media_root = self.media_root.clone();
        let rotation = self.rotation;
        let now_ms = self.clock.now().millis();
        let joined = tokio::task::spawn_blocking(move || {
            append_all(files, &media_root, rotation, now_ms, jobs)
        })
        .await;
        let (placed, syncs) = match joined {
            Ok((files, placed, syncs)) => {
                self.files = files;
                (placed, syncs)
            }
            Err(e) => {
                tracing::error!(error = %e, "append stage panicked; its batch fails");
                let placed = replies
                    .iter()
                    .map(|_| Err(StoreError::internal(format!("writer batch failed: {e}"))))
                    .collect();
                (placed, Vec::new())
            }
        };
        Appended {
            ops: replies
                .into_iter()
                .zip(placed)
                .map(|((s, r), p)| (s, r, p))
                .collect(),
            syncs,
        }
    }
}

type AppendResult = (
    HashMap<StreamId, OpenSegment>,
    Vec<Result<FragmentRecord, StoreError>>,
    Vec<SyncJob>,
);

/// The blocking half of the append stage.
fn append_all(
    mut files: HashMap<StreamId, OpenSegment>,
    media_root: &Path,
    rotation: Rotation,
    now_ms: i64,
    jobs: Vec<(StreamId, FragmentDraft, Result<i64, StoreError>)>,
) -> AppendResult {
    let mut placed = Vec::with_capacity(jobs.len());
    let mut failed: HashMap<StreamId, String> = HashMap::new();
    let mut syncs: Vec<SyncJob> = Vec::new();
    for (stream, draft, header) in jobs {
        if let Some(why) = failed.get(&stream) {
            placed.push(Err(StoreError::internal(format!(
                "an earlier fragment of this stream failed in the same batch: {why}"
            ))));
            continue;
        }
        let result = header.and_then(|header_id| {
            append_one(
                &mut files, media_root, rotation, now_ms, stream, &draft, header_id,
            )
        });
        match &result {
            Ok(rec) => {
                if !syncs
                    .iter()
                    .any(|j| j.stream == stream && j.segment == rec.segment)
                    && let Some(seg) = files.get_mut(&stream)
                {
                    let new_dir = std::mem::take(&mut seg.new)
                        .then(|| segment::stream_dir(media_root, stream));
                    syncs.push(SyncJob {
                        path: segment::segment_path(media_root, stream, seg.segment),
                        stream,
                        segment: seg.segment,
                        file: Arc::clone(&seg.file),
                        new_dir,
                    });
                }
            }
            Err(e) => {
                failed.insert(stream, e.to_string());
                files.remove(&stream);
            }
        }
        placed.push(result);
    }
    (files, placed, syncs)
}

fn append_one(
    files: &mut HashMap<StreamId, OpenSegment>,
    media_root: &Path,
    rotation: Rotation,
    now_ms: i64,
    stream: StreamId,
    draft: &FragmentDraft,
    track_header_id: i64,
) -> Result<FragmentRecord, StoreError> {
    let rotate = files.get(&stream).is_none_or(|s| {
        s.len >= rotation.max_bytes
            || draft.server_ms - s.started_ms >= rotation.max_age_ms
            || now_ms - s.started_ms >= rotation.max_age_ms
    });
    if rotate {
        // The old handle (if any) is still held by the sync stage until its last sync.
        files.remove(&stream);
        let seg = OpenSegment::create(media_root, stream, draft.number.seq, draft.server_ms)?;
        files.insert(stream, seg);
    }
    let seg = files
        .get_mut(&stream)
        .ok_or_else(|| StoreError::internal("segment vanished"))?;
    seg.last_append_ms = now_ms;
    let mut trailer = draft.trailer.clone();
    trailer.cluster_crc = crc32fast::hash(&draft.cluster);
    let trailer = trailer.encode();
    let offset = seg
        .append(&[&draft.cluster, &trailer])
        .map_err(|e| StoreError::io(format!("writing fragment {}", draft.number), e))?;
    let too_big = |what: &str| {
        StoreError::internal(format!("{what} of fragment {} exceeds 4 GiB", draft.number))
    };
    Ok(FragmentRecord {
        number: draft.number,
        producer_ms: draft.producer_ms,
        server_ms: draft.server_ms,
        duration_ms: draft.duration_ms,
        track_header_id,
        segment: seg.segment,
        offset,
        cluster_len: u32::try_from(draft.cluster.len()).map_err(|_| too_big("cluster"))?,
        trailer_len: u32::try_from(trailer.len()).map_err(|_| too_big("trailer"))?,
    })
}

/// Most fsyncs in flight at once. Concurrent fdatasyncs on one file system share journal
/// commits, so a batch touching many streams' files costs a few commits, not one per file.
const SYNC_THREADS: usize = 8;

/// fdatasyncs the jobs, several at a time; returns each job's outcome.
fn sync_all(jobs: Vec<SyncJob>) -> Vec<(StreamId, i64, std::io::Result<()>)> {
    let one = |j: &SyncJob| {
        (
            j.stream,
            j.segment,
            segment::sync(&j.path, &j.file, j.new_dir.as_deref()),
        )
    };
    if jobs.len() <= 1 {
        return jobs.iter().map(one).collect();
    }
    let per_thread = jobs.len().div_ceil(SYNC_THREADS);
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .chunks(per_thread)
            .map(|chunk| scope.spawn(move || chunk.iter().map(one).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .zip(jobs.chunks(per_thread))
            .flat_map(|(h, chunk)| {
                h.join().unwrap_or_else(|_| {
                    chunk
                        .iter()
                        .map(|j| {
                            (
                                j.stream,
                                j.segment,
                                Err(std::io::Error::other("fsync thread panicked")),
                            )
                        })
                        .collect()
                })
            })
            .collect()
    })
}

struct SyncStage {
    rx: mpsc::Receiver<Appended>,
    index: Arc<dyn Index>,
    poisoned: Poisoned,
    /// Segments given up on: any fragment appended to them fails.
    failed_segments: HashSet<(StreamId, i64)>,
}

impl SyncStage {
    async fn run(mut self) {
        while let Some(batch) = self.rx.recv().await {
            self.sync_batch(batch).await;
        }
    }

    fn poison(&mut self, stream: StreamId, segment: i64) {
        self.failed_segments.insert((stream, segment));
        if let Ok(mut p) = self.poisoned.lock() {
            p.insert(stream);
        }
    }

    async fn sync_batch(&mut self, batch: Appended) {
        let jobs = batch.syncs;
        let synced = tokio::task::spawn_blocking(move || sync_all(jobs)).await;
        match synced {
            Ok(results) => {
                for (stream, seg, r) in results {
                    if let Err(e) = r {
                        tracing::error!(stream = stream.0, segment = seg, error = %e, "fsync failed; failing the stream's fragments in that segment");
                        self.poison(stream, seg);
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "sync stage panicked; failing the batch");
                for (stream, _, p) in &batch.ops {
                    if let Ok(r) = p {
                        self.poison(*stream, r.segment);
                    }
                }
            }
        }
        let mut ops = batch.ops;
        for (_, _, p) in &mut ops {
            if let Ok(r) = p
                && self.failed_segments.contains(&(r.number.stream, r.segment))
            {
                *p = Err(StoreError::io(
                    format!("persisting fragment {}", r.number),
                    std::io::Error::other("its segment file could not be made durable"),
                ));
            }
        }
        let rows: Vec<FragmentRecord> = ops
            .iter()
            .filter_map(|(_, _, p)| p.as_ref().ok().copied())
            .collect();
        let committed = if rows.is_empty() {
            Ok(Vec::new())
        } else {
            self.index.append_fragments(rows).await
        };
        if let Ok(refused) = &committed
            && !refused.is_empty()
        {
            // The stream was deleted, or retention marked the segment as garbage (store
            // invariant 10), while these were in flight: they are not indexed, so they fail,
            // and the stream moves on to a new segment. Other streams' rows are unaffected.
            // Retention normally never does this: it waits until a segment is too old for the
            // writer to use (see `retention`).
            for (_, _, p) in &mut ops {
                if let Ok(r) = p
                    && refused.contains(&r.number)
                {
                    tracing::warn!(fragment = %r.number, segment = r.segment, "fragment refused: its stream or segment was deleted while it was being written");
                    let (stream, segment, number) = (r.number.stream, r.segment, r.number);
                    *p = Err(StoreError::internal(format!(
                        "fragment {number} was written while its stream or segment was being deleted"
                    )));
                    self.poison(stream, segment);
                }
            }
        }
        if let Err(e) = &committed {
            // The bytes are fsynced but unindexed: garbage that recovery truncates. Abandon the
            // segments so nothing is indexed after it.
            tracing::error!(error = %e, "index commit failed; failing the batch");
            let segs: Vec<(StreamId, i64)> = ops
                .iter()
                .filter_map(|(s, _, p)| p.as_ref().ok().map(|r| (*s, r.segment)))
                .collect();
            for (s, seg) in segs {
                self.poison(s, seg);
            }
        }
        for (_, reply, p) in ops {
            let result = match (&committed, p) {
                (Ok(_), p) => p,
                (Err(e), _) => Err(StoreError::Database(format!("index commit failed: {e}"))),
            };
            let _ = reply.send(result);
        }
    }
}
