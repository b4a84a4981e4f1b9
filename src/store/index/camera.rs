//! The index's view of a pulled RTSP camera: plain stored fields, no behaviour. Validation and
//! the supervisor live in `crate::cameras`; the store only persists what it is given.

/// One row of the `cameras` table.
///
/// `Debug` is written by hand so that the password never reaches a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct CameraRow {
    /// Unique camera name.
    pub name: String,
    /// `rtsp://` or `rtsps://` URL, without userinfo.
    pub url: String,
    /// RTSP user, if the camera needs one.
    pub username: Option<String>,
    /// RTSP password, if the camera needs one. Never logged, never returned by the API.
    pub password: Option<String>,
    /// Name of the vidstream stream the camera's media goes to.
    pub stream_name: String,
    /// `tcp` or `udp` (RTP transport).
    pub transport: String,
    /// Whether the supervisor pulls it.
    pub enabled: bool,
}

impl std::fmt::Debug for CameraRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraRow")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("stream_name", &self.stream_name)
            .field("transport", &self.transport)
            .field("enabled", &self.enabled)
            .finish()
    }
}
