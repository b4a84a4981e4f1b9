//! Server side of SigV4: read what a request presents ([`presented`]), then check it against the
//! request as received ([`Verifier::verify`]).
//!
//! The split lets the caller look the access key up between the two steps: [`presented`] needs
//! no secret and says who claims to be calling; the key store turns the access key id (and
//! session token) into a secret or refuses it ([`SigError::UnrecognizedClient`],
//! [`SigError::ExpiredToken`]); [`Verifier::verify`] then rebuilds the canonical request from the
//! received method, path, query and headers, with the same canonical-request writer the client
//! signs with (`Canonical` in [`super`]), and compares signatures in constant time.
//!
//! What the caller decides is the payload hash, because only it knows the body and the route:
//! - JSON calls (control plane, GetMedia, archived media; boto3, kvssink): hex SHA-256 of the
//!   body ([`super::payload_sha256`]). botocore's KVS models mark no operation unsigned-payload,
//!   so boto3 signs every body (http and https) and sends no `x-amz-content-sha256`. A client
//!   that does send one (S3-style signers) signed what it claims ([`claimed_payload_hash`]):
//!   accept a claim only if the route allows it (`UNSIGNED-PAYLOAD`) or the body matches it;
//! - streaming PutMedia: [`super::EMPTY_PAYLOAD_SHA256`] (kvssink, the producer SDKs, `vidstream
//!   push`; botocore has no PutMedia);
//! - presigned URLs: botocore signs non-S3 presigned requests with the empty-body hash (the body,
//!   if any, moves to the query); the `aws-sigv4` crate signs whatever its caller chose, often
//!   [`super::UNSIGNED_PAYLOAD`].
//!
//! Untrusted input is bounded before anything is allocated for it (`MAX_*` below), and nothing
//! here panics on any input (see the `sigv4_parse` fuzz target and the mutation test).

use std::borrow::Cow;

use hmac::Mac;
use http::header::{AUTHORIZATION, DATE};
use http::{HeaderMap, HeaderValue, Method, Uri};
use sha2::{Digest, Sha256};

use super::date::{amz_date_i64, parse_amz_date, parse_http_date};
use super::{
    ALGORITHM, Canonical, SERVICE, SigError, SigningKeyCache, credential_scope, keyed, signing_key,
    string_to_sign,
};

/// Longest `Authorization` header read.
pub const MAX_AUTHORIZATION_BYTES: usize = 4096;
/// Longest query string read.
pub const MAX_QUERY_BYTES: usize = 16 * 1024;
/// Most query parameters read.
pub const MAX_QUERY_PARAMS: usize = 128;
/// Most signed headers.
pub const MAX_SIGNED_HEADERS: usize = 64;
/// Longest session token (STS tokens run to about 1–2 KB).
pub const MAX_SESSION_TOKEN_BYTES: usize = 8192;
/// Longest presigned validity: one week, as AWS allows.
pub const MAX_EXPIRES_SECS: u32 = 604_800;
/// Longest access key id, region or service name.
const MAX_SCOPE_PART_BYTES: usize = 128;

/// Where a signature was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// The `Authorization: AWS4-HMAC-SHA256 ...` header.
    Header,
    /// A presigned URL: `X-Amz-Algorithm`, `X-Amz-Credential`, ... query parameters.
    Query,
}

/// A signature as presented by a request, parsed and checked for form, not yet verified.
#[derive(Clone, PartialEq, Eq)]
pub struct Presented {
    /// Header or presigned query.
    pub form: Form,
    /// The access key id of the credential.
    pub access_key_id: String,
    /// The credential's date, `YYYYMMDD` (the date part of the request time).
    pub date: String,
    /// The credential's region.
    pub region: String,
    /// The credential's service (signing name).
    pub service: String,
    /// The signed headers' names: lowercase, sorted, `host` among them.
    pub signed_headers: Vec<String>,
    /// The signature.
    pub signature: [u8; 32],
    /// The request time, Unix seconds (`X-Amz-Date`, or the `Date` header in the header form).
    pub request_time: i64,
    /// Presigned form: `X-Amz-Expires`, 1 to [`MAX_EXPIRES_SECS`].
    pub expires_secs: Option<u32>,
    /// The session token of temporary credentials (`x-amz-security-token` header, or the
    /// `X-Amz-Security-Token` parameter of a presigned URL). Checked by the key store.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The session token is a credential: never logged.
        f.debug_struct("Presented")
            .field("form", &self.form)
            .field("access_key_id", &self.access_key_id)
            .field("date", &self.date)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("signed_headers", &self.signed_headers)
            .field("request_time", &amz_date_i64(self.request_time))
            .field("expires_secs", &self.expires_secs)
            .field("session_token", &self.session_token.as_ref().map(|_| "…"))
            .finish_non_exhaustive()
    }
}

