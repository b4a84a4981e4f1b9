//! A minimal PutMedia client over raw TCP for the benchmarks: chunked request body, acks read
//! from the chunked response. Raw sockets keep client overhead small and predictable, so the
//! figures measure the server.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::auth::sigv4::{self, Credentials, Signer};
use crate::mkv::{self, Info, SimpleTag, TagValue, Track, TrackType, VideoSettings};

/// The root access key the benchmarks' servers are started with (access control stays on, as
/// in production: the figures include verifying every request).
pub const ACCESS_KEY: &str = "VSRKBENCHROOT0000001";
/// Its secret.
pub const SECRET_KEY: &str = "bench-root-secret-0000000000000000000000";

/// The signer of the benchmarks' root key.
pub fn signer() -> Signer {
    Signer::new(
        Credentials {
            access_key: ACCESS_KEY.into(),
            secret_key: SECRET_KEY.into(),
            session_token: None,
        },
        "us-east-1",
    )
}

/// The header lines that sign a request to `addr` (`X-Amz-Date`, `Authorization`): `host`
/// and `extra` (lowercase names) are signed, and `body`'s hash (None: signed as if empty, as
/// streaming PutMedia is).
pub fn auth_lines(
    method: &str,
    addr: SocketAddr,
    path: &str,
    extra: &[(&str, &str)],
    body: Option<&[u8]>,
) -> String {
    let host = addr.to_string();
    let mut signed = vec![("host", host.as_str())];
    signed.extend_from_slice(extra);
    let hash = sigv4::payload_sha256(body.unwrap_or_default());
    signer().auth_lines(method, path, &signed, &hash)
}

/// Sends one request and returns the whole response body (for control-plane calls).
pub async fn post_json(addr: SocketAddr, path: &str, body: &str) -> anyhow::Result<String> {
    let mut s = TcpStream::connect(addr).await?;
    let auth = auth_lines(
        "POST",
        addr,
        path,
        &[("content-type", "application/json")],
        Some(body.as_bytes()),
    );
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{auth}\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    let text = String::from_utf8_lossy(&out).into_owned();
    if !text.starts_with("HTTP/1.1 2") {
        bail!("{path}: {}", text.lines().next().unwrap_or(""));
    }
    Ok(text)
}

/// The bench's single H.264-labelled track (payloads are opaque to the server).
pub fn track() -> Track {
    Track {
        number: 1,
        uid: 1,
        track_type: TrackType::Video,
        codec_id: "V_MPEG4/ISO/AVC".into(),
        codec_private: bytes::Bytes::from_static(&[1, 66, 0, 30, 0xff, 0xe0, 0]),
        name: None,
        default_duration: None,
        codec_delay: None,
        video: Some(VideoSettings {
            pixel_width: 1280,
            pixel_height: 720,
        }),
        audio: None,
    }
}

/// EBML header, unknown-size Segment, Info, Tracks.
pub fn body_head() -> Vec<u8> {
    let mut b = Vec::new();
    mkv::write_ebml_header(&mut b, "matroska");
    mkv::write_segment_start_unknown(&mut b);
    mkv::write_info(&mut b, &Info::default());
    mkv::write_tracks(&mut b, &[track()]);
    b
}

/// One unknown-size cluster of `frames` frames of `frame` bytes, then the end-of-fragment tag,
/// so the server can seal it at once.
pub fn fragment(timecode_ms: u64, frames: usize, frame: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(frames * (frame.len() + 16) + 64);
    mkv::write_cluster_start(&mut b, timecode_ms, None);
    for j in 0..frames {
        mkv::write_simple_block(&mut b, 1, (j * 33) as i16, j == 0, false, false, frame);
    }
    mkv::write_tags(
        &mut b,
        &[SimpleTag {
            name: "AWS_KINESISVIDEO_END_OF_FRAGMENT".into(),
            value: TagValue::String(String::new()),
        }],
    );
    b
}

/// What a producer connection observed.
#[derive(Debug, Default)]
pub struct AckLog {
    /// FragmentTimecode → when its last byte was written.
    pub sent: HashMap<i64, Instant>,
    /// Latency from a fragment's last byte to its PERSISTED ack.
    pub persisted_latency: Vec<std::time::Duration>,
    /// PERSISTED acks seen.
    pub persisted: u64,
    /// ERROR acks seen.
    pub errors: u64,
    /// (FragmentTimecode, FragmentNumber) of each PERSISTED ack, when `keep_numbers` is set.
    pub persisted_fragments: Vec<(i64, String)>,
    /// ErrorId of each ERROR ack.
    pub error_ids: Vec<i64>,
    /// Keep `persisted_fragments` (the soak verifies them; the other benches only count).
    pub keep_numbers: bool,
}

/// A PutMedia connection.
pub struct Producer {
    tx: OwnedWriteHalf,
    /// Shared with the ack reader task.
    pub log: Arc<Mutex<AckLog>>,
}

