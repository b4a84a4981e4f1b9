//! The media a streaming session's playlists point at: fMP4 init segments, fMP4 media segments
//! (whole fragments or LL-HLS parts) and MPEG-TS segments, built from the stored fragment (its
//! payload bytes are sent as they were stored: no re-encode, no copy to disk).
//!
//! Decode times are relative to the session's `base_ms`, so every segment of a session shares
//! one timeline whichever node builds it.
//!
//! Media segments go through the media cache ([`crate::media::cache`]): the fragment is read
//! and parsed once, each variant (timeline, container, track, part) is built once, and a
//! steady-state request costs the token check, a hash lookup and the socket writes: no index
//! query, no blocking-pool hand-off, no copy of the payloads in user space.

use std::sync::Arc;

use bytes::Bytes;

use super::error::PlaybackError;
use super::session::{Container, Session};
use super::{fmp4, ts};
use crate::error::ErrorKind;
use crate::media::cache::{Fragment, VariantKey};
use crate::media::{self, Media, MediaTrack, Sample};
use crate::store::fragment::FragmentNumber;

/// Which segment of a fragment a URL asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentSpec {
    /// fMP4 or MPEG-TS.
    pub container: Container,
    /// Only this track (DASH), or all.
    pub track: Option<u64>,
    /// Only this LL-HLS part, cut with this part duration (ms).
    pub part: Option<(u32, i64)>,
}

/// The tracks of fragment `number`: stored, or (LL-HLS) of the fragment still being written.
pub async fn init_segment(
    media: &Media,
    s: &Session,
    number: FragmentNumber,
    track: Option<u64>,
) -> Result<Bytes, PlaybackError> {
    let tracks = match media.record(number).await {
        Ok(rec) => {
            check_admitted(s, &rec)?;
            media.tracks(rec.track_header_id).await?
        }
        Err(e) if e.kind() == ErrorKind::ResourceNotFound => {
            let b = media.live_fragment(number).ok_or(e)?;
            media::tracks_element(&b.start.tracks)
                .map_err(|source| crate::media::ReadError::Damaged { number, source })?
        }
        Err(e) => return Err(e.into()),
    };
    let tracks = track_filter(tracks, track)?;
    Ok(fmp4::init_segment(&tracks)?)
}

/// A stored fragment as one segment on the session's timeline, from the media cache or loaded
/// into it; each variant is built once. `ResourceNotFound` once the fragment is gone.
pub async fn stored_segment(
    media: &Media,
    s: &Session,
    number: FragmentNumber,
    spec: SegmentSpec,
) -> Result<Arc<[Bytes]>, PlaybackError> {
    let (slot, f) = media.load_number(number).await?;
    check_admitted(s, &f.record)?;
    let key = VariantKey {
        base_ms: s.base_ms,
        container: spec.container,
        track: spec.track,
        part: spec.part,
    };
    media.cache().variant(&slot, &f, key, build_segment(key))
}

/// Refuses a fragment the session's token does not grant ([`Session::admits`]).
fn check_admitted(
    s: &Session,
    rec: &crate::store::fragment::FragmentRecord,
) -> Result<(), PlaybackError> {
    if s.admits(rec) {
        return Ok(());
    }
    Err(PlaybackError::refused(
        ErrorKind::ResourceNotFound,
        format!(
            "fragment {} is not part of this streaming session",
            rec.number
        ),
    ))
}

/// Only track `n` of `tracks`, if a track is asked for.
fn track_filter(tracks: Vec<MediaTrack>, n: Option<u64>) -> Result<Vec<MediaTrack>, PlaybackError> {
    let Some(n) = n else {
        return Ok(tracks);
    };
    let kept: Vec<MediaTrack> = tracks.into_iter().filter(|t| t.number == n).collect();
    if kept.is_empty() {
        return Err(PlaybackError::refused(
            ErrorKind::ResourceNotFound,
            format!("the fragment has no track {n}"),
        ));
    }
    Ok(kept)
}

/// Moves samples onto a session timeline starting at `base_ms`.
pub fn rebase(samples: &mut [Sample], base_ms: i64) {
    for x in samples {
        x.pts_ms -= base_ms;
        x.dts_ms -= base_ms;
    }
}

/// The LL-HLS part each sample belongs to: by presentation time from the fragment start in
/// `part_ms` steps, never decreasing in decode order (so a part is fixed by the frames before
/// it, and is the same whether built from the live bus or from the store).
pub fn part_indices(samples: &[Sample], fragment_start_ms: i64, part_ms: i64) -> Vec<u32> {
    let part_ms = part_ms.max(1);
    let mut current = 0u32;
    samples
        .iter()
        .map(|x| {
            let k = ((x.pts_ms - fragment_start_ms).max(0) / part_ms).min(i64::from(u32::MAX));
            current = current.max(k as u32);
            current
        })
        .collect()
}

/// Builds the segment `key` of a fragment.
fn build_segment(key: VariantKey) -> impl FnOnce(&Fragment) -> Result<Vec<Bytes>, PlaybackError> {
    move |f| {
        let rec = &f.record;
        let tracks = track_filter(f.tracks.clone(), key.track)?;
        let mut samples = f.samples.clone();
        rebase(&mut samples, key.base_ms);
        if let Some((k, part_ms)) = key.part {
            let start = rec.producer_ms - key.base_ms;
            let parts = part_indices(&samples, start, part_ms);
            let mut it = parts.iter();
            samples.retain(|_| it.next() == Some(&k));
            if samples.is_empty() {
                return Err(PlaybackError::refused(
                    ErrorKind::ResourceNotFound,
                    format!("fragment {} has no part {k}", rec.number),
                ));
            }
        }
        match key.container {
            Container::Fmp4 => {
                let seg =
                    fmp4::media_segment(&tracks, &samples, fmp4::mfhd_sequence(rec.number.seq))?;
                Ok(f.coalesce(seg.parts))
            }
            Container::Ts => {
                let mut cc = ts::Continuity::default();
                Ok(vec![ts::segment(&tracks, &samples, &mut cc)?])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(pts: i64) -> Sample {
        Sample {
            track: 1,
            pts_ms: pts,
            dts_ms: pts,
            duration_ms: 33,
            key: pts == 0,
            data: Bytes::new(),
        }
    }

    #[test]
    fn parts_follow_presentation_time_and_never_go_back() {
        let s: Vec<Sample> = [0, 33, 66, 100, 133, 166, 200, 233, 266, 300, 333, 366]
            .into_iter()
            .map(sample)
            .collect();
        assert_eq!(
            part_indices(&s, 0, 200),
            [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
        );
        // A B-frame shown earlier than its predecessor stays in the later part.
        let s: Vec<Sample> = [0, 250, 100, 150].into_iter().map(sample).collect();
        assert_eq!(part_indices(&s, 0, 200), [0, 1, 1, 1]);
    }
}
