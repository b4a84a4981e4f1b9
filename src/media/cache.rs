//! The media cache: stored fragments as playback serves them (cluster bytes, tracks, samples),
//! kept in memory under a byte budget, so that the many players of a stream, and a player
//! fetching a segment again, cost neither a disk read nor a trailer parse.
//!
//! What is cached, and why it stays correct:
//! - One entry per fragment number: the index record, the parsed tracks and the samples (on the
//!   producer timeline), whose payloads are slices of the one cluster buffer read from disk.
//!   Fragments are immutable once persisted, so the bytes never go stale. An entry is only ever
//!   made from an index row that exists, so a fragment that is not persisted yet (still on the
//!   live bus) never has one.
//! - Per entry, a few *variants*: the segments built from it for one session timeline
//!   (`base_ms`), container, track filter and LL-HLS part ([`VariantKey`]). A variant is the
//!   generated header plus the payload slices (fMP4) or the whole segment (MPEG-TS). Two
//!   sessions with different timelines or filters get different variants of the same entry.
//! - Removal: retention and DeleteStream delete index rows; the store counts such removals (its
//!   *removal epoch*). An entry remembers the epoch at which the index last vouched for it
//!   (read before that index query). A lookup under a newer epoch is [`Lookup::Stale`]: the
//!   caller asks the index again and either revalidates the entry or removes it, so a deleted
//!   fragment 404s as it did before the cache. Between removals, hits need no index query.
//! - Concurrent misses for one fragment coalesce: the first request loads, the others wait on
//!   the same slot and share the result. A failed load is not cached.
//! - Budget: every entry is charged its buffer, its sample table and its variants; after each
//!   admission or growth, CLOCK eviction (a referenced bit per entry, a ring in admission order)
//!   removes entries until the total is within the budget again. An entry larger than the
//!   whole budget is served but not kept; a budget of 0 keeps nothing.
//!
//! The cache does no I/O itself: [`super::Media::load`] passes the load future in.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::OnceCell;

use super::model::{self, Codec, Container, MediaTrack, Sample};
use crate::store::fragment::{FragmentNumber, FragmentRecord};

/// Variants kept per fragment; the oldest goes first.
const MAX_VARIANTS: usize = 8;
/// Bookkeeping charged per entry and per variant on top of their bytes.
const OVERHEAD: u64 = 256;
/// Empty slots tolerated beyond the admitted entries before they are swept.
const SWEEP_SLACK: usize = 1024;

/// What distinguishes two segments built from one fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VariantKey {
    /// The session timeline's origin (decode times are relative to it).
    pub base_ms: i64,
    /// fMP4 or MPEG-TS.
    pub container: Container,
    /// Only this track (DASH), or all.
    pub track: Option<u64>,
    /// Only this LL-HLS part, with the part duration it was cut with (ms).
    pub part: Option<(u32, i64)>,
}

/// A fragment's built variants, oldest first: key, segment parts, bytes charged.
type Variants = VecDeque<(VariantKey, Arc<[Bytes]>, u64)>;

/// One stored fragment, read and parsed.
pub struct Fragment {
    /// Its index record.
    pub record: FragmentRecord,
    /// The tracks it was made under.
    pub tracks: Vec<MediaTrack>,
    /// Its samples in decode order, on the producer timeline; payloads slice `payload`.
    pub samples: Vec<Sample>,
    /// Every sample payload, track after track in `tracks` order, decode order within a track
    /// (the order of an fMP4 `mdat`), so that a segment's payload is one slice per track.
    payload: Bytes,
    variants: Mutex<Variants>,
}

