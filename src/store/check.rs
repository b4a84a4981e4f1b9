//! `vidstream check`: verifies a data directory against the store's invariants, without
//! changing anything. The server must be stopped (the check takes the directory's lock).
//!
//! What is checked, per stream: fragment rows have increasing producer timestamps; every row's
//! bytes lie inside its segment file; the fragments of a segment tile it exactly from byte 0 to
//! the end of the file (no holes, no overlap, no garbage past the last indexed fragment:
//! invariant 2); each stored cluster parses as one MKV Cluster whose frames match its frame
//! table and its CRC-32; each row's track header exists; the `segments` summary agrees with the
//! fragment rows; no segment marked as garbage still has fragment rows (invariant 10). Across the
//! directory: no segment file without fragments unless it is marked as garbage (retention's
//! phase 2 pending, invariant 11), no media directory without a stream.
//!
//! Segments moved to object storage (`store::tiering`) are read from there and checked the
//! same way (each object fetched once); an object that belongs to no uploaded segment is a
//! leftover, and so is the local file of a segment that was moved. Without the object store's
//! settings, a moved segment cannot be verified: that is a problem, with what to do.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::Path;

use super::IndexBackend;
use super::StoreError;
use super::fragment::{FragmentRecord, Trailer};
use super::index::{FragmentQuery, SegmentUsage};
use super::object::{ObjectStore, ObjectStoreOptions};
use super::segment::{parse_segment_name, segment_path, stream_dir};
use crate::mkv;
use crate::model::StreamId;

/// The outcome of a check.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// Streams checked.
    pub streams: usize,
    /// Fragments checked.
    pub fragments: usize,
    /// Bytes of fragments read and verified.
    pub bytes: u64,
    /// Every violation found, one line each.
    pub problems: Vec<String>,
    /// Leftovers of writes that failed or were cut short (a crash, a disk error): bytes past a
    /// segment's last indexed fragment, segment files with no indexed fragment. They were never
    /// acknowledged nor visible, and start-up recovery removes them; not problems.
    pub leftovers: Vec<String>,
}

