//! The streaming Matroska reader: bytes in through [`Reader::push`], [`Event`]s out through
//! [`Reader::pull`].
//!
//! # Design
//! The reader is a small state machine over one buffer. At each step it is either expecting an
//! element header, skipping the data of an element it does not use, or waiting until an element
//! it uses is buffered whole. Only two elements are ever *entered* (their children parsed as
//! they stream by): Segment and Cluster, which may have unknown sizes and may be gigabytes long.
//! Everything else the reader uses is small and taken whole: metadata (EBML header, Info,
//! Tracks, Tags) up to `max_metadata_bytes`, blocks up to `max_block_bytes`. So the reader holds
//! at most one element plus a partial header, whatever the input, and a declared size is
//! always compared with its limit before any byte of it is buffered.
//!
//! An unknown-size element ends where its parent ends, or where an element appears that cannot
//! be its child (RFC 8794 §6.2): a Cluster ends at the next Cluster, Tags, Cues..., a Segment
//! at the next EBML header (KVS GetMedia output is a concatenation of documents).
//!
//! Frames are zero-copy slices of the buffer (`Bytes::split_to` + `freeze`).
//!
//! After an error the reader is poisoned: it drops its buffer, ignores further input and
//! returns the same error from every call, so a caller cannot accidentally resynchronize on
//! garbage.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use super::block::{self, Block, FLAG_DISCARDABLE, FLAG_INVISIBLE, FLAG_KEYFRAME};
use super::ebml::{self, Fault, Size};
use super::{Event, Frame, Limits, ParseError, ParseErrorKind, ids, meta};

#[cfg(test)]
mod tests;

/// Room for a BlockGroup's small children (BlockDuration, ReferenceBlock, BlockAdditions...)
/// on top of its Block, which alone is bounded by `max_block_bytes`.
const BLOCK_GROUP_SLACK: u64 = 16 * 1024;

/// A streaming, sans-IO Matroska reader. See the [module docs](super).
#[derive(Debug)]
pub struct Reader {
    limits: Limits,
    /// Bytes received and not yet consumed; `buf[0]` is at input offset `pos`.
    buf: BytesMut,
    /// Input offset of the next byte to parse.
    pos: u64,
    state: State,
    /// The open Segment and (inside it) Cluster, outermost first.
    stack: Vec<Open>,
    /// Events produced but not yet pulled (a laced block gives several at once).
    pending: VecDeque<Event>,
    /// An EBML header has been read and its Segment has not started yet.
    awaiting_segment: bool,
    /// Set on the first error; from then on every call returns it.
    error: Option<ParseError>,
}

/// What the reader expects next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// An element header at `pos`.
    Header,
    /// The rest of an element being skipped.
    Skip { id: u32, start: u64, remaining: u64 },
    /// The data of an element taken whole, `size` bytes (at most its limit).
    Whole {
        id: u32,
        start: u64,
        kind: Whole,
        size: usize,
    },
}

/// Elements the reader buffers whole and turns into events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Whole {
    EbmlHeader,
    Info,
    Tracks,
    Tags,
    Timecode,
    SimpleBlock,
    BlockGroup,
}

/// An entered element: Segment or Cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Open {
    id: u32,
    /// Input offset of its ID.
    start: u64,
    /// Where its data ends: its own end for a known size, else its parent's (None if that is
    /// unknown too).
    end: Option<u64>,
    /// Declared with unknown size: ends when a non-child element appears.
    unknown_size: bool,
    /// Cluster only: its Timecode, once read (ClusterStart has then been emitted).
    timecode: Option<u64>,
}

/// What to do with an element, given where it appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Enter it (Segment, Cluster).
    Enter,
    /// Buffer it whole and parse it.
    Take(Whole),
    /// Skip its data.
    Skip,
    /// It cannot be a child of the open unknown-size element: close that element first.
    Close,
    /// It is not allowed here.
    Unexpected,
}

/// An element header that passed the checks, and what will be done with the element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Enter(Size),
    Take(Whole, usize),
    Skip(u64),
}

/// The result of one step of the state machine.
enum Step {
    Progress,
    NeedMore,
}

