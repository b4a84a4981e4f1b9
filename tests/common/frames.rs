//! Which frame is this? Decodes MKV with an independent decoder (ffmpeg) and reads the frame
//! index each fixture frame carries (fixtures/framecode.py).

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// The framecode indexes of the first `n` video frames of the MKV document at `path`, as
/// ffmpeg decodes them.
pub fn decoded_indexes(path: &Path, n: usize) -> Vec<u32> {
    let scratch = path.with_extension("gray");
    indexes_of(&path.to_string_lossy(), &scratch, Some(n))
}

/// The framecode indexes of the video frames ffmpeg decodes from `input` (a file or a URL:
/// an HLS playlist, a DASH manifest), at most `max` of them; `scratch` is a temporary file.
pub fn indexes_of(input: &str, scratch: &Path, max: Option<usize>) -> Vec<u32> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y", "-i", input]);
    if let Some(n) = max {
        cmd.args(["-frames:v", &n.to_string()]);
    }
    let out = cmd
        .args(["-f", "rawvideo", "-pix_fmt", "gray"])
        .arg(scratch)
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
        .arg(scratch)
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
