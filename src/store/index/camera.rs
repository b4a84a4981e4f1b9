//! The index's view of a pulled RTSP camera: plain stored fields, no behaviour. Validation, the
//! sealing of passwords and the supervisor live in `crate::cameras`; the store only persists
//! what it is given.

/// One row of the `cameras` table.
///
/// `Debug` is written by hand so that no password, sealed or not, reaches a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct CameraRow {
    /// Unique camera name.
    pub name: String,
    /// `rtsp://` or `rtsps://` URL, without userinfo.
    pub url: String,
    /// RTSP user, if the camera needs one.
    pub username: Option<String>,
    /// RTSP password, if the camera needs one, as it is at rest. Never logged, never returned
    /// by the API.
    pub password: Option<StoredPassword>,
    /// Name of the vidstream stream the camera's media goes to.
    pub stream_name: String,
    /// `tcp` or `udp` (RTP transport).
    pub transport: String,
    /// Whether the supervisor pulls it.
    pub enabled: bool,
}

/// A camera password as the index keeps it.
#[derive(Clone, PartialEq, Eq)]
pub enum StoredPassword {
    /// Sealed under the master key (`crate::auth::seal`, purpose `camera-password`, bound to the
    /// camera's name). Every password written since schema version 7 is.
    Sealed(Vec<u8>),
    /// Clear text, as schema versions up to 6 kept it. Read from old rows only: the camera
    /// supervisor seals it at start-up ([`crate::store::Store::seal_camera_passwords`]).
    Legacy(String),
}

impl std::fmt::Debug for StoredPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoredPassword::Sealed(b) => write!(f, "Sealed({} bytes)", b.len()),
            StoredPassword::Legacy(_) => f.write_str("Legacy(<redacted>)"),
        }
    }
}

impl std::fmt::Debug for CameraRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraRow")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("stream_name", &self.stream_name)
            .field("transport", &self.transport)
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// A legacy clear-text password and the sealed value to replace it with
/// ([`crate::store::Store::seal_camera_passwords`]).
#[derive(Clone)]
pub struct PasswordSealing {
    /// The camera.
    pub name: String,
    /// The clear text the row holds now: the row is changed only if it still does.
    pub legacy: String,
    /// What replaces it.
    pub sealed: Vec<u8>,
}

impl std::fmt::Debug for PasswordSealing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordSealing")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
