//! `vidstream bench ingest` runs end to end on a tiny load and prints its table (the figures
//! themselves are for people: the machine is shared and noisy).

use std::process::Command;

#[test]
fn bench_ingest_prints_its_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vidstream"))
        .args([
            "bench",
            "ingest",
            "--streams",
            "4",
            "--seconds",
            "1",
            "--idle",
            "4",
            "--connections",
            "1",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for row in [
        "disk:",
        "PutMedia ingest",
        "server CPU",
        "PERSISTED ack",
        "idle producer",
    ] {
        assert!(stdout.contains(row), "missing `{row}` in:\n{stdout}");
    }
    assert!(!stdout.contains(" 0 fragments"), "{stdout}");
    assert!(
        stdout
            .lines()
            .all(|l| !l.contains("errors)") || l.contains(" 0 errors)")),
        "{stdout}"
    );
}

#[test]
fn bench_cameras_prints_its_row() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vidstream"))
        .args([
            "bench",
            "cameras",
            "--cameras",
            "2",
            "--seconds",
            "1",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("2 pulled RTSP cameras"), "{stdout}");
    assert!(stdout.contains("cameras per core"), "{stdout}");
}

#[test]
fn bench_push_prints_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vidstream"))
        .args(["bench", "push", "--pushes", "2", "--seconds", "1", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("2 x `vidstream push` of an MKV file"),
        "{stdout}"
    );
    assert!(stdout.contains("per push process"), "{stdout}");
    assert!(stdout.contains("push` of the test pattern"), "{stdout}");
}

/// Needs nginx (the Debian package, installed by scripts/install-deps.sh): the scenario
/// compares segment serving with it, and fails rather than skips without it.
#[test]
fn bench_playback_prints_its_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vidstream"))
        .args([
            "bench",
            "playback",
            "--seconds",
            "1",
            "--connections",
            "4",
            "--sessions",
            "20",
            "--idle",
            "4",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("nginx is not installed"),
        "nginx is missing: run scripts/install-deps.sh (it installs the Debian package nginx)\n{stderr}"
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for row in [
        "vidstream: media segment GETs",
        "nginx: media segment GETs",
        "x nginx",
        "memory per open keep-alive connection",
        "memory per HLS session",
    ] {
        assert!(stdout.contains(row), "missing `{row}` in:\n{stdout}");
    }
    assert!(!stdout.contains(" 0 req/s"), "{stdout}");
    assert!(
        stdout
            .lines()
            .all(|l| !l.contains("errors") || l.contains(" 0 errors")),
        "{stdout}"
    );
}

#[test]
fn bench_hook_prints_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vidstream"))
        .args(["bench", "hook", "--seconds", "2", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for row in [
        "ingest without hook (2 fragments",
        "10 images,",
        "images/s per core",
        "webhook at 1 s per POST",
        "dropped",
    ] {
        assert!(stdout.contains(row), "missing `{row}` in:\n{stdout}");
    }
}

#[test]
fn bench_feed_prints_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vidstream"))
        .args(["bench", "feed", "--seconds", "2", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for row in ["feed every frame", "feed 1 per second"] {
        let line = stdout
            .lines()
            .find(|l| l.contains(row))
            .unwrap_or_else(|| panic!("missing `{row}` in:\n{stdout}"));
        assert!(line.contains("p50") && line.contains("p99"), "{line}");
    }
}

#[test]
fn bench_images_prints_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vidstream"))
        .args(["bench", "images", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = stdout
        .lines()
        .find(|l| l.contains("vidstream frames: decode 30 GOPs of 30"))
        .unwrap_or_else(|| panic!("no decode row in:\n{stdout}"));
    assert!(ours.contains("x (rounds: "), "{ours}");
    for row in [
        "gst-launch avdec_h264",
        "median of 3",
        "keyframe-sampled JPEG",
        "images/s per core",
    ] {
        assert!(stdout.contains(row), "missing `{row}` in:\n{stdout}");
    }
}
