//! Cameras the server pulls over RTSP (the camera agent; a vidstream extension, not KVS).
//!
//! A camera is `{name, url, username?, password?, stream, transport, enabled}`, kept in the index
//! so that it survives restarts. The [`Supervisor`] (a background job, STYLE §11) runs one
//! [`runner`] task per enabled camera: an RTSP pull ([`pull`], retina on the shared tokio
//! runtime) whose frames are muxed into MKV that goes through the same PutMedia ingest session as
//! any producer, with RELATIVE timecodes counted from the wall clock when the connection opened. Failures become
//! states, never crashes: the runner reconnects with capped exponential backoff and jitter, each
//! reconnect is a new ingest session, and the gap between sessions is counted as a discontinuity.
//!
//! Credentials are stored (the server must replay them) but never logged, never in `Debug`
//! output and never in API responses: views say `hasPassword` and show the URL without userinfo.
//!
//! Where cameras may be is the `[cameras]` egress policy ([`crate::egress`]): a camera whose
//! host is refused is refused when added or changed (a clear `InvalidArgumentException` naming
//! the key to change), and every connection checks again (`pull::connect`), because a name's
//! answer can change.

pub mod pull;
mod runner;
pub mod status;
mod supervisor;

pub use status::{CameraState, CameraStatus};
pub use supervisor::{CameraOptions, Supervisor, SupervisorHandle};

use crate::error::ErrorKind;
use crate::model::StreamName;
use crate::store::StoreError;
use crate::store::index::CameraRow;

/// Longest camera name, URL, username or password accepted.
const MAX_FIELD: usize = 1024;

/// Why a camera request failed.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    /// A field is invalid; the message says which and how to fix it.
    #[error("{0}")]
    Invalid(String),
    /// Another camera already feeds the target stream.
    #[error(
        "stream `{stream}` is already fed by camera `{camera}`; a stream takes one camera, create another stream"
    )]
    StreamTaken {
        /// The stream.
        stream: String,
        /// The camera feeding it.
        camera: String,
    },
    /// The egress guard refuses the camera's address (`[cameras] allowed_*`).
    #[error("camera url: {0}")]
    Egress(#[from] crate::egress::EgressError),
    /// The store failed or refused (not found, exists...).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CameraError {
    /// The KVS error kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CameraError::Invalid(_) => ErrorKind::InvalidArgument,
            CameraError::StreamTaken { .. } => ErrorKind::ResourceInUse,
            CameraError::Egress(e) => e.kind(),
            CameraError::Store(e) => e.kind(),
        }
    }
}

/// RTP transport of a camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Interleaved in the RTSP TCP connection (the default: works through NAT).
    Tcp,
    /// Plain UDP.
    Udp,
}

impl Transport {
    /// Parses `tcp` / `udp` (any case).
    pub fn parse(s: &str) -> Result<Transport, CameraError> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Transport::Tcp),
            "udp" => Ok(Transport::Udp),
            _ => Err(CameraError::Invalid(format!(
                "transport `{s}` is invalid; use tcp or udp"
            ))),
        }
    }

    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

/// A validated camera. `Debug` omits the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Camera {
    /// Unique name (same rules as a stream name).
    pub name: String,
    /// `rtsp://` or `rtsps://` URL without userinfo.
    pub url: String,
    /// RTSP user.
    pub username: Option<String>,
    /// RTSP password.
    pub password: Option<String>,
    /// Target stream.
    pub stream: StreamName,
    /// RTP transport.
    pub transport: Transport,
    /// Pulled or not.
    pub enabled: bool,
}

impl std::fmt::Debug for Camera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Camera")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("username", &self.username)
            .field("has_password", &self.password.is_some())
            .field("stream", &self.stream.as_str())
            .field("transport", &self.transport)
            .field("enabled", &self.enabled)
            .finish()
    }
}

impl Camera {
    /// Validates the fields of a camera. Userinfo in the URL (`rtsp://user:pass@host/...`) is
    /// moved into `username`/`password` (explicit ones win), so the stored URL never carries it.
    pub fn new(
        name: &str,
        url: &str,
        username: Option<String>,
        password: Option<String>,
        stream: &str,
        transport: Transport,
        enabled: bool,
    ) -> Result<Camera, CameraError> {
        validate_name(name)?;
        let (url, url_user, url_pass) = split_userinfo(url)?;
        let stream = StreamName::parse(stream).map_err(|e| {
            CameraError::Invalid(format!(
                "stream `{stream}` is not a valid stream name: {}",
                e.0
            ))
        })?;
        for (what, v) in [("username", &username), ("password", &password)] {
            if v.as_ref()
                .is_some_and(|v| v.len() > MAX_FIELD || v.contains('\0'))
            {
                return Err(CameraError::Invalid(format!(
                    "{what} is invalid: at most {MAX_FIELD} bytes, no NUL"
                )));
            }
        }
        Ok(Camera {
            name: name.to_owned(),
            url,
            username: username.or(url_user).filter(|u| !u.is_empty()),
            password: password.or(url_pass).filter(|p| !p.is_empty()),
            stream,
            transport,
            enabled,
        })
    }

