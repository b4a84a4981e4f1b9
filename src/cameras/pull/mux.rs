//! Frames of one camera connection into the Matroska byte stream of one ingest session.
//!
//! ```text
//! EBML header, Segment (unknown size), Info, Tracks (video 1 [+ AAC 2])   first chunk
//! Cluster (unknown size) at each video keyframe, one SimpleBlock per frame
//! ```
//!
//! The ingest fragmenter cuts a fragment at each Cluster and wants fragments that do not
//! overlap in time (every frame of a fragment after every frame of the one before) and that hold a
//! frame of every track. RTP delivers audio and video on their own schedules, so frames are
//! interleaved here by time, as a muxer's collect-pads would: a frame waits until the other
//! track has a later one, or until it is [`MAX_WAIT_MS`] older than the newest frame (a track that
//! went quiet must not hold the other back). Before the first video keyframe nothing is written.
//!
//! Pure: no clock, no I/O. Each frame payload is copied once, into the output chunk.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::mkv::{self, AudioSettings, Info, Track, TrackType, VideoSettings};

/// Longest a frame waits for the other track before it is written anyway.
pub const MAX_WAIT_MS: i64 = 500;

/// Most frames held per track while waiting (about 2 s of 30 fps video or 48 kHz AAC).
const MAX_QUEUE: usize = 100;

/// Matroska track number of the video (the audio, when present, is 2).
pub const VIDEO_TRACK: u64 = 1;
/// Matroska track number of the AAC audio.
pub const AUDIO_TRACK: u64 = 2;

/// A track as announced by the camera.
#[derive(Debug, Clone, PartialEq)]
pub enum TrackSpec {
    /// H.264 or H.265 video.
    Video {
        /// `V_MPEG4/ISO/AVC` or `V_MPEGH/ISO/HEVC`.
        codec_id: &'static str,
        /// avcC or hvcC (4-byte NAL lengths).
        codec_private: Bytes,
        /// Width and height in pixels.
        size: (u32, u32),
    },
    /// AAC audio.
    Aac {
        /// AudioSpecificConfig.
        config: Bytes,
        /// Sampling rate in Hz.
        rate: u32,
        /// Channels.
        channels: u16,
    },
}

struct Pending {
    ms: i64,
    key: bool,
    data: Vec<u8>,
}

/// The muxer of one ingest session.
pub struct Muxer {
    header: Option<Vec<u8>>,
    /// Video queue, then the audio queue when there is audio.
    queues: Vec<VecDeque<Pending>>,
    /// Timecode (ms) of the open Cluster.
    cluster_ms: Option<i64>,
    /// Latest frame time written.
    last_ms: i64,
    /// Latest frame time pushed.
    newest_ms: i64,
    out: Vec<u8>,
}

impl Muxer {
    /// A muxer for a video track and an optional AAC track.
    pub fn new(video: &TrackSpec, audio: Option<&TrackSpec>) -> Muxer {
        let mut tracks = vec![track(VIDEO_TRACK, video)];
        if let Some(a) = audio {
            tracks.push(track(AUDIO_TRACK, a));
        }
        let mut header = Vec::with_capacity(256);
        mkv::write_ebml_header(&mut header, "matroska");
        mkv::write_segment_start_unknown(&mut header);
        mkv::write_info(
            &mut header,
            &Info {
                muxing_app: Some("vidstream".into()),
                writing_app: Some("vidstream camera agent".into()),
                ..Info::default()
            },
        );
        mkv::write_tracks(&mut header, &tracks);
        Muxer {
            header: Some(header),
            queues: (0..tracks.len()).map(|_| VecDeque::new()).collect(),
            cluster_ms: None,
            last_ms: i64::MIN,
            newest_ms: i64::MIN,
            out: Vec::new(),
        }
    }

