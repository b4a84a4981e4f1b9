//! The master key and sealing: secrets at rest are encrypted with AES-256-GCM under one master
//! key, bound to what they are and to the record that holds them.
//!
//! # Sealed format (version 1)
//! ```text
//! byte 0        version (1)
//! bytes 1..13   96-bit nonce, random per seal
//! bytes 13..    AES-256-GCM ciphertext of the plaintext, then its 16-byte tag
//! ```
//! The additional authenticated data (AAD) is `"vidstream-seal" || version || len(purpose) ||
//! purpose || len(id) || id` (lengths as 8-byte big-endian): a value sealed for one purpose
//! (`access-key-secret`, later `camera-password`) or one record id does not open for another, so
//! a sealed secret pasted onto another row of the index is refused rather than used. Nonces are
//! random: with 96 bits, one key can seal about 2^32 values before a collision becomes a
//! concern, far more than any deployment stores.
//!
//! # The master key
//! 32 bytes, from `[auth] master_key` (base64; also `VIDSTREAM_AUTH__MASTER_KEY`) or else from
//! `DATA_DIR/master.key`, made on first start by the store like `session.key` (mode 0600,
//! written atomically; a short file is refused, never replaced). Nodes sharing an index must
//! share the master key, so they configure it. Losing it loses every sealed secret: back it up
//! with the index. It is zeroized on drop and never shown by `Debug`; its [fingerprint]
//! (`MasterKey::fingerprint`) tells operators whether two nodes hold the same key.
//!
//! This module does no I/O but through [`Store::secret`].
//!
//! [fingerprint]: MasterKey::fingerprint

use std::path::PathBuf;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::ErrorKind;
use crate::store::{Secret, Store, StoreError};

/// Length of the master key.
pub const MASTER_KEY_BYTES: usize = 32;
/// The sealed format's version byte.
const VERSION: u8 = 1;
const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;
/// The shortest sealed value: version, nonce and tag around an empty plaintext.
pub const MIN_SEALED_BYTES: usize = 1 + NONCE_BYTES + TAG_BYTES;

/// Why a key could not be loaded or a value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The configured or stored master key is not 32 bytes of (base64) key.
    #[error("{0}")]
    BadMasterKey(String),
    /// The sealed value is shorter than any sealed value can be.
    #[error(
        "sealed value is {0} bytes, shorter than the {MIN_SEALED_BYTES}-byte minimum; it is damaged"
    )]
    Truncated(usize),
    /// The sealed value has a version this build does not know.
    #[error(
        "sealed value has format version {0}, which this vidstream does not know; upgrade vidstream"
    )]
    UnknownVersion(u8),
    /// Authentication failed: another master key sealed it, it was sealed for another purpose
    /// or record, or its bytes were changed.
    #[error(
        "sealed {purpose} of `{id}` does not open with this master key: the master key differs from the one that sealed it, or the value was copied from another record or damaged"
    )]
    Mismatch {
        /// What the value was opened as.
        purpose: String,
        /// The record it was opened for.
        id: String,
    },
    /// `DATA_DIR/master.key` could not be read or created.
    #[error("master key: {0}")]
    Store(#[from] StoreError),
}

impl SealError {
    /// Always [`ErrorKind::Internal`]: sealed data is the server's, not the caller's.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SealError::Store(e) => e.kind(),
            _ => ErrorKind::Internal,
        }
    }
}

/// The 32-byte master key; zeroized on drop, never shown by `Debug`.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; MASTER_KEY_BYTES]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey(fingerprint {})", self.fingerprint())
    }
}

impl MasterKey {
    /// A key from exactly [`MASTER_KEY_BYTES`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<MasterKey, SealError> {
        let mut key = Zeroizing::new([0u8; MASTER_KEY_BYTES]);
        if bytes.len() != MASTER_KEY_BYTES {
            return Err(SealError::BadMasterKey(format!(
                "a master key is {MASTER_KEY_BYTES} bytes, not {}",
                bytes.len()
            )));
        }
        key.copy_from_slice(bytes);
        Ok(MasterKey(key))
    }

    /// A key from its standard base64 text (as in `[auth] master_key`; make one with
    /// `openssl rand -base64 32`). The message of an error never contains the text.
    pub fn from_base64(text: &str) -> Result<MasterKey, SealError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map(Zeroizing::new)
            .map_err(|_| {
                SealError::BadMasterKey(
                    "auth.master_key is not base64; make one with `openssl rand -base64 32`".into(),
                )
            })?;
        MasterKey::from_bytes(&bytes).map_err(|_| {
            SealError::BadMasterKey(format!(
                "auth.master_key decodes to {} bytes, not {MASTER_KEY_BYTES}; make one with `openssl rand -base64 32`",
                bytes.len()
            ))
        })
    }

    /// A short public name of the key (16 hex digits of a SHA-256 of it), for logs: equal keys
    /// have equal fingerprints, and the fingerprint tells nothing of the key.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"vidstream master key fingerprint\0");
        h.update(&self.0[..]);
        hex::encode(&h.finalize()[..8])
    }
}

