//! Frame-feed consumers over REST (a vidstream extension): list a stream's consumers with their
//! lag behind live, commit a checkpoint, forget a consumer. The WebSocket feed
//! ([`super::feed`]) commits checkpoints too; both write the same index rows.
//!
//! - `GET /v1/frames/consumers?StreamName=..` →
//!   `{"Consumers": [{"Consumer", "FragmentNumber", "ProducerTimestamp" (epoch ms of the last
//!   frame processed), "UpdatedAt" (server epoch ms of the commit), "LagMillis", "LagFrames",
//!   "LagFramesExact"}]}`, by name. `LagMillis` is the newest frame's producer timestamp
//!   (the fragment being written, else the end of the last stored one) minus the checkpoint's;
//!   `LagFrames` counts the video frames after the checkpoint, reading at most
//!   [`MAX_LAG_FRAGMENTS`] stored fragments (`LagFramesExact` false when it stopped there: the
//!   count is then a lower bound).
//! - `POST /v1/frames/consumers/checkpoint` with `{"StreamName", "Consumer", "FragmentNumber",
//!   "ProducerTimestamp"}` (epoch ms) → `{}`.
//! - `DELETE /v1/frames/consumers?StreamName=..&Consumer=..` → `{}`;
//!   `ResourceNotFoundException` if the consumer has no checkpoint.

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::feed::consumer_name;
use super::json::KvsJson;
use super::params::stream_ref;
use crate::error::ErrorKind;
use crate::media;
use crate::model::StreamRecord;
use crate::store::fragment::FragmentNumber;
use crate::store::index::Checkpoint;

/// Stored fragments read to count one consumer's frame lag.
pub const MAX_LAG_FRAGMENTS: usize = 64;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/frames/consumers", get(list).delete(delete))
        .route("/v1/frames/consumers/checkpoint", post(put))
}

async fn stream_of(st: &AppState, q: &HashMap<String, String>) -> Result<StreamRecord, ApiError> {
    let r = stream_ref(
        q.get("StreamName").map(String::as_str),
        q.get("StreamARN").map(String::as_str),
    )?;
    Ok(st.store.resolve(&r).await?)
}

fn query(
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::invalid(format!("the query string does not parse: {e}")))
}

/// The newest producer time of the stream's media, epoch ms.
async fn live_edge(st: &AppState, stream: &StreamRecord) -> Result<Option<i64>, ApiError> {
    let snapshot = st.live.subscribe(stream.id).snapshot;
    let buffered = snapshot
        .iter()
        .flat_map(|b| {
            b.frames
                .iter()
                .map(|f| b.start.producer_ms + i64::from(f.rel_ms))
        })
        .max();
    let stored = st
        .store
        .last_fragment(stream.id)
        .await?
        .map(|f| f.producer_ms + f.duration_ms);
    Ok(buffered.max(stored))
}

/// Video frames after the checkpoint: (count, exact).
async fn frames_after(st: &AppState, cp: &Checkpoint) -> Result<(u64, bool), ApiError> {
    let after = |seq: i64, s: &media::Sample| (seq, s.pts_ms) > (cp.seq, cp.producer_ms);
    let mut n = 0u64;
    let page = st
        .media
        .pages(cp.stream, None, Some(cp.seq - 1), MAX_LAG_FRAGMENTS + 1)
        .next()
        .await?
        .unwrap_or_default();
    let exact = page.len() <= MAX_LAG_FRAGMENTS;
    let mut last_seq = cp.seq - 1;
    let _hold = st.store.hold_segments(&page);
    for rec in page.iter().take(MAX_LAG_FRAGMENTS) {
        last_seq = rec.number.seq;
        let Ok(loaded) = st.media.load(rec).await else {
            continue; // a damaged fragment counts no frames
        };
        if let Some((_, video)) = loaded.video() {
            n += video.iter().filter(|s| after(rec.number.seq, s)).count() as u64;
        }
    }
    if exact {
        // Fragments not stored yet.
        for b in st.live.subscribe(cp.stream).snapshot {
            if b.start.number.seq <= last_seq {
                continue;
            }
            let Ok((tracks, samples)) = media::live_samples(&b) else {
                continue;
            };
            let Some((track, _)) = media::video_track(&tracks) else {
                continue;
            };
            n += samples
                .iter()
                .filter(|s| s.track == track && after(b.start.number.seq, s))
                .count() as u64;
        }
    }
    Ok((n, exact))
}

async fn list(
    State(st): State<AppState>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let stream = stream_of(&st, &q).await?;
    let edge = live_edge(&st, &stream).await?;
    let mut out = Vec::new();
    for cp in st.store.list_checkpoints(stream.id).await? {
        let (frames, exact) = frames_after(&st, &cp).await?;
        let number = FragmentNumber {
            stream: stream.id,
            seq: cp.seq,
        };
        out.push(json!({
            "Consumer": cp.consumer,
            "FragmentNumber": number.to_string(),
            "ProducerTimestamp": cp.producer_ms,
            "UpdatedAt": cp.updated_ms,
            "LagMillis": edge.map_or(0, |e| (e - cp.producer_ms).max(0)),
            "LagFrames": frames,
            "LagFramesExact": exact,
        }));
    }
    Ok(Json(json!({ "Consumers": out })))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct PutInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    consumer: Option<String>,
    fragment_number: Option<String>,
    producer_timestamp: Option<i64>,
}

async fn put(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<PutInput>,
) -> Result<Json<Value>, ApiError> {
    let r = stream_ref(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    let consumer = consumer_name(
        input
            .consumer
            .as_deref()
            .ok_or_else(|| ApiError::invalid("Consumer is required"))?,
    )?;
    let text = input
        .fragment_number
        .ok_or_else(|| ApiError::invalid("FragmentNumber is required"))?;
    let ms = input
        .producer_timestamp
        .ok_or_else(|| ApiError::invalid("ProducerTimestamp (epoch ms) is required"))?;
    let stream = st.store.resolve(&r).await?;
    let number = FragmentNumber::parse(&text)
        .filter(|n| n.stream == stream.id)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "FragmentNumber `{}` is not a fragment number of stream `{}`",
                text.chars().take(64).collect::<String>(),
                stream.name
            ))
        })?;
    st.store
        .put_checkpoint(Checkpoint {
            stream: stream.id,
            consumer,
            seq: number.seq,
            producer_ms: ms,
            updated_ms: st.store.now().millis(),
        })
        .await?;
    Ok(Json(json!({})))
}

async fn delete(
    State(st): State<AppState>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let consumer = consumer_name(
        q.get("Consumer")
            .ok_or_else(|| ApiError::invalid("Consumer is required"))?,
    )?;
    let stream = stream_of(&st, &q).await?;
    if !st.store.delete_checkpoint(stream.id, &consumer).await? {
        return Err(ApiError::new(
            ErrorKind::ResourceNotFound,
            format!(
                "consumer `{consumer}` has no checkpoint on stream `{}`",
                stream.name
            ),
        ));
    }
    Ok(Json(json!({})))
}
