//! Per-stream connection limits: how many readers of a kind a stream has open at once. A slot
//! is taken when a long-lived response starts and given back when its body is dropped (sent, or
//! the client gone), so a stream's readers can never starve another stream's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::model::StreamId;

/// Which kind of reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReaderKind {
    /// GetMedia.
    GetMedia,
    /// GetMediaForFragmentList.
    FragmentList,
}

/// Open readers per stream and kind, with their caps.
#[derive(Debug)]
pub struct StreamReaders {
    caps: HashMap<ReaderKind, usize>,
    open: Mutex<HashMap<(StreamId, ReaderKind), usize>>,
}

/// One open reader; dropping it frees its place.
#[derive(Debug)]
pub struct ReaderSlot {
    readers: Arc<StreamReaders>,
    key: (StreamId, ReaderKind),
}

impl StreamReaders {
    /// Caps per kind.
    pub fn new(get_media: usize, fragment_list: usize) -> Arc<StreamReaders> {
        Arc::new(StreamReaders {
            caps: HashMap::from([
                (ReaderKind::GetMedia, get_media),
                (ReaderKind::FragmentList, fragment_list),
            ]),
            open: Mutex::default(),
        })
    }

    /// A place for a reader of `kind` on `stream`; `Err(cap)` when the stream has `cap` open.
    pub fn open(self: &Arc<Self>, stream: StreamId, kind: ReaderKind) -> Result<ReaderSlot, usize> {
        let cap = self.caps.get(&kind).copied().unwrap_or(usize::MAX);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry((stream, kind)).or_insert(0);
        if *n >= cap {
            return Err(cap);
        }
        *n += 1;
        Ok(ReaderSlot {
            readers: Arc::clone(self),
            key: (stream, kind),
        })
    }
}

impl Drop for ReaderSlot {
    fn drop(&mut self) {
        let mut open = self.readers.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_per_stream_and_kind() {
        let r = StreamReaders::new(2, 1);
        let a = r.open(StreamId(1), ReaderKind::GetMedia).unwrap();
        let _b = r.open(StreamId(1), ReaderKind::GetMedia).unwrap();
        assert_eq!(r.open(StreamId(1), ReaderKind::GetMedia).unwrap_err(), 2);
        // Another stream, another kind: their own places.
        let _c = r.open(StreamId(2), ReaderKind::GetMedia).unwrap();
        let _d = r.open(StreamId(1), ReaderKind::FragmentList).unwrap();
        assert!(r.open(StreamId(1), ReaderKind::FragmentList).is_err());
        drop(a);
        assert!(r.open(StreamId(1), ReaderKind::GetMedia).is_ok());
    }
}
