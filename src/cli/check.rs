//! `vidstream check [--config FILE] [--data-dir DIR]`: verify a store (the data directory and
//! the index the config names, as `serve` reads it: file, then `VIDSTREAM_*`) against the
//! store's invariants. Exits non-zero if anything is wrong. The server must be stopped.

use std::path::PathBuf;

use anyhow::Context;

/// Flags of `vidstream check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory to check [default: the config's, ./vidstream-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// TOML config file (see docker/vidstream.toml): where the index is.
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let mut config = crate::config::Config::load(args.config.as_deref(), std::env::vars())?;
    if let Some(d) = args.data_dir {
        config.data_dir = d;
    }
    let report = rt
        .block_on(crate::store::check::check(
            &config.data_dir,
            &config.store.index_backend(),
            config.store.object_store().as_ref(),
        ))
        .map_err(|e| anyhow::anyhow!("{}", what_to_do(&e, &config.data_dir)))?;
    for p in &report.problems {
        tracing::error!(problem = %p, "check");
    }
    for l in &report.leftovers {
        tracing::warn!(leftover = %l, "check");
    }
    let summary = format!(
        "checked {} streams, {} fragments, {} bytes: {}",
        report.streams,
        report.fragments,
        report.bytes,
        if report.problems.is_empty() && report.leftovers.is_empty() {
            "ok".to_owned()
        } else if report.problems.is_empty() {
            format!(
                "ok ({} leftovers of failed or interrupted writes, never acknowledged; the next start removes them)",
                report.leftovers.len()
            )
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

/// The error of a check that could not run, with what the operator should do about it.
fn what_to_do(e: &crate::store::StoreError, data_dir: &std::path::Path) -> String {
    use crate::store::StoreError;
    let dir = data_dir.display();
    match e {
        StoreError::DataDirLocked(_) => format!(
            "{e}. Stop the vidstream serving {dir} first (check needs the directory to itself); \
             if none runs, another process holds {dir}/LOCK"
        ),
        StoreError::Corruption(what) if what.starts_with("index database") => format!(
            "the index {dir}/index.sqlite is damaged ({what}), so neither check nor the server \
             can read it. Media under {dir}/media is not affected. Keep a copy of the damaged \
             file, then restore index.sqlite from a backup taken while the server was stopped \
             (or with `sqlite3 index.sqlite .backup`), remove any index.sqlite-wal/-shm left \
             beside it, and run check again. Fragments written after the backup are not in it: \
             the server removes their segment files as orphans when it starts"
        ),
        StoreError::SchemaTooNew { .. } => {
            format!("{e}; or restore the index from before the newer version wrote it")
        }
        e => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_index_says_to_restore_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.sqlite"), vec![0x5a; 4096]).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let e = rt
            .block_on(crate::store::check::check(
                dir.path(),
                &Default::default(),
                None,
            ))
            .expect_err("a damaged index does not check");
        let told = what_to_do(&e, dir.path());
        assert!(told.contains("index.sqlite is damaged"), "{told}");
        assert!(
            told.contains("restore index.sqlite from a backup"),
            "{told}"
        );
    }

    #[test]
    fn a_locked_directory_says_to_stop_the_server() {
        let dir = tempfile::tempdir().unwrap();
        let lock = std::fs::File::create(dir.path().join("LOCK")).unwrap();
        lock.lock().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let e = rt
            .block_on(crate::store::check::check(
                dir.path(),
                &Default::default(),
                None,
            ))
            .expect_err("a locked directory does not check");
        assert!(what_to_do(&e, dir.path()).contains("Stop the vidstream serving"));
    }
}
