//! `vidstream cameras add|list|remove --endpoint URL`: manage the RTSP cameras a running server
//! pulls, through its `/v1/cameras` API, signed with the credentials of [`Target`].

use anyhow::Context;
use serde_json::{Value, json};

use super::target::Target;

/// Flags of `vidstream cameras`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Add a camera; the server starts pulling it at once.
    Add {
        /// Camera name ([a-zA-Z0-9_.-], 1-256 characters).
        #[arg(long)]
        name: String,
        /// rtsp://host[:port]/path (credentials may be given here or with the flags below).
        #[arg(long)]
        url: String,
        /// Target stream (must exist).
        #[arg(long)]
        stream: String,
        /// RTSP user.
        #[arg(long)]
        username: Option<String>,
        /// RTSP password (prefer the environment variable: flags show in `ps`).
        #[arg(long, env = "VIDSTREAM_CAMERA_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// RTP transport: tcp or udp.
        #[arg(long, default_value = "tcp")]
        transport: String,
        /// Add it without pulling it.
        #[arg(long)]
        disabled: bool,
    },
    /// List the cameras and their status.
    List,
    /// Stop pulling a camera and remove it.
    Remove {
        /// Camera name.
        #[arg(long)]
        name: String,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async {
        let api = args.target.api()?;
        let call = |method: &'static str, path: String, body: Option<Value>| {
            let api = api.clone();
            async move { super::target::call(&api, method, &path, body).await }
        };
        let out = match args.command {
            Command::Add {
                name,
                url,
                stream,
                username,
                password,
                transport,
                disabled,
            } => {
                let mut body = json!({
                    "name": name, "url": url, "stream": stream,
                    "transport": transport, "enabled": !disabled,
                });
                if let Some(u) = username {
                    body["username"] = json!(u);
                }
                if let Some(p) = password {
                    body["password"] = json!(p);
                }
                let v = call("POST", "/v1/cameras".into(), Some(body)).await?;
                format!("added {}", summary(&v))
            }
            Command::List => {
                let v = call("GET", "/v1/cameras".into(), None).await?;
                let cams = v["cameras"].as_array().cloned().unwrap_or_default();
                if cams.is_empty() {
                    "no cameras".to_owned()
                } else {
                    cams.iter().map(summary).collect::<Vec<_>>().join("\n")
                }
            }
            Command::Remove { name } => {
                call("DELETE", format!("/v1/cameras/{name}"), None).await?;
                format!("removed {name}")
            }
        };
        super::print(&out)
    })
}

/// One line per camera: name, state, URL, stream, last error.
fn summary(c: &Value) -> String {
    let s = &c["status"];
    let mut line = format!(
        "{}\t{}\t{}\t-> {}\treconnects={} fragments={} bytes/s={}",
        c["name"].as_str().unwrap_or("?"),
        s["state"].as_str().unwrap_or("?"),
        c["url"].as_str().unwrap_or("?"),
        c["stream"].as_str().unwrap_or("?"),
        s["reconnects"],
        s["fragments"],
        s["bytesPerSecond"],
    );
    if let Some(e) = s["lastError"].as_str() {
        line.push_str(&format!("\tlast error: {e}"));
    }
    line
}
