//! One feed connection: history from the store, then the live bus, sampled, decoded off the
//! runtime, sent at the client's pace (see the parent module for the protocol and the
//! back-pressure rules).
//!
//! The hand-over from history to live is [`crate::media::follow`]'s (GetMedia's too). The
//! [`Sampler`] keeps the position of the last frame taken, so a fragment seen twice (after a
//! fall-behind) never yields a frame twice.
//!
//! Decoding: the frames of the live fragment are kept as they arrive (shared `Bytes`, no
//! copy); a sampled frame is decoded from the last keyframe before it in a blocking task
//! ([`crate::frames`], one pass per sample, at most one pass per core across the server). A
//! stored fragment is decoded in passes of up to [`BATCH`] samples.

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{Params, Sampler};
use crate::api::AppState;
use crate::error::ErrorKind;
use crate::frames::{self, CodedFrame, FrameError, ImageFormat, Picture};
use crate::live::LiveFrame;
use crate::media::follow::{Follow, Item, Mode, Start};
use crate::media::{self, Codec, ReadError};
use crate::model::{StreamId, StreamRecord};
use crate::store::fragment::{FragmentNumber, FragmentRecord};
use crate::store::index::Checkpoint;

/// Samples decoded together from one stored fragment.
const BATCH: usize = 8;
/// How long a closing feed waits for the client's Close.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Why a session stops early.
enum Stop {
    /// The client went away.
    Gone,
    /// The feed cannot go on: sent as an error message, then close.
    Failed(ErrorKind, String),
    /// `End` was passed.
    Ended,
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

/// What the client reader hands the session.
enum Control {
    /// A message to send (a checkpoint acknowledgement or a complaint).
    Reply(Value),
    /// A client message the feed refuses: reply, then close with 1008.
    Fatal(Value),
}

pub(super) struct Session {
    st: AppState,
    stream: StreamRecord,
    p: Params,
    sampler: Sampler,
    /// Seq after which stored fragments are read; None: `Start=NOW`.
    from: Option<i64>,
    /// A frame at or past `End` was seen: nothing more is due.
    ended: bool,
}

type Sink = SplitSink<WebSocket, Message>;

/// The connection while a session serves it.
struct Conn {
    sink: Sink,
    control: mpsc::Receiver<Control>,
    /// Live samples skipped since the last frame sent.
    dropped: u64,
}

impl Session {
    pub(super) fn new(
        st: AppState,
        stream: StreamRecord,
        p: Params,
        sampler: Sampler,
        from: Option<i64>,
    ) -> Session {
        Session {
            st,
            stream,
            p,
            sampler,
            from,
            ended: false,
        }
    }

