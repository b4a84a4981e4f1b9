//! Zero-copy sending of stored media: payload buffers the kernel can send from its own pages.
//!
//! A media segment is a small generated header plus large payload slices that never change
//! (samples of a persisted fragment). Written to a socket like any buffer, each payload is
//! copied from our memory into socket buffers on every request, and on a busy server that copy
//! is the largest single cost. nginx avoids it with `sendfile(2)`; so do we:
//!
//! - [`shared_payload`] puts a payload in a *sealed memfd*: an anonymous in-memory file,
//!   written once, then sealed against writing, shrinking and growing
//!   (`F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW`), and mapped read-only. The mapping is
//!   returned as [`Bytes`], so the rest of the program (segment building, MPEG-TS, LL-HLS parts)
//!   slices and reads it like any other buffer. The seals are what make the mapping sound: no
//!   one, this process included, can change or truncate the file while it is mapped.
//! - Each mapping is registered (address range → file) while it lives.
//! - [`ZeroCopyStream`] wraps an accepted TCP connection. When hyper writes a buffer that lies
//!   inside a registered mapping (our `Bytes` slices reach the socket unchanged: hyper queues
//!   body chunks and writes them vectored), the wrapper sends it with `sendfile` from the memfd at
//!   the same offset: the kernel hands its page-cache pages to the socket, no copy. The bytes
//!   before it (HTTP head, segment header) go out with `sendmsg(MSG_MORE)`, so head and payload
//!   still leave in full-sized packets. Anything else is written as usual.
//!
//! Pages given to the socket stay referenced by the kernel until sent (and acknowledged), even
//! if the mapping is dropped and the file closed meanwhile, and they are never modified (sealed),
//! so a slow client can never see other data. If memfds are not available (or the process is
//! out of file descriptors), [`shared_payload`] fails and callers keep the payload on the heap:
//! slower, same bytes.
//!
//! This is the one module with `unsafe` code (the `mmap`/`munmap` of a sealed memfd); see the
//! SAFETY notes.

#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, RwLock};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use rustix::fs::{MemfdFlags, SealFlags};
use rustix::mm::{MapFlags, ProtFlags};
use rustix::net::{SendAncillaryBuffer, SendFlags};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// Payloads smaller than this stay on the heap: for them a copy costs less than a file.
pub const MIN_SHARED: usize = 16 * 1024;
/// Slices smaller than this are copied even when they could be sent from a file.
const MIN_SENDFILE: usize = 8 * 1024;

/// A registered mapping: its length and the file behind it.
struct Region {
    len: usize,
    file: Arc<OwnedFd>,
}

/// Live mappings by start address.
static REGIONS: LazyLock<RwLock<BTreeMap<usize, Region>>> =
    LazyLock::new(|| RwLock::new(BTreeMap::new()));
/// How many mappings live (lets writes skip the lookup when there are none).
static LIVE: AtomicUsize = AtomicUsize::new(0);
/// Most mappings kept at once, whatever the descriptor limit (each is one of the process's
/// memory areas, of which Linux allows 65 530 by default).
const MAX_MAPPINGS: usize = 16_384;
/// Mappings kept at once: a quarter of the open-file limit (each holds a descriptor), so cached
/// payloads never starve sockets and fragment files of descriptors; at the cap, payloads stay
/// on the heap.
static MAX_LIVE: LazyLock<usize> = LazyLock::new(|| {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    usize::try_from(soft / 4)
        .unwrap_or(usize::MAX)
        .min(MAX_MAPPINGS)
});
/// Bytes sent with `sendfile` since start.
static SENT: AtomicU64 = AtomicU64::new(0);

/// Raises the soft open-file limit to the hard one (as servers that hold many connections do;
/// systemd starts services with a soft limit of 1024). Call before serving.
pub fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.maximum.is_some() && limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::debug!(error = %e, "could not raise the open-file limit");
        }
    }
}

/// The soft open-file limit, if known.
pub fn fd_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// Bytes this process has sent without copying them (with `sendfile`) since it started.
pub fn bytes_sent_zero_copy() -> u64 {
    SENT.load(Ordering::Relaxed)
}

