//! The gate every request passes: find what the route needs ([`super::access`]), prove who is
//! calling (a SigV4 signature, header or presigned form), and check their policy against the
//! action on the named resource. Only then does the request reach its handler, carrying its
//! [`Principal`] in its extensions.
//!
//! A JSON body is read here (bounded by `max_request_body_bytes`), hashed for the signature,
//! and handed on; a PutMedia body streams through untouched (signed as if empty, as KVS's
//! producers sign it, or `UNSIGNED-PAYLOAD`).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::AppState;
use super::access::{Access, BodyKind, Op, ResourceOf, classify};
use super::error::ApiError;
use crate::auth::policy::resource;
use crate::auth::sigv4::{self, verify as sig};
use crate::auth::ui_session::{CSRF_HEADER, is_state_changing, session_cookie};
use crate::auth::{AuthError, Principal};
use crate::error::ErrorKind;
use crate::model::{Arn, StreamName};
use crate::store::StreamRef;

/// Middleware: lets a request through only when its principal may do what it asks.
pub async fn guard(State(st): State<AppState>, req: Request, next: Next) -> Response {
    match admit(&st, req).await {
        Ok(req) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

async fn admit(st: &AppState, req: Request) -> Result<Request, ApiError> {
    let Some(access) = classify(req.method(), req.uri().path()) else {
        return Err(ApiError::new(
            ErrorKind::UnknownOperation,
            format!(
                "`{} {}` is not an operation of this server; KVS operations are POST requests such as POST /describeStream",
                req.method(),
                req.uri().path()
            ),
        ));
    };
    check_host(st, req.headers())?;
    let op = match access {
        Access::Public | Access::PlaybackToken => return Ok(req),
        Access::Op(op) => op,
    };
    if op.body == BodyKind::Json {
        require_json(req.headers())?;
    }
    let (parts, body) = req.into_parts();
    let presented = sig::presented(&parts.uri, &parts.headers)
        .map_err(|e| auth_error(AuthError::Signature(e)))?;
    // A JSON body is read whole (bounded): SigV4 covers its hash, and it names the resource.
    let (bytes, body) = match op.body {
        BodyKind::Streaming => (None, body),
        BodyKind::Json | BodyKind::Empty => {
            let bytes = axum::body::to_bytes(body, st.max_request_body_bytes)
                .await
                .map_err(|_| {
                    ApiError::invalid(format!(
                        "the request body is larger than {} bytes",
                        st.max_request_body_bytes
                    ))
                })?;
            (Some(bytes.clone()), Body::from(bytes))
        }
    };
    let principal = match (presented, session_cookie(&parts.headers)) {
        (Some(presented), _) => {
            let payload = payload_hash(&parts.headers, bytes.as_deref())?;
            st.auth
                .authenticate(&presented, (&parts).into(), &payload)
                .await
                .map_err(auth_error)?
        }
        // The web UI: its session cookie, and for a state-changing request its CSRF token.
        (None, Some(cookie)) => {
            let csrf = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            let ui = st
                .ui
                .principal(cookie, csrf, is_state_changing(&parts.method))
                .await?;
            Principal {
                id: format!("user/{}", ui.user),
                name: ui.user,
                policy: st.auth.grant(&ui.policy_json),
            }
        }
        (None, None) => return Err(auth_error(AuthError::Missing)),
    };
    let resource = resource_of(st, op, &parts, bytes.as_deref()).await?;
    if !principal.allows(op.action, &resource) {
        tracing::info!(target: "audit", principal = %principal.name, action = op.action, resource, "denied");
        return Err(ApiError::new(
            op.denial,
            format!(
                "{} is not authorized to perform {} on {resource}",
                principal.name, op.action
            ),
        ));
    }
    let mut req = Request::from_parts(parts, body);
    req.extensions_mut().insert(principal);
    Ok(req)
}

/// The payload hash a signature must cover: the body's SHA-256 (checked against a claimed
/// `x-amz-content-sha256`), `UNSIGNED-PAYLOAD` when claimed, and for a streaming body (None:
/// PutMedia) the claimed hash or the empty body's, as KVS's producers sign it.
fn payload_hash(headers: &HeaderMap, body: Option<&[u8]>) -> Result<String, ApiError> {
    let claimed = sig::claimed_payload_hash(headers);
    let Some(body) = body else {
        return Ok(claimed.unwrap_or(sigv4::EMPTY_PAYLOAD_SHA256).to_owned());
    };
    let computed = hex::encode(Sha256::digest(body));
    match claimed {
        Some(h) if h == sigv4::UNSIGNED_PAYLOAD => Ok(h.to_owned()),
        Some(h) if !h.eq_ignore_ascii_case(&computed) => Err(auth_error(AuthError::BodyHash)),
        _ => Ok(computed),
    }
}

/// DNS rebinding: a page on another site whose name is made to resolve to this server sends
/// its own name as `Host`. Only names this server answers to are accepted: IP literals,
/// `localhost`, the host of `public_url`, and `[auth] allowed_hosts` (`*.suffix` patterns; `*`
/// accepts any name).
fn check_host(st: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return Ok(()); // HTTP/2 carries :authority, which hyper maps to the URI
    };
    if host_allowed(host, &st.gate.allowed_hosts) {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorKind::AccessDenied,
        format!("this server does not answer to the name `{host}`; add it to [auth] allowed_hosts"),
    ))
}