impl Fragment {
    /// A fragment as loaded from the store. The payloads are copied once into one buffer in
    /// `mdat` order (and the samples pointed at it), so the stored cluster is not kept and a
    /// segment goes out as a header and one slice per track instead of one slice per frame.
    /// The buffer is a sealed memfd when possible, which connections send with `sendfile`.
    pub fn new(record: FragmentRecord, tracks: Vec<MediaTrack>, mut samples: Vec<Sample>) -> Self {
        let total: usize = samples.iter().map(|s| s.data.len()).sum();
        let mut order: Vec<usize> = Vec::with_capacity(samples.len());
        for t in &tracks {
            order.extend((0..samples.len()).filter(|&i| samples[i].track == t.number));
        }
        let known = |n: u64| tracks.iter().any(|t| t.number == n);
        order.extend((0..samples.len()).filter(|&i| !known(samples[i].track)));
        let mut at = Vec::with_capacity(samples.len());
        let mut offset = 0;
        for &i in &order {
            at.push((i, offset));
            offset += samples[i].data.len();
        }
        // In a sealed memfd when it can be (sockets then send it without a copy, see
        // `crate::zerocopy`), else on the heap.
        let chunks: Vec<&[u8]> = order.iter().map(|&i| &samples[i].data[..]).collect();
        let payload = crate::zerocopy::shared_payload(&chunks).unwrap_or_else(|_| {
            let mut buf = Vec::with_capacity(total);
            for c in &chunks {
                buf.extend_from_slice(c);
            }
            Bytes::from(buf)
        });
        for (i, start) in at {
            let end = start + samples[i].data.len();
            samples[i].data = payload.slice(start..end);
        }
        Fragment {
            record,
            tracks,
            samples,
            payload,
            variants: Mutex::new(VecDeque::new()),
        }
    }

    /// Where `p` starts within the payload buffer, if it is a slice of it.
    fn offset_in_payload(&self, p: &Bytes) -> Option<usize> {
        let base = self.payload.as_ptr() as usize;
        let a = p.as_ptr() as usize;
        (a >= base && a + p.len() <= base + self.payload.len()).then(|| a - base)
    }

    /// Bytes a variant keeps alive beyond the fragment: generated parts in full, payload
    /// slices by their handles only.
    fn variant_bytes(&self, parts: &[Bytes]) -> u64 {
        let own: usize = parts
            .iter()
            .filter(|p| self.offset_in_payload(p).is_none())
            .map(Bytes::len)
            .sum();
        (own + std::mem::size_of_val(parts)) as u64 + OVERHEAD
    }

    /// Its first H.264/H.265 video track's codec and that track's samples in decode order
    /// (payloads shared, not copied); None when it carries no such track.
    pub fn video(&self) -> Option<(Codec, Vec<Sample>)> {
        let (track, codec) = model::video_track(&self.tracks)?;
        let frames = self
            .samples
            .iter()
            .filter(|s| s.track == track)
            .cloned()
            .collect();
        Some((codec, frames))
    }

    /// Joins consecutive parts that are adjacent slices of the payload buffer into one slice.
    pub fn coalesce(&self, parts: Vec<Bytes>) -> Vec<Bytes> {
        let mut out: Vec<Bytes> = Vec::with_capacity(parts.len().min(8));
        // The payload range of the last part in `out`, if it is a payload slice.
        let mut run: Option<(usize, usize)> = None;
        for p in parts {
            match (self.offset_in_payload(&p), run) {
                (Some(start), Some((s, e))) if start == e && !p.is_empty() => {
                    let end = start + p.len();
                    if let Some(last) = out.last_mut() {
                        *last = self.payload.slice(s..end);
                    }
                    run = Some((s, end));
                }
                (Some(start), _) => {
                    run = Some((start, start + p.len()));
                    out.push(p);
                }
                (None, _) => {
                    run = None;
                    out.push(p);
                }
            }
        }
        out
    }

    /// Bytes it keeps alive, without its variants.
    fn base_bytes(&self) -> u64 {
        self.payload.len() as u64
            + (self.samples.len() * std::mem::size_of::<Sample>()) as u64
            + (self.tracks.len() * std::mem::size_of::<MediaTrack>()) as u64
            + OVERHEAD
    }

    fn variants(&self) -> MutexGuard<'_, Variants> {
        // A poisoned lock only means a panic elsewhere; the list itself is always whole.
        self.variants.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn variant(&self, key: &VariantKey) -> Option<Arc<[Bytes]>> {
        self.variants()
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, _)| Arc::clone(v))
    }
}

/// A cache slot for one fragment number: empty while it loads, then filled once.
pub struct Slot {
    key: FragmentNumber,
    cell: OnceCell<Arc<Fragment>>,
    /// The removal epoch at which the index last vouched for the fragment.
    epoch: AtomicU64,
    /// CLOCK's second-chance bit.
    referenced: AtomicBool,
    /// Bytes charged while admitted (changed under the cache lock only).
    charged: AtomicU64,
    admitted: AtomicBool,
}

