//! Every request the tests make is signed (SigV4, service `kinesisvideo`) with the key the test
//! server is configured with, as boto3 or kvssink would sign it: access control stays on in
//! every test.
//!
//! `req.send_signed().await` replaces `req.send().await`. A body the client holds in memory is
//! signed by its SHA-256; a streaming body (PutMedia) with the empty-body hash, as KVS's
//! producers do.

use reqwest::header::{HeaderName, HeaderValue};
use sha2::{Digest, Sha256};
use vidstream::auth::sigv4::{self, Credentials, Signer};

/// The root access key every test server is configured with.
pub const ACCESS_KEY: &str = "VSRKTESTROOT00000001";
/// Its secret.
pub const SECRET_KEY: &str = "test-root-secret-0000000000000000000000000";
/// The region the tests sign for.
pub const REGION: &str = "us-west-2";

/// The signer of the tests' root key.
pub fn root_signer() -> Signer {
    signer(ACCESS_KEY, SECRET_KEY, None)
}

/// A signer for any key (e.g. one a test created through `/v1/keys`).
pub fn signer(access_key: &str, secret_key: &str, session_token: Option<&str>) -> Signer {
    Signer {
        credentials: Credentials {
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            session_token: session_token.map(str::to_owned),
        },
        region: REGION.to_owned(),
        service: sigv4::SERVICE.to_owned(),
    }
}

/// Adds `Host`, `X-Amz-Date`, the session token and `Authorization` to `req`, signing `host`,
/// `x-amz-*` and `content-type`.
pub fn sign(req: &mut reqwest::Request, signer: &Signer) {
    let url = req.url().clone();
    let streaming = url.path().ends_with("/putMedia");
    let body_sent = req.body().is_some();
    // JSON, as every SDK labels a KVS request body.
    if body_sent && !streaming && !req.headers().contains_key(reqwest::header::CONTENT_TYPE) {
        req.headers_mut().insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = req
        .body()
        .and_then(reqwest::Body::as_bytes)
        .map(<[u8]>::to_vec);
    for (name, value) in auth_headers(
        signer,
        req.method().as_str(),
        &url,
        &headers,
        body.as_deref(),
    ) {
        req.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_str(&value).expect("value"),
        );
    }
}

/// The headers that sign a request (`host`, `x-amz-date`, the session token, `authorization`),
/// for clients that write their own requests (raw sockets, WebSocket handshakes). `headers`
/// are the request's other headers; `host`, `content-type` and `x-amz-*` among them are
/// signed. `body`: the bytes the signature covers (None for an empty or streaming body).
pub fn auth_headers(
    signer: &Signer,
    method: &str,
    url: &url::Url,
    headers: &[(String, String)],
    body: Option<&[u8]>,
) -> Vec<(String, String)> {
    let host = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    // PutMedia is signed as if its body were empty (KVS-API.md §0), as the producers sign it.
    let streaming = url.path().ends_with("/putMedia");
    let payload = match body {
        Some(bytes) if !streaming => hex::encode(Sha256::digest(bytes)),
        _ => sigv4::EMPTY_PAYLOAD_SHA256.to_owned(),
    };
    let date = sigv4::amz_date_now();
    let mut out = vec![
        ("host".to_owned(), host.clone()),
        ("x-amz-date".to_owned(), date.clone()),
    ];
    if let Some(t) = &signer.credentials.session_token {
        out.push(("x-amz-security-token".to_owned(), t.clone()));
    }
    let mut signed: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .filter(|(n, _)| n == "content-type" || (n.starts_with("x-amz") && n != "x-amz-date"))
        .filter(|(n, _)| n != "x-amz-security-token")
        .collect();
    signed.extend(out.iter().cloned());
    let signed_refs: Vec<(&str, &str)> = signed
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let query_refs: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let path = percent_decode(url.path());
    let sig = signer.sign(
        &sigv4::Request {
            method,
            path: &path,
            query: &query_refs,
            headers: &signed_refs,
            payload_sha256: &payload,
        },
        &date,
    );
    out.push(("authorization".to_owned(), sig.authorization));
    out
}

fn percent_decode(path: &str) -> String {
    url::form_urlencoded::parse(format!("p={}", path.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `send_signed`: sign with the tests' root key (or another signer), then send.
pub trait SendSigned {
    /// Signs with the tests' root key and sends.
    fn send_signed(self) -> impl Future<Output = reqwest::Result<reqwest::Response>> + Send;
    /// Signs with `signer` and sends.
    fn send_signed_by(
        self,
        signer: Signer,
    ) -> impl Future<Output = reqwest::Result<reqwest::Response>> + Send;
}

impl SendSigned for reqwest::RequestBuilder {
    fn send_signed(self) -> impl Future<Output = reqwest::Result<reqwest::Response>> + Send {
        self.send_signed_by(root_signer())
    }

    fn send_signed_by(
        self,
        signer: Signer,
    ) -> impl Future<Output = reqwest::Result<reqwest::Response>> + Send {
        let (client, req) = self.build_split();
        async move {
            let mut req = req?;
            sign(&mut req, &signer);
            client.execute(req).await
        }
    }
}
