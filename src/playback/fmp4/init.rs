//! The initialization segment (ftyp + moov with empty sample tables and mvex/trex, ISO/IEC
//! 14496-12 §8.8.1) and the per-track boxes it shares with progressive clips.

use bytes::Bytes;
use mp4_atom::{
    self as atom, Atom, Audio, Avc1, Avcc, Dinf, Dref, DrefEntry, Edts, Encode, Esds, FourCC, Ftyp,
    Hdlr, Hvc1, Hvcc, Mdhd, Mdia, Minf, Moov, Mp4a, Mvex, Mvhd, Smhd, Stbl, Stco, Stsd, Tkhd, Trak,
    Trex, Url, Visual, Vmhd,
};

use mp4_atom::esds::{DecoderConfig, DecoderSpecific, EsDescriptor};

use super::{AudioConfig, Fmp4Error, MOVIE_TIMESCALE, supported_tracks, timescale, track_id};
use crate::media::{Codec, MediaTrack};

/// `ftyp` (§4.3). Fragmented output announces CMAF (`cmfc`, ISO/IEC 23000-19) and `iso6`
/// (tfdt, signed composition offsets); progressive output is plain `isom`/`mp41`.
pub(super) fn ftyp(fragmented: bool) -> Ftyp {
    if fragmented {
        Ftyp {
            major_brand: FourCC::new(b"iso6"),
            minor_version: 0,
            compatible_brands: vec![
                FourCC::new(b"iso6"),
                FourCC::new(b"cmfc"),
                FourCC::new(b"mp41"),
            ],
        }
    } else {
        Ftyp {
            major_brand: FourCC::new(b"isom"),
            minor_version: 512,
            compatible_brands: vec![
                FourCC::new(b"isom"),
                FourCC::new(b"iso2"),
                FourCC::new(b"mp41"),
            ],
        }
    }
}

/// `mvhd` (§8.2.2): millisecond timescale, `duration` in ms (0 when fragmented).
pub(super) fn mvhd(duration: u64, tracks: &[&MediaTrack]) -> Result<Mvhd, Fmp4Error> {
    let mut max_id = 0u32;
    for t in tracks {
        max_id = max_id.max(track_id(t)?);
    }
    Ok(Mvhd {
        timescale: MOVIE_TIMESCALE,
        duration,
        rate: 1u16.into(),
        volume: 1u8.into(),
        next_track_id: max_id.saturating_add(1),
        ..Default::default()
    })
}

/// The codec configuration as a sample entry (`stsd` child): `avc1`+`avcC` (14496-15 §5.4),
/// `hvc1`+`hvcC` (§8.4), `mp4a`+`esds` (14496-14 §5.6).
pub(super) fn sample_entry(track: &MediaTrack) -> Result<atom::Codec, Fmp4Error> {
    let (width, height) = track.video.unwrap_or((0, 0));
    let visual = |compressor: &str| Visual {
        data_reference_index: 1,
        width: u16::try_from(width).unwrap_or(u16::MAX),
        height: u16::try_from(height).unwrap_or(u16::MAX),
        compressor: compressor.into(),
        ..Default::default()
    };
    let bad = |codec: &'static str, reason: String| Fmp4Error::CodecConfig {
        track: track.number,
        codec,
        reason,
    };
    match &track.codec {
        Codec::H264 { avcc } => {
            let avcc =
                Avcc::decode_body(&mut avcc.as_ref()).map_err(|e| bad("avcC", e.to_string()))?;
            Ok(Avc1 {
                visual: visual(""),
                avcc,
                ..Default::default()
            }
            .into())
        }
        Codec::H265 { hvcc } => {
            let hvcc =
                Hvcc::decode_body(&mut hvcc.as_ref()).map_err(|e| bad("hvcC", e.to_string()))?;
            Ok(Hvc1 {
                visual: visual(""),
                hvcc,
                ..Default::default()
            }
            .into())
        }
        Codec::Aac { asc } => {
            let config = AudioConfig::parse(asc).ok_or_else(|| {
                bad(
                    "AudioSpecificConfig",
                    format!("{} bytes do not start a valid config", asc.len()),
                )
            })?;
            let rate = timescale(track);
            let channels = match track.audio {
                Some((_, c)) if c > 0 => c,
                _ => u16::from(config.channels.max(1)),
            };
            Ok(Mp4a {
                audio: Audio {
                    data_reference_index: 1,
                    channel_count: channels,
                    sample_size: 16,
                    // 16.16 fixed point: rates above 65535 Hz do not fit; the esds carries
                    // the real one.
                    sample_rate: u16::try_from(rate).unwrap_or(0).into(),
                },
                esds: Esds {
                    es_desc: EsDescriptor {
                        es_id: u16::try_from(track.number).unwrap_or(0),
                        dec_config: DecoderConfig {
                            // 0x40: Audio ISO/IEC 14496-3; stream type 5: audio.
                            object_type_indication: 0x40,
                            stream_type: 5,
                            up_stream: 0,
                            buffer_size_db: Default::default(),
                            max_bitrate: 0,
                            avg_bitrate: 0,
                            dec_specific: Some(DecoderSpecific {
                                profile: config.object_type,
                                freq_index: config.freq_index,
                                chan_conf: config.channels,
                                raw: asc.to_vec(),
                            }),
                        },
                        ..Default::default()
                    },
                },
                btrt: None,
                taic: None,
            }
            .into())
        }
        Codec::Other(id) => Err(Fmp4Error::UnsupportedCodec(id.clone())),
    }
}

