//! [`Media`]: finding fragments on a timestamp axis, paging through them, and loading them.

use std::sync::Arc;

use super::cache::{Fragment, Lookup, MediaCache, Slot};
use super::model::{self, MediaError, MediaTrack};
use crate::error::ErrorKind;
use crate::live::{Buffered, LiveBus};
use crate::model::StreamId;
use crate::store::fragment::{FragmentNumber, FragmentRecord};
use crate::store::index::{FragmentQuery, TimestampKind};
use crate::store::{Store, StoreError};

/// Fragments asked of the index per query when paging.
const PAGE: usize = 256;

/// Why media could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The store failed (or the fragment is gone).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored fragment or track header does not parse.
    #[error("fragment {number}: {source}")]
    Damaged {
        /// The fragment.
        number: FragmentNumber,
        /// What is wrong with it.
        source: MediaError,
    },
    /// A stored track header does not parse.
    #[error("track header {id}: {source}")]
    DamagedTracks {
        /// The track header row.
        id: i64,
        /// What is wrong with it.
        source: MediaError,
    },
    /// No such fragment in the index (expired, deleted, or never stored).
    #[error("fragment {0} not found (expired, deleted, or never stored)")]
    NotFound(FragmentNumber),
}

impl ReadError {
    /// The error's kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ReadError::Store(e) => e.kind(),
            ReadError::Damaged { .. } | ReadError::DamagedTracks { .. } => ErrorKind::Internal,
            ReadError::NotFound(_) => ErrorKind::ResourceNotFound,
        }
    }
}

/// A fragment's start timestamp on the `kind` axis, epoch ms.
pub fn stamp(kind: TimestampKind, f: &FragmentRecord) -> i64 {
    match kind {
        TimestampKind::Producer => f.producer_ms,
        TimestampKind::Server => f.server_ms,
    }
}

/// Whether `f` covers `t` on the `kind` axis: it starts exactly at `t`, or starts before it and
/// its duration (plus `slack_ms`) reaches past it.
fn covers(kind: TimestampKind, f: &FragmentRecord, t: i64, slack_ms: i64) -> bool {
    let start = stamp(kind, f);
    start == t
        || (start < t
            && start
                .saturating_add(f.duration_ms.max(0))
                .saturating_add(slack_ms)
                > t)
}

/// The tie-break among fragments that start at the same millisecond (see the module doc): on the
/// producer axis they are copies (the highest number wins), on the server axis a burst that
/// arrived within one millisecond (all are kept, the lowest number first).
fn order_key(kind: TimestampKind, f: &FragmentRecord) -> (i64, i64) {
    match kind {
        TimestampKind::Producer => (f.producer_ms, f.number.seq),
        TimestampKind::Server => (f.server_ms, -f.number.seq),
    }
}

/// Orders fragments by start, then by the tie-break of [`order_key`], and on the producer axis
/// keeps only the highest number of each start (the tie rule of the module doc).
pub fn dedup_starts(mut rows: Vec<FragmentRecord>, kind: TimestampKind) -> Vec<FragmentRecord> {
    rows.sort_by_key(|f| (stamp(kind, f), f.number.seq));
    if kind == TimestampKind::Server {
        return rows;
    }
    let mut out: Vec<FragmentRecord> = Vec::with_capacity(rows.len());
    for f in rows {
        match out.last_mut() {
            Some(last) if stamp(kind, last) == stamp(kind, &f) => *last = f,
            _ => out.push(f),
        }
    }
    out
}

/// Fragments of one stream in number order, a page at a time (the one paging loop).
pub struct Pages {
    store: Store,
    query: FragmentQuery,
    done: bool,
}

impl Pages {
    /// The next page (in number order), or None once the listing is exhausted.
    pub async fn next(&mut self) -> Result<Option<Vec<FragmentRecord>>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let page = self.store.list_fragments(self.query).await?;
        self.done = page.len() < self.query.limit;
        match page.last() {
            Some(last) => {
                self.query.after_seq = Some(last.number.seq);
                Ok(Some(page))
            }
            None => Ok(None),
        }
    }
}

