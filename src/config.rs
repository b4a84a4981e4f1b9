//! `vidstream.toml`: the server configuration.
//!
//! Sources, lowest precedence first: built-in defaults, the TOML file (`--config`), `VIDSTREAM_*`
//! environment variables, command-line flags. Unknown keys are errors wherever they come from, so
//! a typo never silently falls back to a default.
//!
//! Environment variables name keys in upper case: `VIDSTREAM_LISTEN` sets `listen`, and a key in a
//! table is reached with a double underscore (`VIDSTREAM_SECTION__KEY`). A value is read with the
//! type of the key's default (integers, booleans, strings). `VIDSTREAM_LOG` and
//! `VIDSTREAM_LOG_FORMAT` configure logging before the config is read and are not config keys;
//! nor are `VIDSTREAM_TEST_*`, the test harnesses' switches.
//! `docker/vidstream.toml` documents every key; a test keeps it in sync with this file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod auth;
mod http;
mod limits;
mod media;
mod outbound;
mod store;
mod tls;
pub use auth::{AuthSettings, ConfigSecret};
pub use http::HttpSettings;
pub use limits::LimitSettings;
pub use media::{IngestSettings, PlaybackSettings, RetentionSettings};
pub use outbound::{CameraSettings, HookSettings};
pub use store::{IndexEngine, MediaEngine, S3Settings, StoreSettings};
pub use tls::TlsSettings;

/// Environment variables with this prefix are config keys.
pub const ENV_PREFIX: &str = "VIDSTREAM_";

/// Environment variables with the prefix that are not config keys.
/// (`VIDSTREAM_BIN` is the Python suite's path to the binary under test.)
const ENV_NOT_KEYS: &[&str] = &["VIDSTREAM_LOG", "VIDSTREAM_LOG_FORMAT", "VIDSTREAM_BIN"];

/// Variables under this prefix belong to the test harnesses (`VIDSTREAM_TEST_INDEX`, ...), not to
/// the config, so that servers the tests start inherit them harmlessly.
const ENV_TEST_PREFIX: &str = "VIDSTREAM_TEST_";

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
    /// `[http]`: timeouts and connection caps of the listener.
    pub http: HttpSettings,
    /// `[limits]`: quotas and per-stream limits.
    pub limits: LimitSettings,
    /// `[store]`: the engines holding the index.
    pub store: StoreSettings,
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
            reader_hold_timeout_ms: ms(self.retention.reader_hold_timeout_secs),
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
            http: HttpSettings::default(),
            limits: LimitSettings::default(),
            store: StoreSettings::default(),
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
            .filter(|(k, _)| {
                k.starts_with(ENV_PREFIX)
                    && !k.starts_with(ENV_TEST_PREFIX)
                    && !ENV_NOT_KEYS.contains(&k.as_str())
            })
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
            .and_then(|()| config.http.validate())
            .and_then(|()| config.limits.validate())
            .and_then(|()| config.store.validate())
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
mod tests;
