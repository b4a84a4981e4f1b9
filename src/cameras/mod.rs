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
//! A password is sealed under the master key before it reaches the index ([`PASSWORD_PURPOSE`],
//! bound to the camera's name, so a sealed value copied onto another camera's row does not
//! open), and opened only by the runner, for each connection. Clear-text passwords that older
//! builds stored are sealed when the supervisor starts ([`Supervisor::start`]).
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

use zeroize::Zeroizing;

use crate::auth::SecretText;
use crate::auth::seal::{SealError, Sealer};
use crate::error::ErrorKind;
use crate::model::StreamName;
use crate::store::StoreError;
use crate::store::index::{CameraRow, StoredPassword};

/// Longest camera name, URL, username or password accepted.
const MAX_FIELD: usize = 1024;

/// What camera passwords are sealed as ([`Sealer::seal`]'s purpose; the record id is the camera's
/// name).
pub const PASSWORD_PURPOSE: &str = "camera-password";

/// A camera's password: as given (to be sealed before it is stored) or as the index holds it.
/// `Debug` never shows it.
#[derive(Clone)]
pub enum Password {
    /// Given by a caller just now (the API, a URL's userinfo).
    Given(SecretText),
    /// As stored: sealed, or clear text from a build before sealing.
    Stored(StoredPassword),
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Password::Given(_) => f.write_str("Given(<redacted>)"),
            Password::Stored(s) => write!(f, "Stored({s:?})"),
        }
    }
}

impl Password {
    /// A password given by a caller.
    pub fn given(text: &str) -> Password {
        Password::Given(SecretText::new(text))
    }

    /// What the index stores for camera `name`: always sealed (a sealed one as it is; a given
    /// or legacy clear-text one sealed now), so nothing writes clear text.
    pub fn to_stored(&self, sealer: &Sealer, name: &str) -> StoredPassword {
        let clear = match self {
            Password::Stored(StoredPassword::Sealed(s)) => {
                return StoredPassword::Sealed(s.clone());
            }
            Password::Stored(StoredPassword::Legacy(p)) => p.as_str(),
            Password::Given(p) => p.expose(),
        };
        StoredPassword::Sealed(sealer.seal(PASSWORD_PURPOSE, name, clear.as_bytes()))
    }

    /// The clear text for camera `name`, to send to the camera. A sealed value opens only with
    /// the master key that sealed it and only for the camera it was sealed for.
    pub fn open(&self, sealer: &Sealer, name: &str) -> Result<Zeroizing<String>, SealError> {
        let bytes = match self {
            Password::Given(p) => return Ok(Zeroizing::new(p.expose().to_owned())),
            Password::Stored(StoredPassword::Legacy(p)) => return Ok(Zeroizing::new(p.clone())),
            Password::Stored(StoredPassword::Sealed(s)) => {
                sealer.open(PASSWORD_PURPOSE, name, s)?
            }
        };
        // Sealed from a `String`: anything else was not sealed by us.
        String::from_utf8(bytes.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| SealError::Mismatch {
                purpose: PASSWORD_PURPOSE.to_owned(),
                id: name.to_owned(),
            })
    }

    fn is_empty_given(&self) -> bool {
        matches!(self, Password::Given(p) if p.expose().is_empty())
    }
}

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
#[derive(Clone)]
pub struct Camera {
    /// Unique name (same rules as a stream name).
    pub name: String,
    /// `rtsp://` or `rtsps://` URL without userinfo.
    pub url: String,
    /// RTSP user.
    pub username: Option<String>,
    /// RTSP password.
    pub password: Option<Password>,
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
    /// An empty given password is none.
    pub fn new(
        name: &str,
        url: &str,
        username: Option<String>,
        password: Option<Password>,
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
        let given = match &password {
            Some(Password::Given(p)) => Some(p.expose()),
            _ => None,
        };
        for (what, v) in [("username", username.as_deref()), ("password", given)] {
            if v.is_some_and(|v| v.len() > MAX_FIELD || v.contains('\0')) {
                return Err(CameraError::Invalid(format!(
                    "{what} is invalid: at most {MAX_FIELD} bytes, no NUL"
                )));
            }
        }
        Ok(Camera {
            name: name.to_owned(),
            url,
            username: username.or(url_user).filter(|u| !u.is_empty()),
            password: password
                .or(url_pass.map(|p| Password::given(&p)))
                .filter(|p| !p.is_empty_given()),
            stream,
            transport,
            enabled,
        })
    }

