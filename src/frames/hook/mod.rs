//! The frame hook: per-stream image generation (KVS `UpdateImageGenerationConfiguration`) that
//! turns video into still pictures *as it arrives* and hands them to a destination: an S3
//! bucket, a directory or a webhook ([`dest`]). The WebSocket frame feed serves live
//! subscribers; this module does not.
//!
//! # Shape
//! One worker per stream whose configuration is `ENABLED`, started by [`Hooks::apply`] (the
//! API, on update) and [`Hooks::start`] (the server, for the configurations in the index):
//! ```text
//!  live bus ──Persisted──► picker ──► DeliveryQueue (bounded, drops oldest) ──► sender ──► destination
//!                            │  reads the fragment from the store, decodes the sampled
//!                            └─ frames on a blocking thread (frames::shared pool)
//! ```
//! - **Off the ingest path.** The picker only *listens* to the live bus (whose publishing
//!   never waits for subscribers) and reads persisted fragments back from the store, the way
//!   every reader does, so ingest never waits for it. A lagging subscription just means more
//!   persisted fragments to read next time.
//! - **Which pictures**: the multiples of `SamplingInterval` on the selected timestamp axis, each
//!   the frame shown at that time ([`select`], the same rule as GetImages), from fragments
//!   persisted after the worker started (no backfill of older media). Each sample time gets at
//!   most one picture: times at or before the latest one pictured are skipped, so fragments
//!   whose ranges overlap (on the server axis, media sent faster than real time) give no
//!   duplicates; the first fragment to cover a time names it, where GetImages, which sees
//!   the whole range, takes the last.
//! - **Bounded memory under a slow destination**: the picker pushes into a
//!   [`queue::DeliveryQueue`] of `[hook] queue_capacity` pictures that drops the oldest when
//!   full; one sender task per stream delivers one picture at a time. Counters (generated,
//!   delivered, dropped, failed, media errors, queued, last error) are kept per stream in
//!   memory from the last update and shown by DescribeImageGenerationConfiguration.
//! - **Bounded CPU**: decode passes of all hooks share `[hook] decode_threads` permits.
//!
//! The configuration is validated here ([`ImageGenerationConfig::from_kvs`]) and stored as its
//! KVS JSON in the index, so the store stays ignorant of frames.

pub mod dest;
pub mod queue;
pub mod select;
pub mod webhook;
mod worker;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{ImageFormat, OutputSpec};
use crate::media::Media;
use crate::media::follow::{Follow, Mode, Start};
use crate::model::{StreamId, StreamRecord};
use crate::store::Store;
use crate::store::index::TimestampKind;

pub use queue::StatsSnapshot;

/// Smallest `SamplingInterval`, ms (KVS).
pub const MIN_INTERVAL_MS: i64 = 200;
/// Largest `SamplingInterval`, ms (KVS).
pub const MAX_INTERVAL_MS: i64 = 20_000;

/// A validated image generation configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageGenerationConfig {
    /// `Status` is `ENABLED`.
    pub enabled: bool,
    /// `ImageSelectorType`.
    pub selector: TimestampKind,
    /// `DestinationConfig.Uri`.
    pub uri: String,
    /// `DestinationConfig.DestinationRegion` (the S3 client's region).
    pub region: String,
    /// `SamplingInterval`, ms.
    pub interval_ms: i64,
    /// `Format`, `FormatConfig`, `WidthPixels`, `HeightPixels`.
    pub spec: OutputSpec,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Wire {
    status: Option<String>,
    image_selector_type: Option<String>,
    destination_config: Option<WireDestination>,
    sampling_interval: Option<i64>,
    format: Option<String>,
    format_config: Option<BTreeMap<String, String>>,
    width_pixels: Option<i64>,
    height_pixels: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireDestination {
    uri: Option<String>,
    destination_region: Option<String>,
}

fn in_range(field: &str, v: i64, min: i64, max: i64) -> Result<i64, String> {
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{field} must be between {min} and {max}, got {v}"))
    }
}

