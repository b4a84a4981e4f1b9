//! Doors for the fuzz targets in `fuzz/fuzz_targets/` (STYLE.md §4); not an API. Public, and
//! hidden from the docs, only because the targets are another crate: each item here hands a
//! target the very parser a handler runs on untrusted request bytes (a JSON body, a playback
//! URL's query string, PutMedia's headers), so the targets exercise the handlers' code, not a
//! copy of it.

use std::collections::HashMap;

use axum::http::HeaderMap;

use super::error::ApiError;
use crate::playback::session::{Protocol, Session, SessionKey};
use crate::store::fragment::FragmentNumber;
use crate::store::index::TimestampKind;

pub use super::params::{decode_list_token, encode_list_token, parse_query};

/// Reads a request body the way one operation's handler does, up to its first store access.
pub type BodyCheck = fn(&[u8]) -> Result<(), ApiError>;

/// Reads a query string (as [`parse_query`] gives it) the way one endpoint does.
pub type QueryCheck = fn(&HashMap<String, String>) -> Result<(), ApiError>;

/// Every operation whose JSON body the server reads, as `("METHOD /path", check)`. A check
/// parses the body as the handler's `KvsJson` extractor does, then makes the handler's own
/// checks that depend on the body alone, where the handler has them as a function
/// (ListFragments, GetClip, GetImages).
pub fn json_bodies() -> Vec<(&'static str, BodyCheck)> {
    use super::*;
    [
        &streams::BODIES[..],
        &tags::BODIES[..],
        &archived::BODIES[..],
        &clip::BODIES[..],
        &images::BODIES[..],
        &get_media::BODIES[..],
        &hls::BODIES[..],
        &dash::BODIES[..],
        &image_generation::BODIES[..],
        &consumers::BODIES[..],
        &cameras::BODIES[..],
        &keys::BODIES[..],
        &users::BODIES[..],
        &login::BODIES[..],
    ]
    .concat()
}

/// The query-string parsers of the endpoints that take parameters in the URL besides a session
/// token: the frame feed, the timeline's coverage, LL-HLS blocking playlist reloads.
pub fn query_checks() -> Vec<(&'static str, QueryCheck)> {
    vec![
        ("GET /v1/frames/feed", |q| super::feed::parse(q).map(drop)),
        ("GET /v1/streams/{name}/coverage", |q| {
            super::timeline::CoverageQuery::parse(q).map(drop)
        }),
        ("GET /hls/v1/getHLSMediaPlaylist.m3u8", |q| {
            super::hls::number_param(q, "_HLS_msn")?;
            super::hls::number_param(q, "_HLS_part").map(drop)
        }),
    ]
}

/// A segment URL's parameters (`getMP4InitFragment.mp4`, `getMP4MediaFragment.mp4`,
/// `getTSFragment.ts`) as the segment handlers read them: the session token opened with `key`
/// at `now_ms`, then `FragmentNumber`, `TrackNumber` and `Part`.
pub fn segment_query(
    key: &SessionKey,
    now_ms: i64,
    query: &HashMap<String, String>,
    protocol: Protocol,
) -> Result<(Session, FragmentNumber, Option<u64>, Option<u32>), ApiError> {
    let q = super::segments::SegmentQuery::parse_with(key, now_ms, query, protocol)?;
    Ok((q.session, q.number, q.track, q.part))
}

/// What ListFragments' `NextToken` carries besides the last seq: the query's timestamp kind and
/// inclusive range in epoch ms, or `None` for every fragment.
pub type FragmentRange = Option<(TimestampKind, i64, i64)>;

/// ListFragments' `NextToken` for a range and the last seq of a page.
pub fn encode_list_fragments_token(range: FragmentRange, after: i64) -> String {
    super::archived::encode_token(range, after)
}

/// Reads a ListFragments `NextToken`.
pub fn decode_list_fragments_token(token: &str) -> Result<(FragmentRange, i64), ApiError> {
    super::archived::decode_token(token)
}

/// PutMedia's headers, read as its handler reads them (the timecode type and start).
pub fn put_media_headers(headers: &HeaderMap) -> Result<(), ApiError> {
    super::put_media::timecode_type(headers).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every handler that takes a `KvsJson` body is listed in [`json_bodies`], once: a new
    /// operation is fuzzed as soon as it exists.
    #[test]
    fn every_json_body_is_listed() {
        let sources = [
            include_str!("archived.rs"),
            include_str!("cameras.rs"),
            include_str!("clip.rs"),
            include_str!("consumers.rs"),
            include_str!("dash.rs"),
            include_str!("get_media.rs"),
            include_str!("hls.rs"),
            include_str!("image_generation.rs"),
            include_str!("images.rs"),
            include_str!("keys.rs"),
            include_str!("login.rs"),
            include_str!("streams.rs"),
            include_str!("tags.rs"),
            include_str!("users.rs"),
        ];
        let handlers: usize = sources.iter().map(|s| s.matches("KvsJson(").count()).sum();
        let listed = json_bodies();
        assert_eq!(listed.len(), handlers);
        let mut paths: Vec<&str> = listed.iter().map(|(p, _)| *p).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), listed.len(), "a path listed twice");
        // Every module that reads a JSON body is among the sources above.
        let mut dir: Vec<String> =
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/api"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| {
                    std::fs::read_to_string(p)
                        .is_ok_and(|s| s.contains("KvsJson(") && !s.contains("pub struct KvsJson"))
                })
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect();
        dir.sort_unstable();
        assert_eq!(dir.len(), sources.len(), "{dir:?}");
    }

    /// An empty body reads as `{}`; a body that is not JSON for the operation is an
    /// InvalidArgumentException.
    #[test]
    fn bodies_parse_as_the_extractor_does() {
        let bodies = json_bodies();
        let check = |path: &str| bodies.iter().find(|(p, _)| *p == path).unwrap().1;
        assert!(check("POST /listStreams")(b"").is_ok());
        assert!(check("POST /listStreams")(b" \n").is_ok());
        let e = check("POST /createStream")(b"[1]").unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::InvalidArgument);
        let e = check("POST /getClip")(br#"{"StreamName":"a"}"#).unwrap_err();
        assert!(e.message.contains("ClipFragmentSelector"), "{}", e.message);
    }
}
