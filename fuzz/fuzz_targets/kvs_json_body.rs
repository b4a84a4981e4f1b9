//! Fuzzes the JSON request bodies of every KVS (and vidstream) operation that reads one:
//! control plane (CreateStream, tags, ...), archived media (ListFragments,
//! GetMediaForFragmentList, GetClip, GetImages, HLS/DASH session URLs), media (GetMedia), and
//! the admin API (keys, users, cameras, login, consumer checkpoints).
//!
//! Checks, for every input: no panic; the body is read exactly as the operation's handler reads
//! it (`vidstream::api::fuzz::json_bodies`: the `KvsJson` extractor's parsing, then the
//! handler's body-only checks where it has them); a refused body is a client error in the KVS
//! shape (status, `x-amzn-ErrorType`, `{"__type", "message"}`), never an internal error; an
//! accepted body is JSON (or blank, which reads as `{}`).
//!
//! Input layout: byte 0 picks the operation (modulo their number), the rest is the body.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use vidstream::api::fuzz::{BodyCheck, json_bodies};

#[path = "common/kvs_error.rs"]
mod kvs_error;

static OPERATIONS: LazyLock<Vec<(&'static str, BodyCheck)>> = LazyLock::new(json_bodies);

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let (path, check) = OPERATIONS[usize::from(pick) % OPERATIONS.len()];
    match check(body) {
        Ok(()) => assert!(
            body.iter().all(u8::is_ascii_whitespace)
                || serde_json::from_slice::<serde_json::Value>(body).is_ok(),
            "{path} accepted a body that is not JSON"
        ),
        Err(e) => kvs_error::assert_kvs_error(e, path),
    }
});
