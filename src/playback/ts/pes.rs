//! PES packets and their packetization into 188-byte transport packets: the packet header, the
//! adaptation field (PCR, random_access_indicator, stuffing) and the PES header with PTS/DTS.
//!
//! ISO/IEC 13818-1 §2.4.3.2 (transport packet), §2.4.3.4 (adaptation field), §2.4.3.6 and
//! §2.4.3.7 (PES packet), §2.4.2.2 (PCR).

/// Every transport packet is this long (§2.4.3.2).
pub const PACKET_LEN: usize = 188;
/// The first byte of every packet.
pub const SYNC_BYTE: u8 = 0x47;
/// Bytes after the 4-byte packet header.
const BODY_LEN: usize = PACKET_LEN - 4;
/// Timestamps (PTS, DTS, PCR base) are 33-bit counts of a 90 kHz clock.
pub const TIMESTAMP_MASK: u64 = (1 << 33) - 1;

/// A 33-bit 90 kHz timestamp from milliseconds, wrapping as the field does.
pub fn ms_to_90k(ms: i64) -> u64 {
    // i128: no overflow for any i64; rem_euclid: negative times wrap to the top of the range.
    (i128::from(ms) * 90).rem_euclid(1 << 33) as u64
}

/// Writes the 4-byte transport packet header (§2.4.3.2): no error, no priority, not scrambled.
/// `adaptation_field_control` is '01' payload only, '10' adaptation field only, '11' both.
pub fn packet_header(out: &mut Vec<u8>, pid: u16, unit_start: bool, afc: u8, cc: u8) {
    out.push(SYNC_BYTE);
    out.push((u8::from(unit_start) << 6) | ((pid >> 8) as u8 & 0x1F));
    out.push(pid as u8);
    out.push(((afc & 0b11) << 4) | (cc & 0x0F));
}

/// The 6 PCR bytes (§2.4.3.5): 33-bit base, 6 reserved bits, 9-bit extension (always 0: our
/// clock is the 90 kHz one).
fn pcr_bytes(base: u64) -> [u8; 6] {
    let base = base & TIMESTAMP_MASK;
    [
        (base >> 25) as u8,
        (base >> 17) as u8,
        (base >> 9) as u8,
        (base >> 1) as u8,
        ((base as u8 & 1) << 7) | 0x7E,
        0x00,
    ]
}

/// What the first packet of a PES packet flags in its adaptation field.
#[derive(Debug, Clone, Copy, Default)]
pub struct FirstPacket {
    /// PCR base to carry (90 kHz).
    pub pcr: Option<u64>,
    /// random_access_indicator: the PES starts a random access point (keyframe).
    pub random_access: bool,
}

/// Splits one PES packet into transport packets on `pid`, advancing `cc` once per packet (all
/// carry payload). The first packet gets the PUSI bit and, when asked, an adaptation field with
/// the PCR and random_access_indicator; the last is padded with adaptation-field stuffing
/// (§2.4.3.5: the only stuffing allowed in packets carrying PES data).
pub fn packetize(out: &mut Vec<u8>, pid: u16, cc: &mut u8, pes: &[u8], first: FirstPacket) {
    let mut rest = pes;
    let mut is_first = true;
    while is_first || !rest.is_empty() {
        // Adaptation field bytes after its length byte, before stuffing: flags, optional PCR.
        let mut fields = [0u8; 7];
        let mut fields_len = 0;
        if is_first && (first.pcr.is_some() || first.random_access) {
            // random_access_indicator, PCR_flag.
            fields[0] = (u8::from(first.random_access) << 6) | (u8::from(first.pcr.is_some()) << 4);
            fields_len = 1;
            if let Some(pcr) = first.pcr {
                fields[1..].copy_from_slice(&pcr_bytes(pcr));
                fields_len = 7;
            }
        }
        let needed = if fields_len > 0 { 1 + fields_len } else { 0 };
        let take = rest.len().min(BODY_LEN - needed);
        // The adaptation field (length byte included) takes whatever the payload leaves.
        let af_total = BODY_LEN - take;
        let start = out.len();
        let afc = if af_total > 0 { 0b11 } else { 0b01 };
        packet_header(out, pid, is_first, afc, *cc);
        *cc = (*cc + 1) & 0x0F;
        if af_total > 0 {
            out.push((af_total - 1) as u8); // adaptation_field_length
            // A 1-byte adaptation field is its length byte alone; longer ones have a flags byte
            // (0 when it only stuffs), the PCR if any, then 0xFF stuffing.
            if af_total > 1 {
                out.extend_from_slice(&fields[..fields_len.max(1)]);
                out.resize(start + 4 + af_total, 0xFF);
            }
        }
        out.extend_from_slice(&rest[..take]);
        rest = &rest[take..];
        is_first = false;
    }
}

