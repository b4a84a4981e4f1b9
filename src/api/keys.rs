//! The access-key admin API (`/v1/keys`, camelCase JSON): create, list, show, enable/disable,
//! delete. `vidstream keys ...` talks to it. A key's secret (and a temporary key's session
//! token) is in the answer to its creation and nowhere else.
//!
//! A key's policy is a built-in by name (`admin`, `producer`, `viewer`, `ml-consumer`, scoped
//! to the streams matching `streams`, default `*`) or an IAM-style policy document; it is
//! validated before it is stored.

use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::AppState;
use super::audit::with_detail;
use super::error::ApiError;
use super::json::{self, KvsJson};
use crate::auth::Principal;
use crate::auth::keys::{KeyInfo, KeySpec, KeyStatus};
use crate::time::ServerTime;

/// Longest life of a temporary key (12 h, as AWS STS's default session limit for roles).
const MAX_TEMPORARY_SECS: u64 = 12 * 3600;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/keys", get(list).post(create))
        .route("/v1/keys/rotate-session-key", post(rotate_session_key))
        .route("/v1/keys/{id}", get(show).put(update).delete(remove))
}

/// The JSON bodies this module's operations read, for [`super::fuzz`].
pub(super) const BODIES: [(&str, super::fuzz::BodyCheck); 2] = [
    ("POST /v1/keys", json::parse_only::<CreateInput>),
    ("PUT /v1/keys/{id}", json::parse_only::<UpdateInput>),
];

/// A key as the API shows it (never its secret).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyView<'a> {
    access_key_id: &'a str,
    name: &'a str,
    status: &'static str,
    policy: Value,
    created_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_ms: Option<i64>,
    temporary: bool,
    created_by: &'a str,
}

fn view(k: &KeyInfo) -> KeyView<'_> {
    KeyView {
        access_key_id: &k.access_key_id,
        name: &k.name,
        status: k.status.as_str(),
        policy: serde_json::from_str(&k.policy_json).unwrap_or(Value::Null),
        created_ms: k.created_ms,
        expires_ms: k.expires_ms,
        temporary: k.temporary,
        created_by: &k.created_by,
    }
}

/// `POST /v1/keys` body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateInput {
    name: String,
    /// A built-in policy's name, or a policy document.
    policy: Value,
    /// Stream-name pattern a built-in policy is scoped to.
    streams: Option<String>,
    /// A temporary key (with a session token) living this long.
    expires_in_seconds: Option<u64>,
}

async fn create(
    State(st): State<AppState>,
    Extension(caller): Extension<Principal>,
    KvsJson(input): KvsJson<CreateInput>,
) -> Result<Response, ApiError> {
    let policy_json = super::params::policy_text(&input.policy, input.streams.as_deref())?;
    let expires = match input.expires_in_seconds {
        None => None,
        Some(s) if (60..=MAX_TEMPORARY_SECS).contains(&s) => Some(ServerTime(
            st.store.now().millis() + i64::try_from(s * 1000).unwrap_or(i64::MAX),
        )),
        Some(s) => {
            return Err(ApiError::invalid(format!(
                "expiresInSeconds must be between 60 and {MAX_TEMPORARY_SECS}, got {s}"
            )));
        }
    };
    let new = st
        .auth
        .keys()
        .create(KeySpec {
            name: input.name,
            policy_json,
            temporary: expires.is_some(),
            expires,
            created_by: caller.name.clone(),
        })
        .await?;
    let detail = format!(
        "access key {} ({}) created{}",
        new.info.access_key_id,
        new.info.name,
        if new.info.temporary {
            ", temporary"
        } else {
            ""
        }
    );
    let mut body = serde_json::to_value(view(&new.info)).unwrap_or_default();
    body["secretAccessKey"] = Value::String(new.secret_access_key.expose().to_owned());
    if let Some(t) = &new.session_token {
        body["sessionToken"] = Value::String(t.expose().to_owned());
    }
    Ok(with_detail(
        (StatusCode::CREATED, Json(body)).into_response(),
        detail,
    ))
}

async fn list(State(st): State<AppState>) -> Result<Response, ApiError> {
    let keys = st.auth.keys().list().await?;
    let views: Vec<KeyView<'_>> = keys.iter().map(view).collect();
    Ok(Json(serde_json::json!({ "keys": views })).into_response())
}

async fn show(State(st): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let key = st.auth.keys().get(&id).await?;
    Ok(Json(view(&key)).into_response())
}

/// `PUT /v1/keys/{id}` body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateInput {
    /// `Active` or `Inactive`.
    status: String,
}

async fn update(
    State(st): State<AppState>,
    Path(id): Path<String>,
    KvsJson(input): KvsJson<UpdateInput>,
) -> Result<Response, ApiError> {
    let status = KeyStatus::parse(&input.status).ok_or_else(|| {
        ApiError::invalid(format!(
            "status `{}` is invalid: use Active or Inactive",
            input.status
        ))
    })?;
    st.auth.keys().set_status(&id, status).await?;
    let key = st.auth.keys().get(&id).await?;
    Ok(with_detail(
        Json(view(&key)).into_response(),
        format!("access key {id} set {}", status.as_str()),
    ))
}

async fn remove(State(st): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    st.auth.keys().delete(&id).await?;
    Ok(with_detail(
        Json(serde_json::json!({})).into_response(),
        format!("access key {id} deleted"),
    ))
}

async fn rotate_session_key(State(st): State<AppState>) -> Result<Response, ApiError> {
    st.rotate_session_key().await?;
    Ok(with_detail(
        Json(serde_json::json!({})).into_response(),
        "playback session key rotated: earlier session URLs stop working".to_owned(),
    ))
}
