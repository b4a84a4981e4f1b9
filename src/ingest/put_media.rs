//! One PutMedia session: read the body, cut fragments, persist them, stream the acks.
//!
//! Two tasks per session. The reader task pulls body chunks through the MKV reader and the
//! fragmenter and sends BUFFERING/RECEIVED acks; sealed fragments go through a small bounded
//! queue to the persister task, which stores them in order and sends PERSISTED. The bounded
//! queue is the back-pressure: when the disk is slower than the producer, the reader stops
//! reading the body and TCP slows the producer down. Memory per session is bounded by the MKV
//! reader's one-element buffer, the fragment being built (≤ the 50 MB fragment limit) and the
//! queue.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};

use super::Ingest;
use super::error::{AckErrorId, IngestError};
use super::fragmenter::{Fragmenter, Output, SealedFragment, TimecodeType, parse_error_to_ack};
use crate::live::{FragmentEnd, FragmentStart, LiveFrame, Publisher};
use crate::mkv;
use crate::model::{StreamRecord, StreamStatus};
use crate::store::fragment::{FragmentDraft, FragmentNumber};

/// A validated PutMedia request.
#[derive(Debug, Clone)]
pub struct PutMediaRequest {
    /// The stream, as resolved when the request arrived.
    pub stream: StreamRecord,
    /// `x-amzn-fragment-timecode-type` (+ start timestamp).
    pub timecode_type: TimecodeType,
}

/// The request body as a stream of chunks.
pub type BodyStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, axum::Error>> + Send>>;

/// Fragments waiting for the persister.
const PERSIST_QUEUE: usize = 4;
/// Acks waiting for the client to read them.
const ACK_QUEUE: usize = 256;

/// One PutMedia acknowledgement (KVS-API.md: the streamed `{"EventType": ...}` lines); the API
/// renders it as JSON, the camera runner reads it as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ack {
    /// A fragment started arriving.
    Buffering {
        /// Its producer timecode, ms.
        timecode_ms: i64,
        /// Its number.
        number: FragmentNumber,
    },
    /// A fragment arrived whole.
    Received {
        /// Its producer timecode, ms.
        timecode_ms: i64,
        /// Its number.
        number: FragmentNumber,
    },
    /// A fragment is durable and indexed.
    Persisted {
        /// Its producer timecode, ms.
        timecode_ms: i64,
        /// Its number.
        number: FragmentNumber,
    },
    /// Nothing arrived for a while; the connection is alive.
    Idle,
    /// The session failed.
    Error {
        /// The producer timecode of the fragment it failed in, ms (0: before any).
        timecode_ms: i64,
        /// That fragment's number, if it had one.
        number: Option<FragmentNumber>,
        /// KVS's ErrorId.
        id: AckErrorId,
    },
}

fn error_ack(e: &IngestError, timecode_ms: i64, number: Option<FragmentNumber>) -> Ack {
    Ack::Error {
        timecode_ms,
        number,
        id: e.id,
    }
}

