//! What the web UI's archive timeline shows of a stream (the wire is `api::timeline`): its
//! summary (live or offline, tracks, bitrate, storage used) and the recorded coverage of a time
//! range as spans with gaps between them.
//!
//! # Cost
//! The summary reads the stream's newest [`BITRATE_WINDOW`] index rows and one track header.
//! Coverage pages through the index rows of the range ([`PAGE`] per query, through
//! [`Media::pages`]) and merges them into spans as it goes, so memory is bounded by the number
//! of spans, not fragments; a range with more than [`MAX_SCANNED`] fragments is cut there
//! (`truncated`, the UI asks for the rest or zooms in). Spans closer than `min_gap_ms` merge, so
//! a timeline asks for gaps no narrower than a pixel.

use serde::Serialize;

use crate::error::ErrorKind;
use crate::media::{Media, MediaTrack, ReadError, stamp};
use crate::model::{StreamId, StreamRecord};
use crate::store::StoreError;
use crate::store::fragment::FragmentRecord;
use crate::store::index::TimestampKind;

/// Newest fragments the bitrate is averaged over.
pub const BITRATE_WINDOW: usize = 10;
/// Index rows per coverage query.
pub const PAGE: usize = 5_000;
/// Most fragments one coverage request reads.
pub const MAX_SCANNED: usize = 1_000_000;
/// Most spans one coverage answer holds.
pub const MAX_SPANS: usize = 100_000;
/// A stream whose newest fragment ended longer ago than this (or than two of its fragment
/// durations, if longer) is shown offline.
pub const LIVE_WITHIN_MS: i64 = 10_000;

/// A stream's state as the timeline shows it.
#[derive(Debug)]
pub struct Summary {
    /// A fragment ended within [`LIVE_WITHIN_MS`].
    pub live: bool,
    /// The newest fragment.
    pub last: Option<FragmentRecord>,
    /// Tracks of the newest fragment (none if its track header does not parse).
    pub tracks: Vec<MediaTrack>,
    /// Average over the newest fragments, bits per second.
    pub bitrate_bps: Option<u64>,
    /// Bytes of stored fragments.
    pub storage_bytes: u64,
}

/// The summary of `stream`.
pub async fn summary(media: &Media, stream: &StreamRecord) -> Result<Summary, StoreError> {
    let store = media.store();
    let recent = store.last_fragments(stream.id, BITRATE_WINDOW).await?;
    let now = store.now().0;
    let last = recent.last().copied();
    let live = last.is_some_and(|f| {
        let end = f.server_ms + f.duration_ms;
        now - end <= LIVE_WITHIN_MS.max(2 * f.duration_ms)
    });
    let tracks = match last {
        Some(f) => match media.tracks(f.track_header_id).await {
            Ok(tracks) => tracks,
            Err(ReadError::Store(e)) => return Err(e),
            Err(_) => Vec::new(),
        },
        None => Vec::new(),
    };
    let (bytes, ms) = recent.iter().fold((0u64, 0i64), |(b, d), f| {
        (b + u64::from(f.cluster_len), d + f.duration_ms.max(0))
    });
    let bitrate_bps = (ms > 0).then(|| bytes * 8 * 1000 / ms as u64);
    Ok(Summary {
        live,
        last,
        tracks,
        bitrate_bps,
        storage_bytes: store.stored_bytes(stream.id).await?,
    })
}

/// Why coverage cannot be given.
#[derive(Debug, thiserror::Error)]
pub enum CoverageError {
    /// More than [`MAX_SPANS`] spans.
    #[error("the range has more than 100000 spans: ask with a larger minGapMs")]
    TooManySpans,
    /// The index failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CoverageError {
    /// The error's kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CoverageError::TooManySpans => ErrorKind::InvalidArgument,
            CoverageError::Store(e) => e.kind(),
        }
    }
}

/// One recorded span: fragments that follow each other with gaps below `min_gap_ms`.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    /// First fragment's timestamp, epoch ms.
    pub start: i64,
    /// Last fragment's timestamp plus its duration, epoch ms.
    pub end: i64,
    /// Fragments in the span.
    pub fragments: u64,
}

