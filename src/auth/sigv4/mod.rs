//! AWS Signature Version 4 for the KVS client (service `kinesisvideo`).
//!
//! Only header signing (the `Authorization` header), which is what every KVS client uses:
//! canonical request → string to sign → derived signing key → signature. Streaming PutMedia is
//! signed as if its body were empty (KVS-API.md §1.1), so callers pass [`EMPTY_PAYLOAD_SHA256`]
//! for it. Pure functions, no I/O and no clock: the request time comes in as an argument so the
//! official test-suite vectors and botocore can check the output (see the tests).
//! Spec: <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html>.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// SHA-256 of the empty string: the payload hash of a streaming PutMedia.
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The signing name of every KVS API (control plane and data planes).
pub const SERVICE: &str = "kinesisvideo";

/// Long-term or temporary AWS credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Access key id (`AKIA...`).
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
    /// Session token of temporary credentials; sent as `x-amz-security-token`.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret and the token never reach logs.
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

/// Who signs, where, for which service.
#[derive(Debug, Clone)]
pub struct Signer {
    /// Credentials.
    pub credentials: Credentials,
    /// Region, e.g. `us-east-1`.
    pub region: String,
    /// Signing name; [`SERVICE`] for KVS.
    pub service: String,
}

/// A request to sign. Header names are matched case-insensitively.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// `GET`, `POST`...
    pub method: &'a str,
    /// Absolute path, not yet URI-encoded (e.g. `/putMedia`).
    pub path: &'a str,
    /// Query parameters, not yet encoded.
    pub query: &'a [(&'a str, &'a str)],
    /// The headers to sign (must include `host` and `x-amz-date`).
    pub headers: &'a [(&'a str, &'a str)],
    /// Hex SHA-256 of the payload ([`EMPTY_PAYLOAD_SHA256`] for streaming PutMedia).
    pub payload_sha256: &'a str,
}

/// The result of signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The value of the `Authorization` header.
    pub authorization: String,
    /// Hex signature.
    pub signature: String,
    /// `;`-joined lowercase names of the signed headers.
    pub signed_headers: String,
}

impl Signer {
    /// The header lines that sign a POST now: `X-Amz-Security-Token` (with a session token),
    /// `X-Amz-Date` and `Authorization`. `signed` holds the request's other signed headers
    /// (lowercase names, `host` among them).
    pub fn post_auth_lines(
        &self,
        path: &str,
        signed: &[(&str, &str)],
        payload_sha256: &str,
    ) -> String {
        let date = amz_date_now();
        let mut headers: Vec<(&str, &str)> = signed.to_vec();
        headers.push(("x-amz-date", date.as_str()));
        let mut lines = String::new();
        if let Some(t) = &self.credentials.session_token {
            headers.push(("x-amz-security-token", t.as_str()));
            lines.push_str(&format!("X-Amz-Security-Token: {t}\r\n"));
        }
        let sig = self.sign(
            &Request {
                method: "POST",
                path,
                query: &[],
                headers: &headers,
                payload_sha256,
            },
            &date,
        );
        lines.push_str(&format!(
            "X-Amz-Date: {date}\r\nAuthorization: {}\r\n",
            sig.authorization
        ));
        lines
    }

    /// Signs `req` made at `amz_date` (`YYYYMMDDTHHMMSSZ`, the value of `x-amz-date`).
    pub fn sign(&self, req: &Request<'_>, amz_date: &str) -> Signature {
        let date = amz_date.get(..8).unwrap_or(amz_date);
        let (canonical, signed_headers) = canonical_request(req);
        let scope = format!("{date}/{}/{}/aws4_request", self.region, self.service);
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let key = signing_key(
            &self.credentials.secret_key,
            date,
            &self.region,
            &self.service,
        );
        let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
        Signature {
            authorization: format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
                self.credentials.access_key
            ),
            signature,
            signed_headers,
        }
    }
}

