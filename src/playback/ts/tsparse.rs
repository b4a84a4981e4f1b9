//! A deliberately small transport stream reader for the tests: it checks the packet-level rules
//! the writer must follow (188-byte packets, sync bytes, PSI CRCs, continuity counters without
//! jumps) and hands back the PES packets. It shares no code with the writer; decoding is
//! checked separately with ffmpeg.

use std::collections::HashMap;

use super::Continuity;
use super::psi::crc32_mpeg2;

/// One reassembled PES packet.
#[derive(Debug, Clone)]
pub struct Pes {
    pub pid: u16,
    pub stream_id: u8,
    pub pts: u64,
    pub dts: u64,
    /// random_access_indicator of its first packet.
    pub random_access: bool,
    /// PCR in its first packet.
    pub pcr: Option<u64>,
    /// Elementary stream bytes (after the PES header).
    pub data: Vec<u8>,
}

/// What a stream holds.
#[derive(Debug, Default)]
pub struct Parsed {
    /// PIDs of the first two packets.
    pub first_pids: Vec<u16>,
    /// (stream_type, PID) from the last PMT.
    pub streams: Vec<(u8, u16)>,
    pub pcr_pid: u16,
    pub pes: Vec<Pes>,
    /// Every PCR in stream order, with its PID.
    pub pcrs: Vec<(u16, u64)>,
    /// Number of PAT and PMT sections seen.
    pub pats: usize,
    pub pmts: usize,
}

/// random_access_indicator and PCR of a PES packet's first transport packet.
type FirstMeta = (bool, Option<u64>);

fn section(payload: &[u8], pusi: bool) -> Result<&[u8], String> {
    if !pusi {
        return Err("PSI packet without payload_unit_start_indicator".into());
    }
    let pointer = usize::from(*payload.first().ok_or("no pointer field")?);
    let s = payload
        .get(1 + pointer..)
        .ok_or("pointer past the packet")?;
    let len = (usize::from(s.get(1).ok_or("short section")? & 0x0F) << 8)
        | usize::from(*s.get(2).ok_or("short section")?);
    let s = s.get(..3 + len).ok_or("section longer than its packet")?;
    if crc32_mpeg2(s) != 0 {
        return Err("PSI CRC mismatch".into());
    }
    Ok(&s[..s.len() - 4])
}

fn timestamp(b: &[u8]) -> u64 {
    (u64::from(b[0] >> 1 & 7) << 30)
        | (u64::from(b[1]) << 22)
        | (u64::from(b[2] >> 1) << 15)
        | (u64::from(b[3]) << 7)
        | u64::from(b[4] >> 1)
}

fn finish_pes(pid: u16, buf: Vec<u8>, meta: FirstMeta, out: &mut Vec<Pes>) -> Result<(), String> {
    if buf.len() < 9 || buf[..3] != [0, 0, 1] {
        return Err(format!("PID {pid:#x}: PES without start code"));
    }
    let length = usize::from(u16::from_be_bytes([buf[4], buf[5]]));
    if length != 0 && length + 6 != buf.len() {
        return Err(format!(
            "PID {pid:#x}: PES_packet_length {length} but {} bytes",
            buf.len() - 6
        ));
    }
    let flags = buf[7] >> 6;
    let header_end = 9 + usize::from(buf[8]);
    let (pts, dts) = match flags {
        0b10 => {
            let pts = timestamp(&buf[9..14]);
            (pts, pts)
        }
        0b11 => (timestamp(&buf[9..14]), timestamp(&buf[14..19])),
        _ => return Err(format!("PID {pid:#x}: PES without PTS")),
    };
    out.push(Pes {
        pid,
        stream_id: buf[3],
        pts,
        dts,
        random_access: meta.0,
        pcr: meta.1,
        data: buf[header_end..].to_vec(),
    });
    Ok(())
}