/// The parts of a received request a signature covers. Build it from an `http::Request` or its
/// `Parts` (`(&req).into()`). The URI is the request target as received (origin form for
/// HTTP/1.1; HTTP/2 puts `:authority` in it, used as the host when there is no `Host` header).
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    /// The method.
    pub method: &'a Method,
    /// The request target: its path is used as sent (still percent-encoded), and its query.
    pub uri: &'a Uri,
    /// The headers, `Host` as received.
    pub headers: &'a HeaderMap,
}

impl<'a, B> From<&'a http::Request<B>> for Received<'a> {
    fn from(req: &'a http::Request<B>) -> Self {
        Received {
            method: req.method(),
            uri: req.uri(),
            headers: req.headers(),
        }
    }
}

impl<'a> From<&'a http::request::Parts> for Received<'a> {
    fn from(parts: &'a http::request::Parts) -> Self {
        Received {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
        }
    }
}

/// What the verifier accepts besides a matching signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// How far the request time may be from now, in seconds (both ways for the header form;
    /// into the future for presigned URLs). AWS allows 5 minutes.
    pub skew_secs: i64,
    /// The only region accepted in credential scopes; `None` accepts any (clients configured
    /// for any region work).
    pub region: Option<String>,
    /// The signing name required in credential scopes: [`SERVICE`] (`kinesisvideo`).
    pub service: String,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            skew_secs: 300,
            region: None,
            service: SERVICE.to_owned(),
        }
    }
}

/// Verifies SigV4 signatures under [`Rules`], with a cache of derived signing keys. One per
/// server, shared by all requests.
#[derive(Debug, Default)]
pub struct Verifier {
    rules: Rules,
    keys: SigningKeyCache,
}

/// The `x-amz-content-sha256` header: the payload hash the client says it signed (a hex SHA-256,
/// `UNSIGNED-PAYLOAD`, ...). Trust it only for what the route allows, and check a hex hash
/// against the body.
pub fn claimed_payload_hash(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
}

/// Reads the signature a request presents: `Ok(None)` when it carries neither an
/// `Authorization` header nor presigned (`X-Amz-*`) query parameters; an
/// [`SigError::IncompleteSignature`] when it is malformed or carries both. Any `Authorization`
/// header is taken as a SigV4 attempt: route other schemes (e.g. `Bearer`) before calling this.
///
/// Checks the form only: the algorithm, the credential scope (`AKID/YYYYMMDD/region/service/
/// aws4_request`) and that its date is the request time's, a sorted signed-headers list that
/// includes `host` and names only headers the request has, a 64-hex-digit signature, and in the
/// presigned form `X-Amz-Expires` (1 s to a week).
pub fn presented(uri: &Uri, headers: &HeaderMap) -> Result<Option<Presented>, SigError> {
    let mut auth = headers.get_all(AUTHORIZATION).iter();
    let header = auth.next();
    if auth.next().is_some() {
        return Err(incomplete("more than one Authorization header"));
    }
    let query = uri.query().unwrap_or("");
    let presigned = query_params(query)?.any(|(k, _)| {
        matches!(
            k.as_ref(),
            "X-Amz-Algorithm" | "X-Amz-Credential" | "X-Amz-Signature"
        )
    });
    let p = match (header, presigned) {
        (None, false) => return Ok(None),
        (Some(_), true) => {
            return Err(incomplete(
                "both an Authorization header and a presigned query were given: use one",
            ));
        }
        (Some(value), false) => from_header(value, headers)?,
        (None, true) => from_query(query)?,
    };
    for name in &p.signed_headers {
        let present =
            headers.contains_key(name.as_str()) || (name == "host" && uri.authority().is_some());
        if !present {
            return Err(incomplete("a signed header is missing from the request"));
        }
    }
    Ok(Some(p))
}

