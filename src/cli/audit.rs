//! `vidstream audit`: print a running server's recent audit log (`GET /v1/audit`), newest first,
//! signed with an admin's credentials ([`Target`]).
//!
//! The filters are the API's (see `crate::api::audit`), applied here by the same
//! [`AuditFilter`] to the entries the server returns: the client sends no query string.

use anyhow::Context;
use serde_json::Value;

use super::print;
use super::target::Target;
use crate::auth::audit::{AuditEntry, AuditFilter, Outcome};

/// Flags of `vidstream audit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: Target,
    /// At most this many entries.
    #[arg(long)]
    limit: Option<usize>,
    /// Only this principal (its name, access key id or user/NAME).
    #[arg(long)]
    principal: Option<String>,
    /// Only this action (`CreateStream` or `kinesisvideo:CreateStream`).
    #[arg(long)]
    action: Option<String>,
    /// Only this outcome: success, denied or failure.
    #[arg(long)]
    outcome: Option<String>,
    /// Only entries at or after this server time (epoch ms).
    #[arg(long)]
    since_ms: Option<i64>,
    /// Print the entries as the API's JSON instead of one line each.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let outcome = match args.outcome.as_deref() {
        None => None,
        Some(o) => Some(Outcome::parse(o).with_context(|| {
            format!("--outcome `{o}` is invalid; use success, denied or failure")
        })?),
    };
    let filter = AuditFilter {
        limit: args.limit,
        principal: args.principal,
        action: args.action,
        outcome,
        since_ms: args.since_ms,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let api = args.target.api()?;
    let v = rt.block_on(super::target::call(&api, "GET", "/v1/audit", None))?;
    let mut selected: Vec<&Value> = Vec::new();
    for e in v["Entries"].as_array().into_iter().flatten() {
        if selected.len() == filter.limit.unwrap_or(usize::MAX) {
            break;
        }
        if filter.matches(&entry(e)) {
            selected.push(e);
        }
    }
    if args.json {
        return print(&serde_json::to_string_pretty(&selected).context("printing JSON")?);
    }
    if selected.is_empty() {
        return print("no audit entries");
    }
    let lines: Vec<String> = selected.iter().map(|e| line(e)).collect();
    print(&lines.join("\n"))
}

/// An entry of the API's JSON, for the filter.
fn entry(e: &Value) -> AuditEntry {
    let s = |k: &str| e[k].as_str().unwrap_or("");
    let mut entry = AuditEntry::new(
        s("Principal"),
        s("Action"),
        s("Resource"),
        Outcome::parse(s("Outcome")).unwrap_or(Outcome::Failure),
    )
    .address(s("Address").parse().ok())
    .detail(s("Detail"));
    if let Some(id) = e["PrincipalId"].as_str() {
        entry = entry.id(id);
    }
    entry.time_ms = e["TimeMs"].as_i64().unwrap_or(0);
    entry
}

/// `TIME  OUTCOME  PRINCIPAL (ID)  ADDRESS  ACTION  RESOURCE  DETAIL`, tab-separated.
fn line(e: &Value) -> String {
    let s = |k: &str| e[k].as_str().unwrap_or("-");
    let who = match e["PrincipalId"].as_str() {
        Some(id) => format!("{} ({id})", s("Principal")),
        None => s("Principal").to_owned(),
    };
    format!(
        "{}\t{}\t{who}\t{}\t{}\t{}\t{}",
        crate::time::rfc3339_ms(e["TimeMs"].as_i64().unwrap_or(0)),
        s("Outcome"),
        s("Address"),
        s("Action"),
        s("Resource"),
        s("Detail"),
    )
}
