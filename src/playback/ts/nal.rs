//! Video access units from MKV (length-prefixed NAL units, "AVCC"/"HVCC") to the Annex B byte
//! stream MPEG-TS carries: an access unit delimiter first, the codec configuration's parameter
//! sets before every keyframe, then the frame's own NAL units, each after a start code.
//!
//! ISO/IEC 14496-15 §5.3.3.1 (AVCDecoderConfigurationRecord), §8.3.3.1
//! (HEVCDecoderConfigurationRecord); ITU-T H.264 §7.3.2.4 and Annex B; ITU-T H.265 §7.3.2.5;
//! ISO/IEC 13818-1 §2.14 (AVC in TS: AUD in every access unit).

use super::TsError;

/// Annex B start code (the 4-byte form, usual before the first NAL of an access unit).
const START_CODE: [u8; 4] = [0, 0, 0, 1];
/// H.264 access unit delimiter: nal_unit_type 9, primary_pic_type 7 (any slice type), then the
/// rbsp stop bit.
const H264_AUD: [u8; 2] = [0x09, 0xF0];
/// H.265 access unit delimiter: nal_unit_type 35, layer 0, temporal id 0 (+1), pic_type 2 (any
/// slice type), then the rbsp stop bit.
const H265_AUD: [u8; 3] = [0x46, 0x01, 0x50];
/// Largest parameter set count we keep from one configuration record: real streams have a
/// handful; this only bounds memory on hostile input.
const MAX_PARAMETER_SETS: usize = 64;

/// Which video codec a configuration is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    /// H.264 / AVC.
    H264,
    /// H.265 / HEVC.
    H265,
}

impl VideoCodec {
    /// The NAL unit type of a NAL unit's first header byte.
    fn nal_type(self, header: u8) -> u8 {
        match self {
            VideoCodec::H264 => header & 0x1F,
            VideoCodec::H265 => (header >> 1) & 0x3F,
        }
    }

    fn is_aud(self, header: u8) -> bool {
        match self {
            VideoCodec::H264 => self.nal_type(header) == 9,
            VideoCodec::H265 => self.nal_type(header) == 35,
        }
    }

    fn aud(self) -> &'static [u8] {
        match self {
            VideoCodec::H264 => &H264_AUD,
            VideoCodec::H265 => &H265_AUD,
        }
    }
}

/// What a decoder configuration record tells the converter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoConfig {
    /// The codec.
    pub codec: VideoCodec,
    /// Bytes in each NAL unit length prefix (1, 2 or 4).
    pub length_size: usize,
    /// Parameter sets to put before keyframes, in decoding order (VPS, SPS, PPS).
    pub parameter_sets: Vec<Vec<u8>>,
}

/// A bounds-checked cursor over a configuration record.
struct Cursor<'a> {
    data: &'a [u8],
    what: &'static str,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TsError> {
        if n > self.data.len() {
            return Err(TsError::BadCodecConfig(format!(
                "{} is truncated: {n} more bytes needed, {} left",
                self.what,
                self.data.len()
            )));
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, TsError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, TsError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A NAL unit with its 16-bit length, as both records store parameter sets.
    fn nal(&mut self, into: &mut Vec<Vec<u8>>) -> Result<(), TsError> {
        let len = usize::from(self.u16()?);
        let nal = self.take(len)?;
        if nal.is_empty() {
            return Ok(());
        }
        if into.len() >= MAX_PARAMETER_SETS {
            return Err(TsError::BadCodecConfig(format!(
                "{} has more than {MAX_PARAMETER_SETS} parameter sets",
                self.what
            )));
        }
        into.push(nal.to_vec());
        Ok(())
    }
}

fn length_size(minus_one: u8, what: &str) -> Result<usize, TsError> {
    match minus_one & 0x03 {
        0 => Ok(1),
        1 => Ok(2),
        3 => Ok(4),
        _ => Err(TsError::BadCodecConfig(format!(
            "{what} lengthSizeMinusOne is 2; only 0, 1 and 3 are allowed"
        ))),
    }
}

/// Parses an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1): version 1, profile,
/// compatibility, level, lengthSizeMinusOne, then the SPS and PPS lists. Trailing high-profile
/// extension fields (chroma format, bit depths, SPS extensions) are not needed and ignored.
pub fn parse_avcc(avcc: &[u8]) -> Result<VideoConfig, TsError> {
    let mut c = Cursor {
        data: avcc,
        what: "avcC",
    };
    let version = c.u8()?;
    if version != 1 {
        return Err(TsError::BadCodecConfig(format!(
            "avcC configurationVersion is {version}, not 1"
        )));
    }
    c.take(3)?; // AVCProfileIndication, profile_compatibility, AVCLevelIndication
    let length_size = length_size(c.u8()?, "avcC")?;
    let mut parameter_sets = Vec::new();
    let sps_count = c.u8()? & 0x1F;
    for _ in 0..sps_count {
        c.nal(&mut parameter_sets)?;
    }
    let pps_count = c.u8()?;
    for _ in 0..pps_count {
        c.nal(&mut parameter_sets)?;
    }
    Ok(VideoConfig {
        codec: VideoCodec::H264,
        length_size,
        parameter_sets,
    })
}

