//! HTTPS on the listener: rustls (ring), the certificate pair reloaded when its files change,
//! HTTP/2 or HTTP/1.1 by ALPN, and a clean answer to plain HTTP sent to the TLS port.
//!
//! Reloading polls the files' metadata (modification time, size, inode) every
//! `reload_interval_secs` rather than watching them: it works the same for a file rewritten in
//! place, renamed over, or reached through a symlink swapped atomically (Kubernetes secrets),
//! and costs two `stat` calls per interval. A pair is swapped in only once it loads and its key
//! matches its certificate, so a renewal caught half-written keeps the previous pair serving.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, pki_types, server::ResolvesServerCert, sign::CertifiedKey};

use crate::config::TlsSettings;

/// Why the certificate pair could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or holds no usable PEM item.
    #[error("{what} {path}: {message}")]
    File {
        /// "certificate file" or "key file".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// The key does not fit the certificate, or rustls refused the settings.
    #[error("TLS certificate and key: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The TLS side of the listener.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
    certs: Arc<ReloadingCert>,
    handshake_timeout: Duration,
    reload_interval: Duration,
}

impl Tls {
    /// Loads the pair named by `settings` (which must be enabled).
    pub fn new(settings: &TlsSettings) -> Result<Tls, TlsError> {
        let (Some(cert), Some(key)) = (&settings.cert_file, &settings.key_file) else {
            return Err(TlsError::File {
                what: "certificate file",
                path: PathBuf::new(),
                message: "tls.cert_file and tls.key_file are both needed".into(),
            });
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let files = CertFiles {
            cert: cert.clone(),
            key: key.clone(),
        };
        let stamp = files.stamp();
        let loaded = files.load(&provider)?;
        let certs = Arc::new(ReloadingCert {
            files,
            provider: Arc::clone(&provider),
            current: RwLock::new(Current {
                stamp,
                key: Arc::new(loaded),
            }),
        });
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&certs) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            certs,
            handshake_timeout: Duration::from_secs(settings.handshake_timeout_secs),
            reload_interval: Duration::from_secs(settings.reload_interval_secs),
        })
    }

    /// Starts the task that reloads the pair when its files change; it ends when the returned
    /// handle is aborted or dropped with the runtime.
    pub fn spawn_reloader(&self) -> tokio::task::JoinHandle<()> {
        let certs = Arc::clone(&self.certs);
        let every = self.reload_interval;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let certs = Arc::clone(&certs);
                // stat + PEM parsing: blocking file reads, off the async workers.
                let _ = tokio::task::spawn_blocking(move || certs.reload_if_changed()).await;
            }
        })
    }

    /// Completes the handshake of an accepted connection within the handshake timeout. A
    /// client that speaks plain HTTP gets a 400 saying to use https, then the connection
    /// closes; `None` for that and for failed or timed-out handshakes (logged at debug).
    pub async fn accept(
        &self,
        tcp: TcpStream,
        peer: std::net::SocketAddr,
    ) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
        let work = async {
            let mut first = [0u8; 1];
            // A TLS connection starts with a handshake record (content type 22).
            match tcp.peek(&mut first).await {
                Ok(1) if first[0] == 0x16 => {}
                Ok(1) => {
                    answer_plain_http(tcp).await;
                    return None;
                }
                _ => return None,
            }
            match self.acceptor.accept(tcp).await {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    None
                }
            }
        };
        match tokio::time::timeout(self.handshake_timeout, work).await {
            Ok(s) => s,
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                None
            }
        }
    }
}

/// What a plain-HTTP client gets from the TLS port: a KVS-shaped error it can show, rather
/// than TLS bytes it cannot read.
async fn answer_plain_http(mut tcp: TcpStream) {
    let body = r#"{"__type":"InvalidArgumentException","message":"This port speaks HTTPS: use an https:// endpoint."}"#;
    let head = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n\
         x-amzn-errortype: InvalidArgumentException\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        body.len()
    );
    let _ = tcp.write_all(head.as_bytes()).await;
    let _ = tcp.write_all(body.as_bytes()).await;
    let _ = tcp.shutdown().await;
}

/// The certificate and key files.
#[derive(Debug)]
struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
}

/// What identifies a version of the two files.
type Stamp = Option<[(std::time::SystemTime, u64, u64); 2]>;

impl CertFiles {
    fn stamp(&self) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        let one = |p: &Path| {
            let m = std::fs::metadata(p).ok()?;
            Some((m.modified().ok()?, m.len(), m.ino()))
        };
        Some([one(&self.cert)?, one(&self.key)?])
    }

    fn load(&self, provider: &rustls::crypto::CryptoProvider) -> Result<CertifiedKey, TlsError> {
        use pki_types::pem::PemObject;
        let bad = |what: &'static str, path: &Path, e: &dyn std::fmt::Display| TlsError::File {
            what,
            path: path.to_owned(),
            message: e.to_string(),
        };
        let chain = pki_types::CertificateDer::pem_file_iter(&self.cert)
            .map_err(|e| bad("certificate file", &self.cert, &e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad("certificate file", &self.cert, &e))?;
        if chain.is_empty() {
            return Err(bad("certificate file", &self.cert, &"no CERTIFICATE in it"));
        }
        let key = pki_types::PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| bad("key file", &self.key, &e))?;
        Ok(CertifiedKey::from_der(chain, key, provider)?)
    }
}

/// The pair being served, and how to notice a new one.
#[derive(Debug)]
struct ReloadingCert {
    files: CertFiles,
    provider: Arc<rustls::crypto::CryptoProvider>,
    current: RwLock<Current>,
}

#[derive(Debug)]
struct Current {
    /// The files' stamp when last looked at (loaded or not).
    stamp: Stamp,
    key: Arc<CertifiedKey>,
}

impl ReloadingCert {
    fn reload_if_changed(&self) {
        let stamp = self.files.stamp();
        let seen = self.current.read().map(|c| c.stamp).unwrap_or_default();
        if stamp == seen || stamp.is_none() {
            return;
        }
        let loaded = self.files.load(&self.provider);
        let Ok(mut current) = self.current.write() else {
            return;
        };
        // Remembered either way, so a bad pair is reported once, not every interval.
        current.stamp = stamp;
        match loaded {
            Ok(key) => {
                current.key = Arc::new(key);
                tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
            }
            Err(e) => tracing::error!(
                error = %e,
                "TLS certificate files changed but do not load; still serving the previous pair"
            ),
        }
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| Arc::clone(&c.key))
    }
}
