//! Fuzzes reader → writer → reader: whatever `mkv::Reader` finds in arbitrary input (up to an
//! error, if any), written back with the `mkv` writer functions, must read back without error
//! and give the same frames, tracks, tags, info and cluster timecodes
//! (`vidstream::mkv::roundtrip::essence`). Modeled on retina's `roundtrip_rtsp_message`.
//!
//! Input layout: one options byte (bit 0: write known-size Clusters instead of unknown-size
//! ones), then the document. Seeds: `fuzz/seed_corpus.sh`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vidstream::mkv::roundtrip::{essence, write_events};
use vidstream::mkv::{Event, Limits, ParseError, Reader};

fn read(data: &[u8], limits: Limits) -> (Vec<Event>, Option<ParseError>) {
    let mut reader = Reader::new(limits);
    reader.push(data);
    let mut events = Vec::new();
    loop {
        match reader.pull() {
            Ok(Some(event)) => events.push(event),
            Ok(None) => break,
            Err(error) => return (events, Some(error)),
        }
    }
    match reader.finish() {
        Ok(rest) => {
            events.extend(rest);
            (events, None)
        }
        Err(error) => (events, Some(error)),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&options, document)) = data.split_first() else {
        return;
    };
    let limits = Limits::default();
    let (events, _) = read(document, limits);

    let mut rewritten = Vec::new();
    write_events(&mut rewritten, &events, options & 1 == 1);
    // The writer fills in defaults the input may have left out (an 8-byte Duration for a
    // 4-byte one, SamplingFrequency...), so metadata may grow a little; every other limit is
    // per item and applies to what was read, so it holds for what is written.
    let relaxed = Limits {
        max_metadata_bytes: 2 * limits.max_metadata_bytes,
        ..limits
    };
    let (again, error) = read(&rewritten, relaxed);
    assert_eq!(error, None, "the writer's output must parse");
    assert!(
        essence(&again) == essence(&events),
        "round trip changed the content"
    );
});