/// Checks the data directory at `data_dir`.
pub async fn check(
    data_dir: &Path,
    index: &IndexBackend,
    objects: Option<&ObjectStoreOptions>,
) -> Result<CheckReport, StoreError> {
    let objects = objects
        .map(ObjectStore::new)
        .transpose()
        .map_err(super::tiering::object_error)?;
    let lock_path = data_dir.join("LOCK");
    let lock = File::options()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| StoreError::io(format!("opening {}", lock_path.display()), e))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(StoreError::DataDirLocked(data_dir.display().to_string()));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(StoreError::io(
                format!("locking {}", lock_path.display()),
                e,
            ));
        }
    }
    let index = super::open_index(index, data_dir).await?;
    let media_root = data_dir.join("media");
    let mut report = CheckReport::default();
    let streams = index.list_streams(None, None, usize::MAX).await?;
    let known: HashSet<StreamId> = streams.iter().map(|s| s.id).collect();
    let mut garbage: HashMap<StreamId, HashSet<i64>> = HashMap::new();
    for g in index.garbage().await? {
        garbage.entry(g.stream).or_default().insert(g.segment);
    }
    let all_garbage = garbage.clone();
    let mut uploaded: HashMap<StreamId, HashSet<i64>> = HashMap::new();
    for s in &streams {
        report.streams += 1;
        let mut segments: BTreeMap<i64, Vec<FragmentRecord>> = BTreeMap::new();
        let mut after = None;
        let mut last_producer = i64::MIN;
        let mut headers_seen: HashSet<i64> = HashSet::new();
        loop {
            let page = index
                .list_fragments(FragmentQuery {
                    stream: s.id,
                    range: None,
                    after_seq: after,
                    limit: 1000,
                })
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.number.seq);
            for f in page {
                report.fragments += 1;
                if f.producer_ms < last_producer {
                    report.problems.push(format!(
                        "stream {}: fragment {} has an earlier producer timestamp than the one before it",
                        s.name, f.number
                    ));
                }
                last_producer = f.producer_ms;
                if headers_seen.insert(f.track_header_id)
                    && index.track_header(f.track_header_id).await?.is_none()
                {
                    report.problems.push(format!(
                        "stream {}: fragment {} refers to missing track header {}",
                        s.name, f.number, f.track_header_id
                    ));
                }
                segments.entry(f.segment).or_default().push(f);
            }
        }
        let usage = index.segment_usage(s.id).await?;
        report
            .problems
            .extend(check_summary(s.name.as_str(), &segments, &usage));
        // Segments in object storage are checked there; their local files are leftovers.
        let moved: HashSet<i64> = usage
            .iter()
            .filter(|u| u.uploaded_ms.is_some())
            .map(|u| u.segment)
            .collect();
        let mut remote = BTreeMap::new();
        for seg in &moved {
            if let Some(frags) = segments.remove(seg) {
                remote.insert(*seg, frags);
            }
        }
        uploaded.insert(s.id, moved.clone());
        let mut found = Found::default();
        report.bytes +=
            check_objects(objects.as_ref(), s.name.as_str(), s.id, remote, &mut found).await;
        report.problems.extend(found.problems);
        report.leftovers.extend(found.leftovers);
        let marked = garbage.remove(&s.id).unwrap_or_default();
        for seg in &marked {
            if segments.contains_key(seg) {
                report.problems.push(format!(
                    "stream {}: segment {seg} is marked as garbage but still has fragment rows",
                    s.name
                ));
            }
        }
        let root = media_root.clone();
        let name = s.name.to_string();
        let id = s.id;
        let (found, bytes) = tokio::task::spawn_blocking(move || {
            check_stream_files(&root, id, &name, segments, &marked, &moved)
        })
        .await
        .map_err(|e| StoreError::internal(format!("check task failed: {e}")))?;
        report.problems.extend(found.problems);
        report.leftovers.extend(found.leftovers);
        report.bytes += bytes;
    }
    // Media directories of streams that do not exist.
    if let Ok(entries) = std::fs::read_dir(&media_root) {
        for e in entries.flatten() {
            let id = e.file_name().to_str().and_then(|n| n.parse::<i64>().ok());
            if !id.is_some_and(|id| known.contains(&StreamId(id))) {
                report.leftovers.push(format!(
                    "{} is not the media directory of any stream (the next start removes it)",
                    e.path().display()
                ));
            }
        }
    }
    if let Some(objects) = &objects {
        report.leftovers.extend(
            stray_objects(objects, &uploaded, &all_garbage)
                .await
                .map_err(super::tiering::object_error)?,
        );
    }
    drop(lock);
    Ok(report)
}

/// Checks one stream's segments in object storage (fetching each object once); returns the
/// bytes verified.
async fn check_objects(
    objects: Option<&ObjectStore>,
    name: &str,
    stream: StreamId,
    remote: BTreeMap<i64, Vec<FragmentRecord>>,
    found: &mut Found,
) -> u64 {
    let mut bytes = 0;
    for (seg, frags) in remote {
        let key = super::tiering::object_key(stream, seg);
        let Some(objects) = objects else {
            found.problems.push(format!(
                "stream {name}: segment {seg} is in object storage ({key}) and cannot be \
                 verified without it: run check with the server's config (--config, \
                 VIDSTREAM_STORE__*)"
            ));
            continue;
        };
        let body = match objects.get(&key).await {
            Ok(b) => b,
            Err(e) => {
                found.problems.push(format!(
                    "stream {name}: segment {seg} holds {} fragments but its object cannot be read: {e}",
                    frags.len()
                ));
                continue;
            }
        };
        let label = format!("object {key}");
        bytes += verify_segment(
            found,
            name,
            &label,
            frags,
            body.len() as u64,
            |offset, len| {
                let start = usize::try_from(offset).map_err(|e| e.to_string())?;
                body.get(start..start.saturating_add(len))
                    .map(<[u8]>::to_vec)
                    .ok_or_else(|| format!("{label} ends before byte {}", offset + len as u64))
            },
        );
    }
    bytes
}

