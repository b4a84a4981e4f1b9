//! Faults of the data disk: full (ENOSPC) during ingest. The data directory is a small tmpfs
//! the test mounts (root, as in CI; the test fails loudly where it cannot mount).
//!
//! Nothing acknowledged PERSISTED is lost, nothing torn is visible, the server keeps serving
//! reads, `vidstream check` is clean, and ingest resumes by itself once space returns.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::common::TestServer;
use crate::common::media::{
    Ack, BASE_MS, body_head, h264_track, media_for_fragments, persisted, put_media,
};

/// A tmpfs of `mib` MiB at `dir`, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, mib: u32) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// `n` one-second fragments of ~`kib` KiB each from fragment `first` on.
fn fragments(first: usize, n: usize, kib: usize) -> Vec<u8> {
    let mut b = body_head(&[h264_track(1)]);
    for i in first..first + n {
        let mut c = Vec::new();
        vidstream::mkv::write_cluster_start(&mut c, BASE_MS + i as u64 * 1000, None);
        for j in 0..10 {
            let mut payload = format!("fragment {i:04} frame {j:04} ").into_bytes();
            payload.resize(kib * 1024 / 10, b'a' + (i % 26) as u8);
            vidstream::mkv::write_simple_block(
                &mut c,
                1,
                (j * 33) as i16,
                j == 0,
                false,
                false,
                &payload,
            );
        }
        b.extend(c);
    }
    b
}

fn errors(acks: &[Ack]) -> Vec<&Ack> {
    acks.iter().filter(|a| a.event == "ERROR").collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_loses_nothing_acknowledged_and_ingest_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = Tmpfs::mount(&dir.path().join("disk"), 12);
    let data = mnt.0.join("data");
    // Space another program holds, freed later.
    let filler = mnt.0.join("filler");
    std::fs::write(&filler, vec![0u8; 4 << 20]).unwrap();
    let s = TestServer::start_with(&data, |c| c.segment_max_bytes = 1 << 20).await;
    s.create_active(json!({"StreamName": "cam", "DataRetentionInHours": 1}))
        .await;
    s.create_active(json!({"StreamName": "other", "DataRetentionInHours": 1}))
        .await;

    // 200 KiB fragments until the disk is full: PERSISTED ones, then an ERROR.
    let (status, acks) = put_media(&s.url, "cam", fragments(0, 60, 200), 64 << 10).await;
    assert_eq!(status, 200);
    let kept = persisted(&acks);
    assert!(kept.len() >= 5, "some fragments fit: {acks:?}");
    assert!(!errors(&acks).is_empty(), "the disk filled up: {acks:?}");
    assert!(kept.len() < 60);

    // Reads keep working, and what was acknowledged is listed and whole.
    let listed = s.call("/listFragments", json!({"StreamName": "cam"})).await;
    let mut numbers: Vec<String> = listed.assert_ok()["Fragments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["FragmentNumber"].as_str().unwrap().to_owned())
        .collect();
    numbers.sort();
    let mut want = kept.clone();
    want.sort();
    assert_eq!(numbers, want, "exactly the PERSISTED fragments are listed");
    let bytes = media_for_fragments(&s.url, "cam", &kept).await;
    for (k, n) in kept.iter().enumerate() {
        let needle = format!("fragment {k:04} frame 0009 ");
        assert!(
            bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "fragment {n} is whole"
        );
    }

    // Space returns: ingest resumes by itself, on this stream and another.
    std::fs::remove_file(&filler).unwrap();
    let first = kept.len() + 5;
    let (status, acks) = put_media(&s.url, "cam", fragments(first, 3, 200), 64 << 10).await;
    assert_eq!(status, 200);
    assert_eq!(persisted(&acks).len(), 3, "{acks:?}");
    let (_, acks) = put_media(&s.url, "other", fragments(0, 3, 200), 64 << 10).await;
    assert_eq!(persisted(&acks).len(), 3, "{acks:?}");
    s.stop().await;

    // A restart (recovery removes the segment the failed write left without fragments) keeps
    // every acknowledged fragment; then the directory checks clean.
    let s = TestServer::start(&data).await;
    let listed = s.call("/listFragments", json!({"StreamName": "cam"})).await;
    assert_eq!(
        listed.assert_ok()["Fragments"].as_array().unwrap().len(),
        kept.len() + 3
    );
    s.stop().await;

    let report = crate::common::backend::check(&data)
        .await
        .expect("check runs");
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    drop(mnt);
}