impl Ingest {
    /// Starts a PutMedia session for `req` reading `body`; returns the ack stream that is the
    /// response body. The session runs in its own task and ends when the body ends, on an error,
    /// after `idle_timeout` without data, or when a newer session for the stream takes over.
    pub fn put_media(
        &self,
        req: PutMediaRequest,
        body: BodyStream,
    ) -> impl futures_util::Stream<Item = Ack> + Send + 'static {
        let (acks_tx, acks_rx) = mpsc::channel::<Ack>(ACK_QUEUE);
        let this = self.clone();
        let span = tracing::info_span!("put_media", stream = %req.stream.name);
        tokio::spawn(tracing::Instrument::instrument(
            async move { this.session(req, body, acks_tx).await },
            span,
        ));
        futures_util::stream::unfold(
            acks_rx,
            |mut rx| async move { rx.recv().await.map(|a| (a, rx)) },
        )
    }

    async fn session(self, req: PutMediaRequest, body: BodyStream, acks: mpsc::Sender<Ack>) {
        let mut claim = self.sessions.claim(req.stream.id);
        if let Some(mut prev) = claim.previous.take() {
            tracing::info!("a newer PutMedia takes over the stream; waiting for the old session");
            let waited = tokio::time::timeout(
                std::time::Duration::from_secs(30),
                prev.wait_for(|done| *done),
            )
            .await
            .is_ok();
            if !waited {
                let e = IngestError::new(AckErrorId::InternalError, "previous session did not end");
                let _ = acks.send(error_ack(&e, 0, None)).await;
                return;
            }
        }
        let stream = match self.wait_active(&req.stream).await {
            Ok(s) => s,
            Err(e) => {
                tracing::info!(error = %e, "putMedia refused");
                let _ = acks.send(error_ack(&e, 0, None)).await;
                return;
            }
        };
        let persist = stream.data_retention_hours > 0;
        let keep = if persist {
            0
        } else {
            self.config.live_buffer_bytes
        };
        let publisher = Arc::new(self.bus.publisher(stream.id, keep));
        let (persist_tx, persist_rx) = mpsc::channel(PERSIST_QUEUE);
        let (failed_tx, failed_rx) = watch::channel(false);
        let persister = tokio::spawn(tracing::Instrument::instrument(
            persister(
                self.store.clone(),
                persist_rx,
                acks.clone(),
                failed_tx,
                Arc::clone(&publisher),
            ),
            tracing::Span::current(),
        ));
        let outcome = self
            .read_body(
                &req,
                &stream,
                body,
                &acks,
                persist.then_some(persist_tx),
                (claim.stop.clone(), failed_rx),
                &publisher,
            )
            .await;
        // The persister ends once the reader's queue sender is dropped (inside read_body); wait
        // for it, so every PERSISTED ack of an earlier fragment precedes an ERROR ack.
        let _ = persister.await;
        match outcome {
            Ok(n) => tracing::info!(fragments = n, "putMedia session ended"),
            Err(failure) => {
                tracing::warn!(error = %failure.error, "putMedia session ended with an error");
                if failure.error.id != AckErrorId::ArchivalError {
                    let ack = error_ack(&failure.error, failure.timecode, failure.number);
                    let _ = acks.send(ack).await;
                }
            }
        }
        drop(claim);
    }

    async fn wait_active(&self, s: &StreamRecord) -> Result<StreamRecord, IngestError> {
        let r = crate::store::StreamRef::Name(s.name.clone());
        for _ in 0..100 {
            match self.store.describe(&r).await {
                Ok(now) if now.id != s.id => break,
                Ok(now) if now.status == StreamStatus::Active => return Ok(now),
                Ok(now) if now.status == StreamStatus::Creating => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Ok(_) | Err(_) => break,
            }
        }
        Err(IngestError::new(
            AckErrorId::StreamNotActive,
            format!("stream `{}` is not active", s.name),
        ))
    }

    /// Reads the body to its end; returns how many fragments were sealed.
    #[allow(clippy::too_many_arguments)]
    async fn read_body(
        &self,
        req: &PutMediaRequest,
        stream: &StreamRecord,
        mut data: BodyStream,
        acks: &mpsc::Sender<Ack>,
        persist: Option<mpsc::Sender<(FragmentNumber, SealedFragment)>>,
        (mut stop, mut failed): (watch::Receiver<bool>, watch::Receiver<bool>),
        publisher: &Publisher,
    ) -> Result<u64, Failure> {
        let last_frame_ms = self.last_frame_ms(stream).await;
        let cfg = &self.config;
        let mut reader = mkv::Reader::new(cfg.mkv_limits);
        let mut frag = Fragmenter::new(req.timecode_type, cfg.limits, last_frame_ms);
        let mut numbers: VecDeque<(FragmentNumber, i64)> = VecDeque::new();
        let mut idle = std::time::Duration::ZERO;
        let mut sealed = 0u64;
        let mut lease = self.memory.lease();
        // Pacing: the body is read no faster than `max_bytes_per_second` and
        // `max_fragments_per_second`, one second of burst each.
        let rate = cfg.max_bytes_per_second.max(1) as f64;
        let fragment_rate = f64::from(cfg.max_fragments_per_second.max(1));
        let started = tokio::time::Instant::now();
        let mut received = 0u64;
        let mut ctx = Ctx {
            ingest: self,
            stream,
            acks,
            persist: &persist,
            numbers: &mut numbers,
            sealed: &mut sealed,
            last_timecode: 0,
            publisher,
        };
        let result: Result<(), IngestError> = async {
            loop {
                let next = tokio::select! {
                    biased;
                    () = raised(&mut stop) => {
                        tracing::info!("stopping: a newer PutMedia took over");
                        return Ok(());
                    }
                    () = self.bus.closed() => {
                        tracing::info!("stopping: the server is shutting down");
                        return Ok(());
                    }
                    () = raised(&mut failed) => return Err(IngestError::new(AckErrorId::ArchivalError, "persisting failed")),
                    n = tokio::time::timeout(cfg.idle_ack_interval, data.next()) => n,
                };
                match next {
                    Err(_) => {
                        idle += cfg.idle_ack_interval;
                        if idle >= cfg.idle_timeout {
                            tracing::info!(idle_secs = idle.as_secs(), "closing an idle PutMedia");
                            return Ok(());
                        }
                        let _ = acks.try_send(Ack::Idle);
                    }
                    Ok(Some(Ok(chunk))) => {
                        idle = std::time::Duration::ZERO;
                        received += chunk.len() as u64;
                        let due = started + std::time::Duration::from_secs_f64(received as f64 / rate);
                        let burst = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
                        if due > burst {
                            tokio::time::sleep_until(due - std::time::Duration::from_secs(1)).await;
                        }
                        reader.push(&chunk);
                        // What this session holds, before any of it is parsed: a partial block
                        // counts as much as a complete one.
                        if !lease.resize(
                            reader.buffered()
                                + usize::try_from(frag.buffered_bytes()).unwrap_or(usize::MAX),
                        ) {
                            return Err(IngestError::new(
                                AckErrorId::InternalError,
                                "the server's ingest memory budget is used up and this session holds more than its share ([ingest] memory_budget_bytes)",
                            ));
                        }
                        loop {
                            match reader.pull() {
                                Ok(Some(ev)) => {
                                    let now = self.store.now().millis();
                                    let mut outs = Vec::new();
                                    let pushed = frag.push(ev, now, &mut outs);
                                    ctx.handle(outs).await?;
                                    pushed?;
                                }
                                Ok(None) => break,
                                Err(e) => return Err(parse_error_to_ack(&e)),
                            }
                        }
                        let due = started
                            + std::time::Duration::from_secs_f64(*ctx.sealed as f64 / fragment_rate);
                        let burst = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
                        if due > burst {
                            tokio::time::sleep_until(due - std::time::Duration::from_secs(1)).await;
                        }
                    }
                    Ok(Some(Err(e))) => {
                        return Err(IngestError::new(
                            AckErrorId::StreamReadError,
                            format!("reading the request body: {e}"),
                        ));
                    }
                    Ok(None) => {
                        let now = self.store.now().millis();
                        for ev in reader.finish().map_err(|e| parse_error_to_ack(&e))? {
                            let mut outs = Vec::new();
                            let pushed = frag.push(ev, now, &mut outs);
                            ctx.handle(outs).await?;
                            pushed?;
                        }
                        let mut outs = Vec::new();
                        let finished = frag.finish(&mut outs);
                        ctx.handle(outs).await?;
                        finished?;
                        return Ok(());
                    }
                }
            }
        }
        .await;
        let current = ctx.numbers.back().copied();
        let last_timecode = ctx.last_timecode;
        let failed_at = frag.error_timecode_ms();
        // Whatever did not complete never will: live readers stop waiting for it.
        for (n, _) in ctx.numbers.drain(..) {
            publisher.aborted(n);
        }
        drop(persist);
        result.map(|()| sealed).map_err(|error| {
            // The ack names the fragment at fault: the cluster last started (kvssink matches
            // the timecode against what it sent), with its number if it got one.
            let timecode = failed_at.unwrap_or_else(|| current.map_or(last_timecode, |(_, tc)| tc));
            Failure {
                error,
                timecode,
                number: current.filter(|(_, tc)| *tc == timecode).map(|(n, _)| n),
            }
        })
    }

    /// The timestamp of the stream's last stored frame, so a new connection cannot go back in
    /// time.
    async fn last_frame_ms(&self, stream: &StreamRecord) -> Option<i64> {
        let last = self.store.last_fragment(stream.id).await.ok()??;
        let max_rel = match self.store.read_fragment(&last).await {
            Ok((_, trailer)) => trailer
                .frames
                .iter()
                .map(|f| f.rel_timecode)
                .max()
                .unwrap_or(0),
            Err(_) => 0,
        };
        Some(last.producer_ms + i64::from(max_rel))
    }
}

