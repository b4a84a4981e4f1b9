//! One feed connection: history from the store, then the live bus, sampled, decoded off the
//! runtime, sent at the client's pace (see the parent module for the sampling and back-pressure
//! rules, and `api::feed` for the wire protocol).
//!
//! The hand-over from history to live is [`crate::media::follow`]'s (GetMedia's too). The
//! [`Sampler`] keeps the position of the last frame taken, so a fragment seen twice (after a
//! fall-behind) never yields a frame twice.
//!
//! Decoding: the frames of the live fragment are kept as they arrive (shared `Bytes`, no
//! copy); a sampled frame is decoded from the last keyframe before it in a blocking task
//! ([`crate::frames`], one pass per sample, at most one pass per core across the server). A
//! stored fragment is decoded in passes of up to [`BATCH`] samples.
//!
//! Two halves run concurrently: [`Session::run`] sends, [`Client::receive`] handles what the
//! client sent (commits checkpoints) and hands the session the replies to send, so commits are
//! durable even while the session waits on a slow client.

use std::future::Future;

use tokio::sync::mpsc;

use super::{FeedError, FeedRequest, Sampler};
use crate::error::ErrorKind;
use crate::frames::{self, CodedFrame, FrameError, ImageFormat, Picture};
use crate::live::LiveFrame;
use crate::media::follow::{Follow, Item, Mode, Start};
use crate::media::{self, Codec, Media, ReadError};
use crate::model::{StreamId, StreamRecord};
use crate::store::fragment::{FragmentNumber, FragmentRecord};

/// Samples decoded together from one stored fragment.
const BATCH: usize = 8;

/// A message for the client, in the order the session sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedMessage {
    /// A sampled frame: its position and shape, then the picture.
    Frame {
        /// Where the frame is and how the picture is encoded.
        meta: FrameMeta,
        /// The picture.
        picture: Picture,
    },
    /// A sampled frame that could not be decoded: skipped, the feed goes on.
    FrameError {
        /// The fragment holding it.
        fragment_number: FragmentNumber,
        /// Its producer timestamp, epoch ms.
        producer_timestamp_ms: i64,
        /// Why.
        message: String,
    },
    /// A checkpoint the client sent is committed (durable).
    Checkpointed {
        /// The checkpoint's fragment.
        fragment_number: FragmentNumber,
        /// The checkpoint's producer timestamp, epoch ms.
        producer_timestamp_ms: i64,
    },
    /// A request the feed refuses, or why the feed stops (see [`Outcome`]).
    Error {
        /// What kind of error.
        kind: ErrorKind,
        /// What went wrong.
        message: String,
    },
    /// `End` was passed: nothing more comes.
    End,
}

/// A frame's position and its picture's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameMeta {
    /// The fragment holding the frame.
    pub fragment_number: FragmentNumber,
    /// The frame's producer timestamp, epoch ms.
    pub producer_timestamp_ms: i64,
    /// The frame's server timestamp, epoch ms (the fragment's, moved by the frame's offset).
    pub server_timestamp_ms: i64,
    /// How the picture is encoded.
    pub format: ImageFormat,
    /// Live samples skipped since the previous frame sent (see the parent module).
    pub dropped: u64,
}

/// A message from the client, as the transport read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// The position of the last frame processed, as the frame message gave it: commit it as
    /// the consumer's checkpoint.
    Checkpoint {
        /// The fragment number, as the client sent it.
        fragment_number: String,
        /// The frame's producer timestamp, epoch ms.
        producer_timestamp_ms: i64,
    },
    /// Something the transport could not read as a client message (why, for the client): the
    /// feed refuses it and stops ([`Outcome::Refused`]).
    Unreadable(String),
}

/// The client's connection is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the client went away")]
pub struct Gone;

/// Where a session's messages go: the transport to the client.
pub trait Outbox: Send {
    /// Hands `m` to the client's connection, returning once the connection took it (written to
    /// the socket, not queued before it): this wait is the feed's back-pressure.
    fn send(&mut self, m: FeedMessage) -> impl Future<Output = Result<(), Gone>> + Send;
}

