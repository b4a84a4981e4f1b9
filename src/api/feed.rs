//! The WebSocket frame feed (a vidstream extension, not part of KVS): decoded pictures of a
//! stream pushed to an ML consumer as they arrive, from a start point in the past or now, with
//! consumer checkpoints (the Kinesis Client Library's idea) so a consumer that reconnects
//! resumes exactly after the last frame it processed.
//!
//! This module is the wire: the query string into a [`FeedRequest`], the planning call
//! ([`Feed::open`]), the upgrade, then typed messages to and from WebSocket messages and the
//! close. What to send and when (sampling, history then live, drops, checkpoints) is
//! [`crate::frames::feed`], whose module doc holds the sampling and back-pressure rules.
//!
//! # Subscribing
//! `GET /v1/frames/feed?StreamName=..` (or `StreamARN`) upgraded to a WebSocket, with:
//! - `SamplingInterval` ms, 1..=3600000, default 1000: which frames, see [`crate::frames::feed::sampler`] (the first
//!   frame at or after each multiple of the interval on the producer-timestamp axis);
//! - `Format` `JPEG` (default) | `PNG` | `RGB24` (raw packed pixels, `width * 3` bytes a row, for
//!   ML code that wants no JPEG decode), `JPEGQuality` 1..=100 (default 80);
//! - `WidthPixels` 1..=3840, `HeightPixels` 1..=2160: as GetImages (neither = source size, one =
//!   keep the aspect ratio, both = stretch);
//! - `Start` `NOW` (default: the next frame to arrive) | `EARLIEST` | an epoch-ms producer
//!   timestamp (the first frame at or after it) | `CHECKPOINT` (right after the `Consumer`'s
//!   checkpoint); `End` (optional epoch ms): the feed ends after the last frame at or before it;
//! - `Consumer` (`[a-zA-Z0-9_.-]{1,256}`): the name checkpoints are committed under.
//!
//! Errors before the upgrade are KVS-shaped HTTP errors (bad parameters, unknown stream, a
//! stream whose media has no H.264/H.265 video, `Start=CHECKPOINT` without a checkpoint, an
//! `End` in the past with no media between `Start` and `End`, a plain HTTP request).
//!
//! # Messages
//! Server → client, per frame: a text message
//! `{"type":"frame","fragment_number":"9100…","producer_timestamp_ms":…,"server_timestamp_ms":…,
//! "format":"RGB24","width":320,"height":240,"bytes":230400,"dropped":0}` immediately followed by
//! one binary message holding the picture. Also `{"type":"checkpointed",…}` (a commit is
//! durable), `{"type":"frame_error",…}` (a frame that could not be decoded is skipped),
//! `{"type":"error","__type":"…","message":"…"}` (a request the feed refuses; fatal ones are
//! followed by a close frame with code 1011, or 1008 for bad client messages), and
//! `{"type":"end"}` + close 1000 once `End` is passed.
//!
//! Client → server: `{"checkpoint":{"fragment_number":"9100…","producer_timestamp_ms":…}}`,
//! the position of the last frame processed (as the frame message gave it). Checkpoints can also
//! be committed, listed (with lag behind live) and deleted over REST ([`super::consumers`]).
//!
//! # Back-pressure
//! Sending awaits the socket: history is read at the client's pace and never dropped; live
//! samples a slow client could not take are skipped and counted in `dropped`. The rules are
//! [`crate::frames::feed`]'s (# Back-pressure there); this module's [`Outbox`] writes each message
//! to the socket before the session goes on.

use std::collections::HashMap;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::Instrument;

use super::AppState;
use super::error::{ApiError, status_and_name};
use super::params::{in_range, stream_ref};
use crate::error::ErrorKind;
use crate::frames::feed::{
    Client, ClientMessage, Feed, FeedMessage, FeedRequest, FrameMeta, Gone, Outbox, Outcome, Start,
    consumer_name,
};
use crate::frames::{ImageFormat, OutputSpec, Picture};

/// Default sampling interval, ms.
const DEFAULT_INTERVAL_MS: i64 = 1000;
/// Longest sampling interval, ms.
const MAX_INTERVAL_MS: i64 = 3_600_000;
/// How long a closing feed waits for the client's Close.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/frames/feed", get(feed))
}

