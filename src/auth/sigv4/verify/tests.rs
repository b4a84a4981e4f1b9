//! The verifier against three independent signers (AWS's test-suite vectors, the official
//! `aws-sigv4` crate, botocore 1.44 goldens), the kvssink exchange (KVS-API.md §1.8), every
//! tampering we could think of, and a deterministic mutation run over the parser.

use std::time::{Duration, UNIX_EPOCH};

use aws_sigv4::http_request::{
    SessionTokenMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};

use super::*;
use crate::auth::sigv4::{
    Credentials, EMPTY_PAYLOAD_SHA256, Request, Signer, UNSIGNED_PAYLOAD, amz_date, payload_sha256,
};

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// 20260126T101112Z.
const T: i64 = 1_769_422_272;
const BODY: &[u8] = br#"{"StreamName":"cam-1"}"#;

fn req(method: &str, target: &str, headers: &[(&str, &str)]) -> http::Request<()> {
    let mut b = http::Request::builder().method(method).uri(target);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap()
}

fn check_with(
    r: &http::Request<()>,
    payload: &str,
    secret: &str,
    now: i64,
    rules: Rules,
) -> Result<(), SigError> {
    let p = presented(r.uri(), r.headers())?.ok_or(SigError::MissingAuthenticationToken)?;
    Verifier::new(rules).verify(&p, r.into(), payload, secret, now)
}

fn check(r: &http::Request<()>, payload: &str) -> Result<(), SigError> {
    check_with(r, payload, SECRET, T + 10, Rules::default())
}

fn incomplete(r: &http::Request<()>) -> bool {
    matches!(
        presented(r.uri(), r.headers()),
        Err(SigError::IncompleteSignature(_))
    )
}

