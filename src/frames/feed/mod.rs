//! The frame feed's use case (a vidstream extension, not part of KVS): decoded pictures of a
//! stream pushed to an ML consumer as they arrive, from a start point in the past or now, with
//! consumer checkpoints (the Kinesis Client Library's idea) so a consumer that reconnects
//! resumes exactly after the last frame it processed.
//!
//! The wire (the WebSocket at `GET /v1/frames/feed`, its query parameters, the JSON and binary
//! messages, close codes) is `api::feed`, whose module doc is the protocol description; the REST
//! checkpoint API is `api::consumers`. This module is what they call, written against no
//! transport:
//! - [`FeedRequest`]: a validated subscription (interval, output, start, end, consumer);
//! - [`Feed::open`]: the start planning (the stream has video, the start point, a range that can
//!   have media), before any connection is accepted;
//! - [`Session::run`]: what to send, as typed [`FeedMessage`]s into an [`Outbox`];
//!   [`Client::receive`]: what the client sent, as typed [`ClientMessage`]s (checkpoint commits);
//! - [`sampler`]: which frames;
//! - [`lag`]: how far each consumer is behind live (for the REST listing).
//!
//! # Sampling
//! The feed sends the first frame at or after each multiple of the sampling interval on the
//! producer-timestamp axis ([`sampler`]), from `Start` (now, the earliest stored frame, a
//! producer timestamp, or right after the consumer's checkpoint), and ends after the last frame
//! at or before `End`.
//!
//! # Back-pressure
//! Sending awaits the client ([`Outbox::send`] returns once the transport has handed the message
//! to the connection). History (anything already stored when the feed reaches it) is read at the
//! client's pace: nothing is dropped. Live frames are decoded as they arrive; if the client is
//! slower than the sampling rate, samples that became due while the previous one was being
//! decoded or sent are skipped — only the newest goes out — and the next frame message says how
//! many were skipped in `dropped`. A feed that falls more than the live bus's buffer behind
//! resumes from the store (skipped samples of that stretch also count as dropped). A consumer
//! that must see every sample reconnects with `Start=CHECKPOINT`, which replays from the store
//! without drops.
//!
//! Why a trait and not a channel: a bounded `mpsc` of capacity 1 between the session and a task
//! writing the socket would *not* behave like awaiting the socket. The writer takes a message
//! out of the channel and then waits on the socket, so the session could put one more message
//! in and decode a third before it blocks: up to two frames ahead of the client instead of none,
//! and a live sample chosen that much earlier (staler when it goes out, fewer drops counted).
//! [`Outbox::send`] awaiting the socket write itself keeps exactly the behaviour the feed has
//! always had; the session owns no socket and knows no JSON all the same.

mod lag;
pub mod sampler;
mod session;

pub use lag::{ConsumerLag, MAX_LAG_FRAGMENTS, consumer_lags};
pub use sampler::Sampler;
pub use session::{Client, ClientMessage, FeedMessage, FrameMeta, Gone, Outbox, Outcome, Session};

use super::OutputSpec;
use crate::error::ErrorKind;
use crate::media::{self, Media, ReadError};
use crate::model::{StreamId, StreamRecord};
use crate::store::fragment::FragmentNumber;
use crate::store::index::{Checkpoint, TimestampKind};
use crate::store::{Store, StoreError};

/// Where a feed starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The next frame to arrive.
    Now,
    /// The earliest stored frame.
    Earliest,
    /// The first frame at or after this producer timestamp, epoch ms.
    At(i64),
    /// Right after the consumer's checkpoint.
    Checkpoint,
}

/// A validated subscription (the API builds it from the query string).
#[derive(Debug, Clone)]
pub struct FeedRequest {
    /// Sampling interval, ms (at least 1).
    pub interval: i64,
    /// What the pictures look like.
    pub spec: OutputSpec,
    /// Where the feed starts.
    pub start: Start,
    /// The feed ends after the last frame at or before this producer timestamp, epoch ms.
    pub end: Option<i64>,
    /// The name checkpoints are committed under (see [`consumer_name`]); required by
    /// [`Start::Checkpoint`].
    pub consumer: Option<String>,
}

/// Why a feed cannot start, or a checkpoint cannot be committed.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// A consumer name outside `[a-zA-Z0-9_.-]{1,256}` (its first 64 characters).
    #[error("Consumer `{0}` is invalid: use 1 to 256 of a-z, A-Z, 0-9, `_`, `.`, `-`")]
    BadConsumer(String),
    /// `Start=CHECKPOINT` for a consumer without a checkpoint.
    #[error(
        "consumer `{consumer}` has no checkpoint on stream `{stream}`; start with NOW, EARLIEST or a timestamp and commit one"
    )]
    NoCheckpoint {
        /// The consumer.
        consumer: String,
        /// The stream's name.
        stream: String,
    },
    /// `[start, end]` is in the past and holds no stored media: nothing would ever be sent.
    #[error(
        "stream `{stream}` has no media between {start} and {end} (producer epoch ms); pick a range ListFragments shows"
    )]
    NoMediaInRange {
        /// The stream's name.
        stream: String,
        /// Range start, producer epoch ms.
        start: i64,
        /// Range end, producer epoch ms.
        end: i64,
    },
    /// The stream's latest media has no H.264/H.265 video track.
    #[error(
        "stream `{0}` carries no H.264 or H.265 video track; the frame feed decodes video only"
    )]
    NoVideo(String),
    /// A checkpoint sent on a feed opened without `Consumer`.
    #[error("this feed has no Consumer: connect with Consumer=<name> to commit checkpoints")]
    NoConsumer,
    /// A checkpoint naming a fragment number of another stream, or no fragment number (its
    /// first 64 characters).
    #[error("fragment_number `{0}` is not a fragment of this stream")]
    ForeignFragment(String),
    /// A client message the transport could not read (its explanation).
    #[error("{0}")]
    Unreadable(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stored media could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
}

