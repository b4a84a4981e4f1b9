//! Segment files: `media/<stream-id>/<segment>.seg`, append-only, one writer (the store's
//! writer task), named after the seq of their first fragment.
//!
//! Blocking file operations only: callers run them on the blocking pool.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::StoreError;
use crate::model::StreamId;

/// The directory of a stream's segment files.
pub fn stream_dir(media_root: &Path, stream: StreamId) -> PathBuf {
    media_root.join(stream.0.to_string())
}

/// The path of one segment file.
pub fn segment_path(media_root: &Path, stream: StreamId, segment: i64) -> PathBuf {
    stream_dir(media_root, stream).join(format!("{segment:020}.seg"))
}

/// Parses a segment file name back to its segment seq.
pub fn parse_segment_name(name: &str) -> Option<i64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A segment file open for appending.
#[derive(Debug)]
pub struct OpenSegment {
    /// Its segment seq.
    pub segment: i64,
    /// Shared with the fsync stage of the writer pipeline.
    pub file: std::sync::Arc<File>,
    /// Bytes written so far.
    pub len: u64,
    /// Server time of its first fragment (for rotation by age).
    pub started_ms: i64,
    /// Clock time of the last append (an idle segment is closed, see `writer`).
    pub last_append_ms: i64,
    /// Whether the directory entry still needs an fsync (taken by the next sync).
    pub new: bool,
}

impl OpenSegment {
    /// Creates a new, empty segment file (failing if it exists).
    pub fn create(
        media_root: &Path,
        stream: StreamId,
        segment: i64,
        started_ms: i64,
    ) -> Result<OpenSegment, StoreError> {
        let dir = stream_dir(media_root, stream);
        std::fs::create_dir_all(&dir)
            .map_err(|e| StoreError::io(format!("creating {}", dir.display()), e))?;
        let path = segment_path(media_root, stream, segment);
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| StoreError::io(format!("creating {}", path.display()), e))?;
        Ok(OpenSegment {
            segment,
            file: std::sync::Arc::new(file),
            len: 0,
            started_ms,
            last_append_ms: started_ms,
            new: true,
        })
    }

    /// Appends `parts` contiguously; returns the offset of the first byte.
    pub fn append(&mut self, parts: &[&[u8]]) -> std::io::Result<u64> {
        let at = self.len;
        for p in parts {
            (&*self.file).write_all(p)?;
            self.len += p.len() as u64;
        }
        Ok(at)
    }
}

/// fdatasync a segment file, and (for a new one) its directory, so the file's name survives a
/// power loss too.
pub fn sync(path: &Path, file: &File, dir: Option<&Path>) -> std::io::Result<()> {
    #[cfg(test)]
    if let Ok(mut hook) = FAIL_NEXT_SYNC_UNDER.lock()
        && hook.as_ref().is_some_and(|p| path.starts_with(p))
    {
        *hook = None;
        return Err(std::io::Error::other("injected fsync failure"));
    }
    let _ = path;
    file.sync_data()?;
    if let Some(dir) = dir {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Test hook: the next [`sync`] of a file under this directory fails.
#[cfg(test)]
pub static FAIL_NEXT_SYNC_UNDER: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);

/// Reads `len` bytes at `offset` of a segment file.
pub fn read_range(
    media_root: &Path,
    stream: StreamId,
    segment: i64,
    offset: u64,
    len: usize,
) -> Result<Vec<u8>, StoreError> {
    // The caller read (offset, len) from the index: a missing file is damage, not a hiccup.
    try_read_range(media_root, stream, segment, offset, len)?.ok_or_else(|| {
        StoreError::corruption(format!(
            "segment file {} is missing",
            segment_path(media_root, stream, segment).display()
        ))
    })
}

/// [`read_range`], but None when the file does not exist (its segment may have moved to object
/// storage). A short file is still damage.
pub fn try_read_range(
    media_root: &Path,
    stream: StreamId,
    segment: i64,
    offset: u64,
    len: usize,
) -> Result<Option<Vec<u8>>, StoreError> {
    let path = segment_path(media_root, stream, segment);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(format!("opening {}", path.display()), e)),
    };
    // Read into uninitialised capacity: zeroing `len` bytes first costs as much as the read.
    let mut buf = Vec::with_capacity(len);
    let read = (|| {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = &file;
        f.seek(SeekFrom::Start(offset))?;
        f.take(len as u64).read_to_end(&mut buf)?;
        if buf.len() < len {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
        }
        Ok(())
    })();
    read.map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => StoreError::corruption(format!(
            "segment file {} ends before byte {}",
            path.display(),
            offset + len as u64
        )),
        _ => StoreError::io(format!("reading {} at {offset}", path.display()), e),
    })?;
    Ok(Some(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_short_segments_are_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        match read_range(root, StreamId(1), 5, 0, 10) {
            Err(StoreError::Corruption(m)) => assert!(m.contains("is missing"), "{m}"),
            other => panic!("expected Corruption, got {other:?}"),
        }
        std::fs::create_dir_all(stream_dir(root, StreamId(1))).unwrap();
        std::fs::write(segment_path(root, StreamId(1), 5), b"0123456789").unwrap();
        assert_eq!(read_range(root, StreamId(1), 5, 2, 8).unwrap(), b"23456789");
        match read_range(root, StreamId(1), 5, 2, 9) {
            Err(StoreError::Corruption(m)) => assert!(m.contains("ends before byte 11"), "{m}"),
            other => panic!("expected Corruption, got {other:?}"),
        }
    }

    #[test]
    fn names_round_trip() {
        let p = segment_path(Path::new("/m"), StreamId(3), 1_700_000_000_000_000);
        assert_eq!(p, Path::new("/m/3/00001700000000000000.seg"));
        let name = p.file_name().unwrap().to_str().unwrap();
        assert_eq!(parse_segment_name(name), Some(1_700_000_000_000_000));
        for bad in [
            "x.seg",
            "1.seg",
            "00001700000000000000.tmp",
            "0000170000000000000a.seg",
        ] {
            assert_eq!(parse_segment_name(bad), None, "{bad}");
        }
    }
}
