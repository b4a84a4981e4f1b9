//! Fuzzes the SigV4 verifier's parser and check with arbitrary `Authorization` headers, presigned
//! query strings, paths and signing headers.
//!
//! Checks, for every input: no panic in `presented` or `Verifier::verify`; what `presented`
//! accepts respects the parser's limits (at most `MAX_SIGNED_HEADERS` names, `host` among them,
//! a one-week expiry at most); and a forged signature never verifies.
//!
//! Input layout: an options byte (bit 0: presigned query instead of an Authorization header;
//! bit 1: a `Date` header instead of `X-Amz-Date`), then five fields separated by `\n` (which no
//! header value or URI may hold): the Authorization value, the query, the path, the date, the
//! session token. `fuzz/seed_corpus.sh` writes seeds that reach the signature check; run with
//! them and `-dict=fuzz/sigv4.dict` so the mutations speak SigV4 sooner.

#![no_main]

use http::{HeaderValue, Uri};
use libfuzzer_sys::fuzz_target;
use vidstream::auth::sigv4::verify::{MAX_EXPIRES_SECS, MAX_SIGNED_HEADERS};
use vidstream::auth::sigv4::{EMPTY_PAYLOAD_SHA256, Form, Rules, Verifier, presented};

/// 20260126T101112Z, the seeds' date; the verifier allows any skew, so any date is checked.
const NOW: i64 = 1_769_422_272;

#[derive(Debug)]
struct Input<'a> {
    presigned: bool,
    http_date: bool,
    authorization: &'a [u8],
    query: &'a [u8],
    path: &'a [u8],
    date: &'a [u8],
    token: &'a [u8],
}

impl<'a> Input<'a> {
    fn parse(data: &'a [u8]) -> Option<Self> {
        let (&options, rest) = data.split_first()?;
        let mut fields = rest.split(|&b| b == b'\n');
        let mut next = || fields.next().unwrap_or(&[]);
        Some(Input {
            presigned: options & 1 == 1,
            http_date: options & 2 == 2,
            authorization: next(),
            query: next(),
            path: next(),
            date: next(),
            token: next(),
        })
    }
}

fn request(input: &Input<'_>) -> Option<http::Request<()>> {
    let mut target = b"/".to_vec();
    target.extend_from_slice(input.path);
    if !input.query.is_empty() {
        target.push(b'?');
        target.extend_from_slice(input.query);
    }
    let uri = Uri::try_from(target).ok()?;
    let mut req = http::Request::builder()
        .method("POST")
        .uri(uri)
        .body(())
        .ok()?;
    let headers = req.headers_mut();
    headers.insert("host", HeaderValue::from_static("127.0.0.1:8080"));
    if !input.presigned {
        headers.insert(
            "authorization",
            HeaderValue::from_bytes(input.authorization).ok()?,
        );
    }
    let date = if input.http_date {
        "date"
    } else {
        "x-amz-date"
    };
    headers.insert(date, HeaderValue::from_bytes(input.date).ok()?);
    if !input.token.is_empty() {
        headers.insert(
            "x-amz-security-token",
            HeaderValue::from_bytes(input.token).ok()?,
        );
    }
    Some(req)
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = Input::parse(data) else {
        return;
    };
    let Some(req) = request(&input) else {
        return;
    };
    let Ok(Some(p)) = presented(req.uri(), req.headers()) else {
        return;
    };
    assert!(p.signed_headers.len() <= MAX_SIGNED_HEADERS);
    assert!(p.signed_headers.iter().any(|h| h == "host"));
    match p.form {
        Form::Header => assert_eq!(p.expires_secs, None),
        Form::Query => assert!(
            p.expires_secs
                .is_some_and(|e| (1..=MAX_EXPIRES_SECS).contains(&e))
        ),
    }
    let verifier = Verifier::new(Rules {
        skew_secs: i64::MAX,
        ..Rules::default()
    });
    // The fuzzer cannot compute HMAC-SHA256 under this secret: nothing it writes verifies.
    let verdict = verifier.verify(
        &p,
        (&req).into(),
        EMPTY_PAYLOAD_SHA256,
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        NOW,
    );
    assert!(verdict.is_err(), "a forged signature verified: {p:?}");
});
