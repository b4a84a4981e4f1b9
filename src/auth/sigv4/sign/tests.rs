//! The signer against the AWS test-suite vectors and the official `aws-sigv4` crate (the same
//! request signed by both gives the same `Authorization` and presigned query), and its forms
//! against our own verifier.

use std::time::{Duration, UNIX_EPOCH};

use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};

use super::*;
use crate::auth::sigv4::{Rules, Verifier, payload_sha256, presented};

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// 20260126T101112Z.
const T: u64 = 1_769_422_272;
const BODY: &[u8] = br#"{"StreamName":"cam-1"}"#;

fn example_signer(service: &str) -> Signer {
    Signer {
        credentials: Credentials {
            access_key: AKID.into(),
            secret_key: SECRET.into(),
            session_token: None,
        },
        region: "us-east-1".into(),
        service: service.into(),
    }
}

fn with_token(token: Option<&str>) -> Signer {
    let mut s = Signer::new(example_signer(SERVICE).credentials, "eu-west-3");
    s.credentials.session_token = token.map(str::to_owned);
    s
}

/// What our verifier says of `target` with `headers`, at `T + 10`.
fn verify(method: &str, target: &str, headers: &[(&str, &str)], hash: &str) -> Result<(), String> {
    let mut b = http::Request::builder().method(method).uri(target);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let r = b.body(()).unwrap();
    let p = presented(r.uri(), r.headers())
        .map_err(|e| e.to_string())?
        .ok_or("unsigned")?;
    Verifier::new(Rules::default())
        .verify(&p, (&r).into(), hash, SECRET, T as i64 + 10)
        .map_err(|e| e.to_string())
}

/// `aws-sigv4`'s headers for the same request, by name.
fn aws_headers(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    token: Option<&str>,
    presigned: bool,
) -> http::Request<()> {
    let identity =
        aws_credential_types::Credentials::new(AKID, SECRET, token.map(str::to_owned), None, "t")
            .into();
    let mut settings = SigningSettings::default();
    if presigned {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(300));
    }
    let params: aws_sigv4::http_request::SigningParams<'_> =
        aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("eu-west-3")
            .name(SERVICE)
            .time(UNIX_EPOCH + Duration::from_secs(T))
            .settings(settings)
            .build()
            .unwrap()
            .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut b = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let mut r = b.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut r);
    r
}

/// Header form: our `sign_headers` and `aws-sigv4` give the same `Authorization` for a
/// boto3-like POST (with a query, an encoded path segment, with and without a session token),
/// and our verifier accepts it.
#[test]
fn sign_headers_agrees_with_aws_sigv4() {
    for uri in ["/describeStream", "/v1/cameras/a%20b%2Fc/x?b=x%2Fy&a=1%202"] {
        for token in [None, Some("FwoGZXIvYXdzEXAMPLETOKEN")] {
            let hash = payload_sha256(BODY);
            let headers = [
                ("host", "127.0.0.1:8080"),
                ("content-type", "application/json"),
            ];
            let ours = with_token(token).sign_headers("POST", uri, &headers, &hash, T);
            let url = format!("http://127.0.0.1:8080{uri}");
            let aws = aws_headers("POST", &url, &headers[1..], BODY, token, false);
            let get = |n: &str| ours.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
            assert_eq!(
                get("authorization"),
                aws.headers()["authorization"].to_str().ok(),
                "{uri} {token:?}"
            );
            assert_eq!(get("x-amz-security-token"), token);
            let mut all: Vec<(&str, &str)> = headers.to_vec();
            all.extend(ours.iter().map(|(k, v)| (*k, v.as_str())));
            assert_eq!(verify("POST", uri, &all, &hash), Ok(()), "{uri} {token:?}");
        }
    }
}

