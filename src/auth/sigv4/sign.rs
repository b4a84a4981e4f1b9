//! The client side of SigV4: the one signer of the crate and its tests. `vidstream push` and
//! the CLI (through `auth_lines`), the benchmarks and the integration tests all sign with it,
//! on top of the canonicalization the verifier uses ([`super::canonical`]).
//!
//! Three forms, from the highest level down:
//! - [`Signer::sign_http`]: signs an `http::HeaderMap` in place (reqwest's, axum's and
//!   tungstenite's requests), signing what botocore signs ([`client_signs`]);
//! - [`Signer::sign_headers`]: the headers to add to a request written by hand (raw sockets,
//!   the producer SDK's header set), over the URI as sent on the wire;
//! - [`Signer::presign`]: the query-string form (a URL a browser can carry).
//!
//! [`Signer::sign`] over a [`Request`] is the step underneath, with every intermediate value, for
//! the AWS test-suite vectors. Times come in as arguments ([`now_secs`] for the wall clock), so
//! tests can sign in the past.

use http::{HeaderMap, HeaderName, HeaderValue};

use super::{
    ALGORITHM, EMPTY_PAYLOAD_SHA256, SERVICE, amz_date, canonical, credential_scope, hmac,
    signing_key, string_to_sign, uri_encode,
};

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
    /// Absolute path, not yet URI-encoded (e.g. `/putMedia`); it is sent encoded once.
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

/// Whether a client signs the header `name` (lowercase) when it chooses: `host`,
/// `content-type` and every `x-amz-*` and `x-amzn-*` (botocore signs these and more). (The producer SDK signs `user-agent`
/// instead of `content-type`: pass its headers to [`Signer::sign_headers`].)
pub fn client_signs(name: &str) -> bool {
    name == "host" || name == "content-type" || name.starts_with("x-amz")
}

