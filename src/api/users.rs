//! The web UI users admin API (`/v1/users`, camelCase JSON): create, list, change (password,
//! policy, status), delete. `vidstream users ...` talks to it. Password hashes are never
//! returned; a password is accepted, never shown.
//!
//! | method | path | does |
//! |---|---|---|
//! | GET | `/v1/users` | `{"users": [user…]}` by name |
//! | POST | `/v1/users` | `{name, password, policy, streams?}` → the user (201) |
//! | PUT | `/v1/users/{name}` | `{password?, policy?, streams?, status?}` → the user |
//! | DELETE | `/v1/users/{name}` | deletes the user and ends their sessions |
//!
//! A policy is a built-in by name (`admin`, `producer`, `viewer`, `ml-consumer`, scoped to the
//! streams matching `streams`, default `*`) or an IAM-style policy document; it is validated
//! before it is stored. A new password or `status: Inactive` ends the user's sessions; a new
//! password or `status: Active` clears a lock-out.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::AppState;
use super::audit::with_detail;
use super::error::ApiError;
use super::json::{self, KvsJson};
use crate::auth::SecretText;
use crate::auth::users::{NewUser, UserInfo, UserStatus, UserUpdate};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/users", get(list).post(create))
        .route("/v1/users/{name}", put(update).delete(remove))
}

/// The JSON bodies this module's operations read, for [`super::fuzz`].
pub(super) const BODIES: [(&str, super::fuzz::BodyCheck); 2] = [
    ("POST /v1/users", json::parse_only::<CreateInput>),
    ("PUT /v1/users/{name}", json::parse_only::<UpdateInput>),
];

/// A user as the API shows it (never the password hash).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserView<'a> {
    name: &'a str,
    status: &'static str,
    policy: Value,
    created_ms: i64,
    failed_logins: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    locked_until_ms: Option<i64>,
}

fn view(u: &UserInfo) -> UserView<'_> {
    UserView {
        name: &u.name,
        status: u.status.as_str(),
        policy: serde_json::from_str(&u.policy_json).unwrap_or(Value::Null),
        created_ms: u.created_ms,
        failed_logins: u.failed_logins,
        locked_until_ms: u.locked_until_ms,
    }
}

/// Takes a password out of a request body into a [`SecretText`], wiping the body's copy.
fn take_password(mut given: String) -> SecretText {
    let secret = SecretText::new(&given);
    zeroize::Zeroize::zeroize(&mut given);
    secret
}

/// `POST /v1/users` body. Not `Debug`: it holds a password.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateInput {
    name: String,
    password: String,
    /// A built-in policy's name, or a policy document.
    policy: Value,
    /// Stream-name pattern a built-in policy is scoped to.
    streams: Option<String>,
}

async fn create(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<CreateInput>,
) -> Result<Response, ApiError> {
    let password = take_password(input.password);
    let policy_json = super::params::policy_text(&input.policy, input.streams.as_deref())?;
    let user = st
        .ui
        .users()
        .create(NewUser {
            name: input.name,
            password,
            policy_json,
        })
        .await?;
    let detail = format!("user {} created", user.name);
    Ok(with_detail(
        (StatusCode::CREATED, axum::Json(view(&user))).into_response(),
        detail,
    ))
}

async fn list(State(st): State<AppState>) -> Result<Response, ApiError> {
    let users = st.ui.users().list().await?;
    let views: Vec<UserView<'_>> = users.iter().map(view).collect();
    Ok(axum::Json(json!({ "users": views })).into_response())
}

/// `PUT /v1/users/{name}` body: the fields to change. Not `Debug`: it may hold a password.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateInput {
    password: Option<String>,
    policy: Option<Value>,
    streams: Option<String>,
    /// `Active` or `Inactive`.
    status: Option<String>,
}

async fn update(
    State(st): State<AppState>,
    Path(name): Path<String>,
    KvsJson(input): KvsJson<UpdateInput>,
) -> Result<Response, ApiError> {
    let password = input.password.map(take_password);
    let policy_json = match (&input.policy, &input.streams) {
        (Some(p), s) => Some(super::params::policy_text(p, s.as_deref())?),
        (None, Some(_)) => {
            return Err(ApiError::invalid(
                "`streams` scopes a built-in policy: send it with `policy`",
            ));
        }
        (None, None) => None,
    };
    let status = input
        .status
        .map(|s| {
            UserStatus::parse(&s).ok_or_else(|| {
                ApiError::invalid(format!("status `{s}` is invalid: use Active or Inactive"))
            })
        })
        .transpose()?;
    if password.is_none() && policy_json.is_none() && status.is_none() {
        return Err(ApiError::invalid(
            "nothing to change: send password, policy (with streams) or status",
        ));
    }
    // What changed, for the audit log (never the password itself).
    let mut changed: Vec<&str> = Vec::new();
    if password.is_some() {
        changed.push("password (sessions ended)");
    }
    if policy_json.is_some() {
        changed.push("policy");
    }
    match status {
        Some(UserStatus::Inactive) => changed.push("status Inactive (sessions ended)"),
        Some(UserStatus::Active) => changed.push("status Active"),
        None => {}
    }
    let detail = format!("user {name} changed: {}", changed.join(", "));
    let user = st
        .ui
        .users()
        .update(
            &name,
            UserUpdate {
                password,
                policy_json,
                status,
            },
        )
        .await?;
    Ok(with_detail(axum::Json(view(&user)).into_response(), detail))
}

async fn remove(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    st.ui.users().delete(&name).await?;
    Ok(with_detail(
        axum::Json(json!({})).into_response(),
        format!("user {name} deleted, sessions ended"),
    ))
}
