//! Box-level checks: what the writers emit is decoded again by mp4-atom (a second
//! implementation) and compared with the samples it was made from. ffmpeg interop is in
//! `interop_tests.rs`.

use std::path::Path;

use bytes::Bytes;
use mp4_atom::{Atom, Decode, Ftyp, Header, Moof, Moov, StszSamples};

use super::*;
use crate::ingest::fragmenter::{FragmentLimits, Fragmenter, Output, TimecodeType};
use crate::media::{self, Sample};
use crate::mkv::{Limits, Reader};

/// A fixture read and fragmented the way ingest does it, purely.
pub(super) struct Fixture {
    pub tracks: Vec<MediaTrack>,
    /// Samples of each stored fragment, in decode order.
    pub fragments: Vec<Vec<Sample>>,
}

impl Fixture {
    pub fn all_samples(&self) -> Vec<Sample> {
        self.fragments.iter().flatten().cloned().collect()
    }
}

pub(super) const H264: &str = "gst_h264_320x240_gop30_5s.mkv";
pub(super) const H265: &str = "gst_h265_320x240_gop30_3s.mkv";
pub(super) const H264_AAC: &str = "gst_h264_aac_320x240_3s.mkv";

pub(super) fn load(name: &str) -> Fixture {
    load_path(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name),
    )
}

/// Reads an MKV file and fragments it as ingest does (one fragment per Cluster).
pub(super) fn load_path(path: &Path) -> Fixture {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = Reader::new(Limits::default());
    reader.push(&data);
    let mut events = Vec::new();
    while let Some(ev) = reader.pull().expect("fixture parses") {
        events.push(ev);
    }
    events.extend(reader.finish().expect("fixture ends cleanly"));
    let mut fragmenter = Fragmenter::new(TimecodeType::Absolute, FragmentLimits::default(), None);
    let mut out = Vec::new();
    for ev in events {
        fragmenter.push(ev, 0, &mut out).expect("fixture fragments");
    }
    fragmenter.finish(&mut out).unwrap();
    let sealed: Vec<_> = out
        .into_iter()
        .filter_map(|o| match o {
            Output::Sealed(s) => Some(s),
            _ => None,
        })
        .collect();
    assert!(!sealed.is_empty());
    let tracks = media::tracks(&sealed[0].track_header).unwrap();
    let fragments = sealed
        .iter()
        .map(|s| media::samples(&tracks, &s.cluster, &s.trailer).unwrap())
        .collect();
    Fixture { tracks, fragments }
}

/// Top-level boxes of `data`: (kind, offset, total size).
pub(super) fn top_level(data: &[u8]) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let mut rest = &data[pos..];
        let before = rest.len();
        let header = Header::decode(&mut rest).unwrap();
        let header_len = before - rest.len();
        let size = header_len + header.size.unwrap();
        out.push((header.kind.to_string(), pos, size));
        pos += size;
    }
    assert_eq!(pos, data.len(), "boxes cover the data exactly");
    out
}

pub(super) fn decode_moov(data: &[u8]) -> (Ftyp, Moov) {
    let mut buf = data;
    let ftyp = Ftyp::decode(&mut buf).unwrap();
    let moov = Moov::decode(&mut buf).unwrap();
    (ftyp, moov)
}

fn atom_body<T: Atom>(atom: &T) -> Vec<u8> {
    let mut out = Vec::new();
    atom.encode_body(&mut out).unwrap();
    out
}

