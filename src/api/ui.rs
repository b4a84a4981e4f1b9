//! The web UI: the static files of `web/` (HTML, CSS, ES modules, and the pinned npm packages
//! under `web/node_modules`), served under `/ui/`, with `/` redirecting there. Nothing is built
//! at run time: the browser loads the modules as they are in the source tree.
//!
//! The UI talks to the server only through documented public APIs (the KVS operations,
//! `/v1/cameras`, `/v1/streams`); this module only serves files.

use std::path::PathBuf;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use tower_http::services::ServeDir;

use super::AppState;
use super::error::ApiError;
use crate::error::ErrorKind;

pub fn routes(web_dir: Option<PathBuf>) -> Router<AppState> {
    let Some(dir) = web_dir else {
        return Router::new().route("/", get(no_ui));
    };
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .nest_service(
            "/ui",
            ServeDir::new(dir).append_index_html_on_directories(true),
        )
        .layer(axum::middleware::map_response(revalidate))
}

/// The UI's content security policy: only its own scripts, styles and API (no inline script,
/// no other origin), media from blob: URLs (hls.js feeds MediaSource), and no framing
/// (clickjacking).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; media-src 'self' blob:; worker-src 'self' blob:; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// Headers on every UI file. The files change with the server version: browsers must
/// revalidate (ETag/Last-Modified make that a 304) instead of running a stale UI against a
/// newer API. The security headers: [`CSP`], no MIME sniffing, no framing, no referrer.
async fn revalidate(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

async fn no_ui() -> Response {
    ApiError::new(
        ErrorKind::ResourceNotFound,
        "the web UI is not installed here: set `web_dir` to the source tree's web/ directory \
         (after `npm ci --prefix web`)",
    )
    .into_response()
}
