//! GetMedia: stored fragments from a start point, then the live tail, as one long stream of
//! standalone MKV documents (one per fragment, KVS-API.md §1.3, §1.9).
//!
//! The hand-over from history to live has no gap and no duplicate: the reader subscribes to
//! the live bus *first*, then sends persisted fragments from the store (after the last one
//! sent), then the bus snapshot (fragments not yet persisted, including the one being written,
//! from its first frame), then live events — skipping any fragment number already sent.
//! Frames of the fragment being written go out as they arrive.
//!
//! After each fragment come the tags `AWS_KINESISVIDEO_MILLIS_BEHIND_NOW` and
//! `AWS_KINESISVIDEO_CONTINUATION_TOKEN` (the fragment's number: a CONTINUATION_TOKEN request
//! resumes right after it). If a fragment cannot be completed — its producer failed, or this
//! reader fell so far behind the live bus that events were lost — its document ends with
//! `AWS_KINESISVIDEO_ERROR_ID`/`_ERROR_CODE` tags; after a fall-behind the reader resumes from the
//! store, so that fragment is then sent again, whole.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc};

use super::mkv_doc;
use crate::live::{Buffered, LiveBus, LiveEvent};
use crate::model::StreamId;
use crate::store::fragment::{FragmentNumber, FragmentRecord};
use crate::store::index::FragmentQuery;
use crate::store::{Store, StoreError};

/// Where a GetMedia starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// With the fragment being written now (from its first frame), or the next one to start.
    Now,
    /// With the first fragment whose seq is at least this.
    AtSeq(i64),
    /// With the first fragment whose seq is greater than this.
    AfterSeq(i64),
}

/// Fragments read from the store per index query.
const PAGE: usize = 64;

type Tx = mpsc::Sender<Result<Bytes, std::io::Error>>;

/// The client went away: stop quietly.
struct Gone;

impl From<mpsc::error::SendError<Result<Bytes, std::io::Error>>> for Gone {
    fn from(_: mpsc::error::SendError<Result<Bytes, std::io::Error>>) -> Self {
        Gone
    }
}

/// One GetMedia response in progress.
pub struct GetMedia {
    store: Store,
    bus: Arc<LiveBus>,
    stream: StreamId,
    tx: Tx,
    tracks: HashMap<i64, Bytes>,
    /// Seq of the last fragment sent whole.
    last_sent: i64,
    /// The live fragment whose document is open.
    current: Option<(FragmentNumber, i64, i64)>,
}

impl GetMedia {
    /// A GetMedia for `stream` that writes to `tx`.
    pub fn new(store: Store, bus: Arc<LiveBus>, stream: StreamId, tx: Tx) -> Self {
        GetMedia {
            store,
            bus,
            stream,
            tx,
            tracks: HashMap::new(),
            last_sent: i64::MIN,
            current: None,
        }
    }

    /// Streams until the client goes away or the stream is deleted.
    pub async fn run(mut self, start: Start) {
        let result = self.serve(start).await;
        if let Err(Ok(e)) = result {
            tracing::warn!(error = %e, "getMedia stopped");
            let _ = self
                .tx
                .send(Err(std::io::Error::other(e.to_string())))
                .await;
        }
    }

    async fn serve(&mut self, start: Start) -> Result<(), Result<StoreError, Gone>> {
        let mut now_mode = false;
        match start {
            Start::Now => now_mode = true,
            Start::AtSeq(s) => self.last_sent = s.saturating_sub(1),
            Start::AfterSeq(s) => self.last_sent = s,
        }
        loop {
            let mut sub = self.bus.subscribe(self.stream);
            if now_mode {
                now_mode = false;
                // Skip history: start with the fragment in progress, or the next.
                let in_progress = sub.snapshot.iter().find(|b| b.end.is_none());
                self.last_sent = match in_progress {
                    Some(b) => b.start.number.seq - 1,
                    None => sub
                        .snapshot
                        .last()
                        .map(|b| b.start.number.seq)
                        .or(self
                            .store
                            .last_fragment(self.stream)
                            .await
                            .map_err(Ok)?
                            .map(|f| f.number.seq))
                        .unwrap_or(i64::MIN),
                };
            } else {
                self.send_history().await?;
            }
            for b in std::mem::take(&mut sub.snapshot) {
                self.send_buffered(b).await.map_err(Err)?;
            }
            loop {
                let next = tokio::select! {
                    ev = sub.rx.recv() => ev,
                    // The client went away while nothing was being written to it.
                    () = self.tx.closed() => return Err(Err(Gone)),
                    () = self.bus.closed() => return Ok(()),
                };
                match next {
                    Ok(ev) => self.on_event(ev).await.map_err(Err)?,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::info!(
                            missed = n,
                            "getMedia reader fell behind; resuming from the store"
                        );
                        self.fail_current("5000", "INTERNAL_ERROR")
                            .await
                            .map_err(Err)?;
                        break; // resubscribe and catch up from the store
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                }
            }
        }
    }