/// What a lookup found.
pub enum Lookup {
    /// Cached and vouched for under the current epoch.
    Hit(Arc<Slot>, Arc<Fragment>),
    /// Cached, but fragments were removed since: check the index, then
    /// [`MediaCache::revalidate`] or [`MediaCache::remove`].
    Stale(Arc<Slot>, Arc<Fragment>),
    /// Not cached (or still loading): [`MediaCache::load`] fills or waits for the slot.
    Miss(Arc<Slot>),
}

/// Counters, for tests and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Bytes charged now.
    pub bytes: u64,
    /// Fragments cached now.
    pub entries: usize,
    /// Loads run (misses that read the store).
    pub loads: u64,
    /// Variants built.
    pub builds: u64,
}

#[derive(Default)]
struct Inner {
    map: HashMap<FragmentNumber, Arc<Slot>>,
    /// Admitted slots in admission order (CLOCK's ring); may hold removed ones, skipped.
    ring: VecDeque<Arc<Slot>>,
    bytes: u64,
}

/// The shared cache (one per server).
pub struct MediaCache {
    budget: u64,
    inner: Mutex<Inner>,
    loads: AtomicU64,
    builds: AtomicU64,
}

impl MediaCache {
    /// A cache that keeps at most `budget` bytes.
    pub fn new(budget: u64) -> MediaCache {
        MediaCache {
            budget,
            inner: Mutex::new(Inner::default()),
            loads: AtomicU64::new(0),
            builds: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update keeps the map, ring and total consistent before it can panic.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Current counters.
    pub fn stats(&self) -> CacheStats {
        let inner = self.lock();
        CacheStats {
            bytes: inner.bytes,
            entries: inner
                .map
                .values()
                .filter(|s| s.admitted.load(Ordering::Relaxed))
                .count(),
            loads: self.loads.load(Ordering::Relaxed),
            builds: self.builds.load(Ordering::Relaxed),
        }
    }

    /// Looks a fragment up; `epoch` is the store's removal epoch read now.
    pub fn lookup(&self, key: FragmentNumber, epoch: u64) -> Lookup {
        let mut inner = self.lock();
        if inner.map.len() > 2 * inner.ring.len() + SWEEP_SLACK {
            // Empty slots whose loads were cancelled (the client went away) and that nobody
            // waits on: only the map holds them (references are only taken under this lock).
            inner
                .map
                .retain(|_, s| s.cell.initialized() || Arc::strong_count(s) > 1);
        }
        let slot = inner.map.entry(key).or_insert_with(|| {
            Arc::new(Slot {
                key,
                cell: OnceCell::new(),
                epoch: AtomicU64::new(0),
                referenced: AtomicBool::new(false),
                charged: AtomicU64::new(0),
                admitted: AtomicBool::new(false),
            })
        });
        let slot = Arc::clone(slot);
        drop(inner);
        match slot.cell.get() {
            Some(f) => {
                let f = Arc::clone(f);
                slot.referenced.store(true, Ordering::Relaxed);
                if slot.epoch.load(Ordering::Acquire) >= epoch {
                    Lookup::Hit(slot, f)
                } else {
                    Lookup::Stale(slot, f)
                }
            }
            None => Lookup::Miss(slot),
        }
    }

    /// Fills a missed slot with `load` (which must find the index row itself, after `epoch`
    /// was read), or waits for the request already loading it. A failed load leaves the slot
    /// empty and out of the cache.
    pub async fn load<E, Fut>(
        &self,
        slot: &Arc<Slot>,
        epoch: u64,
        load: impl FnOnce() -> Fut,
    ) -> Result<Arc<Fragment>, E>
    where
        Fut: Future<Output = Result<Fragment, E>>,
    {
        let r = slot
            .cell
            .get_or_try_init(|| async {
                self.loads.fetch_add(1, Ordering::Relaxed);
                let f = load().await?;
                slot.epoch.fetch_max(epoch, Ordering::AcqRel);
                Ok(Arc::new(f))
            })
            .await;
        match r {
            Ok(f) => {
                let f = Arc::clone(f);
                self.admit(slot, &f);
                Ok(f)
            }
            Err(e) => {
                self.remove(slot);
                Err(e)
            }
        }
    }

    /// The index still has a stale entry's fragment (as of `epoch`, read before that query).
    pub fn revalidate(&self, slot: &Slot, epoch: u64) {
        slot.epoch.fetch_max(epoch, Ordering::AcqRel);
    }

    /// Drops a slot (its fragment is gone from the index, or its load failed).
    pub fn remove(&self, slot: &Arc<Slot>) {
        let mut inner = self.lock();
        if inner
            .map
            .get(&slot.key)
            .is_some_and(|s| Arc::ptr_eq(s, slot))
        {
            inner.map.remove(&slot.key);
            Self::uncharge(&mut inner, slot);
        }
        if inner.ring.len() > 2 * inner.map.len() + 16 {
            let Inner { map, ring, .. } = &mut *inner;
            ring.retain(|s| map.get(&s.key).is_some_and(|m| Arc::ptr_eq(m, s)));
        }
    }

    fn uncharge(inner: &mut Inner, slot: &Slot) {
        if slot.admitted.swap(false, Ordering::AcqRel) {
            inner.bytes -= slot.charged.swap(0, Ordering::AcqRel);
        }
    }

    /// Charges a filled slot once, if it is still the cached one, then evicts.
    fn admit(&self, slot: &Arc<Slot>, f: &Fragment) {
        let mut inner = self.lock();
        let current = inner
            .map
            .get(&slot.key)
            .is_some_and(|s| Arc::ptr_eq(s, slot));
        if !current || slot.admitted.load(Ordering::Acquire) {
            return;
        }
        let size = f.base_bytes();
        if size > self.budget {
            inner.map.remove(&slot.key);
            return;
        }
        slot.charged.store(size, Ordering::Release);
        slot.admitted.store(true, Ordering::Release);
        inner.bytes += size;
        inner.ring.push_back(Arc::clone(slot));
        self.evict(&mut inner);
    }

    /// CLOCK: until within budget, the oldest admitted entry goes unless it was used since the
    /// hand last passed (then it loses its bit and goes to the back).
    fn evict(&self, inner: &mut Inner) {
        let mut turns = 2 * inner.ring.len() + 1;
        while inner.bytes > self.budget && turns > 0 {
            turns -= 1;
            let Some(slot) = inner.ring.pop_front() else {
                break;
            };
            let current = inner
                .map
                .get(&slot.key)
                .is_some_and(|s| Arc::ptr_eq(s, &slot));
            if !current || !slot.admitted.load(Ordering::Acquire) {
                continue;
            }
            if slot.referenced.swap(false, Ordering::Relaxed) {
                inner.ring.push_back(slot);
                continue;
            }
            inner.map.remove(&slot.key);
            Self::uncharge(inner, &slot);
        }
    }

    /// The segment `key` of a fragment: cached, or made by `build` and cached (within the
    /// budget) with the fragment.
    pub fn variant<E>(
        &self,
        slot: &Arc<Slot>,
        f: &Fragment,
        key: VariantKey,
        build: impl FnOnce(&Fragment) -> Result<Vec<Bytes>, E>,
    ) -> Result<Arc<[Bytes]>, E> {
        if let Some(v) = f.variant(&key) {
            return Ok(v);
        }
        self.builds.fetch_add(1, Ordering::Relaxed);
        let parts: Arc<[Bytes]> = build(f)?.into();
        let size = f.variant_bytes(&parts);
        let mut inner = self.lock();
        let current = inner
            .map
            .get(&slot.key)
            .is_some_and(|s| Arc::ptr_eq(s, slot))
            && slot.admitted.load(Ordering::Acquire);
        if !current {
            return Ok(parts);
        }
        let mut variants = f.variants();
        if variants.iter().any(|(k, _, _)| *k == key) {
            return Ok(parts);
        }
        let mut delta = size as i64;
        variants.push_back((key, Arc::clone(&parts), size));
        while variants.len() > MAX_VARIANTS {
            if let Some((_, _, old)) = variants.pop_front() {
                delta -= old as i64;
            }
        }
        drop(variants);
        let charged = slot.charged.load(Ordering::Acquire) as i64 + delta;
        slot.charged.store(charged.max(0) as u64, Ordering::Release);
        inner.bytes = (inner.bytes as i64 + delta).max(0) as u64;
        self.evict(&mut inner);
        Ok(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StreamId;
    use crate::store::fragment::FragmentNumber;

    fn number(seq: i64) -> FragmentNumber {
        FragmentNumber {
            stream: StreamId(1),
            seq,
        }
    }

    fn fragment(seq: i64, bytes: u32) -> Fragment {
        let record = FragmentRecord {
            number: number(seq),
            producer_ms: 0,
            server_ms: 0,
            duration_ms: 1000,
            track_header_id: 1,
            segment: 0,
            offset: 0,
            cluster_len: bytes,
            trailer_len: 0,
        };
        let sample = Sample {
            track: 1,
            pts_ms: 0,
            dts_ms: 0,
            duration_ms: 0,
            key: true,
            data: Bytes::from(vec![7u8; bytes as usize]),
        };
        Fragment::new(record, Vec::new(), vec![sample])
    }

    async fn get(cache: &MediaCache, seq: i64, epoch: u64, bytes: u32) -> (bool, Arc<Slot>) {
        match cache.lookup(number(seq), epoch) {
            Lookup::Hit(s, _) => (true, s),
            Lookup::Stale(..) => panic!("stale"),
            Lookup::Miss(s) => {
                cache
                    .load::<(), _>(&s, epoch, || async move { Ok(fragment(seq, bytes)) })
                    .await
                    .unwrap();
                (false, s)
            }
        }
    }

    #[tokio::test]
    async fn budget_is_respected_and_used_entries_survive() {
        let cache = MediaCache::new(10_000);
        let per = 3000 - OVERHEAD as u32 - std::mem::size_of::<Sample>() as u32;
        for seq in 0..3 {
            assert!(!get(&cache, seq, 0, per).await.0);
        }
        assert_eq!(cache.stats().bytes, 9000);
        // Fragment 0 is used again, so the 4th admission evicts 1 (not 0).
        assert!(get(&cache, 0, 0, per).await.0);
        assert!(!get(&cache, 3, 0, per).await.0);
        let s = cache.stats();
        assert!(s.bytes <= 10_000, "{s:?}");
        assert_eq!(s.entries, 3);
        assert!(get(&cache, 0, 0, per).await.0);
        assert!(!get(&cache, 1, 0, per).await.0, "1 was evicted");
        assert!(cache.stats().bytes <= 10_000);
        // Larger than the budget: served, not kept.
        assert!(!get(&cache, 9, 0, 20_000).await.0);
        assert!(!get(&cache, 9, 0, 20_000).await.0);
        assert!(cache.stats().bytes <= 10_000);
        // Budget 0 keeps nothing.
        let none = MediaCache::new(0);
        assert!(!get(&none, 1, 0, 10).await.0);
        assert!(!get(&none, 1, 0, 10).await.0);
        assert_eq!(
            none.stats(),
            CacheStats {
                loads: 2,
                ..Default::default()
            }
        );
    }

    #[tokio::test]
    async fn newer_epoch_makes_entries_stale_until_revalidated() {
        let cache = MediaCache::new(1 << 20);
        get(&cache, 1, 5, 100).await;
        assert!(matches!(cache.lookup(number(1), 5), Lookup::Hit(..)));
        let Lookup::Stale(slot, _) = cache.lookup(number(1), 6) else {
            panic!("not stale")
        };
        cache.revalidate(&slot, 6);
        assert!(matches!(cache.lookup(number(1), 6), Lookup::Hit(..)));
        let Lookup::Stale(slot, _) = cache.lookup(number(1), 7) else {
            panic!("not stale")
        };
        cache.remove(&slot);
        assert!(matches!(cache.lookup(number(1), 7), Lookup::Miss(_)));
        assert_eq!(cache.stats().bytes, 0);
    }

    #[tokio::test]
    async fn concurrent_misses_load_once_and_failures_are_not_cached() {
        let cache = Arc::new(MediaCache::new(1 << 20));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let cache = Arc::clone(&cache);
            tasks.push(tokio::spawn(async move {
                let Lookup::Miss(slot) = cache.lookup(number(1), 0) else {
                    return;
                };
                cache
                    .load::<(), _>(&slot, 0, || async {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        Ok(fragment(1, 100))
                    })
                    .await
                    .unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(cache.stats().loads, 1);
        let Lookup::Miss(slot) = cache.lookup(number(2), 0) else {
            panic!()
        };
        let r = cache
            .load(&slot, 0, || async { Err::<Fragment, _>("disk") })
            .await;
        assert!(r.is_err());
        assert!(matches!(cache.lookup(number(2), 0), Lookup::Miss(_)));
        assert_eq!(cache.stats().entries, 1);
    }

    #[test]
    fn payload_is_in_mdat_order_and_adjacent_slices_coalesce() {
        use crate::media::Codec;
        let track = |number| MediaTrack {
            number,
            codec: Codec::Other("x".into()),
            video: None,
            audio: None,
            default_duration_ns: None,
        };
        let sample = |track, data: &'static [u8]| Sample {
            track,
            pts_ms: 0,
            dts_ms: 0,
            duration_ms: 0,
            key: false,
            data: Bytes::from_static(data),
        };
        // Interleaved as stored: 1, 2, 1, 2, 1.
        let samples = vec![
            sample(1, b"v0"),
            sample(2, b"a0"),
            sample(1, b"v1"),
            sample(2, b"a1"),
            sample(1, b"v2"),
        ];
        let f = Fragment::new(fragment(1, 0).record, vec![track(1), track(2)], samples);
        assert_eq!(&f.payload[..], b"v0v1v2a0a1");
        assert_eq!(&f.samples[3].data[..], b"a1");
        let head = Bytes::from_static(b"moof");
        let by_track = |n: u64| {
            f.samples
                .iter()
                .filter(move |s| s.track == n)
                .map(|s| s.data.clone())
        };
        let parts: Vec<Bytes> = std::iter::once(head.clone())
            .chain(by_track(1))
            .chain(by_track(2))
            .collect();
        let out = f.coalesce(parts);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(
            (&out[0][..], &out[1][..]),
            (&b"moof"[..], &b"v0v1v2a0a1"[..])
        );
        // A gap (a part left out) starts a new slice.
        let parts = vec![f.samples[0].data.clone(), f.samples[4].data.clone()];
        assert_eq!(f.coalesce(parts).len(), 2);
        // Charged: the generated header and the handles, not the shared payload.
        let size = f.variant_bytes(&out);
        assert_eq!(size, 4 + 2 * std::mem::size_of::<Bytes>() as u64 + OVERHEAD);
    }

    #[tokio::test]
    async fn cancelled_loads_leave_no_slots_behind() {
        let cache = MediaCache::new(1 << 20);
        for seq in 0..3 * SWEEP_SLACK as i64 {
            let Lookup::Miss(slot) = cache.lookup(number(seq), 0) else {
                panic!()
            };
            // The request goes away while its load waits on the disk.
            let load = cache.load::<(), _>(&slot, 0, std::future::pending);
            let _ = tokio::time::timeout(std::time::Duration::ZERO, load).await;
        }
        let empty = cache.lock().map.len();
        assert!(empty <= SWEEP_SLACK + 1, "{empty} empty slots kept");
        // A slot someone is still loading is kept.
        get(&cache, 5, 0, 10).await;
        assert!(matches!(cache.lookup(number(5), 0), Lookup::Hit(..)));
    }

    #[tokio::test]
    async fn variants_are_per_key_and_charged() {
        let cache = MediaCache::new(1 << 20);
        let (_, slot) = get(&cache, 1, 0, 1000).await;
        let Lookup::Hit(_, f) = cache.lookup(number(1), 0) else {
            panic!()
        };
        let before = cache.stats().bytes;
        let key = |base_ms| VariantKey {
            base_ms,
            container: Container::Fmp4,
            track: None,
            part: None,
        };
        let a = cache
            .variant::<()>(&slot, &f, key(0), |_| Ok(vec![Bytes::from_static(b"a")]))
            .unwrap();
        let b = cache
            .variant::<()>(&slot, &f, key(1), |_| Ok(vec![Bytes::from_static(b"b")]))
            .unwrap();
        let a2 = cache
            .variant::<()>(&slot, &f, key(0), |_| panic!("built twice"))
            .unwrap();
        assert_eq!(
            (&a[0][..], &b[0][..], &a2[0][..]),
            (&b"a"[..], &b"b"[..], &b"a"[..])
        );
        assert!(cache.stats().bytes > before);
        assert_eq!(cache.stats().builds, 2);
    }
}
