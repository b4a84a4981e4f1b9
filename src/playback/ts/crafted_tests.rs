//! Segments from hand-made tracks and samples: track selection, decode timestamps, counters,
//! and malformed or random input, which must give errors (never panics) and leave the
//! continuity counters untouched.

use bytes::Bytes;

use super::tsparse;
use super::*;
use crate::media::{MediaTrack, Sample};

fn h264_track(avcc: &'static [u8]) -> MediaTrack {
    MediaTrack {
        number: 1,
        codec: Codec::H264 {
            avcc: Bytes::from_static(avcc),
        },
        video: Some((320, 240)),
        audio: None,
        default_duration_ns: None,
    }
}

const AVCC: &[u8] = &[
    1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 4, 0x67, 0x42, 0xC0, 0x1E, 1, 0, 4, 0x68, 0xCE, 0x3C, 0x80,
];

fn sample(track: u64, ms: i64, key: bool, data: &'static [u8]) -> Sample {
    Sample {
        track,
        pts_ms: ms,
        dts_ms: ms,
        duration_ms: 33,
        key,
        data: Bytes::from_static(data),
    }
}

#[test]
fn track_selection_errors() {
    let mut cc = Continuity::default();
    assert_eq!(segment(&[], &[], &mut cc), Err(TsError::NoTracks));
    let other = MediaTrack {
        codec: Codec::Other("V_VP9".into()),
        ..h264_track(AVCC)
    };
    assert!(matches!(
        segment(std::slice::from_ref(&other), &[], &mut cc),
        Err(TsError::UnsupportedCodec(m)) if m.contains("V_VP9")
    ));
    // A bad avcC is an error even before any sample needs it.
    assert!(matches!(
        segment(&[h264_track(&[1, 0x42])], &[], &mut cc),
        Err(TsError::BadCodecConfig(_))
    ));
    assert_eq!(cc, Continuity::default());
}

#[test]
fn other_tracks_are_skipped_and_an_empty_segment_is_psi_only() {
    let other = MediaTrack {
        number: 2,
        codec: Codec::Other("S_TEXT/UTF8".into()),
        ..h264_track(AVCC)
    };
    let tracks = [h264_track(AVCC), other];
    let mut cc = Continuity::default();
    let seg = segment(&tracks, &[], &mut cc).expect("segment");
    assert_eq!(seg.len(), 2 * 188);
    let samples = [
        sample(1, 0, true, &[0, 0, 0, 2, 0x65, 0x88]),
        sample(2, 0, true, b"subtitle"),
        sample(1, 33, false, &[0, 0, 0, 2, 0x41, 0x9A]),
    ];
    let seg = segment(&tracks, &samples, &mut cc).expect("segment");
    let parsed = tsparse::parse(&seg, &Continuity::default()).map(|_| ());
    // Counters continued from the first segment, so they do not start at 0.
    assert!(parsed.is_err());
    let parsed = tsparse::parse(
        &seg,
        &Continuity {
            pat: 1,
            pmt: 1,
            video: 0,
            audio: 0,
        },
    )
    .expect("packets");
    assert_eq!(parsed.streams, [(0x1B, VIDEO_PID)]);
    assert_eq!(parsed.pes.len(), 2);
    assert_eq!(parsed.pes[1].pts, 33 * 90);
    assert_eq!(parsed.pes[1].dts, 33 * 90);
    assert_eq!(
        cc,
        Continuity {
            pat: 2,
            pmt: 2,
            video: 2,
            audio: 0
        }
    );
}

#[test]
fn malformed_samples_are_errors_and_leave_the_counters() {
    let tracks = [h264_track(AVCC)];
    let start = Continuity {
        pat: 3,
        pmt: 4,
        video: 15,
        audio: 0,
    };
    let bad: [&'static [u8]; 4] = [
        &[0, 0, 0, 9, 0x65, 0x88],
        &[0, 0],
        &[0xFF, 0xFF, 0xFF, 0xFF, 0x65],
        &[],
    ];
    for data in bad {
        let mut cc = start.clone();
        let samples = [
            sample(1, 0, true, &[0, 0, 0, 2, 0x65, 0x88]),
            sample(1, 33, false, data),
        ];
        assert!(
            matches!(
                segment(&tracks, &samples, &mut cc),
                Err(TsError::BadSample(_))
            ),
            "{data:?}"
        );
        assert_eq!(cc, start);
    }
    // An AAC frame too large for ADTS.
    let aac = MediaTrack {
        number: 2,
        codec: Codec::Aac {
            asc: Bytes::from_static(&[0x11, 0x88]),
        },
        video: None,
        audio: Some((48_000, 1)),
        default_duration_ns: None,
    };
    let big = Sample {
        data: Bytes::from(vec![0u8; 9000]),
        ..sample(2, 0, true, &[])
    };
    let mut cc = Continuity::default();
    assert!(matches!(
        segment(&[aac], &[big], &mut cc),
        Err(TsError::BadSample(_))
    ));
}

#[test]
fn garbage_samples_never_panic() {
    // Pseudo-random bytes as frames of every codec: errors or segments, never a panic, and
    // whatever comes out is well-formed at the packet level.
    let aac = MediaTrack {
        number: 2,
        codec: Codec::Aac {
            asc: Bytes::from_static(&[0x11, 0x88]),
        },
        video: None,
        audio: Some((48_000, 1)),
        default_duration_ns: None,
    };
    let tracks = [h264_track(AVCC), aac];
    let mut x: u32 = 0x1234_5678;
    for round in 0..500 {
        let len = round % 64;
        let data: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                // Mostly small bytes, so that some length prefixes are plausible.
                if x.is_multiple_of(3) {
                    x as u8
                } else {
                    (x % 8) as u8
                }
            })
            .collect();
        let s = Sample {
            data: Bytes::from(data),
            ..sample(1 + (round as u64 % 2), round as i64, round % 5 == 0, &[])
        };
        let mut cc = Continuity::default();
        if let Ok(seg) = segment(&tracks, &[s], &mut cc) {
            tsparse::parse(&seg, &Continuity::default()).expect("well-formed");
        }
    }
}

#[test]
fn reordered_frames_carry_dts_and_leave_decode_order() {
    // I P B: the B frame is decoded after P but shown before it.
    let mut s = [
        sample(1, 0, true, &[0, 0, 0, 2, 0x65, 0x88]),
        sample(1, 100, false, &[0, 0, 0, 2, 0x41, 0x9A]),
        sample(1, 33, false, &[0, 0, 0, 2, 0x01, 0x9E]),
    ];
    for (s, dts) in s.iter_mut().zip([-33, 0, 33]) {
        s.dts_ms = dts;
    }
    let seg = segment(&[h264_track(AVCC)], &s, &mut Continuity::default()).expect("segment");
    let parsed = tsparse::parse(&seg, &Continuity::default()).expect("packets");
    let ts: Vec<(u64, u64)> = parsed.pes.iter().map(|p| (p.pts, p.dts)).collect();
    // A negative DTS wraps around the 33-bit clock.
    assert_eq!(
        ts,
        [(0, (1 << 33) - 33 * 90), (9_000, 0), (33 * 90, 33 * 90)]
    );
}
