//! HLS playlists (RFC 8216, and its low-latency extension): pure text builders over index
//! records. The HTTP layer (api/hls.rs) decides which fragments a session shows; this module
//! decides how they are written.
//!
//! URLs are relative to the playlist (`/hls/v1/`), carry the session token, and name fragments
//! by their fragment number, as KVS's do:
//!
//! ```text
//! getHLSMediaPlaylist.m3u8?SessionToken=T
//! getMP4InitFragment.mp4?SessionToken=T&FragmentNumber=N   (init of the tracks N was made under)
//! getMP4MediaFragment.mp4?SessionToken=T&FragmentNumber=N  (whole fragment)
//! getMP4MediaFragment.mp4?SessionToken=T&FragmentNumber=N&Part=K   (LL-HLS part K)
//! getTSFragment.ts?SessionToken=T&FragmentNumber=N
//! ```
//!
//! Playlists go through m3u8-rs. It has no LL-HLS tags and drops playlist-level unknown tags, so
//! those (EXT-X-SERVER-CONTROL, EXT-X-PART-INF, the parts of the open segment and
//! EXT-X-PRELOAD-HINT) are added to its output here; parts of complete segments ride on m3u8-rs's
//! segment-level unknown tags, which it writes before the segment's EXTINF as the spec wants.

use m3u8_rs::{ExtTag, Map, MediaPlaylist, MediaPlaylistType, MediaSegment};

use super::session::Container;
use crate::time::rfc3339_ms;

/// One fragment as a playlist shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Fragment number.
    pub number: String,
    /// Duration, ms.
    pub duration_ms: i64,
    /// EXT-X-PROGRAM-DATE-TIME, epoch ms, when the session displays timestamps.
    pub date_ms: Option<i64>,
    /// Track header it was made under (a change needs a new init segment).
    pub track_header_id: i64,
    /// EXT-X-DISCONTINUITY before it.
    pub discontinuity: bool,
    /// LL-HLS: its parts (complete segments near the live edge only).
    pub parts: Vec<Part>,
}

/// An LL-HLS partial segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Its index within the fragment.
    pub index: u32,
    /// Duration, ms.
    pub duration_ms: i64,
    /// Starts with a keyframe.
    pub independent: bool,
}

/// LL-HLS additions to a live playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowLatency {
    /// PART-TARGET, ms.
    pub part_target_ms: u64,
    /// The fragment being written: its number, track header, and its parts so far.
    pub open: Option<(String, i64, Vec<Part>)>,
    /// The open fragment's EXT-X-DISCONTINUITY and EXT-X-PROGRAM-DATE-TIME (as its complete
    /// segment will have them, so players keep their discontinuity count when it completes).
    pub open_discontinuity: bool,
    /// See `open_discontinuity`.
    pub open_date_ms: Option<i64>,
    /// The part the player should ask for next (fragment number, part index): the
    /// EXT-X-PRELOAD-HINT.
    pub preload: Option<(String, u32)>,
}

/// A media playlist to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSpec<'a> {
    /// Session token (already URL-safe).
    pub token: &'a str,
    /// Segment container.
    pub container: Container,
    /// EXT-X-MEDIA-SEQUENCE: the first entry's media sequence number.
    pub media_sequence: u64,
    /// EXT-X-DISCONTINUITY-SEQUENCE.
    pub discontinuity_sequence: u64,
    /// The fragments.
    pub entries: &'a [Entry],
    /// VOD (ON_DEMAND): PLAYLIST-TYPE:VOD and ENDLIST.
    pub vod: bool,
    /// ENDLIST without VOD (a LIVE_REPLAY whose range has ended).
    pub ended: bool,
    /// LL-HLS.
    pub low_latency: Option<LowLatency>,
}

/// `getMP4MediaFragment.mp4` / `getTSFragment.ts` URL of a fragment (or one of its parts).
pub fn fragment_url(token: &str, container: Container, number: &str, part: Option<u32>) -> String {
    let resource = match container {
        Container::Fmp4 => "getMP4MediaFragment.mp4",
        Container::Ts => "getTSFragment.ts",
    };
    match part {
        Some(k) => format!("{resource}?SessionToken={token}&FragmentNumber={number}&Part={k}"),
        None => format!("{resource}?SessionToken={token}&FragmentNumber={number}"),
    }
}

/// `getMP4InitFragment.mp4` URL for the tracks fragment `number` was made under.
pub fn init_url(token: &str, number: &str) -> String {
    format!("getMP4InitFragment.mp4?SessionToken={token}&FragmentNumber={number}")
}

fn seconds(ms: i64) -> f64 {
    ms.max(0) as f64 / 1000.0
}

fn part_tag(token: &str, container: Container, number: &str, p: &Part) -> String {
    let mut s = format!(
        "#EXT-X-PART:DURATION={:.3},URI=\"{}\"",
        seconds(p.duration_ms),
        fragment_url(token, container, number, Some(p.index))
    );
    if p.independent {
        s.push_str(",INDEPENDENT=YES");
    }
    s
}

