//! `[hook]` and `[cameras]`: where the server itself connects (webhooks, S3 buckets, RTSP
//! cameras), checked by the egress guard (`crate::egress`).

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::ConfigSecret;

use crate::egress::{self, HostPattern, Keys, Network, Policy};

/// `[hook]`: how the frame hook (UpdateImageGenerationConfiguration) delivers pictures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HookSettings {
    /// Pictures queued per stream for its destination; when full, the oldest is dropped (and
    /// counted) so that a slow destination never holds anything up.
    pub queue_capacity: usize,
    /// Decode passes the hooks of all streams run at once (about one core each).
    pub decode_threads: usize,
    /// `file://` destinations must name a directory under this one; empty = they are refused.
    pub file_root: String,
    /// S3 endpoint URL (e.g. `http://127.0.0.1:9000` for MinIO); empty = AWS.
    pub s3_endpoint: String,
    /// Path-style S3 URLs (`endpoint/bucket/key`), which most S3-compatible servers need.
    pub s3_force_path_style: bool,
    /// S3 access key id; empty = the `AWS_ACCESS_KEY_ID` environment variable.
    pub s3_access_key_id: String,
    /// S3 secret access key; empty = the `AWS_SECRET_ACCESS_KEY` environment variable.
    pub s3_secret_access_key: ConfigSecret,
    /// Webhook: longest a POST may take, ms.
    pub webhook_timeout_ms: u64,
    /// Webhook: tries per picture (network errors, timeouts, 429 and 5xx are retried).
    pub webhook_attempts: u32,
    /// Webhook: wait before the first retry, ms; it doubles on each retry.
    pub webhook_backoff_ms: u64,
    /// Webhook: networks whose addresses webhooks may go to (CIDRs, single addresses, or
    /// `public` for any address on the public internet). Checked on every address a host name
    /// resolves to, at each connection; the always-denied list (`egress`) wins over it.
    pub webhook_allowed_networks: Vec<Network>,
    /// Webhook: host names (`hooks.lan`, or `*.example.com` for the names under it) webhooks may
    /// go to whatever they resolve to, except the always-denied addresses.
    pub webhook_allowed_hosts: Vec<HostPattern>,
    /// `s3://` destinations are written with this server's own credentials, so only these
    /// buckets may be named; empty = `s3://` destinations are refused.
    pub allowed_s3_buckets: Vec<String>,
}

/// Where the `[hook]` keys of the webhook policy are, for its messages.
const WEBHOOK_KEYS: Keys = Keys {
    networks: "[hook] webhook_allowed_networks",
    hosts: "[hook] webhook_allowed_hosts",
    ports: "",
};

/// Where the `[cameras]` keys of the camera policy are, for its messages.
const CAMERA_KEYS: Keys = Keys {
    networks: "[cameras] allowed_networks",
    hosts: "[cameras] allowed_hosts",
    ports: "[cameras] allowed_ports",
};

impl Default for HookSettings {
    fn default() -> Self {
        HookSettings {
            queue_capacity: 32,
            decode_threads: 1,
            file_root: String::new(),
            s3_endpoint: String::new(),
            s3_force_path_style: true,
            s3_access_key_id: String::new(),
            s3_secret_access_key: ConfigSecret::default(),
            webhook_timeout_ms: 5000,
            webhook_attempts: 3,
            webhook_backoff_ms: 200,
            webhook_allowed_networks: vec![Network::Public],
            webhook_allowed_hosts: Vec::new(),
            allowed_s3_buckets: Vec::new(),
        }
    }
}

impl HookSettings {
    /// Where webhooks may go.
    pub fn webhook_policy(&self) -> Policy {
        Policy::new(
            self.webhook_allowed_networks.clone(),
            self.webhook_allowed_hosts.clone(),
            Vec::new(),
            WEBHOOK_KEYS,
        )
    }

    /// The hook's options (environment credentials filled in); fails only if the webhook HTTP
    /// client cannot be built (TLS setup).
    pub fn to_options(&self) -> Result<crate::frames::hook::HookOptions, reqwest::Error> {
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let or_env = |s: &str, var: &str| {
            non_empty(s)
                .or_else(|| std::env::var(var).ok())
                .unwrap_or_default()
        };
        let timeout = std::time::Duration::from_millis(self.webhook_timeout_ms.max(1));
        let webhook_egress = Arc::new(self.webhook_policy());
        let http = crate::frames::hook::webhook::client(timeout, Arc::clone(&webhook_egress))?;
        Ok(crate::frames::hook::HookOptions {
            queue_capacity: self.queue_capacity.max(1),
            decode_threads: self.decode_threads.max(1),
            file_root: non_empty(&self.file_root).map(PathBuf::from),
            s3_endpoint: non_empty(&self.s3_endpoint),
            s3_force_path_style: self.s3_force_path_style,
            s3_access_key_id: or_env(&self.s3_access_key_id, "AWS_ACCESS_KEY_ID"),
            s3_secret_access_key: or_env(&self.s3_secret_access_key, "AWS_SECRET_ACCESS_KEY"),
            webhook_attempts: self.webhook_attempts.max(1),
            webhook_backoff: std::time::Duration::from_millis(self.webhook_backoff_ms),
            webhook_egress,
            allowed_s3_buckets: self.allowed_s3_buckets.clone(),
            http,
        })
    }
}

