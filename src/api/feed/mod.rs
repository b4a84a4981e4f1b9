//! The WebSocket frame feed (a vidstream extension, not part of KVS): decoded pictures of a
//! stream pushed to an ML consumer as they arrive, from a start point in the past or now, with
//! consumer checkpoints (the Kinesis Client Library's idea) so a consumer that reconnects
//! resumes exactly after the last frame it processed.
//!
//! # Subscribing
//! `GET /v1/frames/feed?StreamName=..` (or `StreamARN`) upgraded to a WebSocket, with:
//! - `SamplingInterval` ms, 1..=3600000, default 1000: which frames, see [`sampler`] (the first
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
//! Sending awaits the socket. History (anything already stored when the feed reaches it) is
//! read at the client's pace: nothing is dropped. Live frames are decoded as they arrive; if the
//! client is slower than the sampling rate, samples that became due while the previous one was
//! being decoded or sent are skipped — only the newest goes out — and the next frame message
//! says how many were skipped in `dropped`. A feed that falls more than the live bus's buffer
//! behind resumes from the store (skipped samples of that stretch also count as dropped). A
//! consumer that must see every sample reconnects with `Start=CHECKPOINT`, which replays from
//! the store without drops.

mod sampler;
mod session;

use std::collections::HashMap;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;

use super::AppState;
use super::error::ApiError;
use super::params::{in_range, stream_ref};
use crate::error::ErrorKind;
use crate::frames::{ImageFormat, OutputSpec};
use crate::media;
use crate::model::StreamRecord;
use crate::store::index::TimestampKind;

pub use sampler::Sampler;

/// Default sampling interval, ms.
const DEFAULT_INTERVAL_MS: i64 = 1000;
/// Longest sampling interval, ms.
const MAX_INTERVAL_MS: i64 = 3_600_000;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/frames/feed", get(feed))
}

/// Where a feed starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Now,
    Earliest,
    At(i64),
    Checkpoint,
}

/// A validated subscription.
#[derive(Debug, Clone)]
struct Params {
    interval: i64,
    spec: OutputSpec,
    start: Start,
    end: Option<i64>,
    consumer: Option<String>,
}

/// A consumer name: `[a-zA-Z0-9_.-]{1,256}`.
pub(super) fn consumer_name(v: &str) -> Result<String, ApiError> {
    if v.is_empty()
        || v.len() > 256
        || !v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return Err(ApiError::invalid(format!(
            "Consumer `{}` is invalid: use 1 to 256 of a-z, A-Z, 0-9, `_`, `.`, `-`",
            v.chars().take(64).collect::<String>()
        )));
    }
    Ok(v.to_owned())
}

fn int(field: &str, v: &str) -> Result<i64, ApiError> {
    v.parse::<i64>()
        .map_err(|_| ApiError::invalid(format!("{field} `{v}` is not an integer")))
}

fn parse(q: &HashMap<String, String>) -> Result<Params, ApiError> {
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
    Ok(Params {
        interval,
        spec,
        start,
        end,
        consumer,
    })
}

/// Where the session begins: the sampler, and the seq after which fragments are read.
async fn plan_start(
    st: &AppState,
    stream: &StreamRecord,
    p: &Params,
) -> Result<(Sampler, Option<i64>), ApiError> {
    Ok(match p.start {
        // Resolved against the live bus when the session subscribes.
        Start::Now => (Sampler::new(p.interval, i64::MIN), None),
        Start::Earliest => (Sampler::new(p.interval, i64::MIN), Some(i64::MIN)),
        Start::Checkpoint => {
            let name = p.consumer.as_deref().unwrap_or_default();
            let cp = st.store.checkpoint(stream.id, name).await?.ok_or_else(|| {
                ApiError::new(
                    ErrorKind::ResourceNotFound,
                    format!(
                        "consumer `{name}` has no checkpoint on stream `{}`; start with NOW, EARLIEST or a timestamp and commit one",
                        stream.name
                    ),
                )
            })?;
            (
                Sampler::resume(p.interval, cp.seq, cp.producer_ms),
                Some(cp.seq.saturating_sub(1)),
            )
        }
        Start::At(t) => {
            // From the last fragment starting at or before `t` (it may hold `t`), else the
            // first one after it.
            let media = &st.media;
            let first = match media
                .latest_starting_by(stream.id, TimestampKind::Producer, t)
                .await?
            {
                Some(f) => Some(f),
                None => {
                    media
                        .first_starting_from(stream.id, TimestampKind::Producer, t)
                        .await?
                }
            };
            let from = first.map_or(i64::MIN, |f| f.number.seq.saturating_sub(1));
            if let Some(end) = p.end {
                check_range_has_media(st, stream, t, end).await?;
            }
            (Sampler::new(p.interval, t), Some(from))
        }
    })
}

/// `[start, end]` entirely in the past (the stream has media after `end`) and without a stored
/// fragment in it: nothing would ever be sent.
async fn check_range_has_media(
    st: &AppState,
    stream: &StreamRecord,
    start: i64,
    end: i64,
) -> Result<(), ApiError> {
    let Some(last) = st.store.last_fragment(stream.id).await? else {
        return Ok(());
    };
    if last.producer_ms <= end {
        return Ok(()); // the range reaches the live edge: media may still come
    }
    let inside = st
        .media
        .timeline(stream.id, TimestampKind::Producer, start, end, None)
        .await?;
    if inside
        .iter()
        .any(|f| f.producer_ms.saturating_add(f.duration_ms.max(1)) > start)
    {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorKind::ResourceNotFound,
        format!(
            "stream `{}` has no media between {start} and {end} (producer epoch ms); pick a range ListFragments shows",
            stream.name
        ),
    ))
}

/// Refuses streams whose latest media has no H.264/H.265 video track.
async fn check_video(st: &AppState, stream: &StreamRecord) -> Result<(), ApiError> {
    let Some(last) = st.store.last_fragment(stream.id).await? else {
        return Ok(()); // nothing yet: the producer may send video
    };
    let tracks = st.media.tracks(last.track_header_id).await?;
    if media::video_track(&tracks).is_none() {
        return Err(ApiError::new(
            ErrorKind::UnsupportedStreamMediaType,
            format!(
                "stream `{}` carries no H.264 or H.265 video track; the frame feed decodes video only",
                stream.name
            ),
        ));
    }
    Ok(())
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
    let p = parse(&q)?;
    let stream = st.store.resolve(&r).await?;
    check_video(&st, &stream).await?;
    let (sampler, from) = plan_start(&st, &stream, &p).await?;
    let upgrade = upgrade.map_err(|e| {
        ApiError::invalid(format!(
            "the frame feed is a WebSocket: connect with a WebSocket client ({e})"
        ))
    })?;
    let session = session::Session::new(st, stream, p, sampler, from);
    Ok(upgrade
        .max_message_size(64 * 1024)
        .on_upgrade(move |ws| session.run(ws)))
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
}
