//! `vidstream.toml`: the server configuration.
//!
//! Sources, lowest precedence first: built-in defaults, the TOML file (`--config`), `VIDSTREAM_*`
//! environment variables, command-line flags. Unknown keys are errors wherever they come from, so
//! a typo never silently falls back to a default.
//!
//! Environment variables name keys in upper case: `VIDSTREAM_LISTEN` sets `listen`, and a key in a
//! table is reached with a double underscore (`VIDSTREAM_SECTION__KEY`). A value is read with the
//! type of the key's default (integers, booleans, strings). `VIDSTREAM_LOG` and
//! `VIDSTREAM_LOG_FORMAT` configure logging before the config is read and are not config keys.
//! `docker/vidstream.toml` documents every key; a test keeps it in sync with this file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::egress::{self, HostPattern, Keys, Network, Policy};

mod auth;
mod tls;
pub use auth::{AuthSettings, ConfigSecret};
pub use tls::TlsSettings;

/// Environment variables with this prefix are config keys.
pub const ENV_PREFIX: &str = "VIDSTREAM_";

/// Environment variables with the prefix that are not config keys.
const ENV_NOT_KEYS: &[&str] = &["VIDSTREAM_LOG", "VIDSTREAM_LOG_FORMAT"];

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address and port the HTTP API listens on.
    pub listen: SocketAddr,
    /// Directory holding the index and the media.
    pub data_dir: PathBuf,
    /// Base URL that GetDataEndpoint returns, as clients must reach this server (e.g. behind a
    /// proxy). Defaults to `http://` + `listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Region used in ARNs.
    pub region: String,
    /// Account id (digits) used in ARNs.
    pub account_id: String,
    /// Largest accepted JSON request body, in bytes.
    pub max_request_body_bytes: usize,
    /// A stream's segment file is closed and a new one started once it holds this many bytes.
    /// Retention deletes whole segment files, so smaller segments free space sooner.
    pub segment_max_bytes: u64,
    /// ... or once its first fragment is this many seconds old.
    pub segment_max_secs: u64,
    /// Seconds to let open requests finish after SIGINT/SIGTERM before exiting anyway.
    pub shutdown_grace_secs: u64,
    /// PutMedia ingest.
    pub ingest: IngestSettings,
    /// Retention: deleting old media by time and by size.
    pub retention: RetentionSettings,
    /// RTSP cameras the server pulls.
    pub cameras: CameraSettings,
    /// `[playback]`: HLS/DASH sessions, clips, CORS.
    pub playback: PlaybackSettings,
    /// Directory of the web UI (the source tree's `web/`, with its `node_modules`), served at
    /// `/`. Unset: `./web` if it holds `index.html`, else the source tree's `web/` the binary was
    /// built from, if present. An empty string turns the UI off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_dir: Option<PathBuf>,
    /// `[hook]`: the frame hook (image generation to S3, files, webhooks).
    pub hook: HookSettings,
    /// `[auth]`: the root key, the master key, SigV4's clock skew and region.
    pub auth: AuthSettings,
    /// `[tls]`: HTTPS on the listener.
    pub tls: TlsSettings,
}

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
}

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
        }
    }
}

/// `[retention]`: when and how much old media is deleted. Time retention is per stream
/// (`DataRetentionInHours`); these settings add size caps and pace the background job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// Seconds between retention passes (a DECREASE of a stream's retention runs one at once).
    pub interval_secs: u64,
    /// Seconds a segment marked for deletion stays on disk at least, for readers that found it
    /// in the index just before it was marked.
    pub grace_secs: u64,
    /// Most bytes of media kept per stream, oldest deleted first; 0 = no cap.
    pub stream_max_bytes: u64,
    /// Most bytes of media kept in the whole data directory, oldest (across all streams) deleted
    /// first; 0 = no cap.
    pub total_max_bytes: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            interval_secs: 60,
            grace_secs: 30,
            stream_max_bytes: 0,
            total_max_bytes: 0,
        }
    }
}

