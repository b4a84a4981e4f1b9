//! `vidstream serve`: run the server until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::config::Config;
use crate::server::Server;
use crate::time::SystemClock;

/// Flags of `vidstream serve`; each overrides the config file and environment.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Data directory [default: ./vidstream-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// TOML config file (see docker/vidstream.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Base URL GetDataEndpoint returns [default: http://LISTEN].
    #[arg(long)]
    public_url: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut config = Config::load(args.config.as_deref(), std::env::vars())?;
    if let Some(l) = args.listen {
        config.listen = l;
    }
    if let Some(d) = args.data_dir {
        config.data_dir = d;
    }
    if let Some(u) = args.public_url {
        config.public_url = Some(u);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("vidstream")
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async move {
        let server = Server::bind(&config, Arc::new(SystemClock)).await?;
        tracing::info!(
            addr = %server.local_addr(),
            data_dir = %config.data_dir.display(),
            public_url = server.public_url(),
            "vidstream ready"
        );
        server.serve(shutdown_signal()).await?;
        Ok(())
    })
}

/// Completes on the first SIGINT or SIGTERM; a second one exits at once.
async fn shutdown_signal() {
    wait_for_signal().await;
    tokio::spawn(async {
        wait_for_signal().await;
        tracing::warn!("second signal: exiting immediately");
        std::process::exit(130);
    });
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        r = tokio::signal::ctrl_c() => {
            if let Err(e) = r {
                tracing::error!(error = %e, "cannot listen for SIGINT");
                std::future::pending::<()>().await;
            }
        }
        () = term => {}
    }
}
