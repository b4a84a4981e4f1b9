//! Ingest: producers' media into fragments.
//!
//! A PutMedia body flows `bytes → mkv::Reader → Fragmenter → store writer`, with acks streamed
//! back as each step completes (BUFFERING at a fragment's first byte, RECEIVED when it is
//! sealed, PERSISTED once it is fsynced and indexed). One session per stream at a time: a new
//! PutMedia for a stream takes over from the old one, as KVS does ("the last connection is
//! accepted"), so a producer that reconnects after a network failure is never locked out by its
//! own half-dead connection. The old session drops its incomplete fragment, finishes persisting
//! the complete ones, and ends; only then does the new one start.

pub mod error;
pub mod fragmenter;
pub mod memory;
mod put_media;
mod sessions;

use std::sync::Arc;
use std::time::Duration;

pub use put_media::{Ack, BodyStream, PutMediaRequest};

use crate::live::LiveBus;
use crate::store::Store;
use fragmenter::FragmentLimits;

/// Ingest settings.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Per-fragment limits.
    pub limits: FragmentLimits,
    /// MKV reader limits.
    pub mkv_limits: crate::mkv::Limits,
    /// An IDLE ack goes out after this long without data.
    pub idle_ack_interval: Duration,
    /// A session without data for this long is closed (KVS: 30 s).
    pub idle_timeout: Duration,
    /// For streams that persist nothing: bytes of recent fragments the live bus keeps for
    /// readers (KVS keeps a short in-memory buffer).
    pub live_buffer_bytes: usize,
    /// Bytes all sessions together hold in memory (partial blocks, fragments being
    /// assembled), about; see [`memory`].
    pub memory_budget_bytes: usize,
    /// A session's body is read at this many bytes per second at most (one second of burst);
    /// faster producers are slowed by TCP backpressure.
    pub max_bytes_per_second: u64,
    /// And at this many fragments per second at most (one second of burst).
    pub max_fragments_per_second: u32,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            limits: FragmentLimits::default(),
            mkv_limits: crate::mkv::Limits {
                // Tag limits are the fragmenter's (they map to error 4009, not 4006).
                max_tag_name_bytes: 4096,
                max_tag_value_bytes: 4096,
                ..crate::mkv::Limits::default()
            },
            idle_ack_interval: Duration::from_secs(3),
            idle_timeout: Duration::from_secs(30),
            live_buffer_bytes: 16 << 20,
            memory_budget_bytes: 1 << 30,
            max_bytes_per_second: 12_500_000,
            max_fragments_per_second: 5,
        }
    }
}

/// The ingest service shared by the API handlers.
#[derive(Clone)]
pub struct Ingest {
    store: Store,
    bus: Arc<LiveBus>,
    config: Arc<IngestConfig>,
    sessions: Arc<sessions::Sessions>,
    memory: Arc<memory::IngestMemory>,
}

impl Ingest {
    /// An ingest service writing to `store` and publishing to `bus`.
    pub fn new(store: Store, bus: Arc<LiveBus>, config: IngestConfig) -> Self {
        Ingest {
            store,
            bus,
            memory: memory::IngestMemory::new(config.memory_budget_bytes),
            config: Arc::new(config),
            sessions: Arc::new(sessions::Sessions::default()),
        }
    }

    /// How long a PutMedia may go without data.
    pub fn idle_timeout(&self) -> Duration {
        self.config.idle_timeout
    }
}
