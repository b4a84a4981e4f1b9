//! Reading back the pieces ingest stored: a whole Tracks element (the track header row) and a
//! normalized Cluster's timecode. Both are bytes this process wrote, but they come from disk,
//! so they are parsed with the same bounds as network input.

use bytes::Bytes;

use super::ebml::{self, Children, Size};
use super::{Limits, ParseError, ParseErrorKind, Track, ids, meta};

fn error(offset: u64, path: &str, kind: ParseErrorKind) -> ParseError {
    ParseError {
        offset,
        path: path.to_owned(),
        kind,
    }
}

/// Parses a whole stored `Tracks` element (ID and size included).
pub fn parse_tracks_element(element: &Bytes) -> Result<Vec<Track>, ParseError> {
    let header = ebml::read_header(element)
        .map_err(|k| error(0, "Tracks", k))?
        .ok_or_else(|| error(0, "Tracks", ParseErrorKind::Truncated))?;
    if header.id != ids::TRACKS {
        return Err(error(
            0,
            "top level",
            ParseErrorKind::InvalidTrack(format!("expected Tracks, found ID {:#x}", header.id)),
        ));
    }
    let end = match header.size {
        Size::Known(n) => header
            .len
            .checked_add(usize::try_from(n).unwrap_or(usize::MAX))
            .filter(|&end| end <= element.len())
            .ok_or_else(|| error(0, "Tracks", ParseErrorKind::Truncated))?,
        Size::Unknown => element.len(),
    };
    let data = element.slice(header.len..end);
    meta::parse_tracks(data, header.len as u64, &Limits::default()).map_err(|f| {
        let names: Vec<&str> = std::iter::once(ids::TRACKS)
            .chain(f.path.iter().copied())
            .map(ids::name)
            .collect();
        error(f.offset, &names.join("/"), f.kind)
    })
}

/// The Timecode of a stored Cluster (the first child of a normalized cluster, but any
/// position is accepted). `None` when the bytes are not a cluster with a timecode.
pub fn cluster_timecode(cluster: &Bytes) -> Option<u64> {
    let header = ebml::read_header(cluster).ok()??;
    if header.id != ids::CLUSTER {
        return None;
    }
    let body = cluster.slice(header.len..);
    for child in Children::new(body, header.len as u64) {
        let child = child.ok()?;
        if child.id == ids::TIMECODE {
            return ebml::read_uint(&child.data).ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mkv::{TrackType, VideoSettings, write_cluster, write_tracks};

    #[test]
    fn tracks_and_timecode_round_trip() {
        let track = Track {
            number: 1,
            uid: 7,
            track_type: TrackType::Video,
            codec_id: "V_MPEG4/ISO/AVC".into(),
            codec_private: Bytes::from_static(&[1, 2, 3]),
            name: None,
            default_duration: None,
            codec_delay: None,
            video: Some(VideoSettings {
                pixel_width: 320,
                pixel_height: 240,
            }),
            audio: None,
        };
        let mut buf = Vec::new();
        write_tracks(&mut buf, std::slice::from_ref(&track));
        let parsed = parse_tracks_element(&Bytes::from(buf.clone())).unwrap();
        assert_eq!(parsed, vec![track]);
        // Truncated or wrong bytes are errors, never panics.
        for cut in 0..buf.len() {
            let _ = parse_tracks_element(&Bytes::copy_from_slice(&buf[..cut]));
        }
        assert!(
            parse_tracks_element(&Bytes::from_static(&[0x1A, 0x45, 0xDF, 0xA3, 0x80])).is_err()
        );

        let mut c = Vec::new();
        write_cluster(&mut c, 1_700_000_000_123, &[(1, 0, true, &[9u8; 10][..])]);
        assert_eq!(
            cluster_timecode(&Bytes::from(c.clone())),
            Some(1_700_000_000_123)
        );
        assert_eq!(cluster_timecode(&Bytes::copy_from_slice(&c[..3])), None);
        assert_eq!(cluster_timecode(&Bytes::from(buf)), None);
    }
}
