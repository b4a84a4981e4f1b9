//! Progressive MP4 for GetClip: `ftyp`, `moov` with complete sample tables (ISO/IEC 14496-12
//! §8.5–8.7) and an edit list (§8.6.6), then one `mdat`. Planned from sample metadata alone, so
//! the HTTP layer can send the head at once and stream the stored payloads after it.
//!
//! A clip has to start at a keyframe to decode, but the caller asked for `start_ms`: the media
//! starts at the keyframe at or before `start_ms`, and each track's edit list starts
//! presentation at `start_ms`, so players (and ffmpeg) decode the lead-in frames without
//! showing them.

use bytes::Bytes;
use mp4_atom::{
    Co64, Ctts, CttsEntry, Edts, Elst, ElstEntry, Encode, Moov, Stbl, Stco, Stsc, StscEntry, Stsd,
    Stss, Stsz, StszSamples, Stts, SttsEntry,
};

use super::init::{TrackDurations, ftyp, mvhd, sample_entry, trak};
use super::{
    Fmp4Error, MOVIE_TIMESCALE, SampleTimes, is_audio, mdat_header, ms_to_ticks, supported_tracks,
    timeline, timescale,
};
use crate::media::MediaTrack;

/// What a clip needs to know about one stored frame (its payload is not needed to plan).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClipSample {
    /// MKV track number.
    pub track: u64,
    /// Presentation timestamp, ms.
    pub pts_ms: i64,
    /// Decode timestamp, ms (≤ pts).
    pub dts_ms: i64,
    /// Duration, ms (used for each track's last sample).
    pub duration_ms: i64,
    /// Keyframe.
    pub key: bool,
    /// Payload size in bytes (from the frame table).
    pub size: u32,
}

/// A planned clip: send `head`, then the payloads of `samples` (indices into the planned input,
/// in this order, back to back), `mdat_len` bytes in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipLayout {
    /// ftyp + moov + the mdat header.
    pub head: Bytes,
    /// Payload bytes that follow `head` (the mdat body).
    pub mdat_len: u64,
    /// Which input samples' payloads make up the mdat, in order (input order, minus the samples
    /// the clip does not need: other tracks, lead-in before the keyframe, past the end).
    pub samples: Vec<usize>,
    /// Presentation length of the clip, ms.
    pub duration_ms: u64,
}

impl ClipLayout {
    /// Total file length (`Content-Length`).
    pub fn len(&self) -> u64 {
        self.head.len() as u64 + self.mdat_len
    }

    /// Whether the file is empty (never true for a planned clip).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One track's part of the plan.
struct TrackPlan<'a> {
    track: &'a MediaTrack,
    /// Sample tables without chunk offsets.
    stbl: Stbl,
    /// Each chunk's offset within the mdat body.
    chunks: Vec<u64>,
    durations: TrackDurations,
    edts: Edts,
}

