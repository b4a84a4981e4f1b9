//! Why a signature is refused, in AWS's words.
//!
//! Each variant is one error AWS returns for the same fault ([`SigError::aws_code`]), so AWS
//! clients react as they would with KVS (the SDKs' clock-skew correction, for instance, looks for
//! `InvalidSignatureException` with "Signature expired" and for `RequestExpired`). Messages never
//! contain the secret, the signing key or the signature the server computed; what they quote
//! from the request is bounded by the parser's limits.

use super::date::amz_date_i64;
use crate::error::ErrorKind;

/// A refused signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// The request carries no signature at all (`MissingAuthenticationTokenException`).
    #[error("Request is missing Authentication Token")]
    MissingAuthenticationToken,
    /// The signature is malformed: a missing or repeated part, a bad credential scope, date or
    /// signed-headers list, an unsigned `host` (`IncompleteSignatureException`).
    #[error("{0}")]
    IncompleteSignature(&'static str),
    /// The credential scope names another service, or a region this server does not serve
    /// (`InvalidSignatureException`, AWS's "Credential should be scoped to ...").
    #[error("Credential should be scoped to {0}")]
    WrongScope(&'static str),
    /// The signature does not match the request (`InvalidSignatureException`).
    #[error(
        "The request signature we calculated does not match the signature you provided. Check \
         your AWS Secret Access Key and signing method. Consult the service documentation for \
         details."
    )]
    InvalidSignature,
    /// Header form: the request time is older than now minus the allowed skew
    /// (`InvalidSignatureException`, "Signature expired").
    #[error(
        "Signature expired: {} is now earlier than {} ({} - {} min.)",
        at(.request_time),
        at_minus(.now, .skew_secs),
        at(.now),
        minutes(.skew_secs)
    )]
    SignatureExpired {
        /// The request time (Unix seconds).
        request_time: i64,
        /// The server's time.
        now: i64,
        /// The allowed skew.
        skew_secs: i64,
    },
    /// The request time is later than now plus the allowed skew (`InvalidSignatureException`,
    /// "Signature not yet current").
    #[error(
        "Signature not yet current: {} is still later than {} ({} + {} min.)",
        at(.request_time),
        at_plus(.now, .skew_secs),
        at(.now),
        minutes(.skew_secs)
    )]
    SignatureNotYetCurrent {
        /// The request time (Unix seconds).
        request_time: i64,
        /// The server's time.
        now: i64,
        /// The allowed skew.
        skew_secs: i64,
    },
    /// Presigned form: now is past `X-Amz-Date + X-Amz-Expires` (`RequestExpired`).
    #[error(
        "Request has expired: signed at {} for {expires_secs} s, now {}",
        at(.request_time),
        at(.now)
    )]
    RequestExpired {
        /// The request time (Unix seconds).
        request_time: i64,
        /// `X-Amz-Expires`.
        expires_secs: u32,
        /// The server's time.
        now: i64,
    },
    /// The access key id is unknown, or the session token does not belong to it
    /// (`UnrecognizedClientException`). Raised by the key store, not by the verifier.
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,
    /// The session token of temporary credentials has expired (`ExpiredTokenException`). Raised
    /// by the key store, not by the verifier.
    #[error("The security token included in the request is expired")]
    ExpiredToken,
}

fn at(t: &i64) -> String {
    amz_date_i64(*t)
}

fn at_minus(t: &i64, secs: &i64) -> String {
    amz_date_i64(t.saturating_sub(*secs))
}

fn at_plus(t: &i64, secs: &i64) -> String {
    amz_date_i64(t.saturating_add(*secs))
}

fn minutes(secs: &i64) -> i64 {
    secs / 60
}

impl SigError {
    /// The AWS error code (`x-amzn-ErrorType` / `__type`) of this refusal.
    pub fn aws_code(&self) -> &'static str {
        match self {
            SigError::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            SigError::IncompleteSignature(_) => "IncompleteSignatureException",
            SigError::WrongScope(_)
            | SigError::InvalidSignature
            | SigError::SignatureExpired { .. }
            | SigError::SignatureNotYetCurrent { .. } => "InvalidSignatureException",
            SigError::RequestExpired { .. } => "RequestExpired",
            SigError::UnrecognizedClient => "UnrecognizedClientException",
            SigError::ExpiredToken => "ExpiredTokenException",
        }
    }

    /// The HTTP status AWS answers with: 400 for a malformed signature or an expired presigned
    /// URL, 403 for the rest.
    pub fn http_status(&self) -> u16 {
        match self {
            SigError::IncompleteSignature(_) | SigError::RequestExpired { .. } => 400,
            _ => 403,
        }
    }

    /// Every refusal is [`ErrorKind::NotAuthorized`] in the crate's vocabulary; the API layer
    /// renders [`Self::aws_code`] and [`Self::http_status`] instead of the kind's defaults.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::NotAuthorized
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_reads_like_aws() {
        let e = SigError::SignatureExpired {
            request_time: 1_704_067_200,
            now: 1_704_068_000,
            skew_secs: 300,
        };
        assert_eq!(
            e.to_string(),
            "Signature expired: 20240101T000000Z is now earlier than 20240101T000820Z \
             (20240101T001320Z - 5 min.)"
        );
        assert_eq!(e.aws_code(), "InvalidSignatureException");
    }
}