/// How a session ended; what was sent last is said per case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The client went away, or the stream was deleted or the server is closing: nothing more
    /// was sent.
    Closed,
    /// `End` was passed; [`FeedMessage::End`] was sent (a normal close).
    Ended,
    /// The feed could not go on; a [`FeedMessage::Error`] was sent (a server error close).
    Failed,
    /// A client message was refused; a [`FeedMessage::Error`] was sent (a policy close).
    Refused,
}

/// Why a session stops early.
enum Stop {
    /// The client went away.
    Gone,
    /// The feed cannot go on: sent as an error message, then close.
    Failed(ErrorKind, String),
    /// `End` was passed.
    Ended,
    /// A client message was refused (the error message is sent).
    Refused,
}

impl From<crate::store::StoreError> for Stop {
    fn from(e: crate::store::StoreError) -> Self {
        Stop::Failed(e.kind(), e.to_string())
    }
}

/// A frame chosen to be sent, with what decoding it needs.
struct Sample {
    number: FragmentNumber,
    producer_ms: i64,
    server_ms: i64,
    codec: Codec,
    /// From a keyframe to the frame, decode order.
    run: Vec<CodedFrame>,
}

/// The live fragment being received.
struct Current {
    number: FragmentNumber,
    producer_ms: i64,
    server_ms: i64,
    video: Option<(u64, Codec)>,
    /// Its video frames so far.
    frames: Vec<CodedFrame>,
}

impl Current {
    /// Keeps `f` (at producer time `pts`) if it is a frame of the video track.
    fn push(&mut self, f: &LiveFrame, pts: i64) -> bool {
        if self
            .video
            .as_ref()
            .is_none_or(|(track, _)| f.track != *track)
        {
            return false;
        }
        self.frames.push(CodedFrame {
            pts_ms: pts,
            dts_ms: pts,
            duration_ms: 0,
            key: f.keyframe,
            data: f.data.clone(),
        });
        true
    }
}

/// What the client half hands the session.
enum Control {
    /// A message to send (a checkpoint acknowledgement or a complaint).
    Reply(FeedMessage),
    /// A client message the feed refuses: send, then stop ([`Outcome::Refused`]).
    Fatal(FeedMessage),
}

/// The sending half of a feed: what to send, when.
pub struct Session {
    state: State,
    /// Replies from the [`Client`]; closed when it is dropped (the client went away).
    control: mpsc::Receiver<Control>,
}

/// The receiving half of a feed: commits the client's checkpoints and hands the session the
/// replies. Dropping it tells the session the client went away.
pub struct Client {
    media: Media,
    stream: StreamId,
    consumer: Option<String>,
    tx: mpsc::Sender<Control>,
}

/// A session's reading and sampling state.
struct State {
    media: Media,
    stream: StreamRecord,
    p: FeedRequest,
    sampler: Sampler,
    /// Seq after which stored fragments are read; None: `Start=NOW`.
    from: Option<i64>,
    /// A frame at or past `End` was seen: nothing more is due.
    ended: bool,
}

/// The connection while a session serves it.
struct Conn<'a, O> {
    out: &'a mut O,
    control: mpsc::Receiver<Control>,
    /// Live samples skipped since the last frame sent.
    dropped: u64,
}

impl Session {
    /// The two halves of a planned feed (see [`super::Feed::open`]).
    pub(super) fn new(
        media: Media,
        stream: StreamRecord,
        p: FeedRequest,
        sampler: Sampler,
        from: Option<i64>,
    ) -> (Session, Client) {
        let (tx, control) = mpsc::channel(16);
        let client = Client {
            media: media.clone(),
            stream: stream.id,
            consumer: p.consumer.clone(),
            tx,
        };
        let state = State {
            media,
            stream,
            p,
            sampler,
            from,
            ended: false,
        };
        (Session { state, control }, client)
    }

