//! Which frame is this? Decodes MKV with an independent decoder (ffmpeg) and reads the frame
//! index each fixture frame carries (fixtures/framecode.py).

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// The framecode indexes of the first `n` video frames of the MKV document at `path`, as
/// ffmpeg decodes them.
pub fn decoded_indexes(path: &Path, n: usize) -> Vec<u32> {
    let gray = path.with_extension("gray");
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(path)
        .args([
            "-frames:v",
            &n.to_string(),
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
        ])
        .arg(&gray)
        .output()
        .expect("ffmpeg is installed (scripts/install-deps.sh)");
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/framecode.py");
    let out = Command::new("python3")
        .arg(script)
        .args(["decode", "--width", "320", "--height", "240"])
        .arg(&gray)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "framecode: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().parse().expect("an index per line"))
        .collect()
}
