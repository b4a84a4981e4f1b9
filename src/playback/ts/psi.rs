//! Program-specific information: the PAT and PMT sections a segment starts with, each in one
//! transport packet, and the CRC-32 that ends every PSI section.
//!
//! ISO/IEC 13818-1 §2.4.4 (PSI), §2.4.4.3 (PAT), §2.4.4.8 (PMT), Annex A (CRC).

use super::pes::{PACKET_LEN, packet_header};
use super::{PMT_PID, Stream};

/// The one program every segment carries (§2.4.4.3 `program_number`; 0 is the network PID).
const PROGRAM_NUMBER: u16 = 1;
/// §2.4.4.3 `transport_stream_id`: user-chosen, constant.
const TRANSPORT_STREAM_ID: u16 = 1;
/// §2.4.4.4 table_id values.
const TABLE_ID_PAT: u8 = 0x00;
const TABLE_ID_PMT: u8 = 0x02;

/// CRC-32/MPEG-2 (Annex A): polynomial 0x04C11DB7, initial value 0xFFFFFFFF, MSB first, no
/// final XOR. Over a whole section including its CRC, the result is 0.
pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut crc = (i as u32) << 24;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 0x8000_0000 != 0 {
                    (crc << 1) ^ 0x04C1_1DB7
                } else {
                    crc << 1
                };
                bit += 1;
            }
            table[i] = crc;
            i += 1;
        }
        table
    };
    data.iter().fold(0xFFFF_FFFF, |crc, &b| {
        (crc << 8) ^ TABLE[usize::from(((crc >> 24) as u8) ^ b)]
    })
}

/// Wraps a section body (everything after `section_length`, before the CRC) into a long-form
/// section (§2.4.4.3 and §2.4.4.8 share this shape) and writes it into one packet on `pid`.
fn write_section(out: &mut Vec<u8>, pid: u16, cc: &mut u8, table_id: u8, body: &[u8]) {
    let mut section = Vec::with_capacity(body.len() + 7);
    section.push(table_id);
    // section_syntax_indicator = 1, '0', reserved '11', section_length (12 bits): the bytes
    // after this field, CRC included.
    let section_length = body.len() + 4;
    debug_assert!(section_length <= 1021, "one-packet sections only");
    section.push(0xB0 | ((section_length >> 8) as u8 & 0x0F));
    section.push(section_length as u8);
    section.extend_from_slice(body);
    let crc = crc32_mpeg2(&section);
    section.extend_from_slice(&crc.to_be_bytes());

    let start = out.len();
    // PSI packets always carry payload (adaptation_field_control '01'), so the counter moves.
    packet_header(out, pid, true, 0b01, *cc);
    *cc = (*cc + 1) & 0x0F;
    out.push(0); // pointer_field: the section starts right after it
    out.extend_from_slice(&section);
    // §2.4.4.1: the rest of the packet is stuffing bytes of 0xFF.
    out.resize(start + PACKET_LEN, 0xFF);
}

/// The common long-form header fields after `section_length`: the table id extension
/// (`transport_stream_id` or `program_number`), version 0, current, section 0 of 0.
fn long_header(body: &mut Vec<u8>, table_id_extension: u16) {
    body.extend_from_slice(&table_id_extension.to_be_bytes());
    body.push(0xC1); // reserved '11', version_number 0, current_next_indicator 1
    body.push(0); // section_number
    body.push(0); // last_section_number
}

/// Writes the program association table (§2.4.4.3): program 1 → the PMT PID.
pub fn write_pat(out: &mut Vec<u8>, cc: &mut u8) {
    let mut body = Vec::with_capacity(9);
    long_header(&mut body, TRANSPORT_STREAM_ID);
    body.extend_from_slice(&PROGRAM_NUMBER.to_be_bytes());
    body.extend_from_slice(&(0xE000 | PMT_PID).to_be_bytes()); // reserved '111', program_map_PID
    write_section(out, 0, cc, TABLE_ID_PAT, &body);
}

/// Writes the program map table (§2.4.4.8) for `streams`, with the PCR on `pcr_pid`.
pub fn write_pmt(out: &mut Vec<u8>, cc: &mut u8, pcr_pid: u16, streams: &[Stream]) {
    let mut body = Vec::with_capacity(9 + 5 * streams.len());
    long_header(&mut body, PROGRAM_NUMBER);
    body.extend_from_slice(&(0xE000 | pcr_pid).to_be_bytes()); // reserved '111', PCR_PID
    body.extend_from_slice(&0xF000u16.to_be_bytes()); // reserved '1111', program_info_length 0
    for s in streams {
        body.push(s.stream_type); // Table 2-34
        body.extend_from_slice(&(0xE000 | s.pid).to_be_bytes()); // reserved '111', elementary_PID
        body.extend_from_slice(&0xF000u16.to_be_bytes()); // reserved '1111', ES_info_length 0
    }
    write_section(out, PMT_PID, cc, TABLE_ID_PMT, &body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_catalogue_check_value() {
        // CRC-32/MPEG-2 check value for "123456789" (the CRC catalogue's standard test).
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_E6E7);
        assert_eq!(crc32_mpeg2(b""), 0xFFFF_FFFF);
    }

    #[test]
    fn pat_is_the_textbook_packet() {
        let mut out = Vec::new();
        let mut cc = 5;
        write_pat(&mut out, &mut cc);
        assert_eq!(out.len(), PACKET_LEN);
        assert_eq!(cc, 6);
        // Header (PID 0, PUSI, payload only, cc 5), pointer 0, then the section: program 1 on
        // PID 0x1000. This is the PAT ffmpeg's mpegts muxer writes too, CRC included.
        assert_eq!(
            &out[..21],
            &[
                0x47, 0x40, 0x00, 0x15, 0x00, 0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00,
                0x01, 0xF0, 0x00, 0x2A, 0xB1, 0x04, 0xB2
            ]
        );
        assert!(out[21..].iter().all(|&b| b == 0xFF));
        // The CRC over a whole section (CRC included) is 0.
        assert_eq!(crc32_mpeg2(&out[5..21]), 0);
    }
}
