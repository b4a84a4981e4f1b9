//! Every request the tests make is signed (SigV4, service `kinesisvideo`) with the key the test
//! server is configured with, as boto3 or kvssink would sign it: access control stays on in
//! every test.
//!
//! `req.send_signed().await` replaces `req.send().await`. A body the client holds in memory is
//! signed by its SHA-256; a streaming body (PutMedia) with the empty-body hash, as KVS's
//! producers do.

use reqwest::header::{CONTENT_TYPE, HOST, HeaderValue};
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
    Signer::new(
        Credentials {
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            session_token: session_token.map(str::to_owned),
        },
        REGION,
    )
}

/// Adds `Host`, `X-Amz-Date`, the session token and `Authorization` to `req`, signing `host`,
/// `x-amz-*` and `content-type` (the library's [`Signer::sign_http`]).
pub fn sign(req: &mut reqwest::Request, signer: &Signer) {
    let streaming = req.url().path().ends_with("/putMedia");
    // JSON, as every SDK labels a KVS request body.
    if req.body().is_some() && !streaming && !req.headers().contains_key(CONTENT_TYPE) {
        req.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    let host = host_of(req.url());
    req.headers_mut()
        .insert(HOST, HeaderValue::from_str(&host).expect("host"));
    let payload = payload_of(req.url(), req.body().and_then(reqwest::Body::as_bytes));
    let method = req.method().as_str().to_owned();
    let uri = wire_uri(req.url());
    signer
        .sign_http(
            &method,
            &uri,
            req.headers_mut(),
            &payload,
            sigv4::now_secs(),
        )
        .expect("header values");
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
    let host = host_of(url);
    let mut signed = vec![("host", host.as_str())];
    signed.extend(
        headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .filter(|(n, _)| {
                let n = n.to_ascii_lowercase();
                n != "host" && sigv4::client_signs(&n)
            }),
    );
    let added = signer.sign_headers(
        method,
        &wire_uri(url),
        &signed,
        &payload_of(url, body),
        sigv4::now_secs(),
    );
    std::iter::once(("host".to_owned(), host.clone()))
        .chain(added.into_iter().map(|(n, v)| (n.to_owned(), v)))
        .collect()
}

/// `Host` as a client sends it: the URL's authority.
fn host_of(url: &url::Url) -> String {
    match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    }
}

/// The request target as sent: the URL's (already encoded) path and query.
fn wire_uri(url: &url::Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// The hash a body is signed with: its SHA-256; PutMedia's streaming body is signed as if
/// empty (KVS-API.md §0), as the producers sign it.
fn payload_of(url: &url::Url, body: Option<&[u8]>) -> String {
    match body {
        Some(bytes) if !url.path().ends_with("/putMedia") => sigv4::payload_sha256(bytes),
        _ => sigv4::EMPTY_PAYLOAD_SHA256.to_owned(),
    }
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