impl Config {
    /// Where the web UI's files are, if it is on (see [`Config::web_dir`]).
    pub fn resolved_web_dir(&self) -> Option<PathBuf> {
        match &self.web_dir {
            Some(dir) if dir.as_os_str().is_empty() => None,
            Some(dir) => Some(dir.clone()),
            None => [
                PathBuf::from("web"),
                PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/web")),
            ]
            .into_iter()
            .find(|d| d.join("index.html").is_file()),
        }
    }

    /// The store's retention options: the `[retention]` caps and grace, and how long after its
    /// first fragment a stream's newest segment may still be written to (the longest fragment
    /// plus 60 s for fsync and commit, past `segment_max_secs`).
    pub fn retention_options(&self) -> crate::store::RetentionOptions {
        let ms = |secs: u64| i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        crate::store::RetentionOptions {
            grace_ms: ms(self.retention.grace_secs),
            stream_max_bytes: self.retention.stream_max_bytes,
            total_max_bytes: self.retention.total_max_bytes,
            writer_slack_ms: ms(self.ingest.max_fragment_duration_secs).saturating_add(60_000),
        }
    }
}

/// `[playback]`: streaming sessions (HLS, DASH), clips and browser access.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlaybackSettings {
    /// Secret that signs HLS/DASH session tokens (any string of 32+ bytes). Empty: a random one
    /// is created in `DATA_DIR/session.key` on first start. Nodes that share an index must share
    /// this secret, so that a URL made by one node plays from any other.
    pub session_secret: ConfigSecret,
    /// GetClip: most fragments in one clip (KVS: 200).
    pub clip_max_fragments: usize,
    /// GetClip: most media bytes in one clip (KVS: 100 MB).
    pub clip_max_bytes: u64,
    /// Low-latency HLS: target duration of a partial segment, ms (about 200–333 ms is usual).
    pub ll_hls_part_target_ms: u64,
    /// Longest a blocking playlist or part request waits for media that does not exist yet, ms.
    pub blocking_request_timeout_ms: u64,
    /// Origins whose pages may load playback URLs (HLS/DASH playlists and segments, which
    /// carry their own session token) from a browser (CORS). `["*"]` (the default) allows any
    /// origin, as KVS does, so players on other sites work; `[]` sends no CORS headers. The
    /// API's own origins are `[auth] cors_allowed_origins`.
    pub cors_allowed_origins: Vec<String>,
    /// Memory for the media cache: stored fragments HLS/DASH segments were built from, and the
    /// segments' generated headers, shared by all sessions (bytes; 0 disables it).
    pub media_cache_bytes: u64,
}

impl Default for PlaybackSettings {
    fn default() -> Self {
        PlaybackSettings {
            session_secret: ConfigSecret::default(),
            clip_max_fragments: 200,
            clip_max_bytes: 100_000_000,
            ll_hls_part_target_ms: 333,
            blocking_request_timeout_ms: 6000,
            cors_allowed_origins: vec!["*".to_owned()],
            media_cache_bytes: 64 << 20,
        }
    }
}

/// `[ingest]`: PutMedia limits and timers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestSettings {
    /// A PutMedia connection that sends nothing for this long is closed (KVS: 30 s).
    pub idle_timeout_secs: u64,
    /// While a PutMedia connection sends nothing, an IDLE ack goes out this often.
    pub idle_ack_interval_ms: u64,
    /// Longest fragment accepted (ErrorId 4002).
    pub max_fragment_duration_secs: u64,
    /// Largest fragment accepted, in payload bytes (ErrorId 4001; KVS: 50 MB).
    pub max_fragment_bytes: u64,
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            idle_timeout_secs: 30,
            idle_ack_interval_ms: 3000,
            max_fragment_duration_secs: 30,
            max_fragment_bytes: 50_000_000,
        }
    }
}

