//! The read side: turning stored fragments into what readers asked for. Pure where possible:
//! the functions here build bytes from index records and stored byte ranges; the API layer
//! does the I/O.

pub mod dash;
pub mod error;
pub mod fmp4;
pub mod get_media;
pub mod hls;
pub mod low_latency;
pub mod mkv_doc;
pub mod segment;
pub mod session;
pub mod ts;
pub mod window;