    /// Adds a frame of `track` ([`VIDEO_TRACK`] or [`AUDIO_TRACK`]) at `ms` and returns the
    /// bytes that can be written now (None when the frames wait). Video frames are 4-byte
    /// length-prefixed NAL units; audio frames raw AAC.
    pub fn push(&mut self, track: u64, ms: i64, key: bool, data: Vec<u8>) -> Option<Bytes> {
        let q = track
            .checked_sub(1)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.queues.get_mut(i))?;
        if q.len() >= MAX_QUEUE {
            // Only when the other track is far ahead in time yet its frames keep coming:
            // the oldest frame goes, the memory stays bounded.
            q.pop_front();
        }
        q.push_back(Pending { ms, key, data });
        self.newest_ms = self.newest_ms.max(ms);
        self.drain();
        if self.out.is_empty() {
            None
        } else {
            Some(Bytes::from(std::mem::take(&mut self.out)))
        }
    }

    /// Writes the frames whose turn it is.
    fn drain(&mut self) {
        loop {
            // The track whose oldest frame is earliest; video wins ties, so a keyframe starts
            // its cluster before audio of the same millisecond.
            let mut next: Option<(usize, i64)> = None;
            let mut other_empty = false;
            for (i, q) in self.queues.iter().enumerate() {
                match q.front() {
                    Some(p) if next.is_none_or(|(_, ms)| p.ms < ms) => next = Some((i, p.ms)),
                    Some(_) => {}
                    None => other_empty = true,
                }
            }
            let Some((i, ms)) = next else { return };
            if other_empty && self.newest_ms - ms < MAX_WAIT_MS {
                return;
            }
            let Some(p) = self.queues[i].pop_front() else {
                return;
            };
            self.write(i as u64 + 1, p);
        }
    }

    fn write(&mut self, track: u64, p: Pending) {
        let key = p.key && track == VIDEO_TRACK;
        let cluster = if key {
            // Strictly after everything already written: fragments must not overlap.
            let tc = if self.last_ms == i64::MIN {
                p.ms
            } else {
                p.ms.max(self.last_ms + 1)
            };
            if let Some(h) = self.header.take() {
                self.out.extend_from_slice(&h);
            }
            mkv::write_cluster_start(&mut self.out, u64::try_from(tc).unwrap_or(0), None);
            self.cluster_ms = Some(tc);
            tc
        } else {
            match self.cluster_ms {
                Some(c) => c,
                // Nothing is written before the first keyframe.
                None => return,
            }
        };
        let ms = p.ms.max(cluster);
        let Ok(rel) = i16::try_from(ms - cluster) else {
            // A GOP longer than 32 s cannot be one Cluster; the fragmenter's duration limit
            // (30 s) fails the session before this is reached.
            return;
        };
        self.last_ms = self.last_ms.max(ms);
        self.out.reserve(mkv::simple_block_len(track, p.data.len()));
        mkv::write_simple_block(&mut self.out, track, rel, p.key, false, false, &p.data);
    }
}