impl Verifier {
    /// A verifier with an empty key cache of [`SigningKeyCache::DEFAULT_CAPACITY`].
    pub fn new(rules: Rules) -> Self {
        Verifier {
            rules,
            keys: SigningKeyCache::default(),
        }
    }

    /// A verifier with its own key cache (capacity 0 disables caching).
    pub fn with_cache(rules: Rules, keys: SigningKeyCache) -> Self {
        Verifier { rules, keys }
    }

    /// The rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The key cache (to clear it when keys are revoked or rotated).
    pub fn keys(&self) -> &SigningKeyCache {
        &self.keys
    }

    /// Checks `p`, presented by `req`, made with `secret`, at `now_epoch_secs`: the scope's
    /// service and region, the request time, then the signature over the canonical request
    /// rebuilt from `req` as received with `payload_sha256` as the payload hash (see the module
    /// doc for which one). The session token is the key store's to check.
    pub fn verify(
        &self,
        p: &Presented,
        req: Received<'_>,
        payload_sha256: &str,
        secret: &str,
        now_epoch_secs: i64,
    ) -> Result<(), SigError> {
        if p.service != self.rules.service {
            return Err(SigError::WrongScope("correct service: 'kinesisvideo'"));
        }
        if self.rules.region.as_ref().is_some_and(|r| *r != p.region) {
            return Err(SigError::WrongScope("a region this server serves"));
        }
        self.check_time(p, now_epoch_secs)?;
        let canonical = canonical_received(p, req, payload_sha256)?;
        let scope = credential_scope(&p.date, &p.region, &p.service);
        let sts = string_to_sign(&amz_date_i64(p.request_time), &scope, &canonical);
        let cache_key = format!("{}/{scope}", p.access_key_id);
        let fingerprint: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let (mut mac, fresh) = match self.keys.get(&cache_key, &fingerprint) {
            Some(mac) => (mac, None),
            None => {
                let mac = keyed(&signing_key(secret, &p.date, &p.region, &p.service));
                (mac.clone(), Some(mac))
            }
        };
        mac.update(sts.as_bytes());
        // Constant time.
        mac.verify_slice(&p.signature)
            .map_err(|_| SigError::InvalidSignature)?;
        if let Some(mac) = fresh {
            self.keys.insert(cache_key, fingerprint, mac);
        }
        Ok(())
    }

