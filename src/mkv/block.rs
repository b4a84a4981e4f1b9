//! Blocks: the SimpleBlock and BlockGroup/Block layouts, and the three lacing schemes that pack
//! several frames into one block.
//!
//! A block is `track number (VINT) | relative timecode (i16 BE) | flags | [lacing] | frames`.
//! Frames are returned as zero-copy slices of the block's bytes. Every size read from a lacing
//! header is checked against what the block actually holds, so a bad header yields
//! [`ParseErrorKind::InvalidLacing`], never an out-of-bounds slice.
//!
//! Spec: RFC 9559 §10 (Block structure, SimpleBlock structure), §10.4 (lacing).

use bytes::Bytes;

use super::ebml::{self, Children, Fault};
use super::{ParseErrorKind, ids};

/// SimpleBlock flag: the frame is a keyframe (reserved in a BlockGroup's Block).
pub(crate) const FLAG_KEYFRAME: u8 = 0x80;
/// Block flag: the frame is decoded but not shown.
pub(crate) const FLAG_INVISIBLE: u8 = 0x08;
/// SimpleBlock flag: the frame may be dropped under load (reserved in a Block).
pub(crate) const FLAG_DISCARDABLE: u8 = 0x01;
/// The two lacing bits.
const LACING_MASK: u8 = 0x06;
const LACING_XIPH: u8 = 0x02;
const LACING_FIXED: u8 = 0x04;
const LACING_EBML: u8 = 0x06;

/// A parsed block, frames split out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    pub track: u64,
    pub rel_timecode: i16,
    pub flags: u8,
    /// One entry when not laced; 1 to 256 when laced.
    pub frames: Vec<Bytes>,
}

/// Parses a SimpleBlock's or Block's data.
pub(crate) fn parse_block(data: Bytes) -> Result<Block, ParseErrorKind> {
    let short = || ParseErrorKind::InvalidValue("block shorter than its header".into());
    let (track, track_len) = ebml::read_vint(&data)?.ok_or_else(short)?;
    if track > ebml::MAX_KNOWN_SIZE {
        // The 8-byte all-ones VINT: no TrackNumber can be written back as it (it is the
        // reserved "unknown" pattern), so no track can own this block.
        let message = "block track number is the reserved all-ones VINT".into();
        return Err(ParseErrorKind::InvalidValue(message));
    }
    let Some(&[tc_hi, tc_lo, flags]) = data.get(track_len..track_len + 3) else {
        return Err(short());
    };
    let rel_timecode = i16::from_be_bytes([tc_hi, tc_lo]);
    let body = data.slice(track_len + 3..);
    let frames = match flags & LACING_MASK {
        0 => vec![body],
        lacing => unlace(body, lacing)?,
    };
    Ok(Block {
        track,
        rel_timecode,
        flags,
        frames,
    })
}

/// Splits a laced block body (`frame count - 1`, lace sizes, frames) into its frames.
fn unlace(body: Bytes, lacing: u8) -> Result<Vec<Bytes>, ParseErrorKind> {
    let bad = ParseErrorKind::InvalidLacing;
    let (&count_minus_one, _) = body.split_first().ok_or(bad.clone())?;
    let count = usize::from(count_minus_one) + 1;
    let mut pos = 1;
    // Sizes of all frames but the last, which takes whatever remains.
    let mut sizes = Vec::with_capacity(count);
    match lacing {
        LACING_XIPH => {
            for _ in 1..count {
                let mut size = 0usize;
                loop {
                    let &b = body.get(pos).ok_or(bad.clone())?;
                    pos += 1;
                    size = size.checked_add(usize::from(b)).ok_or(bad.clone())?;
                    if b != 255 {
                        break;
                    }
                }
                sizes.push(size);
            }
        }
        LACING_EBML => {
            // The first size is a plain VINT; the next ones are signed differences from the
            // previous size (the VINT value minus 2^(7n-1) - 1 for an n-byte VINT).
            let mut previous = 0i64;
            for i in 1..count {
                let rest = body.get(pos..).unwrap_or_default();
                let (raw, len) = ebml::read_vint(rest)?.ok_or(bad.clone())?;
                pos += len;
                let size = if i == 1 {
                    i64::try_from(raw).map_err(|_| bad.clone())?
                } else {
                    let bias = (1i64 << (7 * len - 1)) - 1;
                    // `raw` < 2^56, so it fits an i64 and the subtraction cannot overflow.
                    previous.checked_add(raw as i64 - bias).ok_or(bad.clone())?
                };
                previous = size;
                sizes.push(usize::try_from(size).map_err(|_| bad.clone())?);
            }
        }
        _ => {
            debug_assert_eq!(lacing, LACING_FIXED);
            let total = body.len() - pos;
            if !total.is_multiple_of(count) {
                return Err(bad);
            }
            sizes.resize(count - 1, total / count);
        }
    }
    let mut frames = Vec::with_capacity(count);
    for size in sizes {
        let end = pos.checked_add(size).filter(|&end| end <= body.len());
        let end = end.ok_or(bad.clone())?;
        frames.push(body.slice(pos..end));
        pos = end;
    }
    frames.push(body.slice(pos..));
    Ok(frames)
}

