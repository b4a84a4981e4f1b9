//! The root access key: the one key that exists without the index, with the built-in admin
//! policy, so that a fresh server can be administered (`make run` stays one command).
//!
//! It is `[auth] root_access_key_id` + `root_secret_access_key` when both are configured (every
//! node of a cluster then shares it). Otherwise the first start generates one (`VSRK…`, see
//! [`ids`]) and the store writes it to `DATA_DIR/root-credentials`, mode 0600,
//! atomically, in the AWS shared-credentials format, so that it can be used as it is:
//!
//! ```text
//! # vidstream root credentials, made 2026-12-07T00:00:00.000Z
//! [default]
//! aws_access_key_id = VSRK...
//! aws_secret_access_key = ...
//! ```
//! e.g. `AWS_SHARED_CREDENTIALS_FILE=DATA_DIR/root-credentials aws kinesisvideo list-streams
//! --endpoint-url ...`. Later starts read it back. A configured key wins over the file, which is
//! then not read. The log says which is in use and where the file is, never the secret.

use std::path::PathBuf;

use zeroize::Zeroizing;

use super::SecretText;
use super::ids::{self, KeyKind};
use crate::store::{Secret, Store};

/// The root key pair. `Debug` shows the id only.
#[derive(Clone)]
pub struct RootKey {
    access_key_id: String,
    secret: SecretText,
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootKey")
            .field("access_key_id", &self.access_key_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Where the root key in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootSource {
    /// `[auth] root_access_key_id` and `root_secret_access_key`.
    Config,
    /// `DATA_DIR/root-credentials` (this path), read back.
    File(PathBuf),
    /// `DATA_DIR/root-credentials` (this path), made by this start.
    Generated(PathBuf),
}

/// Why the root key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    /// The configured pair or the file's content is not a valid key pair.
    #[error("{0}")]
    Invalid(String),
    /// The OS random generator failed.
    #[error(transparent)]
    Random(#[from] ids::RandomError),
    /// The file could not be read or written.
    #[error("root credentials: {0}")]
    Store(#[from] crate::store::StoreError),
}

impl RootKey {
    /// A configured pair, checked (16–128 `A–Z 0–9` for the id; 16–128 printable characters for
    /// the secret). Messages never contain the secret.
    pub fn new(access_key_id: &str, secret_access_key: &str) -> Result<RootKey, RootError> {
        ids::check_configured_id(access_key_id).map_err(RootError::Invalid)?;
        ids::check_configured_secret(secret_access_key).map_err(RootError::Invalid)?;
        Ok(RootKey {
            access_key_id: access_key_id.to_owned(),
            secret: SecretText::new(secret_access_key),
        })
    }

    /// A new random root key (`VSRK…`).
    pub fn generate() -> Result<RootKey, RootError> {
        Ok(RootKey {
            access_key_id: ids::new_access_key_id(KeyKind::Root)?,
            secret: SecretText::new(&ids::new_secret()?),
        })
    }

    /// The public half.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The secret half.
    pub fn secret(&self) -> &SecretText {
        &self.secret
    }

    /// The AWS shared-credentials file for this key, made at `made_ms` (epoch ms).
    pub fn to_credentials_file(&self, made_ms: i64) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "# vidstream root credentials, made {}\n[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            crate::time::rfc3339_ms(made_ms),
            self.access_key_id,
            self.secret.expose(),
        ))
    }

    /// Reads the `[default]` profile of an AWS shared-credentials file (comments `#`/`;`, other
    /// profiles and other keys ignored).
    pub fn parse_credentials_file(text: &str) -> Result<RootKey, RootError> {
        let mut in_default = false;
        let (mut id, mut secret) = (None, None);
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                in_default = section.trim() == "default";
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            if in_default {
                match k.trim() {
                    "aws_access_key_id" => id = Some(v.trim()),
                    "aws_secret_access_key" => secret = Some(v.trim()),
                    _ => {}
                }
            }
        }
        match (id, secret) {
            (Some(id), Some(secret)) => RootKey::new(id, secret),
            _ => Err(RootError::Invalid(
                "no [default] profile with aws_access_key_id and aws_secret_access_key".into(),
            )),
        }
    }
}

