//! vidstream: self-hosted video stream ingestion and playback, wire-compatible with Amazon Kinesis
//! Video Streams.
//!
//! # Layout
//! - [`cli`]: the command line, one file per subcommand (`serve`, `check`, `bench`, `push`, `gen`,
//!   `cameras`); `anyhow` lives only here. The bench's synthetic RTSP camera is in `cli::bench`.
//! - [`client`]: a KVS producer client (SigV4, control plane, PutMedia with acks and resends)
//!   behind `vidstream push` and `vidstream gen`; their GStreamer sources in `client::pipeline`.
//! - [`config`]: `vidstream.toml` + `VIDSTREAM_*` environment overrides.
//! - [`server`]: open the store, bind, serve, drain, close.
//! - [`api`]: axum router; KVS JSON in and out, KVS-shaped errors.
//! - [`ingest`]: PutMedia sessions: MKV body → fragmenter → store, streamed acks.
//! - [`cameras`]: RTSP cameras the server pulls: records, supervisor, per-camera status; the
//!   retina RTSP client and its frame-to-MKV muxer in `cameras::pull`.
//! - [`live`]: the per-stream live bus: ingest publishes, live readers subscribe.
//! - [`frames`]: still images from stored video (GetImages): decode a GOP, encode JPEG/PNG;
//!   GStreamer stays in `frames::decode`. [`frames::hook`]: image generation as media arrives,
//!   delivered to S3, a directory or a webhook (destinations outside the data directory).
//! - [`playback`]: the read side, pure where possible: MKV documents and GetMedia (history, then
//!   the live tail); the media model over stored fragments; fMP4/CMAF, MPEG-TS and clip writers;
//!   HLS playlists (with LL-HLS), DASH manifests and signed session tokens. The HTTP side of HLS,
//!   DASH and GetClip is in `api` (`hls`, `dash`, `sessions`, `segments`, `low_latency`, `clip`).
//! - [`store`]: all durable state (data directory lock, index, media); nothing else touches disk.
//!   - [`store::index`]: trait `Index` + SQLite backend + the backends' conformance suite.
//! - [`mkv`]: sans-IO EBML/Matroska reader and writers.
//! - [`model`]: validated names, ARNs, tags, stream records: the vocabulary of the API.
//! - [`time`]: typed timestamps and an injectable clock.
//! - [`error`]: `ErrorKind`, the small set every module's error maps to.
//! - [`zerocopy`]: payloads in sealed memfds, sent to sockets with `sendfile`.
//!
//! Dependencies point one way: `cli → server → api → store → model → {time, error}`.

// `unsafe` is refused everywhere but in `zerocopy` (the mapping of a sealed memfd).
#![deny(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

pub mod api;
pub mod cameras;
pub mod cli;
pub mod client;
pub mod config;
pub mod error;
pub mod frames;
pub mod ingest;
pub mod live;
pub mod media;
pub mod mkv;
pub mod model;
pub mod playback;
pub mod server;
pub mod store;
pub mod time;
pub mod zerocopy;
