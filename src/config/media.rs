//! `[retention]`, `[playback]` and `[ingest]`: how media is taken in, kept and served.

use serde::{Deserialize, Serialize};

use super::ConfigSecret;

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
    /// Seconds a reader may keep media that retention or a stream deletion wants to delete;
    /// past that the media goes and the reader's response ends early.
    pub reader_hold_timeout_secs: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            interval_secs: 60,
            grace_secs: 30,
            stream_max_bytes: 0,
            total_max_bytes: 0,
            reader_hold_timeout_secs: 15,
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
    /// Largest picture decoded (GetImages, the frame feed, the frame hook), in pixels, width ×
    /// height as the stream's SPS declares them; larger streams are refused before decoding.
    pub decode_max_pixels: u64,
    /// Seconds an idle decoder or encoder is kept for reuse before it is released.
    pub decoder_idle_secs: u64,
    /// Estimated memory of all decoders and encoders (picture size × pictures held); over it
    /// idle ones are released, largest first (bytes).
    pub decoder_memory_bytes: u64,
    /// GetImages: most a request may cost, in output pixels summed over its images, a PNG
    /// pixel counting 8 (PNG encodes that much slower than JPEG).
    pub images_max_request_pixels: u64,
}

impl Default for PlaybackSettings {
    fn default() -> Self {
        let decode = crate::frames::DecodeLimits::default();
        PlaybackSettings {
            session_secret: ConfigSecret::default(),
            clip_max_fragments: 200,
            clip_max_bytes: 100_000_000,
            ll_hls_part_target_ms: 333,
            blocking_request_timeout_ms: 6000,
            cors_allowed_origins: vec!["*".to_owned()],
            media_cache_bytes: 64 << 20,
            decode_max_pixels: decode.max_pixels,
            decoder_idle_secs: decode.idle_timeout.as_secs(),
            decoder_memory_bytes: decode.memory_budget,
            images_max_request_pixels: crate::frames::images::DEFAULT_MAX_REQUEST_COST,
        }
    }
}

impl PlaybackSettings {
    /// The process-wide decode limits these settings describe.
    pub fn decode_limits(&self) -> crate::frames::DecodeLimits {
        crate::frames::DecodeLimits {
            max_pixels: self.decode_max_pixels,
            idle_timeout: std::time::Duration::from_secs(self.decoder_idle_secs),
            memory_budget: self.decoder_memory_bytes,
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
    /// For a stream that stores nothing (retention 0): bytes of its recent fragments kept in
    /// memory for live readers.
    pub live_buffer_bytes: usize,
    /// All streams' live buffers together, bytes at most.
    pub live_buffer_total_bytes: usize,
    /// A stream's kept fragments are dropped this many seconds after its producer left.
    pub live_buffer_linger_secs: u64,
    /// Bytes all PutMedia sessions together hold in memory (partial blocks, fragments being
    /// assembled), about (see `ingest::memory`).
    pub memory_budget_bytes: usize,
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            idle_timeout_secs: 30,
            idle_ack_interval_ms: 3000,
            max_fragment_duration_secs: 30,
            max_fragment_bytes: 50_000_000,
            live_buffer_bytes: 16 << 20,
            live_buffer_total_bytes: 256 << 20,
            live_buffer_linger_secs: 60,
            memory_budget_bytes: 1 << 30,
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
            live_buffer_bytes: self.live_buffer_bytes,
            memory_budget_bytes: self.memory_budget_bytes,
            max_bytes_per_second: defaults.max_bytes_per_second,
            max_fragments_per_second: defaults.max_fragments_per_second,
        }
    }

    /// The live bus's process-wide bounds.
    pub fn live_limits(&self) -> crate::live::LiveLimits {
        crate::live::LiveLimits {
            total_bytes: self.live_buffer_total_bytes,
            linger: std::time::Duration::from_secs(self.live_buffer_linger_secs),
        }
    }
}
