//! Fuzzes the codec configurations a producer (or a camera) supplies in MKV CodecPrivate, as the
//! playback writers read them: the AVC and HEVC decoder configuration records (their parameter
//! sets, put before keyframes in MPEG-TS; decoded into `avcC`/`hvcC` boxes for fMP4) and the
//! AAC AudioSpecificConfig (ADTS headers for TS, `esds` and the timescale for fMP4, the
//! `mp4a.40.N` codec string), with frames to convert.
//!
//! Checks, for every input: no panic; errors are errors; a codec string is a plain RFC 6381
//! token (it goes into a quoted playlist attribute); a timescale is non-zero; an init segment is
//! `ftyp` + `moov` and a media segment `moof` + `mdat`, each a whole sequence of boxes; a TS
//! segment is whole 188-byte packets, PAT first, and a refused one leaves the continuity
//! counters as they were.
//!
//! Input layout: byte 0 picks the tracks (bits 0-1: none, H.264, H.265, H.265; bit 2: AAC;
//! bit 3: the AAC track first), then a 2-byte big-endian length and the video configuration
//! record, a 1-byte length and the AudioSpecificConfig, then frames, each a flags byte (bit 0:
//! key, bit 1: audio), a 2-byte big-endian length and the frame's bytes.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use vidstream::media::{Codec, MediaTrack, Sample};
use vidstream::playback::{fmp4, ts};

/// Reads `n` bytes off the front of `data` (fewer when it is shorter).
fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, tail) = data.split_at(n.min(data.len()));
    *data = tail;
    head
}

fn be(bytes: &[u8]) -> usize {
    bytes.iter().fold(0, |acc, &b| (acc << 8) | usize::from(b))
}

/// Walks a sequence of ISO BMFF boxes and returns their types; panics unless the sizes tile
/// the bytes exactly.
fn boxes(data: &[u8]) -> Vec<[u8; 4]> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        assert!(rest.len() >= 8, "a box header cut short");
        let size = match u32::from_be_bytes(rest[..4].try_into().unwrap()) {
            1 => {
                assert!(rest.len() >= 16);
                usize::try_from(u64::from_be_bytes(rest[8..16].try_into().unwrap())).unwrap()
            }
            size => size as usize,
        };
        assert!(
            size >= 8 && size <= rest.len(),
            "box size {size} of {} bytes",
            rest.len()
        );
        out.push(rest[4..8].try_into().unwrap());
        rest = &rest[size..];
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, mut rest)) = data.split_first() else {
        return;
    };
    let video_len = be(take(&mut rest, 2));
    let video_config = Bytes::copy_from_slice(take(&mut rest, video_len));
    let asc_len = be(take(&mut rest, 1));
    let asc = Bytes::copy_from_slice(take(&mut rest, asc_len));

    let mut tracks = Vec::new();
    let video = match pick & 3 {
        0 => None,
        1 => Some(Codec::H264 { avcc: video_config }),
        _ => Some(Codec::H265 { hvcc: video_config }),
    };
    if let Some(codec) = video {
        tracks.push(MediaTrack {
            number: 1,
            codec,
            video: Some((u32::from(pick >> 4) * 160, u32::from(pick >> 4) * 90)),
            audio: None,
            default_duration_ns: None,
        });
    }
    if pick & 4 != 0 {
        let audio = MediaTrack {
            number: 2,
            codec: Codec::Aac { asc },
            video: None,
            audio: (pick & 0x10 != 0).then_some((44_100, 2)),
            default_duration_ns: None,
        };
        if pick & 8 != 0 {
            tracks.insert(0, audio);
        } else {
            tracks.push(audio);
        }
    }

    let mut samples = Vec::new();
    let (mut video_ms, mut audio_ms) = (0i64, 0i64);
    while !rest.is_empty() && samples.len() < 64 {
        let flags = take(&mut rest, 1)[0];
        let len = be(take(&mut rest, 2));
        let data = Bytes::copy_from_slice(take(&mut rest, len));
        let audio = flags & 2 != 0;
        let (track, at, step) = if audio {
            (2, &mut audio_ms, 21)
        } else {
            (1, &mut video_ms, 33)
        };
        samples.push(Sample {
            track,
            pts_ms: *at,
            dts_ms: *at,
            duration_ms: step,
            key: flags & 1 != 0,
            data,
        });
        *at += step;
    }

    for t in &tracks {
        assert!(fmp4::timescale(t) > 0);
        if let Some(codecs) = fmp4::codec_string(t) {
            assert!(
                ["avc1.", "hvc1.", "mp4a.40."]
                    .iter()
                    .any(|p| codecs.starts_with(p))
                    && codecs
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'.'),
                "{codecs:?}"
            );
        }
    }

    if let Ok(init) = fmp4::init_segment(&tracks) {
        assert_eq!(boxes(&init), [*b"ftyp", *b"moov"]);
    }
    if let Ok(segment) = fmp4::media_segment(&tracks, &samples, 7) {
        let bytes = segment.to_bytes();
        assert_eq!(segment.len(), bytes.len() as u64);
        assert_eq!(boxes(&bytes), [*b"moof", *b"mdat"]);
    }

    let mut continuity = ts::Continuity::default();
    match ts::segment(&tracks, &samples, &mut continuity) {
        Ok(segment) => {
            assert_eq!(segment.len() % 188, 0);
            assert!(segment.chunks(188).all(|p| p[0] == 0x47));
            assert_eq!(&segment[1..3], &[0x40, 0x00], "the PAT first");
        }
        Err(_) => assert_eq!(continuity, ts::Continuity::default()),
    }
});