/// The one door to media (see the module doc). Cheap to clone.
#[derive(Clone)]
pub struct Media {
    store: Store,
    live: Arc<LiveBus>,
    cache: Arc<MediaCache>,
    lookback_ms: i64,
}

impl Media {
    /// Media over `store` and `live`, with `cache` in front of stored reads. `longest_fragment_ms`
    /// is the longest fragment ingest accepts (`[ingest] max_fragment_duration_secs`): how far
    /// before a time its fragment can start.
    pub fn new(
        store: Store,
        live: Arc<LiveBus>,
        cache: Arc<MediaCache>,
        longest_fragment_ms: i64,
    ) -> Media {
        Media {
            store,
            live,
            cache,
            // A fragment's indexed duration can exceed the cut by a frame's duration; one
            // second covers that at any frame rate a producer would send.
            lookback_ms: longest_fragment_ms.max(0).saturating_add(1000),
        }
    }

    /// The store under the door (for what is not media: streams, checkpoints).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The live bus.
    pub fn live(&self) -> &Arc<LiveBus> {
        &self.live
    }

    /// The media cache.
    pub fn cache(&self) -> &Arc<MediaCache> {
        &self.cache
    }

    /// How far before a time the fragment holding it can start, ms.
    pub fn lookback_ms(&self) -> i64 {
        self.lookback_ms
    }

    /// The stream's fragments after `after_seq` (None: from the first) whose `range` timestamp
    /// lies in `[from, to]` (None: all), in number order, `page` at a time.
    pub fn pages(
        &self,
        stream: StreamId,
        range: Option<(TimestampKind, i64, i64)>,
        after_seq: Option<i64>,
        page: usize,
    ) -> Pages {
        Pages {
            store: self.store.clone(),
            query: FragmentQuery {
                stream,
                range,
                after_seq,
                limit: page.max(1),
            },
            done: false,
        }
    }

    /// Every fragment of [`Media::pages`] at once, stopping early once `enough` says so (it sees
    /// the fragments gathered so far).
    pub async fn collect(
        &self,
        stream: StreamId,
        range: Option<(TimestampKind, i64, i64)>,
        mut enough: impl FnMut(&[FragmentRecord]) -> bool,
    ) -> Result<Vec<FragmentRecord>, StoreError> {
        let mut pages = self.pages(stream, range, None, PAGE);
        let mut rows = Vec::new();
        while let Some(page) = pages.next().await? {
            rows.extend(page);
            if enough(&rows) {
                break;
            }
        }
        Ok(rows)
    }

    /// The last fragment starting at or before `t` on the `kind` axis (ties: the module doc's
    /// rule) and within the lookback; it may or may not last until `t`.
    pub async fn latest_starting_by(
        &self,
        stream: StreamId,
        kind: TimestampKind,
        t: i64,
    ) -> Result<Option<FragmentRecord>, StoreError> {
        let mut pages = self.pages(
            stream,
            Some((kind, t.saturating_sub(self.lookback_ms), t)),
            None,
            PAGE,
        );
        let mut best: Option<FragmentRecord> = None;
        while let Some(page) = pages.next().await? {
            for f in page {
                if best.is_none_or(|b| order_key(kind, &f) > order_key(kind, &b)) {
                    best = Some(f);
                }
            }
        }
        Ok(best)
    }

    /// The first fragment (by number) starting at or after `t` on the `kind` axis.
    pub async fn first_starting_from(
        &self,
        stream: StreamId,
        kind: TimestampKind,
        t: i64,
    ) -> Result<Option<FragmentRecord>, StoreError> {
        let mut pages = self.pages(stream, Some((kind, t, i64::MAX)), None, 1);
        Ok(pages.next().await?.and_then(|p| p.into_iter().next()))
    }

    /// The fragment at `t` (the module doc's tie rule), if one covers it.
    pub async fn at(
        &self,
        stream: StreamId,
        kind: TimestampKind,
        t: i64,
    ) -> Result<Option<FragmentRecord>, StoreError> {
        Ok(self
            .latest_starting_by(stream, kind, t)
            .await?
            .filter(|f| covers(kind, f, t, 0)))
    }

