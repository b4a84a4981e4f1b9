//! Frame-feed consumers over REST (a vidstream extension): list a stream's consumers with their
//! lag behind live, commit a checkpoint, forget a consumer. The WebSocket feed
//! ([`super::feed`]) commits checkpoints too; both commit through
//! [`crate::frames::feed::commit`], and the lag is [`crate::frames::feed::consumer_lags`]'s.
//!
//! - `GET /v1/frames/consumers?StreamName=..` →
//!   `{"Consumers": [{"Consumer", "FragmentNumber", "ProducerTimestamp" (epoch ms of the last
//!   frame processed), "UpdatedAt" (server epoch ms of the commit), "LagMillis", "LagFrames",
//!   "LagFramesExact"}]}`, by name. `LagMillis` is the newest frame's producer timestamp
//!   (the fragment being written, else the end of the last stored one) minus the checkpoint's;
//!   `LagFrames` counts the video frames after the checkpoint, reading at most
//!   [`MAX_LAG_FRAGMENTS`](crate::frames::feed::MAX_LAG_FRAGMENTS) stored fragments
//!   (`LagFramesExact` false when it stopped there: the count is then a lower bound).
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
use super::json::{self, KvsJson};
use super::params::stream_ref;
use crate::error::ErrorKind;
use crate::frames::feed::{commit, consumer_lags, consumer_name};
use crate::model::StreamRecord;
use crate::store::fragment::FragmentNumber;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/frames/consumers", get(list).delete(delete))
        .route("/v1/frames/consumers/checkpoint", post(put))
}

/// The JSON bodies this module's operations read, for [`super::fuzz`].
pub(super) const BODIES: [(&str, super::fuzz::BodyCheck); 1] = [(
    "POST /v1/frames/consumers/checkpoint",
    json::parse_only::<PutInput>,
)];

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

async fn list(
    State(st): State<AppState>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let stream = stream_of(&st, &q).await?;
    let out: Vec<Value> = consumer_lags(&st.media, stream.id)
        .await?
        .into_iter()
        .map(|c| {
            let number = FragmentNumber {
                stream: stream.id,
                seq: c.checkpoint.seq,
            };
            json!({
                "Consumer": c.checkpoint.consumer,
                "FragmentNumber": number.to_string(),
                "ProducerTimestamp": c.checkpoint.producer_ms,
                "UpdatedAt": c.checkpoint.updated_ms,
                "LagMillis": c.millis,
                "LagFrames": c.frames,
                "LagFramesExact": c.exact,
            })
        })
        .collect();
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

/// Refuses a new consumer once the stream has `[limits] max_consumers_per_stream`; a known
/// consumer always passes. Used by the REST checkpoint and the frame feed's connect.
pub(super) async fn check_consumer_quota(
    st: &AppState,
    stream: &StreamRecord,
    consumer: &str,
) -> Result<(), ApiError> {
    let existing = st.store.list_checkpoints(stream.id).await?;
    if existing.len() >= st.limits.max_consumers_per_stream
        && !existing.iter().any(|c| c.consumer == consumer)
    {
        return Err(ApiError::new(
            ErrorKind::ClientLimitExceeded,
            format!(
                "stream `{}` has {} consumers, its limit ([limits] max_consumers_per_stream); delete one first",
                stream.name,
                existing.len()
            ),
        ));
    }
    Ok(())
}

/// 9999-12-31T23:59:59.999Z, epoch ms.
const MAX_EPOCH_MS: i64 = 253_402_300_799_999;

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
    // Epoch ms from 1970 to the year 9999: lag arithmetic on it never overflows.
    if !(0..=MAX_EPOCH_MS).contains(&ms) {
        return Err(ApiError::invalid(format!(
            "ProducerTimestamp {ms} is not an epoch time in milliseconds (0 to {MAX_EPOCH_MS})"
        )));
    }
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
    check_consumer_quota(&st, &stream, &consumer).await?;
    commit(&st.store, stream.id, consumer, number, ms).await?;
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
