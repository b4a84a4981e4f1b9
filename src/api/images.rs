//! GetImages (botocore `kinesis-video-archived-media` 2017-09-30, `POST /getImages`): still
//! images, JPEG or PNG, sampled from a time range of a stream.
//!
//! # Which picture for which time
//! Sample times are `T = StartTimestamp, StartTimestamp + SamplingInterval, …` up to and
//! including `EndTimestamp`. The image for `T` is the frame *shown* at `T`: the last frame with a
//! presentation timestamp ≤ `T` in the fragment covering `T` (the last fragment starting at or
//! before `T` that lasts past it; equal start timestamps keep the highest fragment number, as
//! ListFragments selection does), as long as that frame is still on screen (its pts + duration
//! is past `T`); a `T` just before a fragment's first frame (fragment timestamps can precede
//! the first frame by a millisecond) shows the previous contiguous fragment's last frame. It
//! is decoded from the fragment's keyframe. This is exact to
//! the frame, where KVS works per fragment and answers `NO_MEDIA` for a time inside a fragment
//! it skipped (KVS-API.md §1.4).
//! - A `T` that no fragment covers (before the stream, in a gap, after it) gives an image entry
//!   with `Error: NO_MEDIA`.
//! - A covering fragment without H.264/H.265 video, or whose picture cannot be decoded or is
//!   larger than 6 MiB, gives `Error: MEDIA_ERROR` (botocore documents MEDIA_ERROR for
//!   "audio only, or the incorrect media"; GetImages models no
//!   `UnsupportedStreamMediaTypeException`).
//! - `SERVER_TIMESTAMP`: `T` selects the fragment by server timestamps, then moves to the
//!   producer clock the media is timed in with that fragment's offset
//!   (producer − server timestamp of its start); the picture is the one shown at that producer
//!   time.
//!
//! # Parameters
//! `ImageSelectorType`, `StartTimestamp`, `EndTimestamp` (at most 300 s after the start, not
//! before it) and `Format` (`JPEG`|`PNG`) are required. `SamplingInterval` is optional in the
//! model; at least 200 ms (KVS's documented minimum), default [`DEFAULT_INTERVAL_MS`].
//! `FormatConfig` takes only `JPEGQuality` = "1".."100" (default 80). `WidthPixels` 1..=3840 and
//! `HeightPixels` 1..=2160: neither keeps the source size, one keeps the source aspect ratio,
//! both stretch. `MaxResults` 1..=100 is the page size, capped at 25 as KVS does.
//!
//! # Pages
//! `NextToken` is the base64 of the next sample time and the request it belongs to; a request
//! with a token must repeat the selector type, range and interval (as boto3's paginator does),
//! else `InvalidArgumentException`.
//!
//! # Cost
//! Times falling in one fragment share one decode pass, from the keyframe to the last wanted
//! picture ([`crate::frames`]); passes run on blocking threads, at most one per core at a time.
//! The segments read stay held ([`crate::store::Store::hold_segments`]) until the page is done.

use std::collections::BTreeMap;
use std::sync::LazyLock;

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
use super::json::KvsJson;
use super::params::{in_range, stream_ref};
use crate::error::ErrorKind;
use crate::frames::{self, CodedFrame, FrameError, ImageFormat, OutputSpec, VideoCodec};
use crate::playback::media::{self, Codec};
use crate::store::fragment::FragmentRecord;
use crate::store::index::{FragmentQuery, TimestampKind};

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
/// How far before a sample time its fragment is looked for (see `clip::LOOKBACK_MS`).
const LOOKBACK_MS: i64 = 120_000;
/// Index rows per query page.
const PAGE: usize = 500;
/// A fragment's indexed duration counts from its timestamp, which may precede its first frame
/// by a little, so its last frame can be on screen slightly past timestamp + duration: times up
/// to this much later are checked against the frames themselves.
const END_SLACK_MS: i64 = 1000;

/// Decode passes running at once: one per core.
static PASSES: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| {
    let n = std::thread::available_parallelism().map_or(2, |n| n.get());
    tokio::sync::Semaphore::new(n)
});

pub fn routes() -> Router<AppState> {
    Router::new().route("/getImages", post(get_images))
}

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