fn track(number: u64, spec: &TrackSpec) -> Track {
    let mut t = Track {
        number,
        uid: number,
        track_type: TrackType::Video,
        codec_id: String::new(),
        codec_private: Bytes::new(),
        name: None,
        default_duration: None,
        codec_delay: None,
        video: None,
        audio: None,
    };
    match spec {
        TrackSpec::Video {
            codec_id,
            codec_private,
            size,
        } => {
            t.codec_id = (*codec_id).to_owned();
            t.codec_private = codec_private.clone();
            t.video = Some(VideoSettings {
                pixel_width: u64::from(size.0),
                pixel_height: u64::from(size.1),
            });
        }
        TrackSpec::Aac {
            config,
            rate,
            channels,
        } => {
            t.track_type = TrackType::Audio;
            t.codec_id = "A_AAC".into();
            t.codec_private = config.clone();
            t.audio = Some(AudioSettings {
                sampling_frequency: f64::from(*rate),
                channels: u64::from(*channels),
                bit_depth: None,
            });
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::fragmenter::{Fragmenter, Output, TimecodeType};
    use crate::mkv::{Event, Limits, Reader};

    fn video() -> TrackSpec {
        TrackSpec::Video {
            codec_id: "V_MPEG4/ISO/AVC",
            codec_private: Bytes::from_static(&[1, 0x42, 0xC0, 0x1E, 0xFF, 0xE0, 0, 0xE0]),
            size: (320, 240),
        }
    }

    fn aac() -> TrackSpec {
        TrackSpec::Aac {
            config: Bytes::from_static(&[0x11, 0x88]),
            rate: 48_000,
            channels: 1,
        }
    }

    /// (track, ms, keyframe) per frame, cluster timecodes, tracks.
    type ReadBack = (Vec<(u64, i64, bool)>, Vec<u64>, Vec<Track>);

    /// Everything the muxer wrote, read back.
    fn read(bytes: &[Bytes]) -> ReadBack {
        let mut r = Reader::new(Limits::default());
        for b in bytes {
            r.push(b);
        }
        let events = r.finish().expect("muxer output parses");
        let mut frames = Vec::new();
        let mut clusters = Vec::new();
        let mut tracks = Vec::new();
        for e in events {
            match e {
                Event::Frame(f) => frames.push((f.track, f.timecode, f.keyframe)),
                Event::ClusterStart { timecode, .. } => clusters.push(timecode),
                Event::Tracks(t) => tracks = t,
                _ => {}
            }
        }
        (frames, clusters, tracks)
    }

    #[test]
    fn video_only_starts_at_the_first_keyframe() {
        let mut m = Muxer::new(&video(), None);
        let mut out = Vec::new();
        // A P-frame before the first keyframe is dropped; each keyframe opens a cluster.
        for (ms, key) in [
            (0, false),
            (33, true),
            (67, false),
            (100, true),
            (133, false),
        ] {
            out.extend(m.push(VIDEO_TRACK, ms, key, vec![0, 0, 0, 1, 0x65]));
        }
        let (frames, clusters, tracks) = read(&out);
        assert_eq!(
            frames,
            vec![
                (1, 33, true),
                (1, 67, false),
                (1, 100, true),
                (1, 133, false)
            ]
        );
        assert_eq!(clusters, vec![33, 100]);
        assert_eq!(tracks.len(), 1);
        assert_eq!(tracks[0].codec_id, "V_MPEG4/ISO/AVC");
        assert_eq!(tracks[0].video.map(|v| v.pixel_width), Some(320));
    }

    #[test]
    fn audio_and_video_are_interleaved_by_time_into_valid_fragments() {
        let mut m = Muxer::new(&video(), Some(&aac()));
        let mut out = Vec::new();
        // Audio runs ahead of video by up to 80 ms in arrival order, as RTP delivers it.
        let mut audio_ms = 0;
        for i in 0..90i64 {
            let v = i * 100 / 3;
            while audio_ms <= v + 80 {
                out.extend(m.push(AUDIO_TRACK, audio_ms, true, vec![0x21; 10]));
                audio_ms += 21;
            }
            out.extend(m.push(VIDEO_TRACK, v, i % 30 == 0, vec![0, 0, 0, 1, 0x41]));
        }
        let (frames, clusters, tracks) = read(&out);
        assert_eq!(tracks.len(), 2);
        assert_eq!(tracks[1].codec_id, "A_AAC");
        assert_eq!(clusters, vec![0, 1000, 2000]);
        // Written in time order, so no fragment overlaps the one before.
        assert!(frames.windows(2).all(|w| w[0].1 <= w[1].1), "{frames:?}");
        // The ingest fragmenter accepts it: fragments with both tracks.
        let mut f = Fragmenter::new(
            TimecodeType::Relative {
                start_ms: 1_000_000,
            },
            Default::default(),
            None,
        );
        let mut r = Reader::new(Limits::default());
        let mut outs = Vec::new();
        for b in &out {
            r.push(b);
            while let Some(ev) = r.pull().expect("parses") {
                f.push(ev, 0, &mut outs).expect("fragmenter accepts");
            }
        }
        let sealed = outs
            .iter()
            .filter(|o| matches!(o, Output::Sealed(_)))
            .count();
        assert_eq!(sealed, 2);
    }

    #[test]
    fn a_quiet_audio_track_does_not_hold_the_video() {
        let mut m = Muxer::new(&video(), Some(&aac()));
        let mut out = Vec::new();
        for i in 0..30i64 {
            out.extend(m.push(VIDEO_TRACK, i * 33, i == 0, vec![0, 0, 0, 1, 0x41]));
        }
        let (frames, _, _) = read(&out);
        // Everything older than MAX_WAIT_MS behind the newest frame is out.
        assert!(
            frames.len() >= 30 - (MAX_WAIT_MS / 33) as usize - 1,
            "{frames:?}"
        );
    }

    #[test]
    fn late_frames_never_go_before_the_open_cluster() {
        let mut m = Muxer::new(&video(), None);
        let mut out = Vec::new();
        out.extend(m.push(VIDEO_TRACK, 1000, true, vec![1]));
        out.extend(m.push(VIDEO_TRACK, 1033, false, vec![2]));
        // A re-anchored clock jumps back: the next cluster still starts after the last frame.
        out.extend(m.push(VIDEO_TRACK, 500, true, vec![3]));
        out.extend(m.push(VIDEO_TRACK, 533, false, vec![4]));
        let (frames, clusters, _) = read(&out);
        assert_eq!(clusters, vec![1000, 1034]);
        assert_eq!(frames[2..], [(1, 1034, true), (1, 1034, false)]);
    }
}