#[test]
fn init_segment_carries_each_track_and_its_codec_config_verbatim() {
    let fx = load(H264_AAC);
    let init = init_segment(&fx.tracks).unwrap();
    let boxes: Vec<String> = top_level(&init).into_iter().map(|b| b.0).collect();
    assert_eq!(boxes, ["ftyp", "moov"]);
    let (ftyp, moov) = decode_moov(&init);
    assert!(ftyp.compatible_brands.contains(&b"cmfc".into()));
    assert_eq!(moov.mvhd.next_track_id, 3);
    let ids: Vec<u32> = moov.trak.iter().map(|t| t.tkhd.track_id).collect();
    assert_eq!(ids, [1, 2], "track ids are the mkv track numbers");
    let trex: Vec<u32> = moov
        .mvex
        .as_ref()
        .unwrap()
        .trex
        .iter()
        .map(|t| t.track_id)
        .collect();
    assert_eq!(trex, [1, 2]);

    let video = &moov.trak[0];
    assert_eq!(video.mdia.mdhd.timescale, 90_000);
    assert_eq!(video.mdia.hdlr.handler, b"vide".into());
    assert_eq!(
        (video.tkhd.width.integer(), video.tkhd.height.integer()),
        (320, 240)
    );
    let stbl = &video.mdia.minf.stbl;
    assert!(stbl.stts.entries.is_empty() && stbl.stsc.entries.is_empty());
    assert_eq!(stbl.stsz.samples, StszSamples::Different { sizes: vec![] });
    assert!(stbl.stco.as_ref().unwrap().entries.is_empty());
    let mp4_atom::Codec::Avc1(avc1) = &stbl.stsd.codecs[0] else {
        panic!("not avc1: {:?}", stbl.stsd.codecs)
    };
    assert_eq!((avc1.visual.width, avc1.visual.height), (320, 240));
    let Codec::H264 { avcc } = &fx.tracks[0].codec else {
        panic!()
    };
    assert_eq!(atom_body(&avc1.avcc), avcc.to_vec(), "avcC bytes as stored");

    let audio = &moov.trak[1];
    assert_eq!(audio.mdia.mdhd.timescale, 48_000);
    assert_eq!(audio.mdia.hdlr.handler, b"soun".into());
    let mp4_atom::Codec::Mp4a(mp4a) = &audio.mdia.minf.stbl.stsd.codecs[0] else {
        panic!("not mp4a")
    };
    assert_eq!(mp4a.audio.channel_count, 1);
    assert_eq!(mp4a.audio.sample_rate.integer(), 48_000);
    let Codec::Aac { asc } = &fx.tracks[1].codec else {
        panic!()
    };
    let dec = &mp4a.esds.es_desc.dec_config;
    assert_eq!(dec.object_type_indication, 0x40);
    assert_eq!(dec.dec_specific.as_ref().unwrap().raw, asc.to_vec());
    assert_eq!(timescale(&fx.tracks[1]), 48_000);

    let fx = load(H265);
    let (_, moov) = decode_moov(&init_segment(&fx.tracks).unwrap());
    let mp4_atom::Codec::Hvc1(hvc1) = &moov.trak[0].mdia.minf.stbl.stsd.codecs[0] else {
        panic!("not hvc1")
    };
    let Codec::H265 { hvcc } = &fx.tracks[0].codec else {
        panic!()
    };
    assert_eq!(atom_body(&hvc1.hvcc), hvcc.to_vec(), "hvcC bytes as stored");
}

#[test]
fn unsupported_and_missing_tracks_are_errors_not_panics() {
    let fx = load(H264_AAC);
    assert_eq!(init_segment(&[]), Err(Fmp4Error::NoTracks));
    let other = MediaTrack {
        codec: Codec::Other("V_VP9".into()),
        ..fx.tracks[0].clone()
    };
    assert!(matches!(
        init_segment(std::slice::from_ref(&other)),
        Err(Fmp4Error::UnsupportedCodec(c)) if c == "V_VP9"
    ));
    // An unsupported track next to a supported one is skipped.
    let mixed = [
        other.clone(),
        MediaTrack {
            number: 2,
            ..fx.tracks[0].clone()
        },
    ];
    let (_, moov) = decode_moov(&init_segment(&mixed).unwrap());
    assert_eq!(moov.trak.len(), 1);
    assert_eq!(moov.trak[0].tkhd.track_id, 2);

    let bad = MediaTrack {
        codec: Codec::H264 {
            avcc: Bytes::from_static(&[1, 2]),
        },
        ..fx.tracks[0].clone()
    };
    assert!(matches!(
        init_segment(&[bad]),
        Err(Fmp4Error::CodecConfig { track: 1, .. })
    ));
    let no_asc = MediaTrack {
        codec: Codec::Aac { asc: Bytes::new() },
        ..fx.tracks[1].clone()
    };
    assert!(matches!(
        init_segment(&[no_asc]),
        Err(Fmp4Error::CodecConfig { .. })
    ));
    let zero = MediaTrack {
        number: 0,
        ..fx.tracks[0].clone()
    };
    assert_eq!(init_segment(&[zero]), Err(Fmp4Error::TrackNumber(0)));

    assert_eq!(media_segment(&fx.tracks, &[], 1), Err(Fmp4Error::NoSamples));
    let stray: Vec<Sample> = fx.fragments[0]
        .iter()
        .map(|s| Sample {
            track: 9,
            ..s.clone()
        })
        .collect();
    assert_eq!(
        media_segment(&fx.tracks, &stray, 1),
        Err(Fmp4Error::NoSamples)
    );
    assert_eq!(
        plan_clip(&fx.tracks, &[], 0, 1000),
        Err(Fmp4Error::NoSamples)
    );
    let clip: Vec<ClipSample> = fx.fragments[0].iter().map(clip_sample).collect();
    assert_eq!(
        plan_clip(&fx.tracks, &clip, 1000, 1000),
        Err(Fmp4Error::EmptyRange {
            start_ms: 1000,
            end_ms: 1000
        })
    );
}