    fn check_time(&self, p: &Presented, now: i64) -> Result<(), SigError> {
        let skew = self.rules.skew_secs.max(0);
        let t = p.request_time;
        let not_yet = SigError::SignatureNotYetCurrent {
            request_time: t,
            now,
            skew_secs: skew,
        };
        match p.form {
            Form::Header if t < now.saturating_sub(skew) => Err(SigError::SignatureExpired {
                request_time: t,
                now,
                skew_secs: skew,
            }),
            Form::Header if t > now.saturating_add(skew) => Err(not_yet),
            Form::Header => Ok(()),
            Form::Query => {
                let expires = p.expires_secs.unwrap_or(0);
                if now < t.saturating_sub(skew) {
                    Err(not_yet)
                } else if now >= t.saturating_add(i64::from(expires)) {
                    Err(SigError::RequestExpired {
                        request_time: t,
                        expires_secs: expires,
                        now,
                    })
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// The canonical request of `req` as received.
fn canonical_received(
    p: &Presented,
    req: Received<'_>,
    payload_sha256: &str,
) -> Result<Vec<u8>, SigError> {
    let mut c = Canonical::new(req.method.as_str(), req.uri.path());
    let params = query_params(req.uri.query().unwrap_or(""))?;
    c.query(params.filter(|(k, _)| !(p.form == Form::Query && k == "X-Amz-Signature")));
    for name in &p.signed_headers {
        let values = req.headers.get_all(name.as_str());
        if values.iter().next().is_some() {
            c.header(name, values.iter().map(HeaderValue::as_bytes));
        } else if let Some(authority) = req.uri.authority().filter(|_| name == "host") {
            c.header(name, [authority.as_str().as_bytes()]);
        } else {
            return Err(incomplete("a signed header is missing from the request"));
        }
    }
    Ok(c.finish(p.signed_headers.iter().map(String::as_str), payload_sha256))
}

/// The decoded query parameters, after the size and count limits.
fn query_params(
    query: &str,
) -> Result<impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> + '_, SigError> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(incomplete("query string too long"));
    }
    let params = form_urlencoded::parse(query.as_bytes());
    if params.count() > MAX_QUERY_PARAMS {
        return Err(incomplete("too many query parameters"));
    }
    Ok(params)
}

fn incomplete(why: &'static str) -> SigError {
    SigError::IncompleteSignature(why)
}

/// The header form: `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
fn from_header(value: &HeaderValue, headers: &HeaderMap) -> Result<Presented, SigError> {
    if value.len() > MAX_AUTHORIZATION_BYTES {
        return Err(incomplete("Authorization header too long"));
    }
    let value = value
        .to_str()
        .map_err(|_| incomplete("Authorization header is not visible ASCII"))?;
    let (algorithm, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
    if algorithm != ALGORITHM {
        return Err(incomplete(
            "unsupported Authorization type: only AWS4-HMAC-SHA256 is accepted",
        ));
    }
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| incomplete("Authorization component without '='"))?;
        let slot = match k {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => return Err(incomplete("unknown Authorization component")),
        };
        if slot.replace(v).is_some() {
            return Err(incomplete("repeated Authorization component"));
        }
    }
    let credential = credential
        .ok_or_else(|| incomplete("Authorization header requires 'Credential' parameter"))?;
    let signed = signed
        .ok_or_else(|| incomplete("Authorization header requires 'SignedHeaders' parameter"))?;
    let signature = signature
        .ok_or_else(|| incomplete("Authorization header requires 'Signature' parameter"))?;
    let request_time = match single(headers, "x-amz-date")? {
        Some(v) => {
            parse_amz_date(v).ok_or_else(|| incomplete("X-Amz-Date is not YYYYMMDDTHHMMSSZ"))?
        }
        None => match single(headers, DATE.as_str())? {
            Some(v) => parse_http_date(v)
                .ok_or_else(|| incomplete("Date is not an RFC 1123 date in GMT"))?,
            None => {
                return Err(incomplete(
                    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header",
                ));
            }
        },
    };
    let session_token = single(headers, "x-amz-security-token")?
        .map(bounded_token)
        .transpose()?;
    assemble(
        Form::Header,
        credential,
        signed,
        signature,
        request_time,
        None,
        session_token,
    )
}

/// The presigned form's `X-Amz-*` parameters.
fn from_query(query: &str) -> Result<Presented, SigError> {
    let mut algorithm = None;
    let mut credential = None;
    let mut date = None;
    let mut expires = None;
    let mut signed = None;
    let mut signature = None;
    let mut token = None;
    for (k, v) in query_params(query)? {
        let slot = match k.as_ref() {
            "X-Amz-Algorithm" => &mut algorithm,
            "X-Amz-Credential" => &mut credential,
            "X-Amz-Date" => &mut date,
            "X-Amz-Expires" => &mut expires,
            "X-Amz-SignedHeaders" => &mut signed,
            "X-Amz-Signature" => &mut signature,
            "X-Amz-Security-Token" => &mut token,
            _ => continue,
        };
        if slot.replace(v).is_some() {
            return Err(incomplete("repeated X-Amz-* query parameter"));
        }
    }
    let algorithm = need(algorithm, "presigned URL requires X-Amz-Algorithm")?;
    if algorithm != ALGORITHM {
        return Err(incomplete(
            "unsupported X-Amz-Algorithm: only AWS4-HMAC-SHA256 is accepted",
        ));
    }
    let credential = need(credential, "presigned URL requires X-Amz-Credential")?;
    let date = need(date, "presigned URL requires X-Amz-Date")?;
    let expires = need(expires, "presigned URL requires X-Amz-Expires")?;
    let signed = need(signed, "presigned URL requires X-Amz-SignedHeaders")?;
    let signature = need(signature, "presigned URL requires X-Amz-Signature")?;
    let request_time =
        parse_amz_date(&date).ok_or_else(|| incomplete("X-Amz-Date is not YYYYMMDDTHHMMSSZ"))?;
    let expires = (expires.len() <= 6 && expires.bytes().all(|b| b.is_ascii_digit()))
        .then(|| expires.parse::<u32>().ok())
        .flatten()
        .filter(|e| (1..=MAX_EXPIRES_SECS).contains(e))
        .ok_or_else(|| incomplete("X-Amz-Expires must be 1 to 604800 seconds"))?;
    let session_token = token.map(|t| bounded_token(&t)).transpose()?;
    assemble(
        Form::Query,
        &credential,
        &signed,
        &signature,
        request_time,
        Some(expires),
        session_token,
    )
}

fn need<'a>(v: Option<Cow<'a, str>>, why: &'static str) -> Result<Cow<'a, str>, SigError> {
    v.ok_or_else(|| incomplete(why))
}

/// The one value of a header, if present and visible ASCII.
fn single<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, SigError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(incomplete("a signing header is repeated"));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| incomplete("a signing header is not visible ASCII"))
}