/// Objects under `media/` that belong to no uploaded segment (nor one awaiting deletion).
async fn stray_objects(
    objects: &ObjectStore,
    uploaded: &HashMap<StreamId, HashSet<i64>>,
    garbage: &HashMap<StreamId, HashSet<i64>>,
) -> Result<Vec<String>, super::object::ObjectError> {
    let mut stray = Vec::new();
    for o in objects.list("media/").await? {
        let parsed = o.key.strip_prefix("media/").and_then(|rest| {
            let (id, file) = rest.split_once('/')?;
            Some((StreamId(id.parse().ok()?), parse_segment_name(file)?))
        });
        let known = parsed.is_some_and(|(id, seg)| {
            uploaded.get(&id).is_some_and(|s| s.contains(&seg))
                || garbage.get(&id).is_some_and(|s| s.contains(&seg))
        });
        if !known {
            stray.push(format!(
                "object {} belongs to no moved segment (an upload cut short, or a deletion not \
                 finished; safe to delete)",
                o.key
            ));
        }
    }
    Ok(stray)
}

/// Compares the `segments` summary with what the fragment rows say.
fn check_summary(
    name: &str,
    segments: &BTreeMap<i64, Vec<FragmentRecord>>,
    usage: &[SegmentUsage],
) -> Vec<String> {
    let mut problems = Vec::new();
    let summary: BTreeMap<i64, &SegmentUsage> = usage.iter().map(|u| (u.segment, u)).collect();
    for (seg, frags) in segments {
        let (Some(first), Some(got)) = (frags.first(), summary.get(seg)) else {
            problems.push(format!(
                "stream {name}: segment {seg} has fragments but no summary row"
            ));
            continue;
        };
        let want = SegmentUsage {
            segment: *seg,
            first_server_ms: first.server_ms,
            last_server_ms: frags
                .iter()
                .map(|f| f.server_ms)
                .max()
                .unwrap_or(first.server_ms),
            last_seq: frags
                .iter()
                .map(|f| f.number.seq)
                .max()
                .unwrap_or(first.number.seq),
            fragments: frags.len() as u64,
            bytes: frags.iter().map(|f| f.end() - f.offset).sum(),
            // Where the bytes are is not derivable from the rows.
            uploaded_ms: got.uploaded_ms,
        };
        if **got != want {
            problems.push(format!(
                "stream {name}: summary of segment {seg} is {got:?}, its fragments say {want:?}"
            ));
        }
    }
    for seg in summary.keys() {
        if !segments.contains_key(seg) {
            problems.push(format!(
                "stream {name}: segment {seg} has a summary row but no fragments"
            ));
        }
    }
    problems
}

/// What [`check_stream_files`] found.
#[derive(Default)]
struct Found {
    problems: Vec<String>,
    leftovers: Vec<String>,
}

/// Checks one stream's segment files; returns what it found and the bytes verified. Files of
/// segments in `marked` (garbage awaiting deletion) may exist without fragments.
fn check_stream_files(
    media_root: &Path,
    stream: StreamId,
    name: &str,
    segments: BTreeMap<i64, Vec<FragmentRecord>>,
    marked: &HashSet<i64>,
    moved: &HashSet<i64>,
) -> (Found, u64) {
    let mut found = Found::default();
    let mut bytes = 0u64;
    let dir = stream_dir(media_root, stream);
    // Segment files on disk without fragments.
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            match e.file_name().to_str().and_then(parse_segment_name) {
                Some(seg) if segments.contains_key(&seg) || marked.contains(&seg) => {}
                Some(seg) if moved.contains(&seg) => found.leftovers.push(format!(
                    "stream {name}: {} was moved to object storage (the next tiering pass \
                     removes the local copy)",
                    e.path().display()
                )),
                _ => found.leftovers.push(format!(
                    "stream {name}: {} holds no indexed fragment (the next start removes it)",
                    e.path().display()
                )),
            }
        }
    }
    for (seg, frags) in segments {
        let path = segment_path(media_root, stream, seg);
        let len = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) => {
                found.problems.push(format!(
                    "stream {name}: segment {} is unreadable ({e}) but holds {} fragments",
                    path.display(),
                    frags.len()
                ));
                continue;
            }
        };
        let label = path.display().to_string();
        bytes += verify_segment(&mut found, name, &label, frags, len, |offset, len| {
            super::segment::read_range(media_root, stream, seg, offset, len)
                .map_err(|e| e.to_string())
        });
    }
    (found, bytes)
}

