//! Control-plane stream operations: CreateStream, DescribeStream, ListStreams, UpdateStream,
//! UpdateDataRetention, DeleteStream and GetDataEndpoint (botocore `kinesisvideo` 2017-09-30).

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::json::{self, KvsJson};
use super::params::{decode_list_token, encode_list_token, in_range, stream_ref, version};
use super::tags::parse_tag_map;
use crate::error::ErrorKind;
use crate::model::{
    DeviceName, Invalid, KmsKeyId, MAX_RETENTION_HOURS, MediaType, StorageTier, StreamName,
    StreamRecord,
};
use crate::store::{CreateStream, RetentionChange};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/createStream", post(create_stream))
        .route("/describeStream", post(describe_stream))
        .route("/listStreams", post(list_streams))
        .route("/updateStream", post(update_stream))
        .route("/updateDataRetention", post(update_data_retention))
        .route("/deleteStream", post(delete_stream))
        .route("/getDataEndpoint", post(get_data_endpoint))
        .route(
            "/describeStreamStorageConfiguration",
            post(describe_storage_configuration),
        )
        .route(
            "/updateStreamStorageConfiguration",
            post(update_storage_configuration),
        )
}

/// The JSON bodies this module's operations read, for [`super::fuzz`].
pub(super) const BODIES: [(&str, super::fuzz::BodyCheck); 9] = [
    ("POST /createStream", json::parse_only::<CreateStreamInput>),
    ("POST /describeStream", json::parse_only::<StreamRefInput>),
    ("POST /listStreams", json::parse_only::<ListStreamsInput>),
    ("POST /updateStream", json::parse_only::<UpdateStreamInput>),
    (
        "POST /updateDataRetention",
        json::parse_only::<UpdateDataRetentionInput>,
    ),
    ("POST /deleteStream", json::parse_only::<DeleteStreamInput>),
    (
        "POST /getDataEndpoint",
        json::parse_only::<GetDataEndpointInput>,
    ),
    (
        "POST /describeStreamStorageConfiguration",
        json::parse_only::<StreamRefInput>,
    ),
    (
        "POST /updateStreamStorageConfiguration",
        json::parse_only::<UpdateStorageConfigurationInput>,
    ),
];

/// `StreamInfo` as botocore models it; timestamps are epoch seconds.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StreamInfo<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    device_name: Option<&'a str>,
    stream_name: &'a str,
    #[serde(rename = "StreamARN")]
    stream_arn: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    media_type: Option<&'a str>,
    kms_key_id: &'a str,
    version: &'a str,
    status: &'static str,
    creation_time: f64,
    data_retention_in_hours: u32,
    stream_storage_configuration: Value,
}

