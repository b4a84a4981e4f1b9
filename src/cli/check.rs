//! `vidstream check --data-dir DIR`: verify a data directory against the store's invariants.
//! Exits non-zero if anything is wrong. The server must be stopped.

use std::path::PathBuf;

use anyhow::Context;

/// Flags of `vidstream check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory to check.
    #[arg(long, default_value = "./vidstream-data")]
    data_dir: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let report = rt.block_on(crate::store::check::check(&args.data_dir))?;
    for p in &report.problems {
        tracing::error!(problem = %p, "check");
    }
    let summary = format!(
        "checked {} streams, {} fragments, {} bytes: {}",
        report.streams,
        report.fragments,
        report.bytes,
        if report.problems.is_empty() {
            "ok".to_owned()
        } else {
            format!("{} problems", report.problems.len())
        }
    );
    tracing::info!("{summary}");
    if !report.problems.is_empty() {
        anyhow::bail!("{summary}");
    }
    Ok(())
}