/// Parses an HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 §8.3.3.1): 21 bytes of profile,
/// tier, level and format fields, lengthSizeMinusOne in the low bits of byte 21, then arrays of
/// NAL units by type. The VPS, SPS and PPS arrays are kept, in that order; others (SEI) are not
/// repeated before keyframes.
pub fn parse_hvcc(hvcc: &[u8]) -> Result<VideoConfig, TsError> {
    let mut c = Cursor {
        data: hvcc,
        what: "hvcC",
    };
    let version = c.u8()?;
    if version != 1 {
        return Err(TsError::BadCodecConfig(format!(
            "hvcC configurationVersion is {version}, not 1"
        )));
    }
    c.take(20)?;
    let length_size = length_size(c.u8()?, "hvcC")?;
    let arrays = c.u8()?;
    // By type: VPS (32), SPS (33), PPS (34).
    let mut by_type: [Vec<Vec<u8>>; 3] = Default::default();
    let mut other = Vec::new();
    for _ in 0..arrays {
        let nal_type = c.u8()? & 0x3F;
        let count = c.u16()?;
        let into = match nal_type {
            32..=34 => &mut by_type[usize::from(nal_type - 32)],
            _ => &mut other,
        };
        for _ in 0..count {
            c.nal(into)?;
        }
        other.clear();
    }
    let parameter_sets: Vec<Vec<u8>> = by_type.into_iter().flatten().collect();
    if parameter_sets.len() > MAX_PARAMETER_SETS {
        return Err(TsError::BadCodecConfig(format!(
            "hvcC has more than {MAX_PARAMETER_SETS} parameter sets"
        )));
    }
    Ok(VideoConfig {
        codec: VideoCodec::H265,
        length_size,
        parameter_sets,
    })
}

