//! Archived media's wire: ListFragments and GetMediaForFragmentList (botocore
//! `kinesis-video-archived-media` 2017-09-30); the documents GetMediaForFragmentList sends are
//! [`crate::playback::fragment_list`]'s.
//!
//! ListFragments returns fragments ordered by fragment number (KVS promises no order; ours is
//! stable across pages). A fragment matches a `TimestampRange` when its timestamp of the chosen
//! kind (producer or server; the fragment's start) is within `[StartTimestamp, EndTimestamp]`,
//! both ends inclusive.

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::json::{self, KvsJson};
use super::params::{in_range, stream_ref};
use crate::error::ErrorKind;
use crate::media::ReadError;
use crate::playback::fragment_list;
use crate::store::StreamRef;
use crate::store::fragment::FragmentNumber;
use crate::store::index::{FragmentQuery, TimestampKind};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/listFragments", post(list_fragments))
        .route(
            "/getMediaForFragmentList",
            post(get_media_for_fragment_list),
        )
}

/// The JSON bodies this module's operations read, for [`super::fuzz`].
pub(super) const BODIES: [(&str, super::fuzz::BodyCheck); 2] = [
    ("POST /listFragments", |b| {
        ListRequest::parse(&json::parse_body(b)?).map(drop)
    }),
    (
        "POST /getMediaForFragmentList",
        json::parse_only::<GetMediaForFragmentListInput>,
    ),
];

/// Epoch seconds (a JSON number) → ms.
pub(super) fn epoch_ms(field: &str, v: &Value) -> Result<i64, ApiError> {
    let secs = v.as_f64().ok_or_else(|| {
        ApiError::invalid(format!("{field} must be a timestamp in epoch seconds"))
    })?;
    if !secs.is_finite() || secs.abs() > 1e13 {
        return Err(ApiError::invalid(format!("{field} {secs} is out of range")));
    }
    Ok((secs * 1000.0).round() as i64)
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// `TimestampRange`: both ends required, epoch seconds.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TimestampRange {
    start_timestamp: Value,
    end_timestamp: Value,
}

/// `FragmentSelector` (ListFragments) and `ClipFragmentSelector` (GetClip) share this shape.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct FragmentSelector {
    fragment_selector_type: String,
    timestamp_range: TimestampRange,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListFragmentsInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
    fragment_selector: Option<FragmentSelector>,
}

/// A timestamp kind and an inclusive range in epoch ms; `None` = every fragment.
pub(super) type Range = Option<(TimestampKind, i64, i64)>;

/// Validates a selector: its type and its range (start ≤ end), in epoch ms.
pub(super) fn selector_range(s: &FragmentSelector) -> Result<Range, ApiError> {
    let kind = match s.fragment_selector_type.as_str() {
        "PRODUCER_TIMESTAMP" => TimestampKind::Producer,
        "SERVER_TIMESTAMP" => TimestampKind::Server,
        t => {
            return Err(ApiError::invalid(format!(
                "FragmentSelectorType `{t}` is invalid: use PRODUCER_TIMESTAMP or SERVER_TIMESTAMP"
            )));
        }
    };
    let start = epoch_ms("StartTimestamp", &s.timestamp_range.start_timestamp)?;
    let end = epoch_ms("EndTimestamp", &s.timestamp_range.end_timestamp)?;
    if start > end {
        return Err(ApiError::invalid("StartTimestamp is after EndTimestamp"));
    }
    Ok(Some((kind, start, end)))
}

/// ListFragments' page token: it carries the whole query, so a NextToken alone continues it.
pub(super) fn encode_token(range: Range, after_seq: i64) -> String {
    let text = match range {
        None => format!("v1:all:0:0:{after_seq}"),
        Some((k, a, b)) => {
            let k = match k {
                TimestampKind::Producer => "p",
                TimestampKind::Server => "s",
            };
            format!("v1:{k}:{a}:{b}:{after_seq}")
        }
    };
    STANDARD.encode(text)
}

pub(super) fn decode_token(t: &str) -> Result<(Range, i64), ApiError> {
    let bad = || {
        ApiError::invalid(
            "NextToken was not issued by this server; pass the NextToken of the previous response",
        )
    };
    let text = STANDARD
        .decode(t)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad)?;
    let parts: Vec<&str> = text.split(':').collect();
    let [v, k, a, b, after] = parts.as_slice() else {
        return Err(bad());
    };
    if *v != "v1" {
        return Err(bad());
    }
    let num = |s: &str| s.parse::<i64>().map_err(|_| bad());
    let range = match *k {
        "all" => None,
        "p" => Some((TimestampKind::Producer, num(a)?, num(b)?)),
        "s" => Some((TimestampKind::Server, num(a)?, num(b)?)),
        _ => return Err(bad()),
    };
    Ok((range, num(after)?))
}

/// A ListFragments request, checked: the stream, the page size, the range and where the page
/// starts (after this seq).
struct ListRequest {
    stream: StreamRef,
    limit: usize,
    range: Range,
    after_seq: Option<i64>,
}

