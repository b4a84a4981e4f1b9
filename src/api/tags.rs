//! Tagging, in both KVS families: the stream-specific TagStream / UntagStream /
//! ListTagsForStream (tags as a map) and the generic TagResource / UntagResource /
//! ListTagsForResource (ARN-addressed, tags as a `[{Key, Value}]` list on input).

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::AppState;
use super::error::ApiError;
use super::json::{self, KvsJson};
use super::params::{reject_tag_token, stream_ref};
use crate::error::ErrorKind;
use crate::model::{Invalid, MAX_TAGS_PER_RESOURCE, TagKey, TagValue, Tags};
use crate::store::StreamRef;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tagStream", post(tag_stream))
        .route("/untagStream", post(untag_stream))
        .route("/listTagsForStream", post(list_tags_for_stream))
        .route("/TagResource", post(tag_resource))
        .route("/UntagResource", post(untag_resource))
        .route("/ListTagsForResource", post(list_tags_for_resource))
}

/// The JSON bodies this module's operations read, for [`super::fuzz`].
pub(super) const BODIES: [(&str, super::fuzz::BodyCheck); 6] = [
    ("POST /tagStream", json::parse_only::<TagStreamInput>),
    ("POST /untagStream", json::parse_only::<UntagStreamInput>),
    (
        "POST /listTagsForStream",
        json::parse_only::<ListTagsForStreamInput>,
    ),
    ("POST /TagResource", json::parse_only::<TagResourceInput>),
    (
        "POST /UntagResource",
        json::parse_only::<UntagResourceInput>,
    ),
    (
        "POST /ListTagsForResource",
        json::parse_only::<ListTagsForResourceInput>,
    ),
];

fn too_many(n: usize) -> ApiError {
    ApiError::new(
        ErrorKind::TagsPerResourceExceededLimit,
        format!("{n} tags given; a stream can have at most {MAX_TAGS_PER_RESOURCE}"),
    )
}

/// Validates a `ResourceTags` map (1–50 entries).
pub fn parse_tag_map(map: &BTreeMap<String, String>) -> Result<Tags, ApiError> {
    if map.is_empty() {
        return Err(ApiError::invalid("Tags must hold at least one tag"));
    }
    if map.len() > MAX_TAGS_PER_RESOURCE {
        return Err(too_many(map.len()));
    }
    map.iter()
        .map(|(k, v)| Ok((TagKey::parse(k)?, TagValue::parse(v)?)))
        .collect::<Result<Tags, Invalid>>()
        .map_err(ApiError::from)
}

fn parse_key_list(keys: &[String]) -> Result<Vec<TagKey>, ApiError> {
    if keys.is_empty() || keys.len() > MAX_TAGS_PER_RESOURCE {
        return Err(ApiError::invalid(format!(
            "TagKeyList must hold 1 to {MAX_TAGS_PER_RESOURCE} keys, got {}",
            keys.len()
        )));
    }
    Ok(keys
        .iter()
        .map(|k| TagKey::parse(k))
        .collect::<Result<_, _>>()?)
}

fn render(tags: &Tags) -> Value {
    let map: Map<String, Value> = tags
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), Value::String(v.as_str().to_owned())))
        .collect();
    json!({ "Tags": map })
}

fn resource_ref(arn: &str) -> Result<StreamRef, ApiError> {
    stream_ref(None, Some(arn))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagStreamInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    tags: BTreeMap<String, String>,
}

async fn tag_stream(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<TagStreamInput>,
) -> Result<Json<Value>, ApiError> {
    let r = stream_ref(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    let tags = parse_tag_map(&input.tags)?;
    st.store.tag(&r, tags).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UntagStreamInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    tag_key_list: Vec<String>,
}

async fn untag_stream(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<UntagStreamInput>,
) -> Result<Json<Value>, ApiError> {
    let r = stream_ref(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    let keys = parse_key_list(&input.tag_key_list)?;
    st.store.untag(&r, keys).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListTagsForStreamInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    next_token: Option<String>,
}

async fn list_tags_for_stream(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<ListTagsForStreamInput>,
) -> Result<Json<Value>, ApiError> {
    let r = stream_ref(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    reject_tag_token(input.next_token.as_deref())?;
    Ok(Json(render(&st.store.tags(&r).await?)))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Tag {
    key: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagResourceInput {
    #[serde(rename = "ResourceARN")]
    resource_arn: String,
    tags: Vec<Tag>,
}

async fn tag_resource(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<TagResourceInput>,
) -> Result<Json<Value>, ApiError> {
    let r = resource_ref(&input.resource_arn)?;
    if input.tags.is_empty() {
        return Err(ApiError::invalid("Tags must hold at least one tag"));
    }
    if input.tags.len() > MAX_TAGS_PER_RESOURCE {
        return Err(too_many(input.tags.len()));
    }
    // A key given twice keeps its last value, as a map would.
    let tags = input
        .tags
        .iter()
        .map(|t| Ok((TagKey::parse(&t.key)?, TagValue::parse(&t.value)?)))
        .collect::<Result<Tags, Invalid>>()?;
    st.store.tag(&r, tags).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UntagResourceInput {
    #[serde(rename = "ResourceARN")]
    resource_arn: String,
    tag_key_list: Vec<String>,
}

async fn untag_resource(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<UntagResourceInput>,
) -> Result<Json<Value>, ApiError> {
    let r = resource_ref(&input.resource_arn)?;
    let keys = parse_key_list(&input.tag_key_list)?;
    st.store.untag(&r, keys).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListTagsForResourceInput {
    #[serde(rename = "ResourceARN")]
    resource_arn: String,
    next_token: Option<String>,
}

async fn list_tags_for_resource(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<ListTagsForResourceInput>,
) -> Result<Json<Value>, ApiError> {
    let r = resource_ref(&input.resource_arn)?;
    reject_tag_token(input.next_token.as_deref())?;
    Ok(Json(render(&st.store.tags(&r).await?)))
}
