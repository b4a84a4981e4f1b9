//! `vidstream users ...`: manage the web UI users through a running server's `/v1/users` API.
//!
//! Passwords are never flags (flags show in `ps`): they come from `VIDSTREAM_USER_PASSWORD`, or
//! are read from standard input, without echo when it is a terminal (asked twice).
//!
//! The requests are signed with an admin's credentials ([`Target`]).

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::print;
use super::target::Target;

/// Flags of `vidstream users`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Create a user; the password comes from VIDSTREAM_USER_PASSWORD or standard input.
    Create {
        /// Login name (1-128 characters of [A-Za-z0-9_.@-]).
        name: String,
        #[command(flatten)]
        policy: super::target::PolicyArgs,
    },
    /// List the users, their status and lock-outs.
    List,
    /// Set a user's password (ends their sessions, clears a lock-out).
    Passwd {
        /// Login name.
        name: String,
    },
    /// Stop a user from logging in and end their sessions.
    Disable {
        /// Login name.
        name: String,
    },
    /// Let a disabled (or locked-out) user log in again.
    Enable {
        /// Login name.
        name: String,
    },
    /// Delete a user for good.
    Delete {
        /// Login name.
        name: String,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let api = args.target.api()?;
    let call = |method: &'static str, path: String, body: Option<Value>| {
        let api = api.clone();
        async move { super::target::call(&api, method, &path, body).await }
    };
    rt.block_on(async move {
        match args.command {
            Command::Create { name, policy } => {
                let password = password(&format!("password for {name}"))?;
                let mut body = json!({ "name": name, "password": password });
                policy.add_to(&mut body)?;
                let user = call("POST", "/v1/users".into(), Some(body)).await?;
                print(&format!("created {}", summary(&user)))
            }
            Command::List => {
                let v = call("GET", "/v1/users".into(), None).await?;
                let users = v["users"].as_array().cloned().unwrap_or_default();
                if users.is_empty() {
                    return print("no users");
                }
                let lines: Vec<String> = users.iter().map(summary).collect();
                print(&lines.join("\n"))
            }
            Command::Passwd { name } => {
                let password = password(&format!("new password for {name}"))?;
                let body = json!({ "password": password });
                call("PUT", user_path(&name), Some(body)).await?;
                print(&format!("password of {name} changed; their sessions ended"))
            }
            Command::Disable { name } => {
                let body = json!({ "status": "Inactive" });
                call("PUT", user_path(&name), Some(body)).await?;
                print(&format!("disabled {name}; their sessions ended"))
            }
            Command::Enable { name } => {
                let body = json!({ "status": "Active" });
                call("PUT", user_path(&name), Some(body)).await?;
                print(&format!("enabled {name}"))
            }
            Command::Delete { name } => {
                call("DELETE", user_path(&name), None).await?;
                print(&format!("deleted {name}"))
            }
        }
    })
}

/// A user's path, not yet percent-encoded (the client encodes it, and signs it as it is).
fn user_path(name: &str) -> String {
    format!("/v1/users/{name}")
}

/// One line per user: name, status, lock-out, failed logins.
fn summary(u: &Value) -> String {
    let mut line = format!(
        "{}\t{}",
        u["name"].as_str().unwrap_or("?"),
        u["status"].as_str().unwrap_or("?")
    );
    if let Some(until) = u["lockedUntilMs"].as_i64() {
        line.push_str(&format!(
            "\tlocked until {}",
            crate::time::rfc3339_ms(until)
        ));
    }
    if let Some(n) = u["failedLogins"].as_u64().filter(|&n| n > 0) {
        line.push_str(&format!("\t{n} failed logins"));
    }
    line
}

/// A password: `VIDSTREAM_USER_PASSWORD`, else a line of standard input (asked twice, without
/// echo, on a terminal).
fn password(prompt: &str) -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("VIDSTREAM_USER_PASSWORD") {
        return Ok(p);
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = read_hidden(&format!("{prompt}: "))?;
    let again = read_hidden("again: ")?;
    if first != again {
        bail!("the two passwords differ");
    }
    Ok(first)
}

/// Reads a line from the terminal with echo off (restored afterwards, also on error).
fn read_hidden(prompt: &str) -> anyhow::Result<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let mut err = std::io::stderr().lock();
    write!(err, "{prompt}")?;
    err.flush()?;
    let saved = tcgetattr(&stdin).context("reading the terminal's settings")?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(&stdin, OptionalActions::Now, &quiet).context("turning echo off")?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let restored = tcsetattr(&stdin, OptionalActions::Now, &saved);
    writeln!(err)?;
    read.context("reading the password")?;
    restored.context("turning echo back on")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_lines_and_paths() {
        let u = json!({"name": "ann", "status": "Active", "failedLogins": 2,
                       "lockedUntilMs": 1_700_000_000_000i64});
        assert_eq!(
            summary(&u),
            "ann\tActive\tlocked until 2023-11-14T22:13:20.000Z\t2 failed logins"
        );
        assert_eq!(
            summary(&json!({"name": "bo", "status": "Inactive"})),
            "bo\tInactive"
        );
        assert_eq!(user_path("a.b@c"), "/v1/users/a.b@c");
        assert_eq!(
            crate::auth::sigv4::encode_path(&user_path("a.b@c")),
            "/v1/users/a.b%40c"
        );
    }
}