/// (a) The AWS SigV4 test suite's `get-vanilla` and `get-vanilla-query-order-key-case`.
#[test]
fn aws_test_suite_vectors_verify() {
    let rules = Rules {
        service: "service".into(),
        ..Rules::default()
    };
    let now = 1_440_938_160;
    for (target, sig) in [
        (
            "/",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
        (
            "/?Param2=value2&Param1=value1",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
    ] {
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature={sig}"
        );
        let r = req(
            "GET",
            target,
            &[
                ("host", "example.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
                ("authorization", &auth),
            ],
        );
        assert_eq!(
            check_with(&r, EMPTY_PAYLOAD_SHA256, SECRET, now, rules.clone()),
            Ok(()),
            "{target}"
        );
    }
}

/// A request as the official `aws-sigv4` crate signs it for `url`, seen by the server: origin-form
/// target, `Host` as the client sends it (the URL's authority without a default port).
fn aws_signed(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: SignableBody<'_>,
    token: Option<&str>,
    tune: impl FnOnce(&mut SigningSettings),
) -> http::Request<()> {
    let identity = aws_credential_types::Credentials::new(
        AKID,
        SECRET,
        token.map(str::to_owned),
        None,
        "test",
    )
    .into();
    let mut settings = SigningSettings::default();
    tune(&mut settings);
    let params: aws_sigv4::http_request::SigningParams<'_> =
        aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("eu-west-3")
            .name("kinesisvideo")
            .time(UNIX_EPOCH + Duration::from_secs(T as u64))
            .settings(settings)
            .build()
            .unwrap()
            .into();
    let signable = SignableRequest::new(method, url, headers.iter().copied(), body).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut client = req(method, url, headers);
    instructions.apply_to_request_http1x(&mut client);
    let uri: Uri = client.uri().clone();
    let host = match uri.port_u16() {
        Some(80) | None => uri.host().unwrap().to_owned(),
        Some(port) => format!("{}:{port}", uri.host().unwrap()),
    };
    let mut server = req(
        method,
        uri.path_and_query().unwrap().as_str(),
        &[("host", &host)],
    );
    for (k, v) in client.headers() {
        server.headers_mut().append(k.clone(), v.clone());
    }
    server
}

fn presign(secs: u64) -> impl FnOnce(&mut SigningSettings) {
    move |s: &mut SigningSettings| {
        s.signature_location = SignatureLocation::QueryParams;
        s.expires_in = Some(Duration::from_secs(secs));
    }
}

/// (b) Header form, boto3-like control-plane call: with and without a session token, Host with
/// and without a port.
#[test]
fn aws_sigv4_header_form_is_accepted() {
    for url in [
        "http://127.0.0.1:8080/describeStream",
        "http://127.0.0.1/describeStream",
    ] {
        for token in [None, Some("FwoGZXIvYXdzEXAMPLETOKEN")] {
            let r = aws_signed(
                "POST",
                url,
                &[("content-type", "application/json"), ("user-agent", "t/1")],
                SignableBody::Bytes(BODY),
                token,
                |_| {},
            );
            assert_eq!(check(&r, &payload_sha256(BODY)), Ok(()), "{url} {token:?}");
            let p = presented(r.uri(), r.headers()).unwrap().unwrap();
            assert_eq!(p.form, Form::Header);
            assert_eq!(p.session_token.as_deref(), token);
            assert_eq!(p.region, "eu-west-3");
            assert!(!format!("{p:?}").contains("EXAMPLETOKEN"), "{p:?}");
        }
    }
}

/// (b) Presigned form: the empty-body hash (what botocore uses for non-S3 services) and
/// `UNSIGNED-PAYLOAD`, with and without a session token, Host with and without a port, with
/// other query parameters (encoded and sorted with the X-Amz-* ones).
#[test]
fn aws_sigv4_presigned_form_is_accepted() {
    for url in [
        "http://127.0.0.1:8080/hls/master.m3u8?SessionToken=abc%2Bd&Kind=x%20y",
        "http://cam.example/hls/master.m3u8",
    ] {
        for token in [None, Some("FwoGZXIvYXdzEXAMPLETOKEN")] {
            for (body, hash) in [
                (SignableBody::Bytes(&[]), EMPTY_PAYLOAD_SHA256),
                (SignableBody::UnsignedPayload, UNSIGNED_PAYLOAD),
            ] {
                let r = aws_signed("GET", url, &[], body, token, presign(300));
                assert_eq!(check(&r, hash), Ok(()), "{url} {token:?} {hash}");
                let p = presented(r.uri(), r.headers()).unwrap().unwrap();
                assert_eq!(p.form, Form::Query);
                assert_eq!(p.expires_secs, Some(300));
                assert_eq!(p.session_token.as_deref(), token);
            }
        }
    }
}

/// (b) botocore 1.44 goldens (computed once with `SigV4Auth` / `SigV4QueryAuth`, see the commit):
/// a DescribeStream with a session token and Host with port; a presigned GET whose path holds
/// `%2F` and `%20`.
#[test]
fn botocore_goldens_are_accepted() {
    let r = req(
        "POST",
        "/describeStream",
        &[
            ("host", "127.0.0.1:8080"),
            ("content-type", "application/json"),
            ("user-agent", "Boto3/1.40 md/Botocore#1.44.8"),
            ("x-amz-date", "20260126T101112Z"),
            ("x-amz-security-token", "FwoGZXIvYXdzEXAMPLETOKEN"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260126/eu-west-3/kinesisvideo/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, \
                 Signature=760b43d115e9691a912bad1829069f4c8aed3a4a986ea83ac5c488d45de39a42",
            ),
        ],
    );
    assert_eq!(check(&r, &payload_sha256(BODY)), Ok(()));
    let r = req(
        "GET",
        "/hls/a%2Fb%20c/master.m3u8?SessionToken=abc%2Bd&Kind=x%20y&X-Amz-Algorithm=AWS4-HMAC-SHA256\
         &X-Amz-Credential=AKIDEXAMPLE%2F20260126%2Feu-west-3%2Fkinesisvideo%2Faws4_request\
         &X-Amz-Date=20260126T101112Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host\
         &X-Amz-Signature=f85ff5849c35fbb7a714d6f8b8c27ba0c6aa85b1b2fa871b1b27935dd9211edb",
        &[("host", "127.0.0.1:8080")],
    );
    assert_eq!(check(&r, EMPTY_PAYLOAD_SHA256), Ok(()));
}

/// (d) kvssink: signs `host;user-agent;x-amz-date`, Host without the port although the server
/// listens on one, no `x-amz-content-sha256`, PutMedia with the empty-body hash, the session
/// token header added after signing (producer-c `AwsV4Signer.c`), unsigned streaming headers.
#[test]
fn kvssink_exchange_is_accepted() {
    let ua = "AWS-SDK-KVS-CPP-CLIENT/3.4.1/1.5.1 GCC/11.4.0 Linux/6.8.0 x86_64";
    for (path, body, hash) in [
        (
            "http://127.0.0.1/describeStream",
            SignableBody::Bytes(BODY),
            payload_sha256(BODY),
        ),
        (
            "http://127.0.0.1/putMedia",
            SignableBody::Precomputed(EMPTY_PAYLOAD_SHA256.into()),
            EMPTY_PAYLOAD_SHA256.to_owned(),
        ),
    ] {
        for token in [None, Some("FwoGZXIvYXdzEXAMPLETOKEN")] {
            let mut r = aws_signed(
                "POST",
                path,
                &[("user-agent", ua)],
                body.clone(),
                token,
                |s| {
                    s.excluded_headers = Some(Vec::new());
                    s.session_token_mode = SessionTokenMode::Exclude;
                },
            );
            for (k, v) in [
                ("transfer-encoding", "chunked"),
                ("expect", "100-continue"),
                ("x-amzn-stream-name", "cam-1"),
                ("content-type", "application/json"),
            ] {
                r.headers_mut().insert(k, HeaderValue::from_static(v));
            }
            if let Some(t) = token {
                r.headers_mut()
                    .insert("x-amz-security-token", HeaderValue::from_str(t).unwrap());
            }
            assert_eq!(r.headers()["host"], "127.0.0.1");
            assert_eq!(claimed_payload_hash(r.headers()), None);
            let p = presented(r.uri(), r.headers()).unwrap().unwrap();
            assert_eq!(p.signed_headers, ["host", "user-agent", "x-amz-date"]);
            assert_eq!(p.session_token.as_deref(), token);
            assert_eq!(check(&r, &hash), Ok(()), "{path} {token:?}");
        }
    }
}

/// A POST signed by our client signer, with a query, a `content-type` and a `user-agent` that is
/// not signed.
fn signed_post(service: &str, date_header: bool) -> http::Request<()> {
    let signer = Signer {
        credentials: Credentials {
            access_key: AKID.into(),
            secret_key: SECRET.into(),
            session_token: None,
        },
        region: "eu-west-3".into(),
        service: service.into(),
    };
    let amz = amz_date(T as u64);
    let date = if date_header {
        ("date", "Mon, 26 Jan 2026 10:11:12 GMT")
    } else {
        ("x-amz-date", amz.as_str())
    };
    let mut headers = vec![
        ("host", "127.0.0.1:8080"),
        ("content-type", "application/json"),
        date,
    ];
    let sig = signer.sign(
        &Request {
            method: "POST",
            path: "/listFragments",
            query: &[("a", "1 2"), ("b", "x/y")],
            headers: &headers,
            payload_sha256: &payload_sha256(BODY),
        },
        &amz,
    );
    headers.push(("authorization", &sig.authorization));
    headers.push(("user-agent", "t/1"));
    req("POST", "/listFragments?b=x%2Fy&a=1%202", &headers)
}

#[test]
fn our_signer_round_trips_in_both_date_headers() {
    let hash = payload_sha256(BODY);
    assert_eq!(check(&signed_post(SERVICE, false), &hash), Ok(()));
    assert_eq!(check(&signed_post(SERVICE, true), &hash), Ok(()));
}

/// (c) Each tampering is refused with the right error.
#[test]
fn tampering_is_refused() {
    let hash = payload_sha256(BODY);
    let ok = signed_post(SERVICE, false);
    let retarget = |target: &str| {
        let mut r = ok.clone();
        *r.uri_mut() = target.parse().unwrap();
        r
    };
    let reheader = |name: &'static str, value: &str| {
        let mut r = ok.clone();
        r.headers_mut()
            .insert(name, HeaderValue::from_str(value).unwrap());
        r
    };
    let bad = Err(SigError::InvalidSignature);
    assert_eq!(check(&ok, &payload_sha256(b"{}")), bad, "body hash");
    assert_eq!(check(&ok, UNSIGNED_PAYLOAD), bad, "unsigned payload");
    assert_eq!(
        check(&retarget("/deleteStream?b=x%2Fy&a=1%202"), &hash),
        bad,
        "path"
    );
    assert_eq!(
        check(&retarget("/listFragments?b=x%2Fy&a=1%203"), &hash),
        bad,
        "query value"
    );
    assert_eq!(
        check(&retarget("/listFragments?b=x%2Fy&a=1%202&c"), &hash),
        bad,
        "query added"
    );
    assert_eq!(
        check(&retarget("/listFragments?b=x%2Fy"), &hash),
        bad,
        "query removed"
    );
    assert_eq!(
        check(&reheader("content-type", "text/plain"), &hash),
        bad,
        "signed header"
    );
    assert_eq!(
        check(&reheader("host", "127.0.0.1:8081"), &hash),
        bad,
        "host"
    );
    assert_eq!(
        check(&reheader("user-agent", "other"), &hash),
        Ok(()),
        "unsigned header"
    );
    // A header added to the signed list.
    let auth = ok.headers()["authorization"].to_str().unwrap();
    let widened = auth.replace("SignedHeaders=", "SignedHeaders=accept;");
    let mut r = reheader("authorization", &widened);
    r.headers_mut()
        .insert("accept", HeaderValue::from_static("*/*"));
    assert_eq!(check(&r, &hash), bad, "signed header added");
    // Another signature.
    let flipped = format!("{}0", &auth[..auth.len() - 1]);
    let flipped = if flipped == auth {
        format!("{}1", &auth[..auth.len() - 1])
    } else {
        flipped
    };
    assert_eq!(
        check(&reheader("authorization", &flipped), &hash),
        bad,
        "signature"
    );
    assert_eq!(
        check_with(&ok, &hash, "another secret", T, Rules::default()),
        bad,
        "secret"
    );
    // The scope.
    assert!(matches!(
        check(&signed_post("s3", false), &hash),
        Err(SigError::WrongScope(_))
    ));
    let west1 = Rules {
        region: Some("us-east-1".into()),
        ..Rules::default()
    };
    assert!(matches!(
        check_with(&ok, &hash, SECRET, T, west1),
        Err(SigError::WrongScope(_))
    ));
    // Time: header form, ±5 minutes.
    let at = |now| check_with(&ok, &hash, SECRET, now, Rules::default());
    assert_eq!(at(T + 300), Ok(()));
    assert_eq!(at(T - 300), Ok(()));
    assert!(matches!(
        at(T + 301),
        Err(SigError::SignatureExpired { .. })
    ));
    assert!(matches!(
        at(T - 301),
        Err(SigError::SignatureNotYetCurrent { .. })
    ));
    // Presigned: valid from 5 minutes before X-Amz-Date until X-Amz-Expires after it.
    let url = aws_signed(
        "GET",
        "http://127.0.0.1:8080/hls/master.m3u8",
        &[],
        SignableBody::Bytes(&[]),
        None,
        presign(60),
    );
    let at = |now| check_with(&url, EMPTY_PAYLOAD_SHA256, SECRET, now, Rules::default());
    assert_eq!(at(T + 59), Ok(()));
    assert_eq!(at(T - 300), Ok(()));
    assert!(matches!(at(T + 60), Err(SigError::RequestExpired { .. })));
    assert!(matches!(
        at(T - 301),
        Err(SigError::SignatureNotYetCurrent { .. })
    ));
    // The signature parameter itself is not signed, but any other is.
    let target = url.uri().to_string();
    let mut r = url.clone();
    *r.uri_mut() = format!("{target}&extra=1").parse().unwrap();
    assert_eq!(
        check(&r, EMPTY_PAYLOAD_SHA256),
        bad,
        "presigned query added"
    );
}

/// What `presented` refuses, each as an `IncompleteSignature`.
#[test]
fn malformed_signatures_are_incomplete() {
    let ok = signed_post(SERVICE, false);
    let auth = ok.headers()["authorization"].to_str().unwrap().to_owned();
    let with_auth = |a: &str| {
        let mut r = ok.clone();
        r.headers_mut()
            .insert(AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        r
    };
    let sig = auth.rsplit_once("Signature=").unwrap().1.to_owned();
    let scope = "AKIDEXAMPLE/20260126/eu-west-3/kinesisvideo/aws4_request";
    let cases = [
        auth.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"),
        auth.replace("AWS4-HMAC-SHA256 ", "Bearer "),
        auth.replace(scope, "AKIDEXAMPLE/20260126/eu-west-3/kinesisvideo"),
        auth.replace(scope, &format!("{scope}/x")),
        auth.replace(scope, "/20260126/eu-west-3/kinesisvideo/aws4_request"),
        auth.replace(
            scope,
            "AKIDEXAMPLE/20260126/EU-WEST-3/kinesisvideo/aws4_request",
        ),
        auth.replace(
            scope,
            "AKIDEXAMPLE/20260125/eu-west-3/kinesisvideo/aws4_request",
        ),
        auth.replace(
            "SignedHeaders=content-type;host;x-amz-date",
            "SignedHeaders=content-type;x-amz-date",
        ),
        auth.replace(
            "SignedHeaders=content-type;host;",
            "SignedHeaders=host;content-type;",
        ),
        auth.replace(
            "SignedHeaders=content-type;",
            "SignedHeaders=content-type;content-type;",
        ),
        auth.replace("SignedHeaders=content-type;", "SignedHeaders=Content-Type;"),
        auth.replace(
            "SignedHeaders=content-type;",
            "SignedHeaders=accept;content-type;",
        ),
        auth.replace("SignedHeaders=", "SignedHeaders=;"),
        auth.replace(&sig, &sig[..62]),
        auth.replace(&sig, &format!("{}zz", &sig[..62])),
        format!("{auth}, Signature={sig}"),
        format!("{auth}, Extra=1"),
        auth.replace(", Signature=", ", Signature"),
        auth.replace(&format!(", Signature={sig}"), ""),
        "AWS4-HMAC-SHA256".to_owned(),
        String::new(),
    ];
    for a in &cases {
        assert!(incomplete(&with_auth(a)), "{a}");
    }
    let many: Vec<String> = (0..70).map(|i| format!("x-h{i:02}")).collect();
    let many = auth.replace(
        "SignedHeaders=",
        &format!("SignedHeaders={};", many.join(";")),
    );
    assert!(incomplete(&with_auth(&many)));
    // The request time.
    let mut r = ok.clone();
    r.headers_mut().remove("x-amz-date");
    assert!(incomplete(&r), "no date");
    r.headers_mut()
        .insert("date", HeaderValue::from_static("26 Jan 2026 10:11:12"));
    assert!(incomplete(&r), "bad date");
    let mut r = ok.clone();
    r.headers_mut()
        .append("x-amz-date", HeaderValue::from_static("20260126T101112Z"));
    assert!(incomplete(&r), "two dates");
    let mut r = ok.clone();
    r.headers_mut()
        .append(AUTHORIZATION, HeaderValue::from_str(&auth).unwrap());
    assert!(incomplete(&r), "two Authorization headers");
    // Both forms at once.
    let mut r = ok.clone();
    *r.uri_mut() = "/listFragments?X-Amz-Signature=00".parse().unwrap();
    assert!(incomplete(&r), "both forms");
    // Nothing at all.
    let r = req("GET", "/x?a=1&X-Amz-User-Agent=y", &[("host", "h")]);
    assert_eq!(presented(r.uri(), r.headers()), Ok(None));
}

#[test]
fn malformed_presigned_queries_are_incomplete() {
    let url = aws_signed(
        "GET",
        "http://127.0.0.1:8080/hls/master.m3u8",
        &[],
        SignableBody::Bytes(&[]),
        None,
        presign(300),
    );
    let q = url.uri().query().unwrap().to_owned();
    let with_query = |q: &str| {
        let mut r = url.clone();
        *r.uri_mut() = format!("/hls/master.m3u8?{q}").parse().unwrap();
        r
    };
    assert!(!incomplete(&with_query(&q)));
    let sig = q.rsplit_once("X-Amz-Signature=").unwrap().1.to_owned();
    for bad in [
        q.replace("X-Amz-Expires=300", "X-Amz-Expires=604801"),
        q.replace("X-Amz-Expires=300", "X-Amz-Expires=0"),
        q.replace("X-Amz-Expires=300", "X-Amz-Expires=-1"),
        q.replace("X-Amz-Expires=300", "X-Amz-Expires=3e2"),
        q.replace("X-Amz-Expires=300&", ""),
        q.replace("X-Amz-Date=20260126T101112Z&", ""),
        q.replace("X-Amz-Date=20260126T101112Z", "X-Amz-Date=20260127T101112Z"),
        q.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256"),
        q.replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=x-amz-date"),
        format!("{q}&X-Amz-Signature={sig}"),
        q.replace(&sig, &sig[..10]),
        format!("{q}&X-Amz-Security-Token="),
    ] {
        assert!(incomplete(&with_query(&bad)), "{bad}");
    }
    let long = format!("{q}&pad={}", "a".repeat(MAX_QUERY_BYTES));
    assert!(incomplete(&with_query(&long)));
    let many = format!("{q}{}", "&p=1".repeat(MAX_QUERY_PARAMS));
    assert!(incomplete(&with_query(&many)));
}

#[test]
fn error_codes_and_messages() {
    assert_eq!(
        SigError::InvalidSignature.aws_code(),
        "InvalidSignatureException"
    );
    assert!(SigError::InvalidSignature.to_string().starts_with(
        "The request signature we calculated does not match the signature you provided"
    ));
    assert_eq!(
        SigError::MissingAuthenticationToken.aws_code(),
        "MissingAuthenticationTokenException"
    );
    assert_eq!(
        SigError::IncompleteSignature("x").aws_code(),
        "IncompleteSignatureException"
    );
    assert_eq!(
        SigError::UnrecognizedClient.aws_code(),
        "UnrecognizedClientException"
    );
    assert_eq!(SigError::ExpiredToken.aws_code(), "ExpiredTokenException");
    // The computed signature never appears in an error.
    let ok = signed_post(SERVICE, false);
    let e = check_with(&ok, &payload_sha256(b"x"), "other", T, Rules::default()).unwrap_err();
    let sig = ok.headers()["authorization"].to_str().unwrap();
    let sig = sig.rsplit_once('=').unwrap().1;
    assert!(!e.to_string().contains(sig) && !format!("{e:?}").contains(sig));
}

/// The key cache: filled only by a valid signature, used by the next one, keyed by the secret.
#[test]
fn key_cache_is_filled_by_valid_signatures_only() {
    let v = Verifier::new(Rules::default());
    let ok = signed_post(SERVICE, false);
    let p = presented(ok.uri(), ok.headers()).unwrap().unwrap();
    let hash = payload_sha256(BODY);
    assert_eq!(
        v.verify(&p, (&ok).into(), &hash, "wrong", T),
        Err(SigError::InvalidSignature)
    );
    assert!(v.keys().is_empty());
    assert_eq!(v.verify(&p, (&ok).into(), &hash, SECRET, T), Ok(()));
    assert_eq!(v.keys().len(), 1);
    assert_eq!(v.verify(&p, (&ok).into(), &hash, SECRET, T), Ok(()));
    assert_eq!(
        v.verify(&p, (&ok).into(), &hash, "wrong", T),
        Err(SigError::InvalidSignature)
    );
    assert_eq!(v.keys().len(), 1);
}

/// A small deterministic PRNG (xorshift64*), so the mutation run is the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    const PIECES: &[&[u8]] = &[
        b",",
        b";",
        b"=",
        b"/",
        b" ",
        b"%",
        b"%2F",
        b"&",
        b"+",
        b"X-Amz-",
        b"Signature=",
        b"Credential=",
        b"aws4_request",
        b"host",
        b"\x80",
        b"\xff",
        b"0",
        b"9",
        b"T",
        b"Z",
    ];
    let mut v = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(5) {
            0 if at < v.len() => v[at] = rng.next() as u8,
            1 => {
                let piece = PIECES[rng.below(PIECES.len())];
                v.splice(at..at, piece.iter().copied());
            }
            2 if at < v.len() => {
                let end = (at + rng.below(16)).min(v.len());
                v.drain(at..end);
            }
            3 => v.truncate(at),
            _ => {
                let from = rng.below(v.len());
                let end = (from + rng.below(32)).min(v.len());
                let copy = v[from..end].to_vec();
                v.splice(at..at, copy);
            }
        }
    }
    v
}

