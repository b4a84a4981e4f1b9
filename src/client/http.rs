//! The little HTTP/1.1 the client needs, on a tokio `TcpStream`, with TLS for `https://`.
//!
//! Why not an HTTP client crate: PutMedia is one long chunked upload whose response (the ack
//! stream) must be read *while* the body is still being written, which request/response client
//! APIs make awkward, and the control-plane calls are a handful of small JSON POSTs.
//!
//! TLS (rustls, ring): the server certificate is checked against the Mozilla root store
//! (webpki-roots, so AWS endpoints work on a machine without CA certificates) plus the
//! certificates of a PEM file: the endpoint's `ca_file` (`--ca-file`), else the one the
//! `SSL_CERT_FILE` environment variable names (a private CA or a self-signed server).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, pki_types};

use super::ClientError;

/// A byte stream to an endpoint: TCP, or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An open connection.
pub type Conn = Box<dyn Io>;

/// Largest control-plane response we read.
const MAX_RESPONSE_BYTES: usize = 16 << 20;
/// Largest response head.
const MAX_HEAD_BYTES: usize = 64 << 10;

/// A parsed `http(s)://host[:port][/base]` endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://`: TLS.
    pub tls: bool,
    /// Host name or address, without the port.
    pub host: String,
    /// TCP port (80 or 443 when absent).
    pub port: u16,
    /// Path prefix without a trailing slash (usually empty).
    pub base_path: String,
    /// PEM certificates trusted besides Mozilla's roots (`--ca-file`); unset: `SSL_CERT_FILE`.
    pub ca_file: Option<PathBuf>,
}

