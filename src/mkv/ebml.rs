//! EBML primitives: variable-length integers, element headers, typed values, and a checked
//! iterator over the children of an element held whole in memory.
//!
//! Everything here works on byte slices and returns "need more bytes" as `Ok(None)` rather than
//! failing, so the streaming reader can call it on whatever it has buffered. Nothing indexes
//! without a bounds check or does unchecked arithmetic on values from the wire.
//!
//! Spec: RFC 8794 §4 (VINT), §5 (Element ID), §6 (Element Data Size, unknown size), §7 (types).

use bytes::Bytes;

use super::ParseErrorKind;

/// Longest Element ID we accept (EBMLMaxIDLength is 4 for Matroska).
pub(crate) const MAX_ID_LEN: usize = 4;
/// Longest element size (EBMLMaxSizeLength is 8 for Matroska).
pub(crate) const MAX_SIZE_LEN: usize = 8;
/// Largest size an 8-byte size field can hold; `2^56 - 1` itself means "unknown".
pub(crate) const MAX_KNOWN_SIZE: u64 = (1 << 56) - 2;

/// An element's declared data size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Size {
    /// A size in bytes.
    Known(u64),
    /// All data bits set: the element ends where its parent or a non-child element begins.
    Unknown,
}

/// A decoded element header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// Element ID, marker bit included.
    pub id: u32,
    /// Declared data size.
    pub size: Size,
    /// Bytes taken by the ID and the size.
    pub len: usize,
}

/// Length of a VINT from its first byte (the number of leading zeros + 1), or `None` for a
/// zero byte, which would announce more than 8 bytes.
fn vint_len(first: u8) -> Option<usize> {
    (first != 0).then(|| first.leading_zeros() as usize + 1)
}

/// Decodes a VINT at the start of `buf`: `(value without the marker bit, length)`.
/// `Ok(None)` when `buf` holds only part of it.
pub(crate) fn read_vint(buf: &[u8]) -> Result<Option<(u64, usize)>, ParseErrorKind> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let len = vint_len(first).ok_or(ParseErrorKind::InvalidVint)?;
    let Some(bytes) = buf.get(..len) else {
        return Ok(None);
    };
    // The marker bit is the only bit set at position 8 - len in the first byte; mask it off.
    let mut value = u64::from(first) & (0xFF >> len);
    for &b in bytes.get(1..).unwrap_or_default() {
        value = (value << 8) | u64::from(b);
    }
    Ok(Some((value, len)))
}

/// Decodes an element data size, recognizing the unknown-size marker (all data bits set, at any
/// length).
pub(crate) fn read_size(buf: &[u8]) -> Result<Option<(Size, usize)>, ParseErrorKind> {
    Ok(read_vint(buf)?.map(|(value, len)| {
        let all_ones = (1u64 << (7 * len)) - 1;
        let size = if value == all_ones {
            Size::Unknown
        } else {
            Size::Known(value)
        };
        (size, len)
    }))
}

/// Decodes an Element ID (kept with its marker bit). IDs longer than 4 bytes, and IDs whose data
/// bits are all 0 or all 1, are invalid (RFC 8794 §5).
pub(crate) fn read_id(buf: &[u8]) -> Result<Option<(u32, usize)>, ParseErrorKind> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let len = match vint_len(first) {
        Some(len) if len <= MAX_ID_LEN => len,
        _ => return Err(ParseErrorKind::InvalidVint),
    };
    let Some(bytes) = buf.get(..len) else {
        return Ok(None);
    };
    let id = bytes.iter().fold(0u32, |id, &b| (id << 8) | u32::from(b));
    let data_bits = id & ((1u32 << (7 * len)) - 1);
    if data_bits == 0 || data_bits == (1u32 << (7 * len)) - 1 {
        return Err(ParseErrorKind::InvalidVint);
    }
    Ok(Some((id, len)))
}

/// Decodes an element header (ID + size) at the start of `buf`.
pub(crate) fn read_header(buf: &[u8]) -> Result<Option<Header>, ParseErrorKind> {
    let Some((id, id_len)) = read_id(buf)? else {
        return Ok(None);
    };
    let Some((size, size_len)) = read_size(buf.get(id_len..).unwrap_or_default())? else {
        return Ok(None);
    };
    Ok(Some(Header {
        id,
        size,
        len: id_len + size_len,
    }))
}

