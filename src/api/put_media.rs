//! PutMedia (`POST /putMedia`): parameters in headers, an MKV body, a stream of JSON acks back.
//! See `crate::ingest` for the session itself.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::AppState;
use super::error::ApiError;
use super::params::stream_ref;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::json;

use crate::ingest::fragmenter::TimecodeType;
use crate::ingest::{Ack, BodyStream, PutMediaRequest};

pub fn routes() -> Router<AppState> {
    Router::new().route("/putMedia", post(put_media))
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    match h.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim()))
            .map_err(|_| ApiError::invalid(format!("header {name} is not valid text"))),
    }
}

/// `x-amzn-producer-start-timestamp`: epoch seconds, `<sec>.<ms>` or a plain number.
fn parse_start_timestamp(s: &str) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::invalid(format!(
            "x-amzn-producer-start-timestamp `{s}` is invalid: use epoch seconds such as 1700000000.123"
        ))
    };
    let secs: f64 = s.parse().map_err(|_| bad())?;
    if !secs.is_finite() || !(0.0..=253_402_300_799.0).contains(&secs) {
        return Err(bad());
    }
    Ok((secs * 1000.0).round() as i64)
}

/// Reads the PutMedia headers into a timecode type.
pub fn timecode_type(h: &HeaderMap) -> Result<TimecodeType, ApiError> {
    let start = header_str(h, "x-amzn-producer-start-timestamp")?
        .map(parse_start_timestamp)
        .transpose()?;
    match header_str(h, "x-amzn-fragment-timecode-type")? {
        Some(t) if t.eq_ignore_ascii_case("ABSOLUTE") => Ok(TimecodeType::Absolute),
        Some(t) if t.eq_ignore_ascii_case("RELATIVE") => match start {
            Some(start_ms) => Ok(TimecodeType::Relative { start_ms }),
            None => Err(ApiError::invalid(
                "RELATIVE timecodes need the x-amzn-producer-start-timestamp header",
            )),
        },
        Some(t) => Err(ApiError::invalid(format!(
            "x-amzn-fragment-timecode-type `{t}` is invalid: use ABSOLUTE or RELATIVE"
        ))),
        None => Err(ApiError::invalid(
            "missing header x-amzn-fragment-timecode-type: use ABSOLUTE or RELATIVE",
        )),
    }
}

async fn put_media(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let name = header_str(&headers, "x-amzn-stream-name")?;
    let arn = header_str(&headers, "x-amzn-stream-arn")?;
    if name.is_some() && arn.is_some() {
        return Err(ApiError::invalid(
            "give either x-amzn-stream-name or x-amzn-stream-arn, not both",
        ));
    }
    if name.is_none() && arn.is_none() {
        return Err(ApiError::invalid(
            "missing header x-amzn-stream-name (or x-amzn-stream-arn)",
        ));
    }
    let r = stream_ref(name, arn)?;
    let timecode_type = timecode_type(&headers)?;
    let stream = st.store.describe(&r).await?;
    // Polling the body makes hyper answer `Expect: 100-continue`; a producer such as kvssink
    // sends nothing until it sees the 100, so the 200 (whose head would suppress the 100) waits
    // for the first chunk — or for the idle timeout, after which the session handles idleness.
    let mut data = body.into_data_stream();
    let first = tokio::time::timeout(st.ingest.idle_timeout(), data.next()).await;
    let data: BodyStream = match first {
        Ok(Some(chunk)) => Box::pin(futures_util::stream::once(async move { chunk }).chain(data)),
        Ok(None) => Box::pin(futures_util::stream::empty()),
        Err(_) => Box::pin(data),
    };
    let acks = st.ingest.put_media(
        PutMediaRequest {
            stream,
            timecode_type,
        },
        data,
    );
    let lines = acks.map(|a| Ok::<_, std::convert::Infallible>(ack_line(&a)));
    let mut resp = Body::from_stream(lines).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// One ack as KVS streams it: a JSON object on its own line.
fn ack_line(a: &Ack) -> Bytes {
    let (event, timecode_ms, number) = match a {
        Ack::Buffering {
            timecode_ms,
            number,
        } => ("BUFFERING", *timecode_ms, Some(number)),
        Ack::Received {
            timecode_ms,
            number,
        } => ("RECEIVED", *timecode_ms, Some(number)),
        Ack::Persisted {
            timecode_ms,
            number,
        } => ("PERSISTED", *timecode_ms, Some(number)),
        Ack::Idle => {
            return Bytes::from_static(b"{\"EventType\":\"IDLE\"}\n");
        }
        Ack::Error {
            timecode_ms,
            number,
            ..
        } => ("ERROR", *timecode_ms, number.as_ref()),
    };
    let mut v = json!({ "EventType": event, "FragmentTimecode": timecode_ms });
    if let Some(n) = number {
        v["FragmentNumber"] = json!(n.to_string());
    }
    if let Ack::Error { id, .. } = a {
        v["ErrorId"] = json!(id.id());
        v["ErrorCode"] = json!(id.code());
    }
    let mut s = v.to_string();
    s.push('\n');
    Bytes::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn timecode_headers() {
        assert_eq!(
            timecode_type(&headers(&[("x-amzn-fragment-timecode-type", "ABSOLUTE")])).unwrap(),
            TimecodeType::Absolute
        );
        assert_eq!(
            timecode_type(&headers(&[
                ("x-amzn-fragment-timecode-type", "RELATIVE"),
                ("x-amzn-producer-start-timestamp", "1700000000.123"),
            ]))
            .unwrap(),
            TimecodeType::Relative {
                start_ms: 1_700_000_000_123
            }
        );
        for bad in [
            headers(&[]),
            headers(&[("x-amzn-fragment-timecode-type", "SIDEWAYS")]),
            headers(&[("x-amzn-fragment-timecode-type", "RELATIVE")]),
            headers(&[
                ("x-amzn-fragment-timecode-type", "RELATIVE"),
                ("x-amzn-producer-start-timestamp", "yesterday"),
            ]),
            headers(&[
                ("x-amzn-fragment-timecode-type", "ABSOLUTE"),
                ("x-amzn-producer-start-timestamp", "-5"),
            ]),
        ] {
            assert!(timecode_type(&bad).is_err(), "{bad:?}");
        }
    }

    /// Typed acks render as the JSON lines KVS streams.
    #[test]
    fn acks_render_as_kvs_json_lines() {
        let n = crate::store::fragment::FragmentNumber {
            stream: crate::model::StreamId(3),
            seq: 42,
        };
        let parse = |b: Bytes| -> serde_json::Value {
            assert_eq!(b.last(), Some(&b'\n'));
            serde_json::from_slice(&b).unwrap()
        };
        let v = parse(ack_line(&Ack::Persisted {
            timecode_ms: 1500,
            number: n,
        }));
        assert_eq!(
            v,
            json!({"EventType": "PERSISTED", "FragmentTimecode": 1500, "FragmentNumber": n.to_string()})
        );
        let v = parse(ack_line(&Ack::Error {
            timecode_ms: 7,
            number: None,
            id: crate::ingest::error::AckErrorId::MaxFragmentSizeReached,
        }));
        assert_eq!(
            v,
            json!({"EventType": "ERROR", "FragmentTimecode": 7, "ErrorId": 4001, "ErrorCode": "MAX_FRAGMENT_SIZE_REACHED"})
        );
        assert_eq!(parse(ack_line(&Ack::Idle)), json!({"EventType": "IDLE"}));
    }
}
