//! Fuzzes the JSON request bodies of every KVS (and vidstream) operation that reads one:
//! control plane (CreateStream, tags, ...), archived media (ListFragments,
//! GetMediaForFragmentList, GetClip, GetImages, HLS/DASH session URLs), media (GetMedia), and
//! the admin API (keys, users, cameras, login, consumer checkpoints).
//!
//! Checks, for every input: no panic; the body is read exactly as the operation's handler reads
//! it (`vidstream::api::fuzz::json_bodies`: the `KvsJson` extractor's parsing, then the
//! handler's body-only checks where it has them); a refused body is a client error in the KVS
//! shape (status, `x-amzn-ErrorType`, `{"__type", "message"}`), never an internal error; an
//! accepted body is UTF-8 JSON (or blank, which reads as `{}`).
//!
//! Input layout: byte 0 picks the operation (modulo their number), the rest is the body.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use vidstream::api::fuzz::{BodyCheck, json_bodies};

#[path = "common/kvs_error.rs"]
mod kvs_error;

static OPERATIONS: LazyLock<Vec<(&'static str, BodyCheck)>> = LazyLock::new(json_bodies);

/// Blank (read as `{}`), or UTF-8 text in the JSON grammar. Only the grammar: numbers of any
/// size are JSON (RFC 8259 §6), and an operation may skip a field whose number serde_json
/// would refuse as a value (`1e999`).
fn is_json(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace)
        || std::str::from_utf8(body)
            .is_ok_and(|text| serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok())
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let (path, check) = OPERATIONS[usize::from(pick) % OPERATIONS.len()];
    match check(body) {
        Ok(()) => assert!(is_json(body), "{path} accepted a body that is not JSON"),
        Err(e) => kvs_error::assert_kvs_error(e, path),
    }
});
