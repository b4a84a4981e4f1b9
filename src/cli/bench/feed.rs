//! `vidstream bench feed`: ingest-to-WebSocket frame latency of the frame feed.
//!
//! The input is made here: `videotestsrc` 640x480, 30 fps, x264enc `ultrafast`, no B-frames, a
//! keyframe every 30 frames, in Matroska. A producer sends it to a `vidstream serve` child
//! process frame by frame in real time (one PutMedia chunk per frame, ABSOLUTE timecodes), noting
//! when each frame's last byte went out; a feed client subscribed with `Start=NOW` notes when
//! each picture's binary message arrived. Latency = arrival − send, per picture, matched by
//! producer timestamp; both ends are on this machine.
//!
//! Scenarios, one after the other on fresh streams: every frame as JPEG (each sample decodes
//! from its fragment's keyframe, so the cost grows along the GOP), and one RGB24 picture per
//! second (the keyframe: one-frame decode). Samples the client was too slow for are reported
//! by the server as dropped, and counted here.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use super::client::Producer;
use super::{Args, Row, ServerProcess, print_rows, tempdir_in};
use crate::mkv::{self, Event, Track};

/// Frames per second of the input.
const FPS: u64 = 30;
/// Frames per GOP.
const GOP: u64 = 30;

/// One input frame.
struct InFrame {
    rel_ms: i64,
    key: bool,
    data: bytes::Bytes,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let work = tempdir_in(&args.dir)?;
    let result = measure(&work, args.seconds.max(1)).await;
    let _ = std::fs::remove_dir_all(&work);
    print_rows(result?)
}

async fn measure(work: &Path, seconds: u64) -> anyhow::Result<Vec<Row>> {
    let input = work.join("input.mkv");
    make_input(&input, seconds * FPS)?;
    let (track, frames) = read_input(&input)?;
    let server = ServerProcess::start(&work.join("data")).await?;
    server.create_streams("feed", 2).await?;
    let mut rows = Vec::new();
    for (i, (label, query)) in [
        (
            "every frame, JPEG q80 640x480",
            "SamplingInterval=1&Format=JPEG",
        ),
        (
            "1 per second (keyframes), RGB24 640x480",
            "SamplingInterval=1000&Format=RGB24",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let stream = format!("feed{i}");
        let (mut lat, dropped, sent) =
            scenario(server.addr, &stream, query, &track, &frames).await?;
        if lat.is_empty() {
            bail!("{label}: no picture arrived");
        }
        lat.sort_by(f64::total_cmp);
        let q = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
        rows.push(Row {
            what: format!("feed {label}: ingest -> WebSocket picture"),
            result: format!(
                "p50 {:.1} ms, p99 {:.1} ms ({} pictures, {dropped} dropped, {sent} frames sent)",
                q(0.5),
                q(0.99),
                lat.len()
            ),
            target: "measured (no target yet; live GetMedia: p50 <= 5 ms server-added)".into(),
        });
    }
    Ok(rows)
}

/// Sends `frames` in real time to `stream` while a feed client reads it; returns the
/// latencies (ms), the dropped count and the frames sent.
async fn scenario(
    addr: SocketAddr,
    stream: &str,
    query: &str,
    track: &Track,
    frames: &[InFrame],
) -> anyhow::Result<(Vec<f64>, u64, usize)> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let path = format!("/v1/frames/feed?StreamName={stream}&Start=NOW&{query}");
    let mut req = format!("ws://{addr}{path}")
        .into_client_request()
        .context("the feed URL")?;
    super::client::sign_request(&mut req, addr)?;
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .context("connecting to the frame feed")?;
    let sent: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let base_ms = {
        use crate::time::Clock;
        (crate::time::SystemClock.now().millis() / 1000) * 1000
    };
    let reader_sent = Arc::clone(&sent);
    let last_ms = base_ms + frames.last().map_or(0, |f| f.rel_ms);
    let reader = tokio::spawn(async move {
        let mut lat = Vec::new();
        let mut dropped = 0;
        let mut pending: Option<i64> = None;
        while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            match msg {
                Ok(Message::Text(t)) => {
                    let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap_or_default();
                    if v["type"] == "frame" {
                        pending = v["producer_timestamp_ms"].as_i64();
                        dropped += v["dropped"].as_u64().unwrap_or(0);
                    }
                }
                Ok(Message::Binary(_)) => {
                    let now = Instant::now();
                    if let Some(ms) = pending.take() {
                        let at = reader_sent.lock().ok().and_then(|m| m.get(&ms).copied());
                        if let Some(at) = at {
                            lat.push(now.duration_since(at).as_secs_f64() * 1000.0);
                        }
                        if ms >= last_ms {
                            break;
                        }
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        (lat, dropped)
    });
    // Let the subscription settle before the first frame.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut producer = Producer::connect(addr, stream).await?;
    let mut head = Vec::new();
    mkv::write_ebml_header(&mut head, "matroska");
    mkv::write_segment_start_unknown(&mut head);
    mkv::write_info(&mut head, &mkv::Info::default());
    mkv::write_tracks(&mut head, std::slice::from_ref(track));
    producer.send(&head).await?;
    let t0 = Instant::now();
    let mut cluster_ms = 0;
    for f in frames {
        let due = t0 + Duration::from_millis(f.rel_ms.max(0) as u64);
        tokio::time::sleep_until(due.into()).await;
        let mut b = Vec::with_capacity(f.data.len() + 32);
        if f.key {
            cluster_ms = f.rel_ms;
            mkv::write_cluster_start(&mut b, (base_ms + cluster_ms) as u64, None);
        }
        let rel = i16::try_from(f.rel_ms - cluster_ms).unwrap_or(i16::MAX);
        mkv::write_simple_block(&mut b, track.number, rel, f.key, false, false, &f.data);
        producer.send(&b).await?;
        if let Ok(mut m) = sent.lock() {
            m.insert(base_ms + f.rel_ms, Instant::now());
        }
    }
    producer.finish().await?;
    let (lat, dropped) = reader.await.context("feed reader")?;
    Ok((lat, dropped, frames.len()))
}

fn make_input(path: &Path, frames: u64) -> anyhow::Result<()> {
    super::images::encode_ball(
        path,
        frames,
        FPS,
        &format!("speed-preset=ultrafast key-int-max={GOP} bframes=0 bitrate=2000"),
        "baseline",
    )
}

/// The H.264 track and its frames, timed from the first.
fn read_input(path: &Path) -> anyhow::Result<(Track, Vec<InFrame>)> {
    let events = super::mkv_events(path)?;
    let mut track = None;
    let mut frames = Vec::new();
    for e in events {
        match e {
            Event::Tracks(tracks) => {
                track = tracks.into_iter().find(|t| t.codec_id == "V_MPEG4/ISO/AVC");
            }
            Event::Frame(f) if track.as_ref().is_some_and(|t| t.number == f.track) => {
                frames.push(InFrame {
                    rel_ms: f.timecode,
                    key: f.keyframe,
                    data: f.data,
                });
            }
            _ => {}
        }
    }
    let track = track.context("the input has no H.264 track")?;
    let t0 = frames.first().map_or(0, |f| f.rel_ms);
    for f in &mut frames {
        f.rel_ms -= t0;
    }
    Ok((track, frames))
}