impl IngestSettings {
    /// The ingest configuration these settings describe.
    pub fn to_config(&self) -> crate::ingest::IngestConfig {
        let defaults = crate::ingest::IngestConfig::default();
        crate::ingest::IngestConfig {
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout_secs.max(1)),
            idle_ack_interval: std::time::Duration::from_millis(self.idle_ack_interval_ms.max(10)),
            limits: crate::ingest::fragmenter::FragmentLimits {
                max_duration_ms: i64::try_from(
                    self.max_fragment_duration_secs.saturating_mul(1000),
                )
                .unwrap_or(i64::MAX),
                max_bytes: self.max_fragment_bytes,
                ..defaults.limits
            },
            mkv_limits: crate::mkv::Limits {
                max_block_bytes: self.max_fragment_bytes,
                ..defaults.mkv_limits
            },
            ..defaults
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./vidstream-data"),
            public_url: None,
            region: "us-east-1".to_owned(),
            account_id: "000000000000".to_owned(),
            max_request_body_bytes: 1 << 20,
            segment_max_bytes: 64 << 20,
            segment_max_secs: 600,
            shutdown_grace_secs: 10,
            ingest: IngestSettings::default(),
            retention: RetentionSettings::default(),
            cameras: CameraSettings::default(),
            playback: PlaybackSettings::default(),
            web_dir: None,
            hook: HookSettings::default(),
            auth: AuthSettings::default(),
            tls: TlsSettings::default(),
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown keys or wrong types.
    #[error("config {origin}: {message}")]
    Invalid {
        /// Which source was wrong.
        origin: String,
        /// What was wrong.
        message: String,
    },
}

impl Config {
    /// Public URL for GetDataEndpoint: the configured one, or `http(s)://LISTEN`.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("{}://{}", self.scheme(), self.listen),
        }
    }

    /// `https` when the listener speaks TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.enabled() { "https" } else { "http" }
    }

    /// Loads defaults, then `file` (if any), then the `VIDSTREAM_*` variables in `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table = toml::Table::new();
        let mut origin = "defaults".to_owned();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            table = text
                .parse::<toml::Table>()
                .map_err(|e| ConfigError::Invalid {
                    origin: format!("file {}", path.display()),
                    message: e.to_string(),
                })?;
            origin = format!("file {}", path.display());
            // Check the file alone first, so its errors name the file.
            Config::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
                ConfigError::Invalid {
                    origin: origin.clone(),
                    message: e.to_string(),
                }
            })?;
        }
        let defaults =
            toml::Table::try_from(Config::default()).map_err(|e| ConfigError::Invalid {
                origin: "defaults".into(),
                message: e.to_string(),
            })?;
        let mut env_names = Vec::new();
        let mut vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX) && !ENV_NOT_KEYS.contains(&k.as_str()))
            .collect();
        vars.sort();
        for (name, raw) in vars {
            let path: Vec<String> = name[ENV_PREFIX.len()..]
                .split("__")
                .map(|p| p.to_ascii_lowercase())
                .collect();
            // An empty variable for a key without a default (an optional one) leaves it unset:
            // what compose's `${X:-}` passes when X is not given.
            if raw.is_empty() && !has_path(&defaults, &path) {
                continue;
            }
            let value =
                env_value(&defaults, &path, &raw).map_err(|message| ConfigError::Invalid {
                    origin: format!("environment variable {name}"),
                    message,
                })?;
            set_path(&mut table, &path, value).map_err(|message| ConfigError::Invalid {
                origin: format!("environment variable {name}"),
                message,
            })?;
            env_names.push(name);
        }
        if !env_names.is_empty() {
            origin = format!("{origin} with {}", env_names.join(", "));
        }
        let config =
            Config::deserialize(toml::Value::Table(table)).map_err(|e| ConfigError::Invalid {
                origin: origin.clone(),
                message: e.to_string(),
            })?;
        config
            .auth
            .validate()
            .and_then(|()| config.tls.validate())
            .map_err(|message| ConfigError::Invalid { origin, message })?;
        Ok(config)
    }
}

/// Whether `defaults` has a value at `path`.
fn has_path(defaults: &toml::Table, path: &[String]) -> bool {
    let mut table = Some(defaults);
    let mut found = false;
    for p in path {
        let cur = table.and_then(|t| t.get(p));
        found = cur.is_some();
        table = cur.and_then(|v| v.as_table());
    }
    found
}

