//! Segments moved to object storage: `[store] media = "local-then-object"`, and KVS's storage
//! tiers (a stream's `DefaultStorageTier`, HOT or WARM) on top of it.
//!
//! **Guarantee.** PERSISTED still means what it means on local disk: the fragment's bytes are
//! fsynced in its segment file and its index row is committed. A *sealed* segment (one the
//! writer will never append to again: a later segment exists, or its first fragment is older
//! than the rotation age plus the writer's slack — retention's rule) is then uploaded whole
//! under its object key, `media/<stream-id>/<segment>.seg` below the configured prefix: the
//! local file's bytes up to the end of its last indexed fragment, so every offset in the index
//! holds for the object too. Only after the PUT succeeded does the index record `uploaded_ms`
//! (and only if the segment's summary is unchanged), and only after that commit is the local
//! file deleted. A crash between any two steps leaves a state the next pass finishes: an object
//! without the mark is uploaded again (same key, same bytes), a mark with a local file left
//! deletes the file.
//!
//! **Reads** take the local file when it exists and otherwise a ranged GET of the object; the
//! media cache in front serves repeated reads from memory.
//!
//! **Which segments move**: a WARM stream's as soon as they are sealed; a HOT stream's once their
//! newest fragment is `hot_after_ms` old (never when unset).
//!
//! **Loss window on node loss** (the local disk gone for good): the fragments of segments not
//! uploaded yet — for a WARM stream, up to the rotation age (`segment_max_secs`) plus the
//! writer's slack plus one tiering interval and the upload; for a HOT stream, `hot_after_ms`
//! more. Everything uploaded survives in the object store, and the index says where.
//!
//! **Deletion**: retention's phase 2 and stream deletion delete the objects as well as the files.

use std::sync::Arc;

use bytes::Bytes;

use super::index::SegmentUsage;
use super::object::{ObjectError, ObjectStore};
use super::{Store, StoreError};
use crate::model::{StorageTier, StreamId, StreamStatus};

/// How segments move to object storage.
#[derive(Debug, Clone, Copy, Default)]
pub struct TierPolicy {
    /// A HOT stream's sealed segments move once their newest fragment is this old (server
    /// time); None: they stay local.
    pub hot_after_ms: Option<i64>,
}

/// What one tiering pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TieringReport {
    /// Segments uploaded and recorded.
    pub uploaded: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Local files of uploaded segments removed.
    pub local_removed: usize,
    /// Segments whose upload failed (retried by the next pass).
    pub failed: usize,
}

/// The object key of a segment (below the object store's prefix).
pub fn object_key(stream: StreamId, segment: i64) -> String {
    format!("media/{}/{segment:020}.seg", stream.0)
}

/// The object key prefix of a stream's segments.
pub fn stream_prefix(stream: StreamId) -> String {
    format!("media/{}/", stream.0)
}

/// Maps an object-store failure to the store's error.
pub(super) fn object_error(e: ObjectError) -> StoreError {
    if e.is_retryable() {
        StoreError::ObjectsUnavailable(e.to_string())
    } else if e.is_not_found() {
        StoreError::corruption(format!("object missing: {e}"))
    } else {
        StoreError::Internal(format!("object storage: {e}"))
    }
}

/// Reads `len` bytes at `offset` of a segment's object.
pub(super) async fn read_object(
    objects: &ObjectStore,
    stream: StreamId,
    segment: i64,
    offset: u64,
    len: usize,
) -> Result<Bytes, StoreError> {
    objects
        .get_range(&object_key(stream, segment), offset, len as u64)
        .await
        .map_err(object_error)
}

/// Deletes a segment's object (absent is fine).
pub(super) async fn delete_object(
    objects: &ObjectStore,
    stream: StreamId,
    segment: i64,
) -> Result<(), StoreError> {
    objects
        .delete(&object_key(stream, segment))
        .await
        .map_err(object_error)
}

/// Deletes every object of a stream (its deletion).
pub(super) async fn delete_stream_objects(
    objects: &ObjectStore,
    stream: StreamId,
) -> Result<usize, StoreError> {
    let keys: Vec<String> = objects
        .list(&stream_prefix(stream))
        .await
        .map_err(object_error)?
        .into_iter()
        .map(|o| o.key)
        .collect();
    let failures = objects.delete_many(&keys).await.map_err(object_error)?;
    if let Some(f) = failures.first() {
        return Err(StoreError::ObjectsUnavailable(format!(
            "{} of {} objects of stream {} not deleted (first: {f:?})",
            failures.len(),
            keys.len(),
            stream.0
        )));
    }
    Ok(keys.len())
}