/// An unsigned integer element's value: 0 to 8 big-endian bytes (RFC 8794 §7.2).
pub(crate) fn read_uint(data: &[u8]) -> Result<u64, ParseErrorKind> {
    if data.len() > 8 {
        return Err(ParseErrorKind::InvalidValue(format!(
            "{}-byte unsigned integer",
            data.len()
        )));
    }
    Ok(data.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b)))
}

/// A signed integer element's value: 0 to 8 big-endian two's-complement bytes (§7.1).
pub(crate) fn read_int(data: &[u8]) -> Result<i64, ParseErrorKind> {
    let Some(&first) = data.first() else {
        return Ok(0);
    };
    let raw = read_uint(data)
        .map_err(|_| ParseErrorKind::InvalidValue(format!("{}-byte signed integer", data.len())))?;
    // Sign-extend from the top bit of the first byte.
    let unused_bits = 64 - 8 * data.len() as u32;
    let value = if first & 0x80 != 0 && unused_bits > 0 {
        raw | (u64::MAX << (64 - unused_bits))
    } else {
        raw
    };
    Ok(value as i64)
}

/// A float element's value: 0, 4 or 8 bytes (§7.3).
pub(crate) fn read_float(data: &[u8]) -> Result<f64, ParseErrorKind> {
    match data.len() {
        0 => Ok(0.0),
        4 => Ok(f64::from(f32::from_bits(read_uint(data)? as u32))),
        8 => Ok(f64::from_bits(read_uint(data)?)),
        n => Err(ParseErrorKind::InvalidValue(format!("{n}-byte float"))),
    }
}

/// A String or UTF-8 element's value with trailing NULs removed (§7.4, §7.5: writers may pad with
/// NULs, and GStreamer does). Invalid UTF-8 is replaced rather than refused: a camera that
/// writes a Latin-1 title should not have its upload rejected for it.
pub(crate) fn read_string(data: &[u8]) -> String {
    let end = data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    String::from_utf8_lossy(data.get(..end).unwrap_or_default()).into_owned()
}

/// One child of an element held whole in memory.
#[derive(Debug, Clone)]
pub(crate) struct Child {
    /// Element ID.
    pub id: u32,
    /// Input offset of the child's ID.
    pub offset: u64,
    /// Input offset of the child's data (after its header).
    pub data_offset: u64,
    /// The child's data (a zero-copy slice of the parent's).
    pub data: Bytes,
}

/// A failure inside an element held whole: the offset of the element at fault, the path from
/// the element being parsed down to it (IDs, outermost first), and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    pub offset: u64,
    pub path: Vec<u32>,
    pub kind: ParseErrorKind,
}

impl Fault {
    /// A fault in `child` itself.
    pub(crate) fn at(child: &Child, kind: ParseErrorKind) -> Self {
        Fault {
            offset: child.offset,
            path: vec![child.id],
            kind,
        }
    }

    /// Prefixes the path with the element that contains the fault.
    pub(crate) fn within(mut self, id: u32) -> Self {
        self.path.insert(0, id);
        self
    }
}

/// Iterates over the children of an element whose data is held whole in `data`, which starts at
/// input offset `base`. Children must have known sizes that fit the parent; the first one that
/// does not ends the iteration with a [`Fault`].
pub(crate) struct Children {
    data: Bytes,
    pos: usize,
    base: u64,
    failed: bool,
}

impl Children {
    pub(crate) fn new(data: Bytes, base: u64) -> Self {
        Children {
            data,
            pos: 0,
            base,
            failed: false,
        }
    }

    fn next_child(&mut self) -> Result<Child, Fault> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let offset = self.base.saturating_add(self.pos as u64);
        let fault = |id: Option<u32>, kind| Fault {
            offset,
            path: id.into_iter().collect(),
            kind,
        };
        let header = match read_header(rest) {
            Ok(Some(header)) => header,
            Err(kind) => return Err(fault(None, kind)),
            Ok(None) => {
                // The header itself runs past the parent's end.
                let id = read_id(rest).ok().flatten().map(|(id, _)| id);
                return Err(fault(
                    id,
                    ParseErrorKind::Overrun {
                        id: id.unwrap_or(0),
                    },
                ));
            }
        };
        let id = header.id;
        let Size::Known(size) = header.size else {
            return Err(fault(Some(id), ParseErrorKind::UnknownSize { id }));
        };
        let available = rest.len() - header.len;
        let size = match usize::try_from(size) {
            Ok(size) if size <= available => size,
            _ => return Err(fault(Some(id), ParseErrorKind::Overrun { id })),
        };
        let start = self.pos + header.len;
        self.pos = start + size;
        Ok(Child {
            id,
            offset,
            data_offset: offset + header.len as u64,
            data: self.data.slice(start..start + size),
        })
    }
}

