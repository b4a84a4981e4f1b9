//! GetImages (botocore `kinesis-video-archived-media` 2017-09-30, `POST /getImages`): still
//! images, JPEG or PNG, sampled from a time range of a stream.
//!
//! Which picture answers which time, and what a time without one gets, is
//! [`crate::frames::images`]'s rule; this file is the wire: parameters, pages, JSON.
//!
//! # Parameters
//! `ImageSelectorType`, `StartTimestamp`, `EndTimestamp` (at most 300 s after the start, not
//! before it) and `Format` (`JPEG`|`PNG`) are required. `SamplingInterval` is optional in the
//! model; at least 200 ms (KVS's documented minimum), default [`DEFAULT_INTERVAL_MS`].
//! `FormatConfig` takes only `JPEGQuality` = "1".."100" (default 80). `WidthPixels` 1..=3840 and
//! `HeightPixels` 1..=2160: neither keeps the source size, one keeps the source aspect ratio,
//! both stretch. `MaxResults` 1..=100 is the page size, capped at 25 as KVS does.
//!
//! # Limits
//! Checked before anything is decoded ([`images::ImageBudget`]): a stream whose pictures in
//! the range are larger than `[playback] decode_max_pixels` (default 4096x2304), or a page
//! whose images cost more than `[playback] images_max_request_pixels` (output pixels summed,
//! a PNG pixel counting 8), gets an `InvalidArgumentException` saying what to change.
//!
//! # Pages
//! `NextToken` is the base64 of the next sample time and the request it belongs to; a request
//! with a token must repeat the selector type, range and interval (as boto3's paginator does),
//! else `InvalidArgumentException`.
//!
use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::archived::epoch_ms;
use super::error::ApiError;
use super::json::{self, KvsJson};
use super::params::{in_range, stream_ref};
use crate::error::ErrorKind;
use crate::frames::images::{self, Entry};
use crate::frames::{self, ImageFormat, OutputSpec};
use crate::store::index::TimestampKind;

/// Sampling interval when the request gives none, ms.
pub const DEFAULT_INTERVAL_MS: i64 = 3000;
/// Smallest sampling interval, ms (KVS).
const MIN_INTERVAL_MS: i64 = 200;
/// Longest range, ms (KVS).
const MAX_RANGE_MS: i64 = 300_000;
/// Largest page (KVS).
const MAX_PAGE: i64 = 25;
/// Largest image (KVS `ImageContent` max, base64 characters).
const MAX_IMAGE_BASE64: usize = 6 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new().route("/getImages", post(get_images))
}