/// What one sample time gets.
enum Entry {
    NoMedia,
    /// Before the first frame of the fragment asked (see `images_at`).
    BeforeFirst,
    MediaError,
    Image(Vec<u8>),
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
    let entries = images_at(&st, stream.id, &req, &times).await?;
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
                Entry::NoMedia | Entry::BeforeFirst => {
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

/// A fragment's start timestamp of `kind`, epoch ms.
fn stamp(kind: TimestampKind, f: &FragmentRecord) -> i64 {
    match kind {
        TimestampKind::Producer => f.producer_ms,
        TimestampKind::Server => f.server_ms,
    }
}

/// The fragments that may cover `times` (sorted by start, equal starts deduplicated keeping the
/// highest number).
async fn candidates(
    st: &AppState,
    stream: crate::model::StreamId,
    kind: TimestampKind,
    from: i64,
    to: i64,
) -> Result<Vec<FragmentRecord>, ApiError> {
    let range = Some((kind, from.saturating_sub(LOOKBACK_MS), to));
    let mut rows: Vec<FragmentRecord> = Vec::new();
    let mut after_seq = None;
    loop {
        let page = st
            .store
            .list_fragments(FragmentQuery {
                stream,
                range,
                after_seq,
                limit: PAGE,
            })
            .await?;
        let full = page.len() == PAGE;
        after_seq = page.last().map(|f| f.number.seq);
        // Only the last fragment starting before `from` can cover a time: drop older ones as
        // pages come, so a long lookback stays small in memory.
        rows.extend(page);
        if rows.len() > 2 * PAGE {
            rows.sort_by_key(|f| (stamp(kind, f), f.number.seq));
            let keep_from = rows
                .iter()
                .rposition(|f| stamp(kind, f) <= from)
                .unwrap_or(0);
            rows.drain(..keep_from);
        }
        if !full {
            break;
        }
    }
    rows.sort_by_key(|f| (stamp(kind, f), f.number.seq));
    let mut out: Vec<FragmentRecord> = Vec::with_capacity(rows.len());
    for f in rows {
        match out.last_mut() {
            Some(last) if stamp(kind, last) == stamp(kind, &f) => *last = f,
            _ => out.push(f),
        }
    }
    Ok(out)
}

/// The fragment that may cover `t` among `frags` (sorted, deduplicated): the last one starting
/// at or before `t`, if its indexed duration (plus [`END_SLACK_MS`]) reaches past `t`. Whether
/// it really does is decided on its frames (see `plan_pass`).
fn covering(frags: &[FragmentRecord], kind: TimestampKind, t: i64) -> Option<usize> {
    let i = frags.iter().rposition(|f| stamp(kind, f) <= t)?;
    let f = &frags[i];
    let end = stamp(kind, f)
        .saturating_add(f.duration_ms.max(0))
        .saturating_add(END_SLACK_MS);
    (end > t).then_some(i)
}

/// The entries for `times`, in order.
async fn images_at(
    st: &AppState,
    stream: crate::model::StreamId,
    req: &Request,
    times: &[i64],
) -> Result<Vec<Entry>, ApiError> {
    let mut entries: Vec<Entry> = times.iter().map(|_| Entry::NoMedia).collect();
    let (Some(&from), Some(&to)) = (times.first(), times.last()) else {
        return Ok(entries);
    };
    let frags = candidates(st, stream, req.kind, from, to).await?;
    let _hold = st.store.hold_segments(&frags);
    // Sample indexes per covering fragment, in fragment order.
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, &t) in times.iter().enumerate() {
        if let Some(f) = covering(&frags, req.kind, t) {
            groups.entry(f).or_default().push(i);
        }
    }
    // A time before the first frame of its fragment (a fragment's timestamp can precede its
    // first frame by a millisecond or so) shows the last frame of the previous fragment when
    // the two are contiguous.
    let mut before_first: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (f, idx) in groups {
        let got = fragment_entries(st, req, &frags[f], times, &idx).await?;
        for (i, e) in idx.into_iter().zip(got) {
            if matches!(e, Entry::BeforeFirst)
                && f > 0
                && contiguous(&frags[f - 1], &frags[f], req.kind)
            {
                before_first.entry(f - 1).or_default().push(i);
            }
            entries[i] = e;
        }
    }
    for (f, idx) in before_first {
        let got = fragment_entries(st, req, &frags[f], times, &idx).await?;
        for (i, e) in idx.into_iter().zip(got) {
            entries[i] = e;
        }
    }
    Ok(entries)
}

/// Whether `next` starts where `prev` ends (no gap between them).
fn contiguous(prev: &FragmentRecord, next: &FragmentRecord, kind: TimestampKind) -> bool {
    stamp(kind, prev).saturating_add(prev.duration_ms.max(0)) >= stamp(kind, next)
}

/// The entries for `times[idx]` from fragment `rec`, the times moved to the producer clock.
async fn fragment_entries(
    st: &AppState,
    req: &Request,
    rec: &FragmentRecord,
    times: &[i64],
    idx: &[usize],
) -> Result<Vec<Entry>, ApiError> {
    let offset = match req.kind {
        TimestampKind::Producer => 0,
        TimestampKind::Server => rec.producer_ms - rec.server_ms,
    };
    let producer_times: Vec<i64> = idx.iter().map(|&i| times[i] + offset).collect();
    fragment_images(st, rec, &producer_times, &req.spec).await
}

/// The entries for producer times `times` inside fragment `rec`: one decode pass.
async fn fragment_images(
    st: &AppState,
    rec: &FragmentRecord,
    times: &[i64],
    spec: &OutputSpec,
) -> Result<Vec<Entry>, ApiError> {
    let all_error = || times.iter().map(|_| Entry::MediaError).collect();
    let header = st.store.track_header(rec.track_header_id).await?.header;
    let Ok(tracks) = media::tracks(&header) else {
        tracing::warn!(fragment = %rec.number, "images: stored track header does not parse");
        return Ok(all_error());
    };
    let Some((track, codec)) = tracks.iter().find_map(|t| match &t.codec {
        Codec::H264 { avcc } => Some((t.number, VideoCodec::H264 { avcc: avcc.clone() })),
        Codec::H265 { hvcc } => Some((t.number, VideoCodec::H265 { hvcc: hvcc.clone() })),
        _ => None,
    }) else {
        return Ok(all_error());
    };
    let (cluster, trailer) = st.store.read_fragment(rec).await?;
    let samples = match media::samples(&tracks, &cluster, &trailer) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(fragment = %rec.number, error = %e, "images: stored fragment is damaged");
            return Ok(all_error());
        }
    };
    let video: Vec<CodedFrame> = samples
        .into_iter()
        .filter(|s| s.track == track)
        .map(CodedFrame::from)
        .collect();
    let plan = plan_pass(&video, times);
    let Some((first, last)) = plan.range else {
        return Ok(plan
            .wanted
            .iter()
            .map(|w| match w {
                Pick::Pts(_) => Entry::MediaError, // no keyframe to decode from
                Pick::BeforeFirst => Entry::BeforeFirst,
                Pick::After => Entry::NoMedia,
            })
            .collect());
    };
    let run: Vec<CodedFrame> = video[first..=last].to_vec();
    let pts: Vec<i64> = plan
        .wanted
        .iter()
        .filter_map(|w| match w {
            Pick::Pts(p) => Some(*p),
            _ => None,
        })
        .collect();
    let spec = *spec;
    let permit = PASSES
        .acquire()
        .await
        .map_err(|_| ApiError::new(ErrorKind::Unavailable, "the server is shutting down"))?;
    let result = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        frames::shared().render(&codec, &run, &pts, &spec)
    })
    .await
    .map_err(|e| ApiError::new(ErrorKind::Internal, format!("image task failed: {e}")))?;
    let pictures = match result {
        Ok(p) => p,
        Err(e) => {
            log_failure(rec, &e);
            return Ok(all_error());
        }
    };
    Ok(plan
        .wanted
        .iter()
        .map(|w| match w {
            Pick::BeforeFirst => Entry::BeforeFirst,
            Pick::After => Entry::NoMedia,
            Pick::Pts(p) => match pictures.get(p) {
                Some(Ok(img)) => Entry::Image(img.clone()),
                Some(Err(e)) => {
                    log_failure(rec, e);
                    Entry::MediaError
                }
                None => Entry::MediaError,
            },
        })
        .collect())
}

