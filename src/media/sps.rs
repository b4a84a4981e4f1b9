//! Picture size from a sequence parameter set, before anything is decoded: the one SPS reader
//! of the crate (the frame decoder's guard against pictures too large to decode; playback's
//! codec strings need only the configuration records' first bytes and do not come here).
//!
//! ITU-T H.264 §7.3.2.1.1 (seq_parameter_set_data) and §7.4.2.1.1 (frame cropping); ITU-T
//! H.265 §7.3.2.2 (seq_parameter_set_rbsp), §7.3.3 (profile_tier_level) and the conformance
//! window; ISO/IEC 14496-15 §5.3.3.1 (avcC) and §8.3.3.1 (hvcC) for where the SPS sits.
//!
//! The bytes are untrusted (a producer's CodecPrivate, its frames): every read is
//! bounds-checked, an Exp-Golomb code longer than 32 bits is an error, loops are bounded by the
//! spec's own limits, and at most [`MAX_SPS_BYTES`] of a NAL unit are unescaped. Nothing here
//! panics or allocates more than that.

use super::Codec;

/// Bytes of an SPS NAL unit read (after removing emulation prevention bytes). The fields read
/// here come first: even with H.264 scaling lists (12 lists of at most 64 deltas) they fit in
/// far less.
pub const MAX_SPS_BYTES: usize = 4096;
/// Parameter sets looked at in one configuration record (real ones have one or two SPS).
const MAX_CONFIG_NALS: usize = 64;

/// What an SPS says about the pictures that follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PictureInfo {
    /// Shown width in pixels (after cropping / the conformance window).
    pub width: u32,
    /// Shown height in pixels.
    pub height: u32,
    /// Coded (allocated) width: whole macroblocks (H.264) or the luma width (H.265).
    pub coded_width: u32,
    /// Coded height.
    pub coded_height: u32,
    /// Pictures the decoder keeps for reference and reordering, at most (H.264
    /// max_num_ref_frames, H.265 sps_max_dec_pic_buffering), at least 1.
    pub dpb_pictures: u32,
    /// Bytes per sample: 1 for 8-bit, 2 for deeper.
    pub sample_bytes: u32,
}

impl PictureInfo {
    /// Shown pixels per picture.
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// Bytes of one coded 4:2:0 picture (the decoder allocates 4:2:0 or more; 4:2:2/4:4:4 are
    /// rare enough for this to be an estimate). Saturates: an SPS may claim 2^32-pixel sides.
    pub fn picture_bytes(&self) -> u64 {
        (u64::from(self.coded_width) * u64::from(self.coded_height))
            .saturating_mul(3)
            .saturating_mul(u64::from(self.sample_bytes))
            / 2
    }
}