/// Appends one access unit in Annex B form to `out`: AUD, the configuration's parameter sets when
/// `key`, then every NAL unit of `sample` (length-prefixed) except its own AUDs. Errors when a
/// length prefix runs past the sample or the sample holds no NAL unit.
pub fn annex_b(
    out: &mut Vec<u8>,
    config: &VideoConfig,
    sample: &[u8],
    key: bool,
) -> Result<(), TsError> {
    let start = out.len();
    out.extend_from_slice(&START_CODE);
    out.extend_from_slice(config.codec.aud());
    if key {
        for ps in &config.parameter_sets {
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(ps);
        }
    }
    let mut rest = sample;
    let mut nals = 0usize;
    let mut offset = 0usize;
    while !rest.is_empty() {
        if rest.len() < config.length_size {
            out.truncate(start);
            return Err(TsError::BadSample(format!(
                "{} trailing bytes at offset {offset} are shorter than a {}-byte NAL length",
                rest.len(),
                config.length_size
            )));
        }
        let (prefix, tail) = rest.split_at(config.length_size);
        let len = prefix
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        if len > tail.len() {
            out.truncate(start);
            return Err(TsError::BadSample(format!(
                "NAL unit at offset {offset} claims {len} bytes, {} are left in the frame",
                tail.len()
            )));
        }
        let (nal, tail) = tail.split_at(len);
        if let Some(&header) = nal.first()
            && !config.codec.is_aud(header)
        {
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(nal);
            nals += 1;
        }
        offset += config.length_size + len;
        rest = tail;
    }
    if nals == 0 {
        out.truncate(start);
        return Err(TsError::BadSample(
            "frame holds no NAL unit (not length-prefixed video?)".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// avcC with one SPS (67 42 c0 1e) and one PPS (68 ce 3c 80), 4-byte lengths.
    const AVCC: [u8; 19] = [
        0x01, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0x00, 0x04, 0x67, 0x42, 0xC0, 0x1E, 0x01, 0x00, 0x04,
        0x68, 0xCE, 0x3C, 0x80,
    ];

    #[test]
    fn avcc_gives_length_size_and_parameter_sets() {
        let c = parse_avcc(&AVCC).unwrap();
        assert_eq!(c.length_size, 4);
        assert_eq!(
            c.parameter_sets,
            vec![vec![0x67, 0x42, 0xC0, 0x1E], vec![0x68, 0xCE, 0x3C, 0x80]]
        );
    }

    #[test]
    fn keyframes_get_aud_and_parameter_sets_others_only_aud() {
        let c = parse_avcc(&AVCC).unwrap();
        // An IDR slice and an SEI, 4-byte lengths; plus an AUD the converter must drop.
        let sample = [
            0, 0, 0, 2, 0x09, 0x10, // AUD (dropped, we write our own)
            0, 0, 0, 3, 0x06, 0x05, 0x01, // SEI
            0, 0, 0, 4, 0x65, 0x88, 0x84, 0x00, // IDR slice
        ];
        let mut out = Vec::new();
        annex_b(&mut out, &c, &sample, true).unwrap();
        assert_eq!(
            out,
            [
                0, 0, 0, 1, 0x09, 0xF0, // AUD
                0, 0, 0, 1, 0x67, 0x42, 0xC0, 0x1E, // SPS
                0, 0, 0, 1, 0x68, 0xCE, 0x3C, 0x80, // PPS
                0, 0, 0, 1, 0x06, 0x05, 0x01, // SEI
                0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, // IDR
            ]
        );
        out.clear();
        annex_b(&mut out, &c, &[0, 0, 0, 2, 0x41, 0x9A], false).unwrap();
        assert_eq!(out, [0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, 0x41, 0x9A]);
    }

    #[test]
    fn two_byte_and_one_byte_lengths() {
        for (minus_one, sample) in [(1u8, vec![0, 2, 0x41, 0x9A]), (0, vec![2, 0x41, 0x9A])] {
            let mut avcc = AVCC;
            avcc[4] = 0xFC | minus_one;
            let c = parse_avcc(&avcc).unwrap();
            let mut out = Vec::new();
            annex_b(&mut out, &c, &sample, false).unwrap();
            assert_eq!(out, [0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, 0x41, 0x9A]);
        }
    }

    #[test]
    fn malformed_frames_are_errors_and_leave_no_bytes() {
        let c = parse_avcc(&AVCC).unwrap();
        let cases: [&[u8]; 5] = [
            &[0, 0, 0, 9, 0x41, 0x9A],       // length past the end
            &[0, 0, 0, 2, 0x41, 0x9A, 0, 0], // trailing partial length
            &[0xFF, 0xFF, 0xFF, 0xFF],       // 4 GiB claimed: no allocation, an error
            &[],                             // nothing at all
            &[0, 0, 0, 0],                   // only an empty NAL unit
        ];
        for sample in cases {
            let mut out = vec![7u8];
            let err = annex_b(&mut out, &c, sample, true).unwrap_err();
            assert!(matches!(err, TsError::BadSample(_)), "{sample:?}: {err}");
            assert_eq!(out, [7], "{sample:?}: output rolled back");
        }
    }

    #[test]
    fn malformed_records_are_errors() {
        let mut version2 = AVCC;
        version2[0] = 2;
        let mut length3 = AVCC;
        length3[4] = 0xFE;
        let cases: [&[u8]; 5] = [
            &[],
            &AVCC[..5],
            &AVCC[..10], // SPS cut short
            &version2,
            &length3,
        ];
        for avcc in cases {
            let err = parse_avcc(avcc).unwrap_err();
            assert!(matches!(err, TsError::BadCodecConfig(_)), "{avcc:?}: {err}");
        }
        for n in 0..hvcc().len() {
            assert!(parse_hvcc(&hvcc()[..n]).is_err(), "hvcC cut at {n}");
        }
        let mut hostile = hvcc()[..23].to_vec();
        hostile[22] = 1;
        hostile.extend_from_slice(&[0xA1, 0xFF, 0xFF]); // 65535 SPS promised, none given
        assert!(parse_hvcc(&hostile).is_err());
    }

    /// hvcC with VPS, SPS, PPS arrays (given out of order, PPS first) and an SEI array, 4-byte
    /// lengths.
    fn hvcc() -> Vec<u8> {
        let mut h = vec![0x01];
        h.extend_from_slice(&[0; 20]);
        h.push(0x0F); // ... lengthSizeMinusOne 3
        h.push(4); // numOfArrays
        for (t, nal) in [
            (34u8, &[0x44, 0x01, 0xC1][..]),
            (32, &[0x40, 0x01, 0x0C]),
            (33, &[0x42, 0x01, 0x01]),
            (39, &[0x4E, 0x01, 0x05]),
        ] {
            h.push(0x80 | t);
            h.extend_from_slice(&[0, 1, 0, nal.len() as u8]);
            h.extend_from_slice(nal);
        }
        h
    }

    #[test]
    fn hvcc_parameter_sets_in_vps_sps_pps_order_and_hevc_aud() {
        let c = parse_hvcc(&hvcc()).unwrap();
        assert_eq!(c.length_size, 4);
        assert_eq!(
            c.parameter_sets,
            vec![
                vec![0x40, 0x01, 0x0C],
                vec![0x42, 0x01, 0x01],
                vec![0x44, 0x01, 0xC1]
            ]
        );
        let mut out = Vec::new();
        // An IDR_W_RADL slice (type 19) after an HEVC AUD (type 35) the converter drops.
        let sample = [0, 0, 0, 3, 0x46, 0x01, 0x10, 0, 0, 0, 3, 0x26, 0x01, 0xAF];
        annex_b(&mut out, &c, &sample, true).unwrap();
        assert_eq!(
            out,
            [
                0, 0, 0, 1, 0x46, 0x01, 0x50, // AUD
                0, 0, 0, 1, 0x40, 0x01, 0x0C, // VPS
                0, 0, 0, 1, 0x42, 0x01, 0x01, // SPS
                0, 0, 0, 1, 0x44, 0x01, 0xC1, // PPS
                0, 0, 0, 1, 0x26, 0x01, 0xAF, // IDR
            ]
        );
    }
}