impl FeedError {
    /// The error's kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            FeedError::BadConsumer(_)
            | FeedError::NoConsumer
            | FeedError::ForeignFragment(_)
            | FeedError::Unreadable(_) => ErrorKind::InvalidArgument,
            FeedError::NoCheckpoint { .. } | FeedError::NoMediaInRange { .. } => {
                ErrorKind::ResourceNotFound
            }
            FeedError::NoVideo(_) => ErrorKind::UnsupportedStreamMediaType,
            FeedError::Store(e) => e.kind(),
            FeedError::Read(e) => e.kind(),
        }
    }
}

/// A consumer name: `[a-zA-Z0-9_.-]{1,256}`.
pub fn consumer_name(v: &str) -> Result<String, FeedError> {
    if v.is_empty()
        || v.len() > 256
        || !v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return Err(FeedError::BadConsumer(v.chars().take(64).collect()));
    }
    Ok(v.to_owned())
}

/// Commits `consumer`'s checkpoint on `stream`: the frame at `producer_ms` in fragment `number`
/// was processed. The feed's checkpoint messages and the REST API both commit through here.
pub async fn commit(
    store: &Store,
    stream: StreamId,
    consumer: String,
    number: FragmentNumber,
    producer_ms: i64,
) -> Result<(), StoreError> {
    store
        .put_checkpoint(Checkpoint {
            stream,
            consumer,
            seq: number.seq,
            producer_ms,
            updated_ms: store.now().millis(),
        })
        .await
}

/// A feed ready to run: plan it with [`Feed::open`], then run [`Feed::session`] and hand what
/// the client sends to [`Feed::client`], concurrently.
pub struct Feed {
    /// What to send.
    pub session: Session,
    /// What the client sent.
    pub client: Client,
}

impl Feed {
    /// Plans `req` on `stream`: refuses a stream without video, a checkpoint start without a
    /// checkpoint and a past range without media; finds where reading starts.
    pub async fn open(
        media: &Media,
        stream: StreamRecord,
        req: FeedRequest,
    ) -> Result<Feed, FeedError> {
        check_video(media, &stream).await?;
        let (sampler, from) = plan_start(media, &stream, &req).await?;
        let (session, client) = Session::new(media.clone(), stream, req, sampler, from);
        Ok(Feed { session, client })
    }
}

/// Where the session begins: the sampler, and the seq after which fragments are read.
async fn plan_start(
    media: &Media,
    stream: &StreamRecord,
    p: &FeedRequest,
) -> Result<(Sampler, Option<i64>), FeedError> {
    Ok(match p.start {
        // Resolved against the live bus when the session subscribes.
        Start::Now => (Sampler::new(p.interval, i64::MIN), None),
        Start::Earliest => (Sampler::new(p.interval, i64::MIN), Some(i64::MIN)),
        Start::Checkpoint => {
            let name = p.consumer.as_deref().unwrap_or_default();
            let cp = media
                .store()
                .checkpoint(stream.id, name)
                .await?
                .ok_or_else(|| FeedError::NoCheckpoint {
                    consumer: name.to_owned(),
                    stream: stream.name.to_string(),
                })?;
            (
                Sampler::resume(p.interval, cp.seq, cp.producer_ms),
                Some(cp.seq.saturating_sub(1)),
            )
        }
        Start::At(t) => {
            // From the last fragment starting at or before `t` (it may hold `t`), else the
            // first one after it.
            let first = match media
                .latest_starting_by(stream.id, TimestampKind::Producer, t)
                .await?
            {
                Some(f) => Some(f),
                None => {
                    media
                        .first_starting_from(stream.id, TimestampKind::Producer, t)
                        .await?
                }
            };
            let from = first.map_or(i64::MIN, |f| f.number.seq.saturating_sub(1));
            if let Some(end) = p.end {
                check_range_has_media(media, stream, t, end).await?;
            }
            (Sampler::new(p.interval, t), Some(from))
        }
    })
}

/// `[start, end]` entirely in the past (the stream has media after `end`) and without a stored
/// fragment in it: nothing would ever be sent.
async fn check_range_has_media(
    media: &Media,
    stream: &StreamRecord,
    start: i64,
    end: i64,
) -> Result<(), FeedError> {
    let Some(last) = media.store().last_fragment(stream.id).await? else {
        return Ok(());
    };
    if last.producer_ms <= end {
        return Ok(()); // the range reaches the live edge: media may still come
    }
    let inside = media
        .timeline(stream.id, TimestampKind::Producer, start, end, None)
        .await?;
    if inside
        .iter()
        .any(|f| f.producer_ms.saturating_add(f.duration_ms.max(1)) > start)
    {
        return Ok(());
    }
    Err(FeedError::NoMediaInRange {
        stream: stream.name.to_string(),
        start,
        end,
    })
}

/// Refuses streams whose latest media has no H.264/H.265 video track.
async fn check_video(media: &Media, stream: &StreamRecord) -> Result<(), FeedError> {
    let Some(last) = media.store().last_fragment(stream.id).await? else {
        return Ok(()); // nothing yet: the producer may send video
    };
    let tracks = media.tracks(last.track_header_id).await?;
    if media::video_track(&tracks).is_none() {
        return Err(FeedError::NoVideo(stream.name.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_names() {
        for ok in ["a", "ml-1", "A.b_c-9", &"x".repeat(256)] {
            assert_eq!(consumer_name(ok).unwrap(), ok);
        }
        for bad in ["", "a b", "é", &"x".repeat(257)] {
            let e = consumer_name(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad:?}");
        }
    }
}