impl Iterator for Children {
    type Item = Result<Child, Fault>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.data.len() {
            return None;
        }
        let child = self.next_child();
        self.failed = child.is_err();
        Some(child)
    }
}

// Writers. They are used on values that vidstream itself holds in memory, so a size that does
// not fit in 56 bits cannot happen; `write_size` asserts it rather than writing a corrupt file.

/// Bytes taken by an Element ID.
pub(crate) fn id_len(id: u32) -> usize {
    match id {
        0..=0xFF => 1,
        0x100..=0xFFFF => 2,
        0x1_0000..=0xFF_FFFF => 3,
        _ => 4,
    }
}

/// Appends an Element ID (its bytes already carry the marker).
pub(crate) fn write_id(buf: &mut Vec<u8>, id: u32) {
    let bytes = id.to_be_bytes();
    buf.extend_from_slice(&bytes[4 - id_len(id)..]);
}

/// The shortest VINT length that holds `value` without being all ones (which means "unknown").
pub(crate) fn size_len(value: u64) -> usize {
    (1..MAX_SIZE_LEN)
        .find(|&len| value < (1u64 << (7 * len)) - 1)
        .unwrap_or(MAX_SIZE_LEN)
}

/// Appends `value` as a VINT of the shortest length (element sizes, block track numbers).
///
/// # Panics
/// If `value` exceeds [`MAX_KNOWN_SIZE`] (64 PiB), which no in-memory value can reach.
pub(crate) fn write_size(buf: &mut Vec<u8>, value: u64) {
    assert!(
        value <= MAX_KNOWN_SIZE,
        "EBML size {value} does not fit 8 bytes"
    );
    let len = size_len(value);
    let marked = value | (1u64 << (7 * len));
    buf.extend_from_slice(&marked.to_be_bytes()[8 - len..]);
}

/// Appends the 8-byte unknown-size marker.
pub(crate) fn write_unknown_size(buf: &mut Vec<u8>) {
    buf.extend_from_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
}

/// Bytes taken by an element with `data_len` bytes of data.
pub(crate) fn element_len(id: u32, data_len: usize) -> usize {
    id_len(id) + size_len(data_len as u64) + data_len
}

/// Appends an element header with a known size.
pub(crate) fn write_header(buf: &mut Vec<u8>, id: u32, size: u64) {
    write_id(buf, id);
    write_size(buf, size);
}

/// Bytes needed for an unsigned value (at least 1, so that 0 is written as one `0x00`).
pub(crate) fn uint_len(value: u64) -> usize {
    (8 - value.leading_zeros() as usize / 8).max(1)
}

/// Appends an unsigned integer element of the shortest length.
pub(crate) fn write_uint(buf: &mut Vec<u8>, id: u32, value: u64) {
    let len = uint_len(value);
    write_header(buf, id, len as u64);
    buf.extend_from_slice(&value.to_be_bytes()[8 - len..]);
}

/// Appends a signed integer element of the shortest two's-complement length. (vidstream writes
/// SimpleBlocks only, so only tests write ReferenceBlocks.)
#[cfg(test)]
pub(crate) fn write_int(buf: &mut Vec<u8>, id: u32, value: i64) {
    let len = (1..8)
        .find(|&len| {
            let bits = 8 * len as u32;
            let min = -(1i64 << (bits - 1));
            (min..-min).contains(&value)
        })
        .unwrap_or(8);
    write_header(buf, id, len as u64);
    buf.extend_from_slice(&value.to_be_bytes()[8 - len..]);
}

/// Appends an 8-byte float element (8 bytes so every `f64` comes back exactly).
pub(crate) fn write_float(buf: &mut Vec<u8>, id: u32, value: f64) {
    write_header(buf, id, 8);
    buf.extend_from_slice(&value.to_bits().to_be_bytes());
}

/// Appends a binary element.
pub(crate) fn write_bytes(buf: &mut Vec<u8>, id: u32, data: &[u8]) {
    write_header(buf, id, data.len() as u64);
    buf.extend_from_slice(data);
}

