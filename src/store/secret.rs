//! Secrets kept in the data directory: the key that signs HLS/DASH session tokens, the master
//! key that seals stored secrets (`auth::seal`), and the generated root credentials
//! (`auth::root`).
//!
//! They live here because the data directory is the store's alone (invariant 9): a secret file
//! is created under the directory's lock, next to the state it protects, and a copy of the data
//! directory keeps the session URLs it handed out valid and its sealed secrets readable. A secret
//! is made once (random bytes from the OS generator, or content its caller made), written to a
//! temporary file (mode 0600, fsynced) and renamed into place, then the directory is fsynced: a
//! crash leaves either no secret or the whole secret, never a short one. A secret shorter than
//! [`SECRET_BYTES`] is refused, never silently replaced, because replacing it would invalidate
//! everything made with the old one.

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
    /// Seals stored secrets such as access keys' secret halves (`DATA_DIR/master.key`, exactly
    /// 32 bytes), unless `[auth] master_key` is configured.
    MasterKey,
    /// The root access key, in the AWS shared-credentials format (`DATA_DIR/root-credentials`),
    /// unless `[auth] root_access_key_id` is configured. Its content is made by `auth::root`.
    RootCredentials,
}

impl Secret {
    /// Its file name in the data directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Secret::SessionKey => "session.key",
            Secret::MasterKey => "master.key",
            Secret::RootCredentials => "root-credentials",
        }
    }

    /// What is lost when the file is replaced, for the message refusing a damaged one.
    fn loss(self) -> &'static str {
        match self {
            Secret::SessionKey => "session URLs signed with it stop working",
            Secret::MasterKey => {
                "every secret sealed with it (access keys' secrets) becomes unreadable"
            }
            Secret::RootCredentials => {
                "a new root key is made and clients using the old one are refused"
            }
        }
    }
}

/// The secret's bytes, created (random, [`SECRET_BYTES`] long) on first use. Root credentials
/// are not random bytes: they need [`load_or_create_with`].
pub(super) fn load_or_create(data_dir: &Path, which: Secret) -> Result<Vec<u8>, StoreError> {
    if which == Secret::RootCredentials {
        return Err(StoreError::internal(
            "root credentials are made by auth::root, not as random bytes",
        ));
    }
    load_or_create_with(data_dir, which, || {
        let secret: [u8; SECRET_BYTES] = rand::random();
        secret.to_vec()
    })
}

/// The secret's bytes; on first use, `make`'s bytes are written and returned.
pub(super) fn load_or_create_with(
    data_dir: &Path,
    which: Secret,
    make: impl FnOnce() -> Vec<u8>,
) -> Result<Vec<u8>, StoreError> {
    let path = data_dir.join(which.file_name());
    match std::fs::read(&path) {
        Ok(bytes) if bytes.len() >= SECRET_BYTES => return Ok(bytes),
        Ok(_) => {
            return Err(StoreError::corruption(format!(
                "{} is shorter than {SECRET_BYTES} bytes; restore it, or remove it to make a new one ({})",
                path.display(),
                which.loss()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(format!("reading {}", path.display()), e)),
    }
    let secret = make();
    if secret.len() < SECRET_BYTES {
        return Err(StoreError::internal(format!(
            "refusing to write {}: {} bytes is shorter than {SECRET_BYTES}",
            path.display(),
            secret.len()
        )));
    }
    write_atomically(data_dir, which, &secret)?;
    tracing::info!(path = %path.display(), "created a new secret");
    Ok(secret)
}

/// Replaces a random secret with a new one (rotation: everything signed with the old one stops
/// being accepted), written the same crash-safe way.
pub(super) fn replace(data_dir: &Path, which: Secret) -> Result<Vec<u8>, StoreError> {
    if which == Secret::RootCredentials || which == Secret::MasterKey {
        return Err(StoreError::internal(format!(
            "{} is not rotated by replacing it",
            which.file_name()
        )));
    }
    let secret: [u8; SECRET_BYTES] = rand::random();
    write_atomically(data_dir, which, &secret)?;
    tracing::info!(secret = which.file_name(), "replaced a secret");
    Ok(secret.to_vec())
}

/// Writes `secret` to a temporary file (0600, fsynced), renames it into place and fsyncs the
/// directory: a crash leaves the old secret or the new one, never a short one.
fn write_atomically(data_dir: &Path, which: Secret, secret: &[u8]) -> Result<(), StoreError> {
    let path = data_dir.join(which.file_name());
    let tmp = data_dir.join(format!("{}.tmp", which.file_name()));
    let write = || -> std::io::Result<()> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp)?;
        // The mode above is masked by the umask and ignored for a leftover tmp file: set it.
        #[cfg(unix)]
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        f.write_all(secret)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(data_dir)?.sync_all()
    };
    write().map_err(|e| StoreError::io(format!("writing {}", path.display()), e))
}

/// Creates the data directory with mode 0700 (whatever the umask) and its `media/`, or checks an
/// existing one: a directory other users can enter is the operator's choice (a mounted volume may
/// need it), so it is kept as it is and warned about rather than changed.
pub(super) fn create_data_dir(dir: &Path) -> Result<(), StoreError> {
    let io = |what: &str, p: &Path, e| StoreError::io(format!("{what} {}", p.display()), e);
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| io("creating", parent, e))?;
    }
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(dir) {
        Ok(()) => {
            // The mode given to mkdir is masked by the umask: set it.
            #[cfg(unix)]
            std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .map_err(|e| io("setting the mode of", dir, e))?;
            tracing::info!(path = %dir.display(), "created the data directory");
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let meta = std::fs::metadata(dir).map_err(|e| io("reading", dir, e))?;
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    tracing::warn!(
                        path = %dir.display(),
                        mode = format_args!("{mode:o}"),
                        "the data directory can be read by other users; `chmod 700` it unless they must"
                    );
                }
            }
        }
        Err(e) => return Err(io("creating", dir, e)),
    }
    let media = dir.join("media");
    std::fs::create_dir_all(&media).map_err(|e| io("creating", &media, e))
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

    #[test]
    fn made_content_is_written_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let content = b"[default]\naws_access_key_id = VSRKAAAAAAAAAAAAAAAA\n".to_vec();
        let made =
            load_or_create_with(dir.path(), Secret::RootCredentials, || content.clone()).unwrap();
        assert_eq!(made, content);
        let path = dir.path().join("root-credentials");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = load_or_create_with(dir.path(), Secret::RootCredentials, || {
            panic!("an existing secret is not made again")
        })
        .unwrap();
        assert_eq!(again, content);
        // Content too short to be a secret is never written.
        assert!(load_or_create_with(dir.path(), Secret::MasterKey, || vec![1; 4]).is_err());
        assert!(!dir.path().join("master.key").try_exists().unwrap());
    }

    #[test]
    fn root_credentials_are_not_random_bytes() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            load_or_create(dir.path(), Secret::RootCredentials),
            Err(StoreError::Internal(_))
        ));
    }
}
