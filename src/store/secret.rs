//! Secrets kept in the data directory (today: the key that signs HLS/DASH session tokens).
//!
//! They live here because the data directory is the store's alone (invariant 9): a secret file
//! is created under the directory's lock, next to the state it protects, and a copy of the data
//! directory keeps the session URLs it handed out valid. A secret is made once, from the OS
//! random generator, written to a temporary file (mode 0600, fsynced) and renamed into place,
//! then the directory is fsynced: a crash leaves either no secret or the whole secret, never a
//! short one. A secret shorter than [`SECRET_BYTES`] is refused, never silently replaced, because
//! replacing it would invalidate everything signed with the old one.

use std::io::Write;
use std::path::Path;

use super::StoreError;

/// Length of a generated secret, and the shortest one accepted from disk.
pub const SECRET_BYTES: usize = 32;

/// The secrets the store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// Signs HLS/DASH session tokens (`DATA_DIR/session.key`).
    SessionKey,
}

impl Secret {
    /// Its file name in the data directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Secret::SessionKey => "session.key",
        }
    }
}

/// The secret's bytes, created on first use.
pub(super) fn load_or_create(data_dir: &Path, which: Secret) -> Result<Vec<u8>, StoreError> {
    let path = data_dir.join(which.file_name());
    match std::fs::read(&path) {
        Ok(bytes) if bytes.len() >= SECRET_BYTES => return Ok(bytes),
        Ok(_) => {
            return Err(StoreError::corruption(format!(
                "{} is shorter than {SECRET_BYTES} bytes; restore it, or remove it to make a new one (session URLs signed with it stop working)",
                path.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(format!("reading {}", path.display()), e)),
    }
    let secret: [u8; SECRET_BYTES] = rand::random();
    let tmp = data_dir.join(format!("{}.tmp", which.file_name()));
    let write = || -> std::io::Result<()> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp)?;
        f.write_all(&secret)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(data_dir)?.sync_all()
    };
    write().map_err(|e| StoreError::io(format!("creating {}", path.display()), e))?;
    tracing::info!(path = %path.display(), "created a new secret");
    Ok(secret.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), Secret::SessionKey).unwrap();
        assert_eq!(first.len(), SECRET_BYTES);
        let path = dir.path().join("session.key");
        assert_eq!(std::fs::read(&path).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!dir.path().join("session.key.tmp").try_exists().unwrap());
        let again = load_or_create(dir.path(), Secret::SessionKey).unwrap();
        assert_eq!(again, first, "an existing secret is read, not replaced");
    }

    #[test]
    fn a_short_secret_is_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session.key");
        std::fs::write(&path, b"short").unwrap();
        match load_or_create(dir.path(), Secret::SessionKey) {
            Err(StoreError::Corruption(m)) => assert!(m.contains("shorter than 32 bytes"), "{m}"),
            other => panic!("expected Corruption, got {other:?}"),
        }
        assert_eq!(std::fs::read(&path).unwrap(), b"short");
    }
}