/// The configured root key, or the data directory's (generated on first start). Blocking file
/// I/O: call it at start-up. Logs which key is in use, never its secret.
pub fn load_root_key(
    configured: Option<RootKey>,
    store: &Store,
) -> Result<(RootKey, RootSource), RootError> {
    if let Some(key) = configured {
        tracing::info!(
            access_key_id = key.access_key_id(),
            "root access key from the config (DATA_DIR/root-credentials, if any, is not read)"
        );
        return Ok((key, RootSource::Config));
    }
    let path = store.data_dir().join(Secret::RootCredentials.file_name());
    let fresh = RootKey::generate()?;
    let file = fresh.to_credentials_file(store.now().millis());
    let mut made = false;
    let bytes = Zeroizing::new(store.secret_or_create_with(Secret::RootCredentials, || {
        made = true;
        file.as_bytes().to_vec()
    })?);
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| RootError::Invalid(format!("{} is not UTF-8 text", path.display())))?;
    let key = RootKey::parse_credentials_file(text).map_err(|e| {
        RootError::Invalid(format!(
            "{}: {e}; fix it, or remove it to make a new root key",
            path.display()
        ))
    })?;
    if made {
        tracing::info!(
            access_key_id = key.access_key_id(),
            path = %path.display(),
            "generated the root access key; its secret is in the file (mode 0600)"
        );
        Ok((key, RootSource::Generated(path)))
    } else {
        tracing::info!(
            access_key_id = key.access_key_id(),
            path = %path.display(),
            "root access key from the data directory"
        );
        Ok((key, RootSource::File(path)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_file_round_trip() {
        let key = RootKey::generate().unwrap();
        let text = key.to_credentials_file(1_700_000_000_000);
        assert!(
            text.starts_with("# vidstream root credentials, made 2023-11-14T22:13:20"),
            "{}",
            &*text
        );
        assert!(text.contains("\n[default]\naws_access_key_id = VSRK"));
        let back = RootKey::parse_credentials_file(&text).unwrap();
        assert_eq!(back.access_key_id(), key.access_key_id());
        assert_eq!(back.secret().expose(), key.secret().expose());
        assert!(!format!("{key:?}").contains(key.secret().expose()));
    }

    #[test]
    fn parsing_takes_the_default_profile_only() {
        let text = "; other tools' comments\n[other]\naws_access_key_id = AKIAOTHEROTHEROTHER1\n\
                    aws_secret_access_key = otherotherotherother\n\n[ default ]\n\
                    region = us-east-1\naws_access_key_id=VSRKAAAAAAAAAAAAAAAA\n\
                    aws_secret_access_key =  abcdefghijklmnopqrstuvwxyz0123456789-_AB \n";
        let k = RootKey::parse_credentials_file(text).unwrap();
        assert_eq!(k.access_key_id(), "VSRKAAAAAAAAAAAAAAAA");
        assert_eq!(
            k.secret().expose(),
            "abcdefghijklmnopqrstuvwxyz0123456789-_AB"
        );
        for bad in [
            "",
            "[default]\naws_access_key_id = VSRKAAAAAAAAAAAAAAAA\n",
            "[other]\naws_access_key_id = VSRKAAAAAAAAAAAAAAAA\naws_secret_access_key = abcdefghijklmnopqrstuvwxyz\n",
            "[default]\naws_access_key_id = lower\naws_secret_access_key = abcdefghijklmnopqrstuvwxyz\n",
        ] {
            assert!(RootKey::parse_credentials_file(bad).is_err(), "{bad}");
        }
    }
}
