//! Building PutMedia bodies and reading acks, for the ingest tests.

use super::sign::SendSigned;
use std::time::Duration;

use super::TestServer;
use bytes::Bytes;
use serde_json::{Value, json};
use vidstream::mkv::{self, Info, SimpleTag, TagValue, Track, TrackType, VideoSettings};

/// Epoch ms used as the first cluster's ABSOLUTE timecode in tests.
pub const BASE_MS: u64 = 1_700_000_000_000;

pub fn h264_track(number: u64) -> Track {
    Track {
        number,
        uid: number,
        track_type: TrackType::Video,
        codec_id: "V_MPEG4/ISO/AVC".into(),
        // A minimal avcC: version 1, profile 66, level 30, no parameter sets.
        codec_private: Bytes::from_static(&[1, 66, 0, 30, 0xff, 0xe0, 0]),
        name: Some("kinesis_video".into()),
        default_duration: None,
        codec_delay: None,
        video: Some(VideoSettings {
            pixel_width: 320,
            pixel_height: 240,
        }),
        audio: None,
    }
}

/// The start of a KVS-producer-style body: EBML header, unknown-size Segment, Info, Tracks.
pub fn body_head(tracks: &[Track]) -> Vec<u8> {
    let mut b = Vec::new();
    mkv::write_ebml_header(&mut b, "matroska");
    mkv::write_segment_start_unknown(&mut b);
    mkv::write_info(
        &mut b,
        &Info {
            title: Some("Kinesis Video SDK".into()),
            muxing_app: Some("Kinesis Video SDK 3.5.0".into()),
            writing_app: Some("Kinesis Video SDK 3.5.0".into()),
            ..Info::default()
        },
    );
    mkv::write_tracks(&mut b, tracks);
    b
}

/// The payload of frame `j` of fragment `i`: it names itself.
pub fn payload(i: usize, j: usize) -> Vec<u8> {
    let mut p = format!("fragment {i:04} frame {j:04} ").into_bytes();
    p.resize(200 + (i * 7 + j * 13) % 300, b'0' + (j % 10) as u8);
    p
}

/// One unknown-size cluster at `BASE_MS + i * 1000` with `frames` frames 33 ms apart, the first
/// a keyframe, on track 1.
pub fn cluster(i: usize, frames: usize) -> Vec<u8> {
    cluster_at(BASE_MS + i as u64 * 1000, i, frames)
}

pub fn cluster_at(timecode: u64, i: usize, frames: usize) -> Vec<u8> {
    let mut b = Vec::new();
    mkv::write_cluster_start(&mut b, timecode, None);
    for j in 0..frames {
        mkv::write_simple_block(
            &mut b,
            1,
            (j * 33) as i16,
            j == 0,
            false,
            false,
            &payload(i, j),
        );
    }
    b
}

/// A Tags element carrying the end-of-fragment tag.
pub fn end_of_fragment() -> Vec<u8> {
    let mut b = Vec::new();
    mkv::write_tags(
        &mut b,
        &[SimpleTag {
            name: "AWS_KINESISVIDEO_END_OF_FRAGMENT".into(),
            value: TagValue::String(String::new()),
        }],
    );
    b
}

/// A whole body of `n` fragments of `frames` frames.
pub fn body(n: usize, frames: usize) -> Vec<u8> {
    let mut b = body_head(&[h264_track(1)]);
    for i in 0..n {
        b.extend(cluster(i, frames));
    }
    b
}

/// One parsed ack.
#[derive(Debug, Clone, PartialEq)]
pub struct Ack {
    pub event: String,
    pub timecode: Option<i64>,
    pub number: Option<String>,
    pub error_id: Option<i64>,
    pub error_code: Option<String>,
}

pub fn parse_acks(text: &str) -> Vec<Ack> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("ack {l:?}: {e}"));
            Ack {
                event: v["EventType"].as_str().unwrap_or("").to_owned(),
                timecode: v["FragmentTimecode"].as_i64(),
                number: v["FragmentNumber"].as_str().map(str::to_owned),
                error_id: v["ErrorId"].as_i64(),
                error_code: v["ErrorCode"].as_str().map(str::to_owned),
            }
        })
        .collect()
}