/// Whether `host` (a `Host` header: name or address, maybe with a port) is one of the names in
/// `allowed` or needs none (an IP literal, `localhost`).
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = match host.strip_prefix('[') {
        // [v6]:port
        Some(rest) => {
            return rest
                .split(']')
                .next()
                .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok());
        }
        None => host.rsplit_once(':').map_or(host, |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        }),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name.parse::<std::net::Ipv4Addr>().is_ok() || name == "localhost" {
        return true;
    }
    allowed.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        a == "*"
            || a == name
            || a.strip_prefix("*.").is_some_and(|suffix| {
                name.len() > suffix.len() + 1
                    && name.ends_with(suffix)
                    && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
            })
    })
}

/// KVS operations take JSON: a body of another type is refused, so a cross-site form or
/// `text/plain` POST (which a browser sends without asking the server first) never reaches a
/// handler.
fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let json = essence == "application/json"
        || essence.starts_with("application/x-amz-json")
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if json {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "Content-Type `{ct}` is not JSON: send the request body as application/json"
        )))
    }
}

fn auth_error(e: AuthError) -> ApiError {
    ApiError::new(e.kind(), e.to_string())
}

/// The resource the request names, as the policy sees it: a stream's ARN, a camera's, `*`.
async fn resource_of(
    st: &AppState,
    op: Op,
    parts: &Parts,
    body: Option<&[u8]>,
) -> Result<String, ApiError> {
    let (region, account) = (st.store.region(), st.store.account_id());
    let segment = || {
        parts
            .uri
            .path()
            .trim_start_matches('/')
            .split('/')
            .nth(2)
            .map(crate::auth::sigv4::percent_decode)
            .unwrap_or_default()
    };
    let named = || -> Named {
        body.and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or_default()
    };
    let r = match op.resource {
        ResourceOf::Any => return Ok("*".to_owned()),
        ResourceOf::CameraInPath => return Ok(resource::camera(region, account, &segment())),
        ResourceOf::KeyInPath => return Ok(resource::key(region, account, &segment())),
        ResourceOf::UserInPath => return Ok(resource::user(region, account, &segment())),
        ResourceOf::ArnInBody => return Ok(named().resource_arn.unwrap_or_else(|| "*".to_owned())),
        ResourceOf::StreamInBody => {
            let n = named();
            stream_ref(n.stream_name.as_deref(), n.stream_arn.as_deref())
        }
        ResourceOf::StreamInHeaders => {
            let h = |n: &str| parts.headers.get(n).and_then(|v| v.to_str().ok());
            stream_ref(h("x-amzn-stream-name"), h("x-amzn-stream-arn"))
        }
        ResourceOf::StreamInQuery => {
            let q: Vec<(String, String)> =
                form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                    .into_owned()
                    .collect();
            let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            stream_ref(get("StreamName"), get("StreamARN"))
        }
        ResourceOf::StreamInPath => stream_ref(Some(&segment()), None),
    };
    match r {
        // No valid stream named: the handler answers the bad input; the policy sees `*`.
        None => Ok("*".to_owned()),
        Some(r) => stream_arn(st, r).await,
    }
}

/// The fields that name a resource in a KVS JSON body.
#[derive(serde::Deserialize, Default)]
struct Named {
    #[serde(rename = "StreamName")]
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    #[serde(rename = "ResourceARN")]
    resource_arn: Option<String>,
}

/// A stream reference, when the request names one validly (the handler reports a bad name).
fn stream_ref(name: Option<&str>, arn: Option<&str>) -> Option<StreamRef> {
    match (name, arn) {
        (_, Some(a)) => Arn::parse(a).ok().map(StreamRef::Arn),
        (Some(n), None) => StreamName::parse(n).ok().map(StreamRef::Name),
        (None, None) => None,
    }
}

/// The ARN of the stream `r` names: as given, or looked up by name.
async fn stream_arn(st: &AppState, r: StreamRef) -> Result<String, ApiError> {
    match r {
        StreamRef::Arn(a) | StreamRef::Both(_, a) => Ok(a.to_string()),
        StreamRef::Name(n) => match st.store.describe(&StreamRef::Name(n.clone())).await {
            Ok(rec) => Ok(rec.arn.to_string()),
            // Not there (yet: CreateStream): the ARN it would have if created now.
            Err(e) if e.kind() == ErrorKind::ResourceNotFound => Ok(resource::stream(
                st.store.region(),
                st.store.account_id(),
                n.as_str(),
                u64::try_from(st.store.now().millis()).unwrap_or(0),
            )),
            Err(e) => Err(e.into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_without_a_configured_name_are_refused() {
        let allowed = vec!["vidstream.example".to_owned(), "*.cams.example".to_owned()];
        for ok in [
            "127.0.0.1",
            "127.0.0.1:8080",
            "[::1]:8080",
            "localhost:9000",
            "vidstream.example",
            "VIDSTREAM.example:443",
            "a.cams.example",
            "b.a.cams.example:80",
            "10.1.2.3",
        ] {
            assert!(host_allowed(ok, &allowed), "{ok}");
        }
        for bad in [
            "evil.example",
            "vidstream.example.evil",
            "cams.example",
            "xcams.example",
            "[not-an-address]:80",
            "",
        ] {
            assert!(!host_allowed(bad, &allowed), "{bad}");
        }
        assert!(host_allowed("anything.at.all", &["*".to_owned()]));
    }

    #[test]
    fn only_json_bodies_are_kvs_requests() {
        let with = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
            require_json(&h).is_ok()
        };
        assert!(with("application/json"));
        assert!(with("application/json; charset=utf-8"));
        assert!(with("application/x-amz-json-1.1"));
        assert!(with("application/vnd.api+json"));
        assert!(!with("text/json-ish"));
        assert!(!with("text/plain"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!with("multipart/form-data; boundary=x"));
        assert!(require_json(&HeaderMap::new()).is_err());
    }
}