/// Reads an environment value with the type of the default at `path` (strings stay strings even
/// when they look like numbers, e.g. an account id).
fn env_value(defaults: &toml::Table, path: &[String], raw: &str) -> Result<toml::Value, String> {
    let mut cur: Option<&toml::Value> = None;
    let mut table = Some(defaults);
    for p in path {
        cur = table.and_then(|t| t.get(p));
        table = cur.and_then(|v| v.as_table());
    }
    let bad = |ty: &str| format!("`{raw}` is not a valid {ty}");
    Ok(match cur {
        Some(toml::Value::Integer(_)) => {
            toml::Value::Integer(raw.trim().parse().map_err(|_| bad("integer"))?)
        }
        Some(toml::Value::Float(_)) => {
            toml::Value::Float(raw.trim().parse().map_err(|_| bad("number"))?)
        }
        Some(toml::Value::Boolean(_)) => toml::Value::Boolean(
            raw.trim()
                .parse()
                .map_err(|_| bad("boolean (true/false)"))?,
        ),
        Some(toml::Value::Array(_)) => {
            let t: toml::Table = format!("v = {raw}")
                .parse()
                .map_err(|_| bad("TOML array"))?;
            t.get("v").cloned().ok_or_else(|| bad("TOML array"))?
        }
        // Strings, optional keys without a default, and unknown keys (which deserialization
        // rejects with the list of known keys).
        _ => toml::Value::String(raw.to_owned()),
    })
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Err("empty key".into());
    };
    let mut t = table;
    for p in parents {
        t = t
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("`{p}` is not a table"))?;
    }
    t.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.public_url(), "http://127.0.0.1:8080");
    }

    #[test]
    fn env_overrides_file_and_keeps_string_types() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("v.toml");
        std::fs::write(&f, "listen = \"0.0.0.0:9000\"\naccount_id = \"1\"\n").unwrap();
        let c = Config::load(
            Some(&f),
            env(&[
                ("VIDSTREAM_ACCOUNT_ID", "123456789012"),
                ("VIDSTREAM_MAX_REQUEST_BODY_BYTES", "2048"),
                ("VIDSTREAM_PUBLIC_URL", "http://cams.example:80/"),
                ("VIDSTREAM_LOG", "debug"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.account_id, "123456789012");
        assert_eq!(c.max_request_body_bytes, 2048);
        assert_eq!(c.public_url(), "http://cams.example:80");
    }

    #[test]
    fn unknown_keys_are_rejected_everywhere() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("v.toml");
        std::fs::write(&f, "listn = \"0.0.0.0:9000\"\n").unwrap();
        let e = Config::load(Some(&f), env(&[])).unwrap_err().to_string();
        assert!(e.contains("listn") && e.contains("v.toml"), "{e}");
        // An empty variable leaves an optional key unset (compose's `${X:-}`).
        let c = Config::load(
            None,
            env(&[
                ("VIDSTREAM_AUTH__ROOT_ACCESS_KEY_ID", ""),
                ("VIDSTREAM_AUTH__ROOT_SECRET_ACCESS_KEY", ""),
            ]),
        )
        .unwrap();
        assert_eq!(c.auth.root_access_key_id, None);
        let e = Config::load(None, env(&[("VIDSTREAM_DATADIR", "/x")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("VIDSTREAM_DATADIR"), "{e}");
    }

    #[test]
    fn nested_keys_from_the_environment() {
        let c = Config::load(None, env(&[("VIDSTREAM_INGEST__IDLE_TIMEOUT_SECS", "5")])).unwrap();
        assert_eq!(c.ingest.idle_timeout_secs, 5);
        let e = Config::load(None, env(&[("VIDSTREAM_INGEST__NOPE", "5")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("VIDSTREAM_INGEST__NOPE"), "{e}");
    }

    #[test]
    fn retention_settings_from_file_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("v.toml");
        std::fs::write(&f, "[retention]\ngrace_secs = 5\ntotal_max_bytes = 1000\n").unwrap();
        let c = Config::load(
            Some(&f),
            env(&[("VIDSTREAM_RETENTION__STREAM_MAX_BYTES", "300")]),
        )
        .unwrap();
        assert_eq!(
            c.retention,
            RetentionSettings {
                interval_secs: 60,
                grace_secs: 5,
                stream_max_bytes: 300,
                total_max_bytes: 1000,
            }
        );
        let o = c.retention_options();
        assert_eq!((o.grace_ms, o.stream_max_bytes), (5000, 300));
        assert_eq!(
            o.writer_slack_ms,
            30_000 + 60_000,
            "longest fragment + 60 s"
        );
        let e = Config::load(None, env(&[("VIDSTREAM_RETENTION__MAX_BYTES", "1")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("VIDSTREAM_RETENTION__MAX_BYTES"), "{e}");
    }

    #[test]
    fn bad_values_name_their_source() {
        let e = Config::load(None, env(&[("VIDSTREAM_SHUTDOWN_GRACE_SECS", "soon")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("VIDSTREAM_SHUTDOWN_GRACE_SECS") && e.contains("integer"),
            "{e}"
        );
        let e = Config::load(None, env(&[("VIDSTREAM_LISTEN", "nowhere")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("VIDSTREAM_LISTEN"), "{e}");
    }

    #[test]
    fn egress_lists_from_file_and_environment_are_strict() {
        let d = Config::default();
        let cam = d.cameras.egress_policy();
        assert!(cam.check_ip("c", "192.168.1.20".parse().unwrap()).is_ok());
        assert!(cam.check_ip("c", "127.0.0.1".parse().unwrap()).is_ok());
        assert!(cam.check_ip("c", "8.8.8.8".parse().unwrap()).is_err());
        let hook = d.hook.webhook_policy();
        assert!(hook.check_ip("h", "8.8.8.8".parse().unwrap()).is_ok());
        assert!(hook.check_ip("h", "192.168.1.20".parse().unwrap()).is_err());
        assert!(d.hook.allowed_s3_buckets.is_empty());

        let c = Config::load(
            None,
            env(&[
                (
                    "VIDSTREAM_CAMERAS__ALLOWED_NETWORKS",
                    r#"["192.168.10.0/24", "public"]"#,
                ),
                ("VIDSTREAM_CAMERAS__ALLOWED_PORTS", "[554, 8554]"),
                ("VIDSTREAM_HOOK__WEBHOOK_ALLOWED_HOSTS", r#"["*.lan"]"#),
                ("VIDSTREAM_HOOK__ALLOWED_S3_BUCKETS", r#"["cam-images"]"#),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.cameras.allowed_networks,
            vec!["192.168.10.0/24".parse().unwrap(), egress::Network::Public]
        );
        assert_eq!(c.cameras.allowed_ports, vec![554, 8554]);
        assert_eq!(c.hook.webhook_allowed_hosts, vec!["*.lan".parse().unwrap()]);
        assert_eq!(c.hook.allowed_s3_buckets, vec!["cam-images".to_owned()]);

        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("v.toml");
        for (text, want) in [
            (
                "[cameras]\nallowed_networks = [\"10.0.0.0/33\"]\n",
                "10.0.0.0/33",
            ),
            (
                "[cameras]\nallowed_networks = [\"10.1.2.3/8\"]\n",
                "10.0.0.0/8",
            ),
            (
                "[hook]\nwebhook_allowed_hosts = [\"10.0.0.1\"]\n",
                "allowed_networks",
            ),
            ("[cameras]\nallowed_hosts = [\"a b\"]\n", "not a host name"),
        ] {
            std::fs::write(&f, text).unwrap();
            let e = Config::load(Some(&f), env(&[])).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("v.toml"), "{text}: {e}");
        }
    }

    /// The reference config in docker/ must parse and mention every key.
    #[test]
    fn reference_config_is_complete() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docker/vidstream.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        Config::load(Some(&path), env(&[])).unwrap();
        let table = toml::Table::try_from(Config::default()).unwrap();
        let mut keys: Vec<String> = Vec::new();
        for (k, v) in &table {
            match v.as_table() {
                Some(t) => {
                    assert!(
                        text.contains(&format!("[{k}]")),
                        "docker/vidstream.toml lacks [{k}]"
                    );
                    keys.extend(t.keys().cloned());
                }
                None => keys.push(k.clone()),
            }
        }
        // Optional keys without a default (not serialized).
        keys.extend(
            [
                "public_url",
                "root_access_key_id",
                "root_secret_access_key",
                "master_key",
                "cert_file",
                "key_file",
                "redirect_http_listen",
            ]
            .map(String::from),
        );
        for k in keys {
            assert!(
                text.contains(&format!("{k} =")),
                "docker/vidstream.toml does not document `{k}`"
            );
        }
    }
}