/// The recorded spans of a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// The spans, by start.
    pub spans: Vec<Span>,
    /// The range held more than [`MAX_SCANNED`] fragments: the spans stop there.
    pub truncated: bool,
}

/// The recorded spans of `stream` within `[start, end]` on the `kind` axis, gaps of at most
/// `min_gap_ms` joined.
pub async fn coverage(
    media: &Media,
    stream: StreamId,
    kind: TimestampKind,
    (start, end): (i64, i64),
    min_gap_ms: i64,
) -> Result<Coverage, CoverageError> {
    let mut merger = SpanMerger::new(min_gap_ms);
    // A fragment that started up to the lookback before `start` may still cover it; the index
    // filters by start timestamp, so the timeline asks that much wider.
    let range = (kind, start.saturating_sub(media.lookback_ms()), end);
    let mut pages = media.pages(stream, Some(range), None, PAGE);
    let mut scanned = 0usize;
    let mut truncated = false;
    while let Some(page) = pages.next().await? {
        for f in &page {
            let t = stamp(kind, f);
            if t + f.duration_ms >= start {
                merger.add(t, t + f.duration_ms);
            }
        }
        scanned += page.len();
        // A short page was the last one.
        if page.len() >= PAGE && scanned >= MAX_SCANNED {
            truncated = true;
            break;
        }
    }
    let spans = merger.finish();
    if spans.len() > MAX_SPANS {
        return Err(CoverageError::TooManySpans);
    }
    Ok(Coverage { spans, truncated })
}

/// Merges fragment intervals, given in any order, into spans: intervals that overlap or are
/// separated by at most `min_gap_ms` join. Memory: the spans, not the fragments.
#[derive(Debug, Default)]
pub struct SpanMerger {
    spans: Vec<Span>,
    min_gap_ms: i64,
}

impl SpanMerger {
    /// A merger that joins gaps of at most `min_gap_ms`.
    pub fn new(min_gap_ms: i64) -> Self {
        SpanMerger {
            spans: Vec::new(),
            min_gap_ms: min_gap_ms.max(0),
        }
    }

    /// Adds the interval `[start, end)`.
    pub fn add(&mut self, start: i64, end: i64) {
        let end = end.max(start);
        if let Some(cur) = self.spans.last_mut()
            && start >= cur.start
            && start <= cur.end.saturating_add(self.min_gap_ms)
        {
            cur.end = cur.end.max(end);
            cur.fragments += 1;
            return;
        }
        self.spans.push(Span {
            start,
            end,
            fragments: 1,
        });
    }

    /// The spans, by start, with out-of-order ones merged in.
    pub fn finish(mut self) -> Vec<Span> {
        self.spans.sort_by_key(|s| s.start);
        let mut out: Vec<Span> = Vec::with_capacity(self.spans.len());
        for s in self.spans {
            match out.last_mut() {
                Some(cur) if s.start <= cur.end.saturating_add(self.min_gap_ms) => {
                    cur.end = cur.end.max(s.end);
                    cur.fragments += s.fragments;
                }
                _ => out.push(s),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_join_small_gaps_and_split_at_large_ones() {
        let mut m = SpanMerger::new(500);
        for i in 0..5 {
            m.add(i * 1000, i * 1000 + 1000);
        }
        // 5 s gap
        m.add(10_000, 11_000);
        m.add(11_400, 12_000); // 400 ms gap: joins
        let spans = m.finish();
        assert_eq!(
            spans,
            vec![
                Span {
                    start: 0,
                    end: 5000,
                    fragments: 5
                },
                Span {
                    start: 10_000,
                    end: 12_000,
                    fragments: 2
                },
            ]
        );
    }

    #[test]
    fn out_of_order_intervals_merge_after_sorting() {
        let mut m = SpanMerger::new(0);
        m.add(5000, 6000);
        m.add(0, 1000);
        m.add(1000, 2000);
        m.add(6000, 7000);
        let spans = m.finish();
        assert_eq!(spans.len(), 2);
        assert_eq!(
            (spans[0].start, spans[0].end, spans[0].fragments),
            (0, 2000, 2)
        );
        assert_eq!(
            (spans[1].start, spans[1].end, spans[1].fragments),
            (5000, 7000, 2)
        );
    }
}
