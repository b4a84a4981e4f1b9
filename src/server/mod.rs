//! The HTTP server's lifecycle: open the store, bind, serve (with the retention job running
//! beside the HTTP server), drain on shutdown, stop the job, close the store.
//!
//! Used by `vidstream serve` and by the integration tests, which bind port 0 and run a real
//! server in-process.

mod limits;
mod redirect;
mod stall;
pub mod tls;

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
    /// The session signing key could not be loaded or created.
    #[error("playback session key: {0}")]
    SessionKey(#[from] crate::playback::session::KeyError),
    /// The access keys could not be opened (root key, master key).
    #[error("access keys: {0}")]
    Keys(String),
    /// The frame hook's webhook HTTP client could not be built.
    #[error("frame hook webhook client: {0}")]
    WebhookClient(reqwest::Error),
    /// The web UI users could not be set up.
    #[error("web UI users: {0}")]
    Users(#[from] crate::auth::users::UserError),
    /// The TLS certificate pair could not be loaded.
    #[error("{0}")]
    Tls(#[from] tls::TlsError),
}

/// A bound, not yet serving server.
pub struct Server {
    listener: TcpListener,
    /// HTTPS on `listener` (`[tls]`).
    tls: Option<tls::Tls>,
    /// The plain-HTTP redirect listener (`[tls] redirect_http_listen`) and its app.
    redirect: Option<(TcpListener, axum::Router)>,
    /// `[http]`: timeouts and connection caps.
    http: crate::config::HttpSettings,
    state: AppState,
    grace: Duration,
    retention_interval: Duration,
}

impl Server {
    /// Opens the store (with recovery) and binds the listen address. When this returns, the
    /// server is ready: `serve` only starts accepting.
    pub async fn bind(config: &Config, clock: Arc<dyn Clock>) -> Result<Server, ServerError> {
        // Connections, fragment files and shared media payloads all take descriptors.
        crate::zerocopy::raise_fd_limit();
        let auth_clock = Arc::clone(&clock);
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
                retention: config.retention_options(),
                index: config.store.index_backend(),
                objects: config.store.object_store(),
                tiers: config.store.tier_policy(),
            },
            clock,
        )
        .await?;
        let keys = crate::auth::keys::KeyStore::open(
            store.clone(),
            config.auth.key_store_options().map_err(ServerError::Keys)?,
        )
        .await
        .map_err(|e| ServerError::Keys(e.to_string()))?;
        let auth = crate::auth::Auth::new(
            keys,
            auth_clock,
            crate::auth::sigv4::verify::Rules {
                skew_secs: i64::try_from(config.auth.clock_skew_secs).unwrap_or(300),
                region: config.auth.region.clone(),
                ..Default::default()
            },
        );
        let live = std::sync::Arc::new(crate::live::LiveBus::new(config.ingest.live_limits()));
        let session_key = crate::playback::session::SessionKeys::new(
            crate::playback::session::SessionKey::load(&config.playback.session_secret, || {
                store.secret(crate::store::Secret::SessionKey)
            })?,
            !config.playback.session_secret.is_empty(),
        );
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
            None => format!("{}://{addr}", config.scheme()),
        };
        let tls = match config.tls.enabled() {
            true => Some(tls::Tls::new(&config.tls)?),
            false => None,
        };
        let redirect = match config.tls.redirect_http_listen {
            Some(at) => {
                let l = TcpListener::bind(at)
                    .await
                    .map_err(|source| ServerError::Bind { addr: at, source })?;
                let target = match &config.public_url {
                    Some(u) if u.starts_with("https://") => {
                        redirect::Target::Origin(config.public_url())
                    }
                    _ => redirect::Target::Port(addr.port()),
                };
                Some((l, redirect::app(target)))
            }
            None => None,
        };
        let ingest = crate::ingest::Ingest::new(
            store.clone(),
            std::sync::Arc::clone(&live),
            crate::ingest::IngestConfig {
                max_bytes_per_second: config.limits.put_media_bytes_per_second,
                max_fragments_per_second: config.limits.put_media_fragments_per_second,
                ..config.ingest.to_config()
            },
        );
        let cameras = crate::cameras::Supervisor::new(
            store.clone(),
            ingest.clone(),
            config.cameras.to_options(),
            auth.keys().sealer().clone(),
        );
        let media = crate::media::Media::new(
            store.clone(),
            std::sync::Arc::clone(&live),
            std::sync::Arc::new(crate::media::MediaCache::new(
                config.playback.media_cache_bytes,
            )),
            i64::try_from(
                config
                    .ingest
                    .max_fragment_duration_secs
                    .saturating_mul(1000),
            )
            .unwrap_or(i64::MAX),
        );
        let hook_options = config
            .hook
            .to_options()
            .map_err(ServerError::WebhookClient)?;
        // Once per process, before the first decode (a second server in the process, as in
        // tests, keeps the first one's).
        crate::frames::configure(config.playback.decode_limits());
        let hooks = crate::frames::hook::Hooks::new(media.clone(), hook_options);
        let mut allowed_hosts = config.auth.allowed_hosts.clone();
        if let Some(host) = url::Url::parse(&public_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
        {
            allowed_hosts.push(host);
        }
        let users = crate::auth::users::UserStore::new(
            store.clone(),
            config.auth.user_store_options(),
            auth.audit().clone(),
        )
        .await?;
        // `Secure` cookies when the UI is reached over https: this listener's TLS, or a TLS proxy
        // in front (an https:// public URL).
        let secure_cookies = tls.is_some() || public_url.starts_with("https://");
        let ui = crate::auth::ui_session::UiSessions::new(
            store.clone(),
            users,
            config.auth.ui_session_options(secure_cookies),
        );
        Ok(Server {
            listener,
            tls,
            redirect,
            http: config.http.clone(),
            state: AppState::new(crate::api::Services {
                ingest,
                cameras,
                live,
                store,
                public_url,
                max_request_body_bytes: config.max_request_body_bytes,
                playback: std::sync::Arc::new(config.playback.clone()),
                session_key,
                cursors: Default::default(),
                web_dir: config.resolved_web_dir(),
                hooks,
                media,
                auth: std::sync::Arc::new(auth),
                gate: crate::api::GateSettings {
                    allowed_hosts,
                    cors_allowed_origins: config.auth.cors_allowed_origins.clone(),
                    body_read_timeout: Duration::from_secs(config.http.body_read_timeout_secs),
                },
                limits: std::sync::Arc::new(config.limits.clone()),
                readers: crate::limits::StreamReaders::new(
                    config.limits.get_media_connections_per_stream,
                    config.limits.fragment_list_connections_per_stream,
                ),
                ui,
            }),
            grace: Duration::from_secs(config.shutdown_grace_secs),
            retention_interval: Duration::from_secs(config.retention.interval_secs),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// The store, e.g. for tests that run retention on demand
    /// ([`Store::run_retention_once`]). Drop every clone before checking the data directory: a
    /// store holds its lock.
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// The playback media cache (its counters, for tests).
    pub fn media_cache(&self) -> &std::sync::Arc<crate::media::MediaCache> {
        self.state.media.cache()
    }

    /// What GetDataEndpoint returns.
    pub fn public_url(&self) -> &str {
        &self.state.public_url
    }

    /// Serves until `shutdown` completes, then lets open requests finish for up to the grace
    /// period, then closes the store.
    ///
    /// The accept loop is hyper's own rather than `axum::serve`, for control over shutdown:
    /// on the signal the live bus closes first, so long-lived responses (PutMedia ack streams,
    /// GetMedia live tails) end on their own, then open requests drain.
    ///
    /// HTTP/1 half-close stays off (hyper's default): a client that closes its sending side is
    /// taken as gone, so a disconnected live reader's connection is dropped at once instead of
    /// lingering until something is written to it. Producers (kvssink, SDKs) do not half-close.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        use hyper_util::rt::{TokioExecutor, TokioIo};
        use hyper_util::server::conn::auto::Builder;
        use hyper_util::server::graceful::GracefulShutdown;
        use hyper_util::service::TowerToHyperService;

        let store = self.state.store.clone();
        let retention =
            crate::store::RetentionJob::new(store.clone(), self.retention_interval).spawn();
        // Cameras start with the server and stop before the store closes (their ingest
        // sessions persist what they have first). A camera failing never stops the server.
        let cameras = match self.state.cameras.start().await {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::error!(error = %e, "could not start the camera supervisor");
                None
            }
        };
        // Frame hooks start with the server and stop before the store closes.
        let hooks = self.state.hooks.clone();
        if let Err(e) = hooks.start().await {
            tracing::error!(error = %e, "could not start the frame hooks");
        }
        let addr = self.local_addr();
        let live = std::sync::Arc::clone(&self.state.live);
        let app = api::app(self.state);
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(Duration::from_secs(self.http.header_read_timeout_secs));
        builder
            .http2()
            .timer(hyper_util::rt::TokioTimer::new())
            .max_concurrent_streams(self.http.http2_max_concurrent_streams);
        let limits = std::sync::Arc::new(limits::ConnectionLimits::new(
            self.http.max_connections,
            self.http.max_connections_per_address,
            crate::zerocopy::fd_limit(),
        ));
        let graceful = GracefulShutdown::new();
        let (closing_tx, closing_rx) = tokio::sync::watch::channel(false);
        let first_byte = Duration::from_secs(self.http.header_read_timeout_secs);
        let write_timeout = Duration::from_secs(self.http.write_timeout_secs);
        let reloader = self.tls.as_ref().map(tls::Tls::spawn_reloader);
        let redirect = self.redirect.map(|(listener, app)| {
            if let Ok(at) = listener.local_addr() {
                tracing::info!(%at, "redirecting plain HTTP to HTTPS");
            }
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!(error = %e, "the HTTP redirect listener stopped");
                }
            })
        });
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        tracing::info!(%addr, scheme, max_connections = limits.max_total(), "listening");
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(x) => x,
                        Err(e) => {
                            // Out of file descriptors and the like: back off, keep serving.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let permit = match limits.admit(peer.ip()) {
                        Ok(p) => p,
                        Err(why) => {
                            tracing::debug!(%peer, ?why, "connection refused: over the connection cap");
                            drop(stream);
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    // Handlers see the client's address (the login limits, the audit log).
                    let svc = TowerToHyperService::new(tower::ServiceExt::map_request(
                        app.clone(),
                        move |mut req: axum::http::Request<_>| {
                            req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                            req
                        },
                    ));
                    let builder = builder.clone();
                    let watcher = graceful.watcher();
                    // A connection still opening (no first byte, TLS handshake) holds the
                    // watcher too: shutdown ends it rather than waiting out its timeout.
                    let mut closing_rx = closing_rx.clone();
                    let closing = async move {
                        let _ = closing_rx.wait_for(|c| *c).await;
                    };
                    let tls = self.tls.clone();
                    // The handshake runs in the connection's task, so a slow client never
                    // holds up accepting.
                    tokio::spawn(async move {
                        let result = match tls {
                            Some(tls) => {
                                let stream = tokio::select! {
                                    s = tls.accept(stream, peer) => s,
                                    () = closing => None,
                                };
                                let Some(stream) = stream else { return };
                                let io = TokioIo::new(stall::WriteDeadline::new(stream, write_timeout));
                                let conn = builder.serve_connection_with_upgrades(io, svc);
                                watcher.watch(conn.into_owned()).await
                            }
                            None => {
                                // hyper's header timeout starts once it knows the protocol,
                                // which needs a first byte: a client that never sends one is
                                // cut off here.
                                let mut first = [0u8; 1];
                                tokio::select! {
                                    r = tokio::time::timeout(first_byte, stream.peek(&mut first)) => match r {
                                        Ok(Ok(n)) if n > 0 => {}
                                        _ => return,
                                    },
                                    () = closing => return,
                                }
                                // Plain TCP: stored payloads go out with sendfile.
                                let io = TokioIo::new(stall::WriteDeadline::new(
                                    crate::zerocopy::ZeroCopyStream::new(stream),
                                    write_timeout,
                                ));
                                let conn = builder.serve_connection_with_upgrades(io, svc);
                                watcher.watch(conn.into_owned()).await
                            }
                        };
                        if let Err(e) = result {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                        drop(permit);
                    });
                }
                () = &mut shutdown => break,
            }
        }
        if let Some(r) = redirect {
            r.abort();
        }
        if let Some(r) = reloader {
            r.abort();
        }
        drop(self.listener);
        tracing::info!("shutting down: ending live streams, draining open requests");
        closing_tx.send_replace(true);
        live.close();
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(self.grace) => tracing::warn!(
                grace_secs = self.grace.as_secs(),
                "requests still open after the grace period; closing anyway"
            ),
        }
        if let Some(c) = cameras {
            c.stop().await;
        }
        hooks.stop();
        retention.stop().await;
        store.close().await?;
        tracing::info!("stopped");
        Ok(())
    }
}
