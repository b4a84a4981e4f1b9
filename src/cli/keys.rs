//! `vidstream keys ...`: manage access keys through a running server's `/v1/keys` API, signed
//! with an admin's credentials (e.g. `--credentials-file DATA_DIR/root-credentials`).

use anyhow::Context;
use serde_json::{Value, json};

use super::target::Target;

/// Flags of `vidstream keys`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Create a key; prints its id and secret (shown only now) as JSON, or with `--ini` as an
    /// AWS shared-credentials profile.
    Create {
        /// Unique name (1-128 characters of [A-Za-z0-9_.@-]).
        #[arg(long)]
        name: String,
        #[command(flatten)]
        policy: super::target::PolicyArgs,
        /// A temporary key (with a session token) that stops working after this many seconds.
        #[arg(long)]
        expires_in: Option<u64>,
        /// Print an AWS shared-credentials profile of this name instead of JSON.
        #[arg(long)]
        ini: Option<String>,
    },
    /// List the keys (never their secrets).
    List,
    /// Show one key.
    Show {
        /// Access key id.
        id: String,
    },
    /// Stop a key from working (it can be enabled again).
    Disable {
        /// Access key id.
        id: String,
    },
    /// Let a disabled key work again.
    Enable {
        /// Access key id.
        id: String,
    },
    /// Delete a key for good.
    Delete {
        /// Access key id.
        id: String,
    },
    /// Replace the key that signs HLS/DASH session URLs: every URL handed out before stops
    /// working.
    RotateSessionKey,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async move {
        let api = args.target.api()?;
        let call = |method: &'static str, path: String, body: Option<Value>| {
            let api = api.clone();
            async move { super::target::call(&api, method, &path, body).await }
        };
        match args.command {
            Command::Create {
                name,
                policy,
                expires_in,
                ini,
            } => {
                let mut body = json!({ "name": name });
                policy.add_to(&mut body)?;
                if let Some(e) = expires_in {
                    body["expiresInSeconds"] = json!(e);
                }
                let key = call("POST", "/v1/keys".into(), Some(body)).await?;
                let out = match ini {
                    Some(profile) => ini_profile(&profile, &key),
                    None => serde_json::to_string_pretty(&key)?,
                };
                crate::cli::print(&out)
            }
            Command::List => {
                let v = call("GET", "/v1/keys".into(), None).await?;
                let mut out = String::new();
                for k in v["keys"].as_array().into_iter().flatten() {
                    out.push_str(&format!(
                        "{}  {:<8}  {}{}\n",
                        k["accessKeyId"].as_str().unwrap_or("?"),
                        k["status"].as_str().unwrap_or("?"),
                        k["name"].as_str().unwrap_or("?"),
                        k["expiresMs"]
                            .as_i64()
                            .map(|ms| format!("  (expires {ms})"))
                            .unwrap_or_default()
                    ));
                }
                crate::cli::print(out.trim_end())
            }
            Command::Show { id } => {
                let v = call("GET", format!("/v1/keys/{id}"), None).await?;
                crate::cli::print(&serde_json::to_string_pretty(&v)?)
            }
            Command::Disable { id } => {
                call(
                    "PUT",
                    format!("/v1/keys/{id}"),
                    Some(json!({"status": "Inactive"})),
                )
                .await?;
                Ok(())
            }
            Command::Enable { id } => {
                call(
                    "PUT",
                    format!("/v1/keys/{id}"),
                    Some(json!({"status": "Active"})),
                )
                .await?;
                Ok(())
            }
            Command::Delete { id } => {
                call("DELETE", format!("/v1/keys/{id}"), None).await?;
                Ok(())
            }
            Command::RotateSessionKey => {
                call(
                    "POST",
                    "/v1/keys/rotate-session-key".into(),
                    Some(json!({})),
                )
                .await?;
                Ok(())
            }
        }
    })
}

/// A created key as an AWS shared-credentials profile.
fn ini_profile(profile: &str, key: &Value) -> String {
    let mut out = format!(
        "[{profile}]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        key["accessKeyId"].as_str().unwrap_or(""),
        key["secretAccessKey"].as_str().unwrap_or("")
    );
    if let Some(t) = key["sessionToken"].as_str() {
        out.push_str(&format!("aws_session_token = {t}\n"));
    }
    out
}
