//! UpdateImageGenerationConfiguration / DescribeImageGenerationConfiguration (botocore
//! `kinesisvideo` 2017-09-30, `POST /updateImageGenerationConfiguration`,
//! `POST /describeImageGenerationConfiguration`): the per-stream frame hook
//! ([`crate::frames::hook`]).
//!
//! # Differences from KVS
//! - `DestinationConfig.Uri` may also be `file:///dir` (under `[hook] file_root`) or an
//!   `http(s)://` webhook; KVS takes only `s3://`.
//! - Pictures are made for every persisted fragment, not only for fragments the producer tagged
//!   `AWS_KINESISVIDEO_IMAGE_GENERATION`.
//! - Describe adds `DeliveryStatus` (an extension; SDKs ignore unknown members): the hook's
//!   counters since the configuration was last set or the server started:
//!   `{Generated, Delivered, Dropped, Failed, MediaErrors, Queued, LastError}`.
//!
//! # Errors
//! No `ImageGenerationConfiguration` removes it. A given one is validated field by field
//! (`InvalidArgumentException`, KVS bounds: `SamplingInterval` 200–20000 ms, `WidthPixels`
//! 1–3840, `HeightPixels` 1–2160, `JPEGQuality` "1"–"100"); a stream that keeps no media
//! (`DataRetentionInHours` 0) gets `NoDataRetentionException`, since pictures are read back from
//! stored fragments; a stream whose `MediaType` names no `video/` type gets
//! `InvalidArgumentException`.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::json::{self, KvsJson};
use super::params::stream_ref;
use crate::error::ErrorKind;
use crate::frames::hook::ImageGenerationConfig;
use crate::store::index::ImageGenerationRow;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/updateImageGenerationConfiguration", post(update))
        .route("/describeImageGenerationConfiguration", post(describe))
}

/// The JSON bodies this module's operations read, for [`super::fuzz`].
pub(super) const BODIES: [(&str, super::fuzz::BodyCheck); 2] = [
    (
        "POST /updateImageGenerationConfiguration",
        json::parse_only::<UpdateInput>,
    ),
    (
        "POST /describeImageGenerationConfiguration",
        json::parse_only::<DescribeInput>,
    ),
];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    image_generation_configuration: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
}

async fn update(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<UpdateInput>,
) -> Result<Json<Value>, ApiError> {
    let r = stream_ref(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    let config = match input.image_generation_configuration.as_ref() {
        None | Some(Value::Null) => None,
        Some(v) => {
            let c = ImageGenerationConfig::from_kvs(v).map_err(ApiError::invalid)?;
            st.hooks
                .check_destination(&c.uri)
                .await
                .map_err(ApiError::invalid)?;
            Some(c)
        }
    };
    let stream = st.store.resolve(&r).await?;
    if config.is_some() {
        if stream.data_retention_hours == 0 {
            return Err(ApiError::new(
                ErrorKind::NoDataRetention,
                format!(
                    "stream `{}` keeps no media (DataRetentionInHours is 0) and pictures are made from stored fragments; raise its retention with UpdateDataRetention",
                    stream.name
                ),
            ));
        }
        if let Some(mt) = &stream.media_type {
            let mt = mt.to_string();
            if !mt.split(',').any(|t| t.trim().starts_with("video/")) {
                return Err(ApiError::invalid(format!(
                    "stream `{}` has MediaType `{mt}` with no video; image generation needs an H.264 or H.265 video track",
                    stream.name
                )));
            }
        }
    }
    let row = config.as_ref().map(|c| ImageGenerationRow {
        config: c.to_kvs().to_string(),
        updated_ms: st.store.now().millis(),
    });
    st.store.put_image_generation(stream.id, row).await?;
    st.hooks.apply(&stream, config.as_ref()).await;
    tracing::info!(
        stream = %stream.name,
        enabled = config.as_ref().is_some_and(|c| c.enabled),
        "image generation configuration set"
    );
    Ok(Json(json!({})))
}

async fn describe(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<DescribeInput>,
) -> Result<Json<Value>, ApiError> {
    let r = stream_ref(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    let stream = st.store.describe(&r).await?;
    let Some(row) = st.store.image_generation(stream.id).await? else {
        return Ok(Json(json!({})));
    };
    let config: Value = serde_json::from_str(&row.config).map_err(|e| {
        ApiError::new(
            ErrorKind::Internal,
            format!("stored image generation configuration does not parse: {e}"),
        )
    })?;
    let mut out = json!({ "ImageGenerationConfiguration": config });
    if let Some(s) = st.hooks.stats(stream.id) {
        out["DeliveryStatus"] = json!({
            "Generated": s.generated,
            "Delivered": s.delivered,
            "Dropped": s.dropped,
            "Failed": s.failed,
            "MediaErrors": s.media_errors,
            "Queued": s.queued,
            "LastError": s.last_error,
        });
    }
    Ok(Json(out))
}
