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

/// The files change with the server version: browsers must revalidate (ETag/Last-Modified make
/// that a 304) instead of running a stale UI against a newer API.
async fn revalidate(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
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
