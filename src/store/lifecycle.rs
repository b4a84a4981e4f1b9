//! A stream's lifecycle steps that touch storage (provisioning, the end of a deletion) and the
//! start-up recovery built on them: opening the index, finishing transitions and retention's
//! phase 2 that a previous process left half done, and recovering the media directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::index::{self, Index};
use super::{IndexBackend, RecoveryReport, StoreError, object, recovery, segment, tiering};
use crate::model::{StreamChanges, StreamRecord, StreamStatus, Version};

fn media_dir(data_dir: &Path, s: &StreamRecord) -> PathBuf {
    segment::stream_dir(&data_dir.join("media"), s.id)
}

/// Opens (creating or upgrading) the configured index.
pub(crate) async fn open_index(
    backend: &IndexBackend,
    dir: &Path,
) -> Result<Arc<dyn Index>, StoreError> {
    match backend {
        IndexBackend::Sqlite => {
            let path = dir.join("index.sqlite");
            let index =
                tokio::task::spawn_blocking(move || index::sqlite::SqliteIndex::open(&path))
                    .await
                    .map_err(|e| StoreError::internal(format!("opening index: {e}")))??;
            Ok(Arc::new(index))
        }
        IndexBackend::Postgres { url, pool_size } => Ok(Arc::new(
            index::postgres::PgIndex::connect(url, *pool_size).await?,
        )),
    }
}

/// Provisions a stream's storage and moves it CREATING → ACTIVE.
pub(super) async fn activate(
    index: &dyn Index,
    data_dir: &Path,
    s: &StreamRecord,
) -> Result<(), StoreError> {
    let dir = media_dir(data_dir, s);

    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)
            .map_err(|e| StoreError::io(format!("creating {}", dir.display()), e))
    })
    .await
    .map_err(|e| StoreError::internal(format!("provisioning task failed: {e}")))??;
    let changes = StreamChanges {
        status: Some(StreamStatus::Active),
        ..Default::default()
    };
    // Activation is not a user update, but it still changes the row, so it takes a new
    // version (invariant 3). A concurrent user update wins; we then retry on the new row.
    let mut current = s.clone();
    loop {
        match index
            .update_stream(
                current.id,
                &current.version,
                &Version::random(),
                changes.clone(),
            )
            .await
        {
            Ok(_) => return Ok(()),
            Err(StoreError::VersionMismatch { .. }) => {
                match index.stream_by_name(&current.name).await? {
                    Some(now) if now.id == s.id && now.status == StreamStatus::Creating => {
                        current = now
                    }
                    _ => return Ok(()), // deleted or already active meanwhile
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Removes a DELETING stream's media, then its row (so a crash in between is finished by
/// recovery, invariant 4).
pub(super) async fn finish_delete(
    index: &dyn Index,
    data_dir: &Path,
    objects: Option<&object::ObjectStore>,
    s: &StreamRecord,
) -> Result<(), StoreError> {
    let dir = media_dir(data_dir, s);
    if let Some(objects) = objects {
        let n = tiering::delete_stream_objects(objects, s.id).await?;
        tracing::debug!(stream = %s.name, objects = n, "stream's objects deleted");
    }

    tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io(format!("removing {}", dir.display()), e)),
    })
    .await
    .map_err(|e| StoreError::internal(format!("deletion task failed: {e}")))??;
    index.delete_stream(s.id).await?;
    tracing::info!(stream = %s.name, id = s.id.0, "stream deleted");
    Ok(())
}

/// Finishes transitions a previous process left half done (invariant 4).
pub(super) async fn recover_transitions(
    index: &dyn Index,
    data_dir: &Path,
    objects: Option<&object::ObjectStore>,
) -> Result<(), StoreError> {
    for s in index.streams_with_status(StreamStatus::Creating).await? {
        tracing::info!(stream = %s.name, "recovery: finishing stream creation");
        activate(index, data_dir, &s).await?;
    }
    for s in index.streams_with_status(StreamStatus::Deleting).await? {
        tracing::info!(stream = %s.name, "recovery: finishing stream deletion");
        finish_delete(index, data_dir, objects, &s).await?;
    }
    Ok(())
}

/// Finishes retention's phase 2 for every garbage row (invariant 11): no reader exists yet.
pub(super) async fn recover_garbage(
    index: &dyn Index,
    data_dir: &Path,
    objects: Option<&object::ObjectStore>,
) -> Result<usize, StoreError> {
    let garbage = index.garbage().await?;
    for g in &garbage {
        if let Some(objects) = objects
            && let Err(e) = tiering::delete_object(objects, g.stream, g.segment).await
        {
            // Left listed: the retention job tries again.
            tracing::warn!(stream = g.stream.0, segment = g.segment, error = %e, "recovery: cannot delete a segment's object yet");
            continue;
        }
        let root = data_dir.join("media");
        let (stream, segment) = (g.stream, g.segment);
        let bytes =
            tokio::task::spawn_blocking(move || recovery::remove_segment(&root, stream, segment))
                .await
                .map_err(|e| StoreError::internal(format!("recovery task failed: {e}")))??;
        index.forget_garbage(stream, segment).await?;
        tracing::info!(
            stream = stream.0,
            segment,
            bytes,
            "recovery: finished deleting a segment retention had marked"
        );
    }
    Ok(garbage.len())
}

/// Truncates torn tails and removes orphans under `media/` (invariant 2).
pub(super) async fn recover_media(
    index: &dyn Index,
    data_dir: &Path,
) -> Result<RecoveryReport, StoreError> {
    let mut ends = HashMap::new();
    for s in index.list_streams(None, None, usize::MAX).await? {
        ends.insert(s.id, index.segment_ends(s.id).await?);
    }
    let media_root = data_dir.join("media");
    let report = tokio::task::spawn_blocking(move || recovery::recover_media(&media_root, &ends))
        .await
        .map_err(|e| StoreError::internal(format!("recovery task failed: {e}")))??;
    if report != RecoveryReport::default() {
        tracing::info!(?report, "media recovery done");
    }
    Ok(report)
}