impl Endpoint {
    /// Parses an endpoint URL.
    pub fn parse(url: &str) -> Result<Endpoint, ClientError> {
        let bad = |why: &str| ClientError::Endpoint(format!("`{url}`: {why}"));
        let (tls, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            (None, None) => return Err(bad("the endpoint must start with http:// or https://")),
        };
        let default_port = if tls { 443 } else { 80 };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (
                h,
                p.parse::<u16>()
                    .map_err(|_| bad("the port is not a number"))?,
            ),
            _ => (authority, default_port),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Endpoint {
            tls,
            host: host.to_owned(),
            port,
            base_path: path.to_owned(),
            ca_file: None,
        })
    }

    /// This endpoint, trusting the certificates of `ca_file` too (when `Some`).
    pub fn trusting(mut self, ca_file: Option<PathBuf>) -> Endpoint {
        self.ca_file = ca_file;
        self
    }

    /// The `Host` header value (`host:port`, as botocore sends it; the scheme's default port
    /// is left out).
    pub fn host_header(&self) -> String {
        if self.port == if self.tls { 443 } else { 80 } {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// `base_path` + `path`.
    pub fn path(&self, path: &str) -> String {
        format!("{}{path}", self.base_path)
    }

    /// Opens a connection (and, for https, completes the TLS handshake), within `timeout`.
    pub async fn connect(&self, timeout: Duration) -> Result<Conn, ClientError> {
        let host = self.host.trim_matches(['[', ']']);
        let addr = format!("{host}:{}", self.port);
        let tcp = tokio::time::timeout(timeout, TcpStream::connect(&addr))
            .await
            .map_err(|_| ClientError::Io(format!("connecting to {addr}: timed out")))?
            .map_err(|e| ClientError::Io(format!("connecting to {addr}: {e}")))?;
        tcp.set_nodelay(true)
            .map_err(|e| ClientError::Io(format!("{addr}: {e}")))?;
        if !self.tls {
            return Ok(Box::new(tcp));
        }
        let name = pki_types::ServerName::try_from(host.to_owned()).map_err(|e| {
            ClientError::Endpoint(format!("`{host}` is not a TLS server name: {e}"))
        })?;
        let connector = TlsConnector::from(tls_config(self.ca_file.clone())?);
        let tls = tokio::time::timeout(timeout, connector.connect(name, tcp))
            .await
            .map_err(|_| ClientError::Io(format!("TLS handshake with {addr}: timed out")))?
            .map_err(|e| ClientError::Io(format!("TLS handshake with {addr}: {e}")))?;
        Ok(Box::new(tls))
    }
}

/// The TLS client settings for a CA file (`None`: `SSL_CERT_FILE`'s, if set), built once per
/// file: Mozilla's roots plus the file's certificates.
fn tls_config(ca_file: Option<PathBuf>) -> Result<Arc<rustls::ClientConfig>, ClientError> {
    type Configs = Mutex<HashMap<Option<PathBuf>, Arc<rustls::ClientConfig>>>;
    static CONFIGS: OnceLock<Configs> = OnceLock::new();
    let configs = CONFIGS.get_or_init(Default::default);
    let file = ca_file.or_else(|| std::env::var_os("SSL_CERT_FILE").map(PathBuf::from));
    if let Some(c) = configs.lock().ok().and_then(|m| m.get(&file).cloned()) {
        return Ok(c);
    }
    let config = build_tls_config(file.as_deref()).map_err(ClientError::Endpoint)?;
    if let Ok(mut m) = configs.lock() {
        m.insert(file, Arc::clone(&config));
    }
    Ok(config)
}

fn build_tls_config(
    ca_file: Option<&std::path::Path>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        use pki_types::pem::PemObject;
        let certs = pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("CA file {}: {e}", path.display()))?;
        let mut added = 0;
        for cert in certs {
            let cert = cert.map_err(|e| format!("CA file {}: {e}", path.display()))?;
            roots.add(cert).map_err(|e| {
                format!("CA file {}: a certificate is unusable: {e}", path.display())
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(format!("CA file {}: no CERTIFICATE in it", path.display()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS settings: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A whole response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body (de-chunked).
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request with a `Content-Length` body and `Connection: close`, reads the response.
pub async fn send(
    endpoint: &Endpoint,
    head: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<Response, ClientError> {
    let io = |e: std::io::Error| ClientError::Io(e.to_string());
    let fut = async {
        let mut s = endpoint.connect(timeout).await?;
        s.write_all(head.as_bytes()).await.map_err(io)?;
        s.write_all(body).await.map_err(io)?;
        let mut buf = Vec::new();
        let mut tmp = [0u8; 16 * 1024];
        loop {
            let n = s.read(&mut tmp).await.map_err(io)?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&tmp[..n]);
            if buf.len() > MAX_RESPONSE_BYTES {
                return Err(ClientError::Protocol("response too large".into()));
            }
        }
        let (status, headers, used) = parse_head(&buf)?.ok_or_else(|| {
            ClientError::Protocol("connection closed inside the response head".into())
        })?;
        let rest = &buf[used..];
        let chunked = headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
        let body = if chunked {
            let mut d = ChunkedDecoder::default();
            let mut out = Vec::new();
            d.push(rest, &mut out)?;
            out
        } else {
            rest.to_vec()
        };
        Ok(Response {
            status,
            headers,
            body,
        })
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| ClientError::Io("request timed out".into()))?
}

/// A response head: status, headers (lowercase names), and its length in bytes.
pub type Head = (u16, Vec<(String, String)>, usize);

/// Parses a response head; `Ok(None)` when more bytes are needed. Returns the status, the
/// headers (lowercase names) and the head's length.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, ClientError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD_BYTES {
            return Err(ClientError::Protocol("response head too large".into()));
        }
        return Ok(None);
    };
    let text = std::str::from_utf8(&buf[..end])
        .map_err(|_| ClientError::Protocol("response head is not UTF-8".into()))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| status_line.starts_with("HTTP/1."))
        .ok_or_else(|| ClientError::Protocol(format!("bad status line `{status_line}`")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(Some((status, headers, end + 4)))
}

/// Incremental `Transfer-Encoding: chunked` decoder (trailers are skipped).
#[derive(Debug, Default)]
pub struct ChunkedDecoder {
    buf: Vec<u8>,
    /// Bytes left in the current chunk's data (+2 for its CRLF once data is done).
    remaining: usize,
    in_data: bool,
    done: bool,
}

impl ChunkedDecoder {
    /// Feeds `data`, appends decoded bytes to `out`.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), ClientError> {
        self.buf.extend_from_slice(data);
        let mut pos = 0;
        loop {
            if self.done {
                self.buf.clear();
                return Ok(());
            }
            if self.in_data {
                let take = self.remaining.min(self.buf.len() - pos);
                out.extend_from_slice(&self.buf[pos..pos + take]);
                pos += take;
                self.remaining -= take;
                if self.remaining > 0 {
                    break;
                }
                if self.buf.len() - pos < 2 {
                    // Wait for the CRLF after the data.
                    self.in_data = false;
                    self.remaining = usize::MAX;
                    break;
                }
                pos += 2;
                self.in_data = false;
                continue;
            }
            if self.remaining == usize::MAX {
                if self.buf.len() - pos < 2 {
                    break;
                }
                pos += 2;
                self.remaining = 0;
                continue;
            }
            let Some(nl) = self.buf[pos..].windows(2).position(|w| w == b"\r\n") else {
                if self.buf.len() - pos > 1024 {
                    return Err(ClientError::Protocol("chunk size line too long".into()));
                }
                break;
            };
            let line = std::str::from_utf8(&self.buf[pos..pos + nl])
                .map_err(|_| ClientError::Protocol("bad chunk size".into()))?;
            let hex = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(hex, 16)
                .map_err(|_| ClientError::Protocol(format!("bad chunk size `{hex}`")))?;
            pos += nl + 2;
            if size == 0 {
                self.done = true;
                continue;
            }
            self.remaining = size;
            self.in_data = true;
        }
        self.buf.drain(..pos);
        Ok(())
    }

    /// The terminating zero-size chunk was seen.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        let e = Endpoint::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.base_path.as_str()),
            ("127.0.0.1", 8080, "")
        );
        let e = Endpoint::parse("http://kvs.local/base/").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.base_path.as_str()),
            ("kvs.local", 80, "/base")
        );
        let e = Endpoint::parse("https://kinesisvideo.us-west-2.amazonaws.com").unwrap();
        assert!(e.tls);
        assert_eq!(e.port, 443);
        assert_eq!(e.host_header(), "kinesisvideo.us-west-2.amazonaws.com");
        assert_eq!(
            Endpoint::parse("https://h:8443").unwrap().host_header(),
            "h:8443"
        );
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(Endpoint::parse("http://h:notaport").is_err());
    }

    #[test]
    fn chunked_decodes_across_any_split() {
        let wire = b"5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\n\r\n";
        for split in 0..wire.len() {
            let mut d = ChunkedDecoder::default();
            let mut out = Vec::new();
            d.push(&wire[..split], &mut out).unwrap();
            d.push(&wire[split..], &mut out).unwrap();
            assert_eq!(out, b"hello world!", "split at {split}");
            assert!(d.is_done());
        }
        let mut d = ChunkedDecoder::default();
        let mut out = Vec::new();
        for b in wire {
            d.push(&[*b], &mut out).unwrap();
        }
        assert_eq!(out, b"hello world!");
    }

    #[test]
    fn heads_parse() {
        let (status, headers, used) = parse_head(b"HTTP/1.1 404 Not Found\r\nX-A: b\r\n\r\nbody")
            .unwrap()
            .unwrap();
        assert_eq!(status, 404);
        assert_eq!(headers, vec![("x-a".to_owned(), "b".to_owned())]);
        assert_eq!(used, 34);
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n").unwrap().is_none());
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }
}