    /// The fragments that can hold a time in `[from, to]` on the `kind` axis, as a [`line`]:
    /// ordered by `(start, number)`, equal starts deduplicated (the tie rule), and of the
    /// fragments starting at or before `from` only the last two. `max_after` stops the listing early
    /// once more than that many fragments start after `from` (the caller will refuse anyway).
    pub async fn timeline(
        &self,
        stream: StreamId,
        kind: TimestampKind,
        from: i64,
        to: i64,
        max_after: Option<usize>,
    ) -> Result<Vec<FragmentRecord>, StoreError> {
        let range = Some((kind, from.saturating_sub(self.lookback_ms), to));
        let mut pages = self.pages(stream, range, None, PAGE);
        let mut rows: Vec<FragmentRecord> = Vec::new();
        while let Some(page) = pages.next().await? {
            rows.extend(page);
            // Only the last fragments starting before `from` matter: drop older ones as pages
            // come, so a long lookback stays small in memory.
            if rows.len() > 2 * PAGE {
                rows = line(rows, kind, from);
            }
            if max_after.is_some_and(|m| rows.iter().filter(|f| stamp(kind, f) > from).count() > m)
            {
                break;
            }
        }
        Ok(line(rows, kind, from))
    }

    /// Whether `f` covers `t` on the `kind` axis, allowing `slack_ms` past its indexed end.
    pub fn covers(kind: TimestampKind, f: &FragmentRecord, t: i64, slack_ms: i64) -> bool {
        covers(kind, f, t, slack_ms)
    }

    /// The index record of a fragment by number.
    pub async fn record(&self, number: FragmentNumber) -> Result<FragmentRecord, ReadError> {
        self.store
            .fragments_by_number(number.stream, &[number])
            .await?
            .into_iter()
            .next()
            .ok_or(ReadError::NotFound(number))
    }

    /// Fragment `number` while it is on the live bus (not persisted yet).
    pub fn live_fragment(&self, number: FragmentNumber) -> Option<Buffered> {
        self.live
            .snapshot(number.stream)
            .into_iter()
            .find(|b| b.start.number == number)
    }

    /// The tracks of a stored track header.
    pub async fn tracks(&self, track_header_id: i64) -> Result<Vec<MediaTrack>, ReadError> {
        let header = self.store.track_header(track_header_id).await?.header;
        model::tracks(&header).map_err(|source| ReadError::DamagedTracks {
            id: track_header_id,
            source,
        })
    }

    /// Reads and parses a stored fragment, holding its segment while it reads.
    async fn read(&self, rec: FragmentRecord) -> Result<Fragment, ReadError> {
        let damaged = |source| ReadError::Damaged {
            number: rec.number,
            source,
        };
        let tracks = self.tracks(rec.track_header_id).await?;
        let _hold = self.store.hold_segments(std::slice::from_ref(&rec));
        let (cluster, trailer) = self.store.read_fragment(&rec).await?;
        let samples = model::samples(&tracks, &cluster, &trailer).map_err(damaged)?;
        Ok(Fragment::new(rec, tracks, samples))
    }

    /// A fragment the caller found in the index (and holds, if it reads for long): from the
    /// cache, or read into it.
    pub async fn load(&self, rec: &FragmentRecord) -> Result<Arc<Fragment>, ReadError> {
        let epoch = self.store.removal_epoch();
        match self.cache.lookup(rec.number, epoch) {
            // A stale entry is the caller's fragment all the same (its record came from the
            // index); only a lookup by number must ask the index again.
            Lookup::Hit(_, f) | Lookup::Stale(_, f) => Ok(f),
            // Loaded as vouched for at epoch 0: a later lookup by number under a newer epoch
            // checks the index first (see `cache`).
            Lookup::Miss(slot) => self.cache.load(&slot, 0, || self.read(*rec)).await,
        }
    }