/// Writes a packet carrying only an adaptation field with a PCR (adaptation_field_control '10').
/// Such packets carry no payload, so §2.4.3.3 says the continuity counter repeats the previous
/// packet's value rather than advancing: `cc` is the PID's next counter and is left unchanged.
pub fn write_pcr_only(out: &mut Vec<u8>, pid: u16, cc: u8, pcr: u64) {
    let start = out.len();
    packet_header(out, pid, false, 0b10, cc.wrapping_sub(1) & 0x0F);
    out.push((BODY_LEN - 1) as u8); // adaptation_field_length: the whole body
    out.push(0x10); // PCR_flag
    out.extend_from_slice(&pcr_bytes(pcr));
    out.resize(start + PACKET_LEN, 0xFF);
}

/// Writes a 5-byte PTS or DTS field (§2.4.3.7) with its 4-bit prefix.
fn timestamp(out: &mut Vec<u8>, prefix: u8, ts: u64) {
    let ts = ts & TIMESTAMP_MASK;
    out.push((prefix << 4) | (((ts >> 30) as u8 & 0x07) << 1) | 1);
    out.extend_from_slice(&((((ts >> 15) & 0x7FFF) << 1 | 1) as u16).to_be_bytes());
    out.extend_from_slice(&((((ts & 0x7FFF) << 1) | 1) as u16).to_be_bytes());
}

