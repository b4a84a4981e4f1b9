//! `[http]`: what one connection may cost: timeouts and connection caps of the listener.

use serde::{Deserialize, Serialize};

/// `[http]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// A request head (line and headers) must arrive within this many seconds of the server
    /// starting to wait for it; an idle keep-alive connection is closed after as long.
    pub header_read_timeout_secs: u64,
    /// A request body read whole (the JSON of the KVS operations and the API) must arrive
    /// within this many seconds of its head (streaming bodies such as PutMedia have their own
    /// idle timeout, `[ingest] idle_timeout_secs`).
    pub body_read_timeout_secs: u64,
    /// A connection whose response makes no write progress for this many seconds (the client
    /// reads nothing) is closed, freeing its slot (a GetMedia reader's, for one).
    pub write_timeout_secs: u64,
    /// Open connections at most (further ones are closed at once); also at most half the
    /// process's open-file limit, so connections never starve fragment files of descriptors.
    pub max_connections: usize,
    /// Open connections from one client address at most.
    pub max_connections_per_address: usize,
    /// Concurrent HTTP/2 streams per connection.
    pub http2_max_concurrent_streams: u32,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            header_read_timeout_secs: 20,
            body_read_timeout_secs: 30,
            write_timeout_secs: 60,
            max_connections: 10_000,
            max_connections_per_address: 1_000,
            http2_max_concurrent_streams: 128,
        }
    }
}

impl HttpSettings {
    pub(super) fn validate(&self) -> Result<(), String> {
        if !(1..=3600).contains(&self.header_read_timeout_secs) {
            return Err("http.header_read_timeout_secs must be 1 to 3600".into());
        }
        if !(1..=3600).contains(&self.body_read_timeout_secs) {
            return Err("http.body_read_timeout_secs must be 1 to 3600".into());
        }
        if !(1..=3600).contains(&self.write_timeout_secs) {
            return Err("http.write_timeout_secs must be 1 to 3600".into());
        }
        if self.max_connections == 0 || self.max_connections_per_address == 0 {
            return Err(
                "http.max_connections and http.max_connections_per_address must be at least 1"
                    .into(),
            );
        }
        if self.http2_max_concurrent_streams == 0 {
            return Err("http.http2_max_concurrent_streams must be at least 1".into());
        }
        Ok(())
    }
}