#[test]
fn mfhd_sequence_numbers_wrap_explicitly() {
    use super::mfhd_sequence;
    assert_eq!(mfhd_sequence(7), 7);
    assert_eq!(mfhd_sequence(i64::from(u32::MAX)), u32::MAX);
    assert_eq!(mfhd_sequence(i64::from(u32::MAX) + 1), 0);
    assert_eq!(mfhd_sequence(i64::from(u32::MAX) + 5), 4);
    assert_eq!(mfhd_sequence(-3), 0);
    assert_eq!(mfhd_sequence(i64::MAX), u32::MAX);
}

#[test]
fn odd_timing_saturates_instead_of_panicking() {
    let fx = load(H264);
    let mut samples = fx.fragments[0][..3].to_vec();
    samples[0].dts_ms = i64::MAX;
    samples[0].pts_ms = i64::MIN;
    samples[1].duration_ms = 0;
    samples[1].dts_ms = -5;
    samples[2].duration_ms = i64::MAX;
    let seg = media_segment(&fx.tracks, &samples, u32::MAX).unwrap();
    let moof = Moof::decode(&mut &seg.parts[0][..]).unwrap();
    assert_eq!(moof.mfhd.sequence_number, u32::MAX);
    let clip: Vec<ClipSample> = samples.iter().map(clip_sample).collect();
    plan_clip(&fx.tracks, &clip, i64::MIN, i64::MAX).unwrap();
    plan_clip(&fx.tracks, &clip, 0, 1).unwrap_or_else(|e| panic!("{e}"));
}

pub(super) fn clip_sample(s: &Sample) -> ClipSample {
    ClipSample {
        track: s.track,
        pts_ms: s.pts_ms,
        dts_ms: s.dts_ms,
        duration_ms: s.duration_ms,
        key: s.key,
        size: s.data.len() as u32,
    }
}

/// Decodes a media segment and checks every trun entry against the samples it came from:
/// sizes, flags, that each data offset points at exactly the sample bytes, that every video
/// sample is presented exactly at its pts (tfdt + earlier durations + composition offset) and
/// decoded in order, with durations equal to the dts steps where decode times are the dts;
/// AAC frames last 1024 ticks from tfdt = the first dts.
pub(super) fn check_segment(tracks: &[MediaTrack], samples: &[Sample], seq: u32) {
    let seg = media_segment(tracks, samples, seq).unwrap();
    let bytes = seg.to_bytes();
    assert_eq!(seg.len(), bytes.len() as u64);
    let boxes = top_level(&bytes);
    assert_eq!(
        boxes.iter().map(|b| b.0.as_str()).collect::<Vec<_>>(),
        ["moof", "mdat"]
    );
    let moof = Moof::decode(&mut &bytes[..]).unwrap();
    assert_eq!(moof.mfhd.sequence_number, seq);
    let present: Vec<&MediaTrack> = tracks
        .iter()
        .filter(|t| samples.iter().any(|s| s.track == t.number))
        .collect();
    assert_eq!(moof.traf.len(), present.len());
    for (traf, track) in moof.traf.iter().zip(present) {
        let run: Vec<&Sample> = samples.iter().filter(|s| s.track == track.number).collect();
        let ts = i64::from(timescale(track));
        assert_eq!(traf.tfhd.track_id as u64, track.number);
        assert!(traf.tfhd.default_base_is_moof);
        let tfdt = traf.tfdt.as_ref().unwrap().base_media_decode_time as i64;
        if run[0].dts_ms >= 0 {
            assert_eq!(tfdt, (run[0].dts_ms * ts + 500) / 1000);
        } else {
            assert_eq!(tfdt, 0, "decode times before 0 are moved to 0");
        }
        assert_eq!(traf.trun.len(), 1);
        let trun = &traf.trun[0];
        let entries: Vec<_> = trun.samples.iter().collect();
        assert_eq!(entries.len(), run.len());
        let mut pos = trun.data_offset.unwrap() as usize;
        let audio = matches!(track.codec, Codec::Aac { .. });
        let mut decode = tfdt;
        for (i, (e, s)) in entries.iter().zip(&run).enumerate() {
            let size = e.size.unwrap() as usize;
            assert_eq!(&bytes[pos..pos + size], &s.data[..], "sample {i} bytes");
            pos += size;
            let sync = audio || s.key;
            assert_eq!(e.flags, Some(if sync { 0x0200_0000 } else { 0x0101_0000 }));
            let duration = i64::from(e.duration.unwrap());
            if audio {
                assert_eq!(duration, 1024);
                assert_eq!(e.cts, Some(0));
            } else {
                assert_eq!(decode + e.cts.unwrap(), s.pts_ms * 90, "sample {i} pts");
                assert!(duration > 0, "sample {i} decoded after its predecessor");
                match run.get(i + 1) {
                    // Where the decode time is the dts (not moved up from before 0).
                    Some(next) if decode == s.dts_ms * 90 => {
                        assert_eq!(duration, (next.dts_ms - s.dts_ms) * 90, "sample {i}")
                    }
                    Some(_) => {}
                    None => assert_eq!(duration, s.duration_ms * 90),
                }
            }
            decode += duration;
        }
    }
}

