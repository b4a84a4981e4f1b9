//! Stored fragments as stored, for readers that send stored bytes on as they are (GetClip's
//! media payloads, the MKV documents of GetMedia and GetMediaForFragmentList): index records by
//! number, the stored Tracks element, the cluster bytes with their trailer (frame table,
//! producer tags), and optionally the samples. These reads bypass the media cache: such readers
//! go through many fragments once, and the bytes they send are the stored ones.
//!
//! The caller holds the segments ([`crate::store::Store::hold_segments`]) from the index query
//! that returned the records until it has read the last fragment.

use bytes::Bytes;

use super::model::{self, MediaTrack, Sample};
use super::reader::{Media, ReadError};
use crate::model::StreamId;
use crate::store::StoreError;
use crate::store::fragment::{FragmentNumber, FragmentRecord, Trailer};

/// A stored fragment's bytes: the cluster, byte for byte, and its trailer.
#[derive(Debug, Clone)]
pub struct Raw {
    /// The stored Cluster element.
    pub cluster: Bytes,
    /// Its frame table (offsets into `cluster`, in decode order) and producer tags.
    pub trailer: Trailer,
}

/// A stored fragment's bytes with its samples.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The stored bytes.
    pub raw: Raw,
    /// The samples, one per entry of `raw.trailer.frames`, in the same order.
    pub samples: Vec<Sample>,
}

impl Media {
    /// The index records of `numbers` (fragments of `stream`), as the index returns them;
    /// [`ReadError::NotFound`] names the first number that is not in the index.
    pub async fn records(
        &self,
        stream: StreamId,
        numbers: &[FragmentNumber],
    ) -> Result<Vec<FragmentRecord>, ReadError> {
        let records = self.store().fragments_by_number(stream, numbers).await?;
        if let Some(&missing) = numbers
            .iter()
            .find(|n| !records.iter().any(|r| r.number == **n))
        {
            return Err(ReadError::NotFound(missing));
        }
        Ok(records)
    }

    /// The MKV Tracks element of a stored track header, as stored (what an MKV document
    /// copies byte for byte).
    pub async fn tracks_element(&self, track_header_id: i64) -> Result<Bytes, StoreError> {
        Ok(self
            .store()
            .track_header(track_header_id)
            .await?
            .header
            .tracks)
    }

    /// The stored bytes of a fragment.
    pub async fn read_raw(&self, rec: &FragmentRecord) -> Result<Raw, StoreError> {
        let (cluster, trailer) = self.store().read_fragment(rec).await?;
        Ok(Raw { cluster, trailer })
    }

    /// The stored bytes of a fragment and its samples, timed with `tracks` (its track header's,
    /// from [`Media::tracks`]: a reader of many fragments under one header parses it once).
    pub async fn read_stored(
        &self,
        rec: &FragmentRecord,
        tracks: &[MediaTrack],
    ) -> Result<Stored, ReadError> {
        let raw = self.read_raw(rec).await?;
        let samples = model::samples(tracks, &raw.cluster, &raw.trailer).map_err(|source| {
            ReadError::Damaged {
                number: rec.number,
                source,
            }
        })?;
        Ok(Stored { raw, samples })
    }
}
