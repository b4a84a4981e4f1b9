//! Start-up recovery of the media directory (store invariants 4, 6 and 11).
//!
//! First, retention's phase 2 is finished for every garbage row (no reader exists yet, so no hold
//! and no grace period applies): the file is deleted if still there, then the row is forgotten.
//! A crash between the two leaves the row, and the next start deletes nothing and forgets it.
//!
//! After a crash, a segment file may hold bytes past its last indexed fragment (written, maybe
//! fsynced, but never committed to the index): they were never acknowledged and are truncated.
//! A segment file without any indexed fragment, and a stream directory without a stream row, are
//! orphans and are removed. Indexed bytes that are missing are corruption: recovery reports them
//! loudly and leaves them for `vidstream check` and the operator.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::path::Path;

use super::StoreError;
use super::segment::{parse_segment_name, segment_path, stream_dir};
use crate::model::StreamId;

/// What recovery did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segment files cut back to their last indexed fragment.
    pub truncated_files: usize,
    /// Bytes cut.
    pub truncated_bytes: u64,
    /// Orphan segment files and stream directories removed.
    pub removed: usize,
    /// Segment files shorter than their index says (corruption).
    pub short_files: Vec<String>,
    /// Garbage rows whose deletion (retention phase 2) recovery finished.
    pub garbage_swept: usize,
}

/// Deletes a segment file; returns its size, or 0 if it was already gone. No directory fsync:
/// should the unlink not survive a crash, the file has no indexed fragment and start-up recovery
/// removes it as an orphan.
pub fn remove_segment(
    media_root: &Path,
    stream: StreamId,
    segment: i64,
) -> Result<u64, StoreError> {
    let path = segment_path(media_root, stream, segment);
    let len = match std::fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(StoreError::io(format!("reading {}", path.display()), e)),
    };
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(len),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(StoreError::io(format!("removing {}", path.display()), e)),
    }
}

/// Recovers `media_root` given, per known stream, `(segment, end of last fragment)` pairs.
pub fn recover_media(
    media_root: &Path,
    streams: &HashMap<StreamId, Vec<(i64, u64)>>,
) -> Result<RecoveryReport, StoreError> {
    let mut report = RecoveryReport::default();
    let io = |what: String| move |e| StoreError::io(what, e);
    let entries =
        std::fs::read_dir(media_root).map_err(io(format!("listing {}", media_root.display())))?;
    for entry in entries {
        let entry = entry.map_err(io(format!("listing {}", media_root.display())))?;
        let path = entry.path();
        let id = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i64>().ok())
            .map(StreamId);
        match id.and_then(|id| streams.get(&id).map(|ends| (id, ends))) {
            None => {
                tracing::warn!(path = %path.display(), "recovery: removing media of a stream that no longer exists");
                std::fs::remove_dir_all(&path)
                    .map_err(io(format!("removing {}", path.display())))?;
                report.removed += 1;
            }
            Some((id, ends)) => recover_stream(media_root, id, ends, &mut report)?,
        }
    }
    Ok(report)
}

fn recover_stream(
    media_root: &Path,
    stream: StreamId,
    ends: &[(i64, u64)],
    report: &mut RecoveryReport,
) -> Result<(), StoreError> {
    let dir = stream_dir(media_root, stream);
    let io = |what: String| move |e| StoreError::io(what, e);
    let ends: HashMap<i64, u64> = ends.iter().copied().collect();
    let mut changed = false;
    for entry in std::fs::read_dir(&dir).map_err(io(format!("listing {}", dir.display())))? {
        let entry = entry.map_err(io(format!("listing {}", dir.display())))?;
        let path = entry.path();
        let Some(segment) = entry.file_name().to_str().and_then(parse_segment_name) else {
            tracing::warn!(path = %path.display(), "recovery: ignoring a file that is not a segment");
            continue;
        };
        let len = entry
            .metadata()
            .map_err(io(format!("reading {}", path.display())))?
            .len();
        match ends.get(&segment) {
            None => {
                tracing::info!(path = %path.display(), len, "recovery: removing a segment with no indexed fragment");
                std::fs::remove_file(&path).map_err(io(format!("removing {}", path.display())))?;
                report.removed += 1;
                changed = true;
            }
            Some(&end) if len > end => {
                tracing::info!(path = %path.display(), garbage = len - end, "recovery: truncating bytes past the last indexed fragment");
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io(format!("opening {}", path.display())))?;
                f.set_len(end)
                    .map_err(io(format!("truncating {}", path.display())))?;
                f.sync_all()
                    .map_err(io(format!("syncing {}", path.display())))?;
                report.truncated_files += 1;
                report.truncated_bytes += len - end;
            }
            Some(&end) if len < end => {
                tracing::error!(path = %path.display(), len, indexed_end = end, "recovery: segment is shorter than its index; run vidstream check");
                report.short_files.push(path.display().to_string());
            }
            Some(_) => {}
        }
    }
    if changed {
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io(format!("syncing {}", dir.display())))?;
    }
    Ok(())
}
