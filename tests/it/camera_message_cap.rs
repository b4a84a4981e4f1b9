//! Issue 15: a hostile RTSP "camera" answering DESCRIBE with a 600 MiB body took the server from
//! 43 MB to 985 MB, because retina buffers a message whole before parsing it. Now `[cameras]
//! max_rtsp_message_bytes` (1 MiB) caps every RTSP message (vendor/retina/VIDSTREAM-PATCH.md):
//! fake cameras here answer OPTIONS normally and DESCRIBE with a 600 MiB body, with header lines
//! that never end, with one header line that never ends, and with a status line that never ends,
//! each streamed as fast as the server reads. The server's peak RSS stays within 64 MiB of where
//! it started, each camera's status says why it failed (the size, or "could not connect" when
//! not even a status line came, see `pull::connect`), and a producer pushing to another stream
//! meanwhile keeps getting PERSISTED acks.
//!
//! The harness's server runs in this process, so "the server's peak RSS" is this process's
//! VmHWM: the test runs alone (`serial::alone`) and resets the peak first (`clear_refs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::camera::*;
use crate::common::media::{body_head, cluster, h264_track, parse_acks};
use crate::common::sign::SendSigned;

/// What the fake camera declares, and streams.
const DECLARED: u64 = 629_145_600;
/// The server's default `[cameras] max_rtsp_message_bytes`.
const LIMIT: u64 = 1 << 20;
/// How far the peak RSS may rise over its starting point.
const RSS_BOUND_KB: u64 = 64 * 1024;

/// How the fake camera answers DESCRIBE.
#[derive(Clone, Copy, Debug)]
enum Attack {
    /// A valid head with `Content-Length: 629145600`, then that many bytes.
    Body,
    /// A status line, then header lines (`X-Pad-N: ...`) that keep coming, no blank line.
    HeaderLines,
    /// A status line, then one header line that never ends.
    HeaderLine,
    /// A status line that never ends.
    StatusLine,
}

/// A fake camera on a loopback port: answers OPTIONS normally and DESCRIBE with `attack`,
/// streaming up to [`DECLARED`] bytes after the head as fast as the peer reads. Serves every
/// connection (the server retries) until dropped.
struct FakeCamera {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl FakeCamera {
    async fn start(attack: Attack) -> FakeCamera {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, attack));
            }
        });
        FakeCamera { port, task }
    }

    fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/stream", self.port)
    }
}

impl Drop for FakeCamera {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One connection: requests until DESCRIBE, then the attack until the peer goes away.
async fn serve(mut conn: TcpStream, attack: Attack) {
    let mut buf = Vec::new();
    loop {
        // One request head (retina's OPTIONS and DESCRIBE have no body).
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        let method = head.split(' ').next().unwrap_or("").to_owned();
        let cseq = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("cseq").then(|| v.trim().to_owned())
            })
            .unwrap_or_else(|| "0".into());
        if method != "DESCRIBE" {
            let answer = format!(
                "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n"
            );
            if conn.write_all(answer.as_bytes()).await.is_err() {
                return;
            }
            continue;
        }
        let _ = attack_with(&mut conn, attack, &cseq).await;
        return;
    }
}

/// Streams the attack; returns when [`DECLARED`] bytes are out or the peer closed.
async fn attack_with(conn: &mut TcpStream, attack: Attack, cseq: &str) -> std::io::Result<()> {
    let head = match attack {
        Attack::Body => format!(
            "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Type: application/sdp\r\n\
             Content-Length: {DECLARED}\r\n\r\n"
        ),
        Attack::HeaderLines | Attack::HeaderLine => format!("RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n"),
        Attack::StatusLine => "RTSP/1.0 200 ".to_owned(),
    };
    conn.write_all(head.as_bytes()).await?;
    let mut sent = 0u64;
    match attack {
        Attack::Body | Attack::HeaderLine | Attack::StatusLine => {
            let fill = if matches!(attack, Attack::Body) {
                b'v'
            } else {
                if matches!(attack, Attack::HeaderLine) {
                    conn.write_all(b"X-Pad: ").await?;
                }
                b'a'
            };
            let chunk = vec![fill; 64 << 10];
            while sent < DECLARED {
                conn.write_all(&chunk).await?;
                sent += chunk.len() as u64;
            }
        }
        Attack::HeaderLines => {
            // ~64 KiB of distinct header lines per write.
            let mut n = 0u64;
            while sent < DECLARED {
                let mut block = Vec::with_capacity(66 << 10);
                while block.len() < 64 << 10 {
                    n += 1;
                    block.extend_from_slice(
                        format!("X-Pad-{n}: {}\r\n", "a".repeat(100)).as_bytes(),
                    );
                }
                conn.write_all(&block).await?;
                sent += block.len() as u64;
            }
        }
    }
    Ok(())
}

/// A field of /proc/self/status, in kB.
fn proc_status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

/// Peak RSS since the last [`reset_peak_rss`], in kB.
fn peak_rss_kb() -> u64 {
    proc_status_kb("VmHWM:")
}

/// Sets VmHWM back to the current RSS (Linux >= 4.0).
fn reset_peak_rss() {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM via /proc/self/clear_refs");
}