    pub(super) async fn run(mut self, ws: WebSocket) {
        let span = tracing::info_span!("feed", stream = %self.stream.name);
        let (sink, rx) = ws.split();
        let (tx, control) = mpsc::channel(16);
        let reader = tokio::spawn(tracing::Instrument::instrument(
            read_client(
                self.st.clone(),
                self.stream.id,
                self.p.consumer.clone(),
                rx,
                tx,
            ),
            span.clone(),
        ));
        let mut conn = Conn {
            sink,
            control,
            dropped: 0,
        };
        let result = tracing::Instrument::instrument(self.serve(&mut conn), span).await;
        let close = match result {
            Ok(()) => None,
            Err(Stop::Gone) => None,
            Err(Stop::Ended) => {
                let _ = conn.text(json!({"type": "end"})).await;
                Some((close_code::NORMAL, "end reached"))
            }
            Err(Stop::Failed(kind, message)) => {
                tracing::warn!(%message, "feed stopped");
                let (_, name) = crate::api::error::status_and_name(kind);
                let _ = conn
                    .text(json!({"type": "error", "__type": name, "message": message}))
                    .await;
                Some((close_code::ERROR, "feed failed"))
            }
        };
        if let Some((code, reason)) = close {
            let _ = conn
                .sink
                .send(Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                })))
                .await;
            // The closing handshake: read on until the client's Close (or it goes away), so
            // the socket is not closed with client messages unread, which makes the kernel
            // reset the connection and can destroy frames the client has not read yet.
            drop(conn);
            let mut reader = reader;
            let _ = tokio::time::timeout(CLOSE_WAIT, &mut reader).await;
            reader.abort();
        } else {
            let _ = conn.sink.close().await;
            reader.abort();
        }
    }

    async fn serve(&mut self, conn: &mut Conn) -> Result<(), Stop> {
        let start = match self.from {
            None => Start::Now,
            Some(seq) => Start::AfterSeq(seq),
        };
        let mut follow = Follow::new(self.st.media.clone(), self.stream.id, start, Mode::Frames);
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
            match item {
                Item::Stored(rec) => {
                    self.stored(conn, &rec).await?;
                    continue;
                }
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
                    continue;
                }
                Item::Frame(f) if now_edge.is_some() => {
                    if let Some(c) = current.as_mut() {
                        let pts = c.producer_ms + i64::from(f.rel_ms);
                        if c.push(&f, pts) {
                            now_edge = Some(Some((c.number.seq, pts)));
                        }
                    }
                    continue;
                }
                other => self.apply(other, &mut current, &mut pending),
            }
            // Everything already queued first: only the newest sample is worth sending.
            if !follow.has_ready() {
                self.flush(conn, &mut pending).await?;
                if self.ended {
                    return Err(Stop::Ended);
                }
            }
        }
    }

    /// The samples of one stored fragment.
    async fn stored(&mut self, conn: &mut Conn, rec: &FragmentRecord) -> Result<(), Stop> {
        let loaded = match self.st.media.load(rec).await {
            Ok(l) => l,
            Err(ReadError::Store(e)) => return Err(e.into()),
            Err(e) => {
                tracing::warn!(fragment = %rec.number, error = %e, "feed: stored fragment is damaged");
                conn.text(frame_error(rec.number, rec.producer_ms, &e.to_string()))
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
                    Ok(Some(Err(e))) => {
                        conn.text(frame_error(rec.number, ms, &e.to_string()))
                            .await?
                    }
                    Ok(None) => {}
                    Err(e) => {
                        conn.text(frame_error(rec.number, ms, &e.to_string()))
                            .await?
                    }
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
    async fn flush(&mut self, conn: &mut Conn, pending: &mut Vec<Sample>) -> Result<(), Stop> {
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
                Some(Err(e)) => conn.text(frame_error(s.number, ms, &e.to_string())).await?,
                None => {}
            },
            Err(e) => conn.text(frame_error(s.number, ms, &e.to_string())).await?,
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

fn frame_error(n: FragmentNumber, ms: i64, message: &str) -> Value {
    json!({
        "type": "frame_error",
        "fragment_number": n.to_string(),
        "producer_timestamp_ms": ms,
        "message": message,
    })
}

fn format_name(f: ImageFormat) -> &'static str {
    match f {
        ImageFormat::Jpeg { .. } => "JPEG",
        ImageFormat::Png => "PNG",
        ImageFormat::Rgb24 => "RGB24",
    }
}

impl Conn {
    async fn send(&mut self, m: Message) -> Result<(), Stop> {
        self.sink.send(m).await.map_err(|_| Stop::Gone)
    }

    async fn text(&mut self, v: Value) -> Result<(), Stop> {
        self.send(Message::Text(v.to_string().into())).await
    }

    async fn frame(
        &mut self,
        format: ImageFormat,
        n: FragmentNumber,
        producer_ms: i64,
        server_ms: i64,
        pic: Picture,
    ) -> Result<(), Stop> {
        let meta = json!({
            "type": "frame",
            "fragment_number": n.to_string(),
            "producer_timestamp_ms": producer_ms,
            "server_timestamp_ms": server_ms,
            "format": format_name(format),
            "width": pic.width,
            "height": pic.height,
            "bytes": pic.data.len(),
            "dropped": self.dropped,
        });
        self.dropped = 0;
        self.text(meta).await?;
        self.send(Message::Binary(Bytes::from(pic.data))).await
    }

    async fn on_control(&mut self, c: Option<Control>) -> Result<(), Stop> {
        match c {
            None => Err(Stop::Gone),
            Some(Control::Reply(v)) => self.text(v).await,
            Some(Control::Fatal(v)) => {
                self.text(v).await?;
                let _ = self
                    .sink
                    .send(Message::Close(Some(CloseFrame {
                        code: close_code::POLICY,
                        reason: "bad client message".into(),
                    })))
                    .await;
                Err(Stop::Gone)
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientMessage {
    checkpoint: CheckpointMessage,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointMessage {
    fragment_number: String,
    producer_timestamp_ms: i64,
}

fn refusal(kind: ErrorKind, message: String) -> Value {
    let (_, name) = crate::api::error::status_and_name(kind);
    json!({"type": "error", "__type": name, "message": message})
}

/// Reads client messages until the client goes away (then `tx` drops, which the session sees).
async fn read_client(
    st: AppState,
    stream: StreamId,
    consumer: Option<String>,
    mut rx: SplitStream<WebSocket>,
    tx: mpsc::Sender<Control>,
) {
    while let Some(Ok(msg)) = rx.next().await {
        let text = match msg {
            Message::Text(t) => t,
            Message::Close(_) => return,
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Binary(_) => {
                let v = refusal(
                    ErrorKind::InvalidArgument,
                    "binary client messages are not part of the feed protocol; send {\"checkpoint\": {...}} as text".into(),
                );
                let _ = tx.send(Control::Fatal(v)).await;
                return;
            }
        };
        let reply = match commit(&st, stream, consumer.as_deref(), text.as_str()).await {
            Ok(v) => Control::Reply(v),
            Err((ErrorKind::InvalidArgument, m)) => {
                Control::Fatal(refusal(ErrorKind::InvalidArgument, m))
            }
            Err((kind, m)) => Control::Reply(refusal(kind, m)),
        };
        // The session may be closing: keep reading (to the client's Close) all the same.
        let _ = tx.send(reply).await;
    }
}

/// Commits a checkpoint message; the acknowledgement to send.
async fn commit(
    st: &AppState,
    stream: StreamId,
    consumer: Option<&str>,
    text: &str,
) -> Result<Value, (ErrorKind, String)> {
    let invalid = |m: String| (ErrorKind::InvalidArgument, m);
    let msg: ClientMessage = serde_json::from_str(text).map_err(|e| {
        invalid(format!(
            "client message does not parse ({e}); send {{\"checkpoint\": {{\"fragment_number\": \"...\", \"producer_timestamp_ms\": ...}}}}"
        ))
    })?;
    let consumer = consumer.ok_or_else(|| {
        invalid(
            "this feed has no Consumer: connect with Consumer=<name> to commit checkpoints".into(),
        )
    })?;
    let cp = msg.checkpoint;
    let number = FragmentNumber::parse(&cp.fragment_number)
        .filter(|n| n.stream == stream)
        .ok_or_else(|| {
            invalid(format!(
                "fragment_number `{}` is not a fragment of this stream",
                cp.fragment_number.chars().take(64).collect::<String>()
            ))
        })?;
    st.store
        .put_checkpoint(Checkpoint {
            stream,
            consumer: consumer.to_owned(),
            seq: number.seq,
            producer_ms: cp.producer_timestamp_ms,
            updated_ms: st.store.now().millis(),
        })
        .await
        .map_err(|e| (e.kind(), e.to_string()))?;
    Ok(json!({
        "type": "checkpointed",
        "fragment_number": number.to_string(),
        "producer_timestamp_ms": cp.producer_timestamp_ms,
    }))
}