    /// Sends every persisted fragment after `last_sent`.
    async fn send_history(&mut self) -> Result<(), Result<StoreError, Gone>> {
        loop {
            let page = self
                .store
                .list_fragments(FragmentQuery {
                    stream: self.stream,
                    range: None,
                    after_seq: Some(self.last_sent),
                    limit: PAGE,
                })
                .await
                .map_err(Ok)?;
            if page.is_empty() {
                return Ok(());
            }
            // Retention may expire these segments while we read: hold them until sent.
            let _hold = self.store.hold_segments(&page);
            for rec in page {
                self.send_stored(&rec).await?;
                self.last_sent = rec.number.seq;
            }
        }
    }

    async fn tracks(&mut self, id: i64) -> Result<Bytes, StoreError> {
        if let Some(t) = self.tracks.get(&id) {
            return Ok(t.clone());
        }
        let t = self.store.track_header(id).await?.header.tracks;
        self.tracks.insert(id, t.clone());
        Ok(t)
    }

    async fn send_stored(&mut self, rec: &FragmentRecord) -> Result<(), Result<StoreError, Gone>> {
        let tracks = self.tracks(rec.track_header_id).await.map_err(Ok)?;
        let (cluster, trailer) = self.store.read_fragment(rec).await.map_err(Ok)?;
        let tail = Bytes::from(mkv_doc::document_tail(
            &trailer.tags,
            &self.reader_tags(rec.number, rec.server_ms + rec.duration_ms),
        ));
        let head = Bytes::from(mkv_doc::document_head(&tracks, rec, tail.len()));
        for part in [head, cluster, tail] {
            self.tx
                .send(Ok(part))
                .await
                .map_err(|e| Err(Gone::from(e)))?;
        }
        Ok(())
    }

    fn reader_tags(&self, n: FragmentNumber, end_server_ms: i64) -> Vec<(&'static str, String)> {
        let behind = (self.store.now().millis() - end_server_ms).max(0);
        vec![
            ("AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", behind.to_string()),
            ("AWS_KINESISVIDEO_CONTINUATION_TOKEN", n.to_string()),
        ]
    }

    async fn send_buffered(&mut self, b: Buffered) -> Result<(), Gone> {
        self.on_event(LiveEvent::Start(b.start)).await?;
        for f in b.frames {
            self.on_event(LiveEvent::Frame(f)).await?;
        }
        if let Some(e) = b.end {
            self.on_event(LiveEvent::End(e)).await?;
        }
        Ok(())
    }

    async fn on_event(&mut self, ev: LiveEvent) -> Result<(), Gone> {
        match ev {
            LiveEvent::Start(s) => {
                if s.number.seq <= self.last_sent {
                    return Ok(()); // already sent from the store
                }
                if self.current.is_some() {
                    self.fail_current("3002", "ERROR_WRITING_TO_STREAM").await?;
                }
                let head = mkv_doc::live_head(
                    &s.tracks,
                    &s.number.to_string(),
                    s.producer_ms,
                    s.server_ms,
                );
                self.tx.send(Ok(Bytes::from(head))).await?;
                self.current = Some((s.number, s.producer_ms, s.server_ms));
            }
            LiveEvent::Frame(f) => {
                if self.current.is_some_and(|(n, _, _)| n == f.number) {
                    let block = mkv_doc::live_frame(f.track, f.rel_ms, f.keyframe, &f.data);
                    self.tx.send(Ok(Bytes::from(block))).await?;
                }
            }
            LiveEvent::End(e) => {
                if let Some((n, _, server_ms)) = self.current
                    && n == e.number
                {
                    let tail = mkv_doc::document_tail(
                        &e.tags,
                        &self.reader_tags(n, server_ms + e.duration_ms),
                    );
                    self.tx.send(Ok(Bytes::from(tail))).await?;
                    self.last_sent = n.seq;
                    self.current = None;
                }
            }
            LiveEvent::Persisted(_) => {}
            LiveEvent::Aborted(n) => {
                if self.current.is_some_and(|(c, _, _)| c == n) {
                    self.fail_current("3002", "ERROR_WRITING_TO_STREAM").await?;
                    // Never stored: do not look for it again.
                    self.last_sent = self.last_sent.max(n.seq);
                }
            }
        }
        Ok(())
    }

    /// Ends the open live document with error tags.
    async fn fail_current(&mut self, id: &str, code: &str) -> Result<(), Gone> {
        if self.current.take().is_some() {
            let tail = mkv_doc::document_tail(
                &[],
                &[
                    ("AWS_KINESISVIDEO_ERROR_ID", id.to_owned()),
                    ("AWS_KINESISVIDEO_ERROR_CODE", code.to_owned()),
                ],
            );
            self.tx.send(Ok(Bytes::from(tail))).await?;
        }
        Ok(())
    }
}