/// Plans a non-fragmented MP4 with moov first (ftyp; moov with full stbl: stts, ctts when
/// needed, stss, stsz, stsc, stco or co64; an edit list so that playback starts exactly at
/// `start_ms` and ends at `end_ms`), then mdat.
///
/// `samples` are in decode order, tracks interleaved. Kept: samples of the writable tracks,
/// from each video track's last keyframe at or before `start_ms` (or its first sample) and
/// each audio track's last frame ending at or before `start_ms` (one frame of decoder
/// pre-roll), up to the last sample decoded before `end_ms`. Their payloads must follow the head
/// in [`ClipLayout::samples`] order; runs of one track form one chunk.
pub fn plan_clip(
    tracks: &[MediaTrack],
    samples: &[ClipSample],
    start_ms: i64,
    end_ms: i64,
) -> Result<ClipLayout, Fmp4Error> {
    let tracks = supported_tracks(tracks)?;
    if end_ms <= start_ms {
        return Err(Fmp4Error::EmptyRange { start_ms, end_ms });
    }

    // Which samples to keep, per track, then in input order.
    let mut keep = vec![false; samples.len()];
    for t in &tracks {
        let idx: Vec<usize> = (0..samples.len())
            .filter(|&i| samples[i].track == t.number && samples[i].dts_ms < end_ms)
            .collect();
        let first = if is_audio(t) {
            let ends_before = |&i: &usize| {
                samples[i]
                    .pts_ms
                    .saturating_add(samples[i].duration_ms.max(0))
                    <= start_ms
            };
            let n = idx.iter().take_while(|i| ends_before(i)).count();
            n.saturating_sub(1)
        } else {
            idx.iter()
                .rposition(|&i| samples[i].key && samples[i].pts_ms <= start_ms)
                .unwrap_or(0)
        };
        for &i in idx.get(first..).unwrap_or(&[]) {
            keep[i] = true;
        }
    }
    let order: Vec<usize> = (0..samples.len()).filter(|&i| keep[i]).collect();
    if order.is_empty() {
        return Err(Fmp4Error::NoSamples);
    }

    // Chunks: runs of consecutive kept samples of one track.
    let mut chunk_runs: Vec<(u64, u64, u32)> = Vec::new(); // (track, offset, samples)
    let mut mdat_len = 0u64;
    for &i in &order {
        let s = &samples[i];
        match chunk_runs.last_mut() {
            Some((track, _, n)) if *track == s.track => *n += 1,
            _ => chunk_runs.push((s.track, mdat_len, 1)),
        }
        mdat_len += u64::from(s.size);
    }

    let mut plans = Vec::with_capacity(tracks.len());
    for t in &tracks {
        let run: Vec<&ClipSample> = order
            .iter()
            .map(|&i| &samples[i])
            .filter(|s| s.track == t.number)
            .collect();
        if run.is_empty() {
            continue;
        }
        let chunks: Vec<(u64, u32)> = chunk_runs
            .iter()
            .filter(|(track, _, _)| *track == t.number)
            .map(|&(_, offset, n)| (offset, n))
            .collect();
        plans.push(plan_track(t, &run, &chunks, start_ms, end_ms)?);
    }

    let duration_ms = plans.iter().map(|p| p.durations.movie).max().unwrap_or(0);
    let all: Vec<&MediaTrack> = plans.iter().map(|p| p.track).collect();
    let mdat = mdat_header(mdat_len)?;
    let encode = |base: u64, wide: bool| -> Result<Vec<u8>, Fmp4Error> {
        let mut traks = Vec::with_capacity(plans.len());
        for p in &plans {
            let mut stbl = p.stbl.clone();
            let offsets = p.chunks.iter().map(|c| base.saturating_add(*c));
            if wide {
                stbl.co64 = Some(Co64 {
                    entries: offsets.collect(),
                });
            } else {
                stbl.stco = Some(Stco {
                    entries: offsets
                        .map(|o| u32::try_from(o).unwrap_or(u32::MAX))
                        .collect(),
                });
            }
            traks.push(trak(p.track, stbl, p.durations, Some(p.edts.clone()))?);
        }
        let moov = Moov {
            mvhd: mvhd(duration_ms, &all)?,
            trak: traks,
            ..Default::default()
        };
        let mut out = Vec::new();
        ftyp(false).encode(&mut out)?;
        moov.encode(&mut out)?;
        Ok(out)
    };
    // Offsets have a fixed width, so the head's length is known before they are: measure with
    // zeros, pick 32- or 64-bit offsets, then write the real ones.
    let mut wide = false;
    let mut head_len = encode(0, false)?.len() as u64 + mdat.len() as u64;
    if head_len.saturating_add(mdat_len) > u64::from(u32::MAX) {
        wide = true;
        head_len = encode(0, true)?.len() as u64 + mdat.len() as u64;
    }
    let mut head = encode(head_len, wide)?;
    head.extend_from_slice(&mdat);
    debug_assert_eq!(
        head.len() as u64,
        head_len,
        "chunk offsets changed the head size"
    );

    Ok(ClipLayout {
        head: head.into(),
        mdat_len,
        samples: order,
        duration_ms,
    })
}