/// The file and offset a slice can be sent from, if it lies in a live mapping.
fn region_of(slice: &[u8]) -> Option<(Arc<OwnedFd>, u64)> {
    if slice.len() < MIN_SENDFILE || LIVE.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let addr = slice.as_ptr() as usize;
    let regions = REGIONS.read().unwrap_or_else(|p| p.into_inner());
    let (&start, region) = regions.range(..=addr).next_back()?;
    let end = start.checked_add(region.len)?;
    let slice_end = addr.checked_add(slice.len())?;
    (slice_end <= end).then(|| (Arc::clone(&region.file), (addr - start) as u64))
}

/// A sealed memfd mapped read-only; unregistered and unmapped on drop.
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is read-only memory owned by this value; sharing or moving a pointer to
// immutable bytes between threads is safe.
unsafe impl Send for Mapping {}
// SAFETY: as above; `&Mapping` only gives out `&[u8]`.
unsafe impl Sync for Mapping {}

impl AsRef<[u8]> for Mapping {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr` is a live PROT_READ mapping of `len` bytes of a memfd sealed against
        // writes, shrinking and growing (see `shared_payload`), so the bytes exist, are
        // readable and never change while `self` lives; `len` > 0.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        {
            let mut regions = REGIONS.write().unwrap_or_else(|p| p.into_inner());
            regions.remove(&(self.ptr as usize));
        }
        LIVE.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: `ptr`/`len` are exactly the mapping made in `shared_payload`, unmapped only
        // here, once; no slice of it outlives `self` (Bytes keeps its owner alive).
        let _ = unsafe { rustix::mm::munmap(self.ptr.cast(), self.len) };
    }
}

/// `chunks`, concatenated, in a sealed memfd mapped read-only (see the module doc). Fails if
/// the total is below [`MIN_SHARED`], if as many mappings as allowed are live, or if the
/// system refuses (no memfd, out of memory); the caller then keeps the bytes on the heap.
pub fn shared_payload(chunks: &[&[u8]]) -> io::Result<Bytes> {
    let len: usize = chunks.iter().map(|c| c.len()).sum();
    if len < MIN_SHARED {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "payload too small to share",
        ));
    }
    if LIVE.load(Ordering::Relaxed) >= *MAX_LIVE {
        return Err(io::Error::new(
            io::ErrorKind::QuotaExceeded,
            "as many shared payloads as descriptors allow",
        ));
    }
    let fd = rustix::fs::memfd_create(
        "vidstream-media",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )?;
    let mut file = File::from(fd);
    file.set_len(len as u64)?;
    let mut slices: Vec<IoSlice<'_>> = chunks.iter().map(|c| IoSlice::new(c)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        let n = file.write_vectored(rest)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "memfd write"));
        }
        IoSlice::advance_slices(&mut rest, n);
    }
    let fd = OwnedFd::from(file);
    rustix::fs::fcntl_add_seals(
        &fd,
        SealFlags::WRITE | SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL,
    )?;
    // SAFETY: a fresh read-only shared mapping of a file we made and sealed: its size is fixed
    // at `len` and its bytes can no longer change (F_SEAL_WRITE refuses writes and writable
    // mappings, F_SEAL_SHRINK truncation), so reading the mapping is sound for its whole life.
    let ptr = unsafe {
        rustix::mm::mmap(
            std::ptr::null_mut(),
            len,
            ProtFlags::READ,
            MapFlags::SHARED,
            &fd,
            0,
        )?
    }
    .cast::<u8>();
    let mapping = Mapping { ptr, len };
    {
        let mut regions = REGIONS.write().unwrap_or_else(|p| p.into_inner());
        regions.insert(
            ptr as usize,
            Region {
                len,
                file: Arc::new(fd),
            },
        );
    }
    LIVE.fetch_add(1, Ordering::Relaxed);
    Ok(Bytes::from_owner(mapping))
}

/// An accepted connection that sends shared payloads with `sendfile` (see the module doc).
#[derive(Debug)]
pub struct ZeroCopyStream {
    inner: TcpStream,
}

impl ZeroCopyStream {
    /// Wraps an accepted connection.
    pub fn new(inner: TcpStream) -> Self {
        ZeroCopyStream { inner }
    }

    /// Runs `op` on the socket when it is writable, until it does not report `WouldBlock`.
    fn poll_op<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&TcpStream) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            ready!(self.inner.poll_write_ready(cx))?;
            match self.inner.try_io(Interest::WRITABLE, || op(&self.inner)) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return Poll::Ready(r),
            }
        }
    }

    fn poll_sendfile(
        &self,
        cx: &mut Context<'_>,
        file: &OwnedFd,
        offset: u64,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        self.poll_op(cx, |sock| {
            let mut at = offset;
            let n = rustix::fs::sendfile(sock, file, Some(&mut at), len)?;
            SENT.fetch_add(n as u64, Ordering::Relaxed);
            Ok(n)
        })
    }
}

impl AsyncRead for ZeroCopyStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ZeroCopyStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match region_of(buf) {
            Some((file, offset)) => self.poll_sendfile(cx, &file, offset, buf.len()),
            None => Pin::new(&mut self.inner).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let bufs = match bufs.iter().position(|b| !b.is_empty()) {
            Some(i) => &bufs[i..],
            None => return Poll::Ready(Ok(0)),
        };
        if let Some((file, offset)) = region_of(&bufs[0]) {
            return self.poll_sendfile(cx, &file, offset, bufs[0].len());
        }
        // The plain slices up to the first shareable one; more follows them if there is one.
        let plain = bufs
            .iter()
            .position(|b| region_of(b).is_some())
            .unwrap_or(bufs.len());
        if plain == bufs.len() {
            return Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        }
        let head = &bufs[..plain];
        self.poll_op(cx, |sock| {
            let mut control = SendAncillaryBuffer::default();
            Ok(rustix::net::sendmsg(
                sock,
                head,
                &mut control,
                SendFlags::MORE | SendFlags::NOSIGNAL,
            )?)
        })
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn pattern(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn shared_payload_holds_the_chunks_and_is_registered_while_alive() {
        let a = pattern(20_000, 1);
        let b = pattern(30_000, 2);
        let bytes = shared_payload(&[&a, &b]).expect("memfd");
        assert_eq!(&bytes[..20_000], &a[..]);
        assert_eq!(&bytes[20_000..], &b[..]);
        let slice = bytes.slice(25_000..45_000);
        let (_, offset) = region_of(&slice).expect("registered");
        assert_eq!(offset, 25_000);
        // Small slices are copied; small payloads stay on the heap.
        assert!(region_of(&bytes[..100]).is_none());
        assert!(shared_payload(&[&a[..100]]).is_err());
        let addr = bytes.as_ptr() as usize;
        drop(slice);
        drop(bytes);
        let regions = REGIONS.read().unwrap();
        assert!(regions.get(&addr).is_none(), "unregistered on drop");
    }

    /// Head, shared payload, tail, as hyper writes a response: the peer gets exactly the bytes,
    /// and the shared part went out with sendfile.
    #[tokio::test]
    async fn vectored_writes_mix_plain_and_shared_slices_exactly() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let payload_src = pattern(3 * 1024 * 1024 + 17, 7);
        let payload = shared_payload(&[&payload_src]).unwrap();
        let head = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        let tail = pattern(100, 9);
        let mut expected = head.clone();
        expected.extend_from_slice(&payload[1000..]);
        expected.extend_from_slice(&tail);
        let want = expected.len();
        let reader = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            got
        });
        let mut w = ZeroCopyStream::new(TcpStream::connect(addr).await.unwrap());
        let body = payload.slice(1000..);
        let parts = [&head[..], &body[..], &tail[..]];
        let before = bytes_sent_zero_copy();
        let mut sent = 0;
        while sent < want {
            // Re-slice the parts from `sent` on, as a writer advancing its queue does.
            let mut skip = sent;
            let mut slices = Vec::new();
            for p in parts {
                if skip >= p.len() {
                    skip -= p.len();
                    continue;
                }
                slices.push(IoSlice::new(&p[skip..]));
                skip = 0;
            }
            let n = std::future::poll_fn(|cx| Pin::new(&mut w).poll_write_vectored(cx, &slices))
                .await
                .unwrap();
            assert!(n > 0);
            sent += n;
        }
        w.shutdown().await.unwrap();
        drop(w);
        let got = reader.await.unwrap();
        assert_eq!(got.len(), want);
        assert!(got == expected, "bytes differ");
        assert!(bytes_sent_zero_copy() - before >= body.len() as u64);
    }
}