/// The JSON bodies this module's operations read, for [`super::fuzz`].
pub(super) const BODIES: [(&str, super::fuzz::BodyCheck); 1] = [("POST /getImages", |b| {
    parse(&json::parse_body(b)?).map(drop)
})];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetImagesInput {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    image_selector_type: Option<String>,
    start_timestamp: Option<Value>,
    end_timestamp: Option<Value>,
    sampling_interval: Option<i64>,
    format: Option<String>,
    format_config: Option<BTreeMap<String, String>>,
    width_pixels: Option<i64>,
    height_pixels: Option<i64>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

/// A validated request.
struct Request {
    kind: TimestampKind,
    start: i64,
    end: i64,
    interval: i64,
    spec: OutputSpec,
    page: i64,
    /// The first sample time of this page.
    first: i64,
}

fn parse(input: &GetImagesInput) -> Result<Request, ApiError> {
    let kind = match input.image_selector_type.as_deref() {
        Some("PRODUCER_TIMESTAMP") => TimestampKind::Producer,
        Some("SERVER_TIMESTAMP") => TimestampKind::Server,
        Some(t) => {
            return Err(ApiError::invalid(format!(
                "ImageSelectorType `{t}` is invalid: use PRODUCER_TIMESTAMP or SERVER_TIMESTAMP"
            )));
        }
        None => return Err(ApiError::invalid("ImageSelectorType is required")),
    };
    let required = |field: &str, v: &Option<Value>| -> Result<i64, ApiError> {
        let v = v
            .as_ref()
            .ok_or_else(|| ApiError::invalid(format!("{field} is required")))?;
        epoch_ms(field, v)
    };
    let start = required("StartTimestamp", &input.start_timestamp)?;
    let end = required("EndTimestamp", &input.end_timestamp)?;
    if end < start {
        return Err(ApiError::invalid("EndTimestamp is before StartTimestamp"));
    }
    if end - start > MAX_RANGE_MS {
        return Err(ApiError::invalid(
            "EndTimestamp is more than 300 seconds after StartTimestamp; ask for a shorter range",
        ));
    }
    let interval = match input.sampling_interval {
        None => DEFAULT_INTERVAL_MS,
        Some(v) => in_range("SamplingInterval", v, MIN_INTERVAL_MS, i64::from(i32::MAX))?,
    };
    let format = match input.format.as_deref() {
        Some("JPEG") => ImageFormat::Jpeg {
            quality: jpeg_quality(input.format_config.as_ref())?,
        },
        Some("PNG") => {
            jpeg_quality(input.format_config.as_ref())?;
            ImageFormat::Png
        }
        Some(f) => {
            return Err(ApiError::invalid(format!(
                "Format `{f}` is invalid: use JPEG or PNG"
            )));
        }
        None => return Err(ApiError::invalid("Format is required: JPEG or PNG")),
    };
    let dim = |field: &str, v: Option<i64>, max: i64| -> Result<Option<u32>, ApiError> {
        v.map(|v| in_range(field, v, 1, max).map(|v| v as u32))
            .transpose()
            .map_err(ApiError::from)
    };
    let spec = OutputSpec {
        format,
        width: dim("WidthPixels", input.width_pixels, 3840)?,
        height: dim("HeightPixels", input.height_pixels, 2160)?,
    };
    let page = match input.max_results {
        None => MAX_PAGE,
        Some(v) => in_range("MaxResults", v, 1, 100)?.min(MAX_PAGE),
    };
    let mut req = Request {
        kind,
        start,
        end,
        interval,
        spec,
        page,
        first: start,
    };
    if let Some(t) = input.next_token.as_deref().filter(|t| !t.is_empty()) {
        req.first = decode_token(t, &req)?;
    }
    Ok(req)
}

/// `FormatConfig`: see [`frames::jpeg_quality`].
fn jpeg_quality(config: Option<&BTreeMap<String, String>>) -> Result<u8, ApiError> {
    frames::jpeg_quality(config).map_err(ApiError::invalid)
}

fn kind_tag(kind: TimestampKind) -> &'static str {
    match kind {
        TimestampKind::Producer => "p",
        TimestampKind::Server => "s",
    }
}

fn encode_token(req: &Request, next: i64) -> String {
    let k = kind_tag(req.kind);
    STANDARD.encode(format!(
        "img1:{k}:{}:{}:{}:{next}",
        req.start, req.end, req.interval
    ))
}

/// The next sample time a token carries, if it belongs to `req`'s query.
fn decode_token(t: &str, req: &Request) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::invalid(
            "NextToken was not issued by this server for this request; repeat the request of the previous page with its NextToken",
        )
    };
    if t.len() > 512 {
        return Err(bad());
    }
    let text = STANDARD
        .decode(t)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad)?;
    let want = format!(
        "img1:{}:{}:{}:{}:",
        kind_tag(req.kind),
        req.start,
        req.end,
        req.interval
    );
    let next: i64 = text
        .strip_prefix(&want)
        .and_then(|n| n.parse().ok())
        .ok_or_else(bad)?;
    if next < req.start || next > req.end || (next - req.start) % req.interval != 0 {
        return Err(bad());
    }
    Ok(next)
}

/// The sample times of the page, and the first time of the next page if any.
fn page_times(req: &Request) -> (Vec<i64>, Option<i64>) {
    let mut times = Vec::new();
    let mut t = req.first;
    while t <= req.end && (times.len() as i64) < req.page {
        times.push(t);
        t += req.interval;
    }
    (times, (t <= req.end).then_some(t))
}

