//! AWS Signature Version 4 for KVS (signing name `kinesisvideo`): one canonicalization, used to
//! sign (the client's [`Signer`], behind `vidstream push`) and to verify (the server's
//! [`Verifier`], see [`verify`]).
//!
//! The four steps: canonical request → string to sign → derived signing key → signature.
//! `Canonical` is the only code that writes a canonical request, so the signer and the verifier
//! cannot disagree on a rule:
//! - **URI**: the path *as sent on the wire* (already percent-encoded once), dot segments and
//!   empty segments removed, then percent-encoded once more, as botocore and the `aws-sigv4`
//!   crate do for every service but S3: `/a%2Fb` is signed as `/a%252Fb`, `/c%20d` as
//!   `/c%2520d`; plain KVS paths (`/getHLSStreamingSessionURL`) are unchanged.
//! - **Query**: the decoded parameters, each name and value percent-encoded (RFC 3986 unreserved
//!   characters kept), sorted by name then value. `+` decodes as a space, as `form_urlencoded`
//!   and the `aws-sigv4` crate read it.
//! - **Headers**: lowercase names, sorted; values trimmed and inner runs of spaces collapsed;
//!   repeated headers joined with `,` in the order received.
//!
//! Streaming PutMedia is signed as if its body were empty (KVS-API.md §1.1), so callers sign and
//! verify it with [`EMPTY_PAYLOAD_SHA256`]. Pure functions, no I/O and no clock: times come in as
//! arguments, so the official test-suite vectors, botocore and the `aws-sigv4` crate check the
//! output (see the tests).
//! Spec: <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html>.

mod cache;
mod date;
mod error;
mod sign;
pub mod verify;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub use cache::SigningKeyCache;
pub use date::{amz_date, amz_date_now};
pub use error::SigError;
pub use sign::{
    Credentials, Request, Signature, Signer, canonical_request, client_signs, now_secs,
};
pub use verify::{Form, Presented, Received, Rules, Verifier, claimed_payload_hash, presented};

/// SHA-256 of the empty string: the payload hash of a streaming PutMedia, and of presigned
/// non-S3 requests signed by botocore.
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The payload hash of a request whose body is not signed (botocore sends it in
/// `x-amz-content-sha256` for operations with unsigned bodies over https).
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// The signing name of every KVS API (control plane and data planes).
pub const SERVICE: &str = "kinesisvideo";

/// The one algorithm: `AWS4-HMAC-SHA256`.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Writes a canonical request (SigV4 step 1), one part after the other, in order: method, URI,
/// query, headers, signed headers, payload hash. The only writer of one, for the signer and the
/// verifier alike. Bytes, not a `String`: a received header value may hold any byte but
/// control characters, and it is signed as sent.
#[derive(Debug)]
pub(crate) struct Canonical {
    buf: Vec<u8>,
}

impl Canonical {
    /// Starts with the method and the canonical URI of `wire_path`, the path as sent (already
    /// percent-encoded once).
    pub(crate) fn new(method: &str, wire_path: &str) -> Self {
        let mut buf = Vec::with_capacity(512);
        buf.extend_from_slice(method.as_bytes());
        buf.push(b'\n');
        canonical_uri(wire_path, &mut buf);
        buf.push(b'\n');
        Canonical { buf }
    }

    /// The canonical query string of the *decoded* parameters.
    pub(crate) fn query<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        params: impl IntoIterator<Item = (K, V)>,
    ) {
        let mut encoded: Vec<(String, String)> = params
            .into_iter()
            .map(|(k, v)| (uri_encode(k.as_ref(), true), uri_encode(v.as_ref(), true)))
            .collect();
        encoded.sort_unstable();
        for (i, (k, v)) in encoded.iter().enumerate() {
            if i > 0 {
                self.buf.push(b'&');
            }
            self.buf.extend_from_slice(k.as_bytes());
            self.buf.push(b'=');
            self.buf.extend_from_slice(v.as_bytes());
        }
        self.buf.push(b'\n');
    }

    /// One canonical header line, `name:v1,v2`. Call in sorted name order, after [`Self::query`].
    pub(crate) fn header<'v>(&mut self, name: &str, values: impl IntoIterator<Item = &'v [u8]>) {
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(b':');
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            let mut space = false;
            for &b in v.trim_ascii() {
                if b == b' ' {
                    if !space {
                        self.buf.push(b' ');
                    }
                    space = true;
                } else {
                    self.buf.push(b);
                    space = false;
                }
            }
        }
        self.buf.push(b'\n');
    }

    /// The blank line, the signed headers and the payload hash: the finished canonical request.
    pub(crate) fn finish<'n>(
        mut self,
        signed_headers: impl IntoIterator<Item = &'n str>,
        payload_sha256: &str,
    ) -> Vec<u8> {
        self.buf.push(b'\n');
        for (i, name) in signed_headers.into_iter().enumerate() {
            if i > 0 {
                self.buf.push(b';');
            }
            self.buf.extend_from_slice(name.as_bytes());
        }
        self.buf.push(b'\n');
        self.buf.extend_from_slice(payload_sha256.as_bytes());
        self.buf
    }
}