fn bounded_token(t: &str) -> Result<String, SigError> {
    if t.is_empty() || t.len() > MAX_SESSION_TOKEN_BYTES {
        return Err(incomplete("session token empty or too long"));
    }
    Ok(t.to_owned())
}

/// Checks and assembles the parts common to both forms.
fn assemble(
    form: Form,
    credential: &str,
    signed: &str,
    signature: &str,
    request_time: i64,
    expires_secs: Option<u32>,
    session_token: Option<String>,
) -> Result<Presented, SigError> {
    let mut scope = credential.split('/');
    let mut part = || scope.next().unwrap_or("");
    let (akid, date, region, service, terminator) = (part(), part(), part(), part(), part());
    let akid_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= MAX_SCOPE_PART_BYTES
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= MAX_SCOPE_PART_BYTES
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if !akid_ok(akid)
        || !name_ok(region)
        || !name_ok(service)
        || terminator != "aws4_request"
        || scope.next().is_some()
    {
        return Err(incomplete(
            "Credential must have the form <access key id>/<YYYYMMDD>/<region>/<service>/aws4_request",
        ));
    }
    if Some(date) != amz_date_i64(request_time).get(..8) {
        return Err(incomplete(
            "the Credential date must be the date of the request time (X-Amz-Date)",
        ));
    }
    let signed_headers = signed_header_names(signed)?;
    let mut sig = [0u8; 32];
    hex::decode_to_slice(signature, &mut sig)
        .map_err(|_| incomplete("Signature must be 64 hexadecimal digits"))?;
    Ok(Presented {
        form,
        access_key_id: akid.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        signed_headers,
        signature: sig,
        request_time,
        expires_secs,
        session_token,
    })
}

/// `host;x-amz-date;...`: lowercase header names, strictly ascending, `host` among them.
fn signed_header_names(signed: &str) -> Result<Vec<String>, SigError> {
    let mut names: Vec<String> = Vec::new();
    for name in signed.split(';') {
        if names.len() == MAX_SIGNED_HEADERS {
            return Err(incomplete("too many signed headers"));
        }
        let token = !name.is_empty()
            && name.len() <= MAX_SCOPE_PART_BYTES
            && name.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
            });
        if !token {
            return Err(incomplete("SignedHeaders must list lowercase header names"));
        }
        if names.last().is_some_and(|last| last.as_str() >= name) {
            return Err(incomplete("SignedHeaders must be sorted, without repeats"));
        }
        names.push(name.to_owned());
    }
    if !names.iter().any(|n| n == "host") {
        return Err(incomplete("the host header must be signed"));
    }
    Ok(names)
}

#[cfg(test)]
mod tests;