async fn get_images(
    State(st): State<AppState>,
    KvsJson(input): KvsJson<GetImagesInput>,
) -> Result<Json<Value>, ApiError> {
    let r = stream_ref(input.stream_name.as_deref(), input.stream_arn.as_deref())?;
    let req = parse(&input)?;
    let stream = st.store.resolve(&r).await?;
    if stream.data_retention_hours == 0 {
        return Err(ApiError::new(
            ErrorKind::NoDataRetention,
            format!(
                "stream `{}` keeps no media (DataRetentionInHours is 0); raise its retention with UpdateDataRetention to get images",
                stream.name
            ),
        ));
    }
    let (times, next) = page_times(&req);
    let started = std::time::Instant::now();
    let budget = images::ImageBudget {
        max_pixels: st.playback.decode_max_pixels,
        max_request_cost: st.playback.images_max_request_pixels,
    };
    let entries = images::images_at(&st.media, stream.id, req.kind, &req.spec, &times, &budget)
        .await
        .map_err(|e| match e {
            images::ImagesError::Read(e) => ApiError::from(e),
            refused => ApiError::invalid(refused.to_string()),
        })?;
    tracing::info!(
        stream = %stream.name,
        images = times.len(),
        ms = started.elapsed().as_millis() as u64,
        "images made"
    );
    let images: Vec<Value> = times
        .iter()
        .zip(entries)
        .map(|(&t, e)| {
            let ts = t as f64 / 1000.0;
            match e {
                Entry::Image(bytes) => {
                    let content = STANDARD.encode(bytes);
                    if content.len() > MAX_IMAGE_BASE64 {
                        json!({"TimeStamp": ts, "Error": "MEDIA_ERROR"})
                    } else {
                        json!({"TimeStamp": ts, "ImageContent": content})
                    }
                }
                Entry::NoMedia => {
                    json!({"TimeStamp": ts, "Error": "NO_MEDIA"})
                }
                Entry::MediaError => json!({"TimeStamp": ts, "Error": "MEDIA_ERROR"}),
            }
        })
        .collect();
    let mut body = json!({ "Images": images });
    if let Some(n) = next {
        body["NextToken"] = json!(encode_token(&req, n));
    }
    Ok(Json(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(first: i64) -> Request {
        Request {
            kind: TimestampKind::Producer,
            start: 1000,
            end: 2000,
            interval: 300,
            spec: OutputSpec {
                format: ImageFormat::Png,
                width: None,
                height: None,
            },
            page: 2,
            first,
        }
    }

    #[test]
    fn pages_and_tokens() {
        let r = request(1000);
        assert_eq!(page_times(&r), (vec![1000, 1300], Some(1600)));
        assert_eq!(page_times(&request(1600)), (vec![1600, 1900], None));
        let t = encode_token(&r, 1600);
        assert_eq!(decode_token(&t, &r).unwrap(), 1600);
        let mut other = request(1000);
        other.end = 3000;
        assert!(decode_token(&t, &other).is_err(), "token of another range");
        for bad in ["", "!!", &STANDARD.encode("img1:p:1000:2000:300:1601")] {
            assert!(decode_token(bad, &r).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn jpeg_quality_config() {
        let m = |k: &str, v: &str| BTreeMap::from([(k.to_owned(), v.to_owned())]);
        assert_eq!(jpeg_quality(None).unwrap(), 80);
        assert_eq!(jpeg_quality(Some(&m("JPEGQuality", "1"))).unwrap(), 1);
        assert_eq!(jpeg_quality(Some(&m("JPEGQuality", "100"))).unwrap(), 100);
        for (k, v) in [
            ("JPEGQuality", "0"),
            ("JPEGQuality", "101"),
            ("JPEGQuality", "x"),
            ("Other", "5"),
        ] {
            assert!(jpeg_quality(Some(&m(k, v))).is_err(), "{k}={v}");
        }
    }
}