    /// A fragment by number (what a segment URL names): from the cache, revalidated against
    /// the index when fragments were removed since it was cached, or read into it;
    /// [`ReadError::NotFound`] once retention or DeleteStream removed it from the index.
    pub async fn load_number(
        &self,
        number: FragmentNumber,
    ) -> Result<(Arc<Slot>, Arc<Fragment>), ReadError> {
        // Read before any index query below (see `cache`).
        let epoch = self.store.removal_epoch();
        match self.cache.lookup(number, epoch) {
            Lookup::Hit(slot, f) => Ok((slot, f)),
            Lookup::Stale(slot, f) => match self.record(number).await {
                Ok(_) => {
                    self.cache.revalidate(&slot, epoch);
                    Ok((slot, f))
                }
                Err(e) => {
                    if e.kind() == ErrorKind::ResourceNotFound {
                        self.cache.remove(&slot);
                    }
                    Err(e)
                }
            },
            Lookup::Miss(slot) => {
                let f = self
                    .cache
                    .load(&slot, epoch, || async {
                        let rec = self.record(number).await?;
                        self.read(rec).await
                    })
                    .await?;
                Ok((slot, f))
            }
        }
    }
}

/// The timeline of `rows` from `from`: ordered by `(start, number)`, equal starts deduplicated
/// (the tie rule), and of the fragments starting at or before `from` only the last two (the
/// last may hold `from`; the one before it may show `from` when the last one's first frame comes
/// a little after its timestamp).
pub fn line(rows: Vec<FragmentRecord>, kind: TimestampKind, from: i64) -> Vec<FragmentRecord> {
    let mut rows = dedup_starts(rows, kind);
    if let Some(last_before) = rows.iter().rposition(|f| stamp(kind, f) <= from) {
        rows.drain(..last_before.saturating_sub(1));
    }
    rows
}