/// Why an SPS gave no size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpsError {
    /// The bytes end before the size fields.
    #[error("the SPS is truncated")]
    Truncated,
    /// A field has a value the spec forbids.
    #[error("the SPS is invalid: {0}")]
    Invalid(&'static str),
    /// The configuration record is malformed.
    #[error("the codec configuration is invalid: {0}")]
    Config(&'static str),
    /// Not H.264 or H.265.
    #[error("only H.264 and H.265 have an SPS")]
    NotVideo,
}

/// The RBSP of a NAL unit (emulation prevention bytes removed), at most [`MAX_SPS_BYTES`].
fn rbsp(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len().min(MAX_SPS_BYTES));
    let mut zeros = 0;
    for &b in payload {
        if out.len() >= MAX_SPS_BYTES {
            break;
        }
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// MSB-first bit reader over an RBSP.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Result<u32, SpsError> {
        let byte = self.data.get(self.pos / 8).ok_or(SpsError::Truncated)?;
        let b = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(u32::from(b))
    }

    fn bits(&mut self, n: u32) -> Result<u32, SpsError> {
        debug_assert!(n <= 32);
        let mut v: u64 = 0;
        for _ in 0..n {
            v = (v << 1) | u64::from(self.bit()?);
        }
        Ok(v as u32)
    }

    fn skip(&mut self, n: usize) -> Result<(), SpsError> {
        let end = self.pos.checked_add(n).ok_or(SpsError::Truncated)?;
        if end > self.data.len() * 8 {
            return Err(SpsError::Truncated);
        }
        self.pos = end;
        Ok(())
    }

    fn flag(&mut self) -> Result<bool, SpsError> {
        Ok(self.bit()? == 1)
    }

    /// ue(v): at most 31 leading zeros (values up to 2^32 - 2).
    fn ue(&mut self) -> Result<u32, SpsError> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return Err(SpsError::Invalid(
                    "an Exp-Golomb code is longer than 32 bits",
                ));
            }
        }
        let rest = u64::from(self.bits(zeros)?);
        u32::try_from((1u64 << zeros) - 1 + rest)
            .map_err(|_| SpsError::Invalid("an Exp-Golomb value is out of range"))
    }

    /// ue(v) that must be at most `max`.
    fn ue_max(&mut self, max: u32, what: &'static str) -> Result<u32, SpsError> {
        let v = self.ue()?;
        if v > max {
            return Err(SpsError::Invalid(what));
        }
        Ok(v)
    }

    /// se(v), only skipped over here.
    fn se(&mut self) -> Result<(), SpsError> {
        self.ue().map(|_| ())
    }
}

/// (SubWidthC, SubHeightC) of a chroma_format_idc (H.264 Table 6-1, H.265 Table 6-1);
/// (1, 1) for monochrome and separate colour planes, where cropping counts in luma samples.
fn chroma_sub(chroma_format_idc: u32, separate_planes: bool) -> (u32, u32) {
    match (chroma_format_idc, separate_planes) {
        (1, _) => (2, 2),
        (2, _) => (2, 1),
        _ => (1, 1),
    }
}

/// The shown size: coded size minus the crop offsets (in units of `unit`), which must leave at
/// least one pixel.
fn cropped(coded: (u32, u32), unit: (u32, u32), crop: [u32; 4]) -> Result<(u32, u32), SpsError> {
    let [left, right, top, bottom] = crop.map(u64::from);
    let cut_w = (left + right) * u64::from(unit.0);
    let cut_h = (top + bottom) * u64::from(unit.1);
    let (w, h) = (u64::from(coded.0), u64::from(coded.1));
    if cut_w >= w || cut_h >= h {
        return Err(SpsError::Invalid("the cropping removes the whole picture"));
    }
    Ok(((w - cut_w) as u32, (h - cut_h) as u32))
}

