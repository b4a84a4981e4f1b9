//! Which frame is this? Decodes MKV with an independent decoder (ffmpeg) and reads the frame
//! index each fixture frame carries (fixtures/framecode.py).

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
    framecodes(scratch, 320, 240)
}

/// The framecode index of each `width`×`height` 8-bit gray frame in the raw file `gray`
/// (fixtures/framecode.py decode), in file order.
pub fn framecodes(gray: &Path, width: u32, height: u32) -> Vec<u32> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/framecode.py");
    let out = Command::new("python3")
        .arg(script)
        .args(["decode", "--width", &width.to_string()])
        .args(["--height", &height.to_string()])
        .arg(gray)
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