/// A session's error with the fragment it concerns.
struct Failure {
    error: IngestError,
    timecode: i64,
    number: Option<FragmentNumber>,
}

/// Completes when the flag becomes true; never, if its sender is gone while false.
async fn raised(flag: &mut watch::Receiver<bool>) {
    if flag.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// What the reader loop needs to act on fragmenter outputs.
struct Ctx<'a> {
    ingest: &'a Ingest,
    stream: &'a StreamRecord,
    acks: &'a mpsc::Sender<Ack>,
    persist: &'a Option<mpsc::Sender<(FragmentNumber, SealedFragment)>>,
    numbers: &'a mut VecDeque<(FragmentNumber, i64)>,
    sealed: &'a mut u64,
    last_timecode: i64,
    publisher: &'a Publisher,
}

impl Ctx<'_> {
    async fn handle(&mut self, outs: Vec<Output>) -> Result<(), IngestError> {
        for out in outs {
            match out {
                Output::Started {
                    fragment_timecode_ms,
                    producer_ms,
                    server_ms,
                    track_header,
                } => {
                    let n = self
                        .ingest
                        .store
                        .allocate_fragment_number(self.stream.id)
                        .await
                        .map_err(|e| IngestError::new(AckErrorId::InternalError, e.to_string()))?;
                    self.numbers.push_back((n, fragment_timecode_ms));
                    self.publisher.start(FragmentStart {
                        number: n,
                        producer_ms,
                        server_ms,
                        tracks: track_header.tracks.clone(),
                    });
                    self.last_timecode = fragment_timecode_ms;
                    let _ = self
                        .acks
                        .send(Ack::Buffering {
                            timecode_ms: fragment_timecode_ms,
                            number: n,
                        })
                        .await;
                }
                Output::Frame {
                    track,
                    rel_ms,
                    keyframe,
                    data,
                } => {
                    if let Some(&(number, _)) = self.numbers.back() {
                        self.publisher.frame(LiveFrame {
                            number,
                            track,
                            rel_ms,
                            keyframe,
                            data,
                        });
                    }
                }
                Output::Sealed(f) => {
                    let Some((n, tc)) = self.numbers.pop_front() else {
                        return Err(IngestError::new(
                            AckErrorId::InternalError,
                            "a sealed fragment without a number",
                        ));
                    };
                    *self.sealed += 1;
                    self.publisher.end(FragmentEnd {
                        number: n,
                        duration_ms: f.duration_ms,
                        tags: f.trailer.tags.clone(),
                    });
                    let _ = self
                        .acks
                        .send(Ack::Received {
                            timecode_ms: tc,
                            number: n,
                        })
                        .await;
                    if let Some(p) = self.persist
                        && p.send((n, f)).await.is_err()
                    {
                        return Err(IngestError::new(
                            AckErrorId::ArchivalError,
                            "the persister stopped",
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Stores sealed fragments in order and sends their PERSISTED acks; on the first failure sends
/// ERROR 5001, raises `failed` and drops the rest.
async fn persister(
    store: crate::store::Store,
    mut rx: mpsc::Receiver<(FragmentNumber, SealedFragment)>,
    acks: mpsc::Sender<Ack>,
    failed: watch::Sender<bool>,
    publisher: Arc<Publisher>,
) {
    while let Some((number, f)) = rx.recv().await {
        if *failed.borrow() {
            publisher.aborted(number);
            continue;
        }
        let tc = f.fragment_timecode_ms;
        let draft = FragmentDraft {
            number,
            producer_ms: f.producer_ms,
            server_ms: f.server_ms,
            duration_ms: f.duration_ms,
            track_header: Arc::clone(&f.track_header),
            cluster: f.cluster,
            trailer: f.trailer,
        };
        match store.append_fragment(draft).await {
            Ok(_) => {
                publisher.persisted(number);
                let _ = acks
                    .send(Ack::Persisted {
                        timecode_ms: tc,
                        number,
                    })
                    .await;
            }
            Err(e) => {
                publisher.aborted(number);
                tracing::error!(fragment = %number, error = %e, "fragment not persisted");
                let err = IngestError::new(AckErrorId::ArchivalError, e.to_string());
                let _ = acks.send(error_ack(&err, tc, Some(number))).await;
                let _ = failed.send(true);
            }
        }
    }
}