fn int(field: &str, v: &str) -> Result<i64, ApiError> {
    v.parse::<i64>()
        .map_err(|_| ApiError::invalid(format!("{field} `{v}` is not an integer")))
}

pub(super) fn parse(q: &HashMap<String, String>) -> Result<FeedRequest, ApiError> {
    const KNOWN: &[&str] = &[
        "StreamName",
        "StreamARN",
        "SamplingInterval",
        "Format",
        "JPEGQuality",
        "WidthPixels",
        "HeightPixels",
        "Start",
        "End",
        "Consumer",
    ];
    if let Some(k) = q.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(ApiError::invalid(format!(
            "unknown parameter `{}`; the feed takes {}",
            k.chars().take(64).collect::<String>(),
            KNOWN.join(", ")
        )));
    }
    let get = |k: &str| q.get(k).map(String::as_str);
    let interval = match get("SamplingInterval") {
        None => DEFAULT_INTERVAL_MS,
        Some(v) => in_range(
            "SamplingInterval",
            int("SamplingInterval", v)?,
            1,
            MAX_INTERVAL_MS,
        )?,
    };
    let quality = get("JPEGQuality")
        .map(|v| in_range("JPEGQuality", int("JPEGQuality", v)?, 1, 100).map_err(ApiError::from))
        .transpose()?;
    let format = match get("Format") {
        None | Some("JPEG") => ImageFormat::Jpeg {
            quality: quality.map_or(80, |q| q as u8),
        },
        Some(f @ ("PNG" | "RGB24")) => {
            if quality.is_some() {
                return Err(ApiError::invalid("JPEGQuality applies only to Format=JPEG"));
            }
            if f == "PNG" {
                ImageFormat::Png
            } else {
                ImageFormat::Rgb24
            }
        }
        Some(f) => {
            return Err(ApiError::invalid(format!(
                "Format `{}` is invalid: use JPEG, PNG or RGB24",
                f.chars().take(64).collect::<String>()
            )));
        }
    };
    let dim = |field: &str, max: i64| -> Result<Option<u32>, ApiError> {
        get(field)
            .map(|v| Ok(in_range(field, int(field, v)?, 1, max)? as u32))
            .transpose()
    };
    let spec = OutputSpec {
        format,
        width: dim("WidthPixels", 3840)?,
        height: dim("HeightPixels", 2160)?,
    };
    let consumer = get("Consumer").map(consumer_name).transpose()?;
    let start = match get("Start") {
        None | Some("NOW") => Start::Now,
        Some("EARLIEST") => Start::Earliest,
        Some("CHECKPOINT") => {
            if consumer.is_none() {
                return Err(ApiError::invalid(
                    "Start=CHECKPOINT needs Consumer: the name the checkpoint was committed under",
                ));
            }
            Start::Checkpoint
        }
        Some(v) => Start::At(int("Start", v).map_err(|_| {
            ApiError::invalid(format!(
                "Start `{}` is invalid: use NOW, EARLIEST, CHECKPOINT or epoch milliseconds",
                v.chars().take(64).collect::<String>()
            ))
        })?),
    };
    let end = get("End").map(|v| int("End", v)).transpose()?;
    if let (Start::At(s), Some(e)) = (start, end)
        && e < s
    {
        return Err(ApiError::invalid("End is before Start"));
    }
    Ok(FeedRequest {
        interval,
        spec,
        start,
        end,
        consumer,
    })
}

async fn feed(
    State(st): State<AppState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let Query(q) =
        query.map_err(|e| ApiError::invalid(format!("the query string does not parse: {e}")))?;
    let r = stream_ref(
        q.get("StreamName").map(String::as_str),
        q.get("StreamARN").map(String::as_str),
    )?;
    let req = parse(&q)?;
    let stream = st.store.resolve(&r).await?;
    if let Some(consumer) = &req.consumer {
        super::consumers::check_consumer_quota(&st, &stream, consumer).await?;
    }
    let span = tracing::info_span!("feed", stream = %stream.name);
    let feed = Feed::open(&st.media, stream, req).await?;
    let upgrade = upgrade.map_err(|e| {
        ApiError::invalid(format!(
            "the frame feed is a WebSocket: connect with a WebSocket client ({e})"
        ))
    })?;
    Ok(upgrade
        .max_message_size(64 * 1024)
        .on_upgrade(move |ws| serve(ws, feed, span)))
}