/// Appends a master element whose children `children` writes. The children go to a scratch
/// buffer first so the size can be written in its shortest form; use it for metadata, not for
/// Clusters (see `writer::write_cluster`, which computes the size up front).
pub(crate) fn write_master(buf: &mut Vec<u8>, id: u32, children: impl FnOnce(&mut Vec<u8>)) {
    let mut data = Vec::new();
    children(&mut data);
    write_bytes(buf, id, &data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vints() {
        // (bytes, value, len); RFC 8794 §4.4's table shows 1 as 0x81, 0x4001, 0x200001...
        for (bytes, value, len) in [
            (&[0x81][..], 1, 1),
            (&[0x40, 0x01], 1, 2),
            (&[0x20, 0x00, 0x01], 1, 3),
            (&[0x10, 0x00, 0x00, 0x01], 1, 4),
            (&[0x01, 0, 0, 0, 0, 0, 0, 0x01], 1, 8),
            (&[0xFE], 126, 1),
            (&[0x40, 0x7F], 127, 2),
            (&[0x82, 0xFF], 2, 1), // trailing bytes are not part of it
        ] {
            assert_eq!(read_vint(bytes), Ok(Some((value, len))), "{bytes:02x?}");
        }
        assert_eq!(read_vint(&[]), Ok(None));
        assert_eq!(read_vint(&[0x40]), Ok(None));
        assert_eq!(read_vint(&[0x01, 0, 0]), Ok(None));
        assert_eq!(read_vint(&[0x00, 0x81]), Err(ParseErrorKind::InvalidVint));
    }

    #[test]
    fn sizes_and_unknown_size() {
        for (bytes, size) in [
            (&[0x80][..], Size::Known(0)),
            (&[0xFE], Size::Known(126)),
            (&[0xFF], Size::Unknown),
            (&[0x7F, 0xFF], Size::Unknown),
            (&[0x40, 0x7F], Size::Known(127)),
            (
                &[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
                Size::Unknown,
            ),
            (
                &[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE],
                Size::Known(MAX_KNOWN_SIZE),
            ),
        ] {
            assert_eq!(
                read_size(bytes),
                Ok(Some((size, bytes.len()))),
                "{bytes:02x?}"
            );
        }
    }

    #[test]
    fn ids() {
        assert_eq!(read_id(&[0xA3, 0x00]), Ok(Some((0xA3, 1))));
        assert_eq!(
            read_id(&[0x1A, 0x45, 0xDF, 0xA3]),
            Ok(Some((0x1A45_DFA3, 4)))
        );
        assert_eq!(read_id(&[0x1A, 0x45]), Ok(None));
        // Five-byte IDs, and all-zero / all-one data bits, are invalid.
        assert_eq!(
            read_id(&[0x08, 0, 0, 0, 1]),
            Err(ParseErrorKind::InvalidVint)
        );
        assert_eq!(read_id(&[0x80]), Err(ParseErrorKind::InvalidVint));
        assert_eq!(read_id(&[0xFF]), Err(ParseErrorKind::InvalidVint));
        assert_eq!(read_id(&[0x7F, 0xFF]), Err(ParseErrorKind::InvalidVint));
    }

    #[test]
    fn headers() {
        let segment = [
            0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        assert_eq!(
            read_header(&segment),
            Ok(Some(Header {
                id: 0x1853_8067,
                size: Size::Unknown,
                len: 12
            }))
        );
        assert_eq!(read_header(&segment[..11]), Ok(None));
        assert_eq!(read_header(&segment[..3]), Ok(None));
    }

    #[test]
    fn values() {
        assert_eq!(read_uint(&[]), Ok(0));
        assert_eq!(read_uint(&[0x01, 0x00]), Ok(256));
        assert_eq!(read_uint(&[0xFF; 8]), Ok(u64::MAX));
        assert!(read_uint(&[0; 9]).is_err());
        assert_eq!(read_int(&[]), Ok(0));
        assert_eq!(read_int(&[0xFF]), Ok(-1));
        assert_eq!(read_int(&[0xFF, 0x38]), Ok(-200));
        assert_eq!(read_int(&[0x7F]), Ok(127));
        assert_eq!(read_int(&[0x80, 0, 0, 0, 0, 0, 0, 0]), Ok(i64::MIN));
        assert!(read_int(&[0; 9]).is_err());
        assert_eq!(read_float(&[]), Ok(0.0));
        assert_eq!(read_float(&[0x46, 0xFA, 0x00, 0x00]), Ok(32000.0));
        assert_eq!(read_float(&48000f64.to_bits().to_be_bytes()), Ok(48000.0));
        assert!(read_float(&[0; 5]).is_err());
        assert_eq!(read_string(b"V_MPEG4/ISO/AVC\0\0"), "V_MPEG4/ISO/AVC");
        assert_eq!(read_string(b"a\0b\0"), "a\0b");
        assert_eq!(read_string(b"\0"), "");
        assert_eq!(read_string(b"caf\xe9"), "caf\u{FFFD}");
    }

    #[test]
    fn writers_pick_the_shortest_form() {
        for (value, want) in [
            (0u64, &[0x80][..]),
            (126, &[0xFE]),
            (127, &[0x40, 0x7F]), // 0xFF would mean "unknown"
            (16382, &[0x7F, 0xFE]),
            (16383, &[0x20, 0x3F, 0xFF]),
            (
                MAX_KNOWN_SIZE,
                &[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE],
            ),
        ] {
            let mut buf = Vec::new();
            write_size(&mut buf, value);
            assert_eq!(buf, want, "{value}");
            assert_eq!(size_len(value), want.len());
            assert_eq!(read_size(&buf), Ok(Some((Size::Known(value), buf.len()))));
        }
        let mut buf = Vec::new();
        write_unknown_size(&mut buf);
        assert_eq!(read_size(&buf), Ok(Some((Size::Unknown, 8))));
    }

    #[test]
    fn value_writers_round_trip() {
        for value in [0, 1, 255, 256, 1 << 32, u64::MAX] {
            let mut buf = Vec::new();
            write_uint(&mut buf, 0xE7, value);
            assert_eq!(buf.len(), 2 + uint_len(value));
            assert_eq!(read_uint(&buf[2..]), Ok(value));
        }
        for value in [0, 1, -1, 127, 128, -128, -129, i64::MAX, i64::MIN] {
            let mut buf = Vec::new();
            write_int(&mut buf, 0xFB, value);
            assert_eq!(read_int(&buf[2..]), Ok(value), "{value}");
        }
        let mut buf = Vec::new();
        write_float(&mut buf, 0xB5, 44100.0);
        assert_eq!(buf[..2], [0xB5, 0x88]);
        assert_eq!(read_float(&buf[2..]), Ok(44100.0));
        let mut buf = Vec::new();
        write_id(&mut buf, 0x1A45_DFA3);
        write_id(&mut buf, 0x4282);
        write_id(&mut buf, 0xA3);
        assert_eq!(buf, [0x1A, 0x45, 0xDF, 0xA3, 0x42, 0x82, 0xA3]);
    }

    #[test]
    fn children_are_checked_against_the_parent() {
        // TrackNumber 1, then CodecID "V".
        let data = Bytes::from_static(&[0xD7, 0x81, 0x01, 0x86, 0x81, b'V']);
        let children: Vec<_> = Children::new(data, 100).collect::<Result<_, _>>().unwrap();
        assert_eq!(children.len(), 2);
        assert_eq!((children[1].id, children[1].offset), (0x86, 103));
        assert_eq!(children[1].data_offset, 105);
        assert_eq!(&children[1].data[..], b"V");

        let overrun = Bytes::from_static(&[0xD7, 0x85, 0x01]);
        let err = Children::new(overrun, 0).last().unwrap().unwrap_err();
        assert_eq!((err.offset, err.path), (0, vec![0xD7]));
        assert_eq!(err.kind, ParseErrorKind::Overrun { id: 0xD7 });

        let unknown = Bytes::from_static(&[0xD7, 0xFF, 0x01]);
        let err = Children::new(unknown, 0).last().unwrap().unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::UnknownSize { id: 0xD7 });

        let cut_header = Bytes::from_static(&[0x81, 0x80, 0x63]);
        let mut it = Children::new(cut_header, 0);
        assert_eq!(it.next().unwrap().unwrap().id, 0x81);
        let err = it.next().unwrap().unwrap_err();
        assert_eq!((err.offset, err.path.len()), (2, 0));
        assert_eq!(err.kind, ParseErrorKind::Overrun { id: 0 });
        assert!(it.next().is_none(), "iteration stops after an error");

        let invalid = Bytes::from_static(&[0x00, 0x80]);
        let err = Children::new(invalid, 7).next().unwrap().unwrap_err();
        assert_eq!((err.offset, err.kind), (7, ParseErrorKind::InvalidVint));
    }
}