/// Presigned form: the same query as `aws-sigv4`'s (our parameter order differs, the
/// signature must not), accepted by our verifier, and refused once a parameter changes.
#[test]
fn presign_agrees_with_aws_sigv4() {
    for uri in [
        "/hls/master.m3u8",
        "/hls/master.m3u8?Kind=x%20y&SessionToken=abc%2Bd",
    ] {
        for token in [None, Some("FwoGZXIvYXdzEXAMPLETOKEN")] {
            let ours = with_token(token).presign("GET", uri, "127.0.0.1:8080", 300, T);
            let url = format!("http://127.0.0.1:8080{uri}");
            let aws = aws_headers("GET", &url, &[], &[], token, true);
            let signature = |target: &str| {
                form_urlencoded::parse(target.split_once('?').unwrap().1.as_bytes())
                    .find(|(k, _)| k == "X-Amz-Signature")
                    .map(|(_, v)| v.into_owned())
            };
            assert_eq!(
                signature(&ours),
                signature(aws.uri().path_and_query().unwrap().as_str()),
                "{ours}"
            );
            let host = [("host", "127.0.0.1:8080")];
            assert_eq!(verify("GET", &ours, &host, EMPTY_PAYLOAD_SHA256), Ok(()));
            let tampered = ours.replace("X-Amz-Expires=300", "X-Amz-Expires=301");
            assert!(verify("GET", &tampered, &host, EMPTY_PAYLOAD_SHA256).is_err());
        }
    }
}

/// `sign_http` signs `host`, `content-type` and `x-amz-*` of a header map, not the others,
/// and replaces a previous signature.
#[test]
fn sign_http_signs_what_botocore_signs() {
    let hash = payload_sha256(BODY);
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("127.0.0.1:8080"));
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("x-amzn-stream-name", HeaderValue::from_static("cam-1"));
    h.insert("user-agent", HeaderValue::from_static("t/1"));
    h.insert("authorization", HeaderValue::from_static("stale"));
    let signer = with_token(None);
    signer
        .sign_http("POST", "/putMedia", &mut h, &hash, T)
        .unwrap();
    let auth = h["authorization"].to_str().unwrap();
    assert!(
        auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amzn-stream-name,"),
        "{auth}"
    );
    let all: Vec<(&str, &str)> = h
        .iter()
        .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
        .collect();
    assert_eq!(verify("POST", "/putMedia", &all, &hash), Ok(()));
}

/// The header lines of a signed POST name every signed header and match `sign` for the
/// same request and date.
#[test]
fn auth_lines_sign_the_given_headers_and_the_token() {
    let mut signer = example_signer("kinesisvideo");
    signer.credentials.session_token = Some("TOKEN".into());
    let lines = signer.auth_lines(
        "POST",
        "/putMedia",
        &[("host", "h"), ("x-amzn-stream-name", "s")],
        EMPTY_PAYLOAD_SHA256,
    );
    assert!(lines.contains("X-Amz-Security-Token: TOKEN\r\n"), "{lines}");
    assert!(
        lines.contains("SignedHeaders=host;x-amz-date;x-amz-security-token;x-amzn-stream-name,"),
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
    // The same through the wire form.
    let headers = example_signer("service").sign_headers(
        "GET",
        "/",
        &[("Host", "example.amazonaws.com")],
        EMPTY_PAYLOAD_SHA256,
        1_440_938_160,
    );
    assert_eq!(headers[0], ("x-amz-date", "20150830T123600Z".to_owned()));
    assert_eq!(headers[1], ("authorization", sig.authorization));
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

/// Repeated headers are joined in the order given, not sorted by value (botocore `get_all`).
#[test]
fn repeated_headers_keep_their_order() {
    let req = Request {
        method: "GET",
        path: "/",
        query: &[],
        headers: &[("x-b", "2"), ("host", "h"), ("X-B", "1")],
        payload_sha256: EMPTY_PAYLOAD_SHA256,
    };
    let (canonical, signed) = canonical_request(&req);
    assert!(canonical.contains("host:h\nx-b:2,1\n"), "{canonical}");
    assert_eq!(signed, "host;x-b");
}

#[test]
fn debug_hides_the_secret() {
    let s = format!("{:?}", example_signer("service").credentials);
    assert!(!s.contains("EXAMPLEKEY"), "{s}");
}
