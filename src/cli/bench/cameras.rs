//! The cameras scenario: one synthetic RTSP camera (a single shared encoder, in this process)
//! pulled N times by a `vidstream serve` child process; the server's CPU per pulled camera is
//! what is reported (the encoder and the RTSP server's sending are this process's, not counted).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::ServerProcess;
use super::client::post_json;
use super::rtsp_source::SyntheticCamera;

/// GETs `path` and returns the body.
async fn get(addr: std::net::SocketAddr, path: &str) -> anyhow::Result<String> {
    let mut s = TcpStream::connect(addr).await?;
    let auth = super::client::auth_lines("GET", addr, path, &[], None);
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\r\n")
            .as_bytes(),
    )
    .await?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    let text = String::from_utf8_lossy(&out).into_owned();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .context("no response body")
}

/// Cameras added at once.
const WAVE: usize = 10;

/// Waits until `n` cameras stream (at most 60 s).
async fn wait_streaming(addr: std::net::SocketAddr, n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v: serde_json::Value = serde_json::from_str(&get(addr, "/v1/cameras").await?)?;
        let streaming = v["cameras"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|c| c["status"]["state"] == "streaming")
                    .count()
            })
            .unwrap_or(0);
        if streaming >= n {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("only {streaming} of {n} cameras streaming after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Pulls `n` cameras at about `kbps` each for `seconds`; returns (server CPU as a share of one
/// core, measured bytes per second per camera).
pub async fn pulled_cameras(
    server: &ServerProcess,
    n: usize,
    kbps: u32,
    seconds: u64,
) -> anyhow::Result<(f64, f64)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let cam = SyntheticCamera::start(port, 640, 480, kbps)?;
    server.create_streams("cam", n).await?;
    // Added in waves of WAVE, each streaming before the next: gst-rtsp-server 1.22's shared
    // media aborts (`gst_rtsp_media_get_rates` assertion) when a burst of clients sets it up at
    // once, which the retina client's fast connects reach from about 100 cameras.
    for i in 0..n {
        let body = format!(
            r#"{{"name":"cam{i}","url":"{}","stream":"cam{i}"}}"#,
            cam.url()
        );
        post_json(server.addr, "/v1/cameras", &body).await?;
        if (i + 1) % WAVE == 0 || i + 1 == n {
            wait_streaming(server.addr, i + 1).await?;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu0 = server.cpu_secs()?;
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu = (server.cpu_secs()? - cpu0) / t0.elapsed().as_secs_f64();
    let v: serde_json::Value = serde_json::from_str(&get(server.addr, "/v1/cameras").await?)?;
    let rates: Vec<f64> = v["cameras"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["status"]["bytesPerSecond"].as_f64())
                .collect()
        })
        .unwrap_or_default();
    let rate = rates.iter().sum::<f64>() / rates.len().max(1) as f64;
    drop(cam);
    Ok((cpu, rate))
}
