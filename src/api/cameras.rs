//! `/v1/cameras`: the RTSP cameras the server pulls (a vidstream extension, not part of KVS, so
//! it lives under its own prefix and speaks REST rather than KVS's POST-per-operation).
//!
//! | method | path | does |
//! |---|---|---|
//! | GET | `/v1/cameras` | `{"cameras": [camera…]}` by name |
//! | POST | `/v1/cameras` | adds a camera (201) |
//! | GET | `/v1/cameras/{name}` | one camera |
//! | PUT | `/v1/cameras/{name}` | changes the given fields, restarts the camera |
//! | DELETE | `/v1/cameras/{name}` | stops and removes it |
//!
//! Responses never carry credentials: `hasPassword` says whether one is stored, and the URL is
//! shown without userinfo. Errors use the KVS shape like every other route.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::audit::with_detail;
use super::error::ApiError;
use super::json::{self, KvsJson};
use crate::cameras::{Camera, CameraStatus, Password, Transport};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/cameras", get(list).post(add))
        .route(
            "/v1/cameras/{name}",
            get(describe).put(update).delete(remove),
        )
}

/// The JSON bodies this module's operations read, for [`super::fuzz`].
pub(super) const BODIES: [(&str, super::fuzz::BodyCheck); 2] = [
    ("POST /v1/cameras", json::parse_only::<CameraInput>),
    ("PUT /v1/cameras/{name}", json::parse_only::<CameraInput>),
];

/// A camera as the API shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CameraView<'a> {
    name: &'a str,
    url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<&'a str>,
    has_password: bool,
    stream: &'a str,
    transport: &'static str,
    enabled: bool,
    status: &'a CameraStatus,
}

fn view<'a>(c: &'a Camera, status: &'a CameraStatus) -> CameraView<'a> {
    CameraView {
        name: &c.name,
        url: &c.url,
        username: c.username.as_deref(),
        has_password: c.password.is_some(),
        stream: c.stream.as_str(),
        transport: c.transport.as_str(),
        enabled: c.enabled,
        status,
    }
}

/// POST body; for PUT every field is optional and an absent one keeps its value (an empty
/// `username`/`password` clears it).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CameraInput {
    name: Option<String>,
    url: Option<String>,
    username: Option<String>,
    password: Option<String>,
    stream: Option<String>,
    transport: Option<String>,
    enabled: Option<bool>,
}

fn required(v: Option<String>, what: &str) -> Result<String, ApiError> {
    v.ok_or_else(|| ApiError::invalid(format!("`{what}` is required")))
}

async fn list(State(st): State<AppState>) -> Result<Response, ApiError> {
    let cameras = st.cameras.list().await?;
    let views: Vec<_> = cameras.iter().map(|(c, s)| view(c, s)).collect();
    Ok(axum::Json(serde_json::json!({ "cameras": views })).into_response())
}

async fn add(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<CameraInput>,
) -> Result<Response, ApiError> {
    let transport = Transport::parse(input.transport.as_deref().unwrap_or("tcp"))?;
    let camera = Camera::new(
        &required(input.name, "name")?,
        &required(input.url, "url")?,
        input.username,
        input.password.as_deref().map(Password::given),
        &required(input.stream, "stream")?,
        transport,
        input.enabled.unwrap_or(true),
    )?;
    let count = st.cameras.list().await?.len();
    if count >= st.limits.max_cameras {
        return Err(ApiError::new(
            crate::error::ErrorKind::ClientLimitExceeded,
            format!(
                "this server pulls its maximum of {count} cameras ([limits] max_cameras); remove one first"
            ),
        ));
    }
    let status = st.cameras.add(camera.clone()).await?;
    let detail = format!("camera {} added, stream {}", camera.name, camera.stream);
    Ok(with_detail(
        (StatusCode::CREATED, axum::Json(view(&camera, &status))).into_response(),
        detail,
    ))
}

async fn describe(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    crate::cameras::validate_name(&name)?;
    let (camera, status) = st.cameras.get(&name).await?;
    Ok(axum::Json(view(&camera, &status)).into_response())
}

async fn update(
    State(st): State<AppState>,
    Path(name): Path<String>,
    KvsJson(input): KvsJson<CameraInput>,
) -> Result<Response, ApiError> {
    crate::cameras::validate_name(&name)?;
    if input.name.as_deref().is_some_and(|n| n != name) {
        return Err(ApiError::invalid(
            "a camera cannot be renamed; remove it and add it under the new name",
        ));
    }
    let (old, _) = st.cameras.get(&name).await?;
    let transport = match input.transport {
        Some(t) => Transport::parse(&t)?,
        None => old.transport,
    };
    // Stored credentials stay bound to the host they were given for: a URL that moves the
    // camera to another host:port must come with its password (an empty one: none), or the
    // server would hand the old camera's password to whoever answers at the new address.
    if let Some(url) = input.url.as_deref()
        && old.password.is_some()
        && input.password.is_none()
        && url::Url::parse(url)
            .ok()
            .and_then(|u| u.password().map(drop))
            .is_none()
        && crate::cameras::authority(url) != crate::cameras::authority(&old.url)
    {
        return Err(ApiError::invalid(
            "the new url points at another host or port than the stored password was given for; \
             send `password` with it (\"\" to connect without one)",
        ));
    }
    // A new URL on the same host keeps the stored credentials unless they are given too.
    let camera = Camera::new(
        &name,
        input.url.as_deref().unwrap_or(&old.url),
        input.username.or(old.username),
        input
            .password
            .as_deref()
            .map(Password::given)
            .or(old.password),
        input.stream.as_deref().unwrap_or(old.stream.as_str()),
        transport,
        input.enabled.unwrap_or(old.enabled),
    )?;
    let status = st.cameras.update(camera.clone()).await?;
    Ok(axum::Json(view(&camera, &status)).into_response())
}

async fn remove(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    crate::cameras::validate_name(&name)?;
    st.cameras.remove(&name).await?;
    Ok(axum::Json(serde_json::json!({})).into_response())
}
