//! GetMedia: stored fragments from a start point, then the live tail, as one long stream of
//! standalone MKV documents (one per fragment, KVS-API.md §1.3, §1.9).
//!
//! History, then the live tail, come from [`crate::media::follow`] (no gap, no duplicate).
//! Frames of the fragment being written go out as they arrive.
//!
//! After each fragment come the tags `AWS_KINESISVIDEO_MILLIS_BEHIND_NOW` and
//! `AWS_KINESISVIDEO_CONTINUATION_TOKEN` (the fragment's number: a CONTINUATION_TOKEN request
//! resumes right after it). If a fragment cannot be completed — its producer failed, or this
//! reader fell so far behind the live bus that events were lost — its document ends with
//! `AWS_KINESISVIDEO_ERROR_ID`/`_ERROR_CODE` tags; after a fall-behind the reader resumes from the
//! store, so that fragment is then sent again, whole.

use bytes::Bytes;
use tokio::sync::mpsc;

use super::mkv_doc::{self, StoredDocuments};
use crate::media::Media;
use crate::media::follow::{Follow, Item, Mode};
use crate::model::StreamId;
use crate::store::StoreError;
use crate::store::fragment::{FragmentNumber, FragmentRecord};

pub use crate::media::follow::Start;

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
    media: Media,
    stream: StreamId,
    tx: Tx,
    /// Stored fragments as documents.
    docs: StoredDocuments,
    /// The live fragment whose document is open.
    current: Option<(FragmentNumber, i64, i64)>,
}

impl GetMedia {
    /// A GetMedia for `stream` that writes to `tx`.
    pub fn new(media: Media, stream: StreamId, tx: Tx) -> Self {
        GetMedia {
            docs: StoredDocuments::new(media.clone()),
            media,
            stream,
            tx,
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
        let mut follow = Follow::new(self.media.clone(), self.stream, start, Mode::Frames);
        loop {
            let item = tokio::select! {
                item = follow.next() => item.map_err(Ok)?,
                // The client went away while nothing was being written to it.
                () = self.tx.closed() => return Err(Err(Gone)),
            };
            let Some(item) = item else {
                return Ok(()); // the stream was deleted or the server is closing
            };
            self.on_item(item).await?;
        }
    }

    async fn send_stored(&mut self, rec: &FragmentRecord) -> Result<(), Result<StoreError, Gone>> {
        let (tracks, raw) = self.docs.read(rec).await.map_err(Ok)?;
        let extra = self.reader_tags(rec.number, rec.server_ms + rec.duration_ms);
        for part in mkv_doc::stored_document(&tracks, rec, raw, &extra) {
            self.send(part).await?;
        }
        Ok(())
    }

    fn reader_tags(&self, n: FragmentNumber, end_server_ms: i64) -> Vec<(&'static str, String)> {
        let behind = (self.media.store().now().millis() - end_server_ms).max(0);
        vec![
            ("AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", behind.to_string()),
            ("AWS_KINESISVIDEO_CONTINUATION_TOKEN", n.to_string()),
        ]
    }

    async fn on_item(&mut self, item: Item) -> Result<(), Result<StoreError, Gone>> {
        match item {
            Item::Stored(rec) => self.send_stored(&rec).await?,
            Item::Start(s) => {
                let head = mkv_doc::live_head(
                    &s.tracks,
                    &s.number.to_string(),
                    s.producer_ms,
                    s.server_ms,
                );
                self.send(Bytes::from(head)).await?;
                self.current = Some((s.number, s.producer_ms, s.server_ms));
            }
            Item::Frame(f) => {
                let block = mkv_doc::live_frame(f.track, f.rel_ms, f.keyframe, &f.data);
                self.send(Bytes::from(block)).await?;
            }
            Item::End(e) => {
                if let Some((n, _, server_ms)) = self.current.take() {
                    let tail = mkv_doc::document_tail(
                        &e.tags,
                        &self.reader_tags(n, server_ms + e.duration_ms),
                    );
                    self.send(Bytes::from(tail)).await?;
                }
            }
            Item::Aborted(_) => self.fail_current("3002", "ERROR_WRITING_TO_STREAM").await?,
            Item::LiveEdge => {}
            Item::Lagged { missed, .. } => {
                tracing::info!(
                    missed,
                    "getMedia reader fell behind; resuming from the store"
                );
                self.fail_current("5000", "INTERNAL_ERROR").await?;
            }
        }
        Ok(())
    }

    async fn send(&mut self, part: Bytes) -> Result<(), Result<StoreError, Gone>> {
        self.tx.send(Ok(part)).await.map_err(|e| Err(Gone::from(e)))
    }

    /// Ends the open live document with error tags.
    async fn fail_current(&mut self, id: &str, code: &str) -> Result<(), Result<StoreError, Gone>> {
        if self.current.take().is_some() {
            let tail = mkv_doc::document_tail(
                &[],
                &[
                    ("AWS_KINESISVIDEO_ERROR_ID", id.to_owned()),
                    ("AWS_KINESISVIDEO_ERROR_CODE", code.to_owned()),
                ],
            );
            self.send(Bytes::from(tail)).await?;
        }
        Ok(())
    }
}