/// Now on the wall clock, Unix seconds: the `now` of a request signed now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Signer {
    /// A KVS signer (service [`SERVICE`]) in `region`.
    pub fn new(credentials: Credentials, region: impl Into<String>) -> Signer {
        Signer {
            credentials,
            region: region.into(),
            service: SERVICE.to_owned(),
        }
    }

    /// The headers that sign a request made at `now` (Unix seconds): `x-amz-date`, then
    /// `x-amz-security-token` with a session token, then `authorization`. `uri` is the request
    /// target as sent (path percent-encoded once, e.g. by [`super::encode_path`], then an
    /// optional `?query`); `headers` are the request's headers to sign, `host` among them; any
    /// `x-amz-date`, security token or `authorization` among them is replaced.
    /// `payload_sha256`: the body's hash ([`super::payload_sha256`]), [`EMPTY_PAYLOAD_SHA256`]
    /// for streaming PutMedia.
    pub fn sign_headers(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        payload_sha256: &str,
        now: u64,
    ) -> Vec<(&'static str, String)> {
        let date = amz_date(now);
        let mut signed: Vec<(&str, &str)> = headers
            .iter()
            .copied()
            .filter(|(n, _)| {
                !["x-amz-date", "x-amz-security-token", "authorization"]
                    .iter()
                    .any(|o| n.trim().eq_ignore_ascii_case(o))
            })
            .collect();
        signed.push(("x-amz-date", &date));
        let token = self.credentials.session_token.as_deref();
        if let Some(t) = token {
            signed.push(("x-amz-security-token", t));
        }
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        let (canonical, names) = canonical(
            method,
            path,
            form_urlencoded::parse(query.as_bytes()),
            &signed,
            payload_sha256,
        );
        let sig = self.signature(&canonical, names, &date);
        let mut out = vec![("x-amz-date", date.clone())];
        if let Some(t) = token {
            out.push(("x-amz-security-token", t.to_owned()));
        }
        out.push(("authorization", sig.authorization));
        out
    }

    /// Signs a request's headers in place, at `now`: `host` (which must be set: HTTP clients
    /// add it only when sending), `content-type` and `x-amz-*` are signed ([`client_signs`]),
    /// then [`Self::sign_headers`]'s headers are set. `uri` as for [`Self::sign_headers`].
    pub fn sign_http(
        &self,
        method: &str,
        uri: &str,
        headers: &mut HeaderMap,
        payload_sha256: &str,
        now: u64,
    ) -> Result<(), http::header::InvalidHeaderValue> {
        let text: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(n, _)| client_signs(n.as_str()))
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap_or("")))
            .collect();
        let add = self.sign_headers(method, uri, &text, payload_sha256, now);
        for (name, value) in add {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_str(&value)?,
            );
        }
        Ok(())
    }

    /// A presigned URI (SigV4's query form): `uri` (as for [`Self::sign_headers`]) with the
    /// `X-Amz-*` parameters appended, valid for `expires_secs` from `now`, signing only `host`
    /// and the empty payload, as botocore presigns non-S3 requests.
    pub fn presign(
        &self,
        method: &str,
        uri: &str,
        host: &str,
        expires_secs: u32,
        now: u64,
    ) -> String {
        let date = amz_date(now);
        let credential = format!(
            "{}/{}",
            self.credentials.access_key,
            credential_scope(&date[..8], &self.region, &self.service)
        );
        let expires = expires_secs.to_string();
        let mut added = vec![
            ("X-Amz-Algorithm", ALGORITHM),
            ("X-Amz-Credential", credential.as_str()),
            ("X-Amz-Date", date.as_str()),
            ("X-Amz-Expires", expires.as_str()),
            ("X-Amz-SignedHeaders", "host"),
        ];
        if let Some(t) = &self.credentials.session_token {
            added.push(("X-Amz-Security-Token", t));
        }
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        let params = form_urlencoded::parse(query.as_bytes())
            .chain(added.iter().map(|&(k, v)| (k.into(), v.into())));
        let (canonical, names) = canonical(
            method,
            path,
            params,
            &[("host", host)],
            EMPTY_PAYLOAD_SHA256,
        );
        let sig = self.signature(&canonical, names, &date);
        // `for_suffix(.., 0)`: the existing query is part of the form, so `&` joins it.
        let mut q = form_urlencoded::Serializer::for_suffix(query.to_owned(), 0);
        q.extend_pairs(added)
            .append_pair("X-Amz-Signature", &sig.signature);
        format!("{path}?{}", q.finish())
    }

    /// The header lines that sign a request made now: `X-Amz-Date`, `X-Amz-Security-Token`
    /// (with a session token) and `Authorization`, each ending in CRLF. `path` is not yet
    /// URI-encoded and has no query; `signed` holds the request's other signed headers
    /// (`host` among them).
    pub fn auth_lines(
        &self,
        method: &str,
        path: &str,
        signed: &[(&str, &str)],
        payload_sha256: &str,
    ) -> String {
        let uri = uri_encode(path, false);
        self.sign_headers(method, &uri, signed, payload_sha256, now_secs())
            .into_iter()
            .map(|(name, value)| {
                let name = match name {
                    "x-amz-date" => "X-Amz-Date",
                    "x-amz-security-token" => "X-Amz-Security-Token",
                    _ => "Authorization",
                };
                format!("{name}: {value}\r\n")
            })
            .collect()
    }

    /// Signs `req` made at `amz_date` (`YYYYMMDDTHHMMSSZ`, the value of `x-amz-date`, which
    /// `req.headers` must hold).
    pub fn sign(&self, req: &Request<'_>, amz_date: &str) -> Signature {
        let (canonical, names) = canonical(
            req.method,
            &uri_encode(req.path, false),
            req.query.iter().copied(),
            req.headers,
            req.payload_sha256,
        );
        self.signature(&canonical, names, amz_date)
    }

    /// Steps 2–4: the string to sign of `canonical`, the signing key, the signature.
    fn signature(&self, canonical: &[u8], signed_headers: String, amz_date: &str) -> Signature {
        let date = amz_date.get(..8).unwrap_or(amz_date);
        let scope = credential_scope(date, &self.region, &self.service);
        let string_to_sign = string_to_sign(amz_date, &scope, canonical);
        let key = signing_key(
            &self.credentials.secret_key,
            date,
            &self.region,
            &self.service,
        );
        let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
        Signature {
            authorization: format!(
                "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
                self.credentials.access_key
            ),
            signature,
            signed_headers,
        }
    }
}

/// The canonical request of a request to sign, and its signed-headers list.
pub fn canonical_request(req: &Request<'_>) -> (String, String) {
    let (canonical, names) = canonical(
        req.method,
        &uri_encode(req.path, false),
        req.query.iter().copied(),
        req.headers,
        req.payload_sha256,
    );
    // Every piece is ASCII or came from a `&str`, so this is never lossy.
    (String::from_utf8_lossy(&canonical).into_owned(), names)
}

#[cfg(test)]
mod tests;
