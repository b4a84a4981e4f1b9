//! `vidstream cameras add|list|remove --endpoint URL`: manage the RTSP cameras a running server
//! pulls, through its `/v1/cameras` API.
//!
//! The HTTP client is a few lines over a tokio `TcpStream` (HTTP/1.0, one request per
//! connection, plain `http://` only): the CLI needs three JSON calls, not an HTTP stack.

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Flags of `vidstream cameras`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Add a camera; the server starts pulling it at once.
    Add {
        /// Server base URL, e.g. http://127.0.0.1:8080.
        #[arg(long)]
        endpoint: String,
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
    List {
        /// Server base URL.
        #[arg(long)]
        endpoint: String,
    },
    /// Stop pulling a camera and remove it.
    Remove {
        /// Server base URL.
        #[arg(long)]
        endpoint: String,
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
        let out = match args.command {
            Command::Add {
                endpoint,
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
                let v = call(&endpoint, "POST", "/v1/cameras", Some(&body)).await?;
                format!("added {}", summary(&v))
            }
            Command::List { endpoint } => {
                let v = call(&endpoint, "GET", "/v1/cameras", None).await?;
                let cams = v["cameras"].as_array().cloned().unwrap_or_default();
                if cams.is_empty() {
                    "no cameras".to_owned()
                } else {
                    cams.iter().map(summary).collect::<Vec<_>>().join("\n")
                }
            }
            Command::Remove { endpoint, name } => {
                call(&endpoint, "DELETE", &format!("/v1/cameras/{name}"), None).await?;
                format!("removed {name}")
            }
        };
        use std::io::Write;
        writeln!(std::io::stdout().lock(), "{out}").context("writing to stdout")?;
        Ok(())
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

/// `http://host:port[/prefix]` → (`host:port`, prefix).
fn split_endpoint(endpoint: &str) -> anyhow::Result<(String, String)> {
    let Some(rest) = endpoint.strip_prefix("http://") else {
        bail!("--endpoint `{endpoint}` must be an http:// URL such as http://127.0.0.1:8080");
    };
    let (authority, prefix) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, prefix.trim_end_matches('/').to_owned()))
}

/// One request; the JSON body of a 2xx answer, or the KVS error as an `anyhow` error.
async fn call(
    endpoint: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<Value> {
    let (authority, prefix) = split_endpoint(endpoint)?;
    let mut conn = tokio::net::TcpStream::connect(&authority)
        .await
        .with_context(|| format!("connecting to {authority}"))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {prefix}{path} HTTP/1.0\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(request.as_bytes())
        .await
        .context("sending the request")?;
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer)
        .await
        .context("reading the answer")?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("the server's answer has no header end")?;
    let head = String::from_utf8_lossy(&answer[..split]);
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("the server's answer has no status code")?;
    let json: Value = serde_json::from_slice(&answer[split + 4..]).unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        bail!(
            "{status} {}: {}",
            json["__type"].as_str().unwrap_or("error"),
            json["message"].as_str().unwrap_or("(no message)")
        );
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::split_endpoint;

    #[test]
    fn endpoints() {
        let table = [
            ("http://127.0.0.1:8080", ("127.0.0.1:8080", "")),
            ("http://h:1/", ("h:1", "")),
            ("http://h/base/", ("h:80", "/base")),
        ];
        for (input, (a, p)) in table {
            let (aa, pp) = split_endpoint(input).expect(input);
            assert_eq!((aa.as_str(), pp.as_str()), (a, p), "{input}");
        }
        assert!(split_endpoint("https://h").is_err());
    }
}
