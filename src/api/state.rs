//! What every handler can reach: the server's parts behind one `Arc`.

use crate::store::Store;

/// What every handler can reach: [`Services`] behind one `Arc`, so the per-request clones
/// (axum hands each handler and layer its own) cost one reference count.
#[derive(Clone)]
pub struct AppState(std::sync::Arc<Services>);

impl AppState {
    /// Shares `services` with every handler.
    pub fn new(services: Services) -> AppState {
        AppState(std::sync::Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The server's parts, as handlers see them.
pub struct Services {
    /// The store.
    pub store: Store,
    /// What GetDataEndpoint returns.
    pub public_url: String,
    /// Largest JSON request body.
    pub max_request_body_bytes: usize,
    /// PutMedia sessions.
    pub ingest: crate::ingest::Ingest,
    /// Per-stream live events for live readers.
    pub live: std::sync::Arc<crate::live::LiveBus>,
    /// RTSP cameras the server pulls.
    pub cameras: crate::cameras::Supervisor,
    /// `[playback]` settings: clip limits, LL-HLS, CORS.
    pub playback: std::sync::Arc<crate::config::PlaybackSettings>,
    /// Signs and checks HLS/DASH session tokens.
    pub session_key: crate::playback::session::SessionKeys,
    /// Live playlist numbering cache (see `sessions`).
    pub cursors: std::sync::Arc<crate::playback::window::Cursors>,
    /// The web UI's files, served at `/` (None: no UI).
    pub web_dir: Option<std::path::PathBuf>,
    /// The frame hook (image generation) of every stream.
    pub hooks: crate::frames::hook::Hooks,
    /// The one door to stored and live media (finding, loading, following fragments; the media
    /// cache).
    pub media: crate::media::Media,
    /// Web UI users and their sessions (login, cookie + CSRF checks).
    pub ui: crate::auth::ui_session::UiSessions,
    /// Who is calling: signatures checked against the access keys; and the audit log
    /// ([`crate::auth::Auth::audit`]) that the gate, the admin handlers and the logins record
    /// into and `GET /v1/audit` reads.
    pub auth: std::sync::Arc<crate::auth::Auth>,
    /// What the gate accepts besides credentials (host names, CORS origins).
    pub gate: GateSettings,
    /// `[limits]`: quotas.
    pub limits: std::sync::Arc<crate::config::LimitSettings>,
    /// Open readers per stream (GetMedia, GetMediaForFragmentList), capped.
    pub readers: std::sync::Arc<crate::limits::StreamReaders>,
}

/// What the gate ([`super::guard`]) accepts besides credentials.
#[derive(Debug, Clone, Default)]
pub struct GateSettings {
    /// Host names the server answers to (besides IP literals and `localhost`).
    pub allowed_hosts: Vec<String>,
    /// Origins allowed to call the API from a browser.
    pub cors_allowed_origins: Vec<String>,
    /// A request body read whole (JSON) must arrive within this long.
    pub body_read_timeout: std::time::Duration,
}

impl Services {
    /// Replaces the playback session key (`POST /v1/keys/rotate-session-key`): every session
    /// URL handed out before stops working.
    pub async fn rotate_session_key(&self) -> Result<(), super::error::ApiError> {
        if self.session_key.configured() {
            return Err(super::error::ApiError::invalid(
                "the session key comes from [playback] session_secret: change it there and restart",
            ));
        }
        let store = self.store.clone();
        let secret = tokio::task::spawn_blocking(move || {
            store.rotate_secret(crate::store::Secret::SessionKey)
        })
        .await
        .map_err(|e| {
            super::error::ApiError::new(crate::error::ErrorKind::Internal, e.to_string())
        })??;
        self.session_key
            .replace(crate::playback::session::SessionKey::new(&secret));
        Ok(())
    }

    /// The LL-HLS settings.
    pub fn low_latency(&self) -> crate::playback::low_latency::LowLatencySettings {
        crate::playback::low_latency::LowLatencySettings {
            part_target_ms: self.playback.ll_hls_part_target_ms.max(50),
            blocking_timeout_ms: self.playback.blocking_request_timeout_ms,
        }
    }
}