    /// The index row.
    pub fn to_row(&self) -> CameraRow {
        CameraRow {
            name: self.name.clone(),
            url: self.url.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            stream_name: self.stream.as_str().to_owned(),
            transport: self.transport.as_str().to_owned(),
            enabled: self.enabled,
        }
    }

    /// Back from an index row (validated again: the index may have been edited by hand).
    pub fn from_row(row: CameraRow) -> Result<Camera, CameraError> {
        let transport = Transport::parse(&row.transport)?;
        Camera::new(
            &row.name,
            &row.url,
            row.username,
            row.password,
            &row.stream_name,
            transport,
            row.enabled,
        )
    }
}

/// Where a camera URL connects: its lowercase host and port (554 when absent, RTSP's default).
/// Stored credentials belong to one authority: they are never sent to another.
pub fn authority(url: &str) -> Option<(String, u16)> {
    let u = url::Url::parse(url).ok()?;
    let host = u.host_str()?.to_ascii_lowercase();
    Some((host, u.port().unwrap_or(554)))
}

/// Camera names follow the stream name rules: `[a-zA-Z0-9_.-]{1,256}`.
pub fn validate_name(name: &str) -> Result<(), CameraError> {
    let ok = (1..=256).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(CameraError::Invalid(format!(
            "camera name `{name}` is invalid; use 1-256 characters of [a-zA-Z0-9_.-]"
        )))
    }
}

/// Splits `rtsp://user:pass@host:port/path` into the URL without userinfo and the user and
/// password (percent-decoding is left to the camera: they are passed as written).
fn split_userinfo(url: &str) -> Result<(String, Option<String>, Option<String>), CameraError> {
    let bad = |why: &str| {
        CameraError::Invalid(format!(
            "url is invalid: {why}; use rtsp://host[:port]/path"
        ))
    };
    if url.len() > MAX_FIELD || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad("too long or contains spaces or control characters"));
    }
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "rtsp" && scheme != "rtsps" {
        return Err(bad("the scheme must be rtsp or rtsps"));
    }
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let (user, pass) = match userinfo {
        None => (None, None),
        Some(u) => match u.split_once(':') {
            Some((user, pass)) => (Some(user.to_owned()), Some(pass.to_owned())),
            None => (Some(u.to_owned()), None),
        },
    };
    Ok((format!("{scheme}://{host}{path}"), user, pass))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_leaves_the_url() {
        let table = [
            ("rtsp://h:554/a", "rtsp://h:554/a", None, None),
            ("rtsp://u:p@h/a/b", "rtsp://h/a/b", Some("u"), Some("p")),
            ("RTSP://u@h", "rtsp://h", Some("u"), None),
            ("rtsps://u:p:q@h:1", "rtsps://h:1", Some("u"), Some("p:q")),
            ("rtsp://u:p@x@h/p", "rtsp://h/p", Some("u"), Some("p@x")),
        ];
        for (input, url, user, pass) in table {
            let (u, us, pw) = split_userinfo(input).expect(input);
            assert_eq!(
                (u.as_str(), us.as_deref(), pw.as_deref()),
                (url, user, pass),
                "{input}"
            );
        }
        for bad in [
            "http://h/a",
            "rtsp://",
            "h/a",
            "rtsp://h /a",
            "rtsp://u:p@/a",
        ] {
            assert!(split_userinfo(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let c = Camera::new(
            "cam",
            "rtsp://admin:hunter2@10.0.0.1/live",
            None,
            None,
            "s",
            Transport::Tcp,
            true,
        )
        .expect("valid");
        assert_eq!(c.url, "rtsp://10.0.0.1/live");
        assert_eq!(c.password.as_deref(), Some("hunter2"));
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{:?}", c.to_row()).contains("hunter2"));
        assert_eq!(Camera::from_row(c.to_row()).expect("round trip"), c);
    }

    #[test]
    fn names_and_transports() {
        assert!(validate_name("front-door_1.a").is_ok());
        for bad in ["", "a b", "a/b", &"x".repeat(257)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert_eq!(Transport::parse("UDP").expect("udp"), Transport::Udp);
        assert!(Transport::parse("http").is_err());
    }
}
