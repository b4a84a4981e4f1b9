//! Fuzzes what a playback URL carries (HLS/DASH playlists and segments, the frame feed, the
//! timeline) and the page tokens clients hand back: the query-string parser, session tokens,
//! fragment numbers, `TrackNumber`/`Part`, LL-HLS `_HLS_msn`/`_HLS_part`, the feed's and the
//! coverage's parameters, ListStreams' and ListFragments' `NextToken`, PutMedia's timecode
//! headers.
//!
//! Checks, for every input: no panic; refusals are KVS-shaped client errors;
//! - `parse_query` (its fast path for queries without escapes included) gives what
//!   `form_urlencoded` gives;
//! - a session sealed from the input opens to itself before its expiry, is `Expired` at it, and
//!   a copy with one character changed does not open;
//! - a segment URL that opens gives a session whose token is the one in the URL (`seal` of it),
//!   unexpired, and a fragment number of that session's stream (LIVE: from its anchor on) that
//!   prints as the URL wrote it;
//! - every fragment number that parses prints back to the same 47 digits;
//! - list tokens and ListFragments tokens that decode re-encode to tokens that decode the same.
//!
//! Input layout: a session's fields, the current time and a character position (read with
//! `arbitrary`), then the query string. `@T` in the query stands for the sealed session's
//! token, so mutations reach past the signature check.

#![no_main]

use std::collections::HashMap;
use std::sync::LazyLock;

use arbitrary::{Arbitrary, Unstructured};
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use vidstream::api::fuzz::{
    QueryCheck, decode_list_fragments_token, decode_list_token, encode_list_fragments_token,
    encode_list_token, parse_query, put_media_headers, query_checks, segment_query,
};
use vidstream::media::Container;
use vidstream::playback::session::{
    Discontinuity, PlaybackMode, Protocol, Selector, Session, SessionError, SessionKey,
};
use vidstream::store::fragment::FragmentNumber;
use vidstream::store::index::TimestampKind;

#[path = "common/kvs_error.rs"]
mod kvs_error;

static KEY: LazyLock<SessionKey> = LazyLock::new(|| SessionKey::new(&[7; 32]));
static QUERY_CHECKS: LazyLock<Vec<(&'static str, QueryCheck)>> = LazyLock::new(query_checks);

fn session(u: &mut Unstructured) -> arbitrary::Result<Session> {
    let pick = <[u8; 4]>::arbitrary(u)?;
    Ok(Session {
        protocol: if pick[0] & 1 == 0 {
            Protocol::Hls
        } else {
            Protocol::Dash
        },
        stream: u.arbitrary()?,
        mode: [
            PlaybackMode::Live,
            PlaybackMode::LiveReplay,
            PlaybackMode::OnDemand,
        ][usize::from(pick[0] >> 1) % 3],
        selector: if pick[1] & 1 == 0 {
            Selector::Producer
        } else {
            Selector::Server
        },
        start_ms: u.arbitrary()?,
        end_ms: u.arbitrary()?,
        container: if pick[1] & 2 == 0 {
            Container::Fmp4
        } else {
            Container::Ts
        },
        discontinuity: [
            Discontinuity::Always,
            Discontinuity::Never,
            Discontinuity::OnDiscontinuity,
        ][usize::from(pick[1] >> 2) % 3],
        display_timestamp: pick[2] & 1 != 0,
        display_number: pick[2] & 2 != 0,
        max_results: u.arbitrary()?,
        low_latency: pick[2] & 4 != 0,
        base_ms: u.arbitrary()?,
        anchor_seq: u.arbitrary()?,
        created_ms: u.arbitrary()?,
        expires_ms: u.arbitrary()?,
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let (Ok(s), Ok(now_ms), Ok(flip)) = (
        session(&mut u),
        i64::arbitrary(&mut u),
        u16::arbitrary(&mut u),
    ) else {
        return;
    };
    let query = String::from_utf8_lossy(u.take_rest()).into_owned();

    // Session tokens round-trip, expire, and refuse tampering.
    let token = KEY.seal(&s);
    if s.expires_ms > i64::MIN {
        assert_eq!(KEY.open(&token, s.expires_ms - 1), Ok(s.clone()));
    }
    assert_eq!(
        KEY.open(&token, s.expires_ms),
        Err(SessionError::Expired(s.expires_ms))
    );
    let mut tampered = token.clone().into_bytes();
    let at = usize::from(flip) % tampered.len();
    let replacement = b"A-_.0z"[usize::from(flip >> 13) % 6];
    if tampered[at] != replacement {
        tampered[at] = replacement;
        let tampered = String::from_utf8(tampered).expect("tokens are ASCII");
        assert_eq!(
            KEY.open(&tampered, i64::MIN),
            Err(SessionError::Invalid),
            "{tampered}"
        );
    }

    // The query string: the fast path agrees with the decoding one.
    let query = query.replace("@T", &token);
    let map = parse_query(&query);
    let decoded: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(map, decoded, "{query}");

    // Segment URLs, for both protocols.
    for protocol in [Protocol::Hls, Protocol::Dash] {
        match segment_query(&KEY, now_ms, &map, protocol) {
            Ok((opened, number, _track, _part)) => {
                assert_eq!(
                    KEY.seal(&opened),
                    map["SessionToken"],
                    "a token that opens is one we sealed"
                );
                assert_eq!(opened.protocol, protocol);
                assert!(now_ms < opened.expires_ms);
                assert_eq!(number.stream.0, opened.stream);
                if opened.mode == PlaybackMode::Live {
                    assert!(number.seq >= opened.anchor_seq);
                }
                assert_eq!(number.to_string(), map["FragmentNumber"]);
            }
            Err(e) => kvs_error::assert_kvs_error(e, "segment URL"),
        }
    }

    // The other endpoints' query strings, and PutMedia's headers taken from the map.
    for (what, check) in QUERY_CHECKS.iter() {
        if let Err(e) = check(&map) {
            kvs_error::assert_kvs_error(e, what);
        }
    }
    let mut headers = HeaderMap::new();
    for (k, v) in &map {
        if let (Ok(k), Ok(v)) = (
            HeaderName::try_from(k.as_str()),
            HeaderValue::try_from(v.as_str()),
        ) {
            headers.append(k, v);
        }
    }
    if let Err(e) = put_media_headers(&headers) {
        kvs_error::assert_kvs_error(e, "PutMedia headers");
    }

    // Fragment numbers and page tokens, from every value.
    for v in map.values() {
        if let Some(n) = FragmentNumber::parse(v) {
            assert_eq!(&n.to_string(), v);
        }
        match decode_list_token(v) {
            Ok(name) => assert_eq!(
                decode_list_token(&encode_list_token(&name)).ok(),
                Some(name)
            ),
            Err(e) => assert!(!e.0.is_empty()),
        }
        match decode_list_fragments_token(v) {
            Ok((range, after)) => {
                let again = encode_list_fragments_token(range, after);
                assert_eq!(
                    decode_list_fragments_token(&again).ok(),
                    Some((range, after))
                );
            }
            Err(e) => kvs_error::assert_kvs_error(e, "ListFragments NextToken"),
        }
    }
    // Tokens made from the session's numbers decode to them.
    let kind = if s.selector == Selector::Producer {
        TimestampKind::Producer
    } else {
        TimestampKind::Server
    };
    for range in [None, Some((kind, s.base_ms, s.created_ms))] {
        let t = encode_list_fragments_token(range, s.anchor_seq);
        assert_eq!(
            decode_list_fragments_token(&t).ok(),
            Some((range, s.anchor_seq))
        );
    }
});