impl Reader {
    /// A reader at the start of the input.
    pub fn new(limits: Limits) -> Self {
        Reader {
            limits,
            buf: BytesMut::new(),
            pos: 0,
            state: State::Header,
            stack: Vec::with_capacity(2),
            pending: VecDeque::new(),
            awaiting_segment: false,
            error: None,
        }
    }

    /// Appends input. Data of a skipped element is dropped here without being buffered.
    /// After an error the input is ignored.
    pub fn push(&mut self, mut data: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if let State::Skip { remaining, .. } = &mut self.state
            && self.buf.is_empty()
        {
            let n = usize::try_from(*remaining).map_or(data.len(), |r| r.min(data.len()));
            data = data.get(n..).unwrap_or_default();
            *remaining -= n as u64;
            self.pos += n as u64;
            if *remaining == 0 {
                self.state = State::Header;
            }
        }
        self.buf.extend_from_slice(data);
    }

    /// The next event; `Ok(None)` when more input is needed.
    pub fn pull(&mut self) -> Result<Option<Event>, ParseError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(Some(event));
            }
            match self.step() {
                Ok(Step::Progress) => {}
                Ok(Step::NeedMore) => return Ok(None),
                Err(error) => return Err(self.poison(error)),
            }
        }
    }

    /// Ends the input: returns the remaining events, then closes the open unknown-size Cluster
    /// and Segment (`ClusterEnd`, `SegmentEnd`). Fails with [`ParseErrorKind::Truncated`] if the
    /// input stops inside an element whose end is known, or in the middle of any element.
    pub fn finish(&mut self) -> Result<Vec<Event>, ParseError> {
        let mut events = Vec::new();
        while let Some(event) = self.pull()? {
            events.push(event);
        }
        let truncated = match self.state {
            State::Skip { id, start, .. } | State::Whole { id, start, .. } => Some((start, id)),
            State::Header if !self.buf.is_empty() => Some((self.pos, 0)),
            State::Header => self
                .stack
                .iter()
                .rev()
                .find(|open| !open.unknown_size)
                .map(|open| (open.start, 0)),
        };
        if let Some((offset, id)) = truncated {
            let error = self.error(offset, &[id], ParseErrorKind::Truncated);
            return Err(self.poison(error));
        }
        while !self.stack.is_empty() {
            self.close();
        }
        events.extend(self.pending.drain(..));
        Ok(events)
    }

    /// Input bytes consumed (parsed or skipped) so far: the input offset of the next byte to
    /// parse.
    pub fn offset(&self) -> u64 {
        self.pos
    }

    /// Input bytes held in the buffer, waiting to be parsed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Panics if the internal state is inconsistent. Public (and hidden) only so the fuzz
    /// targets in `fuzz/` can call it after every push; it is not part of the API.
    #[doc(hidden)]
    pub fn check_invariants(&self) {
        if self.error.is_some() {
            assert!(self.buf.is_empty(), "a poisoned reader keeps no input");
            assert!(self.pending.is_empty() && self.stack.is_empty());
            return;
        }
        assert!(
            self.stack.len() <= 2,
            "only Segment and Cluster are entered"
        );
        let mut parent_end = None;
        for (depth, open) in self.stack.iter().enumerate() {
            let want = if depth == 0 {
                ids::SEGMENT
            } else {
                ids::CLUSTER
            };
            assert_eq!(open.id, want, "stack {:?}", self.stack);
            assert!(
                open.start < self.pos,
                "an entered element's header was consumed"
            );
            if let Some(end) = open.end {
                assert!(self.pos <= end, "consumed past the end of {open:?}");
                assert!(
                    parent_end.is_none_or(|p| end <= p),
                    "child ends after parent"
                );
            } else {
                assert!(open.unknown_size && parent_end.is_none());
            }
            assert!(open.timecode.is_none_or(|tc| i64::try_from(tc).is_ok()));
            assert!(open.id == ids::CLUSTER || open.timecode.is_none());
            parent_end = open.end;
        }
        assert!(!self.awaiting_segment || self.stack.is_empty());
        let fits = |len: u64| parent_end.is_none_or(|end| self.pos.saturating_add(len) <= end);
        match self.state {
            State::Header => {}
            State::Skip {
                start, remaining, ..
            } => {
                assert!(remaining > 0, "a finished skip returns to Header");
                assert!(start < self.pos && fits(remaining));
            }
            State::Whole {
                start, kind, size, ..
            } => {
                assert!(size as u64 <= self.limit(kind), "{kind:?} of {size} bytes");
                assert!(start < self.pos && fits(size as u64));
            }
        }
        assert!(self.pending.len() <= 256, "at most one laced block pending");
    }

    /// Records `error`, drops everything held, and returns the error.
    fn poison(&mut self, error: ParseError) -> ParseError {
        self.error = Some(error.clone());
        self.buf = BytesMut::new();
        self.pending.clear();
        self.stack.clear();
        self.state = State::Header;
        error
    }

    /// An error at `offset`, with the path of the open elements followed by `path` (IDs; 0 is
    /// left out, for "no element").
    fn error(&self, offset: u64, path: &[u32], kind: ParseErrorKind) -> ParseError {
        let names: Vec<&str> = self
            .stack
            .iter()
            .map(|open| open.id)
            .chain(path.iter().copied().filter(|&id| id != 0))
            .map(ids::name)
            .collect();
        let path = if names.is_empty() {
            "top level".to_owned()
        } else {
            names.join("/")
        };
        ParseError { offset, path, kind }
    }

    fn limit(&self, kind: Whole) -> u64 {
        match kind {
            Whole::EbmlHeader | Whole::Info | Whole::Tracks | Whole::Tags => {
                self.limits.max_metadata_bytes
            }
            Whole::Timecode => 8,
            Whole::SimpleBlock => self.limits.max_block_bytes,
            Whole::BlockGroup => self
                .limits
                .max_block_bytes
                .saturating_add(BLOCK_GROUP_SLACK),
        }
    }

    fn step(&mut self) -> Result<Step, ParseError> {
        match self.state {
            State::Header => {
                if let Some(open) = self.stack.last()
                    && open.end == Some(self.pos)
                {
                    self.close();
                    return Ok(Step::Progress);
                }
                self.step_header()
            }
            State::Skip {
                id,
                start,
                remaining,
            } => {
                let n =
                    usize::try_from(remaining).map_or(self.buf.len(), |r| r.min(self.buf.len()));
                if n == 0 {
                    return Ok(Step::NeedMore);
                }
                self.buf.advance(n);
                self.pos += n as u64;
                let remaining = remaining - n as u64;
                self.state = if remaining == 0 {
                    State::Header
                } else {
                    State::Skip {
                        id,
                        start,
                        remaining,
                    }
                };
                Ok(Step::Progress)
            }
            State::Whole {
                id,
                start,
                kind,
                size,
            } => {
                if self.buf.len() < size {
                    return Ok(Step::NeedMore);
                }
                let data = self.buf.split_to(size).freeze();
                let data_offset = self.pos;
                self.pos += size as u64;
                self.state = State::Header;
                self.take(kind, data, data_offset).map_err(|fault| {
                    // A fault with an empty path is in the element itself: point at its ID.
                    let offset = if fault.path.is_empty() {
                        start
                    } else {
                        fault.offset
                    };
                    let mut path = vec![id];
                    path.extend(fault.path);
                    self.error(offset, &path, fault.kind)
                })?;
                Ok(Step::Progress)
            }
        }
    }

    /// Closes the innermost entered element, emitting its end event.
    fn close(&mut self) {
        let Some(open) = self.stack.pop() else {
            return;
        };
        if open.id == ids::SEGMENT {
            self.pending.push_back(Event::SegmentEnd);
        } else if open.timecode.is_some() {
            // A Cluster that never had a Timecode never started, so it does not end either.
            self.pending.push_back(Event::ClusterEnd);
        }
    }

    /// What to do with element `id` at the current position.
    fn action(&self, id: u32) -> Action {
        let Some(parent) = self.stack.last() else {
            return match id {
                ids::EBML => Action::Take(Whole::EbmlHeader),
                ids::SEGMENT if self.awaiting_segment => Action::Enter,
                // Padding between documents, but the input must start with an EBML header.
                ids::VOID | ids::CRC32 if self.pos > 0 => Action::Skip,
                _ => Action::Unexpected,
            };
        };
        // `foreign`: an element that cannot be a child of `parent`.
        let foreign = if parent.id == ids::SEGMENT {
            match id {
                ids::INFO => return Action::Take(Whole::Info),
                ids::TRACKS => return Action::Take(Whole::Tracks),
                ids::TAGS => return Action::Take(Whole::Tags),
                ids::CLUSTER => return Action::Enter,
                // SeekHead, Cues, Chapters, Attachments, Void, CRC-32, unknown IDs are skipped.
                _ => id == ids::EBML || id == ids::SEGMENT,
            }
        } else {
            match id {
                ids::TIMECODE => return Action::Take(Whole::Timecode),
                ids::SIMPLE_BLOCK => return Action::Take(Whole::SimpleBlock),
                ids::BLOCK_GROUP => return Action::Take(Whole::BlockGroup),
                // Position, PrevSize, Void, CRC-32, unknown IDs are skipped.
                _ => id == ids::EBML || id == ids::SEGMENT || ids::is_segment_child(id),
            }
        };
        match (foreign, parent.unknown_size) {
            (true, true) => Action::Close,
            (true, false) => Action::Unexpected,
            (false, _) => Action::Skip,
        }
    }

    fn step_header(&mut self) -> Result<Step, ParseError> {
        let header = match ebml::read_header(&self.buf) {
            Ok(Some(header)) => header,
            Ok(None) => return Ok(Step::NeedMore),
            Err(kind) => return Err(self.error(self.pos, &[], kind)),
        };
        let (id, start) = (header.id, self.pos);
        let fail = |this: &Self, kind| Err(this.error(start, &[id], kind));
        let plan = match (self.action(id), header.size) {
            (Action::Close, _) => {
                self.close();
                return Ok(Step::Progress);
            }
            (Action::Unexpected, _) => return fail(self, ParseErrorKind::Unexpected { id }),
            (Action::Take(_) | Action::Skip, Size::Unknown) => {
                return fail(self, ParseErrorKind::UnknownSize { id });
            }
            (Action::Enter, size) => Plan::Enter(size),
            (Action::Skip, Size::Known(size)) => Plan::Skip(size),
            (Action::Take(kind), Size::Known(size)) => {
                // The limit is checked before anything else, and before any byte is buffered.
                let limit = self.limit(kind);
                if size > limit {
                    return fail(self, ParseErrorKind::TooLarge { id, size, limit });
                }
                // A limit above usize::MAX cannot be honoured (32-bit targets): refuse.
                let Ok(size) = usize::try_from(size) else {
                    let limit = usize::MAX as u64;
                    return fail(self, ParseErrorKind::TooLarge { id, size, limit });
                };
                let is_block = matches!(kind, Whole::SimpleBlock | Whole::BlockGroup);
                if is_block && self.stack.last().is_some_and(|c| c.timecode.is_none()) {
                    return fail(self, ParseErrorKind::MissingClusterTimecode);
                }
                Plan::Take(kind, size)
            }
        };
        // The element, header included, must fit in its parent.
        let parent_end = self.stack.last().and_then(|open| open.end);
        let data_start = start + header.len as u64;
        let declared = match plan {
            Plan::Enter(Size::Unknown) => None,
            Plan::Enter(Size::Known(size)) | Plan::Skip(size) => Some(size),
            Plan::Take(_, size) => Some(size as u64),
        };
        let end = match declared {
            Some(size) => match data_start.checked_add(size) {
                Some(end) => Some(end),
                None => return fail(self, ParseErrorKind::Overrun { id }),
            },
            None => None,
        };
        if let Some(parent_end) = parent_end
            && end.unwrap_or(data_start) > parent_end
        {
            return fail(self, ParseErrorKind::Overrun { id });
        }
        self.buf.advance(header.len);
        self.pos = data_start;
        match plan {
            Plan::Enter(size) => {
                if id == ids::SEGMENT {
                    self.awaiting_segment = false;
                    self.pending
                        .push_back(Event::SegmentStart { size: declared });
                }
                self.stack.push(Open {
                    id,
                    start,
                    end: end.or(parent_end),
                    unknown_size: size == Size::Unknown,
                    timecode: None,
                });
            }
            Plan::Take(kind, size) => {
                self.state = State::Whole {
                    id,
                    start,
                    kind,
                    size,
                }
            }
            Plan::Skip(0) => {}
            Plan::Skip(remaining) => {
                self.state = State::Skip {
                    id,
                    start,
                    remaining,
                }
            }
        }
        Ok(Step::Progress)
    }

    /// Parses an element taken whole; `offset` is where its data starts.
    fn take(&mut self, kind: Whole, data: Bytes, offset: u64) -> Result<(), Fault> {
        let event = match kind {
            Whole::EbmlHeader => {
                self.awaiting_segment = true;
                Event::Header(meta::parse_ebml_header(data, offset)?)
            }
            Whole::Info => Event::Info(meta::parse_info(data, offset)?),
            Whole::Tracks => Event::Tracks(meta::parse_tracks(data, offset, &self.limits)?),
            Whole::Tags => Event::Tags(meta::parse_tags(data, offset, &self.limits)?),
            Whole::Timecode => self.cluster_timecode(&data, offset)?,
            Whole::SimpleBlock => {
                let block = block::parse_block(data).map_err(|kind| at(offset, kind))?;
                let keyframe = block.flags & FLAG_KEYFRAME != 0;
                return self.emit_frames(block, keyframe, None, offset);
            }
            Whole::BlockGroup => {
                let group = block::parse_block_group(data, offset, self.limits.max_block_bytes)?;
                let keyframe = !group.referenced;
                return self.emit_frames(group.block, keyframe, group.duration, offset);
            }
        };
        self.pending.push_back(event);
        Ok(())
    }

    fn cluster_timecode(&mut self, data: &[u8], offset: u64) -> Result<Event, Fault> {
        let timecode = ebml::read_uint(data).map_err(|kind| at(offset, kind))?;
        if i64::try_from(timecode).is_err() {
            let kind = ParseErrorKind::InvalidValue(format!("cluster timecode {timecode}"));
            return Err(at(offset, kind));
        }
        let cluster = self
            .stack
            .last_mut()
            .expect("Timecode is only taken inside a Cluster");
        if cluster.timecode.is_some() {
            return Err(at(offset, ParseErrorKind::Unexpected { id: ids::TIMECODE }));
        }
        cluster.timecode = Some(timecode);
        Ok(Event::ClusterStart {
            timecode,
            offset: cluster.start,
        })
    }

    fn emit_frames(
        &mut self,
        block: Block,
        keyframe: bool,
        duration: Option<u64>,
        offset: u64,
    ) -> Result<(), Fault> {
        let cluster_timecode = self
            .stack
            .last()
            .and_then(|cluster| cluster.timecode)
            .expect("blocks are only taken in a Cluster with a Timecode");
        // Checked to fit an i64 when the Timecode was read.
        let timecode = (cluster_timecode as i64)
            .checked_add(i64::from(block.rel_timecode))
            .ok_or_else(|| {
                at(
                    offset,
                    ParseErrorKind::InvalidValue("block timecode overflows".into()),
                )
            })?;
        let count = block.frames.len() as u32;
        for (index, data) in block.frames.into_iter().enumerate() {
            self.pending.push_back(Event::Frame(Frame {
                track: block.track,
                timecode,
                keyframe,
                invisible: block.flags & FLAG_INVISIBLE != 0,
                discardable: block.flags & FLAG_DISCARDABLE != 0,
                duration,
                lace: (index as u32, count),
                data,
            }));
        }
        Ok(())
    }
}

/// A fault in the element taken whole itself (an empty path; the reader reports the element's
/// own offset for it).
fn at(offset: u64, kind: ParseErrorKind) -> Fault {
    Fault {
        offset,
        path: Vec::new(),
        kind,
    }
}
