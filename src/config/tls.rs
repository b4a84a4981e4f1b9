//! `[tls]` settings: HTTPS on the listener (rustls), certificate reloading, the plain-HTTP
//! redirect listener.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[tls]`: the listener speaks HTTPS when both files are set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first. With `key_file`, or neither (plain HTTP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of the leaf certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// How often the two files are checked for changes, seconds; a changed pair is loaded for
    /// new connections (a pair that does not load is logged and the previous one kept).
    pub reload_interval_secs: u64,
    /// A TLS handshake not finished within this many seconds is dropped.
    pub handshake_timeout_secs: u64,
    /// A second, plain-HTTP listener that answers every request with a redirect to the HTTPS
    /// URL (e.g. `0.0.0.0:80`); unset = none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_http_listen: Option<SocketAddr>,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            cert_file: None,
            key_file: None,
            reload_interval_secs: 10,
            handshake_timeout_secs: 10,
            redirect_http_listen: None,
        }
    }
}

impl TlsSettings {
    /// Whether the listener speaks HTTPS.
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some()
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        match (&self.cert_file, &self.key_file) {
            (Some(_), Some(_)) => {}
            (None, None) => {
                if self.redirect_http_listen.is_some() {
                    return Err(
                        "tls.redirect_http_listen needs tls.cert_file and tls.key_file".into(),
                    );
                }
            }
            _ => return Err("set both tls.cert_file and tls.key_file, or neither".into()),
        }
        if !(1..=86_400).contains(&self.reload_interval_secs) {
            return Err("tls.reload_interval_secs must be 1 to 86400".into());
        }
        if !(1..=300).contains(&self.handshake_timeout_secs) {
            return Err("tls.handshake_timeout_secs must be 1 to 300".into());
        }
        Ok(())
    }
}