    /// Serves the feed into `out` until it ends, the client goes away or the feed fails; the
    /// transport closes the connection as the [`Outcome`] says.
    pub async fn run(self, out: &mut impl Outbox) -> Outcome {
        let Session { mut state, control } = self;
        let mut conn = Conn {
            out,
            control,
            dropped: 0,
        };
        match state.serve(&mut conn).await {
            Ok(()) | Err(Stop::Gone) => Outcome::Closed,
            Err(Stop::Refused) => Outcome::Refused,
            Err(Stop::Ended) => {
                let _ = conn.send(FeedMessage::End).await;
                Outcome::Ended
            }
            Err(Stop::Failed(kind, message)) => {
                tracing::warn!(%message, "feed stopped");
                let _ = conn.send(FeedMessage::Error { kind, message }).await;
                Outcome::Failed
            }
        }
    }
}

impl State {
    async fn serve<O: Outbox>(&mut self, conn: &mut Conn<'_, O>) -> Result<(), Stop> {
        let start = match self.from {
            None => Start::Now,
            Some(seq) => Start::AfterSeq(seq),
        };
        let mut follow = Follow::new(self.media.clone(), self.stream.id, start, Mode::Frames);
        // `Start=NOW`: frames already on the bus when the feed subscribed are kept to decode
        // from but not sampled; the first one to arrive after is (see `Sampler::after`).
        let mut now_edge: Option<Option<(i64, i64)>> = (start == Start::Now).then_some(None);
        let mut current: Option<Current> = None;
        let mut pending: Vec<Sample> = Vec::new();
        loop {
            let item = tokio::select! {
                c = conn.control.recv() => {
                    conn.on_control(c).await?;
                    continue;
                }
                item = follow.next() => item?,
            };
            let Some(item) = item else {
                return Ok(()); // the stream was deleted or the server is closing
            };
            // This item, then everything already queued: only the newest sample is worth
            // sending.
            let mut next = Some(item);
            while let Some(item) = next.take() {
                match item {
                    Item::Stored(rec) => self.stored(conn, &rec).await?,
                    Item::LiveEdge => {
                        if let Some(Some((seq, ms))) = now_edge.take() {
                            self.sampler = Sampler::after(self.p.interval, seq, ms);
                        }
                    }
                    Item::Lagged { .. } => {
                        tracing::info!("feed fell behind the live bus; resuming from the store");
                        conn.dropped += pending.len() as u64;
                        pending.clear();
                        current = None;
                    }
                    Item::Frame(f) if now_edge.is_some() => {
                        if let Some(c) = current.as_mut() {
                            let pts = c.producer_ms + i64::from(f.rel_ms);
                            if c.push(&f, pts) {
                                now_edge = Some(Some((c.number.seq, pts)));
                            }
                        }
                    }
                    other => self.apply(other, &mut current, &mut pending),
                }
                next = follow.try_next();
            }
            if now_edge.is_none() {
                self.flush(conn, &mut pending).await?;
                if self.ended {
                    return Err(Stop::Ended);
                }
            }
        }
    }

    /// The samples of one stored fragment.
    async fn stored<O: Outbox>(
        &mut self,
        conn: &mut Conn<'_, O>,
        rec: &FragmentRecord,
    ) -> Result<(), Stop> {
        let loaded = match self.media.load(rec).await {
            Ok(l) => l,
            Err(ReadError::Store(e)) => return Err(e.into()),
            Err(e) => {
                tracing::warn!(fragment = %rec.number, error = %e, "feed: stored fragment is damaged");
                conn.frame_error(rec.number, rec.producer_ms, e.to_string())
                    .await?;
                return Ok(());
            }
        };
        let Some((codec, samples)) = loaded.video() else {
            return Ok(()); // no video in this fragment
        };
        let video: Vec<CodedFrame> = samples.into_iter().map(CodedFrame::from).collect();
        let mut wanted: Vec<usize> = Vec::new();
        let mut seen_key = false;
        for (i, f) in video.iter().enumerate() {
            seen_key |= f.key;
            if self.past_end(f.pts_ms) {
                continue;
            }
            if seen_key && self.sampler.take(rec.number.seq, f.pts_ms) {
                wanted.push(i);
            }
        }
        for chunk in wanted.chunks(BATCH) {
            let (Some(&lo), Some(&hi)) = (chunk.first(), chunk.last()) else {
                continue;
            };
            let key = video[..=lo].iter().rposition(|f| f.key).unwrap_or(0);
            let pts: Vec<i64> = chunk.iter().map(|&i| video[i].pts_ms).collect();
            let mut pictures = render(
                codec.clone(),
                video[key..=hi].to_vec(),
                pts.clone(),
                self.p.spec,
            )
            .await?;
            for ms in pts {
                let server_ms = rec.server_ms + (ms - rec.producer_ms);
                match pictures.as_mut().map(|p| p.remove(&ms)) {
                    Ok(Some(Ok(pic))) => {
                        conn.frame(self.p.spec.format, rec.number, ms, server_ms, pic)
                            .await?
                    }
                    Ok(Some(Err(e))) => conn.frame_error(rec.number, ms, e.to_string()).await?,
                    Ok(None) => {}
                    Err(e) => conn.frame_error(rec.number, ms, e.to_string()).await?,
                }
                conn.poll_control().await?;
            }
        }
        if self.ended || self.past_end(rec.producer_ms + rec.duration_ms) {
            return Err(Stop::Ended);
        }
        Ok(())
    }