    /// The index row, with a given password sealed by `sealer`.
    pub fn to_row(&self, sealer: &Sealer) -> CameraRow {
        CameraRow {
            name: self.name.clone(),
            url: self.url.clone(),
            username: self.username.clone(),
            password: self
                .password
                .as_ref()
                .map(|p| p.to_stored(sealer, &self.name)),
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
            row.password.map(Password::Stored),
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

    fn sealer(b: u8) -> Sealer {
        Sealer::new(&crate::auth::seal::MasterKey::from_bytes(&[b; 32]).expect("32 bytes"))
    }

    fn with_password(name: &str, password: Option<Password>) -> Camera {
        Camera::new(
            name,
            "rtsp://admin:hunter2@10.0.0.1/live",
            None,
            password,
            "s",
            Transport::Tcp,
            true,
        )
        .expect("valid")
    }

    #[test]
    fn debug_hides_the_password_and_rows_hold_it_sealed() {
        let s = sealer(1);
        let c = with_password("cam", None);
        assert_eq!(c.url, "rtsp://10.0.0.1/live");
        let given = c.password.as_ref().expect("from the url");
        assert_eq!(&*given.open(&s, "cam").expect("given"), "hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
        let row = c.to_row(&s);
        assert!(!format!("{row:?}").contains("hunter2"));
        let Some(StoredPassword::Sealed(sealed)) = &row.password else {
            panic!("stored sealed: {row:?}");
        };
        assert!(
            !sealed.windows(7).any(|w| w == b"hunter2"),
            "no clear text in the row"
        );
        let back = Camera::from_row(row.clone()).expect("round trip");
        assert_eq!(back.to_row(&s), row, "a stored password is kept as it is");
        let opened = back.password.expect("kept").open(&s, "cam").expect("opens");
        assert_eq!(&*opened, "hunter2");
        // An explicit empty password is none.
        assert!(
            with_password("cam", Some(Password::given("")))
                .password
                .is_none()
        );
    }

    #[test]
    fn a_sealed_password_opens_only_for_its_camera_and_master_key() {
        let s = sealer(1);
        let door = with_password("door", Some(Password::given("door-secret"))).to_row(&s);
        // The sealed value pasted onto another camera's row.
        let yard = CameraRow {
            name: "yard".into(),
            ..door.clone()
        };
        let moved = Camera::from_row(yard).expect("valid row");
        let e = moved
            .password
            .expect("has one")
            .open(&s, "yard")
            .expect_err("bound to door");
        assert!(matches!(e, SealError::Mismatch { .. }), "{e}");
        assert!(!e.to_string().contains("door-secret"));
        let door = Camera::from_row(door).expect("valid row");
        let p = door.password.expect("has one");
        assert!(p.open(&sealer(2), "door").is_err(), "another master key");
        assert_eq!(&*p.open(&s, "door").expect("opens"), "door-secret");
        // A legacy clear-text row opens as it is (until the supervisor seals it), and is
        // sealed when it is written again.
        let legacy = Password::Stored(StoredPassword::Legacy("old".into()));
        assert_eq!(&*legacy.open(&s, "any").expect("clear"), "old");
        let StoredPassword::Sealed(resealed) = legacy.to_stored(&s, "any") else {
            panic!("written sealed");
        };
        assert_eq!(
            &*s.open(PASSWORD_PURPOSE, "any", &resealed).expect("opens"),
            b"old"
        );
        assert!(!format!("{legacy:?}").contains("old"));
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
