//! The MKV documents KVS sends per fragment (GetMedia, GetMediaForFragmentList): each is a
//! standalone document, so a consumer can parse every fragment on its own (KVS-API.md §1.9):
//!
//! ```text
//! EBML header
//! Segment (known size: the whole document is sized before it is sent)
//!   Info (TimecodeScale 1 ms)
//!   Tracks                       the stored track header
//!   Tags  AWS_KINESISVIDEO_FRAGMENT_NUMBER, _SERVER_TIMESTAMP, _PRODUCER_TIMESTAMP
//!   Cluster                      the stored cluster, byte for byte
//!   Tags  producer metadata, then any reader-specific tags (MILLIS_BEHIND_NOW, ...)
//! ```
//!
//! Sizing the Segment (KVS leaves it unknown) lets demuxers that read the concatenation, such
//! as ffmpeg's, tell where one document ends and the next begins.
//!
//! A stored fragment becomes its document in one place: [`StoredDocuments`] reads it through
//! [`Media`] and [`stored_document`] frames it; the other functions here are pure framing.

use std::collections::HashMap;

use bytes::Bytes;

use crate::media::{Media, Raw};
use crate::mkv::{self, Info, SimpleTag, TagValue};
use crate::store::StoreError;
use crate::store::fragment::FragmentRecord;

/// `1726677687.758`: epoch seconds with milliseconds, as KVS writes timestamps in tags.
pub fn epoch_seconds(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    format!("{sign}{}.{:03}", abs / 1000, abs % 1000)
}

fn tag(name: &str, value: String) -> SimpleTag {
    SimpleTag {
        name: name.to_owned(),
        value: TagValue::String(value),
    }
}

/// Everything before the cluster: header, Segment start, Info, Tracks, fragment tags. The
/// Segment's size covers these, the cluster (`f.cluster_len` bytes) and `tail_len` bytes of
/// trailing tags.
pub fn document_head(tracks_element: &[u8], f: &FragmentRecord, tail_len: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(tracks_element.len() + 256);
    mkv::write_info(
        &mut body,
        &Info {
            timecode_scale: 1_000_000,
            muxing_app: Some("vidstream".into()),
            writing_app: Some("vidstream".into()),
            ..Info::default()
        },
    );
    body.extend_from_slice(tracks_element);
    mkv::write_tags(
        &mut body,
        &[
            tag("AWS_KINESISVIDEO_FRAGMENT_NUMBER", f.number.to_string()),
            tag(
                "AWS_KINESISVIDEO_SERVER_TIMESTAMP",
                epoch_seconds(f.server_ms),
            ),
            tag(
                "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP",
                epoch_seconds(f.producer_ms),
            ),
        ],
    );
    let segment_len = body.len() + f.cluster_len as usize + tail_len;
    let mut buf = Vec::with_capacity(body.len() + 64);
    mkv::write_ebml_header(&mut buf, "matroska");
    mkv::write_segment_start(&mut buf, segment_len as u64);
    buf.extend_from_slice(&body);
    buf
}

/// The head of a document for a fragment still being written: its sizes are unknown, so the
/// Segment and the Cluster are written with unknown size (the trailing Tags end the Cluster, the
/// next document's EBML header ends the Segment). Ends with the Cluster's Timecode; frames
/// follow as SimpleBlocks.
pub fn live_head(tracks_element: &[u8], number: &str, producer_ms: i64, server_ms: i64) -> Vec<u8> {
    let mut buf = Vec::with_capacity(tracks_element.len() + 256);
    mkv::write_ebml_header(&mut buf, "matroska");
    mkv::write_segment_start_unknown(&mut buf);
    mkv::write_info(
        &mut buf,
        &Info {
            timecode_scale: 1_000_000,
            muxing_app: Some("vidstream".into()),
            writing_app: Some("vidstream".into()),
            ..Info::default()
        },
    );
    buf.extend_from_slice(tracks_element);
    mkv::write_tags(
        &mut buf,
        &[
            tag("AWS_KINESISVIDEO_FRAGMENT_NUMBER", number.to_owned()),
            tag(
                "AWS_KINESISVIDEO_SERVER_TIMESTAMP",
                epoch_seconds(server_ms),
            ),
            tag(
                "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP",
                epoch_seconds(producer_ms),
            ),
        ],
    );
    mkv::write_cluster_start(&mut buf, producer_ms.max(0) as u64, None);
    buf
}

/// One frame of a live fragment, as a SimpleBlock.
pub fn live_frame(track: u64, rel_ms: i16, keyframe: bool, data: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(data.len() + 16);
    mkv::write_simple_block(&mut buf, track, rel_ms, keyframe, false, false, data);
    buf
}

/// Everything after the cluster: the producer's metadata tags, then `extra` tags.
pub fn document_tail(producer_tags: &[(String, String)], extra: &[(&str, String)]) -> Vec<u8> {
    let mut buf = Vec::new();
    if !producer_tags.is_empty() {
        let tags: Vec<SimpleTag> = producer_tags
            .iter()
            .map(|(n, v)| tag(n, v.clone()))
            .collect();
        mkv::write_tags(&mut buf, &tags);
    }
    if !extra.is_empty() {
        let tags: Vec<SimpleTag> = extra.iter().map(|(n, v)| tag(n, v.clone())).collect();
        mkv::write_tags(&mut buf, &tags);
    }
    buf
}

/// A stored fragment `f` as one document: its head, the stored cluster byte for byte, and its
/// tail (the producer's tags from the trailer, then `extra`).
pub fn stored_document(
    tracks_element: &[u8],
    f: &FragmentRecord,
    raw: Raw,
    extra: &[(&str, String)],
) -> [Bytes; 3] {
    let tail = document_tail(&raw.trailer.tags, extra);
    let head = document_head(tracks_element, f, tail.len());
    [Bytes::from(head), raw.cluster, Bytes::from(tail)]
}

/// Reads stored fragments for their documents, one at a time, remembering the Tracks element
/// of each track header it has read (a stream has few).
pub struct StoredDocuments {
    media: Media,
    tracks: HashMap<i64, Bytes>,
}

impl StoredDocuments {
    /// A reader over `media`.
    pub fn new(media: Media) -> Self {
        StoredDocuments {
            media,
            tracks: HashMap::new(),
        }
    }

    /// The Tracks element and the stored bytes of `f`, for [`stored_document`].
    pub async fn read(&mut self, f: &FragmentRecord) -> Result<(Bytes, Raw), StoreError> {
        let tracks = match self.tracks.get(&f.track_header_id) {
            Some(t) => t.clone(),
            None => {
                let t = self.media.tracks_element(f.track_header_id).await?;
                self.tracks.insert(f.track_header_id, t.clone());
                t
            }
        };
        Ok((tracks, self.media.read_raw(f).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_seconds_format() {
        assert_eq!(epoch_seconds(1_726_677_687_758), "1726677687.758");
        assert_eq!(epoch_seconds(5), "0.005");
        assert_eq!(epoch_seconds(-1_500), "-1.500");
    }
}