/// Durations of one track, in the units of the boxes that carry them.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct TrackDurations {
    /// `mdhd` duration, media timescale.
    pub media: u64,
    /// `tkhd` duration, movie timescale.
    pub movie: u64,
}

/// One `trak` (§8.3.1) around a sample table.
pub(super) fn trak(
    track: &MediaTrack,
    stbl: Stbl,
    durations: TrackDurations,
    edts: Option<Edts>,
) -> Result<Trak, Fmp4Error> {
    let audio = matches!(track.codec, Codec::Aac { .. });
    let (width, height) = track.video.unwrap_or((0, 0));
    let fixed = |v: u32| u16::try_from(v).unwrap_or(u16::MAX).into();
    Ok(Trak {
        tkhd: Tkhd {
            track_id: track_id(track)?,
            duration: durations.movie,
            // Audio tracks form one alternate group, as muxers conventionally write.
            alternate_group: u16::from(audio),
            enabled: true,
            in_movie: true,
            volume: if audio { 1u8.into() } else { 0u8.into() },
            width: if audio { 0u16.into() } else { fixed(width) },
            height: if audio { 0u16.into() } else { fixed(height) },
            ..Default::default()
        },
        edts,
        mdia: Mdia {
            mdhd: Mdhd {
                timescale: timescale(track),
                duration: durations.media,
                language: "und".into(),
                ..Default::default()
            },
            hdlr: Hdlr {
                handler: FourCC::new(if audio { b"soun" } else { b"vide" }),
                name: if audio {
                    "SoundHandler"
                } else {
                    "VideoHandler"
                }
                .into(),
            },
            minf: Minf {
                vmhd: (!audio).then(Vmhd::default),
                smhd: audio.then(Smhd::default),
                dinf: Dinf {
                    dref: Dref {
                        entries: vec![DrefEntry::Url(Url::default())],
                    },
                },
                stbl,
                ..Default::default()
            },
        },
        ..Default::default()
    })
}

/// ftyp + moov (mvhd, one trak per H.264/H.265/AAC track with empty sample tables, mvex/trex)
/// for fragmented MP4. Tracks with [`Codec::Other`] are skipped; when none is left the result
/// is [`Fmp4Error::NoTracks`] (no tracks at all) or [`Fmp4Error::UnsupportedCodec`]. Track IDs
/// are the MKV track numbers.
pub fn init_segment(tracks: &[MediaTrack]) -> Result<Bytes, Fmp4Error> {
    let tracks = supported_tracks(tracks)?;
    let mut traks = Vec::with_capacity(tracks.len());
    let mut trex = Vec::with_capacity(tracks.len());
    for t in &tracks {
        let stbl = Stbl {
            stsd: Stsd {
                codecs: vec![sample_entry(t)?],
            },
            stco: Some(Stco::default()),
            ..Default::default()
        };
        traks.push(trak(t, stbl, TrackDurations::default(), None)?);
        trex.push(Trex {
            track_id: track_id(t)?,
            default_sample_description_index: 1,
            ..Default::default()
        });
    }
    let moov = Moov {
        mvhd: mvhd(0, &tracks)?,
        mvex: Some(Mvex { mehd: None, trex }),
        trak: traks,
        ..Default::default()
    };
    let mut out = Vec::with_capacity(1024);
    ftyp(true).encode(&mut out)?;
    moov.encode(&mut out)?;
    Ok(out.into())
}