/// Parses a whole stream, checking continuity counters start at `start` and never jump.
pub fn parse(ts: &[u8], start: &Continuity) -> Result<Parsed, String> {
    if !ts.len().is_multiple_of(188) {
        return Err(format!(
            "{} bytes is not a whole number of packets",
            ts.len()
        ));
    }
    let mut parsed = Parsed::default();
    let mut last_cc: HashMap<u16, u8> = HashMap::new();
    let mut building: HashMap<u16, (Vec<u8>, FirstMeta)> = HashMap::new();
    for (i, p) in ts.chunks(188).enumerate() {
        if p[0] != 0x47 {
            return Err(format!("packet {i}: sync byte {:#x}", p[0]));
        }
        let pid = (u16::from(p[1] & 0x1F) << 8) | u16::from(p[2]);
        let pusi = p[1] & 0x40 != 0;
        let afc = (p[3] >> 4) & 3;
        let cc = p[3] & 0x0F;
        if i < 2 {
            parsed.first_pids.push(pid);
        }
        let has_payload = afc & 1 != 0;
        match last_cc.get(&pid) {
            Some(&last) => {
                let want = if has_payload { (last + 1) & 0x0F } else { last };
                if cc != want {
                    return Err(format!("packet {i} PID {pid:#x}: cc {cc}, expected {want}"));
                }
            }
            None if has_payload => {
                if let Some(first) = start.next(pid)
                    && first != cc
                {
                    return Err(format!("PID {pid:#x} starts at cc {cc}, not {first}"));
                }
            }
            None => {}
        }
        if has_payload || last_cc.contains_key(&pid) {
            last_cc.insert(pid, cc);
        }
        let mut at = 4;
        let mut meta = (false, None);
        if afc & 2 != 0 {
            let len = usize::from(p[4]);
            if 5 + len > 188 || (afc == 2 && len != 183) || (afc == 3 && len > 182) {
                return Err(format!("packet {i}: adaptation_field_length {len}"));
            }
            if len > 0 {
                let flags = p[5];
                meta.0 = flags & 0x40 != 0;
                if flags & 0x10 != 0 {
                    let b = &p[6..12];
                    let pcr = (u64::from(b[0]) << 25)
                        | (u64::from(b[1]) << 17)
                        | (u64::from(b[2]) << 9)
                        | (u64::from(b[3]) << 1)
                        | u64::from(b[4] >> 7);
                    meta.1 = Some(pcr);
                    parsed.pcrs.push((pid, pcr));
                }
            }
            at = 5 + len;
        }
        if !has_payload {
            continue;
        }
        let payload = &p[at..];
        match pid {
            0 => {
                let s = section(payload, pusi)?;
                if s[0] != 0 || s.len() != 12 {
                    return Err("PAT: not one program".into());
                }
                parsed.pats += 1;
            }
            0x1000 => {
                let s = section(payload, pusi)?;
                if s[0] != 2 {
                    return Err("PMT: wrong table_id".into());
                }
                parsed.pcr_pid = u16::from_be_bytes([s[8], s[9]]) & 0x1FFF;
                let info_len = usize::from(u16::from_be_bytes([s[10], s[11]]) & 0x0FFF);
                let mut es = &s[12 + info_len..];
                parsed.streams.clear();
                while es.len() >= 5 {
                    let es_pid = u16::from_be_bytes([es[1], es[2]]) & 0x1FFF;
                    let es_info = usize::from(u16::from_be_bytes([es[3], es[4]]) & 0x0FFF);
                    parsed.streams.push((es[0], es_pid));
                    es = &es[5 + es_info..];
                }
                parsed.pmts += 1;
            }
            _ => {
                if pusi {
                    if let Some((buf, m)) = building.remove(&pid) {
                        finish_pes(pid, buf, m, &mut parsed.pes)?;
                    }
                    building.insert(pid, (payload.to_vec(), meta));
                } else {
                    building
                        .get_mut(&pid)
                        .ok_or_else(|| format!("packet {i}: PES continuation without a start"))?
                        .0
                        .extend_from_slice(payload);
                }
            }
        }
    }
    let mut rest: Vec<_> = building.into_iter().collect();
    rest.sort_by_key(|(pid, _)| *pid);
    for (pid, (buf, m)) in rest {
        finish_pes(pid, buf, m, &mut parsed.pes)?;
    }
    Ok(parsed)
}

/// NAL unit types of an Annex B stream (H.264 types; `hevc` gives H.265 types).
pub fn nal_types(annex_b: &[u8], hevc: bool) -> Vec<u8> {
    let mut types = Vec::new();
    let mut i = 0;
    while i + 3 < annex_b.len() {
        if annex_b[i..i + 3] == [0, 0, 1] {
            let h = annex_b[i + 3];
            types.push(if hevc { (h >> 1) & 0x3F } else { h & 0x1F });
            i += 3;
        } else {
            i += 1;
        }
    }
    types
}