impl ListRequest {
    fn parse(input: &ListFragmentsInput) -> Result<ListRequest, ApiError> {
        let stream = stream_ref(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
        let limit = match input.max_results {
            Some(n) => in_range("MaxResults", n, 1, 1000)?,
            None => 1000,
        } as usize;
        let (range, after_seq) = match input.next_token.as_deref() {
            Some(t) if !t.is_empty() => {
                let (range, after) = decode_token(t)?;
                (range, Some(after))
            }
            _ => (
                input
                    .fragment_selector
                    .as_ref()
                    .map(selector_range)
                    .transpose()?
                    .flatten(),
                None,
            ),
        };
        Ok(ListRequest {
            stream,
            limit,
            range,
            after_seq,
        })
    }
}

async fn list_fragments(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<ListFragmentsInput>,
) -> Result<Json<Value>, ApiError> {
    let ListRequest {
        stream: r,
        limit,
        range,
        after_seq,
    } = ListRequest::parse(&input)?;
    let stream = st.store.resolve(&r).await?;
    let mut rows = st
        .store
        .list_fragments(FragmentQuery {
            stream: stream.id,
            range,
            after_seq,
            limit: limit + 1,
        })
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let fragments: Vec<Value> = rows
        .iter()
        .map(|f| {
            json!({
                "FragmentNumber": f.number.to_string(),
                "FragmentSizeInBytes": f.cluster_len,
                "ProducerTimestamp": seconds(f.producer_ms),
                "ServerTimestamp": seconds(f.server_ms),
                "FragmentLengthInMilliseconds": f.duration_ms,
            })
        })
        .collect();
    let mut out = json!({ "Fragments": fragments });
    if more && let Some(last) = rows.last() {
        out["NextToken"] = json!(encode_token(range, last.number.seq));
    }
    Ok(Json(out))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetMediaForFragmentListInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    fragments: Vec<String>,
}

async fn get_media_for_fragment_list(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<GetMediaForFragmentListInput>,
) -> Result<Response, ApiError> {
    let r = stream_ref(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    if input.fragments.is_empty() || input.fragments.len() > 1000 {
        return Err(ApiError::invalid(format!(
            "Fragments must hold 1 to 1000 fragment numbers, got {}",
            input.fragments.len()
        )));
    }
    for f in &input.fragments {
        if f.is_empty() || f.len() > 128 || !f.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::invalid(format!(
                "fragment number `{}` is invalid: use the FragmentNumber ListFragments returned",
                f.chars().take(130).collect::<String>()
            )));
        }
    }
    let stream = st.store.resolve(&r).await?;
    let not_found = |n: &str| {
        ApiError::new(
            ErrorKind::ResourceNotFound,
            format!("fragment {n} not found in stream `{}`", stream.name),
        )
    };
    let mut numbers = Vec::with_capacity(input.fragments.len());
    let mut seen = std::collections::HashSet::with_capacity(input.fragments.len());
    for f in &input.fragments {
        match FragmentNumber::parse(f) {
            // A number listed twice would be sent twice: one small request could ask for the
            // same large fragment a thousand times.
            Some(n) if !seen.insert(n) => {
                return Err(ApiError::invalid(format!(
                    "fragment number {f} is listed more than once in Fragments"
                )));
            }
            Some(n) if n.stream == stream.id => numbers.push(n),
            _ => return Err(not_found(f)),
        }
    }
    let slot = st
        .readers
        .open(stream.id, crate::limits::ReaderKind::FragmentList)
        .map_err(|cap| {
            ApiError::new(
                ErrorKind::ConnectionLimitExceeded,
                format!(
                    "stream `{}` has {cap} GetMediaForFragmentList connections open, its limit ([limits] fragment_list_connections_per_stream)",
                    stream.name
                ),
            )
        })?;
    let list = match fragment_list::find(&st.media, stream.id, &numbers).await {
        Ok(list) => list,
        Err(ReadError::NotFound(n)) => return Err(not_found(&n.to_string())),
        Err(e) => return Err(e.into()),
    };
    // The slot is held by the body: given back when the response ends or the client goes.
    let body = futures_util::StreamExt::map(list.into_body(st.media.clone()), move |chunk| {
        let _held = &slot;
        chunk
    });
    let mut resp = Body::from_stream(body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("video/webm"));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        for range in [
            None,
            Some((TimestampKind::Producer, -5, 10)),
            Some((TimestampKind::Server, 1_700_000_000_000, 1_700_000_100_000)),
        ] {
            let t = encode_token(range, 42);
            let (r, a) = decode_token(&t).unwrap();
            assert_eq!((r, a), (range, 42));
        }
        for bad in [
            "",
            "%%%",
            "djE6eDowOjA6MA==",
            &STANDARD.encode("v1:p:a:b:c"),
        ] {
            assert!(decode_token(bad).is_err(), "{bad}");
        }
    }
}