/// Sample tables, durations and edit list of one track. `chunks` are (offset in the mdat body,
/// sample count), in file order.
fn plan_track<'a>(
    track: &'a MediaTrack,
    run: &[&ClipSample],
    chunks: &[(u64, u32)],
    start_ms: i64,
    end_ms: i64,
) -> Result<TrackPlan<'a>, Fmp4Error> {
    let ts = timescale(track);
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

    // stts (§8.6.1.2): run-length durations.
    let mut stts: Vec<SttsEntry> = Vec::new();
    for &d in &line.durations {
        match stts.last_mut() {
            Some(e) if e.sample_delta == d => e.sample_count += 1,
            _ => stts.push(SttsEntry {
                sample_count: 1,
                sample_delta: d,
            }),
        }
    }
    // ctts (§8.6.1.3): composition offsets, when any sample has one.
    let offsets: Vec<i64> = line.offsets.iter().map(|&o| i64::from(o)).collect();
    let ctts = offsets.iter().any(|&o| o != 0).then(|| {
        let mut entries: Vec<CttsEntry> = Vec::new();
        for &o in &offsets {
            match entries.last_mut() {
                Some(e) if e.sample_offset == o => e.sample_count += 1,
                _ => entries.push(CttsEntry {
                    sample_count: 1,
                    sample_offset: o,
                }),
            }
        }
        Ctts { entries }
    });
    // stss (§8.6.2): absent means every sample is a sync sample.
    let stss = (!audio && run.iter().any(|s| !s.key)).then(|| Stss {
        entries: (1u32..)
            .zip(run.iter())
            .filter(|(_, s)| s.key)
            .map(|(n, _)| n)
            .collect(),
    });
    // stsc (§8.7.4): one entry per change of samples-per-chunk.
    let mut stsc: Vec<StscEntry> = Vec::new();
    for (n, &(_, count)) in (1u32..).zip(chunks) {
        if stsc.last().is_none_or(|e| e.samples_per_chunk != count) {
            stsc.push(StscEntry {
                first_chunk: n,
                samples_per_chunk: count,
                sample_description_index: 1,
            });
        }
    }
    let stbl = Stbl {
        stsd: Stsd {
            codecs: vec![sample_entry(track)?],
        },
        stts: Stts { entries: stts },
        ctts,
        stss,
        stsc: Stsc { entries: stsc },
        stsz: Stsz {
            samples: StszSamples::Different {
                sizes: run.iter().map(|s| s.size).collect(),
            },
        },
        ..Default::default()
    };

    // Edit list, in ticks from the first sample's decode time (media time 0).
    let base = i64::try_from(line.base).unwrap_or(i64::MAX);
    let mut decode = 0i64;
    let (mut comp_start, mut comp_end) = (i64::MAX, i64::MIN);
    for (&d, &o) in line.durations.iter().zip(&offsets) {
        let shown = decode.saturating_add(o);
        comp_start = comp_start.min(shown);
        comp_end = comp_end.max(shown.saturating_add(i64::from(d)));
        decode = decode.saturating_add(i64::from(d));
    }
    let start_t = ms_to_ticks(start_ms, ts).saturating_sub(base);
    let end_t = ms_to_ticks(end_ms, ts).saturating_sub(base);
    let media_start = start_t.max(comp_start).max(0);
    let media_end = end_t.min(comp_end);
    // Ticks to movie timescale (ms), rounded to nearest.
    let to_movie = |ticks: i64| -> u64 {
        let ts = i128::from(ts.max(1));
        ((i128::from(ticks.max(0)) * i128::from(MOVIE_TIMESCALE) + ts / 2) / ts)
            .clamp(0, i128::from(i64::MAX)) as u64
    };
    let mut entries = Vec::with_capacity(2);
    let empty = to_movie(comp_start.saturating_sub(start_t));
    if empty > 0 {
        entries.push(ElstEntry {
            segment_duration: empty,
            media_time: None,
            media_rate: 1i16.into(),
        });
    }
    let shown = to_movie(media_end.saturating_sub(media_start));
    entries.push(ElstEntry {
        segment_duration: shown,
        media_time: Some(media_start as u64),
        media_rate: 1i16.into(),
    });

    Ok(TrackPlan {
        track,
        stbl,
        chunks: chunks.iter().map(|&(o, _)| o).collect(),
        durations: TrackDurations {
            media: u64::try_from(decode).unwrap_or(0),
            movie: empty + shown,
        },
        edts: Edts {
            elst: Some(Elst { entries }),
        },
    })
}