/// One tiering pass over every active stream: uploads the segments that are due, records them,
/// removes their local files.
pub(super) async fn run_once(
    store: &Store,
    objects: &Arc<ObjectStore>,
) -> Result<TieringReport, StoreError> {
    let inner = &store.inner;
    let index = inner.index.as_ref();
    let policy = inner.opts.tiers;
    let now = inner.clock.now().millis();
    let closed_after = inner
        .opts
        .rotation
        .max_age_ms
        .saturating_add(inner.opts.retention.writer_slack_ms);
    let media_root = inner.opts.data_dir.join("media");
    let mut report = TieringReport::default();
    // Only a crash between the mark and the unlink leaves a moved segment's local file: the
    // first pass after the start looks for them, later ones do not stat every moved segment.
    let sweep = !inner
        .tiering_swept
        .swap(true, std::sync::atomic::Ordering::AcqRel);
    for s in index.list_streams(None, None, usize::MAX).await? {
        if !matches!(s.status, StreamStatus::Active | StreamStatus::Updating) {
            continue;
        }
        let usage = index.segment_usage(s.id).await?;
        let ends: std::collections::HashMap<i64, u64> =
            index.segment_ends(s.id).await?.into_iter().collect();
        let newest = usage.len().saturating_sub(1);
        for (i, u) in usage.iter().enumerate() {
            if u.uploaded_ms.is_some() {
                if sweep {
                    report.local_removed += remove_local(&media_root, s.id, u.segment).await?;
                }
                continue;
            }
            let sealed = i < newest || now.saturating_sub(u.first_server_ms) >= closed_after;
            let due = match s.storage_tier {
                StorageTier::Warm => true,
                StorageTier::Hot => policy
                    .hot_after_ms
                    .is_some_and(|age| now.saturating_sub(u.last_server_ms) >= age),
            };
            let Some(&end) = ends.get(&u.segment) else {
                continue;
            };
            if !(sealed && due) {
                continue;
            }
            match upload(store, objects, s.id, *u, end, now).await {
                Ok(true) => {
                    report.uploaded += 1;
                    report.bytes += end;
                    report.local_removed += remove_local(&media_root, s.id, u.segment).await?;
                }
                Ok(false) => {}
                Err(e) => {
                    report.failed += 1;
                    tracing::warn!(stream = s.id.0, segment = u.segment, error = %e, "tiering: upload failed; will retry");
                }
            }
        }
    }
    Ok(report)
}

/// Uploads one sealed segment and records it; false if the segment changed or went meanwhile
/// (its object is then deleted again).
async fn upload(
    store: &Store,
    objects: &ObjectStore,
    stream: StreamId,
    usage: SegmentUsage,
    end: u64,
    now: i64,
) -> Result<bool, StoreError> {
    let media_root = store.inner.opts.data_dir.join("media");
    let len = usize::try_from(end)
        .map_err(|_| StoreError::internal(format!("segment of {end} bytes")))?;
    let segment = usage.segment;
    let bytes = tokio::task::spawn_blocking(move || {
        super::segment::try_read_range(&media_root, stream, segment, 0, len)
    })
    .await
    .map_err(|e| StoreError::internal(format!("tiering task failed: {e}")))??;
    let Some(bytes) = bytes else {
        return Err(StoreError::corruption(format!(
            "segment {segment} of stream {} is neither on disk nor uploaded",
            stream.0
        )));
    };
    let key = object_key(stream, segment);
    objects
        .put(&key, Bytes::from(bytes))
        .await
        .map_err(object_error)?;
    if store.inner.index.mark_uploaded(stream, usage, now).await? {
        tracing::info!(
            stream = stream.0,
            segment,
            bytes = end,
            "tiering: segment moved to object storage"
        );
        return Ok(true);
    }
    // Retention or a deletion took the segment meanwhile (or it changed): the object must not
    // outlive it.
    delete_object(objects, stream, segment).await?;
    Ok(false)
}

/// Removes a segment's local file if it is there; 1 if it was.
async fn remove_local(
    media_root: &std::path::Path,
    stream: StreamId,
    segment: i64,
) -> Result<usize, StoreError> {
    let root = media_root.to_owned();
    let removed = tokio::task::spawn_blocking(move || {
        super::recovery::remove_segment(&root, stream, segment)
    })
    .await
    .map_err(|e| StoreError::internal(format!("tiering task failed: {e}")))??;
    Ok(usize::from(removed > 0))
}

#[cfg(test)]
mod tests;
