//! Any MKV byte stream (a file, or GStreamer's matroskamux output) → the PutMedia body the
//! uploader sends: one header (EBML + unknown-size Segment + Info + Tracks) and self-contained
//! fragments, each one unknown-size Cluster followed by an `AWS_KINESISVIDEO_END_OF_FRAGMENT`
//! tag so the server seals (and acks) it at once instead of waiting for the next cluster.
//!
//! Why re-serialize instead of forwarding the muxer's bytes: every fragment must be a byte blob
//! we can resend after a reconnect, and its Cluster Timecode must be rewritten (ABSOLUTE
//! timecodes = epoch ms, so producer timestamps are the same on every connection and `gen` can
//! fan one encoded pattern out to many streams with per-stream timecodes). Frame payloads are
//! copied untouched, so a pushed file's packets come back byte for byte. Tags in the source
//! (producer fragment metadata) are not forwarded.

use bytes::Bytes;

use super::ClientError;
use crate::mkv::{self, Event, Info, Limits, Reader, SimpleTag, TagValue, Track};

/// One frame of a fragment, with its time relative to the fragment start.
#[derive(Debug, Clone)]
pub struct FragFrame {
    /// Track number.
    pub track: u64,
    /// ms after the fragment's timecode (negative for frames shown before it).
    pub rel_ms: i16,
    /// Keyframe.
    pub key: bool,
    /// Payload.
    pub data: Bytes,
}

/// A fragment before its absolute timecode is chosen.
#[derive(Debug, Clone)]
pub struct SourceFragment {
    /// ms since the source's first cluster.
    pub offset_ms: u64,
    /// Its frames.
    pub frames: Vec<FragFrame>,
}

impl SourceFragment {
    /// Cluster(timecode_ms) + end-of-fragment tag.
    pub fn serialize(&self, timecode_ms: u64) -> Bytes {
        let size: usize = self.frames.iter().map(|f| f.data.len() + 16).sum();
        let mut b = Vec::with_capacity(size + 96);
        mkv::write_cluster_start(&mut b, timecode_ms, None);
        for f in &self.frames {
            mkv::write_simple_block(&mut b, f.track, f.rel_ms, f.key, false, false, &f.data);
        }
        mkv::write_tags(
            &mut b,
            &[SimpleTag {
                name: "AWS_KINESISVIDEO_END_OF_FRAGMENT".into(),
                value: TagValue::String(String::new()),
            }],
        );
        Bytes::from(b)
    }

    /// Payload bytes.
    pub fn payload_len(&self) -> usize {
        self.frames.iter().map(|f| f.data.len()).sum()
    }
}

/// What the remuxer produced.
#[derive(Debug, Clone)]
pub enum Output {
    /// The body header, once, before any fragment.
    Head(Bytes),
    /// A complete fragment.
    Fragment(SourceFragment),
}

/// Streaming MKV → [`Output`]s.
#[derive(Debug)]
pub struct Remuxer {
    reader: Reader,
    /// ns per timecode unit of the input.
    scale_ns: u64,
    first_cluster_ms: Option<i64>,
    current: Option<(i64, Vec<FragFrame>)>,
    head_sent: bool,
}

impl Default for Remuxer {
    fn default() -> Self {
        Self::new()
    }
}

impl Remuxer {
    /// A remuxer with the default MKV limits.
    pub fn new() -> Self {
        Remuxer {
            reader: Reader::new(Limits::default()),
            scale_ns: 1_000_000,
            first_cluster_ms: None,
            current: None,
            head_sent: false,
        }
    }