impl ImageGenerationConfig {
    /// Validates a KVS `ImageGenerationConfiguration` object; the error is the message of an
    /// `InvalidArgumentException`. The destination URI is checked by the caller
    /// ([`Hooks::check_destination`]) because what it may be depends on the server's settings.
    pub fn from_kvs(v: &Value) -> Result<ImageGenerationConfig, String> {
        let w: Wire = serde_json::from_value(v.clone())
            .map_err(|e| format!("ImageGenerationConfiguration is malformed: {e}"))?;
        let enabled = match w.status.as_deref() {
            Some("ENABLED") => true,
            Some("DISABLED") => false,
            Some(s) => return Err(format!("Status `{s}` is invalid: use ENABLED or DISABLED")),
            None => return Err("ImageGenerationConfiguration Status is required".into()),
        };
        let selector = match w.image_selector_type.as_deref() {
            Some("PRODUCER_TIMESTAMP") => TimestampKind::Producer,
            Some("SERVER_TIMESTAMP") => TimestampKind::Server,
            Some(t) => {
                return Err(format!(
                    "ImageSelectorType `{t}` is invalid: use PRODUCER_TIMESTAMP or SERVER_TIMESTAMP"
                ));
            }
            None => return Err("ImageSelectorType is required".into()),
        };
        let d = w
            .destination_config
            .ok_or("DestinationConfig is required: {Uri, DestinationRegion}")?;
        let uri = d.uri.ok_or("DestinationConfig Uri is required")?;
        if uri.is_empty() || uri.len() > 255 {
            return Err("DestinationConfig Uri must be 1 to 255 characters".into());
        }
        let region = d
            .destination_region
            .ok_or("DestinationConfig DestinationRegion is required")?;
        let region_ok = (9..=14).contains(&region.len())
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && region.bytes().last().is_some_and(|b| b.is_ascii_digit());
        if !region_ok {
            return Err(format!(
                "DestinationRegion `{region}` is invalid: give a region such as us-east-1"
            ));
        }
        let interval_ms = in_range(
            "SamplingInterval",
            w.sampling_interval.ok_or("SamplingInterval is required")?,
            MIN_INTERVAL_MS,
            MAX_INTERVAL_MS,
        )?;
        let quality = super::jpeg_quality(w.format_config.as_ref())?;
        let format = match w.format.as_deref() {
            Some("JPEG") => ImageFormat::Jpeg { quality },
            Some("PNG") => ImageFormat::Png,
            Some(f) => return Err(format!("Format `{f}` is invalid: use JPEG or PNG")),
            None => return Err("Format is required: JPEG or PNG".into()),
        };
        let dim = |field: &str, v: Option<i64>, max: i64| -> Result<Option<u32>, String> {
            v.map(|v| in_range(field, v, 1, max).map(|v| v as u32))
                .transpose()
        };
        Ok(ImageGenerationConfig {
            enabled,
            selector,
            uri,
            region,
            interval_ms,
            spec: OutputSpec {
                format,
                width: dim("WidthPixels", w.width_pixels, 3840)?,
                height: dim("HeightPixels", w.height_pixels, 2160)?,
            },
        })
    }

    /// The KVS JSON form (what Describe returns and the index keeps).
    pub fn to_kvs(&self) -> Value {
        let mut v = json!({
            "Status": if self.enabled { "ENABLED" } else { "DISABLED" },
            "ImageSelectorType": selector_name(self.selector),
            "DestinationConfig": {"Uri": self.uri, "DestinationRegion": self.region},
            "SamplingInterval": self.interval_ms,
            "Format": format_name(&self.spec.format),
        });
        if let ImageFormat::Jpeg { quality } = self.spec.format {
            v["FormatConfig"] = json!({"JPEGQuality": quality.to_string()});
        }
        if let Some(w) = self.spec.width {
            v["WidthPixels"] = json!(w);
        }
        if let Some(h) = self.spec.height {
            v["HeightPixels"] = json!(h);
        }
        v
    }
}

fn selector_name(k: TimestampKind) -> &'static str {
    match k {
        TimestampKind::Producer => "PRODUCER_TIMESTAMP",
        TimestampKind::Server => "SERVER_TIMESTAMP",
    }
}

fn format_name(f: &ImageFormat) -> &'static str {
    match f {
        ImageFormat::Jpeg { .. } => "JPEG",
        ImageFormat::Png => "PNG",
        ImageFormat::Rgb24 => "RGB24",
    }
}