/// Starts a PES packet (§2.4.3.6): start code, `stream_id`, PES_packet_length, the optional
/// header with PTS (and DTS when it differs). `payload_len` sets PES_packet_length; `None`, or a
/// length that does not fit 16 bits, writes 0 ("unbounded"), which §2.4.3.7 allows only for video
/// in transport streams: the caller bounds audio.
pub fn pes_header(
    out: &mut Vec<u8>,
    stream_id: u8,
    pts: u64,
    dts: Option<u64>,
    payload_len: Option<usize>,
    aligned: bool,
) {
    let dts = dts.filter(|&d| d != pts);
    let header_data_len: usize = if dts.is_some() { 10 } else { 5 };
    out.extend_from_slice(&[0x00, 0x00, 0x01, stream_id]);
    let length = payload_len
        .map(|n| n + 3 + header_data_len)
        .and_then(|n| u16::try_from(n).ok())
        .unwrap_or(0);
    out.extend_from_slice(&length.to_be_bytes());
    // '10', not scrambled, no priority, data_alignment_indicator, not copyrighted, copy.
    out.push(0x80 | (u8::from(aligned) << 2));
    // PTS_DTS_flags '10' or '11', no other optional fields.
    out.push(if dts.is_some() { 0xC0 } else { 0x80 });
    out.push(header_data_len as u8);
    match dts {
        Some(dts) => {
            timestamp(out, 0b0011, pts);
            timestamp(out, 0b0001, dts);
        }
        None => timestamp(out, 0b0010, pts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_become_33_bit_90khz_ticks() {
        assert_eq!(ms_to_90k(0), 0);
        assert_eq!(ms_to_90k(1_000), 90_000);
        assert_eq!(ms_to_90k(-1), (1 << 33) - 90);
        // 2^33 ticks is 95443717.688... ms: an epoch-ms timestamp wraps.
        assert_eq!(ms_to_90k(95_443_718), (95_443_718 * 90) - (1 << 33));
        assert!(ms_to_90k(i64::MAX) <= TIMESTAMP_MASK);
        assert!(ms_to_90k(i64::MIN) <= TIMESTAMP_MASK);
    }

    #[test]
    fn pes_header_encodes_pts_and_dts_with_markers() {
        let mut out = Vec::new();
        pes_header(
            &mut out,
            0xE0,
            0x1_2345_6789,
            Some(0x0_0000_0001),
            None,
            true,
        );
        assert_eq!(
            out,
            [
                0, 0, 1, 0xE0, 0, 0, 0x84, 0xC0, 10, // start, length 0, flags, header len
                0x39, 0x8D, 0x15, 0xCF, 0x13, // PTS 0x123456789: '0011' 100 1, 0x468A, 0x6789
                0x11, 0x00, 0x01, 0x00, 0x03, // DTS 1
            ]
        );
        out.clear();
        pes_header(&mut out, 0xC0, 900, Some(900), Some(100), false);
        assert_eq!(&out[4..9], &[0, 108, 0x80, 0x80, 5]);
        assert_eq!(out.len(), 14);
    }

    #[test]
    fn packetization_fills_every_packet_and_stuffs_the_last() {
        for len in [0usize, 1, 170, 175, 176, 177, 182, 183, 184, 185, 400, 1000] {
            for first in [
                FirstPacket::default(),
                FirstPacket {
                    pcr: Some(12_345),
                    random_access: true,
                },
                FirstPacket {
                    pcr: None,
                    random_access: true,
                },
            ] {
                let pes: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let mut out = Vec::new();
                let mut cc = 14;
                packetize(&mut out, 0x100, &mut cc, &pes, first);
                assert_eq!(out.len() % PACKET_LEN, 0, "len {len}");
                let n = out.len() / PACKET_LEN;
                assert_eq!(cc, ((14 + n) % 16) as u8);
                // Reassemble the payload from the packets.
                let mut payload = Vec::new();
                for (i, p) in out.chunks(PACKET_LEN).enumerate() {
                    assert_eq!(p[0], SYNC_BYTE);
                    assert_eq!(p[1] & 0x40 != 0, i == 0, "PUSI only on the first");
                    assert_eq!(usize::from(p[3] & 0x0F), (14 + i) % 16);
                    let afc = (p[3] >> 4) & 3;
                    let mut at = 4;
                    if afc & 2 != 0 {
                        let af_len = usize::from(p[4]);
                        if i == 0 && af_len > 0 {
                            assert_eq!(p[5] & 0x40 != 0, first.random_access);
                            assert_eq!(p[5] & 0x10 != 0, first.pcr.is_some());
                            if first.pcr.is_some() {
                                let base = (u64::from(p[6]) << 25)
                                    | (u64::from(p[7]) << 17)
                                    | (u64::from(p[8]) << 9)
                                    | (u64::from(p[9]) << 1)
                                    | u64::from(p[10] >> 7);
                                assert_eq!(base, 12_345);
                            }
                        }
                        at += 1 + af_len;
                    }
                    assert!(afc & 1 != 0, "every PES packet carries payload");
                    payload.extend_from_slice(&p[at..]);
                }
                assert_eq!(payload, pes, "len {len}");
            }
        }
    }

    #[test]
    fn pcr_only_packets_repeat_the_counter() {
        let mut out = Vec::new();
        write_pcr_only(&mut out, 0x101, 0, 90_000);
        assert_eq!(out.len(), PACKET_LEN);
        assert_eq!(&out[..6], &[0x47, 0x01, 0x01, 0x2F, 183, 0x10]);
    }
}
