//! The object store's one error type, and how SDK errors map to it.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// Why an object-store call failed. Messages name the operation and the full key, never the
/// credentials.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The object (or the bucket) does not exist.
    #[error("{op} {key}: no such object")]
    NotFound {
        /// The operation (PUT, GET, …).
        op: &'static str,
        /// The full key (bucket/prefix/key).
        key: String,
    },
    /// The store could not be reached or kept failing: connection refused, timeouts, throttling
    /// or 5xx after the configured tries. Retryable by the caller.
    #[error("{op} {key}: object store unavailable: {detail}")]
    Unavailable {
        /// The operation.
        op: &'static str,
        /// The full key.
        key: String,
        /// What happened.
        detail: String,
    },
    /// The store refused the credentials or the access (403, a bad signature, an unknown key).
    #[error("{op} {key}: denied by the object store: {detail}")]
    Denied {
        /// The operation.
        op: &'static str,
        /// The full key.
        key: String,
        /// What happened.
        detail: String,
    },
    /// Anything else: a bad request, a short read, a malformed answer, a refused TLS
    /// certificate (see `ca_file`), bad settings.
    #[error("{op} {key}: {detail}")]
    Other {
        /// The operation.
        op: &'static str,
        /// The full key.
        key: String,
        /// What happened.
        detail: String,
    },
}

impl ObjectError {
    /// Whether the caller may retry later ([`ObjectError::Unavailable`]).
    pub fn is_retryable(&self) -> bool {
        matches!(self, ObjectError::Unavailable { .. })
    }

    /// Whether the object was absent.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ObjectError::NotFound { .. })
    }

    /// Bad settings (unreadable CA file, no bucket…).
    pub(crate) fn config(detail: String) -> ObjectError {
        ObjectError::Other {
            op: "configure",
            key: String::new(),
            detail,
        }
    }

    pub(super) fn other(op: &'static str, key: &str, detail: String) -> ObjectError {
        ObjectError::Other {
            op,
            key: key.to_owned(),
            detail,
        }
    }

    pub(super) fn unavailable(op: &'static str, key: &str, detail: String) -> ObjectError {
        ObjectError::Unavailable {
            op,
            key: key.to_owned(),
            detail,
        }
    }
}

/// Removes the credentials from messages built from server answers and SDK errors.
#[derive(Clone)]
pub(super) struct Redact(Vec<String>);

impl Redact {
    pub(super) fn new(secrets: &[&str]) -> Redact {
        // Very short strings would garble messages; real keys are long.
        Redact(
            secrets
                .iter()
                .filter(|s| s.len() >= 4)
                .map(|s| (*s).to_owned())
                .collect(),
        )
    }

    pub(super) fn apply(&self, mut s: String) -> String {
        for secret in &self.0 {
            if s.contains(secret.as_str()) {
                s = s.replace(secret.as_str(), "<redacted>");
            }
        }
        s
    }
}

/// An error and its sources on one line.
pub(super) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        let part = x.to_string();
        if !s.contains(&part) {
            s.push_str(": ");
            s.push_str(&part);
        }
        src = x.source();
    }
    s
}

/// Whether a rustls error is in `e`'s chain (which hyper-rustls nests two `io::Error`s deep:
/// an `io::Error`'s `source` skips its payload, so the payload is visited instead).
fn tls_error(e: &(dyn std::error::Error + 'static)) -> bool {
    use tokio_rustls::rustls;
    let mut next = Some(e);
    while let Some(x) = next {
        if x.is::<rustls::Error>() {
            return true;
        }
        next = match x.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => x.source(),
        };
    }
    false
}

/// Maps an SDK error of operation `op` on `key`.
pub(super) fn classify<E>(
    op: &'static str,
    key: &str,
    e: &SdkError<E, HttpResponse>,
    redact: &Redact,
) -> ObjectError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let key = key.to_owned();
    match e {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let code = ctx.err().code().unwrap_or("");
            let message = ctx.err().message().unwrap_or("");
            let detail = redact.apply(if code.is_empty() {
                format!("HTTP {status}")
            } else {
                format!("HTTP {status} {code}: {message}")
            });
            status_error(op, key, status, code, detail)
        }
        SdkError::ResponseError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let detail = redact.apply(format!("HTTP {status}: unreadable answer: {}", chain(e)));
            if status >= 500 {
                ObjectError::Unavailable { op, key, detail }
            } else {
                ObjectError::Other { op, key, detail }
            }
        }
        SdkError::TimeoutError(_) => ObjectError::Unavailable {
            op,
            key,
            detail: redact.apply(format!("timed out: {}", chain(e))),
        },
        // A refused certificate is a setting to fix (`ca_file`), not an outage.
        SdkError::DispatchFailure(_) if tls_error(e) => ObjectError::Other {
            op,
            key,
            detail: redact.apply(format!("TLS: {}", chain(e))),
        },
        // Anything else that kept the request from getting an answer (refused, reset, a pooled
        // connection closed under it) is an outage the caller may retry.
        SdkError::DispatchFailure(_) => ObjectError::Unavailable {
            op,
            key,
            detail: redact.apply(chain(e)),
        },
        _ => ObjectError::Other {
            op,
            key,
            detail: redact.apply(chain(e)),
        },
    }
}

fn status_error(
    op: &'static str,
    key: String,
    status: u16,
    code: &str,
    detail: String,
) -> ObjectError {
    match (status, code) {
        // A missing bucket is a configuration error, not an absent object (a HEAD's 404 has no
        // body to tell them apart, though).
        (_, "NoSuchBucket") => ObjectError::Other { op, key, detail },
        (_, "NoSuchKey" | "NotFound") | (404, _) => ObjectError::NotFound { op, key },
        (_, "AccessDenied" | "SignatureDoesNotMatch" | "InvalidAccessKeyId" | "InvalidToken")
        | (401 | 403, _) => ObjectError::Denied { op, key, detail },
        (_, "SlowDown" | "RequestTimeout" | "ServiceUnavailable" | "InternalError")
        | (429 | 500.., _) => ObjectError::Unavailable { op, key, detail },
        _ => ObjectError::Other { op, key, detail },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes_map_to_kinds() {
        let e = |status, code: &str| status_error("GET", "b/k".into(), status, code, "d".into());
        assert!(matches!(e(404, ""), ObjectError::NotFound { .. }));
        assert!(matches!(e(400, "NoSuchKey"), ObjectError::NotFound { .. }));
        assert!(matches!(e(403, ""), ObjectError::Denied { .. }));
        assert!(matches!(
            e(400, "SignatureDoesNotMatch"),
            ObjectError::Denied { .. }
        ));
        assert!(e(503, "SlowDown").is_retryable());
        assert!(e(429, "").is_retryable());
        assert!(e(500, "").is_retryable());
        assert!(matches!(e(400, "InvalidRange"), ObjectError::Other { .. }));
        assert!(matches!(e(416, ""), ObjectError::Other { .. }));
    }

    #[test]
    fn credentials_are_redacted() {
        let r = Redact::new(&["AKIDEXAMPLE", "wJalrXUtnFEMI", "ab"]);
        assert_eq!(
            r.apply("key AKIDEXAMPLE secret wJalrXUtnFEMI/x ab".into()),
            "key <redacted> secret <redacted>/x ab"
        );
    }
}
