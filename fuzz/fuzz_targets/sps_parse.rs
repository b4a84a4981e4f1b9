//! Fuzzes the SPS reader (`media::sps`): H.264/H.265 configuration records, SPS NAL units and
//! length-prefixed frames, as a producer or a camera sends them.
//!
//! Checks, for every input: no panic; a parsed picture has a non-zero size within what 16-bit
//! SPS fields can say, and its byte estimate does not overflow.
//!
//! Input layout: byte 0 picks the codec (even: H.264, odd: H.265) and the length-prefix size of
//! the frame walk; the rest is read as a configuration record, as one NAL unit, and as a frame.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use vidstream::media::Codec;
use vidstream::media::sps;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let bytes = Bytes::copy_from_slice(rest);
    let codec = if pick % 2 == 0 {
        Codec::H264 { avcc: bytes }
    } else {
        Codec::H265 { hvcc: bytes }
    };
    let check = |p: sps::PictureInfo| {
        assert!(p.pixels() > 0);
        let _ = p.picture_bytes();
    };
    if let Ok(params) = sps::params(&codec) {
        assert!(matches!(params.length_size, 1 | 2 | 4));
        if let Some(p) = params.picture {
            check(p);
        }
    }
    if let Ok(Some(p)) = sps::sps(&codec, rest) {
        check(p);
    }
    let length_size = [1, 2, 4][usize::from(pick / 2) % 3];
    for nal in sps::nal_units(rest, length_size).take(64) {
        let Ok(nal) = nal else { break };
        if let Ok(Some(p)) = sps::sps(&codec, nal) {
            check(p);
        }
    }
});