/// The canonical request and the signed-headers list.
pub fn canonical_request(req: &Request<'_>) -> (String, String) {
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), collapse_spaces(v.trim())))
        .collect();
    headers.sort();
    // Repeated headers are joined with commas, in order.
    let mut merged: Vec<(String, String)> = Vec::with_capacity(headers.len());
    for (n, v) in headers {
        match merged.last_mut() {
            Some((last, lv)) if *last == n => {
                lv.push(',');
                lv.push_str(&v);
            }
            _ => merged.push((n, v)),
        }
    }
    let canonical_headers: String = merged.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let signed_headers = merged
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let mut query: Vec<(String, String)> = req
        .query
        .iter()
        .map(|(k, v)| (uri_encode(k, true), uri_encode(v, true)))
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    // Non-S3 services encode each path segment twice; for our ASCII paths that is a no-op.
    let path = if req.path.is_empty() {
        "/".to_owned()
    } else {
        let once = uri_encode(req.path, false);
        uri_encode(&once, false)
    };
    let canonical = format!(
        "{}\n{path}\n{query}\n{canonical_headers}\n{signed_headers}\n{}",
        req.method, req.payload_sha256
    );
    (canonical, signed_headers)
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn collapse_spaces(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut space = false;
    for c in v.chars() {
        if c == ' ' {
            if !space {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
    out
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters kept, `/` kept in paths.
fn uri_encode(s: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if !encode_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Formats a Unix time (seconds) as `YYYYMMDDTHHMMSSZ`.
pub fn amz_date(unix_secs: u64) -> String {
    let (y, m, d) = crate::time::civil_from_days((unix_secs / 86_400) as i64);
    let secs = unix_secs % 86_400;
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// [`amz_date`] of now.
pub fn amz_date_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    amz_date(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_signer(service: &str) -> Signer {
        Signer {
            credentials: Credentials {
                access_key: "AKIDEXAMPLE".into(),
                secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
                session_token: None,
            },
            region: "us-east-1".into(),
            service: service.into(),
        }
    }

    /// The header lines of a signed POST name every signed header and match `sign` for the
    /// same request and date.
    #[test]
    fn post_auth_lines_sign_the_given_headers_and_the_token() {
        let mut signer = example_signer("kinesisvideo");
        signer.credentials.session_token = Some("TOKEN".into());
        let lines = signer.post_auth_lines(
            "/putMedia",
            &[("host", "h"), ("x-amzn-stream-name", "s")],
            EMPTY_PAYLOAD_SHA256,
        );
        assert!(lines.contains("X-Amz-Security-Token: TOKEN\r\n"), "{lines}");
        assert!(
            lines
                .contains("SignedHeaders=host;x-amz-date;x-amz-security-token;x-amzn-stream-name,"),
            "{lines}"
        );
        let date = lines
            .lines()
            .find_map(|l| l.strip_prefix("X-Amz-Date: "))
            .expect("a date line")
            .to_owned();
        let sig = signer.sign(
            &Request {
                method: "POST",
                path: "/putMedia",
                query: &[],
                headers: &[
                    ("host", "h"),
                    ("x-amzn-stream-name", "s"),
                    ("x-amz-date", &date),
                    ("x-amz-security-token", "TOKEN"),
                ],
                payload_sha256: EMPTY_PAYLOAD_SHA256,
            },
            &date,
        );
        assert!(lines.contains(&sig.authorization), "{lines}");
    }

    /// The AWS SigV4 test suite's `get-vanilla` case, every intermediate value.
    #[test]
    fn aws_test_suite_get_vanilla() {
        let req = Request {
            method: "GET",
            path: "/",
            query: &[],
            headers: &[
                ("Host", "example.amazonaws.com"),
                ("X-Amz-Date", "20150830T123600Z"),
            ],
            payload_sha256: EMPTY_PAYLOAD_SHA256,
        };
        let (canonical, _) = canonical_request(&req);
        assert_eq!(
            canonical,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let sig = example_signer("service").sign(&req, "20150830T123600Z");
        assert_eq!(
            sig.signature,
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        assert_eq!(
            sig.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    /// The test suite's `get-vanilla-query-order-key-case`: parameters sorted by encoded name.
    #[test]
    fn aws_test_suite_query_order() {
        let req = Request {
            method: "GET",
            path: "/",
            query: &[("Param2", "value2"), ("Param1", "value1")],
            headers: &[
                ("Host", "example.amazonaws.com"),
                ("X-Amz-Date", "20150830T123600Z"),
            ],
            payload_sha256: EMPTY_PAYLOAD_SHA256,
        };
        let sig = example_signer("service").sign(&req, "20150830T123600Z");
        assert_eq!(
            sig.signature,
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        );
    }

    #[test]
    fn amz_date_formats_utc() {
        assert_eq!(amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(951_782_400), "20000229T000000Z");
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed() {
        let req = Request {
            method: "POST",
            path: "/putMedia",
            query: &[],
            headers: &[("My-Header", "  a   b  "), ("host", "h")],
            payload_sha256: EMPTY_PAYLOAD_SHA256,
        };
        let (canonical, signed) = canonical_request(&req);
        assert!(canonical.contains("my-header:a b\n"), "{canonical}");
        assert_eq!(signed, "host;my-header");
    }

    #[test]
    fn debug_hides_the_secret() {
        let s = format!("{:?}", example_signer("service").credentials);
        assert!(!s.contains("EXAMPLEKEY"), "{s}");
    }
}
