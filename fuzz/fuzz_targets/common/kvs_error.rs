//! Shared by the targets that reach the HTTP API's parsers: what a refused request looks like.

use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::response::IntoResponse;
use vidstream::api::error::{ApiError, status_and_name};
use vidstream::error::ErrorKind;

/// A refusal is a client error in the KVS shape: the kind's 4xx status, `x-amzn-ErrorType`, and
/// a JSON body `{"__type": <name>, "message": <non-empty text>}`. Never an internal error: bytes
/// from a client are the client's fault, whatever they hold.
pub fn assert_kvs_error(e: ApiError, what: &str) {
    assert_ne!(
        e.kind,
        ErrorKind::Internal,
        "{what}: a request's bytes made an internal error: {}",
        e.message
    );
    assert!(
        !e.message.is_empty(),
        "{what}: {:?} without a message",
        e.kind
    );
    let (status, name) = status_and_name(e.kind);
    let resp = e.into_response();
    assert_eq!(resp.status(), status, "{what}");
    assert!(
        status.is_client_error(),
        "{what}: {status} for a request's bytes"
    );
    assert_eq!(
        resp.headers().get("x-amzn-errortype").map(|v| v.as_bytes()),
        Some(name.as_bytes()),
        "{what}"
    );
    let body = ready(axum::body::to_bytes(resp.into_body(), 1 << 20)).expect("an error body");
    let json: serde_json::Value = serde_json::from_slice(&body).expect("a JSON error body");
    assert_eq!(json["__type"], name, "{what}");
    assert!(
        json["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {json}"
    );
}

/// The value of a future that needs no I/O (an in-memory body).
fn ready<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("an in-memory body was not ready"),
    }
}
