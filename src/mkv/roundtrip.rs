//! Round-trip support shared by the tests and the `mkv_roundtrip` fuzz target: re-write a
//! sequence of [`Event`]s with the [writer](super::write_cluster) functions, and reduce events
//! to what must survive that (their [`Essence`]).
//!
//! Public (and hidden from the docs) only because the fuzz crate in `fuzz/` is a separate crate
//! and needs it; it is not part of vidstream's API.

use bytes::Bytes;

use super::{
    Event, Info, SimpleTag, Track, simple_block_len, write_cluster_start, write_ebml_header,
    write_info, write_segment_start_unknown, write_simple_block, write_tags, write_tracks,
};

/// What of an event must come back unchanged through writer → reader. Left out: byte offsets,
/// declared Segment sizes, end markers (an input cut short gets them only from the re-read),
/// and per-frame lacing and BlockGroup durations (the writer emits one SimpleBlock per frame).
#[derive(Debug, Clone, PartialEq)]
pub enum Essence {
    /// A document starts.
    Header(String),
    /// A Segment starts.
    Segment,
    /// Segment Info.
    Info(Info),
    /// Tracks.
    Tracks(Vec<Track>),
    /// A Cluster starts at this timecode.
    Cluster(u64),
    /// A frame: track, timecode, keyframe, invisible, discardable, payload.
    Frame(u64, i64, bool, bool, bool, Bytes),
    /// Tags.
    Tags(Vec<SimpleTag>),
}

/// The essence of `events`, in order.
pub fn essence(events: &[Event]) -> Vec<Essence> {
    events
        .iter()
        .filter_map(|event| {
            Some(match event {
                Event::Header(header) => Essence::Header(header.doc_type.clone()),
                Event::SegmentStart { .. } => Essence::Segment,
                Event::Info(info) => Essence::Info(info.clone()),
                Event::Tracks(tracks) => Essence::Tracks(tracks.clone()),
                Event::ClusterStart { timecode, .. } => Essence::Cluster(*timecode),
                Event::Frame(f) => Essence::Frame(
                    f.track,
                    f.timecode,
                    f.keyframe,
                    f.invisible,
                    f.discardable,
                    f.data.clone(),
                ),
                Event::Tags(tags) => Essence::Tags(tags.clone()),
                Event::ClusterEnd | Event::SegmentEnd => return None,
            })
        })
        .collect()
}

/// Writes `events` (as a reader produced them) back as Matroska: each document with an
/// unknown-size Segment, each Cluster with a known size or an unknown one, one SimpleBlock per
/// frame.
pub fn write_events(buf: &mut Vec<u8>, events: &[Event], known_size_clusters: bool) {
    // The open Cluster's timecode and frames, written when it ends.
    let mut cluster: Option<(u64, Vec<&super::Frame>)> = None;
    let flush = |buf: &mut Vec<u8>, cluster: &mut Option<(u64, Vec<&super::Frame>)>| {
        let Some((timecode, frames)) = cluster.take() else {
            return;
        };
        let blocks_len: usize = frames
            .iter()
            .map(|f| simple_block_len(f.track, f.data.len()))
            .sum();
        write_cluster_start(
            buf,
            timecode,
            known_size_clusters.then_some(blocks_len as u64),
        );
        for f in frames {
            // Frames of a cluster are at its timecode plus an i16, so this cannot fail for
            // events a reader produced; saturate rather than panic on anything else.
            let relative = i16::try_from(f.timecode.saturating_sub(timecode as i64)).unwrap_or(
                if f.timecode < timecode as i64 {
                    i16::MIN
                } else {
                    i16::MAX
                },
            );
            let (key, invisible, discardable) = (f.keyframe, f.invisible, f.discardable);
            write_simple_block(buf, f.track, relative, key, invisible, discardable, &f.data);
        }
    };
    for event in events {
        match event {
            Event::Header(header) => write_ebml_header(buf, &header.doc_type),
            Event::SegmentStart { .. } => write_segment_start_unknown(buf),
            Event::Info(info) => write_info(buf, info),
            Event::Tracks(tracks) => write_tracks(buf, tracks),
            Event::Tags(tags) => write_tags(buf, tags),
            Event::ClusterStart { timecode, .. } => {
                flush(buf, &mut cluster);
                cluster = Some((*timecode, Vec::new()));
            }
            Event::Frame(frame) => {
                if let Some((_, frames)) = &mut cluster {
                    frames.push(frame);
                }
            }
            Event::ClusterEnd => flush(buf, &mut cluster),
            Event::SegmentEnd => {}
        }
    }
    flush(buf, &mut cluster);
}