/// `[cameras]`: how the server pulls RTSP cameras (the cameras themselves are added through the
/// API and kept in the index).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CameraSettings {
    /// First wait before reconnecting a camera that failed, in ms; it doubles on each failure.
    pub backoff_initial_ms: u64,
    /// Longest wait between reconnects, in ms.
    pub backoff_max_ms: u64,
    /// Unused since the camera agent has no jitter buffer (frames are timed by their RTP
    /// timestamps); still accepted so that existing config files load.
    pub latency_ms: u64,
    /// A connection that has not produced media this long after it started is given up (and
    /// retried), in ms; so is a streaming one that stops producing media for this long.
    pub stall_timeout_ms: u64,
    /// Networks whose addresses cameras may be pulled from (CIDRs, single addresses, or
    /// `public`). Checked when a camera is added or changed and on every address its host
    /// resolves to at each connection; the always-denied list (`egress`) wins over it.
    pub allowed_networks: Vec<Network>,
    /// Camera host names (`cam1.lan`, or `*.cams.example.com`) allowed whatever they resolve
    /// to, except the always-denied addresses.
    pub allowed_hosts: Vec<HostPattern>,
    /// Ports cameras may use; empty = any port (cameras use 554, 8554 and many vendor ports).
    pub allowed_ports: Vec<u16>,
    /// Largest RTSP message (head and body) accepted from a camera, in bytes; at least
    /// [`MIN_RTSP_MESSAGE_BYTES`]. A message is buffered whole before it is parsed, so this is
    /// what bounds the memory a camera can make the server take (issue 15). SDP and
    /// GET_PARAMETER bodies are a few KiB; interleaved RTP data is not counted (its 16-bit length
    /// bounds it).
    pub max_rtsp_message_bytes: u64,
}

/// Default of `[cameras] max_rtsp_message_bytes`: 1 MiB.
pub const DEFAULT_RTSP_MESSAGE_BYTES: u64 = 1 << 20;

/// Smallest `[cameras] max_rtsp_message_bytes` in effect: 64 KiB, retina's read buffer per
/// connection, so a smaller limit would save no memory.
pub const MIN_RTSP_MESSAGE_BYTES: u64 = 64 << 10;

impl CameraSettings {
    /// Where cameras may be pulled from.
    pub fn egress_policy(&self) -> Policy {
        Policy::new(
            self.allowed_networks.clone(),
            self.allowed_hosts.clone(),
            self.allowed_ports.clone(),
            CAMERA_KEYS,
        )
    }

    /// The supervisor's options.
    pub fn to_options(&self) -> crate::cameras::CameraOptions {
        use std::time::Duration;
        crate::cameras::CameraOptions {
            backoff_initial: Duration::from_millis(self.backoff_initial_ms.max(1)),
            backoff_max: Duration::from_millis(self.backoff_max_ms.max(self.backoff_initial_ms)),
            stall_timeout: Duration::from_millis(self.stall_timeout_ms.max(1000)),
            egress: Arc::new(self.egress_policy()),
            max_rtsp_message_bytes: usize::try_from(
                self.max_rtsp_message_bytes.max(MIN_RTSP_MESSAGE_BYTES),
            )
            .unwrap_or(usize::MAX),
        }
    }
}

impl Default for CameraSettings {
    fn default() -> Self {
        CameraSettings {
            backoff_initial_ms: 1000,
            backoff_max_ms: 30_000,
            latency_ms: 200,
            stall_timeout_ms: 20_000,
            // Cameras live on LANs; loopback so that a local test camera works out of the box.
            allowed_networks: egress::networks(&[egress::PRIVATE, egress::LOOPBACK].concat()),
            allowed_hosts: Vec::new(),
            allowed_ports: Vec::new(),
            max_rtsp_message_bytes: DEFAULT_RTSP_MESSAGE_BYTES,
        }
    }
}
