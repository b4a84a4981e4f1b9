//! The group-commit writer: the only code that appends to segment files.
//!
//! Ingest sessions send sealed fragments; the writer takes everything queued at that moment as
//! one batch and, for each batch:
//! 1. appends each fragment's cluster + trailer to its stream's current segment file;
//! 2. fdatasyncs every file the batch touched (and a new file's directory);
//! 3. inserts all the batch's index rows in one transaction;
//! 4. only then answers each sender, which may then send PERSISTED.
//!
//! So one index commit serves every stream with data in the batch, and a busy server does fewer
//! commits than fragments. A failed write or fsync fails that stream's fragments in the batch
//! (never retried silently, never acknowledged) and closes its segment file: the next fragment
//! starts a new segment, and the bytes of the failed ones are garbage past the last indexed
//! fragment, which start-up recovery truncates (store invariant 2).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::fragment::{FragmentDraft, FragmentRecord, TrackHeader};
use super::index::Index;
use super::segment::OpenSegment;
use crate::model::StreamId;

/// When the writer starts a new segment file for a stream.
#[derive(Debug, Clone, Copy)]
pub struct Rotation {
    /// Once a segment holds this many bytes.
    pub max_bytes: u64,
    /// Once a segment's first fragment is this old (server time).
    pub max_age_ms: i64,
}

/// Most fragments in one batch.
const MAX_BATCH: usize = 512;

struct WriteOp {
    stream: StreamId,
    draft: FragmentDraft,
    reply: oneshot::Sender<Result<FragmentRecord, StoreError>>,
}

/// The handle ingest uses; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<WriteOp>,
}

