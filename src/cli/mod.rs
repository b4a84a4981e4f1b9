//! The command line: one file per subcommand, each with `Args` and `run(Args)`.
//! `anyhow` is used here and in `main.rs` only.

mod audit;
mod bench;
mod cameras;
mod check;
#[path = "gen.rs"]
mod generate;
mod keys;
mod push;
mod serve;
mod target;
mod users;

use clap::{Parser, Subcommand};

/// vidstream: self-hosted video stream ingestion and playback, wire-compatible with Kinesis Video
/// Streams.
#[derive(Debug, Parser)]
#[command(name = "vidstream", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(serve::Args),
    /// Measure ingest against the targets and print a table.
    Bench(bench::Args),
    /// Verify a data directory against the store's invariants (the server must be stopped).
    Check(check::Args),
    /// Add, list and remove the RTSP cameras a running server pulls.
    Cameras(cameras::Args),
    /// Create, list, disable and delete the access keys of a running server.
    Keys(keys::Args),
    /// Create, list, change and delete the web UI users of a running server.
    Users(users::Args),
    /// Print a running server's recent audit log (denials, changes, logins), newest first.
    Audit(audit::Args),
    /// Send a file, RTSP camera, test pattern or V4L2 camera to a KVS endpoint with PutMedia.
    Push(push::Args),
    /// Run N synthetic cameras (one shared encoded test pattern) against a KVS endpoint.
    Gen(generate::Args),
}

/// Parses the command line and runs the subcommand.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing()?;
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Check(args) => check::run(args),
        Command::Cameras(args) => cameras::run(args),
        Command::Keys(args) => keys::run(args),
        Command::Users(args) => users::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Push(args) => push::run(args),
        Command::Gen(args) => generate::run(args),
    }
}

/// Logs go to stderr; `VIDSTREAM_LOG` is the filter (default `info`), `VIDSTREAM_LOG_FORMAT` is
/// `text` (default) or `json`.
fn init_tracing() -> anyhow::Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("VIDSTREAM_LOG")
        .or_else(|_| EnvFilter::try_new("info"))
        .map_err(|e| anyhow::anyhow!("VIDSTREAM_LOG: {e}"))?;
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match std::env::var("VIDSTREAM_LOG_FORMAT").as_deref() {
        Ok("json") => builder.json().init(),
        Ok("text") | Ok("") | Err(_) => builder.init(),
        Ok(other) => anyhow::bail!("VIDSTREAM_LOG_FORMAT `{other}` is invalid; use text or json"),
    }
    Ok(())
}

/// Writes `text` and a newline to stdout (a command's output; logs go to stderr).
pub(crate) fn print(text: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    writeln!(std::io::stdout().lock(), "{text}").context("writing to stdout")
}