/// Runs the feed on the socket, then closes it as the session's [`Outcome`] says.
async fn serve(ws: WebSocket, feed: Feed, span: tracing::Span) {
    let Feed { session, client } = feed;
    let (sink, rx) = ws.split();
    let reader = tokio::spawn(read_client(rx, client).instrument(span.clone()));
    let mut socket = Socket(sink);
    let outcome = session.run(&mut socket).instrument(span).await;
    let Socket(mut sink) = socket;
    let close = match outcome {
        Outcome::Closed => None,
        Outcome::Ended => Some((close_code::NORMAL, "end reached")),
        Outcome::Failed => Some((close_code::ERROR, "feed failed")),
        Outcome::Refused => {
            let _ = sink
                .send(close_frame(close_code::POLICY, "bad client message"))
                .await;
            None
        }
    };
    if let Some((code, reason)) = close {
        let _ = sink.send(close_frame(code, reason)).await;
        // The closing handshake: read on until the client's Close (or it goes away), so
        // the socket is not closed with client messages unread, which makes the kernel
        // reset the connection and can destroy frames the client has not read yet.
        drop(sink);
        let mut reader = reader;
        let _ = tokio::time::timeout(CLOSE_WAIT, &mut reader).await;
        reader.abort();
    } else {
        let _ = sink.close().await;
        reader.abort();
    }
}

fn close_frame(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// The session's [`Outbox`]: each message is written to the socket before `send` returns (the
/// feed's back-pressure).
struct Socket(SplitSink<WebSocket, Message>);

impl Socket {
    async fn put(&mut self, m: Message) -> Result<(), Gone> {
        self.0.send(m).await.map_err(|_| Gone)
    }
}

impl Outbox for Socket {
    async fn send(&mut self, m: FeedMessage) -> Result<(), Gone> {
        match m {
            FeedMessage::Frame { meta, picture } => {
                self.put(text(frame_json(&meta, &picture))).await?;
                self.put(Message::Binary(Bytes::from(picture.data))).await
            }
            other => self.put(text(message_json(other))).await,
        }
    }
}

fn text(v: Value) -> Message {
    Message::Text(v.to_string().into())
}

fn format_name(f: ImageFormat) -> &'static str {
    match f {
        ImageFormat::Jpeg { .. } => "JPEG",
        ImageFormat::Png => "PNG",
        ImageFormat::Rgb24 => "RGB24",
    }
}

/// A frame's text message (its picture follows as a binary message).
fn frame_json(meta: &FrameMeta, picture: &Picture) -> Value {
    json!({
        "type": "frame",
        "fragment_number": meta.fragment_number.to_string(),
        "producer_timestamp_ms": meta.producer_timestamp_ms,
        "server_timestamp_ms": meta.server_timestamp_ms,
        "format": format_name(meta.format),
        "width": picture.width,
        "height": picture.height,
        "bytes": picture.data.len(),
        "dropped": meta.dropped,
    })
}