/// An H.264 SPS NAL unit (header byte included): its picture size.
pub fn h264(nal: &[u8]) -> Result<PictureInfo, SpsError> {
    let data = rbsp(nal.get(1..).ok_or(SpsError::Truncated)?);
    let mut r = Bits {
        data: &data,
        pos: 0,
    };
    let profile_idc = r.bits(8)?;
    r.skip(16)?; // constraint flags, level_idc
    r.ue_max(31, "seq_parameter_set_id is over 31")?;
    let (mut chroma, mut separate, mut depth) = (1, false, 0);
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma = r.ue_max(3, "chroma_format_idc is over 3")?;
        if chroma == 3 {
            separate = r.flag()?;
        }
        depth = r.ue_max(6, "bit_depth_luma_minus8 is over 6")?;
        r.ue_max(6, "bit_depth_chroma_minus8 is over 6")?;
        r.skip(1)?; // qpprime_y_zero_transform_bypass_flag
        if r.flag()? {
            // seq_scaling_matrix_present_flag: scaling lists (§7.3.2.1.1.1).
            let lists = if chroma == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.flag()? {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i64, 8i64);
                    for _ in 0..size {
                        if next != 0 {
                            let code = i64::from(r.ue()?);
                            // se(v): k → (-1)^(k+1) ceil(k / 2)
                            let delta = if code % 2 == 1 {
                                (code + 1) / 2
                            } else {
                                -(code / 2)
                            };
                            next = (last + delta).rem_euclid(256);
                        }
                        if next != 0 {
                            last = next;
                        }
                    }
                }
            }
        }
    }
    r.ue_max(12, "log2_max_frame_num_minus4 is over 12")?;
    match r.ue_max(2, "pic_order_cnt_type is over 2")? {
        0 => {
            r.ue_max(12, "log2_max_pic_order_cnt_lsb_minus4 is over 12")?;
        }
        1 => {
            r.skip(1)?; // delta_pic_order_always_zero_flag
            r.se()?; // offset_for_non_ref_pic
            r.se()?; // offset_for_top_to_bottom_field
            let cycle = r.ue_max(255, "num_ref_frames_in_pic_order_cnt_cycle is over 255")?;
            for _ in 0..cycle {
                r.se()?;
            }
        }
        _ => {}
    }
    let refs = r.ue_max(16, "max_num_ref_frames is over 16")?;
    r.skip(1)?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = r.ue()?.saturating_add(1);
    let height_units = r.ue()?.saturating_add(1);
    let frame_mbs_only = r.flag()?;
    if !frame_mbs_only {
        r.skip(1)?; // mb_adaptive_frame_field_flag
    }
    r.skip(1)?; // direct_8x8_inference_flag
    let mut crop = [0; 4];
    if r.flag()? {
        for c in &mut crop {
            *c = r.ue()?;
        }
    }
    let field_factor = if frame_mbs_only { 1 } else { 2 };
    let coded_w = u64::from(width_mbs) * 16;
    let coded_h = u64::from(height_units) * 16 * field_factor;
    let (coded_w, coded_h) = match (u32::try_from(coded_w), u32::try_from(coded_h)) {
        (Ok(w), Ok(h)) => (w, h),
        _ => return Err(SpsError::Invalid("the picture size is out of range")),
    };
    let (sub_w, sub_h) = if chroma == 0 || separate {
        (1, 1)
    } else {
        chroma_sub(chroma, separate)
    };
    let unit = (sub_w, sub_h * field_factor as u32);
    let (width, height) = cropped((coded_w, coded_h), unit, crop)?;
    Ok(PictureInfo {
        width,
        height,
        coded_width: coded_w,
        coded_height: coded_h,
        dpb_pictures: refs.max(1),
        sample_bytes: if depth > 0 { 2 } else { 1 },
    })
}