/// The `[hook]` settings the hook runs with (see `config::HookSettings`).
#[derive(Debug, Clone)]
pub struct HookOptions {
    /// Pictures queued per stream before the oldest is dropped.
    pub queue_capacity: usize,
    /// Decode passes of all hooks at once.
    pub decode_threads: usize,
    /// `file://` destinations must be under this directory; None = they are refused.
    pub file_root: Option<PathBuf>,
    /// S3 endpoint URL; None = AWS's.
    pub s3_endpoint: Option<String>,
    /// Path-style S3 addressing (most S3-compatible servers need it).
    pub s3_force_path_style: bool,
    /// S3 access key id.
    pub s3_access_key_id: String,
    /// S3 secret access key.
    pub s3_secret_access_key: String,
    /// Tries per picture for webhooks.
    pub webhook_attempts: u32,
    /// First wait between webhook tries (doubles).
    pub webhook_backoff: Duration,
    /// Where webhooks may go (`[hook] webhook_allowed_*`; see [`webhook`]).
    pub webhook_egress: Arc<crate::egress::Policy>,
    /// Buckets `s3://` destinations may name (`[hook] allowed_s3_buckets`; empty: none).
    pub allowed_s3_buckets: Vec<String>,
    /// The webhook client (its timeout is `[hook] webhook_timeout_ms`; names are resolved under
    /// `webhook_egress`; see [`webhook::client`]).
    pub http: reqwest::Client,
}

impl HookOptions {
    /// Options with small defaults, no file root and the default egress rules (public
    /// webhooks, no S3 bucket), for unit tests.
    #[doc(hidden)]
    pub fn for_tests() -> HookOptions {
        let settings = crate::config::HookSettings {
            queue_capacity: 4,
            webhook_attempts: 1,
            webhook_backoff_ms: 10,
            ..Default::default()
        };
        settings
            .to_options()
            .expect("the default webhook client builds")
    }
}

/// One stream's running hook; dropping it stops its tasks.
struct Running {
    stats: Arc<queue::Stats>,
    queue: Arc<queue::DeliveryQueue>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

struct Inner {
    store: Store,
    media: Media,
    opts: HookOptions,
    decode: Arc<tokio::sync::Semaphore>,
    running: Mutex<HashMap<StreamId, Running>>,
}

/// Every stream's hook. Cheap to clone.
#[derive(Clone)]
pub struct Hooks {
    inner: Arc<Inner>,
}

impl Hooks {
    /// No hook running yet; see [`Hooks::start`].
    pub fn new(media: Media, opts: HookOptions) -> Hooks {
        let decode = Arc::new(tokio::sync::Semaphore::new(opts.decode_threads.max(1)));
        Hooks {
            inner: Arc::new(Inner {
                store: media.store().clone(),
                media,
                opts,
                decode,
                running: Mutex::default(),
            }),
        }
    }

    /// Checks a destination URI against this server's settings, a webhook's host name by what
    /// it resolves to now (each connection checks again); the error is the message of an
    /// `InvalidArgumentException`.
    pub async fn check_destination(&self, uri: &str) -> Result<(), String> {
        match dest::parse_uri(uri, &self.inner.opts)? {
            dest::Target::Http(url) => {
                let parsed = reqwest::Url::parse(&url).map_err(|e| e.to_string())?;
                webhook::check_url(&self.inner.opts.webhook_egress, &parsed)
                    .await
                    .map_err(|e| format!("DestinationConfig Uri `{uri}`: {e}"))
            }
            _ => Ok(()),
        }
    }

    /// Starts the hooks of every enabled configuration in the index (server start). A
    /// configuration that no longer parses is logged and skipped.
    pub async fn start(&self) -> Result<(), crate::store::StoreError> {
        for (stream, row) in self.inner.store.list_image_generation().await? {
            let parsed = serde_json::from_str::<Value>(&row.config)
                .map_err(|e| e.to_string())
                .and_then(|v| ImageGenerationConfig::from_kvs(&v));
            let config = match parsed {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(stream = %stream.name, error = %e, "hook: stored configuration is invalid; not started");
                    continue;
                }
            };
            self.apply(&stream, Some(&config)).await;
        }
        Ok(())
    }

