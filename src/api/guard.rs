//! The gate every request passes: find what the route needs ([`super::access`]), prove who is
//! calling (a SigV4 signature, header or presigned form), and check their policy against the
//! action on the named resource. Only then does the request reach its handler, carrying its
//! [`Principal`] in its extensions.
//!
//! A JSON body is read here (bounded by `max_request_body_bytes`), hashed for the signature,
//! and handed on; a PutMedia body streams through untouched (signed as if empty, as KVS's
//! producers sign it, or `UNSIGNED-PAYLOAD`).
//!
//! The gate is also where the audit log ([`crate::auth::audit`]) hears of requests: a signature
//! that does not verify and a policy denial are recorded here, and so is every state-changing
//! operation ([`Op::changes_state`]) once its handler has answered, as a success (with the
//! handler's [`Detail`], if any) or a failure (with the error type). One place, so that no
//! handler can forget.

use std::net::{IpAddr, SocketAddr};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::AppState;
use super::access::{Access, BodyKind, Op, ResourceOf, classify};
use super::audit::Detail;
use super::error::{ApiError, status_and_name};
use crate::auth::audit::{AuditEntry, Outcome};
use crate::auth::policy::resource;
use crate::auth::sigv4::{self, verify as sig};
use crate::auth::ui_session::{CSRF_HEADER, is_state_changing, session_cookie};
use crate::auth::{AuthError, Principal};
use crate::error::ErrorKind;
use crate::model::{Arn, StreamName};
use crate::store::StreamRef;

/// Middleware: lets a request through only when its principal may do what it asks, and
/// records in the audit log what it refuses and every change it lets through (with how the
/// handler answered).
pub async fn guard(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let address = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    match admit(&st, req, address).await {
        Ok((req, None)) => next.run(req).await,
        Ok((req, Some(change))) => {
            let resp = next.run(req).await;
            st.auth.audit().record(answered(change, &resp));
            resp
        }
        Err(e) => e.into_response(),
    }
}

/// The audit entry of an allowed change, completed with how its handler answered: the
/// handler's [`Detail`] on success, the error type on failure.
fn answered(change: AuditEntry, resp: &Response) -> AuditEntry {
    if resp.status().is_success() {
        let detail = resp.extensions().get::<Detail>().map_or("", |d| &d.0);
        return change.detail(detail);
    }
    let error_type = resp
        .headers()
        .get("x-amzn-ErrorType")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    AuditEntry {
        outcome: Outcome::Failure,
        ..change
    }
    .detail(&format!("{} {error_type}", resp.status().as_u16()))
}

/// The request, let in, with the audit entry to complete once it is answered if it is a change.
async fn admit(
    st: &AppState,
    req: Request,
    address: Option<IpAddr>,
) -> Result<(Request, Option<AuditEntry>), ApiError> {
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
        Access::Public | Access::PlaybackToken => return Ok((req, None)),
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
            let limit = st.max_request_body_bytes;
            let read = axum::body::to_bytes(body, limit);
            let bytes = tokio::time::timeout(st.gate.body_read_timeout, read)
                .await
                .map_err(|_| {
                    ApiError::invalid(format!(
                        "the request body did not arrive within {} s",
                        st.gate.body_read_timeout.as_secs()
                    ))
                })?
                .map_err(|_| {
                    ApiError::invalid(format!("the request body is larger than {limit} bytes"))
                })?;
            (Some(bytes.clone()), Body::from(bytes))
        }
    };
    let principal = match (presented, session_cookie(&parts.headers)) {
        (Some(presented), _) => {
            let payload = payload_hash(&parts.headers, bytes.as_deref())?;
            match st
                .auth
                .authenticate(&presented, (&parts).into(), &payload)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    // The key id is the caller's claim; the error's name says what failed (its
                    // message is not kept: a signature mismatch's may quote the request).
                    st.auth.audit().record(
                        AuditEntry::new(UNVERIFIED, op.action, "*", Outcome::Denied)
                            .id(&presented.access_key_id)
                            .address(address)
                            .detail(status_and_name(e.kind()).1),
                    );
                    return Err(auth_error(e));
                }
            }
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
    let entry = |outcome| {
        AuditEntry::new(&principal.name, op.action, &resource, outcome)
            .id(&principal.id)
            .address(address)
    };
    if !principal.allows(op.action, &resource) {
        st.auth
            .audit()
            .record(entry(Outcome::Denied).detail("not allowed by the principal's policy"));
        return Err(ApiError::new(
            op.denial,
            format!(
                "{} is not authorized to perform {} on {resource}",
                principal.name, op.action
            ),
        ));
    }
    let change = op.changes_state().then(|| entry(Outcome::Success));
    let mut req = Request::from_parts(parts, body);
    req.extensions_mut().insert(principal);
    Ok((req, change))
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

/// The principal of an audit entry whose signature did not verify (its id is the key id it
/// claimed).
const UNVERIFIED: &str = "(unverified)";

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