/// Where the master key in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// `[auth] master_key` (or `VIDSTREAM_AUTH__MASTER_KEY`).
    Config,
    /// The data directory's `master.key` (this path).
    File(PathBuf),
}

impl std::fmt::Display for MasterKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MasterKeySource::Config => f.write_str("config auth.master_key"),
            MasterKeySource::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// The configured master key, or the data directory's (made on first use). Blocking file I/O:
/// call it at start-up.
pub fn load_master_key(
    configured: Option<MasterKey>,
    store: &Store,
) -> Result<(MasterKey, MasterKeySource), SealError> {
    if let Some(key) = configured {
        return Ok((key, MasterKeySource::Config));
    }
    let path = store.data_dir().join(Secret::MasterKey.file_name());
    let bytes = Zeroizing::new(store.secret(Secret::MasterKey)?);
    let key = MasterKey::from_bytes(&bytes).map_err(|_| {
        SealError::BadMasterKey(format!(
            "{} holds {} bytes, not {MASTER_KEY_BYTES}; restore it from a backup (removing it makes every sealed secret unreadable)",
            path.display(),
            bytes.len()
        ))
    })?;
    Ok((key, MasterKeySource::File(path)))
}

/// Seals and opens values under the master key (AES-256-GCM; see the module doc).
#[derive(Clone)]
pub struct Sealer {
    /// The expanded key; the `aes` crate zeroizes it on drop (its `zeroize` feature).
    cipher: Aes256Gcm,
    fingerprint: String,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer(master key {})", self.fingerprint)
    }
}

impl Sealer {
    /// A sealer with this key.
    pub fn new(key: &MasterKey) -> Sealer {
        Sealer {
            cipher: Aes256Gcm::new((&*key.0).into()),
            fingerprint: key.fingerprint(),
        }
    }

    /// The master key's fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Seals `plaintext` as `purpose` of record `id` (e.g. `"access-key-secret"`, the access
    /// key id). Every call takes a new random nonce, so sealing the same value twice gives
    /// different bytes.
    ///
    /// # Panics
    /// If `plaintext` is over AES-GCM's limit of 64 GiB; secrets are bytes to kilobytes.
    pub fn seal(&self, purpose: &str, id: &str, plaintext: &[u8]) -> Vec<u8> {
        // ThreadRng is a CSPRNG seeded from the OS; a nonce needs uniqueness, not secrecy.
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let aad = aad(purpose, id);
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .expect("AES-GCM seals anything under 64 GiB");
        let mut out = Vec::with_capacity(1 + NONCE_BYTES + ciphertext.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        debug_assert_eq!(out.len(), MIN_SEALED_BYTES + plaintext.len());
        out
    }

    /// Opens what [`Sealer::seal`] made with the same key, `purpose` and `id`. Any other key,
    /// purpose or id, and any changed, cut or extended byte, is an error, never a panic.
    pub fn open(
        &self,
        purpose: &str,
        id: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if sealed.len() < MIN_SEALED_BYTES {
            return Err(SealError::Truncated(sealed.len()));
        }
        let (&version, rest) = sealed
            .split_first()
            .ok_or(SealError::Truncated(sealed.len()))?;
        if version != VERSION {
            return Err(SealError::UnknownVersion(version));
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_BYTES);
        let aad = aad(purpose, id);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError::Mismatch {
                purpose: purpose.to_owned(),
                id: id.to_owned(),
            })
    }
}