/// POSTs `body` to /putMedia in `chunk`-byte pieces (chunked encoding) and returns the acks.
pub async fn put_media(url: &str, stream: &str, body: Vec<u8>, chunk: usize) -> (u16, Vec<Ack>) {
    let chunks: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(chunk.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let resp = reqwest::Client::new()
        .post(format!("{url}/putMedia"))
        .header("x-amzn-stream-name", stream)
        .header("x-amzn-fragment-timecode-type", "ABSOLUTE")
        .header("x-amzn-producer-start-timestamp", "1700000000.000")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .timeout(Duration::from_secs(60))
        .send_signed()
        .await
        .expect("putMedia sent");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    if status != 200 {
        return (
            status,
            vec![Ack {
                event: "HTTP".into(),
                timecode: None,
                number: None,
                error_id: None,
                error_code: Some(text),
            }],
        );
    }
    (status, parse_acks(&text))
}

/// The numbers of PERSISTED acks, in order.
pub fn persisted(acks: &[Ack]) -> Vec<String> {
    acks.iter()
        .filter(|a| a.event == "PERSISTED")
        .filter_map(|a| a.number.clone())
        .collect()
}

/// Reads MKV bytes with vidstream's reader, returning all events.
pub fn read_all(bytes: &[u8]) -> Vec<mkv::Event> {
    let mut r = mkv::Reader::new(mkv::Limits::default());
    r.push(bytes);
    let mut out = Vec::new();
    while let Some(ev) = r.pull().expect("valid MKV") {
        out.push(ev);
    }
    out.extend(r.finish().expect("complete MKV"));
    out
}

/// One MKV document (one fragment) read from a GetMedia response.
#[derive(Debug, Clone, Default)]
pub struct Doc {
    /// The document's bytes.
    pub bytes: Vec<u8>,
    /// AWS_KINESISVIDEO_FRAGMENT_NUMBER.
    pub number: String,
    /// AWS_KINESISVIDEO_CONTINUATION_TOKEN (present once the fragment is complete).
    pub token: Option<String>,
    /// AWS_KINESISVIDEO_MILLIS_BEHIND_NOW.
    pub behind: Option<String>,
    /// AWS_KINESISVIDEO_ERROR_CODE, if the fragment could not be completed.
    pub error: Option<String>,
    /// (track, absolute timecode, payload).
    pub frames: Vec<(u64, i64, Vec<u8>)>,
}

impl Doc {
    pub fn complete(&self) -> bool {
        self.token.is_some() || self.error.is_some()
    }
}

/// Reads a GetMedia-style response until `n` documents are complete (or `timeout`), calling
/// `on_frame(doc index, frame count so far)` after every frame.
pub async fn read_docs(
    mut resp: reqwest::Response,
    n: usize,
    timeout: Duration,
    mut on_frame: impl FnMut(usize, usize),
) -> Vec<Doc> {
    let mut header = Vec::new();
    mkv::write_ebml_header(&mut header, "matroska");
    let header_len = header.len() as u64;
    let mut reader = mkv::Reader::new(mkv::Limits::default());
    let mut all: Vec<u8> = Vec::new();
    let mut docs: Vec<Doc> = Vec::new();
    let mut starts: Vec<usize> = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while docs.iter().filter(|d| d.complete()).count() < n {
        let chunk = match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Ok(Ok(Some(c))) => c,
            Ok(Ok(None)) => break,
            Ok(Err(e)) => panic!("reading the response: {e}"),
            Err(_) => break,
        };
        all.extend_from_slice(&chunk);
        reader.push(&chunk);
        while let Some(ev) = reader.pull().expect("GetMedia output is valid MKV") {
            match ev {
                mkv::Event::Header(_) => {
                    starts.push((reader.offset() - header_len) as usize);
                    docs.push(Doc::default());
                }
                mkv::Event::Frame(f) => {
                    let d = docs.last_mut().expect("a frame inside a document");
                    d.frames.push((f.track, f.timecode, f.data.to_vec()));
                    let (i, k) = (docs.len() - 1, docs[docs.len() - 1].frames.len());
                    on_frame(i, k);
                }
                mkv::Event::Tags(tags) => {
                    let d = docs.last_mut().expect("tags inside a document");
                    for t in tags {
                        let TagValue::String(v) = t.value else {
                            continue;
                        };
                        match t.name.as_str() {
                            "AWS_KINESISVIDEO_FRAGMENT_NUMBER" => d.number = v,
                            "AWS_KINESISVIDEO_CONTINUATION_TOKEN" => d.token = Some(v),
                            "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW" => d.behind = Some(v),
                            "AWS_KINESISVIDEO_ERROR_CODE" => d.error = Some(v),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
    }
    for (i, d) in docs.iter_mut().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(all.len());
        d.bytes = all[starts[i]..end].to_vec();
    }
    docs.retain(|d| d.complete());
    docs.truncate(n);
    docs
}

/// Starts a GetMedia request with `selector` (a StartSelector JSON object).
pub async fn get_media(url: &str, stream: &str, selector: Value) -> reqwest::Response {
    let resp = reqwest::Client::new()
        .post(format!("{url}/getMedia"))
        .body(serde_json::json!({"StreamName": stream, "StartSelector": selector}).to_string())
        .send_signed()
        .await
        .expect("getMedia sent");
    assert_eq!(resp.status(), 200, "getMedia");
    assert_eq!(resp.headers()["content-type"], "video/webm");
    resp
}

/// A request body fed chunk by chunk through a channel (a producer writing in real time).
pub fn channel_body(
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> reqwest::Body {
    reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (b, rx))
    }))
}

/// Creates `stream` (retention 1 h) and sends fixture `file` to it with [`put_fixture_paced`];
/// returns the persisted fragment numbers.
pub async fn ingest_fixture(
    s: &TestServer,
    stream: &str,
    file: &str,
    start_ms: i64,
) -> Vec<String> {
    s.create_active(json!({"StreamName": stream, "DataRetentionInHours": 1}))
        .await;
    put_fixture_numbers(&s.url, stream, file, start_ms).await
}

/// PutMedia of a fixture file with RELATIVE timecodes from `start_ms`, sent in 25 pieces 15 ms
/// apart so that each fragment gets its own server timestamp; returns the persisted count.
pub async fn put_fixture_paced(url: &str, stream: &str, file: &str, start_ms: i64) -> usize {
    put_fixture_numbers(url, stream, file, start_ms).await.len()
}

/// [`put_fixture_paced`], returning the persisted fragment numbers.
pub async fn put_fixture_numbers(
    url: &str,
    stream: &str,
    file: &str,
    start_ms: i64,
) -> Vec<String> {
    let body = std::fs::read(super::probe::fixture(file)).expect("fixture");
    let pieces: Vec<Bytes> = body
        .chunks(body.len() / 25 + 1)
        .map(Bytes::copy_from_slice)
        .collect();
    let paced = futures_util::stream::unfold(pieces.into_iter(), |mut it| async move {
        let next = it.next()?;
        tokio::time::sleep(Duration::from_millis(15)).await;
        Some((Ok::<_, std::io::Error>(next), it))
    });
    let resp = reqwest::Client::new()
        .post(format!("{url}/putMedia"))
        .header("x-amzn-stream-name", stream)
        .header("x-amzn-fragment-timecode-type", "RELATIVE")
        .header(
            "x-amzn-producer-start-timestamp",
            format!("{:.3}", start_ms as f64 / 1000.0),
        )
        .body(reqwest::Body::wrap_stream(paced))
        .send_signed()
        .await
        .expect("putMedia");
    assert_eq!(resp.status(), 200);
    persisted(&parse_acks(&resp.text().await.expect("acks")))
}

/// GetMediaForFragmentList of `numbers` (the whole body: one MKV document per fragment).
pub async fn media_for_fragments(url: &str, stream: &str, numbers: &[String]) -> Bytes {
    media_for_fragments_by(&reqwest::Client::new(), url, stream, numbers).await
}

/// [`media_for_fragments`] through `client` (e.g. one trusting a test CA).
pub async fn media_for_fragments_by(
    client: &reqwest::Client,
    url: &str,
    stream: &str,
    numbers: &[String],
) -> Bytes {
    client
        .post(format!("{url}/getMediaForFragmentList"))
        .body(json!({"StreamName": stream, "Fragments": numbers}).to_string())
        .send_signed()
        .await
        .expect("GetMediaForFragmentList sent")
        .bytes()
        .await
        .expect("GetMediaForFragmentList body")
}

/// Now, epoch ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// The frames of the 5 s framecode fixture `gst_h264_320x240_gop30_5s.mkv` (frame `i` shows
/// index `i`), its Tracks, and its period (the loop length, ms).
pub fn framecode_fixture() -> (Vec<Track>, Vec<mkv::Frame>, i64) {
    let file = "gst_h264_320x240_gop30_5s.mkv";
    let events = read_all(&std::fs::read(super::probe::fixture(file)).expect("fixture"));
    let tracks = events
        .iter()
        .find_map(|e| match e {
            mkv::Event::Tracks(t) => Some(t.clone()),
            _ => None,
        })
        .expect("tracks");
    let frames: Vec<mkv::Frame> = events
        .iter()
        .filter_map(|e| match e {
            mkv::Event::Frame(f) => Some(f.clone()),
            _ => None,
        })
        .collect();
    let period = frames.last().map_or(5000, |f| f.timecode + 33);
    (tracks, frames, period)
}

/// The framecode index shown at producer time `t0 + at_ms` by [`realtime_producer`]'s stream
/// (the fixture looped from `t0`): the last frame whose time is ≤ it.
pub fn framecode_index_at(at_ms: i64) -> u32 {
    let (_, frames, period) = framecode_fixture();
    let rel = at_ms.rem_euclid(period);
    frames
        .iter()
        .filter(|f| f.timecode <= rel)
        .count()
        .saturating_sub(1) as u32
}

/// PutMedia of the H.264 framecode fixture's frames, looped from producer time `t0`: the frames
/// of `[from_ms, to_ms)` (relative to `t0`, starting at a keyframe), each sent at its wall-clock
/// time `t0 + at` — at once if that is already past (ABSOLUTE epoch-ms timecodes, one
/// unknown-size cluster per GOP). The session ends after `to_ms`.
pub async fn realtime_producer(url: String, stream: String, t0: i64, from_ms: i64, to_ms: i64) {
    let (tracks, frames, period) = framecode_fixture();
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let (start, start_ms) = (tokio::time::Instant::now(), now_ms());
    let sender = tokio::spawn(async move {
        let _ = tx.send(Ok(Bytes::from(body_head(&tracks)))).await;
        let mut cluster_tc = None;
        for lap in (from_ms / period).. {
            for f in &frames {
                let at = lap * period + f.timecode;
                if at < from_ms || (cluster_tc.is_none() && !f.keyframe) {
                    continue;
                }
                if at >= to_ms {
                    return;
                }
                let due = (t0 + at - start_ms).max(0) as u64;
                tokio::time::sleep_until(start + Duration::from_millis(due)).await;
                let mut b = Vec::new();
                if f.keyframe {
                    cluster_tc = Some(t0 + at);
                    mkv::write_cluster_start(&mut b, (t0 + at) as u64, None);
                }
                let rel = (t0 + at - cluster_tc.unwrap_or(t0 + at)) as i16;
                mkv::write_simple_block(&mut b, f.track, rel, f.keyframe, false, false, &f.data);
                if tx.send(Ok(Bytes::from(b))).await.is_err() {
                    return;
                }
            }
        }
    });
    let resp = reqwest::Client::new()
        .post(format!("{url}/putMedia"))
        .header("x-amzn-stream-name", stream)
        .header("x-amzn-fragment-timecode-type", "ABSOLUTE")
        .header(
            "x-amzn-producer-start-timestamp",
            format!("{:.3}", (t0 + from_ms) as f64 / 1000.0),
        )
        .body(channel_body(rx))
        .send_signed()
        .await
        .expect("putMedia");
    let _ = resp.text().await;
    sender.abort();
}