#[test]
fn media_segments_point_at_their_samples() {
    for name in [H264, H265, H264_AAC] {
        let fx = load(name);
        for (n, frag) in fx.fragments.iter().enumerate() {
            check_segment(&fx.tracks, frag, n as u32 + 1);
        }
        // An LL-HLS part: a run from the middle of a GOP, starting at a non-keyframe.
        let frag = &fx.fragments[1];
        let part = &frag[7..frag.len().min(17)];
        assert!(!part[0].key);
        check_segment(&fx.tracks, part, 42);
        // One track only (a video-only part of an audio+video stream).
        let video: Vec<Sample> = frag.iter().filter(|s| s.track == 1).cloned().collect();
        check_segment(&fx.tracks, &video, 7);
    }
}

#[test]
fn segment_payloads_are_the_stored_bytes_not_copies() {
    let fx = load(H264);
    let frag = &fx.fragments[0];
    let seg = media_segment(&fx.tracks, frag, 1).unwrap();
    assert_eq!(seg.parts.len(), 1 + frag.len());
    for (part, s) in seg.parts[1..].iter().zip(frag) {
        assert_eq!(part.as_ptr(), s.data.as_ptr(), "same buffer");
    }
}

#[test]
fn mdat_header_switches_to_64_bit_sizes() {
    assert_eq!(
        mdat_header(10).unwrap(),
        [0, 0, 0, 18, b'm', b'd', b'a', b't']
    );
    let big = u64::from(u32::MAX);
    let h = mdat_header(big).unwrap();
    assert_eq!(h.len(), 16);
    assert_eq!(&h[..8], [0, 0, 0, 1, b'm', b'd', b'a', b't']);
    assert_eq!(u64::from_be_bytes(h[8..].try_into().unwrap()), big + 16);
    assert!(mdat_header(u64::MAX).is_err());
}

/// B-frames at a stream that starts at 0: media.rs shifts decode times before 0, which MP4
/// cannot hold; they move to 0, 1 tick, ... and the composition offsets keep every pts exact.
#[test]
fn negative_decode_times_keep_presentation_times() {
    let fx = load(H264);
    let track = &fx.tracks[0];
    // Decode order I P B B P with pts 0, 100, 33, 67, 200 → dts -33, 0, 33, 67, 100.
    let t = |pts_ms, dts_ms| SampleTimes {
        pts_ms,
        dts_ms,
        duration_ms: 33,
    };
    let line = timeline(
        track,
        &[t(0, -33), t(100, 0), t(33, 33), t(67, 67), t(200, 100)],
    );
    assert_eq!(line.base, 0);
    assert_eq!(line.durations, [1, 33 * 90 - 1, 34 * 90, 33 * 90, 33 * 90]);
    let mut decode = line.base as i64;
    let pts: Vec<i64> = line
        .durations
        .iter()
        .zip(&line.offsets)
        .map(|(&d, &o)| {
            let p = decode + i64::from(o);
            decode += i64::from(d);
            p / 90
        })
        .collect();
    assert_eq!(pts, [0, 100, 33, 67, 200]);

    let samples: Vec<Sample> = [(0, -33, true), (100, 0, false), (33, 33, false)]
        .iter()
        .zip(&fx.fragments[0])
        .map(|(&(pts_ms, dts_ms, key), s)| Sample {
            pts_ms,
            dts_ms,
            key,
            duration_ms: 33,
            ..s.clone()
        })
        .collect();
    check_segment(&fx.tracks, &samples, 1);
}

