//! The HTTP API: the KVS control plane (and, as they arrive, the media and archived-media
//! planes) on one axum router.
//!
//! Handlers parse wire JSON into [`crate::model`] types, call the [`crate::store::Store`], and render KVS JSON.
//! Every failure leaves through [`error::ApiError`] in the KVS error shape, including unknown
//! paths, malformed bodies and panics; an internal one shows the client only its request id
//! (the log has the detail, see [`error`]).

mod access;
mod archived;
mod audit;
mod cameras;
mod clip;
mod consumers;
mod dash;
pub mod error;
mod feed;
#[doc(hidden)]
pub mod fuzz;
mod get_media;
mod guard;
mod hls;
mod image_generation;
mod images;
mod json;
mod keys;
mod login;
mod params;
mod put_media;
mod segments;
mod sessions;
mod state;
mod streams;
mod tags;
mod timeline;
mod ui;
mod users;

use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::error::ErrorKind;

use error::ApiError;
pub use state::{AppState, GateSettings, Services};

/// The request id header KVS sends on every response.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");

#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _req: &axum::http::Request<B>) -> Option<RequestId> {
        // A random UUID-shaped id (8-4-4-4-12 hex digits), written without formatting
        // machinery: it is made for every request.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let id: u128 = rand::random();
        let mut out = [0u8; 36];
        let mut at = 0;
        for i in 0..32 {
            if matches!(i, 8 | 12 | 16 | 20) {
                out[at] = b'-';
                at += 1;
            }
            out[at] = HEX[((id >> (124 - 4 * i)) & 0xf) as usize];
            at += 1;
        }
        axum::http::HeaderValue::from_bytes(&out)
            .ok()
            .map(RequestId::new)
    }
}

/// Builds the whole HTTP application.
pub fn app(state: AppState) -> Router {
    let cors = cors_layer(
        &state.gate.cors_allowed_origins,
        &state.playback.cors_allowed_origins,
    );
    let router = Router::new()
        .route("/healthz", get(healthz))
        .merge(streams::routes())
        .merge(tags::routes())
        .merge(put_media::routes())
        .merge(archived::routes())
        .merge(clip::routes())
        .merge(images::routes())
        .merge(image_generation::routes())
        .merge(feed::routes())
        .merge(consumers::routes())
        .merge(get_media::routes())
        .merge(cameras::routes())
        .merge(hls::routes())
        .merge(dash::routes())
        .merge(timeline::routes())
        .merge(keys::routes())
        .merge(login::routes())
        .merge(users::routes())
        .merge(audit::routes())
        .merge(ui::routes(state.web_dir.clone()))
        .merge(not_implemented_routes())
        .fallback(unknown_operation)
        .method_not_allowed_fallback(unknown_operation)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .with_state(state);
    edge_layers(router).layer(cors)
}

/// The layers every request goes through, innermost first: panics become internal errors,
/// internal errors are logged and hidden ([`error::hide_internal_errors`]), all inside a trace
/// span that carries the request id, which is made (or taken from the request) and echoed in
/// `x-amzn-RequestId`.
fn edge_layers(router: Router) -> Router {
    router
        .layer(CatchPanicLayer::custom(
            |panic: Box<dyn std::any::Any + Send>| {
                let what = panic
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("a non-string payload");
                ApiError::new(ErrorKind::Internal, format!("handler panicked: {what}"))
                    .into_response()
            },
        ))
        .layer(axum::middleware::from_fn(error::hide_internal_errors))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let path = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map(|p| p.as_str().to_owned())
                        .unwrap_or_else(|| req.uri().path().to_owned());
                    let id = req
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    tracing::info_span!("http", method = %req.method(), path, request_id = id)
                })
                .on_response(
                    |resp: &Response, latency: Duration, _span: &tracing::Span| {
                        tracing::debug!(status = resp.status().as_u16(), ?latency, "response");
                    },
                ),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, RandomRequestId))
}