/// Checks that `frags` tile a segment of `len` bytes (`label` names it) from byte 0, and each
/// one's bytes (read by `read(offset, len)`); returns the bytes verified.
fn verify_segment(
    found: &mut Found,
    name: &str,
    label: &str,
    mut frags: Vec<FragmentRecord>,
    len: u64,
    read: impl Fn(u64, usize) -> Result<Vec<u8>, String>,
) -> u64 {
    let mut bytes = 0;
    frags.sort_by_key(|f| f.offset);
    let mut expect = 0u64;
    for f in &frags {
        if f.offset != expect {
            found.problems.push(format!(
                "stream {name}: fragment {} starts at byte {} of {label}, expected {expect}",
                f.number, f.offset
            ));
        }
        expect = f.end();
        if f.end() > len {
            found.problems.push(format!(
                "stream {name}: fragment {} ends at byte {} past the end of {label} ({len} bytes): torn",
                f.number,
                f.end()
            ));
            continue;
        }
        match read(f.offset, (f.cluster_len + f.trailer_len) as usize) {
            Ok(buf) => {
                bytes += buf.len() as u64;
                if let Err(why) = verify_fragment(&buf, f) {
                    found
                        .problems
                        .push(format!("stream {name}: fragment {}: {why}", f.number));
                }
            }
            Err(e) => found
                .problems
                .push(format!("stream {name}: fragment {}: {e}", f.number)),
        }
    }
    if expect < len {
        found.leftovers.push(format!(
            "stream {name}: {label} has {} bytes past its last indexed fragment (never \
             acknowledged; the next start truncates them)",
            len - expect
        ));
    }
    bytes
}

/// Parses a stored cluster and compares it with its frame table.
fn verify_fragment(buf: &[u8], f: &FragmentRecord) -> Result<(), String> {
    let (cluster, trailer) = buf.split_at(f.cluster_len as usize);
    let trailer = Trailer::decode(trailer).map_err(|e| e.to_string())?;
    if crc32fast::hash(cluster) != trailer.cluster_crc {
        return Err("cluster bytes do not match their checksum (corrupted on disk)".into());
    }
    let mut doc = Vec::with_capacity(cluster.len() + 64);
    mkv::write_ebml_header(&mut doc, "matroska");
    mkv::write_segment_start_unknown(&mut doc);
    doc.extend_from_slice(cluster);
    let mut r = mkv::Reader::new(mkv::Limits::default());
    r.push(&doc);
    let mut events = Vec::new();
    loop {
        match r.pull() {
            Ok(Some(e)) => events.push(e),
            Ok(None) => break,
            Err(e) => return Err(format!("stored cluster does not parse: {e}")),
        }
    }
    events.extend(
        r.finish()
            .map_err(|e| format!("stored cluster is incomplete: {e}"))?,
    );
    let clusters = events
        .iter()
        .filter(|e| matches!(e, mkv::Event::ClusterStart { .. }))
        .count();
    if clusters != 1 {
        return Err(format!("holds {clusters} clusters, expected 1"));
    }
    let frames: Vec<&mkv::Frame> = events
        .iter()
        .filter_map(|e| match e {
            mkv::Event::Frame(fr) => Some(fr),
            _ => None,
        })
        .collect();
    if frames.len() != trailer.frames.len() {
        return Err(format!(
            "cluster has {} frames, frame table {}",
            frames.len(),
            trailer.frames.len()
        ));
    }
    for (i, (fr, fe)) in frames.iter().zip(&trailer.frames).enumerate() {
        let at = fe.offset as usize;
        let payload = cluster.get(at..at + fe.len as usize);
        if u64::from(fe.track) != fr.track
            || fe.is_key() != fr.keyframe
            || fr.timecode - f.producer_ms != i64::from(fe.rel_timecode)
            || payload != Some(&fr.data[..])
        {
            return Err(format!("frame {i} does not match its frame table entry"));
        }
    }
    Ok(())
}
