//! Fuzzes `mkv::Reader` with arbitrary bytes split into arbitrary chunks.
//!
//! Checks, for every input: no panic; `check_invariants()` holds after every push and every
//! drain; after draining, the reader holds at most one element (bounded by `Limits`); and the
//! chunk boundaries make no difference (same events and same error as one big push).
//!
//! Input layout: the first byte picks the limits (bit 0: tiny limits, so they are hit often);
//! chunk lengths are then read from the end of the data and chunk bytes from the front, as
//! `arbitrary` reads lengths. So a seed that is an options byte followed by a Matroska file (see
//! `fuzz/seed_corpus.sh`) is read as that file, in chunks.

#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use vidstream::mkv::{Event, Limits, ParseError, Reader};

const TINY: Limits = Limits {
    max_block_bytes: 1024,
    max_codec_private_bytes: 64,
    max_tracks: 2,
    max_tag_name_bytes: 8,
    max_tag_value_bytes: 16,
    max_simple_tags: 4,
    max_metadata_bytes: 512,
};

#[derive(Debug)]
struct Input<'a> {
    limits: Limits,
    chunks: Vec<&'a [u8]>,
}

impl<'a> Arbitrary<'a> for Input<'a> {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let options: u8 = u.arbitrary()?;
        let limits = if options & 1 == 1 {
            TINY
        } else {
            Limits::default()
        };
        let mut chunks = Vec::new();
        while !u.is_empty() {
            let len = u.arbitrary_len::<u8>()?;
            if u.is_empty() {
                break;
            }
            chunks.push(u.bytes(len.clamp(1, u.len()))?);
        }
        Ok(Input { limits, chunks })
    }
}

/// Pulls until the reader needs more input or fails.
fn drain(reader: &mut Reader, events: &mut Vec<Event>) -> Option<ParseError> {
    loop {
        match reader.pull() {
            Ok(Some(event)) => events.push(event),
            Ok(None) => return None,
            Err(error) => return Some(error),
        }
    }
}

fn read(chunks: &[&[u8]], limits: Limits) -> (Vec<Event>, Option<ParseError>) {
    // At most one element being taken whole (a block, or metadata), plus a partial header.
    let bound = limits.max_metadata_bytes + limits.max_block_bytes + 64 * 1024;
    let mut reader = Reader::new(limits);
    let mut events = Vec::new();
    for chunk in chunks {
        reader.push(chunk);
        reader.check_invariants();
        let error = drain(&mut reader, &mut events);
        reader.check_invariants();
        assert!(
            reader.buffered() as u64 <= bound,
            "holds {} bytes",
            reader.buffered()
        );
        if let Some(error) = error {
            // A poisoned reader keeps failing the same way and drops what it is given.
            reader.push(chunk);
            reader.check_invariants();
            assert_eq!(reader.pull(), Err(error.clone()));
            assert_eq!(reader.buffered(), 0);
            return (events, Some(error));
        }
    }
    match reader.finish() {
        Ok(rest) => {
            reader.check_invariants();
            events.extend(rest);
            (events, None)
        }
        Err(error) => (events, Some(error)),
    }
}

fuzz_target!(|input: Input| {
    let chunked = read(&input.chunks, input.limits);
    let whole = input.chunks.concat();
    let at_once = read(&[&whole], input.limits);
    assert!(chunked == at_once, "chunking changed the result");
});