/// The parser and the verifier on a few thousand mutated Authorization headers and presigned
/// queries: no panic, and nothing mutated verifies (the mutations leave the signed parts alone
/// only by chance, and then the result must still be a proper `Result`).
#[test]
fn mutated_inputs_never_panic() {
    let post = signed_post(SERVICE, false);
    let auth = post.headers()["authorization"].as_bytes().to_vec();
    let url = aws_signed(
        "GET",
        "http://127.0.0.1:8080/hls/master.m3u8?SessionToken=abc",
        &[],
        SignableBody::Bytes(&[]),
        Some("TOKEN"),
        presign(300),
    );
    let query = url.uri().query().unwrap().as_bytes().to_vec();
    let verifier = Verifier::new(Rules::default());
    let mut rng = Rng(0x5eed_1234_abcd_0042);
    let (mut parsed, mut accepted) = (0, 0);
    for i in 0..6000 {
        let r = if i % 2 == 0 {
            let Ok(value) = HeaderValue::from_bytes(&mutate(&mut rng, &auth)) else {
                continue;
            };
            let mut r = post.clone();
            r.headers_mut().insert(AUTHORIZATION, value);
            r
        } else {
            let mut target = b"/hls/master.m3u8?".to_vec();
            target.extend(mutate(&mut rng, &query));
            let Ok(uri) = Uri::try_from(target) else {
                continue;
            };
            let mut r = url.clone();
            *r.uri_mut() = uri;
            r
        };
        if let Ok(Some(p)) = presented(r.uri(), r.headers()) {
            parsed += 1;
            if verifier
                .verify(&p, (&r).into(), EMPTY_PAYLOAD_SHA256, SECRET, T)
                .is_ok()
            {
                accepted += 1;
            }
        }
    }
    assert!(parsed > 100, "only {parsed} mutations parsed");
    assert!(accepted < parsed, "{accepted} of {parsed} accepted");
}
