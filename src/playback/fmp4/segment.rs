//! Media segments: `moof` + `mdat` (ISO/IEC 14496-12 §8.8.4), one `traf` per track present,
//! for any run of samples (a whole fragment, or an LL-HLS part that starts mid-GOP).

use bytes::Bytes;
use mp4_atom::{Encode, Mfhd, Moof, Tfdt, Tfhd, Traf, Trun, TrunEntry};

use super::{
    Fmp4Error, SampleTimes, concat, is_audio, mdat_header, sample_flags, supported_tracks,
    timeline, track_id,
};
use crate::media::{MediaTrack, Sample};

/// One media segment as the byte ranges to send, in order: the generated `moof` and `mdat`
/// header first, then the samples' stored payloads (not copied).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Segment {
    /// The bytes of the segment, in order.
    pub parts: Vec<Bytes>,
}

impl Segment {
    /// Total length in bytes (for `Content-Length`).
    pub fn len(&self) -> u64 {
        self.parts.iter().map(|p| p.len() as u64).sum()
    }

    /// Whether the segment has no bytes (never true for a built segment).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The parts, to stream as a body in order (e.g. through `futures_util::stream::iter`).
    pub fn into_body(self) -> Vec<Bytes> {
        self.parts
    }

    /// The whole segment in one buffer (copies the payloads; for small uses and tests).
    pub fn to_bytes(&self) -> Bytes {
        concat(&self.parts)
    }
}

/// The `mfhd` sequence number of fragment `seq`: a 32-bit field, so fragment numbers past
/// 2^32 - 1 wrap around (players only compare neighbours, and `tfdt` carries the time); a
/// negative seq (never stored) gives 0. One explicit rule instead of an `as` cast.
pub fn mfhd_sequence(seq: i64) -> u32 {
    u32::try_from(seq.max(0) & i64::from(u32::MAX)).unwrap_or(0)
}

/// One media segment: `moof` (`mfhd` with `sequence_number`; per track present, in track order,
/// a `traf` with `tfhd` default-base-is-moof, `tfdt` v1 = the first sample's decode time in the
/// track timescale, and a `trun` v1 with data offset and per-sample duration, size, flags and
/// signed composition offset) followed by `mdat` holding each track's samples contiguously.
/// Keyframes are sync samples (`sample_depends_on` 2), other video samples are not; every AAC
/// access unit is a sync sample.
///
/// `samples` are in decode order (tracks interleaved, as [`crate::media::samples`]
/// returns them) and may be any run of a fragment, also one starting at a non-keyframe.
/// Samples of tracks that are not in `tracks` or cannot be written are left out; when none is
/// left the result is [`Fmp4Error::NoSamples`].
pub fn media_segment(
    tracks: &[MediaTrack],
    samples: &[Sample],
    sequence_number: u32,
) -> Result<Segment, Fmp4Error> {
    let tracks = supported_tracks(tracks)?;
    let runs: Vec<(&MediaTrack, Vec<&Sample>)> = tracks
        .iter()
        .map(|t| (*t, samples.iter().filter(|s| s.track == t.number).collect()))
        .filter(|(_, s): &(_, Vec<&Sample>)| !s.is_empty())
        .collect();
    if runs.is_empty() {
        return Err(Fmp4Error::NoSamples);
    }

    let mut trafs = Vec::with_capacity(runs.len());
    let mut payload_len = 0u64;
    // Where each traf's data starts within the mdat payload.
    let mut starts = Vec::with_capacity(runs.len());
    for (track, run) in &runs {
        let audio = is_audio(track);
        let times: Vec<SampleTimes> = run
            .iter()
            .map(|s| SampleTimes {
                pts_ms: s.pts_ms,
                dts_ms: s.dts_ms,
                duration_ms: s.duration_ms,
            })
            .collect();
        let line = timeline(track, &times);
        let mut entries = Vec::with_capacity(run.len());
        starts.push(payload_len);
        for ((s, &duration), &cts) in run.iter().zip(&line.durations).zip(&line.offsets) {
            let size = u32::try_from(s.data.len()).map_err(|_| Fmp4Error::TooLarge("sample"))?;
            payload_len += u64::from(size);
            entries.push(TrunEntry {
                duration: Some(duration),
                size: Some(size),
                flags: Some(sample_flags(audio || s.key)),
                cts: Some(i64::from(cts)),
            });
        }
        trafs.push(Traf {
            tfhd: Tfhd {
                track_id: track_id(track)?,
                default_base_is_moof: true,
                ..Default::default()
            },
            tfdt: Some(Tfdt {
                base_media_decode_time: line.base,
            }),
            trun: vec![Trun {
                data_offset: Some(0),
                samples: entries.into(),
            }],
            ..Default::default()
        });
    }

    let mut moof = Moof {
        mfhd: Mfhd { sequence_number },
        traf: trafs,
    };
    // The data offsets do not change the moof's size: measure it, then fill them in.
    let mut head = Vec::new();
    moof.encode(&mut head)?;
    let mdat = mdat_header(payload_len)?;
    let base = (head.len() + mdat.len()) as u64;
    for (traf, start) in moof.traf.iter_mut().zip(&starts) {
        let offset =
            i32::try_from(base + start).map_err(|_| Fmp4Error::TooLarge("trun data offset"))?;
        for trun in &mut traf.trun {
            trun.data_offset = Some(offset);
        }
    }
    let measured = head.len();
    head.clear();
    moof.encode(&mut head)?;
    debug_assert_eq!(measured, head.len(), "data offsets changed the moof size");
    head.extend_from_slice(&mdat);

    let mut parts = Vec::with_capacity(1 + samples.len());
    parts.push(Bytes::from(head));
    for (_, run) in &runs {
        parts.extend(
            run.iter()
                .filter(|s| !s.data.is_empty())
                .map(|s| s.data.clone()),
        );
    }
    Ok(Segment { parts })
}