impl<'a> From<&'a StreamRecord> for StreamInfo<'a> {
    fn from(s: &'a StreamRecord) -> Self {
        StreamInfo {
            device_name: s.device_name.as_ref().map(|d| d.as_str()),
            stream_name: s.name.as_str(),
            stream_arn: &s.arn,
            media_type: s.media_type.as_ref().map(|m| m.as_str()),
            kms_key_id: s.kms_key_id.as_str(),
            version: s.version.as_str(),
            status: s.status.as_str(),
            creation_time: s.creation_time.as_epoch_seconds(),
            data_retention_in_hours: s.data_retention_hours,
            stream_storage_configuration: json!({ "DefaultStorageTier": s.storage_tier.as_str() }),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StorageConfiguration {
    default_storage_tier: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateStreamInput {
    stream_name: String,
    device_name: Option<String>,
    media_type: Option<String>,
    kms_key_id: Option<String>,
    data_retention_in_hours: Option<i64>,
    tags: Option<BTreeMap<String, String>>,
    stream_storage_configuration: Option<StorageConfiguration>,
}

fn retention_hours(field: &str, v: i64, min: i64) -> Result<u32, Invalid> {
    let v = in_range(field, v, min, i64::from(MAX_RETENTION_HOURS))?;
    Ok(u32::try_from(v).unwrap_or(MAX_RETENTION_HOURS))
}

async fn create_stream(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<CreateStreamInput>,
) -> Result<Json<Value>, ApiError> {
    let req = CreateStream {
        name: StreamName::parse(&input.stream_name)?,
        device_name: input
            .device_name
            .as_deref()
            .map(DeviceName::parse)
            .transpose()?,
        media_type: input
            .media_type
            .as_deref()
            .map(MediaType::parse)
            .transpose()?,
        kms_key_id: input
            .kms_key_id
            .as_deref()
            .map(KmsKeyId::parse)
            .transpose()?,
        data_retention_hours: input
            .data_retention_in_hours
            .map(|h| retention_hours("DataRetentionInHours", h, 0))
            .transpose()?
            .unwrap_or(0),
        tags: input
            .tags
            .as_ref()
            .map(parse_tag_map)
            .transpose()?
            .unwrap_or_default(),
        storage_tier: input
            .stream_storage_configuration
            .map(|c| StorageTier::parse(&c.default_storage_tier))
            .transpose()?
            .unwrap_or_default(),
    };
    // A quota, checked before the insert (concurrent creates may pass it by a few).
    if st.store.count_streams().await? >= st.limits.max_streams {
        return Err(ApiError::new(
            ErrorKind::AccountStreamLimitExceeded,
            format!(
                "this server holds its maximum of {} streams ([limits] max_streams); delete one first",
                st.limits.max_streams
            ),
        ));
    }
    let rec = st.store.create_stream(req).await?;
    Ok(Json(json!({ "StreamARN": rec.arn })))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StreamRefInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
}

async fn describe_stream(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<StreamRefInput>,
) -> Result<Json<Value>, ApiError> {
    let r = stream_ref(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    let rec = st.store.describe(&r).await?;
    Ok(Json(json!({ "StreamInfo": StreamInfo::from(&rec) })))
}

/// DescribeStreamStorageConfiguration: the stream's default storage tier (HOT: local disk,
/// moving to object storage after `[store] hot_tier_secs`; WARM: object storage once sealed).
async fn describe_storage_configuration(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<StreamRefInput>,
) -> Result<Json<Value>, ApiError> {
    let r = stream_ref(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    let rec = st.store.describe(&r).await?;
    Ok(Json(json!({
        "StreamName": rec.name.as_str(),
        "StreamARN": rec.arn.to_string(),
        "StreamStorageConfiguration": { "DefaultStorageTier": rec.storage_tier.as_str() },
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateStorageConfigurationInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    current_version: String,
    stream_storage_configuration: StorageConfiguration,
}

/// UpdateStreamStorageConfiguration: the tier new segments follow; a compare-and-swap on
/// `CurrentVersion` as KVS does.
async fn update_storage_configuration(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<UpdateStorageConfigurationInput>,
) -> Result<Json<Value>, ApiError> {
    let r = stream_ref(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    let v = version(&input.current_version)?;
    let tier = StorageTier::parse(&input.stream_storage_configuration.default_storage_tier)?;
    st.store.update_storage_tier(&r, &v, tier).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NameCondition {
    comparison_operator: Option<String>,
    comparison_value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListStreamsInput {
    max_results: Option<i64>,
    next_token: Option<String>,
    stream_name_condition: Option<NameCondition>,
}

/// ListStreams' page size when MaxResults is absent (the model's maximum).
const LIST_STREAMS_MAX: i64 = 10_000;

async fn list_streams(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<ListStreamsInput>,
) -> Result<Json<Value>, ApiError> {
    let limit = match input.max_results {
        Some(n) => in_range("MaxResults", n, 1, LIST_STREAMS_MAX)?,
        None => LIST_STREAMS_MAX,
    } as usize;
    let after = match input.next_token.as_deref() {
        None | Some("") => None,
        Some(t) => Some(decode_list_token(t)?),
    };
    let prefix = match input.stream_name_condition {
        None => None,
        Some(c) => {
            match c.comparison_operator.as_deref() {
                None | Some("BEGINS_WITH") => {}
                Some(op) => {
                    return Err(ApiError::invalid(format!(
                        "ComparisonOperator `{op}` is not supported; use BEGINS_WITH"
                    )));
                }
            }
            c.comparison_value
                .as_deref()
                .map(StreamName::parse)
                .transpose()?
        }
    };
    // One extra row tells whether another page exists.
    let mut rows = st
        .store
        .list_streams(
            prefix.as_ref().map(|p| p.as_str()),
            after.as_ref().map(|a| a.as_str()),
            limit + 1,
        )
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let infos: Vec<StreamInfo<'_>> = rows.iter().map(StreamInfo::from).collect();
    let mut out = json!({ "StreamInfoList": infos });
    if more && let Some(last) = rows.last() {
        out["NextToken"] = Value::String(encode_list_token(&last.name));
    }
    Ok(Json(out))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateStreamInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    current_version: String,
    device_name: Option<String>,
    media_type: Option<String>,
}

async fn update_stream(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<UpdateStreamInput>,
) -> Result<Json<Value>, ApiError> {
    let r = stream_ref(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    let v = version(&input.current_version)?;
    let device = input
        .device_name
        .as_deref()
        .map(DeviceName::parse)
        .transpose()?;
    let media = input
        .media_type
        .as_deref()
        .map(MediaType::parse)
        .transpose()?;
    st.store.update_stream(&r, &v, device, media).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateDataRetentionInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    current_version: String,
    operation: String,
    data_retention_change_in_hours: i64,
}

async fn update_data_retention(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<UpdateDataRetentionInput>,
) -> Result<Json<Value>, ApiError> {
    let r = stream_ref(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    let v = version(&input.current_version)?;
    let hours = retention_hours(
        "DataRetentionChangeInHours",
        input.data_retention_change_in_hours,
        1,
    )?;
    let change = match input.operation.as_str() {
        "INCREASE_DATA_RETENTION" => RetentionChange::Increase(hours),
        "DECREASE_DATA_RETENTION" => RetentionChange::Decrease(hours),
        op => {
            return Err(ApiError::invalid(format!(
                "Operation `{op}` is invalid; use INCREASE_DATA_RETENTION or DECREASE_DATA_RETENTION"
            )));
        }
    };
    st.store.update_retention(&r, &v, change).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteStreamInput {
    #[serde(rename = "StreamARN")]
    stream_arn: String,
    current_version: Option<String>,
}

async fn delete_stream(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<DeleteStreamInput>,
) -> Result<Json<Value>, ApiError> {
    let r = stream_ref(None, Some(&input.stream_arn))?;
    let v = input.current_version.as_deref().map(version).transpose()?;
    let id = st.store.delete_stream(&r, v.as_ref()).await?;
    // Live readers of the stream end now; its buffered fragments are freed.
    st.live.remove(id);
    Ok(Json(json!({})))
}

/// The APIName values of GetDataEndpoint. All are served by this process on one port.
const API_NAMES: &[&str] = &[
    "PUT_MEDIA",
    "GET_MEDIA",
    "LIST_FRAGMENTS",
    "GET_MEDIA_FOR_FRAGMENT_LIST",
    "GET_HLS_STREAMING_SESSION_URL",
    "GET_DASH_STREAMING_SESSION_URL",
    "GET_CLIP",
    "GET_IMAGES",
];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetDataEndpointInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    #[serde(rename = "APIName")]
    api_name: String,
}

async fn get_data_endpoint(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<GetDataEndpointInput>,
) -> Result<Json<Value>, ApiError> {
    if !API_NAMES.contains(&input.api_name.as_str()) {
        return Err(ApiError::invalid(format!(
            "APIName `{}` is invalid; use one of {}",
            input.api_name,
            API_NAMES.join(", ")
        )));
    }
    let r = stream_ref(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    st.store.resolve(&r).await?;
    Ok(Json(json!({ "DataEndpoint": st.public_url })))
}
