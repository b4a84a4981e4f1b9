//! The live-latency scenario: producers send frame by frame in real time, GetMedia NOW readers
//! follow some of the streams, and every frame carries its send time, so each reader measures
//! producer-write → reader-receive per frame. Both ends are on this machine, so the figure is an
//! upper bound of what the server adds.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::client::{Producer, body_head};
use crate::mkv;

/// Microseconds since `epoch`, as the first 8 bytes of a frame.
fn stamp(epoch: Instant, frame: &mut [u8]) {
    let us = epoch.elapsed().as_micros() as u64;
    frame[..8].copy_from_slice(&us.to_be_bytes());
}

/// Runs `streams` producers at 30 fps for `seconds`, with GetMedia NOW readers on the first
/// `readers` streams; returns every frame's latency in ms.
pub async fn live_latency(
    addr: SocketAddr,
    prefix: &str,
    streams: usize,
    readers: usize,
    seconds: u64,
) -> anyhow::Result<Vec<f64>> {
    let epoch = Instant::now();
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let mut reader_tasks = Vec::new();
    for i in 0..readers.min(streams) {
        let lat = Arc::clone(&latencies);
        let name = format!("{prefix}{i}");
        reader_tasks.push(tokio::spawn(async move {
            read_live(addr, &name, epoch, lat).await
        }));
    }
    // Let the readers subscribe before the first frame.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut producers = Vec::new();
    for i in 0..streams {
        let name = format!("{prefix}{i}");
        let offset = Duration::from_micros((33_333 * i / streams.max(1)) as u64);
        producers.push(tokio::spawn(async move {
            let mut p = Producer::connect(addr, &name).await?;
            p.send(&body_head()).await?;
            tokio::time::sleep(offset).await;
            let mut tick = tokio::time::interval(Duration::from_micros(33_333));
            let mut frame = vec![0x11u8; 4000];
            let frames = seconds * 30;
            for n in 0..frames {
                tick.tick().await;
                let mut chunk = Vec::with_capacity(4100);
                if n % 30 == 0 {
                    mkv::write_cluster_start(&mut chunk, 1_700_000_000_000 + n * 33, None);
                }
                stamp(epoch, &mut frame);
                let rel = ((n % 30) * 33) as i16;
                mkv::write_simple_block(&mut chunk, 1, rel, n % 30 == 0, false, false, &frame);
                p.send(&chunk).await?;
            }
            p.finish().await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            anyhow::Ok(())
        }));
    }
    for p in producers {
        p.await??;
    }
    for r in reader_tasks {
        r.abort();
    }
    let mut lat = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    lat.sort_by(|a, b| a.total_cmp(b));
    Ok(lat)
}

/// A GetMedia NOW reader over raw HTTP/1.1 (chunked response) that records each frame's age.
async fn read_live(
    addr: SocketAddr,
    stream: &str,
    epoch: Instant,
    latencies: Arc<Mutex<Vec<f64>>>,
) -> anyhow::Result<()> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let body =
        format!(r#"{{"StreamName":"{stream}","StartSelector":{{"StartSelectorType":"NOW"}}}}"#);
    let auth = super::client::auth_lines(
        "POST",
        addr,
        "/getMedia",
        &[("content-type", "application/json")],
        Some(body.as_bytes()),
    );
    let req = format!(
        "POST /getMedia HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{auth}\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut raw: Vec<u8> = Vec::new();
    let mut in_body = false;
    let mut reader = mkv::Reader::new(mkv::Limits::default());
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        raw.extend_from_slice(&buf[..n]);
        if !in_body {
            let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            if !raw.starts_with(b"HTTP/1.1 200") {
                bail!("getMedia: {}", String::from_utf8_lossy(&raw[..end]));
            }
            raw.drain(..end + 4);
            in_body = true;
        }
        // De-chunk whatever complete chunks we have.
        while let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(
                std::str::from_utf8(&raw[..line_end])
                    .context("chunk size")?
                    .trim(),
                16,
            )
            .context("chunk size")?;
            if raw.len() < line_end + 2 + size + 2 {
                break;
            }
            reader.push(&raw[line_end + 2..line_end + 2 + size]);
            raw.drain(..line_end + 2 + size + 2);
        }
        let now = epoch.elapsed().as_micros() as u64;
        while let Some(ev) = reader.pull()? {
            if let mkv::Event::Frame(f) = ev
                && f.data.len() >= 8
            {
                let mut b = [0u8; 8];
                b.copy_from_slice(&f.data[..8]);
                let sent = u64::from_be_bytes(b);
                if let Ok(mut l) = latencies.lock() {
                    l.push(now.saturating_sub(sent) as f64 / 1000.0);
                }
            }
        }
    }
}