/// An H.265 SPS NAL unit (2-byte header included): its picture size.
pub fn h265(nal: &[u8]) -> Result<PictureInfo, SpsError> {
    let data = rbsp(nal.get(2..).ok_or(SpsError::Truncated)?);
    let mut r = Bits {
        data: &data,
        pos: 0,
    };
    r.skip(4)?; // sps_video_parameter_set_id
    let sub_layers = r.bits(3)?; // sps_max_sub_layers_minus1
    if sub_layers > 6 {
        return Err(SpsError::Invalid("sps_max_sub_layers_minus1 is over 6"));
    }
    r.skip(1)?; // sps_temporal_id_nesting_flag
    // profile_tier_level(1, sps_max_sub_layers_minus1): the general part is 88 bits of
    // profile and 8 of level.
    r.skip(96)?;
    let mut present = [(false, false); 6];
    for p in present.iter_mut().take(sub_layers as usize) {
        *p = (r.flag()?, r.flag()?);
    }
    if sub_layers > 0 {
        r.skip(2 * (8 - sub_layers as usize))?; // reserved_zero_2bits
    }
    for &(profile, level) in present.iter().take(sub_layers as usize) {
        if profile {
            r.skip(88)?;
        }
        if level {
            r.skip(8)?;
        }
    }
    r.ue_max(15, "sps_seq_parameter_set_id is over 15")?;
    let chroma = r.ue_max(3, "chroma_format_idc is over 3")?;
    let separate = chroma == 3 && r.flag()?;
    let width = r.ue()?;
    let height = r.ue()?;
    if width == 0 || height == 0 {
        return Err(SpsError::Invalid("the picture size is 0"));
    }
    let mut crop = [0; 4];
    if r.flag()? {
        for c in &mut crop {
            *c = r.ue()?;
        }
    }
    let depth = r.ue_max(8, "bit_depth_luma_minus8 is over 8")?;
    r.ue_max(8, "bit_depth_chroma_minus8 is over 8")?;
    r.ue_max(12, "log2_max_pic_order_cnt_lsb_minus4 is over 12")?;
    let all_layers = r.flag()?; // sps_sub_layer_ordering_info_present_flag
    let mut dpb = 1;
    for _ in (if all_layers { 0 } else { sub_layers })..=sub_layers {
        let buffering = r.ue_max(15, "sps_max_dec_pic_buffering_minus1 is over 15")?;
        r.ue()?; // sps_max_num_reorder_pics
        r.ue()?; // sps_max_latency_increase_plus1
        dpb = buffering + 1;
    }
    let (sub_w, sub_h) = chroma_sub(chroma, separate);
    let (shown_w, shown_h) = cropped((width, height), (sub_w, sub_h), crop)?;
    Ok(PictureInfo {
        width: shown_w,
        height: shown_h,
        coded_width: width,
        coded_height: height,
        dpb_pictures: dpb,
        sample_bytes: if depth > 0 { 2 } else { 1 },
    })
}

/// Whether a NAL unit is an SPS of `codec`'s kind, by its first header byte.
fn is_sps(h265: bool, header: u8) -> bool {
    if h265 {
        (header >> 1) & 0x3F == 33
    } else {
        header & 0x1F == 7
    }
}

/// What a decoder configuration record says about the pictures: the length-prefix size of the
/// frames' NAL units and its SPS (the largest picture, if it has several).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoParams {
    /// Bytes in each NAL unit length prefix of a frame (1, 2 or 4).
    pub length_size: usize,
    /// The configuration's SPS; None when it has none (the frames must carry one).
    pub picture: Option<PictureInfo>,
}

/// Reads `codec`'s configuration record (avcC or hvcC): every SPS in it must parse.
pub fn params(codec: &Codec) -> Result<VideoParams, SpsError> {
    let (config, h265) = match codec {
        Codec::H264 { avcc } => (avcc, false),
        Codec::H265 { hvcc } => (hvcc, true),
        Codec::Aac { .. } | Codec::Other(_) => return Err(SpsError::NotVideo),
    };
    let mut c = Cursor(config);
    if c.u8()? != 1 {
        return Err(SpsError::Config("configurationVersion is not 1"));
    }
    let mut nals: Vec<&[u8]> = Vec::new();
    let length_size;
    if h265 {
        c.take(20)?;
        length_size = usize::from(c.u8()? & 3) + 1;
        for _ in 0..c.u8()? {
            let kind = c.u8()? & 0x3F;
            for _ in 0..c.u16()? {
                let nal = c.nal()?;
                if kind == 33 && nals.len() < MAX_CONFIG_NALS {
                    nals.push(nal);
                }
            }
        }
    } else {
        c.take(3)?;
        length_size = usize::from(c.u8()? & 3) + 1;
        for _ in 0..(c.u8()? & 0x1F) {
            nals.push(c.nal()?);
        }
    }
    if length_size == 3 {
        return Err(SpsError::Config("lengthSizeMinusOne is 2"));
    }
    let mut picture: Option<PictureInfo> = None;
    for nal in nals {
        let p = sps(codec, nal)?.ok_or(SpsError::Config("an SPS entry is not an SPS"))?;
        if picture.is_none_or(|q| p.pixels() > q.pixels()) {
            picture = Some(p);
        }
    }
    Ok(VideoParams {
        length_size,
        picture,
    })
}