/// The canonical URI of a path as sent: botocore's `normalize_url_path` (empty and `.` segments
/// dropped, `..` drops the segment before it, a trailing `/` kept), each segment then
/// percent-encoded once more.
fn canonical_uri(wire_path: &str, out: &mut Vec<u8>) {
    out.push(b'/');
    let rest = wire_path.strip_prefix('/').unwrap_or(wire_path);
    if rest.is_empty() {
        return;
    }
    let plain = rest
        .split('/')
        .all(|s| !s.is_empty() && s != "." && s != "..");
    if plain {
        uri_encode_into(rest.as_bytes(), false, out);
        return;
    }
    let mut segments: Vec<&str> = Vec::new();
    for s in rest.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    for (i, s) in segments.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        uri_encode_into(s.as_bytes(), true, out);
    }
    if wire_path.ends_with('/') && !segments.is_empty() {
        out.push(b'/');
    }
}

/// The canonical request of `method` on `wire_path` (as sent, percent-encoded once) with the
/// decoded query `params`, signing `headers` (any case; repeated names joined in order), and its
/// signed-headers list: what [`Signer`] signs.
pub(crate) fn canonical<K: AsRef<str>, V: AsRef<str>>(
    method: &str,
    wire_path: &str,
    params: impl IntoIterator<Item = (K, V)>,
    headers: &[(&str, &str)],
    payload_sha256: &str,
) -> (Vec<u8>, String) {
    let mut headers: Vec<(String, &str)> = headers
        .iter()
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), *v))
        .collect();
    // Stable: repeated headers keep their order.
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let mut names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    names.dedup();
    let mut c = Canonical::new(method, wire_path);
    c.query(params);
    for name in &names {
        c.header(
            name,
            headers
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.as_bytes()),
        );
    }
    let signed_headers = names.join(";");
    (
        c.finish(names.iter().copied(), payload_sha256),
        signed_headers,
    )
}

/// A path (or one segment of it) as sent on the wire, percent-decoded: the inverse of
/// [`encode_path`]. `+` stays `+` (it is a space only in query strings); invalid UTF-8 is
/// replaced. The one decoder of the crate (the API guard reads path segments with it) and of
/// the tests.
pub fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `<date>/<region>/<service>/aws4_request`.
pub fn credential_scope(date: &str, region: &str, service: &str) -> String {
    format!("{date}/{region}/{service}/aws4_request")
}

/// `AWS4-HMAC-SHA256\n<amz date>\n<scope>\n<hex SHA-256 of the canonical request>`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request))
    )
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// Hex SHA-256 of a body: the payload hash of a fully signed request.
pub fn payload_sha256(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// An HMAC-SHA256 keyed with `key`, ready for `update`.
pub(crate) fn keyed(key: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = keyed(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// A path as it goes on the request line: each byte but the unreserved ones and `/`
/// percent-encoded ([`percent_decode`] reverses it). [`Request::path`] takes the path before
/// encoding; [`Signer::sign_headers`] the encoded one.
pub fn encode_path(path: &str) -> String {
    uri_encode(path, false)
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters kept, `/` kept in paths.
pub(crate) fn uri_encode(s: &str, encode_slash: bool) -> String {
    let mut out = Vec::with_capacity(s.len());
    uri_encode_into(s.as_bytes(), encode_slash, &mut out);
    // Only ASCII was written.
    String::from_utf8_lossy(&out).into_owned()
}

fn uri_encode_into(s: &[u8], encode_slash: bool, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b),
            b'/' if !encode_slash => out.push(b'/'),
            _ => out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Canonical URIs of wire paths, checked against botocore 1.44 (`SigV4Auth.canonical_request`
    /// of the same URL).
    #[test]
    fn canonical_uri_matches_botocore() {
        for (wire, canonical) in [
            ("", "/"),
            ("/", "/"),
            ("/getHLSStreamingSessionURL", "/getHLSStreamingSessionURL"),
            ("/a%2Fb/e%20f/./g//h/../i", "/a%252Fb/e%2520f/g/i"),
            ("/a/b/", "/a/b/"),
            ("/..", "/"),
            ("/~user/x-y_z.m3u8", "/~user/x-y_z.m3u8"),
        ] {
            let mut out = Vec::new();
            canonical_uri(wire, &mut out);
            assert_eq!(String::from_utf8_lossy(&out), canonical, "{wire}");
        }
    }

    /// `percent_decode` undoes `encode_path` and keeps `+` (a path is not a form).
    #[test]
    fn percent_decode_reverses_encode_path() {
        for path in ["/v1/streams/cam-1", "/a b/c+d/é/x%y", "/a/b%2Fc", ""] {
            assert_eq!(percent_decode(&encode_path(path)), path);
        }
        assert_eq!(percent_decode("a+b%20c%2Fd"), "a+b c/d");
        assert_eq!(percent_decode("%zz%"), "%zz%");
    }
}