/// The text message of every other message.
fn message_json(m: FeedMessage) -> Value {
    match m {
        FeedMessage::Frame { meta, picture } => frame_json(&meta, &picture),
        FeedMessage::FrameError {
            fragment_number,
            producer_timestamp_ms,
            message,
        } => json!({
            "type": "frame_error",
            "fragment_number": fragment_number.to_string(),
            "producer_timestamp_ms": producer_timestamp_ms,
            "message": message,
        }),
        FeedMessage::Checkpointed {
            fragment_number,
            producer_timestamp_ms,
        } => json!({
            "type": "checkpointed",
            "fragment_number": fragment_number.to_string(),
            "producer_timestamp_ms": producer_timestamp_ms,
        }),
        FeedMessage::Error { kind, message } => {
            let (_, name) = status_and_name(kind);
            if kind == ErrorKind::Internal {
                // The detail stays in the log, as for HTTP errors (see `error`).
                tracing::error!(error = %message, "feed: internal error");
            }
            json!({"type": "error", "__type": name, "message": super::error::client_message(kind, &message)})
        }
        FeedMessage::End => json!({"type": "end"}),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireClientMessage {
    checkpoint: WireCheckpoint,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireCheckpoint {
    fragment_number: String,
    producer_timestamp_ms: i64,
}

/// A client text message, typed.
fn client_message(text: &str) -> ClientMessage {
    match serde_json::from_str::<WireClientMessage>(text) {
        Ok(WireClientMessage { checkpoint: cp }) => ClientMessage::Checkpoint {
            fragment_number: cp.fragment_number,
            producer_timestamp_ms: cp.producer_timestamp_ms,
        },
        Err(e) => ClientMessage::Unreadable(format!(
            "client message does not parse ({e}); send {{\"checkpoint\": {{\"fragment_number\": \"...\", \"producer_timestamp_ms\": ...}}}}"
        )),
    }
}

/// Reads client messages until the client goes away (then `client` drops, which the session
/// sees).
async fn read_client(mut rx: SplitStream<WebSocket>, client: Client) {
    while let Some(Ok(msg)) = rx.next().await {
        let text = match msg {
            Message::Text(t) => t,
            Message::Close(_) => return,
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Binary(_) => {
                client
                    .receive(ClientMessage::Unreadable(
                        "binary client messages are not part of the feed protocol; send {\"checkpoint\": {...}} as text".into(),
                    ))
                    .await;
                return;
            }
        };
        client.receive(client_message(text.as_str())).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn params_defaults_and_limits() {
        let p = parse(&q(&[("StreamName", "a")])).unwrap();
        assert_eq!(p.interval, DEFAULT_INTERVAL_MS);
        assert_eq!(p.start, Start::Now);
        assert_eq!(p.spec.format, ImageFormat::Jpeg { quality: 80 });
        let p = parse(&q(&[
            ("Format", "RGB24"),
            ("WidthPixels", "64"),
            ("Start", "1700000000000"),
            ("Consumer", "ml-1"),
        ]))
        .unwrap();
        assert_eq!(p.spec.format, ImageFormat::Rgb24);
        assert_eq!(p.spec.width, Some(64));
        assert_eq!(p.start, Start::At(1_700_000_000_000));
        for bad in [
            vec![("Format", "GIF")],
            vec![("Format", "PNG"), ("JPEGQuality", "5")],
            vec![("JPEGQuality", "0")],
            vec![("WidthPixels", "0")],
            vec![("HeightPixels", "2161")],
            vec![("WidthPixels", "x")],
            vec![("SamplingInterval", "0")],
            vec![("Start", "yesterday")],
            vec![("Start", "CHECKPOINT")],
            vec![("Start", "100"), ("End", "50")],
            vec![("Consumer", "a b")],
            vec![("Bogus", "1")],
        ] {
            assert!(parse(&q(&bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn messages_render_as_documented() {
        use crate::model::StreamId;
        use crate::store::fragment::FragmentNumber;
        let n = FragmentNumber {
            stream: StreamId(3),
            seq: 7,
        };
        let meta = FrameMeta {
            fragment_number: n,
            producer_timestamp_ms: 1000,
            server_timestamp_ms: 1005,
            format: ImageFormat::Rgb24,
            dropped: 2,
        };
        let picture = Picture {
            width: 2,
            height: 1,
            data: vec![0; 6],
        };
        assert_eq!(
            frame_json(&meta, &picture),
            json!({"type": "frame", "fragment_number": n.to_string(),
                "producer_timestamp_ms": 1000, "server_timestamp_ms": 1005, "format": "RGB24",
                "width": 2, "height": 1, "bytes": 6, "dropped": 2})
        );
        assert_eq!(
            message_json(FeedMessage::Error {
                kind: ErrorKind::InvalidArgument,
                message: "no".into()
            }),
            json!({"type": "error", "__type": "InvalidArgumentException", "message": "no"})
        );
        assert_eq!(message_json(FeedMessage::End), json!({"type": "end"}));
        assert_eq!(
            client_message(r#"{"checkpoint":{"fragment_number":"9","producer_timestamp_ms":4}}"#),
            ClientMessage::Checkpoint {
                fragment_number: "9".into(),
                producer_timestamp_ms: 4
            }
        );
        for bad in [
            r#"{"checkpoint": 5}"#,
            "{}",
            r#"{"checkpoint":{},"x":1}"#,
            "nope",
        ] {
            assert!(
                matches!(client_message(bad), ClientMessage::Unreadable(m) if m.starts_with("client message does not parse")),
                "{bad}"
            );
        }
    }
}