/// If `nal` is an SPS of `codec`'s kind: its picture size.
pub fn sps(codec: &Codec, nal: &[u8]) -> Result<Option<PictureInfo>, SpsError> {
    let hevc = match codec {
        Codec::H264 { .. } => false,
        Codec::H265 { .. } => true,
        Codec::Aac { .. } | Codec::Other(_) => return Err(SpsError::NotVideo),
    };
    match nal.first() {
        Some(&b) if is_sps(hevc, b) => if hevc { h265(nal) } else { h264(nal) }.map(Some),
        _ => Ok(None),
    }
}

/// The NAL units of a frame (length-prefixed, `length_size` bytes); a length past the end
/// ends the walk with an error item.
pub fn nal_units(data: &[u8], length_size: usize) -> impl Iterator<Item = Result<&[u8], SpsError>> {
    let mut rest = data;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || rest.is_empty() {
            return None;
        }
        let Some(prefix) = rest.get(..length_size) else {
            failed = true;
            return Some(Err(SpsError::Truncated));
        };
        let len = prefix
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        let Some(nal) = rest.get(length_size..length_size.saturating_add(len)) else {
            failed = true;
            return Some(Err(SpsError::Truncated));
        };
        rest = &rest[length_size + len..];
        Some(Ok(nal))
    })
}

