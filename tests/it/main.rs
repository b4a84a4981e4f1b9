//! The integration tests: one crate (one binary to link against vidstream and GStreamer), one
//! module per area. Shared helpers live in `common` (a server on loopback, MKV bodies, ffprobe and
//! framecode checks, the browser harness, RTSP cameras).
//!
//! Run one area with `cargo test --test it get_media::`, one test with its full path.

mod common;

mod api_bad_input;
mod api_control;
mod api_restart;
mod audit;
mod auth;
mod bench_smoke;
mod browser_harness;
mod camera_cycles;
mod camera_message_cap;
mod cameras;
mod clip;
mod dash_manifest;
mod egress;
mod faults;
mod frame_feed;
mod get_media;
mod http_limits;
mod image_hook;
mod images;
mod ingest_crash;
mod ingest_fixtures;
mod ingest_put_media;
mod limits;
mod media_cache;
mod push;
mod retention;
mod streaming;
mod tiering;
mod tls;
mod ui_login;
mod web_ui;