#[test]
fn codec_strings_follow_rfc_6381() {
    let fx = load(H264_AAC);
    // Constrained Baseline (66, constraint_set1) level 1.3, per the fixture's avcC.
    let Codec::H264 { avcc } = &fx.tracks[0].codec else {
        panic!()
    };
    assert_eq!(
        codec_string(&fx.tracks[0]).unwrap(),
        format!("avc1.{:02x}{:02x}{:02x}", avcc[1], avcc[2], avcc[3])
    );
    let avc = codec_string(&fx.tracks[0]).unwrap();
    // ffprobe: Constrained Baseline (profile_idc 66), level 13.
    assert!(avc.starts_with("avc1.42") && avc.ends_with("0d"), "{avc}");
    assert_eq!(codec_string(&fx.tracks[1]).unwrap(), "mp4a.40.2", "aac-lc");

    // ISO/IEC 14496-15 Annex E example: Main profile, compatible with Main and Main 10,
    // Main tier level 3.1, progressive source flag only.
    let mut hvcc = vec![1u8, 0x01, 0x60, 0, 0, 0, 0xb0, 0, 0, 0, 0, 0, 93];
    hvcc.extend_from_slice(&[0xf0, 0, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0, 0x0f, 0]);
    let track = MediaTrack {
        codec: Codec::H265 { hvcc: hvcc.into() },
        ..fx.tracks[0].clone()
    };
    assert_eq!(codec_string(&track).unwrap(), "hvc1.1.6.L93.B0");
    let fx265 = load(H265);
    // ffprobe: Main, level 60; the hvcC has compatibility 0x60000000, constraints 90 00….
    assert_eq!(codec_string(&fx265.tracks[0]).unwrap(), "hvc1.1.6.L60.90");

    let short = MediaTrack {
        codec: Codec::H265 {
            hvcc: Bytes::from_static(&[1, 2, 3]),
        },
        ..fx.tracks[0].clone()
    };
    assert_eq!(codec_string(&short), None);
    let other = MediaTrack {
        codec: Codec::Other("V_VP9".into()),
        ..fx.tracks[0].clone()
    };
    assert_eq!(codec_string(&other), None);
}

/// Random tracks, timings (also negative, equal, decreasing, huge) and sizes: the writers
/// never panic, and whatever they return decodes again.
#[test]
fn random_input_never_panics_and_always_decodes() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let fx = load(H264_AAC);
    let mut rng = StdRng::seed_from_u64(0x666d7034);
    let payload = Bytes::from(vec![0u8; 4096]);
    for round in 0..300 {
        let n = rng.random_range(0..40);
        let mut t = rng.random_range(-2_000i64..2_000);
        let samples: Vec<Sample> = (0..n)
            .map(|_| {
                t += rng.random_range(-40..80);
                let wild = round % 10 == 0 && rng.random_bool(0.2);
                let (pts, dts) = if wild {
                    (rng.random(), rng.random())
                } else {
                    let dts = t;
                    (dts + rng.random_range(0..100), dts)
                };
                Sample {
                    track: rng.random_range(0..4),
                    pts_ms: pts,
                    dts_ms: dts,
                    duration_ms: if wild {
                        rng.random()
                    } else {
                        rng.random_range(-5..50)
                    },
                    key: rng.random_bool(0.3),
                    data: payload.slice(..rng.random_range(0..4096)),
                }
            })
            .collect();
        match media_segment(&fx.tracks, &samples, round) {
            Ok(seg) => {
                let bytes = seg.to_bytes();
                let moof = Moof::decode(&mut &bytes[..]).unwrap();
                let written: usize = moof.traf.iter().map(|t| t.trun[0].samples.len()).sum();
                let expected = samples
                    .iter()
                    .filter(|s| s.track == 1 || s.track == 2)
                    .count();
                assert_eq!(written, expected);
                assert_eq!(top_level(&bytes).len(), 2);
            }
            Err(e) => assert_eq!(e, Fmp4Error::NoSamples),
        }
        let clip: Vec<ClipSample> = samples.iter().map(clip_sample).collect();
        let start = rng.random_range(-3_000..3_000);
        let end = if round % 7 == 0 {
            rng.random()
        } else {
            start + rng.random_range(-100..2_000)
        };
        match plan_clip(&fx.tracks, &clip, start, end) {
            Ok(layout) => {
                let head = &layout.head;
                let (_, moov) = decode_moov(&head[..head.len() - 8]);
                assert!(!moov.trak.is_empty());
                let total: u64 = layout
                    .samples
                    .iter()
                    .map(|&i| u64::from(clip[i].size))
                    .sum();
                assert_eq!(total, layout.mdat_len);
            }
            Err(Fmp4Error::EmptyRange { .. }) => assert!(end <= start),
            Err(e) => assert_eq!(e, Fmp4Error::NoSamples),
        }
    }
}
