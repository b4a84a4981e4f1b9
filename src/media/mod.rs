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
//! - live fragments as samples ([`live_samples`]).
//!
//! What does not: HTTP (the `api` module), containers and playlists (`playback`), decoding
//! (`frames`). Only `store` touches the disk and the index; this module calls it.
//!
//! # The tie rule: which fragment is "the fragment at time T"
//! Fragments are ordered on a timestamp axis (producer or server) by `(start, fragment number)`.
//! The fragment at `T` is the last fragment in that order that starts at or before `T` and
//! lasts past it (or starts exactly at `T`). When several fragments start at the same
//! millisecond, the one with the **highest fragment number** (the newest) wins: this is what
//! KVS documents for HLS, DASH and GetClip ("duplicate start timestamps keep the highest
//! fragment number"; a producer that reconnects re-sends fragments with the timestamps it sent
//! before), and every reader here uses it, GetMedia's timestamp selectors included (tested with
//! overlapping fragments in `tests`).

pub mod cache;
pub mod follow;
mod live_samples;
mod model;
mod raw;
mod reader;

pub use cache::{Fragment, MediaCache};
pub use live_samples::live_samples;
pub use model::{
    Codec, Container, MediaError, MediaTrack, Sample, samples, tracks, tracks_element, video_track,
};
pub use raw::{Raw, Stored};
pub use reader::{Media, Pages, ReadError, from_time, line, stamp};
