//! `GET /v1/audit`: the recent audit log ([`crate::auth::audit`]), for administrators (action
//! `vidstream:GetAuditLog`). A vidstream extension, not KVS.
//!
//! | query | selects |
//! |---|---|
//! | `limit` | at most this many entries (default and maximum: the ring's [`CAPACITY`]) |
//! | `principal` | a principal's name or id (access key id, `user/NAME`), exactly |
//! | `action` | `kinesisvideo:CreateStream`, or `CreateStream` (any case) |
//! | `outcome` | `success`, `denied` or `failure` |
//! | `since` | entries at or after this server time, epoch ms |
//!
//! The answer is `{"Entries": [entry…]}`, newest first; an entry is `{"TimeMs", "Principal",
//! "PrincipalId"?, "Address"?, "Action", "Resource", "Outcome", "Detail"}`.
//!
//! This module also holds how a handler adds to the entry the gate records for its change
//! ([`with_detail`]): the gate ([`super::guard`]) records every state-changing operation after
//! its handler answers, with the principal, address, action, resource and outcome it knows; the
//! handler knows what it made (a new key's id, a new user's name).

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use crate::auth::audit::{AuditEntry, AuditFilter, CAPACITY, Outcome};

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/audit", get(list))
}

/// A response extension: what the handler adds to the audit entry of its change. Never a
/// secret.
#[derive(Debug, Clone)]
pub(super) struct Detail(pub String);

/// `resp` carrying `detail` for the gate's audit entry.
pub(super) fn with_detail(mut resp: Response, detail: String) -> Response {
    resp.extensions_mut().insert(Detail(detail));
    resp
}

/// The query string.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    limit: Option<usize>,
    principal: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    since: Option<i64>,
}

/// An entry as the API shows it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EntryView<'a> {
    time_ms: i64,
    principal: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    action: &'a str,
    resource: &'a str,
    outcome: &'static str,
    detail: &'a str,
}

fn view(e: &AuditEntry) -> EntryView<'_> {
    EntryView {
        time_ms: e.time_ms,
        principal: &e.principal,
        principal_id: e.principal_id.as_deref(),
        address: e.address.map(|a| a.to_string()),
        action: &e.action,
        resource: &e.resource,
        outcome: e.outcome.as_str(),
        detail: &e.detail,
    }
}

async fn list(
    State(st): State<AppState>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::invalid(format!(
            "{}; the audit log takes limit, principal, action, outcome (success, denied or failure) and since (epoch ms)",
            e.body_text()
        ))
    })?;
    let outcome = match q.outcome.as_deref() {
        None => None,
        Some(o) => Some(Outcome::parse(o).ok_or_else(|| {
            ApiError::invalid(format!(
                "outcome `{o}` is invalid; use success, denied or failure"
            ))
        })?),
    };
    let limit = match q.limit {
        Some(0) => return Err(ApiError::invalid("limit must be at least 1")),
        Some(n) => n.min(CAPACITY),
        None => CAPACITY,
    };
    let entries = st.auth.audit().query(&AuditFilter {
        limit: Some(limit),
        principal: q.principal,
        action: q.action,
        outcome,
        since_ms: q.since,
    });
    let views: Vec<EntryView<'_>> = entries.iter().map(view).collect();
    Ok(axum::Json(serde_json::json!({ "Entries": views })).into_response())
}