fn log_failure(rec: &FragmentRecord, e: &FrameError) {
    tracing::warn!(fragment = %rec.number, error = %e, "images: picture not made");
}

/// Where a time falls in a fragment's frames.
enum Slot {
    /// Before its first frame.
    BeforeFirst,
    /// This frame (decode-order index) is shown.
    Frame(usize),
    /// After its last frame stopped being shown.
    After,
}

/// What a time gets from one fragment.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pick {
    /// The frame with this pts.
    Pts(i64),
    /// Nothing: before the first frame.
    BeforeFirst,
    /// Nothing: after the last frame.
    After,
}

/// Which frames one decode pass needs.
#[derive(Debug, PartialEq)]
struct Pass {
    /// Per time: what is shown then.
    wanted: Vec<Pick>,
    /// Decode-order indexes of the run to decode (from a keyframe to the last wanted frame).
    range: Option<(usize, usize)>,
}

/// Plans a pass over `video` (one fragment's frames, decode order) for producer `times`: the
/// frame shown at `t` is the one with the largest pts ≤ `t`; the run starts at the last
/// keyframe at or before the earliest wanted frame (in decode order) and ends at the last
/// wanted frame.
fn plan_pass(video: &[CodedFrame], times: &[i64]) -> Pass {
    // Where the fragment's pictures stop being shown: the last one's pts + its duration (at
    // least 1 ms).
    let end = video
        .iter()
        .map(|f| f.pts_ms.saturating_add(f.duration_ms.max(1)))
        .max();
    let first = video.iter().map(|f| f.pts_ms).min();
    let slots: Vec<Slot> = times
        .iter()
        .map(|&t| match (first, end) {
            (Some(first), _) if t < first => Slot::BeforeFirst,
            (_, Some(end)) if t >= end => Slot::After,
            _ => frames::shown_at(video, t).map_or(Slot::After, Slot::Frame),
        })
        .collect();
    let picks = slots.iter().filter_map(|s| match s {
        Slot::Frame(i) => Some(*i),
        _ => None,
    });
    let range = frames::decode_run(video, picks);
    let wanted = slots
        .iter()
        .map(|s| match s {
            Slot::Frame(i) => Pick::Pts(video[*i].pts_ms),
            Slot::BeforeFirst => Pick::BeforeFirst,
            Slot::After => Pick::After,
        })
        .collect();
    Pass { wanted, range }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn frame(pts: i64, key: bool) -> CodedFrame {
        CodedFrame {
            pts_ms: pts,
            dts_ms: pts,
            duration_ms: 33,
            key,
            data: Bytes::new(),
        }
    }

    #[test]
    fn pass_planning() {
        // I0 P33 P66 P100 I133 P166
        let v: Vec<CodedFrame> = [0, 33, 66, 100, 133, 166]
            .iter()
            .map(|&p| frame(p, p == 0 || p == 133))
            .collect();
        use Pick::*;
        let p = plan_pass(&v, &[50, 66, 99]);
        assert_eq!(p.wanted, vec![Pts(33), Pts(66), Pts(66)]);
        assert_eq!(p.range, Some((0, 2)));
        // The last frame (166, 33 ms long) is shown until 199.
        let p = plan_pass(&v, &[150, 198, 199, 1000]);
        assert_eq!(p.wanted, vec![Pts(133), Pts(166), After, After]);
        assert_eq!(p.range, Some((4, 5)));
        let p = plan_pass(&v, &[-1]);
        assert_eq!(p.wanted, vec![BeforeFirst]);
        assert_eq!(p.range, None);
        // B-frames: decode order I0 P99 B33 B66; 70 shows B66 (decode index 3).
        let b = vec![
            frame(0, true),
            frame(99, false),
            frame(33, false),
            frame(66, false),
        ];
        let p = plan_pass(&b, &[70]);
        assert_eq!(p.wanted, vec![Pts(66)]);
        assert_eq!(p.range, Some((0, 3)));
        // No keyframe: nothing to decode from.
        let p = plan_pass(&[frame(0, false)], &[5]);
        assert_eq!(p.range, None);
        assert_eq!(p.wanted, vec![Pts(0)]);
    }

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