/// The AAD binding a sealed value to its format version, purpose and record (module doc).
fn aad(purpose: &str, id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(15 + 16 + purpose.len() + id.len());
    aad.extend_from_slice(b"vidstream-seal");
    aad.push(VERSION);
    for part in [purpose, id] {
        aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> MasterKey {
        MasterKey::from_bytes(&[b; 32]).unwrap()
    }

    #[test]
    fn round_trip_with_a_fresh_nonce_each_time() {
        let s = Sealer::new(&key(1));
        let a = s.seal("access-key-secret", "VSAKAAAA", b"hunter2");
        let b = s.seal("access-key-secret", "VSAKAAAA", b"hunter2");
        assert_ne!(a, b, "a new nonce per seal");
        assert_eq!(a.len(), MIN_SEALED_BYTES + 7);
        assert_eq!(a[0], 1, "version byte first");
        for sealed in [&a, &b] {
            let opened = s.open("access-key-secret", "VSAKAAAA", sealed).unwrap();
            assert_eq!(&opened[..], b"hunter2");
        }
        let empty = s.seal("p", "i", b"");
        assert_eq!(&s.open("p", "i", &empty).unwrap()[..], b"");
    }

    #[test]
    fn wrong_key_purpose_or_record_is_refused() {
        let s = Sealer::new(&key(1));
        let sealed = s.seal("access-key-secret", "VSAK1", b"secret");
        let mismatch =
            |r: Result<Zeroizing<Vec<u8>>, SealError>| matches!(r, Err(SealError::Mismatch { .. }));
        assert!(mismatch(Sealer::new(&key(2)).open(
            "access-key-secret",
            "VSAK1",
            &sealed
        )));
        assert!(mismatch(s.open("access-key-secret", "VSAK2", &sealed)));
        assert!(mismatch(s.open("camera-password", "VSAK1", &sealed)));
        // Lengths are part of the AAD: moving a byte between purpose and id changes it.
        let split = s.seal("ab", "c", b"x");
        assert!(mismatch(s.open("a", "bc", &split)));
        let msg = s.open("p", "rec", &sealed).unwrap_err().to_string();
        assert!(msg.contains("`rec`") && !msg.contains("secret\""), "{msg}");
    }

    #[test]
    fn cut_changed_or_extended_values_never_panic() {
        let s = Sealer::new(&key(3));
        let sealed = s.seal("p", "i", b"some secret value");
        for len in 0..sealed.len() {
            assert!(s.open("p", "i", &sealed[..len]).is_err(), "cut to {len}");
        }
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x40;
            assert!(s.open("p", "i", &bad).is_err(), "byte {i} changed");
        }
        let mut longer = sealed.clone();
        longer.push(0);
        assert!(s.open("p", "i", &longer).is_err());
        let mut v2 = sealed.clone();
        v2[0] = 2;
        assert!(matches!(
            s.open("p", "i", &v2),
            Err(SealError::UnknownVersion(2))
        ));
        assert!(matches!(
            s.open("p", "i", &[1; 5]),
            Err(SealError::Truncated(5))
        ));
    }

    #[test]
    fn master_key_parsing_and_redaction() {
        use base64::Engine;
        let text = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let k = MasterKey::from_base64(&format!(" {text}\n")).unwrap();
        assert_eq!(k.fingerprint(), key(7).fingerprint());
        assert_ne!(k.fingerprint(), key(8).fingerprint());
        assert_eq!(k.fingerprint().len(), 16);
        let debug = format!("{k:?} {:?}", Sealer::new(&k));
        assert!(!debug.contains(&text) && !debug.contains("7, 7"), "{debug}");
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
        let e = MasterKey::from_base64(&short).unwrap_err().to_string();
        assert!(e.contains("16 bytes") && !e.contains(&short), "{e}");
        let e = MasterKey::from_base64("not base64!")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not base64") && !e.contains("not base64!"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn master_key_file_is_made_once_private_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(
            crate::auth::test_store_options(dir.path()),
            std::sync::Arc::new(crate::time::SystemClock),
        )
        .await
        .unwrap();
        let (first, source) = load_master_key(None, &store).unwrap();
        let path = dir.path().join("master.key");
        assert_eq!(source, MasterKeySource::File(path.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, _) = load_master_key(None, &store).unwrap();
        assert_eq!(first.fingerprint(), again.fingerprint(), "reused");
        let sealed = Sealer::new(&first).seal("p", "i", b"v");
        assert!(Sealer::new(&again).open("p", "i", &sealed).is_ok());
        // A configured key wins and leaves the file alone.
        let (configured, source) = load_master_key(Some(key(9)), &store).unwrap();
        assert_eq!(source, MasterKeySource::Config);
        assert_eq!(configured.fingerprint(), key(9).fingerprint());
        // A short file is refused and kept; a long one too.
        std::fs::write(&path, [1u8; 5]).unwrap();
        let e = load_master_key(None, &store).unwrap_err();
        assert!(
            matches!(e, SealError::Store(StoreError::Corruption(_))),
            "{e}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), [1u8; 5]);
        std::fs::write(&path, [1u8; 40]).unwrap();
        let e = load_master_key(None, &store).unwrap_err().to_string();
        assert!(e.contains("40 bytes"), "{e}");
    }
}
