//! `[limits]`: quotas and per-stream limits, KVS's where KVS documents one (see the reference
//! config for each default and KVS's figure).

use serde::{Deserialize, Serialize};

/// `[limits]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Streams at most (KVS: 10,000 per account). CreateStream beyond it:
    /// `AccountStreamLimitExceededException`.
    pub max_streams: usize,
    /// RTSP cameras at most.
    pub max_cameras: usize,
    /// Frame-feed consumers (checkpoints) per stream at most.
    pub max_consumers_per_stream: usize,
    /// Concurrent GetMedia connections per stream (KVS: 3). Beyond it:
    /// `ConnectionLimitExceededException`.
    pub get_media_connections_per_stream: usize,
    /// Concurrent GetMediaForFragmentList connections per stream (KVS: 5).
    pub fragment_list_connections_per_stream: usize,
    /// Bytes per second one PutMedia connection is read at, at most (KVS: 12.5 MB/s); a faster
    /// producer is slowed down (TCP backpressure), not refused.
    pub put_media_bytes_per_second: u64,
    /// Fragments per second one PutMedia connection is taken at, at most (KVS: 5); a faster
    /// producer is slowed down the same way, with one second of burst.
    pub put_media_fragments_per_second: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            max_streams: 10_000,
            max_cameras: 1_000,
            max_consumers_per_stream: 100,
            get_media_connections_per_stream: 10,
            fragment_list_connections_per_stream: 5,
            put_media_bytes_per_second: 12_500_000,
            put_media_fragments_per_second: 5,
        }
    }
}

impl LimitSettings {
    pub(super) fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("max_streams", self.max_streams),
            ("max_cameras", self.max_cameras),
            ("max_consumers_per_stream", self.max_consumers_per_stream),
            (
                "get_media_connections_per_stream",
                self.get_media_connections_per_stream,
            ),
            (
                "fragment_list_connections_per_stream",
                self.fragment_list_connections_per_stream,
            ),
        ] {
            if v == 0 {
                return Err(format!("limits.{name} must be at least 1"));
            }
        }
        if self.put_media_fragments_per_second == 0 {
            return Err("limits.put_media_fragments_per_second must be at least 1".into());
        }
        if self.put_media_bytes_per_second < 100_000 {
            return Err("limits.put_media_bytes_per_second must be at least 100000".into());
        }
        Ok(())
    }
}
