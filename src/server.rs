//! The HTTP server's lifecycle: open the store, bind, serve, drain on shutdown, close the store.
//!
//! Used by `vidstream serve` and by the integration tests, which bind port 0 and run a real
//! server in-process.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::api::{self, AppState};
use crate::config::Config;
use crate::store::{Store, StoreError, StoreOptions};
use crate::time::Clock;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The store could not be opened.
    #[error("opening the data directory: {0}")]
    Store(#[from] StoreError),
    /// The listen address could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("serving: {0}")]
    Serve(std::io::Error),
}

/// A bound, not yet serving server.
pub struct Server {
    listener: TcpListener,
    state: AppState,
    grace: Duration,
}

impl Server {
    /// Opens the store (with recovery) and binds the listen address. When this returns, the
    /// server is ready: `serve` only starts accepting.
    pub async fn bind(config: &Config, clock: Arc<dyn Clock>) -> Result<Server, ServerError> {
        let store = Store::open(
            StoreOptions {
                data_dir: config.data_dir.clone(),
                region: config.region.clone(),
                account_id: config.account_id.clone(),
                rotation: crate::store::Rotation {
                    max_bytes: config.segment_max_bytes,
                    max_age_ms: i64::try_from(config.segment_max_secs)
                        .unwrap_or(i64::MAX / 1000)
                        .saturating_mul(1000),
                },
            },
            clock,
        )
        .await?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(ServerError::Serve)?;
        // With port 0 the real port is only known now.
        let public_url = match &config.public_url {
            Some(_) => config.public_url(),
            None => format!("http://{addr}"),
        };
        Ok(Server {
            listener,
            state: AppState {
                ingest: crate::ingest::Ingest::new(store.clone(), config.ingest.to_config()),
                store,
                public_url,
                max_request_body_bytes: config.max_request_body_bytes,
            },
            grace: Duration::from_secs(config.shutdown_grace_secs),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// What GetDataEndpoint returns.
    pub fn public_url(&self) -> &str {
        &self.state.public_url
    }

    /// Serves until `shutdown` completes, then lets open requests finish for up to the grace
    /// period, then closes the store.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let store = self.state.store.clone();
        let addr = self.local_addr();
        let (stopping_tx, mut stopping_rx) = tokio::sync::watch::channel(false);
        let app = api::app(self.state);
        tracing::info!(%addr, "listening");
        let serve = axum::serve(self.listener, app).with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: draining open requests");
            let _ = stopping_tx.send(true);
        });
        let grace = self.grace;
        let expired = async move {
            let _ = stopping_rx.wait_for(|s| *s).await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            r = serve => r.map_err(ServerError::Serve)?,
            () = expired => tracing::warn!(grace_secs = grace.as_secs(), "requests still open after the grace period; closing anyway"),
        }
        store.close().await?;
        tracing::info!("stopped");
        Ok(())
    }
}