/// A PutMedia to `stream` sending one 5-frame fragment every 200 ms until `stop`; counts its
/// PERSISTED acks into `persisted` as they arrive and returns all acks.
async fn steady_producer(
    url: String,
    stream: &'static str,
    persisted: Arc<AtomicUsize>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<crate::common::media::Ack> {
    let head = body_head(&[h264_track(1)]);
    let body = futures_util::stream::unfold(
        (0usize, Some(head), stop),
        |(i, head, mut stop)| async move {
            if let Some(h) = head {
                return Some((Ok::<_, std::io::Error>(Bytes::from(h)), (i, None, stop)));
            }
            if i > 0 {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return None,
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
            Some((Ok(Bytes::from(cluster(i, 5))), (i + 1, None, stop)))
        },
    );
    let mut resp = reqwest::Client::new()
        .post(format!("{url}/putMedia"))
        .header("x-amzn-stream-name", stream)
        .header("x-amzn-fragment-timecode-type", "ABSOLUTE")
        .header("x-amzn-producer-start-timestamp", "1700000000.000")
        .body(reqwest::Body::wrap_stream(body))
        .timeout(Duration::from_secs(120))
        .send_signed()
        .await
        .expect("putMedia sent");
    assert_eq!(resp.status(), 200);
    let mut text = String::new();
    while let Some(chunk) = resp.chunk().await.expect("ack stream") {
        text.push_str(&String::from_utf8_lossy(&chunk));
        let acks = parse_acks(text.rsplit_once('\n').map_or("", |(done, _)| done));
        persisted.store(
            acks.iter().filter(|a| a.event == "PERSISTED").count(),
            Ordering::SeqCst,
        );
    }
    parse_acks(&text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oversized_rtsp_messages_are_refused_with_bounded_memory() {
    let _alone = crate::common::serial::alone();
    let dir = tempfile::tempdir().unwrap();
    let s = start_server(dir.path()).await;
    create_stream(&s, "steady").await;
    let attacks = [
        ("body-cam", Attack::Body),
        ("lines-cam", Attack::HeaderLines),
        ("line-cam", Attack::HeaderLine),
        ("status-cam", Attack::StatusLine),
    ];
    let mut cams = Vec::new();
    for (name, attack) in attacks {
        create_stream(&s, name).await;
        cams.push((name, attack, FakeCamera::start(attack).await));
    }

    // The producer is under way before the cameras are added.
    let persisted = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let producer = tokio::spawn(steady_producer(
        s.url.clone(),
        "steady",
        Arc::clone(&persisted),
        stop_rx,
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    while persisted.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the producer got no PERSISTED ack"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    tokio::time::sleep(Duration::from_millis(200)).await;
    reset_peak_rss();
    let baseline = peak_rss_kb();
    let persisted_before = persisted.load(Ordering::SeqCst);
    for (name, _, cam) in &cams {
        add_camera(
            &s,
            json!({ "name": name, "url": cam.url(), "stream": name }),
        )
        .await
        .assert_error_free();
    }

    // Every camera fails for the right reason; then they keep retrying (every backoff_max_ms,
    // 1 s here) for a few more seconds. The peak RSS is checked all along: without the cap it
    // passes the bound within the first second, long before any status changes.
    let size_error = format!("the camera sent an RTSP message over {LIMIT} bytes");
    let started = Instant::now();
    let mut failed_at = None;
    loop {
        let peak = peak_rss_kb();
        assert!(
            peak < baseline + RSS_BOUND_KB,
            "peak RSS rose from {baseline} kB to {peak} kB (bound +{RSS_BOUND_KB} kB) after {:?}",
            started.elapsed()
        );
        let mut all = true;
        for (name, attack, cam) in &cams {
            let c = camera(&s, name).await;
            let last = c["status"]["lastError"].as_str().unwrap_or("");
            let want = match attack {
                Attack::StatusLine => {
                    format!("could not connect to the camera at 127.0.0.1:{}", cam.port)
                }
                _ => size_error.clone(),
            };
            all &= last.contains(&want);
        }
        if all && failed_at.is_none() {
            failed_at = Some(started.elapsed());
        }
        if failed_at.is_some_and(|t| started.elapsed() > t + Duration::from_secs(4)) {
            break;
        }
        if failed_at.is_none() && started.elapsed() > Duration::from_secs(20) {
            let mut states = Vec::new();
            for (name, _, _) in &cams {
                states.push(camera(&s, name).await["status"].clone());
            }
            panic!("not every camera failed for the message size within 20 s: {states:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let peak = peak_rss_kb();
    let persisted_during = persisted.load(Ordering::SeqCst) - persisted_before;
    eprintln!(
        "rtsp message cap: cameras failed after {:?}; peak RSS {baseline} kB -> {peak} kB (+{} kB); \
         {persisted_during} fragments PERSISTED meanwhile",
        failed_at.unwrap(),
        peak.saturating_sub(baseline)
    );
    for (name, attack, _) in &cams {
        let c = camera(&s, name).await;
        eprintln!("{name} ({attack:?}): {}", c["status"]);
        let last = c["status"]["lastError"].as_str().unwrap_or("");
        // Clear words only: no retina context (addresses, byte positions, hex dumps) or paths.
        assert!(
            !last.contains("byte ") && !last.contains('/') && !last.contains("conn:"),
            "{c:#}"
        );
        if !matches!(attack, Attack::StatusLine) {
            assert_eq!(state(&c), "error", "{c:#}");
            assert!(
                last.contains("max_rtsp_message_bytes"),
                "names the key to change: {c:#}"
            );
        }
    }
    // The producer was served all along: at least a fragment every second of the attack.
    let window = started.elapsed().as_secs() as usize;
    assert!(
        persisted_during >= window.max(2) - 1,
        "{persisted_during} fragments PERSISTED in {window} s"
    );
    stop_tx.send(true).unwrap();
    let acks = producer.await.unwrap();
    assert!(
        acks.iter().all(|a| a.event != "ERROR"),
        "no fragment fails: {acks:?}"
    );
    s.request(reqwest::Method::GET, "/healthz")
        .await
        .assert_ok();
    drop(cams);
    s.stop().await;
}
