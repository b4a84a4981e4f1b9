//! The one door to stored and live media: every reader (GetMedia, HLS/DASH, GetClip, GetImages,
//! the frame feed, the frame hook) finds, loads and follows fragments through [`Media`], and
//! none of them pages the index, parses a stored fragment or joins history to the live bus on
//! its own.
//!
//! What lives here:
//! - the media model ([`model`]): tracks with their codec (one codec vocabulary for playback,
//!   the decoder and the feed), samples, the container a segment is packaged in;
//! - finding fragments ([`Media::pages`], [`Media::at`], [`Media::timeline`]) under one tie rule
//!   (below), with the lookback derived from `[ingest] max_fragment_duration_secs`;
//! - loading a fragment ([`Media::load`]: hold, read, tracks, samples, through the [`cache`])
//!   and its video frames ([`Fragment::video`]);
//! - stored fragments as stored ([`raw`]: records by number, the stored Tracks element, the
//!   cluster bytes and frame table) for readers that send stored bytes on;
//! - the history → live hand-over ([`follow`]), written once;
//! - picture sizes from a codec configuration's SPS ([`sps`]), the decoder's guard;
//! - live fragments as samples ([`live_samples`]).
//!
//! What does not: HTTP (the `api` module), containers and playlists (`playback`), decoding
//! (`frames`). Only `store` touches the disk and the index; this module calls it.
//!
//! # The tie rule: which fragment is "the fragment at time T"
//! Fragments are ordered on a timestamp axis (producer or server) by start. The fragment at `T`
//! is the last fragment in that order that starts at or before `T` and lasts past it (or starts
//! exactly at `T`). Fragments that start in the same millisecond:
//! - on the **producer** axis are copies (a producer that reconnects re-sends media with the
//!   timestamps it used before): the one with the **highest fragment number** (the newest) is
//!   kept and the others are skipped, as KVS documents for HLS, DASH and GetClip ("duplicate
//!   producer timestamps are deduplicated"; KVS-API.md). vidstream's own ingest refuses a
//!   producer timestamp at or before the stream's last stored frame, so such copies only come
//!   from data written before that rule or by another writer of the index;
//! - on the **server** axis are a burst that arrived within one millisecond, distinct media:
//!   all are kept in number order, and the fragment at that time is the first of them, so a
//!   GetMedia from `T` reads the burst whole.
//!
//! Every reader here uses this rule: GetMedia's timestamp selectors, GetImages, GetClip, the
//! frame feed, HLS/DASH (tests: `reader::tests`).

pub mod cache;
pub mod follow;
mod live_samples;
mod model;
mod raw;
mod reader;
pub mod sps;

pub use cache::{Fragment, MediaCache};
pub use live_samples::live_samples;
pub use model::{
    Codec, Container, MediaError, MediaTrack, Sample, samples, tracks, tracks_element, video_track,
};
pub use raw::{Raw, Stored};
pub use reader::{Media, Pages, ReadError, dedup_starts, from_time, line, stamp};