/// Of a [`line`] from `t`, the fragments from the one at `t` on: the fragment holding `t` (the
/// last one starting at or before it, if it lasts past it), then every fragment starting after
/// `t`.
pub fn from_time(
    mut line: Vec<FragmentRecord>,
    kind: TimestampKind,
    t: i64,
) -> Vec<FragmentRecord> {
    if let Some(i) = line.iter().rposition(|f| stamp(kind, f) <= t) {
        let holds = covers(kind, &line[i], t, 0);
        line.drain(..if holds { i } else { i + 1 });
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: i64, start: i64, duration: i64) -> FragmentRecord {
        FragmentRecord {
            number: FragmentNumber {
                stream: StreamId(1),
                seq,
            },
            producer_ms: start,
            server_ms: start,
            duration_ms: duration,
            track_header_id: 1,
            segment: 1,
            offset: 0,
            cluster_len: 0,
            trailer_len: 0,
        }
    }

    /// Overlapping fragments (a producer that reconnected and re-sent): equal starts keep the
    /// highest number; of the fragments starting by `from`, only the last two stay.
    #[test]
    fn equal_starts_keep_the_highest_number() {
        let p = TimestampKind::Producer;
        let rows = vec![
            rec(1, 0, 1000),
            rec(2, 1000, 1000),
            rec(3, 2000, 1000),
            rec(4, 1000, 1000), // re-sent: same start as 2
            rec(5, 2000, 1500), // re-sent: same start as 3
        ];
        let deduped: Vec<i64> = dedup_starts(rows.clone(), p)
            .iter()
            .map(|f| f.number.seq)
            .collect();
        assert_eq!(deduped, [1, 4, 5]);
        let seqs = |v: Vec<FragmentRecord>| v.iter().map(|f| f.number.seq).collect::<Vec<_>>();
        assert_eq!(seqs(line(rows.clone(), p, 2500)), [4, 5]);
        assert_eq!(seqs(line(rows.clone(), p, 1500)), [1, 4, 5]);
        assert_eq!(
            seqs(from_time(line(rows.clone(), p, 1500), p, 1500)),
            [4, 5]
        );
        assert_eq!(seqs(from_time(line(rows.clone(), p, 2000), p, 2000)), [5]);
        // Coverage: exactly at the start, inside, and past the end.
        assert!(covers(p, &rows[4], 2000, 0));
        assert!(covers(p, &rows[4], 3400, 0));
        assert!(!covers(p, &rows[4], 3500, 0));
        assert!(covers(p, &rows[4], 3500, 1));
        assert!(!covers(p, &rows[4], 1999, 0));
    }

    /// On the server axis, fragments starting in the same millisecond are a burst, not copies:
    /// all stay, in number order, and the fragment at that time is the first of them (GetMedia
    /// reads the burst whole).
    #[test]
    fn server_axis_bursts_are_all_kept() {
        let s = TimestampKind::Server;
        let rows = vec![rec(3, 1000, 1000), rec(1, 0, 1000), rec(2, 1000, 1000)];
        let seqs = |v: Vec<FragmentRecord>| v.iter().map(|f| f.number.seq).collect::<Vec<_>>();
        assert_eq!(seqs(dedup_starts(rows.clone(), s)), [1, 2, 3]);
        assert_eq!(seqs(line(rows.clone(), s, 1500)), [2, 3]);
        let at = rows.iter().copied().max_by_key(|f| order_key(s, f));
        assert_eq!(at.map(|f| f.number.seq), Some(2));
        // The producer axis: the same rows are copies, the highest number stays.
        let p = TimestampKind::Producer;
        assert_eq!(seqs(dedup_starts(rows.clone(), p)), [1, 3]);
        let at = rows.iter().copied().max_by_key(|f| order_key(p, f));
        assert_eq!(at.map(|f| f.number.seq), Some(3));
    }

    /// A fragment `seq` starting at producer `p` ms and server `p + 10_000` ms, 1 s long.
    fn frag(seq: i64, p: i64) -> FragmentRecord {
        FragmentRecord {
            number: FragmentNumber {
                stream: StreamId(1),
                seq,
            },
            producer_ms: p,
            server_ms: p + 10_000,
            duration_ms: 1000,
            track_header_id: 1,
            segment: 1,
            offset: 0,
            cluster_len: 1,
            trailer_len: 1,
        }
    }

    /// GetClip's selection (the fragment at the start, then every later one) as a table.
    #[test]
    fn selection_table() {
        let seqs = |v: Vec<FragmentRecord>| v.iter().map(|f| f.number.seq).collect::<Vec<_>>();
        let p = TimestampKind::Producer;
        let five: Vec<FragmentRecord> = (0..5).map(|i| frag(i + 1, i * 1000)).collect();
        // (case, index rows, selector kind, start, selected seqs)
        type Case = (
            &'static str,
            Vec<FragmentRecord>,
            TimestampKind,
            i64,
            Vec<i64>,
        );
        let cases: [Case; 9] = [
            (
                "mid-fragment start",
                five.clone(),
                p,
                1500,
                vec![2, 3, 4, 5],
            ),
            ("start on a boundary", five.clone(), p, 2000, vec![3, 4, 5]),
            (
                "before any media",
                five.clone(),
                p,
                -700,
                vec![1, 2, 3, 4, 5],
            ),
            ("inside the last", five.clone(), p, 4999, vec![5]),
            ("after the last", five.clone(), p, 5000, vec![]),
            ("empty", vec![], p, 0, vec![]),
            (
                "server clock",
                five.clone(),
                TimestampKind::Server,
                11_500,
                vec![2, 3, 4, 5],
            ),
            (
                "gap before start",
                vec![frag(1, 0), frag(2, 5000)],
                p,
                2000,
                vec![2],
            ),
            (
                "duplicate starts keep the highest number, out of order input",
                vec![frag(4, 2000), frag(1, 0), frag(3, 1000), frag(2, 1000)],
                p,
                500,
                vec![1, 3, 4],
            ),
        ];
        for (name, rows, kind, start, want) in cases {
            assert_eq!(
                seqs(from_time(line(rows, kind, start), kind, start)),
                want,
                "{name}"
            );
        }
    }
}