    /// Replaces the stream's hook with one running `config` (None or DISABLED: none). Counters
    /// start again from zero. Fragments persisted after this returns get pictures.
    pub async fn apply(&self, stream: &StreamRecord, config: Option<&ImageGenerationConfig>) {
        {
            let mut running = self.lock();
            running.remove(&stream.id);
            // Forget hooks that ended on their own (their stream was deleted).
            running.retain(|_, r| !r.tasks.iter().all(|t| t.is_finished()));
        }
        let Some(config) = config.filter(|c| c.enabled) else {
            return;
        };
        let target = match dest::parse_uri(&config.uri, &self.inner.opts) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(stream = %stream.name, error = %e, "hook: destination refused; not started");
                return;
            }
        };
        // Where to start: after the last fragment stored now. The follower then subscribes and
        // reads the store after it, so a fragment persisted in between is not missed.
        let after = match self.inner.store.last_fragment(stream.id).await {
            Ok(f) => f.map(|f| f.number.seq),
            Err(e) => {
                tracing::error!(stream = %stream.name, error = %e, "hook: cannot read the stream; not started");
                return;
            }
        };
        let destination = match dest::Destination::new(target, &config.region, &self.inner.opts) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(stream = %stream.name, error = %e, "hook: destination unusable; not started");
                return;
            }
        };
        let stats = Arc::new(queue::Stats::default());
        let queue = Arc::new(queue::DeliveryQueue::new(self.inner.opts.queue_capacity));
        let start = after.map_or(Start::AtSeq(i64::MIN), Start::AfterSeq);
        let w = worker::Worker {
            media: self.inner.media.clone(),
            follow: Follow::new(self.inner.media.clone(), stream.id, start, Mode::Persisted),
            decode: Arc::clone(&self.inner.decode),
            stream: stream.id,
            name: stream.name.to_string(),
            config: config.clone(),
            stats: Arc::clone(&stats),
            queue: Arc::clone(&queue),
            last_sample: std::sync::atomic::AtomicI64::new(i64::MIN),
        };
        let span = tracing::info_span!("hook", stream = %stream.name);
        let tasks = vec![
            tokio::spawn(tracing::Instrument::instrument(w.run(), span.clone())),
            tokio::spawn(tracing::Instrument::instrument(
                worker::send(destination, Arc::clone(&queue), Arc::clone(&stats)),
                span,
            )),
        ];
        tracing::info!(stream = %stream.name, uri = %config.uri, "hook started");
        self.lock().insert(
            stream.id,
            Running {
                stats,
                queue,
                tasks,
            },
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<StreamId, Running>> {
        self.inner.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The stream's counters, if its hook runs.
    pub fn stats(&self, stream: StreamId) -> Option<StatsSnapshot> {
        self.lock()
            .get(&stream)
            .map(|r| r.stats.snapshot(r.queue.len()))
    }

    /// Stops every hook (server shutdown). Pictures still queued are not delivered.
    pub fn stop(&self) {
        self.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        json!({
            "Status": "ENABLED",
            "ImageSelectorType": "PRODUCER_TIMESTAMP",
            "DestinationConfig": {"Uri": "s3://bucket/prefix", "DestinationRegion": "us-east-1"},
            "SamplingInterval": 1000,
            "Format": "JPEG",
        })
    }

    #[test]
    fn valid_configuration_round_trips() {
        let c = ImageGenerationConfig::from_kvs(&base()).unwrap();
        assert!(c.enabled);
        assert_eq!(c.spec.format, ImageFormat::Jpeg { quality: 80 });
        let mut v = base();
        v["Format"] = json!("PNG");
        v["WidthPixels"] = json!(160);
        v["Status"] = json!("DISABLED");
        v["ImageSelectorType"] = json!("SERVER_TIMESTAMP");
        let c = ImageGenerationConfig::from_kvs(&v).unwrap();
        assert_eq!(ImageGenerationConfig::from_kvs(&c.to_kvs()).unwrap(), c);
        assert_eq!(c.to_kvs(), v);
    }

    #[test]
    fn invalid_configurations_say_why() {
        let cases: &[(&str, Value, &str)] = &[
            ("Status", json!("ON"), "Status"),
            ("ImageSelectorType", json!("NOW"), "ImageSelectorType"),
            ("SamplingInterval", json!(199), "SamplingInterval"),
            ("SamplingInterval", json!(20_001), "SamplingInterval"),
            ("SamplingInterval", json!("1000"), "malformed"),
            ("Format", json!("GIF"), "Format"),
            ("FormatConfig", json!({"JPEGQuality": "0"}), "JPEGQuality"),
            ("FormatConfig", json!({"Quality": "5"}), "FormatConfig"),
            ("WidthPixels", json!(3841), "WidthPixels"),
            ("HeightPixels", json!(0), "HeightPixels"),
            (
                "DestinationConfig",
                json!({"Uri": "s3://b/p", "DestinationRegion": "moon"}),
                "DestinationRegion",
            ),
            ("DestinationConfig", json!({"Uri": ""}), "Uri"),
        ];
        for (field, value, want) in cases {
            let mut v = base();
            v[*field] = value.clone();
            let e = ImageGenerationConfig::from_kvs(&v).unwrap_err();
            assert!(e.contains(want), "{field}={value}: {e}");
        }
        for field in [
            "Status",
            "ImageSelectorType",
            "DestinationConfig",
            "SamplingInterval",
            "Format",
        ] {
            let mut v = base();
            v.as_object_mut().unwrap().remove(field);
            let e = ImageGenerationConfig::from_kvs(&v).unwrap_err();
            assert!(e.contains(field), "{field}: {e}");
        }
    }
}