/// A bounds-checked cursor over a configuration record.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SpsError> {
        if n > self.0.len() {
            return Err(SpsError::Config("truncated"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, SpsError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, SpsError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn nal(&mut self) -> Result<&'a [u8], SpsError> {
        let len = usize::from(self.u16()?);
        self.take(len)
    }
}

/// Test helpers that write parameter sets (also used by `frames`' tests and the integration
/// tests' crafted streams).
#[doc(hidden)]
pub mod craft {
    /// MSB-first bit writer.
    #[derive(Default)]
    pub struct BitWriter {
        bytes: Vec<u8>,
        bits: usize,
    }

    impl BitWriter {
        /// Appends the low `n` bits of `v`.
        pub fn bits(&mut self, n: u32, v: u64) -> &mut Self {
            for i in (0..n).rev() {
                if self.bits.is_multiple_of(8) {
                    self.bytes.push(0);
                }
                let bit = ((v >> i) & 1) as u8;
                let last = self.bytes.len() - 1;
                self.bytes[last] |= bit << (7 - self.bits % 8);
                self.bits += 1;
            }
            self
        }

        /// Appends ue(v).
        pub fn ue(&mut self, v: u32) -> &mut Self {
            let x = u64::from(v) + 1;
            let len = 64 - x.leading_zeros();
            self.bits(len - 1, 0).bits(len, x)
        }

        /// The rbsp_trailing_bits, then the bytes with emulation prevention added.
        pub fn finish(mut self) -> Vec<u8> {
            self.bits(1, 1);
            let mut out = Vec::new();
            let mut zeros = 0;
            for b in self.bytes {
                if zeros >= 2 && b <= 3 {
                    out.push(3);
                    zeros = 0;
                }
                zeros = if b == 0 { zeros + 1 } else { 0 };
                out.push(b);
            }
            out
        }
    }

    /// An H.264 Baseline SPS NAL unit (header 0x67) for `width`x`height` (multiples of 16),
    /// one reference frame.
    pub fn h264_sps(width: u32, height: u32) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.bits(8, 66).bits(8, 0xC0).bits(8, 62); // profile, constraints, level 6.2
        w.ue(0).ue(0).ue(2).ue(1).bits(1, 0); // sps id, frame_num, poc type 2, 1 ref, no gaps
        w.ue(width / 16 - 1).ue(height / 16 - 1);
        w.bits(1, 1).bits(1, 1).bits(1, 0).bits(1, 0); // frame_mbs_only, 8x8, no crop, no VUI
        let mut nal = vec![0x67];
        nal.extend(w.finish());
        nal
    }

    /// An avcC (4-byte lengths) with one SPS for `width`x`height` and one PPS.
    pub fn avcc(width: u32, height: u32) -> Vec<u8> {
        let sps = h264_sps(width, height);
        let pps = [0x68, 0xCE, 0x3C, 0x80];
        let mut c = vec![1, sps[1], sps[2], sps[3], 0xFF, 0xE1];
        c.extend((sps.len() as u16).to_be_bytes());
        c.extend(&sps);
        c.push(1);
        c.extend((pps.len() as u16).to_be_bytes());
        c.extend(pps);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn crafted_h264_sizes() {
        for (w, h) in [(320, 240), (1920, 1088), (8192, 8192), (16, 16)] {
            let p = h264(&craft::h264_sps(w, h)).unwrap();
            assert_eq!((p.width, p.height, p.dpb_pictures), (w, h, 1), "{w}x{h}");
        }
        let codec = Codec::H264 {
            avcc: Bytes::from(craft::avcc(8192, 8192)),
        };
        let params = params(&codec).unwrap();
        assert_eq!(params.length_size, 4);
        assert_eq!(params.picture.unwrap().pixels(), 8192 * 8192);
    }

    /// The largest sides an H.265 SPS can state (ue(v) up to 2^32 - 2): the byte estimate
    /// saturates instead of overflowing (found by the sps_parse fuzz target in CI).
    #[test]
    fn huge_sides_saturate() {
        let p = PictureInfo {
            width: u32::MAX,
            height: u32::MAX,
            coded_width: u32::MAX,
            coded_height: u32::MAX,
            dpb_pictures: 16,
            sample_bytes: 2,
        };
        assert_eq!(p.pixels(), u64::from(u32::MAX) * u64::from(u32::MAX));
        assert_eq!(p.picture_bytes(), u64::MAX / 2);
        let crash = "AAFCAAAAAQAbZ0LAqDUwNSgAACMEQAH/+tvbAUIAAAABAAABABtnQsCoNZwAAABnAAAAAAAB/9vb//8AAP///wA8gA==";
        let data =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, crash).unwrap();
        let rest = &data[1..];
        let codec = Codec::H264 {
            avcc: Bytes::copy_from_slice(rest),
        };
        let mut pictures: Vec<PictureInfo> = params(&codec)
            .ok()
            .and_then(|p| p.picture)
            .into_iter()
            .collect();
        pictures.extend(sps(&codec, rest).ok().flatten());
        for nal in nal_units(rest, 1).take(64) {
            let Ok(nal) = nal else { break };
            pictures.extend(sps(&codec, nal).ok().flatten());
        }
        assert!(!pictures.is_empty());
        for p in pictures {
            assert!(p.picture_bytes() >= p.pixels(), "{p:?}");
        }
    }

    /// Real encoders' configuration records (gst-launch-1.0 -v videotestsrc ! x264enc / x265enc
    /// ! h265parse, the caps' codec_data): x264 High 1920x1080 (coded 1088, cropped), x264
    /// Constrained Baseline 320x240, x264 High interlaced 720x576 (field pairs), x265 Main
    /// 320x240 (conformance window from 256) and 1920x1080.
    #[test]
    fn encoder_configs() {
        let h264 = |hex: &str| Codec::H264 {
            avcc: Bytes::from(self::hex(hex)),
        };
        let h265 = |hex: &str| Codec::H265 {
            hvcc: Bytes::from(self::hex(hex)),
        };
        let cases = [
            (
                h264(
                    "01640028ffe1001e67640028acd940780227e5c05a808080a0000003002000000791e30632c001000568ebecb22c",
                ),
                (1920, 1080, 1920, 1088),
            ),
            (
                h264(
                    "0142c015ffe1001c6742c015d90141fb016a0c0c0d4a000003000200000300791e2c5c9001000468cb8cb2",
                ),
                (320, 240, 320, 240),
            ),
            (
                h264(
                    "0164001fffe1001e6764001facd940b4126c05a830303528000003000800000301e478c18cb001000568ebecb22c",
                ),
                (720, 576, 720, 576),
            ),
            (
                h265(
                    "0101600000009000000000003ff000fcfdf8f800000f03200001001840010c01ffff01600000030090000003000003003f959409210001003142010101600000030090000003000003003fa00a080f16595952930bffc00040005a830303020000030002000003003c1022000100064401c073c189",
                ),
                (320, 240, 320, 240),
            ),
            (
                h265(
                    "01016000000090000000000078f000fcfdf8f800000f03200001001840010c01ffff0160000003009000000300000300789594092100010032420101016000000300900000030000030078a003c0801107cb965654a4c2fff000100016a020202080000003008000000f0422000100064401c073c189",
                ),
                (1920, 1080, 1920, 1088),
            ),
        ];
        for (codec, want) in cases {
            let p = params(&codec).unwrap_or_else(|e| panic!("{codec:?}: {e}"));
            assert_eq!(p.length_size, 4);
            let p = p.picture.unwrap();
            assert_eq!((p.width, p.height, p.coded_width, p.coded_height), want);
            assert!((1..=16).contains(&p.dpb_pictures), "{p:?}");
        }
    }

    #[test]
    fn hostile_bytes_are_errors_not_panics() {
        // Exp-Golomb with 40 leading zeros.
        let mut nal = vec![0x67, 66, 0, 30];
        nal.extend([0, 0, 0, 0, 0, 0x80]);
        assert!(h264(&nal).is_err());
        // Truncated at every length.
        let good = craft::h264_sps(1920, 1088);
        for n in 0..good.len() - 1 {
            let _ = h264(&good[..n]);
            let _ = h265(&good[..n]);
        }
        // Pseudo-random bytes.
        let mut x: u32 = 0x1234_5678;
        for len in 0..600 {
            let bytes: Vec<u8> = (0..len % 97)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = h264(&bytes);
            let _ = h265(&bytes);
            let _ = params(&Codec::H264 {
                avcc: Bytes::from(bytes.clone()),
            });
            let _ = params(&Codec::H265 {
                hvcc: Bytes::from(bytes.clone()),
            });
            let _ = nal_units(&bytes, 4).count();
        }
        // Cropping all of the picture.
        let mut w = craft::BitWriter::default();
        w.bits(8, 66).bits(8, 0).bits(8, 30);
        w.ue(0).ue(0).ue(2).ue(1).bits(1, 0).ue(0).ue(0);
        w.bits(1, 1).bits(1, 1).bits(1, 1).ue(8).ue(0).ue(0).ue(0);
        let mut nal = vec![0x67];
        nal.extend(w.finish());
        assert_eq!(
            h264(&nal),
            Err(SpsError::Invalid("the cropping removes the whole picture"))
        );
        // A huge macroblock count does not overflow.
        let mut w = craft::BitWriter::default();
        w.bits(8, 66).bits(8, 0).bits(8, 30);
        w.ue(0)
            .ue(0)
            .ue(2)
            .ue(1)
            .bits(1, 0)
            .ue(u32::MAX - 1)
            .ue(u32::MAX - 1);
        w.bits(1, 0).bits(1, 1).bits(1, 1).bits(1, 0);
        let mut nal = vec![0x67];
        nal.extend(w.finish());
        assert!(h264(&nal).is_err());
    }

    #[test]
    fn nal_walk() {
        let data = [0, 0, 0, 2, 0x67, 1, 0, 0, 0, 1, 0x68];
        let nals: Vec<_> = nal_units(&data, 4).collect();
        assert_eq!(nals, vec![Ok(&[0x67, 1][..]), Ok(&[0x68][..])]);
        let nals: Vec<_> = nal_units(&[0, 0, 0, 9, 1], 4).collect();
        assert_eq!(nals, vec![Err(SpsError::Truncated)]);
    }
}