/// The parts of a BlockGroup vidstream uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlockGroup {
    pub block: Block,
    /// BlockDuration, in timecode units.
    pub duration: Option<u64>,
    /// Whether any ReferenceBlock is present: the block then depends on another, so it is not a
    /// keyframe.
    pub referenced: bool,
}

/// Parses a BlockGroup's data (held whole, starting at input offset `base`). Its Block must be
/// at most `max_block_bytes`.
pub(crate) fn parse_block_group(
    data: Bytes,
    base: u64,
    max_block_bytes: u64,
) -> Result<BlockGroup, Fault> {
    let mut block = None;
    let mut duration = None;
    let mut referenced = false;
    for child in Children::new(data, base) {
        let child = child?;
        match child.id {
            ids::BLOCK => {
                let size = child.data.len() as u64;
                if size > max_block_bytes {
                    let kind = ParseErrorKind::TooLarge {
                        id: ids::BLOCK,
                        size,
                        limit: max_block_bytes,
                    };
                    return Err(Fault::at(&child, kind));
                }
                if block.is_some() {
                    let kind = ParseErrorKind::Unexpected { id: ids::BLOCK };
                    return Err(Fault::at(&child, kind));
                }
                let parsed = parse_block(child.data.clone()).map_err(|k| Fault::at(&child, k))?;
                block = Some(parsed);
            }
            ids::BLOCK_DURATION => {
                duration = Some(ebml::read_uint(&child.data).map_err(|k| Fault::at(&child, k))?);
            }
            ids::REFERENCE_BLOCK => {
                ebml::read_int(&child.data).map_err(|k| Fault::at(&child, k))?;
                referenced = true;
            }
            _ => {} // BlockAdditions, ReferencePriority, DiscardPadding, Void...
        }
    }
    let block = block.ok_or_else(|| Fault {
        offset: base,
        path: Vec::new(),
        kind: ParseErrorKind::InvalidValue("BlockGroup without Block".into()),
    })?;
    Ok(BlockGroup {
        block,
        duration,
        referenced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(bytes: &[u8]) -> Result<Block, ParseErrorKind> {
        parse_block(Bytes::copy_from_slice(bytes))
    }

    fn frames(bytes: &[u8]) -> Result<Vec<Vec<u8>>, ParseErrorKind> {
        Ok(block(bytes)?.frames.iter().map(|f| f.to_vec()).collect())
    }

    #[test]
    fn unlaced() {
        let b = block(&[0x81, 0xFF, 0xFE, 0x80, 1, 2, 3]).unwrap();
        assert_eq!((b.track, b.rel_timecode, b.flags), (1, -2, 0x80));
        assert_eq!(b.frames, vec![Bytes::from_static(&[1, 2, 3])]);
        // Two-byte track number, empty frame.
        let b = block(&[0x40, 0x80, 0x00, 0x05, 0x00]).unwrap();
        assert_eq!((b.track, b.rel_timecode), (128, 5));
        assert_eq!(b.frames, vec![Bytes::new()]);
    }

    #[test]
    fn lacing_table() {
        // (block bytes after the 4-byte header [track 1, tc 0, flags], expected frames).
        type Case = (u8, &'static [u8], Result<Vec<Vec<u8>>, ParseErrorKind>);
        let invalid = Err(ParseErrorKind::InvalidLacing);
        let cases: &[Case] = &[
            // Xiph: 3 frames, sizes 2 and 1, last takes the rest (3).
            (
                LACING_XIPH,
                &[2, 2, 1, 0xA, 0xA, 0xB, 0xC, 0xC, 0xC],
                Ok(vec![vec![0xA, 0xA], vec![0xB], vec![0xC, 0xC, 0xC]]),
            ),
            // Xiph size 255 + 1 = 256 for the first of 2 frames.
            (LACING_XIPH, &[1, 255, 1], invalid.clone()),
            // Xiph size byte missing.
            (LACING_XIPH, &[1], invalid.clone()),
            // Fixed: 6 bytes into 3 frames.
            (
                LACING_FIXED,
                &[2, 1, 1, 2, 2, 3, 3],
                Ok(vec![vec![1, 1], vec![2, 2], vec![3, 3]]),
            ),
            // Fixed: 5 bytes do not split into 2.
            (LACING_FIXED, &[1, 1, 2, 3, 4, 5], invalid.clone()),
            // EBML: 3 frames; first size 2; then 0xC0, a 1-byte signed VINT: raw 64 minus the
            // bias 63 = +1, so size 3; the last takes the rest.
            (
                LACING_EBML,
                &[2, 0x82, 0xC0, 1, 1, 2, 2, 2, 3],
                Ok(vec![vec![1, 1], vec![2, 2, 2], vec![3]]),
            ),
            // EBML: difference making a size negative.
            (LACING_EBML, &[2, 0x81, 0x80, 1, 2], invalid.clone()),
            // EBML: sizes larger than the block.
            (LACING_EBML, &[1, 0x90, 1, 2], invalid.clone()),
            // Lacing flag set but no frame count byte.
            (LACING_EBML, &[], invalid.clone()),
            // One laced frame: no sizes at all.
            (LACING_XIPH, &[0, 7, 7], Ok(vec![vec![7, 7]])),
        ];
        for (lacing, body, want) in cases {
            let mut bytes = vec![0x81, 0, 0, *lacing];
            bytes.extend_from_slice(body);
            assert_eq!(&frames(&bytes), want, "lacing {lacing:#x} body {body:02x?}");
        }
    }

    #[test]
    fn xiph_lacing_of_255_and_more() {
        let mut bytes = vec![0x81, 0, 0, LACING_XIPH, 1, 255, 0];
        bytes.extend(std::iter::repeat_n(9, 255));
        bytes.push(8);
        let f = frames(&bytes).unwrap();
        assert_eq!((f[0].len(), f[1].as_slice()), (255, &[8][..]));
    }

    #[test]
    fn short_or_invalid_headers() {
        for bytes in [&[][..], &[0x81], &[0x81, 0], &[0x81, 0, 0], &[0x40]] {
            assert!(
                matches!(block(bytes), Err(ParseErrorKind::InvalidValue(_))),
                "{bytes:02x?}"
            );
        }
        assert_eq!(block(&[0x00, 0, 0, 0]), Err(ParseErrorKind::InvalidVint));
        let all_ones = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0x80];
        assert!(matches!(
            block(&all_ones),
            Err(ParseErrorKind::InvalidValue(_))
        ));
    }

    #[test]
    fn block_groups() {
        // Block(track 2, tc 1, frame [5]), BlockDuration 33, ReferenceBlock -33.
        let data = Bytes::from_static(&[
            0xA1, 0x85, 0x82, 0x00, 0x01, 0x00, 0x05, //
            0x9B, 0x81, 33, //
            0xFB, 0x81, 0xDF,
        ]);
        let group = parse_block_group(data, 0, 1000).unwrap();
        assert_eq!(group.block.track, 2);
        assert_eq!(group.duration, Some(33));
        assert!(group.referenced);

        let no_block = Bytes::from_static(&[0x9B, 0x81, 33]);
        let err = parse_block_group(no_block, 40, 1000).unwrap_err();
        assert_eq!(err.offset, 40);
        assert!(matches!(err.kind, ParseErrorKind::InvalidValue(_)));

        let big = Bytes::from_static(&[0xA1, 0x85, 0x82, 0x00, 0x01, 0x00, 0x05]);
        let err = parse_block_group(big, 10, 4).unwrap_err();
        assert_eq!((err.offset, err.path), (10, vec![ids::BLOCK]));
        assert_eq!(
            err.kind,
            ParseErrorKind::TooLarge {
                id: ids::BLOCK,
                size: 5,
                limit: 4
            }
        );
    }
}