/// Writes a media playlist.
pub fn media_playlist(spec: &MediaSpec<'_>) -> String {
    let longest = spec
        .entries
        .iter()
        .map(|e| e.duration_ms)
        .max()
        .unwrap_or(1000);
    let mut segments = Vec::with_capacity(spec.entries.len());
    let mut last_header = None;
    for e in spec.entries {
        let map = (spec.container == Container::Fmp4 && last_header != Some(e.track_header_id))
            .then(|| Map {
                uri: init_url(spec.token, &e.number),
                ..Map::default()
            });
        last_header = Some(e.track_header_id);
        let mut unknown_tags = Vec::new();
        if let Some(ms) = e.date_ms {
            unknown_tags.push(ExtTag {
                tag: "X-PROGRAM-DATE-TIME".to_owned(),
                rest: Some(rfc3339_ms(ms)),
            });
        }
        for p in &e.parts {
            // ExtTag writes "#EXT-" + tag: strip our "#EXT-" prefix.
            let line = part_tag(spec.token, spec.container, &e.number, p);
            unknown_tags.push(ExtTag {
                tag: line.trim_start_matches("#EXT-").to_owned(),
                rest: None,
            });
        }
        segments.push(MediaSegment {
            uri: fragment_url(spec.token, spec.container, &e.number, None),
            duration: seconds(e.duration_ms) as f32,
            discontinuity: e.discontinuity,
            map,
            unknown_tags,
            ..MediaSegment::default()
        });
    }
    let playlist = MediaPlaylist {
        version: Some(if spec.low_latency.is_some() {
            9
        } else if spec.container == Container::Fmp4 {
            7
        } else {
            3
        }),
        target_duration: (longest.max(1) as u64).div_ceil(1000),
        media_sequence: spec.media_sequence,
        discontinuity_sequence: spec.discontinuity_sequence,
        segments,
        end_list: spec.vod || spec.ended,
        playlist_type: spec.vod.then_some(MediaPlaylistType::Vod),
        independent_segments: true,
        ..MediaPlaylist::default()
    };
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = playlist.write_to(&mut out);
    let mut text = String::from_utf8(out).unwrap_or_default();
    if let Some(ll) = &spec.low_latency {
        let part_target = ll.part_target_ms as f64 / 1000.0;
        // PART-HOLD-BACK at least 3 part targets (RFC 8216bis §4.4.3.8).
        let head = format!(
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={:.3}\n#EXT-X-PART-INF:PART-TARGET={part_target:.3}\n",
            3.0 * part_target + 0.001
        );
        if let Some(at) = text.find("#EXT-X-TARGETDURATION") {
            text.insert_str(at, &head);
        }
        let mut tail = String::new();
        let mut map_needed = last_header;
        if let Some((number, header, parts)) = &ll.open {
            if ll.open_discontinuity {
                tail.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if let Some(ms) = ll.open_date_ms {
                tail.push_str(&format!("#EXT-X-PROGRAM-DATE-TIME:{}\n", rfc3339_ms(ms)));
            }
            if spec.container == Container::Fmp4 && map_needed != Some(*header) {
                tail.push_str(&format!(
                    "#EXT-X-MAP:URI=\"{}\"\n",
                    init_url(spec.token, number)
                ));
                map_needed = Some(*header);
            }
            for p in parts {
                tail.push_str(&part_tag(spec.token, spec.container, number, p));
                tail.push('\n');
            }
        }
        let _ = map_needed;
        if let Some((number, k)) = &ll.preload {
            tail.push_str(&format!(
                "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}\"\n",
                fragment_url(spec.token, spec.container, number, Some(*k))
            ));
        }
        text.push_str(&tail);
    }
    text
}

/// One variant stream of the master playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// BANDWIDTH, bits/s (peak).
    pub bandwidth: u64,
    /// CODECS (RFC 6381), if known.
    pub codecs: Option<String>,
    /// RESOLUTION.
    pub resolution: Option<(u32, u32)>,
}

