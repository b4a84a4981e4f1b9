//! vidstream: self-hosted video stream ingestion and playback, wire-compatible with Amazon Kinesis
//! Video Streams.
//!
//! # Layout
//! - [`cli`]: the command line, one file per subcommand (`serve`, `check`, `bench`, `push`, `gen`,
//!   `cameras`); `anyhow` lives only here. The bench's synthetic RTSP camera is in `cli::bench`.
//! - [`client`]: a KVS producer client (SigV4, control plane, PutMedia with acks and resends)
//!   behind `vidstream push` and `vidstream gen`; their GStreamer sources in `client::pipeline`.
//! - [`config`]: `vidstream.toml` + `VIDSTREAM_*` environment overrides.
//! - [`auth`]: access control: the access-key store and its lookup cache ([`auth::keys`]), the
//!   root key, the master key and sealing of secrets at rest ([`auth::seal`]).
//! - [`server`]: open the store, bind, serve, drain, close.
//! - [`api`]: HTTP only: each handler parses the wire request once into a typed value, calls one
//!   function of the modules below, renders KVS JSON or media; KVS-shaped errors
//!   ([`api::error`], the one table from error kind to status and `__type`).
//! - [`ingest`]: PutMedia sessions: MKV body → fragmenter → store, typed acks
//!   ([`ingest::Ack`], rendered as JSON by the API).
//! - [`cameras`]: RTSP cameras the server pulls: records, supervisor, per-camera status; the
//!   retina RTSP client and its frame-to-MKV muxer in `cameras::pull`.
//! - [`playback`]: the read side's use cases: HLS/DASH windows and cursors
//!   ([`playback::window`]), segments ([`playback::segment`]), LL-HLS parts
//!   ([`playback::low_latency`]), GetMedia (history, then the live tail), GetClip; and the
//!   pure formats: fMP4/CMAF, MPEG-TS and clip writers, HLS playlists, DASH manifests, MKV
//!   documents, signed session tokens.
//! - [`frames`]: pictures from video: GetImages' picking ([`frames::images`]), the WebSocket
//!   frame feed, the frame hook ([`frames::hook`]: image generation delivered to S3, a directory
//!   or a webhook); decoding in `frames::decode` (the only GStreamer), under one process-wide
//!   decode limit ([`frames::run_pass`]).
//! - [`media`]: the one door to stored and live media: the media model (tracks, one codec
//!   vocabulary, samples), the fragment at a time (one tie rule), paging, loading through the
//!   media cache, the history → live hand-over ([`media::follow`]).
//! - [`live`]: the per-stream live bus: ingest publishes, [`media::follow`] subscribes.
//! - [`store`]: all durable state (data directory lock, index, media, secrets); nothing else
//!   touches the data directory.
//!   - [`store::index`]: trait `Index` + SQLite and PostgreSQL backends + the backends'
//!     conformance suite.
//! - [`mkv`]: sans-IO EBML/Matroska reader and writers.
//! - [`model`]: validated names, ARNs, tags, stream records: the vocabulary of the API.
//! - [`time`]: typed timestamps and an injectable clock.
//! - [`error`]: `ErrorKind`, the small set every module's error maps to.
//! - [`egress`]: the egress guard: where the server may connect for an API caller (camera and
//!   webhook destinations, checked after DNS resolution; SSRF).
//! - [`zerocopy`]: payloads in sealed memfds, sent to sockets with `sendfile`.
//! - [`limits`]: per-stream connection limits (GetMedia, GetMediaForFragmentList readers).
//! - `testbed`: throwaway servers (PostgreSQL, S3) for the test suites and `vidstream bench`.
//!
//! Dependencies point one way: `cli → server → api → {playback, frames, ingest, cameras} →
//! media → {store, live} → {mkv, model} → {time, error}`; nothing below `api` imports it.
//! `cameras` and `frames` check their destinations with [`egress`], which imports only `error`.

// `unsafe` is refused everywhere but in `zerocopy` (the mapping of a sealed memfd).
#![deny(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

pub mod api;
pub mod auth;
pub mod cameras;
pub mod cli;
pub mod client;
pub mod config;
pub mod egress;
pub mod error;
pub mod frames;
pub mod ingest;
pub mod limits;
pub mod live;
pub mod media;
pub mod mkv;
pub mod model;
pub mod playback;
pub mod server;
pub mod store;
#[doc(hidden)]
pub mod testbed;
pub mod time;
pub mod zerocopy;
