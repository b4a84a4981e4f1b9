//! GetMediaForFragmentList (the wire is `api::archived`): the fragments asked for by number,
//! each sent as a standalone MKV document ([`super::mkv_doc`]), read one at a time.

use bytes::Bytes;

use super::mkv_doc::{self, StoredDocuments};
use crate::media::{Media, ReadError};
use crate::model::StreamId;
use crate::store::SegmentHold;
use crate::store::fragment::{FragmentNumber, FragmentRecord};

/// The fragments of a request, found in the index and held.
pub struct FragmentList {
    records: Vec<FragmentRecord>,
    hold: SegmentHold,
}

/// Finds `numbers` (fragments of `stream`) and holds their segments: retention must not delete
/// them until the last byte is out, even if it removes the fragments from the index meanwhile.
/// [`ReadError::NotFound`] names the first number not in the index.
pub async fn find(
    media: &Media,
    stream: StreamId,
    numbers: &[FragmentNumber],
) -> Result<FragmentList, ReadError> {
    let records = media.records(stream, numbers).await?;
    let hold = media.store().hold_segments(&records);
    Ok(FragmentList { records, hold })
}

impl FragmentList {
    /// One standalone MKV document per fragment, reading one fragment at a time. A read failure
    /// mid-stream ends the body early (the status line has already gone out), and is logged.
    /// The hold keeps the segment files on disk until the last fragment is read.
    pub fn into_body(
        self,
        media: Media,
    ) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        super::spawn_body(move |tx| async move {
            let _hold = self.hold;
            let mut docs = StoredDocuments::new(media);
            for rec in &self.records {
                let (tracks, raw) = match docs.read(rec).await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::error!(fragment = %rec.number, error = %e, "cannot read fragment");
                        let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                        return;
                    }
                };
                for part in mkv_doc::stored_document(&tracks, rec, raw, &[]) {
                    if !part.is_empty() && tx.send(Ok(part)).await.is_err() {
                        return; // the client went away
                    }
                }
            }
        })
    }
}