    /// Feeds bytes; returns what became complete.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<Output>, ClientError> {
        self.reader.push(data);
        let mut out = Vec::new();
        while let Some(ev) = self
            .reader
            .pull()
            .map_err(|e| ClientError::Source(e.to_string()))?
        {
            self.event(ev, &mut out)?;
        }
        Ok(out)
    }

    /// The input ended: flushes the last fragment.
    pub fn finish(&mut self) -> Result<Vec<Output>, ClientError> {
        let mut out = Vec::new();
        for ev in self
            .reader
            .finish()
            .map_err(|e| ClientError::Source(e.to_string()))?
        {
            self.event(ev, &mut out)?;
        }
        self.close_fragment(&mut out);
        Ok(out)
    }

    fn to_ms(&self, tc: i64) -> i64 {
        (i128::from(tc) * i128::from(self.scale_ns) / 1_000_000) as i64
    }

    fn event(&mut self, ev: Event, out: &mut Vec<Output>) -> Result<(), ClientError> {
        match ev {
            Event::Info(info) => self.scale_ns = info.timecode_scale.max(1),
            Event::Tracks(tracks) => {
                if self.head_sent {
                    return Err(ClientError::Source(
                        "the source changed its tracks mid-stream; restart the push".into(),
                    ));
                }
                out.push(Output::Head(head(&tracks)));
                self.head_sent = true;
            }
            Event::ClusterStart { timecode, .. } => {
                self.close_fragment(out);
                let ms = self.to_ms(timecode as i64);
                self.current = Some((ms, Vec::new()));
            }
            Event::Frame(f) => {
                let frame_ms = self.to_ms(f.timecode);
                let Some((cluster_ms, frames)) = self.current.as_mut() else {
                    return Ok(());
                };
                let rel = i16::try_from(frame_ms - *cluster_ms).map_err(|_| {
                    ClientError::Source(format!(
                        "a frame is {} ms away from its cluster start; clusters must be shorter than 32 s",
                        frame_ms - *cluster_ms
                    ))
                })?;
                frames.push(FragFrame {
                    track: f.track,
                    rel_ms: rel,
                    key: f.keyframe,
                    data: f.data,
                });
            }
            Event::ClusterEnd | Event::SegmentEnd => self.close_fragment(out),
            Event::Header(_) | Event::SegmentStart { .. } | Event::Tags(_) => {}
        }
        Ok(())
    }

    fn close_fragment(&mut self, out: &mut Vec<Output>) {
        let Some((ms, frames)) = self.current.take() else {
            return;
        };
        if frames.is_empty() {
            return;
        }
        let first = *self.first_cluster_ms.get_or_insert(ms);
        out.push(Output::Fragment(SourceFragment {
            offset_ms: (ms - first).max(0) as u64,
            frames,
        }));
    }
}

/// EBML header + unknown-size Segment + Info (1 ms timecodes) + Tracks.
pub fn head(tracks: &[Track]) -> Bytes {
    let mut b = Vec::new();
    mkv::write_ebml_header(&mut b, "matroska");
    mkv::write_segment_start_unknown(&mut b);
    mkv::write_info(
        &mut b,
        &Info {
            muxing_app: Some("vidstream".into()),
            writing_app: Some("vidstream push".into()),
            ..Info::default()
        },
    );
    mkv::write_tracks(&mut b, tracks);
    Bytes::from(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_remuxes_into_one_fragment_per_cluster_with_same_payloads() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/gst_h264_320x240_gop30_5s.mkv"
        );
        let data = std::fs::read(path).unwrap();
        let mut r = Remuxer::new();
        let mut outs = Vec::new();
        for chunk in data.chunks(1000) {
            outs.extend(r.push(chunk).unwrap());
        }
        outs.extend(r.finish().unwrap());
        assert!(matches!(outs[0], Output::Head(_)));
        let frags: Vec<_> = outs
            .iter()
            .filter_map(|o| match o {
                Output::Fragment(f) => Some(f),
                _ => None,
            })
            .collect();
        assert_eq!(frags.len(), 5);
        assert_eq!(frags[0].offset_ms, 0);
        assert_eq!(frags.iter().map(|f| f.frames.len()).sum::<usize>(), 150);
        assert!(frags.iter().all(|f| f.frames[0].key));
        // The serialized fragment parses back with the same frames.
        let Output::Head(h) = &outs[0] else {
            unreachable!()
        };
        let mut rd = Reader::new(Limits::default());
        rd.push(h);
        rd.push(&frags[1].serialize(1_700_000_001_000));
        let mut got = 0;
        while let Some(ev) = rd.pull().unwrap() {
            if let Event::Frame(f) = ev {
                assert_eq!(f.data, frags[1].frames[got].data);
                got += 1;
            }
        }
        assert_eq!(got, frags[1].frames.len());
    }
}
