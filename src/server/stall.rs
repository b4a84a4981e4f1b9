//! The write timeout: a connection whose writes make no progress for `[http]
//! write_timeout_secs` is closed.
//!
//! hyper has timeouts for reading a request's head, none for writing a response. A client that
//! stops reading (a stalled GetMedia reader, a paused download) fills the socket's buffers and
//! then holds its connection, its per-stream reader slot and whatever the response was about to
//! send, for as long as it likes. [`WriteDeadline`] wraps the connection's I/O: while a write,
//! flush or shutdown is pending, a timer runs; any progress disarms it; if it fires, the pending
//! call fails with `TimedOut` and hyper drops the connection. Reads are untouched (streaming
//! request bodies have their own idle timeouts).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// `S` with a deadline on write progress.
pub struct WriteDeadline<S> {
    inner: S,
    timeout: Duration,
    /// Armed while a write-side call is pending.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<S> WriteDeadline<S> {
    /// Wraps `inner`; a write-side call pending for `timeout` fails.
    pub fn new(inner: S, timeout: Duration) -> Self {
        WriteDeadline {
            inner,
            timeout,
            timer: None,
        }
    }

    /// After a write-side poll: progress disarms the timer; pending arms it (once) and fails
    /// the call once it fires.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.timer = None;
            return poll;
        }
        let timeout = self.timeout;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.timer = None;
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client read nothing for [http] write_timeout_secs",
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch(cx, poll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A peer that never reads: the writer fails with TimedOut after the timeout, not before.
    #[tokio::test]
    async fn a_write_without_progress_times_out() {
        let (a, _b) = tokio::io::duplex(1024);
        let mut w = WriteDeadline::new(a, Duration::from_millis(300));
        let t = std::time::Instant::now();
        let big = vec![0u8; 64 * 1024];
        let err = w.write_all(&big).await.expect_err("the peer never reads");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(
            t.elapsed() >= Duration::from_millis(300),
            "{:?}",
            t.elapsed()
        );
    }

    /// A slow reader that keeps making progress is never cut off.
    #[tokio::test]
    async fn a_slow_reader_is_not_cut_off() {
        use tokio::io::AsyncReadExt;
        let (a, mut b) = tokio::io::duplex(1024);
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let mut total = 0;
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                match b.read(&mut buf).await {
                    Ok(0) | Err(_) => return total,
                    Ok(n) => total += n,
                }
            }
        });
        let mut w = WriteDeadline::new(a, Duration::from_millis(200));
        w.write_all(&vec![7u8; 16 * 1024]).await.unwrap();
        w.shutdown().await.unwrap();
        drop(w);
        assert_eq!(reader.await.unwrap(), 16 * 1024);
    }
}
