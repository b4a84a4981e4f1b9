//! The one place an `aws-sdk-s3` client is configured: rustls + ring, static credentials, the
//! endpoint and addressing style, an optional extra CA, the retry and timeout policy, and a
//! request counter. The frame hook's S3 destination (`frames::hook::dest`) and [`ObjectStore`]
//! both build their clients here.
//!
//! [`ObjectStore`]: super::ObjectStore

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RequestChecksumCalculation,
    ResponseChecksumValidation, RuntimeComponents,
};
use aws_sdk_s3::error::BoxError;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};

use super::{ObjectError, ObjectStoreOptions};

/// The longest wait between two tries of one request (the first wait is
/// [`ObjectStoreOptions::initial_backoff`], doubling, with full jitter).
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// An S3 client for `opts` (its bucket and prefix are not used here). Fails only when the CA
/// file cannot be read or holds no valid certificate.
pub fn s3_client(opts: &ObjectStoreOptions) -> Result<aws_sdk_s3::Client, ObjectError> {
    build(opts, None)
}

/// [`s3_client`], counting every request it sends (each try) in `counters`.
pub(super) fn build(
    opts: &ObjectStoreOptions,
    counters: Option<Arc<Counters>>,
) -> Result<aws_sdk_s3::Client, ObjectError> {
    let mut trust = TrustStore::default();
    if let Some(path) = &opts.ca_file {
        trust = trust.with_pem_certificate(read_ca(path)?);
    }
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| ObjectError::config(format!("TLS settings: {e}")))?;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(context)
        .build_https();
    let attempt = opts.request_timeout.max(Duration::from_millis(1));
    let initial = opts.initial_backoff.max(Duration::from_millis(1));
    let mut b = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(opts.region.clone()))
        .http_client(http)
        .force_path_style(opts.force_path_style)
        .credentials_provider(Credentials::new(
            opts.access_key_id.clone(),
            opts.secret_access_key.clone(),
            None,
            None,
            "vidstream-config",
        ))
        // Standard mode: exponential backoff with jitter; retries throttling, 5xx, timeouts and
        // connection errors (bodies are in memory, so every request can be resent).
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(opts.max_attempts.max(1))
                .with_initial_backoff(initial)
                .with_max_backoff(MAX_BACKOFF.max(initial)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(attempt)
                .operation_attempt_timeout(attempt)
                .build(),
        )
        // Checksums only where the operation requires one (DeleteObjects): the newer default
        // (a CRC on every upload, aws-chunked with trailers) is refused by several
        // S3-compatible servers.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    if let Some(ep) = &opts.endpoint {
        b = b.endpoint_url(ep.clone());
    }
    if let Some(c) = counters {
        b = b.interceptor(CountRequests(c));
    }
    Ok(aws_sdk_s3::Client::from_conf(b.build()))
}

/// The PEM certificates of `path`, checked (the TLS stack would panic on a bad one later).
fn read_ca(path: &std::path::Path) -> Result<Vec<u8>, ObjectError> {
    use tokio_rustls::rustls::RootCertStore;
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(path)
        .map_err(|e| ObjectError::config(format!("reading CA file {}: {e}", path.display())))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ObjectError::config(format!("CA file {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(ObjectError::config(format!(
            "CA file {} holds no PEM certificate",
            path.display()
        )));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| ObjectError::config(format!("CA file {}: {e}", path.display())))?;
    }
    Ok(pem)
}

/// Requests sent, by kind (each try of a request counts).
#[derive(Debug, Default)]
pub(super) struct Counters {
    put: AtomicU64,
    get: AtomicU64,
    head: AtomicU64,
    delete: AtomicU64,
    list: AtomicU64,
    pub(super) bytes_put: AtomicU64,
    pub(super) bytes_got: AtomicU64,
}

/// A snapshot of an [`ObjectStore`](super::ObjectStore)'s request counters.
///
/// Every HTTP request sent counts once, retries included, by the class S3 prices it in:
/// `put` is PutObject and each multipart request (create, part, complete) and CreateBucket;
/// `get` is GetObject; `head` HeadObject/HeadBucket; `list` ListObjectsV2; `delete` DeleteObject,
/// DeleteObjects (one per batch of up to 1000 keys) and AbortMultipartUpload. The byte counts are
/// object bytes of successful puts and gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObjectStats {
    /// PUT-class requests.
    pub put: u64,
    /// GET requests.
    pub get: u64,
    /// HEAD requests.
    pub head: u64,
    /// DELETE requests (DeleteObjects counts once per batch).
    pub delete: u64,
    /// LIST requests (one per page).
    pub list: u64,
    /// Object bytes written by successful puts.
    pub bytes_put: u64,
    /// Object bytes read by successful gets.
    pub bytes_got: u64,
}

impl ObjectStats {
    /// All requests.
    pub fn requests(&self) -> u64 {
        self.put + self.get + self.head + self.delete + self.list
    }
}

impl Counters {
    pub(super) fn snapshot(&self) -> ObjectStats {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ObjectStats {
            put: r(&self.put),
            get: r(&self.get),
            head: r(&self.head),
            delete: r(&self.delete),
            list: r(&self.list),
            bytes_put: r(&self.bytes_put),
            bytes_got: r(&self.bytes_got),
        }
    }

    fn count(&self, method: &str, uri: &str) {
        let query = uri.split_once('?').map_or("", |(_, q)| q);
        let has = |name: &str| {
            query
                .split('&')
                .any(|p| p == name || p.starts_with(&format!("{name}=")))
        };
        let counter = match method {
            "GET" if has("list-type") => &self.list,
            "GET" => &self.get,
            "HEAD" => &self.head,
            "DELETE" => &self.delete,
            "POST" if has("delete") => &self.delete,
            _ => &self.put,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts each request as it is sent.
#[derive(Debug)]
struct CountRequests(Arc<Counters>);

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "vidstream-object-store-counter"
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = ctx.request();
        self.0.count(req.method(), req.uri());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_class() {
        let c = Counters::default();
        for (m, u) in [
            ("GET", "http://h/b?list-type=2&prefix=p"),
            ("GET", "http://h/b/k"),
            ("GET", "http://h/b/k?x-id=GetObject"),
            ("HEAD", "http://h/b/k"),
            ("PUT", "http://h/b/k"),
            ("PUT", "http://h/b/k?partNumber=1&uploadId=u"),
            ("POST", "http://h/b/k?uploads"),
            ("POST", "http://h/b/k?uploadId=u"),
            ("POST", "http://h/b?delete"),
            ("DELETE", "http://h/b/k?uploadId=u"),
        ] {
            c.count(m, u);
        }
        let s = c.snapshot();
        assert_eq!(
            (s.put, s.get, s.head, s.delete, s.list),
            (4, 2, 1, 2, 1),
            "{s:?}"
        );
        assert_eq!(s.requests(), 10);
    }

    #[test]
    fn a_bad_ca_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        let opts = |p: &std::path::Path| ObjectStoreOptions {
            ca_file: Some(p.to_owned()),
            ..ObjectStoreOptions::default()
        };
        assert!(s3_client(&opts(&dir.path().join("missing.pem"))).is_err());
        std::fs::write(&path, "not a certificate").unwrap();
        assert!(s3_client(&opts(&path)).is_err());
        std::fs::write(
            &path,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(s3_client(&opts(&path)).is_err());
    }
}