/// CORS. Pages on other origins may call the API only from the origins in `api` (`[auth]
/// cors_allowed_origins`, none by default: a foreign page cannot even ask), while playback URLs
/// (`/hls/v1/...`, `/dash/v1/...`), which carry their own token, answer the origins in
/// `playback` (`[playback] cors_allowed_origins`, any by default, as KVS: players on other
/// sites must keep working). `["*"]` allows any origin. Every method the API uses, any request
/// header (SigV4 signs several), and the response headers a player or SDK reads.
fn cors_layer(api: &[String], playback: &[String]) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, Any, CorsLayer};
    let allows = |list: &[String], origin: &axum::http::HeaderValue| {
        list.iter()
            .any(|o| o == "*" || o.as_bytes() == origin.as_bytes())
    };
    let (api, playback) = (api.to_vec(), playback.to_vec());
    let allow = AllowOrigin::predicate(move |origin, parts| {
        let path = parts.uri.path();
        if path.starts_with("/hls/v1/") || path.starts_with("/dash/v1/") {
            allows(&playback, origin)
        } else {
            allows(&api, origin)
        }
    });
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers(Any)
        .expose_headers([
            REQUEST_ID,
            axum::http::header::CONTENT_TYPE,
            axum::http::header::CONTENT_LENGTH,
            HeaderName::from_static("x-amzn-errortype"),
        ])
        .max_age(Duration::from_secs(600))
}

/// `GET /healthz`: 200 once the server is serving (the router is only bound after the store has
/// opened and recovered).
async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

fn not_implemented_routes() -> Router<AppState> {
    access::NOT_YET
        .iter()
        .fold(Router::new(), |router, &(path, action)| {
            let op = action.trim_start_matches("kinesisvideo:");
            router.route(
            path,
            axum::routing::post(move || async move {
                ApiError::new(
                    ErrorKind::NotImplemented,
                    format!(
                        "{op} is part of the KVS API but not implemented in this vidstream version"
                    ),
                )
            }),
        )
        })
}

async fn unknown_operation(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        ErrorKind::UnknownOperation,
        format!(
            "`{method} {}` is not an operation of this server; KVS operations are POST requests such as POST /describeStream",
            uri.path()
        ),
    )
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;

    /// Log lines written while a test runs.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    const DETAIL: &str = "reading /var/lib/x/media/1.seg at 0: Input/output error (os error 5)";

    async fn panics() -> &'static str {
        panic!("{DETAIL}")
    }

    async fn call(path: &str) -> (StatusCode, axum::http::HeaderMap, serde_json::Value, String) {
        let router = edge_layers(
            Router::new()
                .route(
                    "/fail",
                    get(|| async { Err::<(), _>(ApiError::new(ErrorKind::Internal, DETAIL)) }),
                )
                .route("/panic", get(panics))
                .route(
                    "/invalid",
                    get(|| async { Err::<(), _>(ApiError::invalid("StreamName is missing")) }),
                ),
        );
        let logs = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer({
                let logs = logs.clone();
                move || logs.clone()
            })
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let resp = router
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let json = serde_json::from_slice(&body).unwrap();
        let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        (status, headers, json, logs)
    }

    #[tokio::test]
    async fn internal_errors_show_the_request_id_and_log_the_detail() {
        for path in ["/fail", "/panic"] {
            let (status, headers, json, logs) = call(path).await;
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
            assert_eq!(headers["x-amzn-errortype"], "InternalFailure", "{path}");
            assert_eq!(json["__type"], "InternalFailure", "{path}");
            let id = headers[&REQUEST_ID].to_str().unwrap();
            assert_eq!(id.len(), 36, "{path}: a generated request id");
            let message = json["message"].as_str().unwrap();
            assert_eq!(
                message,
                format!("internal error; request id {id}; the server log has the details"),
                "{path}"
            );
            assert!(!message.contains("/var/lib"), "{path}: {message}");
            assert!(
                logs.lines()
                    .any(|l| l.contains(id) && l.contains("/var/lib/x/media/1.seg")),
                "{path}: the log keeps the detail with the request id:\n{logs}"
            );
        }
    }

    #[tokio::test]
    async fn other_errors_keep_their_message() {
        let (status, headers, json, _) = call("/invalid").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(headers["x-amzn-errortype"], "InvalidArgumentException");
        assert_eq!(json["message"], "StreamName is missing");
    }
}