impl Producer {
    /// Opens `/putMedia` for `stream` with ABSOLUTE timecodes.
    pub async fn connect(addr: SocketAddr, stream: &str) -> anyhow::Result<Producer> {
        let s = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        s.set_nodelay(true)?;
        let (rx, mut tx) = s.into_split();
        let auth = auth_lines(
            "POST",
            addr,
            "/putMedia",
            &[
                ("x-amzn-fragment-timecode-type", "ABSOLUTE"),
                ("x-amzn-stream-name", stream),
            ],
            None,
        );
        let head = format!(
            "POST /putMedia HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\nx-amzn-stream-name: {stream}\r\nx-amzn-fragment-timecode-type: ABSOLUTE\r\n{auth}\r\n"
        );
        tx.write_all(head.as_bytes()).await?;
        let log = Arc::new(Mutex::new(AckLog::default()));
        tokio::spawn(read_acks(rx, Arc::clone(&log)));
        Ok(Producer { tx, log })
    }

    /// Writes `data` as one chunk.
    pub async fn send(&mut self, data: &[u8]) -> anyhow::Result<()> {
        self.tx
            .write_all(format!("{:x}\r\n", data.len()).as_bytes())
            .await?;
        self.tx.write_all(data).await?;
        self.tx.write_all(b"\r\n").await?;
        Ok(())
    }

    /// Writes a fragment and notes when its last byte went out.
    pub async fn send_fragment(&mut self, timecode_ms: u64, data: &[u8]) -> anyhow::Result<()> {
        self.send(data).await?;
        if let Ok(mut l) = self.log.lock() {
            l.sent.insert(timecode_ms as i64, Instant::now());
        }
        Ok(())
    }

    /// Ends the body. Keep the producer alive until its last acks are in: dropping it closes
    /// the socket.
    pub async fn finish(&mut self) -> anyhow::Result<()> {
        self.tx.write_all(b"0\r\n\r\n").await?;
        Ok(())
    }
}

/// Scans the response for ack objects. Acks are whole lines and each is one chunk, so looking
/// for `{...}` spans in the raw bytes is enough.
async fn read_acks(mut rx: OwnedReadHalf, log: Arc<Mutex<AckLog>>) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut pending = Vec::new();
    loop {
        let n = match rx.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let now = Instant::now();
        pending.extend_from_slice(&buf[..n]);
        while let Some(start) = pending.iter().position(|&b| b == b'{') {
            let Some(len) = pending[start..].iter().position(|&b| b == b'}') else {
                break;
            };
            let obj = &pending[start..=start + len];
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(obj)
                && let Ok(mut l) = log.lock()
            {
                match v["EventType"].as_str() {
                    Some("PERSISTED") => {
                        l.persisted += 1;
                        if l.keep_numbers
                            && let (Some(tc), Some(n)) =
                                (v["FragmentTimecode"].as_i64(), v["FragmentNumber"].as_str())
                        {
                            l.persisted_fragments.push((tc, n.to_owned()));
                        }
                        if let Some(tc) = v["FragmentTimecode"].as_i64()
                            && let Some(sent) = l.sent.remove(&tc)
                        {
                            l.persisted_latency.push(now.duration_since(sent));
                        }
                    }
                    Some("ERROR") => {
                        l.errors += 1;
                        l.error_ids.push(v["ErrorId"].as_i64().unwrap_or(-1));
                    }
                    _ => {}
                }
            }
            pending.drain(..=start + len);
        }
        if pending.len() > 1 << 20 {
            pending.clear();
        }
    }
}

/// Signs a request the benchmark builds itself (a WebSocket handshake): `Host`, `X-Amz-Date`
/// and `Authorization`, over its path and query, with an empty body.
pub fn sign_request<B>(req: &mut axum::http::Request<B>, addr: SocketAddr) -> anyhow::Result<()> {
    let method = req.method().as_str().to_owned();
    let uri = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |pq| pq.as_str().to_owned());
    sign_http(&method, &uri, &addr.to_string(), req.headers_mut(), &[])
}

/// Signs a `reqwest` request of the benchmarks (JSON bodies labelled as JSON; a PutMedia body
/// as if empty, as producers sign it).
pub fn sign_reqwest(req: &mut reqwest::Request) -> anyhow::Result<()> {
    use reqwest::header::{CONTENT_TYPE, HeaderValue};
    let url = req.url().clone();
    let host = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let streaming = url.path().ends_with("/putMedia");
    if !streaming && req.body().is_some() && !req.headers().contains_key(CONTENT_TYPE) {
        req.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    let body = match req.body().and_then(reqwest::Body::as_bytes) {
        Some(b) if !streaming => b.to_vec(),
        _ => Vec::new(),
    };
    let uri = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let method = req.method().as_str().to_owned();
    sign_http(&method, &uri, &host, req.headers_mut(), &body)
}

/// Sets `host` and signs `headers` with the benchmarks' key ([`Signer::sign_http`]); `uri` as
/// sent, `body` the bytes the signature covers.
fn sign_http(
    method: &str,
    uri: &str,
    host: &str,
    headers: &mut http::HeaderMap,
    body: &[u8],
) -> anyhow::Result<()> {
    headers.insert(http::header::HOST, http::HeaderValue::from_str(host)?);
    signer().sign_http(
        method,
        uri,
        headers,
        &sigv4::payload_sha256(body),
        sigv4::now_secs(),
    )?;
    Ok(())
}