impl Writer {
    /// Starts the writer task.
    pub fn start(index: Arc<dyn Index>, media_root: PathBuf, rotation: Rotation) -> Writer {
        let (tx, rx) = mpsc::channel(4096);
        let task = WriterTask {
            rx,
            index,
            media_root,
            rotation,
            files: HashMap::new(),
            headers: HashMap::new(),
        };
        tokio::spawn(tracing::Instrument::instrument(
            task.run(),
            tracing::info_span!("writer"),
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
            .map_err(|_| StoreError::Database("the writer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Database("the writer dropped a fragment".into()))?
    }
}

struct WriterTask {
    rx: mpsc::Receiver<WriteOp>,
    index: Arc<dyn Index>,
    media_root: PathBuf,
    rotation: Rotation,
    files: HashMap<StreamId, OpenSegment>,
    /// Last track header stored per stream, to avoid a lookup per fragment.
    headers: HashMap<StreamId, (Arc<TrackHeader>, i64)>,
}

/// What the blocking half returns for one op.
type Placed = Result<FragmentRecord, StoreError>;

impl WriterTask {
    async fn run(mut self) {
        while let Some(first) = self.rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match self.rx.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(_) => break,
                }
            }
            self.write_batch(batch).await;
        }
        tracing::debug!("writer stopped: every sender is gone");
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

    async fn write_batch(&mut self, batch: Vec<WriteOp>) {
        // Resolve track header ids first (rarely a query: only when tracks change).
        let mut header_ids = Vec::with_capacity(batch.len());
        for op in &batch {
            header_ids.push(
                self.track_header_id(op.stream, &op.draft.track_header)
                    .await,
            );
        }
        let files = std::mem::take(&mut self.files);
        let media_root = self.media_root.clone();
        let rotation = self.rotation;
        let jobs: Vec<(StreamId, FragmentDraft, Result<i64, StoreError>)> = batch
            .iter()
            .zip(header_ids)
            .map(|(op, h)| (op.stream, op.draft.clone(), h))
            .collect();
        let joined =
            tokio::task::spawn_blocking(move || place_and_sync(files, &media_root, rotation, jobs))
                .await;
        let placed: Vec<Placed> = match joined {
            Ok((files, placed)) => {
                self.files = files;
                placed
            }
            Err(e) => {
                tracing::error!(error = %e, "writer batch panicked; all its fragments fail");
                batch
                    .iter()
                    .map(|_| Err(StoreError::Database(format!("writer batch failed: {e}"))))
                    .collect()
            }
        };
        let rows: Vec<FragmentRecord> = placed
            .iter()
            .filter_map(|p| p.as_ref().ok().copied())
            .collect();
        let committed = if rows.is_empty() {
            Ok(())
        } else {
            self.index.append_fragments(rows).await
        };
        if let Err(e) = &committed {
            // The bytes are fsynced but unindexed: garbage that recovery truncates. Close the
            // files so no later fragment is appended after them.
            tracing::error!(error = %e, "index commit failed; failing the batch");
            for op in &batch {
                self.files.remove(&op.stream);
            }
        }
        for (op, p) in batch.into_iter().zip(placed) {
            let result = match (&committed, p) {
                (Ok(()), p) => p,
                (Err(e), _) => Err(StoreError::Database(format!("index commit failed: {e}"))),
            };
            let _ = op.reply.send(result);
        }
    }
}

/// The blocking half: append every job to its segment, then fsync each touched file.
fn place_and_sync(
    mut files: HashMap<StreamId, OpenSegment>,
    media_root: &std::path::Path,
    rotation: Rotation,
    jobs: Vec<(StreamId, FragmentDraft, Result<i64, StoreError>)>,
) -> (HashMap<StreamId, OpenSegment>, Vec<Placed>) {
    let mut placed: Vec<Placed> = Vec::with_capacity(jobs.len());
    let mut failed: HashMap<StreamId, String> = HashMap::new();
    let mut touched: Vec<StreamId> = Vec::new();
    for (stream, draft, header) in jobs {
        if let Some(why) = failed.get(&stream) {
            placed.push(Err(StoreError::Database(format!(
                "an earlier fragment of this stream failed in the same batch: {why}"
            ))));
            continue;
        }
        let result = header.and_then(|header_id| {
            append_one(&mut files, media_root, rotation, stream, &draft, header_id)
        });
        match &result {
            Ok(_) => {
                if !touched.contains(&stream) {
                    touched.push(stream);
                }
            }
            Err(e) => {
                failed.insert(stream, e.to_string());
                files.remove(&stream);
            }
        }
        placed.push(result);
    }
    for stream in touched {
        if failed.contains_key(&stream) {
            continue;
        }
        let Some(seg) = files.get_mut(&stream) else {
            continue;
        };
        if let Err(e) = seg.sync(media_root, stream) {
            tracing::error!(stream = stream.0, error = %e, "fsync failed; failing the stream's fragments");
            files.remove(&stream);
            failed.insert(stream, e.to_string());
        }
    }
    // Turn successes of streams whose fsync failed into failures.
    let placed = placed
        .into_iter()
        .map(|p| match p {
            Ok(r) => match failed.get(&r.number.stream) {
                Some(why) => Err(StoreError::io(
                    format!("persisting fragment {}", r.number),
                    std::io::Error::other(why.clone()),
                )),
                None => Ok(r),
            },
            Err(e) => Err(e),
        })
        .collect();
    (files, placed)
}

fn append_one(
    files: &mut HashMap<StreamId, OpenSegment>,
    media_root: &std::path::Path,
    rotation: Rotation,
    stream: StreamId,
    draft: &FragmentDraft,
    track_header_id: i64,
) -> Result<FragmentRecord, StoreError> {
    let rotate = files.get(&stream).is_none_or(|s| {
        s.len >= rotation.max_bytes || draft.server_ms - s.started_ms >= rotation.max_age_ms
    });
    if rotate {
        // The old handle (if any) was fsynced with its last batch.
        files.remove(&stream);
        let seg = OpenSegment::create(media_root, stream, draft.number.seq, draft.server_ms)?;
        files.insert(stream, seg);
    }
    let seg = files
        .get_mut(&stream)
        .ok_or_else(|| StoreError::Database("segment vanished".into()))?;
    let mut trailer = draft.trailer.clone();
    trailer.cluster_crc = crc32fast::hash(&draft.cluster);
    let trailer = trailer.encode();
    let offset = seg
        .append(&[&draft.cluster, &trailer])
        .map_err(|e| StoreError::io(format!("writing fragment {}", draft.number), e))?;
    let too_big = |what: &str| {
        StoreError::Database(format!("{what} of fragment {} exceeds 4 GiB", draft.number))
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