/// Writes the master playlist: one variant, the session's media playlist. `extra_query` is
/// appended to the media playlist URL (e.g. `&LowLatency=true`).
pub fn master_playlist(token: &str, v: &Variant, extra_query: &str) -> String {
    let mut attrs = format!("BANDWIDTH={}", v.bandwidth.max(1));
    if let Some(c) = &v.codecs {
        attrs.push_str(&format!(",CODECS=\"{c}\""));
    }
    if let Some((w, h)) = v.resolution {
        attrs.push_str(&format!(",RESOLUTION={w}x{h}"));
    }
    format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:{attrs}\ngetHLSMediaPlaylist.m3u8?SessionToken={token}{extra_query}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u32, header: i64, disc: bool) -> Entry {
        Entry {
            number: format!("9100{n}"),
            duration_ms: 1999,
            date_ms: Some(1_764_180_000_000 + i64::from(n) * 2000),
            track_header_id: header,
            discontinuity: disc,
            parts: vec![],
        }
    }

    #[test]
    fn vod_playlist_parses_back_with_maps_at_codec_changes() {
        let entries = [entry(1, 5, false), entry(2, 5, false), entry(3, 6, true)];
        let text = media_playlist(&MediaSpec {
            token: "T",
            container: Container::Fmp4,
            media_sequence: 0,
            discontinuity_sequence: 0,
            entries: &entries,
            vod: true,
            ended: false,
            low_latency: None,
        });
        let parsed = m3u8_rs::parse_media_playlist_res(text.as_bytes()).expect("parses");
        assert_eq!(parsed.target_duration, 2);
        assert!(parsed.end_list);
        assert_eq!(parsed.playlist_type, Some(MediaPlaylistType::Vod));
        assert_eq!(parsed.segments.len(), 3);
        let maps: Vec<_> = parsed.segments.iter().map(|s| s.map.is_some()).collect();
        assert_eq!(maps, [true, false, true]);
        assert!(parsed.segments[2].discontinuity && !parsed.segments[1].discontinuity);
        assert_eq!(
            parsed.segments[0].uri,
            "getMP4MediaFragment.mp4?SessionToken=T&FragmentNumber=91001"
        );
        assert!(text.contains("#EXT-X-PROGRAM-DATE-TIME:2025-11-26T18:00:02.000Z"));
    }

    #[test]
    fn ts_live_playlist_has_no_maps_and_counts_sequences() {
        let entries = [entry(7, 5, true), entry(8, 5, true)];
        let text = media_playlist(&MediaSpec {
            token: "T",
            container: Container::Ts,
            media_sequence: 41,
            discontinuity_sequence: 41,
            entries: &entries,
            vod: false,
            ended: false,
            low_latency: None,
        });
        assert!(!text.contains("EXT-X-MAP") && !text.contains("ENDLIST"));
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:41\n#EXT-X-DISCONTINUITY-SEQUENCE:41"));
        assert!(text.contains("getTSFragment.ts?SessionToken=T&FragmentNumber=91007"));
    }

    #[test]
    fn low_latency_playlist_has_parts_hint_and_server_control() {
        let mut e = entry(1, 5, false);
        e.parts = vec![
            Part {
                index: 0,
                duration_ms: 333,
                independent: true,
            },
            Part {
                index: 1,
                duration_ms: 333,
                independent: false,
            },
        ];
        let entries = [e];
        let text = media_playlist(&MediaSpec {
            token: "T",
            container: Container::Fmp4,
            media_sequence: 3,
            discontinuity_sequence: 0,
            entries: &entries,
            vod: false,
            ended: false,
            low_latency: Some(LowLatency {
                part_target_ms: 333,
                open: Some((
                    "91002".into(),
                    5,
                    vec![Part {
                        index: 0,
                        duration_ms: 300,
                        independent: true,
                    }],
                )),
                preload: Some(("91002".into(), 1)),
                open_discontinuity: false,
                open_date_ms: None,
            }),
        });
        let lines: Vec<&str> = text.lines().collect();
        let pos = |needle: &str| {
            lines
                .iter()
                .position(|l| l.starts_with(needle))
                .unwrap_or_else(|| panic!("{needle} in\n{text}"))
        };
        assert!(
            pos("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.0") < pos("#EXTINF")
        );
        assert!(pos("#EXT-X-PART-INF:PART-TARGET=0.333") < pos("#EXTINF"));
        // Parts of a segment come before its EXTINF; the open segment's after the last URI.
        assert!(
            pos(
                "#EXT-X-PART:DURATION=0.333,URI=\"getMP4MediaFragment.mp4?SessionToken=T&FragmentNumber=91001&Part=0\",INDEPENDENT=YES"
            ) < pos("#EXTINF")
        );
        assert!(
            pos(
                "#EXT-X-PART:DURATION=0.300,URI=\"getMP4MediaFragment.mp4?SessionToken=T&FragmentNumber=91002&Part=0\""
            ) > pos("getMP4MediaFragment.mp4?SessionToken=T&FragmentNumber=91001\n".trim_end())
        );
        assert_eq!(
            lines.last(),
            Some(
                &"#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"getMP4MediaFragment.mp4?SessionToken=T&FragmentNumber=91002&Part=1\""
            )
        );
        assert!(text.starts_with("#EXTM3U\n#EXT-X-VERSION:9"));
    }

    #[test]
    fn master_playlist_names_codecs_and_the_media_playlist() {
        let text = master_playlist(
            "T",
            &Variant {
                bandwidth: 2_000_000,
                codecs: Some("avc1.42c01e,mp4a.40.2".into()),
                resolution: Some((320, 240)),
            },
            "",
        );
        let parsed = m3u8_rs::parse_master_playlist_res(text.as_bytes()).expect("parses");
        assert_eq!(parsed.variants.len(), 1);
        assert_eq!(
            parsed.variants[0].uri,
            "getHLSMediaPlaylist.m3u8?SessionToken=T"
        );
        assert_eq!(
            parsed.variants[0].codecs.as_deref(),
            Some("avc1.42c01e,mp4a.40.2")
        );
    }
}
