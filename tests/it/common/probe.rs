//! Independent checks with ffprobe, and splitting concatenated MKV documents by their sizes.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// A file under fixtures/.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// One packet as ffprobe sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    pub stream: i64,
    pub pts_ms: i64,
    pub key: bool,
    pub md5: String,
}

/// ffprobe's JSON for `args` on `path`; fails the test if ffprobe complains at all.
pub fn ffprobe(args: &[&str], path: &Path) -> Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json"])
        .args(args)
        .arg(path)
        .output()
        .expect("ffprobe is installed (scripts/install-deps.sh installs ffmpeg)");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffprobe on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe JSON")
}

/// Every packet of `path`, with the MD5 of its payload.
pub fn packets(path: &Path) -> Vec<Packet> {
    ffprobe(&["-show_packets", "-show_data_hash", "MD5"], path)["packets"]
        .as_array()
        .expect("packets")
        .iter()
        .map(|p| Packet {
            stream: p["stream_index"].as_i64().unwrap_or(0),
            pts_ms: (p["pts_time"]
                .as_str()
                .unwrap_or("0")
                .parse::<f64>()
                .unwrap_or(0.0)
                * 1000.0)
                .round() as i64,
            key: p["flags"].as_str().unwrap_or("").starts_with('K'),
            md5: p["data_hash"].as_str().unwrap_or("").to_owned(),
        })
        .collect()
}

/// Packets relative to the first one's time, per stream, in time order.
pub fn normalized(mut p: Vec<Packet>) -> Vec<Packet> {
    let t0 = p.iter().map(|x| x.pts_ms).min().unwrap_or(0);
    for x in &mut p {
        x.pts_ms -= t0;
    }
    p.sort_by_key(|x| (x.stream, x.pts_ms));
    p
}

fn vint(b: &[u8]) -> (u64, usize) {
    let len = b[0].leading_zeros() as usize + 1;
    let mut v = u64::from(b[0]) & ((1u64 << (8 - len)) - 1);
    for x in &b[1..len] {
        v = (v << 8) | u64::from(*x);
    }
    (v, len)
}

/// Splits concatenated documents by their top-level sizes (EBML header, then a known-size
/// Segment), without parsing their contents: one per fragment of a GetMediaForFragmentList.
pub fn split_documents(mut b: &[u8]) -> Vec<Vec<u8>> {
    let mut docs = Vec::new();
    while !b.is_empty() {
        assert_eq!(&b[..4], &[0x1A, 0x45, 0xDF, 0xA3], "EBML header");
        let (hlen, n) = vint(&b[4..]);
        let seg = 4 + n + hlen as usize;
        assert_eq!(&b[seg..seg + 4], &[0x18, 0x53, 0x80, 0x67], "Segment");
        let (slen, m) = vint(&b[seg + 4..]);
        let end = seg + 4 + m + slen as usize;
        docs.push(b[..end].to_vec());
        b = &b[end..];
    }
    docs
}

/// A fixture's video presentation times (stream 0, read by ffprobe), ms from its first, in
/// presentation order: frame `i` of a framecode fixture is the `i`-th.
pub fn video_pts(file: &str) -> Vec<i64> {
    let mut pts: Vec<i64> = packets(&fixture(file))
        .into_iter()
        .filter(|p| p.stream == 0)
        .map(|p| p.pts_ms)
        .collect();
    pts.sort_unstable();
    let t0 = pts[0];
    pts.iter().map(|p| p - t0).collect()
}

/// The index of the frame shown at `offset` ms among `pts` (from [`video_pts`]): the last with
/// pts ≤ offset.
pub fn shown_index(pts: &[i64], offset: i64) -> u32 {
    (pts.iter().filter(|&&p| p <= offset).count() - 1) as u32
}