    /// Whether a frame at `ms` is past `End` (notes that the end is reached when it is at or
    /// past it: later frames cannot be earlier).
    fn past_end(&mut self, ms: i64) -> bool {
        let Some(end) = self.p.end else { return false };
        self.ended |= ms >= end;
        ms > end
    }

    /// Follows one live item; a sampled frame joins `pending`.
    fn apply(&mut self, item: Item, current: &mut Option<Current>, pending: &mut Vec<Sample>) {
        match item {
            Item::Start(s) => {
                let video = media::tracks_element(&s.tracks)
                    .ok()
                    .and_then(|t| media::video_track(&t));
                *current = Some(Current {
                    number: s.number,
                    producer_ms: s.producer_ms,
                    server_ms: s.server_ms,
                    video,
                    frames: Vec::new(),
                });
            }
            Item::Frame(f) => {
                let Some(c) = current.as_mut() else {
                    return;
                };
                let pts = c.producer_ms + i64::from(f.rel_ms);
                if !c.push(&f, pts) {
                    return;
                }
                let past_end = self.p.end.is_some_and(|end| pts > end);
                self.ended |= self.p.end.is_some_and(|end| pts >= end);
                let Some(key) = c.frames.iter().rposition(|f| f.key) else {
                    return; // nothing to decode from
                };
                if past_end {
                    return;
                }
                if let Some((_, codec)) = &c.video
                    && self.sampler.take(c.number.seq, pts)
                {
                    pending.push(Sample {
                        number: c.number,
                        producer_ms: pts,
                        server_ms: c.server_ms + (pts - c.producer_ms),
                        codec: codec.clone(),
                        run: c.frames[key..].to_vec(),
                    });
                }
            }
            Item::End(_) | Item::Aborted(_) => *current = None,
            Item::Stored(_) | Item::LiveEdge | Item::Lagged { .. } => {}
        }
    }

    /// Sends the newest pending live sample; the older ones are dropped (and counted).
    async fn flush<O: Outbox>(
        &mut self,
        conn: &mut Conn<'_, O>,
        pending: &mut Vec<Sample>,
    ) -> Result<(), Stop> {
        let Some(s) = pending.pop() else {
            return Ok(());
        };
        conn.dropped += pending.len() as u64;
        pending.clear();
        let ms = s.producer_ms;
        match render(s.codec, s.run, vec![ms], self.p.spec).await? {
            Ok(mut pictures) => match pictures.remove(&ms) {
                Some(Ok(pic)) => {
                    conn.frame(self.p.spec.format, s.number, ms, s.server_ms, pic)
                        .await?
                }
                Some(Err(e)) => conn.frame_error(s.number, ms, e.to_string()).await?,
                None => {}
            },
            Err(e) => conn.frame_error(s.number, ms, e.to_string()).await?,
        }
        Ok(())
    }
}

type Rendered = Result<std::collections::HashMap<i64, Result<Picture, FrameError>>, FrameError>;

