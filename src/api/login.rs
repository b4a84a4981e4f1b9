//! The web UI's login (a vidstream extension, under `/v1`): log in with a user name and password
//! for a session cookie and a CSRF token, ask who is logged in and what they may do, log out.
//! The gate lets these routes through without credentials; they check the session themselves.
//!
//! | method | path | does |
//! |---|---|---|
//! | POST | `/v1/login` | `{user, password}` → `{user, csrfToken, expiresMs, policy}` + `Set-Cookie` |
//! | POST | `/v1/logout` | ends the session (needs `x-csrf-token`); clears the cookie |
//! | GET | `/v1/whoami` | `{user, csrfToken, expiresMs, policy, allowed, streams, cameras, truncated}` |
//!
//! Bad credentials answer `401 NotAuthorizedException` whether the user, the password or the
//! user's status is wrong; a locked user or a client over its attempts answer `429
//! ClientLimitExceededException` with `Retry-After` (KVS answers that exception with 400; a login
//! is not a KVS operation, and 429 is what browsers and proxies understand). Answers carrying the
//! CSRF token are `Cache-Control: no-store`.
//!
//! A login must be sent as `application/json`: a page on another site can make a browser POST a
//! form or `text/plain` without asking first, and would otherwise log the browser in to the
//! attacker's account (login CSRF); `application/json` from another origin needs a CORS
//! preflight, which fails.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::{ApiError, error_response};
use super::json::{self, KvsJson};
use crate::auth::SecretText;
use crate::auth::policy::{self, Policy};
use crate::auth::ui_permissions::{MAX_RESOURCES, ui_permissions};
use crate::auth::ui_session::{
    CSRF_HEADER, UiAuthError, UiPrincipal, clear_cookie, session_cookie, set_cookie,
};
use crate::auth::users::LoginError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/login", post(login))
        .route("/v1/logout", post(logout))
        .route("/v1/whoami", get(whoami))
}

/// The JSON bodies this module's operations read, for [`super::fuzz`].
pub(super) const BODIES: [(&str, super::fuzz::BodyCheck); 1] =
    [("POST /v1/login", json::parse_only::<LoginInput>)];

/// The address a request came from: the TCP peer (the server puts it in the request's
/// extensions). Behind a reverse proxy this is the proxy's address, so the per-address login
/// limit then applies to all clients together; trusting `X-Forwarded-For` needs a list of
/// trusted proxies, which is not configurable yet.
pub struct ClientAddr(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip()),
        ))
    }
}

/// `POST /v1/login` body. Not `Debug`: it holds the password.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LoginInput {
    user: String,
    password: String,
}

/// The policy document as JSON (it was validated when it was set).
fn policy_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

fn no_store(resp: &mut Response) {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn cookie_header(value: String) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(&value)
        .map_err(|e| ApiError::new(crate::error::ErrorKind::Internal, format!("cookie: {e}")))
}

/// A refused login as its HTTP answer (limits get 429 and `Retry-After`).
fn login_error(e: LoginError) -> Response {
    match e.retry_after_secs() {
        Some(secs) => {
            let mut resp = error_response(e.kind(), &e.to_string());
            *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            resp
        }
        None => ApiError::new(e.kind(), e.to_string()).into_response(),
    }
}

/// Whether the request says its body is JSON (`application/json`, with parameters).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

async fn login(
    State(st): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    KvsJson(input): KvsJson<LoginInput>,
) -> Response {
    if !is_json(&headers) {
        return ApiError::invalid(
            "send the login as Content-Type: application/json ({\"user\": ..., \"password\": ...})",
        )
        .into_response();
    }
    let mut given = input.password;
    let password = SecretText::new(&given);
    zeroize::Zeroize::zeroize(&mut given);
    let done = match st.ui.login(&input.user, &password, client).await {
        Ok(done) => done,
        Err(e) => return login_error(e),
    };
    let options = st.ui.options();
    let cookie = set_cookie(
        done.session_id.expose(),
        options.max_age,
        options.secure_cookies,
    );
    let body = json!({
        "user": done.user.name,
        "csrfToken": done.principal.csrf_token,
        "expiresMs": done.principal.expires_ms,
        "policy": policy_value(&done.user.policy_json),
    });
    let mut resp = axum::Json(body).into_response();
    match cookie_header(cookie) {
        Ok(v) => {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
        Err(e) => return e.into_response(),
    }
    no_store(&mut resp);
    resp
}

fn csrf(headers: &HeaderMap) -> Option<&str> {
    headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok())
}

async fn logout(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let secure = st.ui.options().secure_cookies;
    let result = match session_cookie(&headers) {
        Some(cookie) => st.ui.logout(cookie, csrf(&headers)).await.map(|_| ()),
        None => Err(UiAuthError::NoSession),
    };
    let mut resp = match result {
        Ok(()) => axum::Json(json!({})).into_response(),
        // A wrong token keeps the session (and the cookie): the request may not be the UI's.
        Err(UiAuthError::Csrf) => return ApiError::from(UiAuthError::Csrf).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    };
    if let Ok(v) = cookie_header(clear_cookie(secure)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// The session a request's cookie proves (a GET: no CSRF token needed).
async fn session(st: &AppState, headers: &HeaderMap) -> Result<UiPrincipal, ApiError> {
    let cookie = session_cookie(headers).ok_or(UiAuthError::NoSession)?;
    Ok(st.ui.principal(cookie, None, false).await?)
}

async fn whoami(State(st): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let p = session(&st, &headers).await?;
    let policy = Policy::parse(&p.policy_json).unwrap_or_else(|_| Policy::deny_all());
    let streams: Vec<(String, String)> = st
        .store
        .list_streams(None, None, MAX_RESOURCES + 1)
        .await?
        .into_iter()
        .map(|s| (s.name.as_str().to_owned(), s.arn))
        .collect();
    let (region, account) = (st.store.region(), st.store.account_id());
    let cameras: Vec<(String, String)> = st
        .store
        .list_cameras()
        .await?
        .into_iter()
        .map(|c| {
            let r = policy::resource::camera(region, account, &c.name);
            (c.name, r)
        })
        .collect();
    let perms = ui_permissions(&policy, &streams, &cameras);
    let mut body = json!({
        "user": p.user,
        "csrfToken": p.csrf_token,
        "expiresMs": p.expires_ms,
        "policy": policy_value(&p.policy_json),
    });
    if let (Some(obj), Ok(Value::Object(perms))) =
        (body.as_object_mut(), serde_json::to_value(&perms))
    {
        obj.extend(perms);
    }
    let mut resp = axum::Json(body).into_response();
    no_store(&mut resp);
    Ok(resp)
}
