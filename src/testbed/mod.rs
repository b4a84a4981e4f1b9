//! Throwaway servers of the engines vidstream stores on, started on loopback for the test suites
//! and for `vidstream bench`: a PostgreSQL cluster ([`postgres::Postgres`]) and S3-protocol
//! servers with a bucket ([`s3::S3s`]: s3s-fs, [`s3::SeaweedFs`]: SeaweedFS). Not part of the
//! service; public so that the integration tests and the benchmarks share one harness.

pub mod postgres;
pub mod s3;

use std::path::PathBuf;
use std::process::Command;

/// Why a throwaway server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum TestbedError {
    /// A program the harness needs is not installed.
    #[error("not installed: {0}")]
    Missing(String),
    /// Starting or driving the server failed.
    #[error("{0}")]
    Failed(String),
}

/// Runs `command` to completion; its output becomes the error if it fails.
fn run(command: &mut Command) -> Result<(), TestbedError> {
    let out = command
        .output()
        .map_err(|e| TestbedError::Failed(format!("running {:?}: {e}", command.get_program())))?;
    if out.status.success() {
        return Ok(());
    }
    Err(TestbedError::Failed(format!(
        "{:?} {:?} failed ({}): {}{}",
        command.get_program(),
        command.get_args().collect::<Vec<_>>(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )))
}

/// A free TCP port on 127.0.0.1 (free when asked; the server binds it a moment later).
fn free_port() -> Result<u16, TestbedError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| TestbedError::Failed(format!("finding a free port: {e}")))
}

/// A new empty directory under the temporary directory, readable by other users (a server
/// may run as another user).
fn scratch_dir(what: &str) -> Result<PathBuf, TestbedError> {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!(
        "vidstream-{what}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir(&dir)
        .and_then(|()| std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)))
        .map_err(|e| TestbedError::Failed(format!("creating {}: {e}", dir.display())))?;
    Ok(dir)
}
