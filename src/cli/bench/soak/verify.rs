//! The soak's verdicts: every PERSISTED fragment accounted for, and the data directory checked.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::load::{ProducerLog, frame_tag};
use crate::cli::bench::client::sign_reqwest;

/// Fragments whose bytes are fetched back per stream (the newest ones).
const BYTES_CHECKED_PER_STREAM: usize = 20;

/// What verification found.
pub struct Verified {
    /// PERSISTED acks received.
    pub acknowledged: usize,
    /// Of those, listed now.
    pub kept: usize,
    /// Older than the oldest kept one: deleted by retention's size cap, oldest first.
    pub retired: usize,
    /// Acknowledged, not retired, and not listed or not whole: must be empty.
    pub lost: Vec<String>,
    /// Fragments whose bytes were fetched and found whole.
    pub bytes_checked: usize,
}

/// `vidstream check`'s findings.
pub struct Checked {
    pub problems: usize,
    pub leftovers: usize,
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    path: &str,
    body: Value,
) -> anyhow::Result<bytes::Bytes> {
    let mut req = http
        .post(format!("{url}{path}"))
        .body(body.to_string())
        .build()?;
    sign_reqwest(&mut req)?;
    let r = http
        .execute(req)
        .await
        .with_context(|| format!("POST {path}"))?;
    let status = r.status();
    let b = r.bytes().await?;
    if !status.is_success() {
        bail!("{path}: {status} {}", String::from_utf8_lossy(&b));
    }
    Ok(b)
}

/// Every fragment number ListFragments gives for `stream` (all pages).
async fn listed(
    http: &reqwest::Client,
    url: &str,
    stream: &str,
) -> anyhow::Result<HashSet<String>> {
    let mut out = HashSet::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"StreamName": stream, "MaxResults": 1000});
        if let Some(t) = &token {
            body["NextToken"] = json!(t);
        }
        let v: Value = serde_json::from_slice(&post(http, url, "/listFragments", body).await?)?;
        for f in v["Fragments"].as_array().into_iter().flatten() {
            if let Some(n) = f["FragmentNumber"].as_str() {
                out.insert(n.to_owned());
            }
        }
        match v["NextToken"].as_str() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => return Ok(out),
        }
    }
}

/// Checks each producer's PERSISTED fragments against the server at `addr`.
pub async fn fragments(addr: SocketAddr, producers: &[ProducerLog]) -> anyhow::Result<Verified> {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()?;
    let url = format!("http://{addr}");
    let mut v = Verified {
        acknowledged: 0,
        kept: 0,
        retired: 0,
        lost: Vec::new(),
        bytes_checked: 0,
    };
    for p in producers {
        let mut acked: Vec<(i64, String)> = p
            .logs
            .iter()
            .filter_map(|l| l.lock().ok().map(|l| l.persisted_fragments.clone()))
            .flatten()
            .collect();
        acked.sort();
        acked.dedup();
        v.acknowledged += acked.len();
        let have = listed(&http, &url, &p.stream).await?;
        // Retention's size cap deletes oldest first: everything from the oldest kept on must
        // be there.
        let first_kept = acked
            .iter()
            .position(|(_, n)| have.contains(n))
            .unwrap_or(acked.len());
        v.retired += first_kept;
        for (tc, n) in &acked[first_kept..] {
            if have.contains(n) {
                v.kept += 1;
            } else {
                v.lost.push(format!(
                    "{} fragment {n} (timecode {tc}) is not listed",
                    p.stream
                ));
            }
        }
        if first_kept == acked.len() && !acked.is_empty() {
            v.lost.push(format!(
                "{}: none of its {} fragments is listed",
                p.stream,
                acked.len()
            ));
        }
        // The newest ones' bytes, each frame naming its fragment.
        let newest: Vec<&(i64, String)> = acked[first_kept..]
            .iter()
            .rev()
            .take(BYTES_CHECKED_PER_STREAM)
            .filter(|(_, n)| have.contains(n))
            .collect();
        if newest.is_empty() {
            continue;
        }
        let numbers: Vec<&str> = newest.iter().map(|(_, n)| n.as_str()).collect();
        let body = post(
            &http,
            &url,
            "/getMediaForFragmentList",
            json!({"StreamName": p.stream, "Fragments": numbers}),
        )
        .await?;
        for (tc, n) in newest {
            let tag = frame_tag(&p.stream, *tc);
            let count = body
                .windows(tag.len())
                .filter(|w| *w == tag.as_bytes())
                .count();
            if count == 30 {
                v.bytes_checked += 1;
            } else {
                v.lost.push(format!(
                    "{} fragment {n}: {count} of its 30 frames came back",
                    p.stream
                ));
            }
        }
    }
    Ok(v)
}

/// `vidstream check` of `data` (the server stopped).
pub fn check(data: &Path) -> anyhow::Result<Checked> {
    // Its own runtime on its own thread: this is called from the bench's async context.
    let report = std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            anyhow::Ok(rt.block_on(crate::store::check::check(data, &Default::default(), None))?)
        })
        .join()
        .map_err(|_| anyhow::anyhow!("check panicked"))
    })??;
    for p in &report.problems {
        tracing::error!(problem = %p, "soak: check");
    }
    Ok(Checked {
        problems: report.problems.len(),
        leftovers: report.leftovers.len(),
    })
}