/// One decode pass, within the process-wide decode limit.
async fn render(
    codec: Codec,
    run: Vec<CodedFrame>,
    wanted: Vec<i64>,
    spec: frames::OutputSpec,
) -> Result<Rendered, Stop> {
    frames::run_pass(move |frames| frames.render_pictures(&codec, &run, &wanted, &spec))
        .await
        .map_err(|e| Stop::Failed(ErrorKind::Unavailable, e.to_string()))
}

impl<O: Outbox> Conn<'_, O> {
    async fn send(&mut self, m: FeedMessage) -> Result<(), Stop> {
        self.out.send(m).await.map_err(|Gone| Stop::Gone)
    }

    async fn frame(
        &mut self,
        format: ImageFormat,
        n: FragmentNumber,
        producer_ms: i64,
        server_ms: i64,
        picture: Picture,
    ) -> Result<(), Stop> {
        let meta = FrameMeta {
            fragment_number: n,
            producer_timestamp_ms: producer_ms,
            server_timestamp_ms: server_ms,
            format,
            dropped: self.dropped,
        };
        self.dropped = 0;
        self.send(FeedMessage::Frame { meta, picture }).await
    }

    async fn frame_error(
        &mut self,
        n: FragmentNumber,
        ms: i64,
        message: String,
    ) -> Result<(), Stop> {
        self.send(FeedMessage::FrameError {
            fragment_number: n,
            producer_timestamp_ms: ms,
            message,
        })
        .await
    }

    async fn on_control(&mut self, c: Option<Control>) -> Result<(), Stop> {
        match c {
            None => Err(Stop::Gone),
            Some(Control::Reply(m)) => self.send(m).await,
            Some(Control::Fatal(m)) => {
                self.send(m).await?;
                Err(Stop::Refused)
            }
        }
    }

    /// Handles client messages that arrived meanwhile, without waiting.
    async fn poll_control(&mut self) -> Result<(), Stop> {
        loop {
            match self.control.try_recv() {
                Ok(c) => self.on_control(Some(c)).await?,
                Err(mpsc::error::TryRecvError::Empty) => return Ok(()),
                Err(mpsc::error::TryRecvError::Disconnected) => return Err(Stop::Gone),
            }
        }
    }
}

impl Client {
    /// Handles one client message: a checkpoint is committed and acknowledged; a message the
    /// feed refuses is answered with an error and (for an invalid one) stops the session. The
    /// reply is queued for the session even if it has stopped (the transport reads on to the
    /// client's close).
    pub async fn receive(&self, m: ClientMessage) {
        let reply = match self.commit(m).await {
            Ok(m) => Control::Reply(m),
            Err(e) => {
                let kind = e.kind();
                let m = FeedMessage::Error {
                    kind,
                    message: e.to_string(),
                };
                if kind == ErrorKind::InvalidArgument {
                    Control::Fatal(m)
                } else {
                    Control::Reply(m)
                }
            }
        };
        // The session may be closing: the transport keeps reading all the same.
        let _ = self.tx.send(reply).await;
    }

    /// Commits a checkpoint message; the acknowledgement to send.
    async fn commit(&self, m: ClientMessage) -> Result<FeedMessage, FeedError> {
        let (fragment_number, producer_ms) = match m {
            ClientMessage::Unreadable(why) => return Err(FeedError::Unreadable(why)),
            ClientMessage::Checkpoint {
                fragment_number,
                producer_timestamp_ms,
            } => (fragment_number, producer_timestamp_ms),
        };
        let consumer = self.consumer.as_ref().ok_or(FeedError::NoConsumer)?;
        let number = FragmentNumber::parse(&fragment_number)
            .filter(|n| n.stream == self.stream)
            .ok_or_else(|| {
                FeedError::ForeignFragment(fragment_number.chars().take(64).collect())
            })?;
        super::commit(
            self.media.store(),
            self.stream,
            consumer.clone(),
            number,
            producer_ms,
        )
        .await?;
        Ok(FeedMessage::Checkpointed {
            fragment_number: number,
            producer_timestamp_ms: producer_ms,
        })
    }
}
