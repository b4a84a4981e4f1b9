//! AAC in MPEG-TS: each raw access unit from MKV gets the 7-byte ADTS header that the
//! AudioSpecificConfig implies, since TS carries AAC as an ADTS stream (stream_type 0x0F).
//!
//! ISO/IEC 14496-3 §1.6.2.1 (AudioSpecificConfig), §1.6.5 (HE-AAC explicit signalling),
//! §1.A.2.2 (adts_fixed_header, adts_variable_header).

use super::TsError;

/// ADTS header length without CRC (protection_absent = 1).
pub const HEADER_LEN: usize = 7;
/// frame_length is 13 bits and counts the header.
const MAX_FRAME_LEN: usize = (1 << 13) - 1;

/// The ADTS fields that come from the AudioSpecificConfig.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdtsConfig {
    /// ADTS `profile`: the MPEG-4 audio object type minus 1 (AAC Main 0, LC 1, SSR 2, LTP 3).
    pub profile: u8,
    /// `sampling_frequency_index` (Table 1.18).
    pub sampling_frequency_index: u8,
    /// `channel_configuration` (1..=7).
    pub channel_configuration: u8,
}

/// Sampling frequencies by index (ISO/IEC 14496-3 Table 1.18).
const SAMPLING_FREQUENCIES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// Reads bits MSB first from a byte slice.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn read(&mut self, n: usize) -> Result<u32, TsError> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = self.data.get(self.pos / 8).ok_or_else(|| {
                TsError::BadCodecConfig("AudioSpecificConfig is truncated".into())
            })?;
            v = (v << 1) | u32::from((byte >> (7 - self.pos % 8)) & 1);
            self.pos += 1;
        }
        Ok(v)
    }

    /// GetAudioObjectType() (§1.6.2.1): 5 bits, 31 escapes to 32 + 6 more bits.
    fn object_type(&mut self) -> Result<u32, TsError> {
        let t = self.read(5)?;
        Ok(if t == 31 { 32 + self.read(6)? } else { t })
    }

    /// samplingFrequencyIndex, rejecting the explicit 24-bit frequency (index 15), which
    /// ADTS cannot express.
    fn frequency_index(&mut self) -> Result<u8, TsError> {
        let index = self.read(4)? as u8;
        if usize::from(index) >= SAMPLING_FREQUENCIES.len() {
            return Err(TsError::BadCodecConfig(format!(
                "AudioSpecificConfig sampling frequency index {index} has no ADTS equivalent"
            )));
        }
        Ok(index)
    }
}

impl AdtsConfig {
    /// Derives the ADTS fields from an AudioSpecificConfig. HE-AAC (SBR, PS) with explicit
    /// signalling becomes its AAC-LC core at the core sampling rate (implicit signalling, as
    /// ADTS streams carry HE-AAC). Object types ADTS cannot express are `UnsupportedCodec`.
    pub fn from_asc(asc: &[u8]) -> Result<AdtsConfig, TsError> {
        let mut bits = Bits { data: asc, pos: 0 };
        let mut object_type = bits.object_type()?;
        let sampling_frequency_index = bits.frequency_index()?;
        let channel_configuration = bits.read(4)? as u8;
        if object_type == 5 || object_type == 29 {
            // extensionSamplingFrequencyIndex, then the core object type.
            let ext = bits.read(4)?;
            if ext == 15 {
                bits.read(24)?;
            }
            object_type = bits.object_type()?;
        }
        if !(1..=4).contains(&object_type) {
            return Err(TsError::UnsupportedCodec(format!(
                "AAC audio object type {object_type} cannot be carried in ADTS"
            )));
        }
        if !(1..=7).contains(&channel_configuration) {
            return Err(TsError::BadCodecConfig(format!(
                "AudioSpecificConfig channel configuration {channel_configuration} \
                 (program config element) is not supported in ADTS"
            )));
        }
        Ok(AdtsConfig {
            profile: object_type as u8 - 1,
            sampling_frequency_index,
            channel_configuration,
        })
    }

    /// The sampling frequency in Hz.
    #[cfg(test)]
    pub fn sampling_frequency(&self) -> u32 {
        SAMPLING_FREQUENCIES[usize::from(self.sampling_frequency_index)]
    }

    /// The ADTS header for one raw access unit of `payload_len` bytes. Errors when the frame
    /// does not fit the 13-bit frame_length.
    pub fn header(&self, payload_len: usize) -> Result<[u8; HEADER_LEN], TsError> {
        let len = payload_len + HEADER_LEN;
        if payload_len == 0 || len > MAX_FRAME_LEN {
            return Err(TsError::BadSample(format!(
                "AAC frame of {payload_len} bytes does not fit an ADTS frame (1..={} bytes)",
                MAX_FRAME_LEN - HEADER_LEN
            )));
        }
        let ch = self.channel_configuration;
        Ok([
            0xFF,                                                                   // syncword 0xFFF ...
            0xF1, // ... ID 0 (MPEG-4), layer 00, protection_absent 1
            (self.profile << 6) | (self.sampling_frequency_index << 2) | (ch >> 2), // private 0
            ((ch & 3) << 6) | (len >> 11) as u8, // original/home/copyright bits 0, frame_length
            (len >> 3) as u8,
            ((len as u8 & 7) << 5) | 0x1F, // adts_buffer_fullness 0x7FF (variable rate) ...
            0xFC,                          // ... and number_of_raw_data_blocks_in_frame 0
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aac_lc_48k_mono() {
        // AAC-LC (2), 48 kHz (3), mono (1): 00010 0011 0001 000 = 0x11 0x88.
        let c = AdtsConfig::from_asc(&[0x11, 0x88]).unwrap();
        assert_eq!(
            c,
            AdtsConfig {
                profile: 1,
                sampling_frequency_index: 3,
                channel_configuration: 1
            }
        );
        assert_eq!(c.sampling_frequency(), 48_000);
        // The header ffmpeg writes for a 200-byte LC/48k/mono frame: frame_length 207.
        assert_eq!(
            c.header(200).unwrap(),
            [0xFF, 0xF1, 0x4C, 0x40, 0x19, 0xFF, 0xFC]
        );
    }

    #[test]
    fn aac_lc_44k1_stereo_and_a_long_frame() {
        // AAC-LC, 44.1 kHz (4), stereo (2): 00010 0100 0010 000 = 0x12 0x10.
        let c = AdtsConfig::from_asc(&[0x12, 0x10]).unwrap();
        let h = c.header(2000).unwrap();
        assert_eq!(&h[..3], &[0xFF, 0xF1, 0x50]);
        let len = (usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
        assert_eq!(len, 2007);
        assert_eq!((h[2] & 1) << 2 | h[3] >> 6, 2, "channel configuration");
    }

    #[test]
    fn he_aac_explicit_signalling_becomes_its_lc_core() {
        // SBR (5), core 24 kHz (6), stereo (2), extension 48 kHz (3), then AAC-LC (2):
        // 00101 0110 0010 0011 00010 + padding = 0x2B 0x11 0x88 (ASC as some encoders write it).
        let c = AdtsConfig::from_asc(&[0x2B, 0x11, 0x88, 0x00]).unwrap();
        assert_eq!(c.profile, 1);
        assert_eq!(c.sampling_frequency(), 24_000);
        assert_eq!(c.channel_configuration, 2);
    }

    #[test]
    fn what_adts_cannot_say_is_an_error() {
        assert!(matches!(
            AdtsConfig::from_asc(&[]),
            Err(TsError::BadCodecConfig(_))
        ));
        assert!(matches!(
            AdtsConfig::from_asc(&[0x11]),
            Err(TsError::BadCodecConfig(_))
        ));
        // Explicit frequency (index 15).
        assert!(AdtsConfig::from_asc(&[0x17, 0x80, 0, 0, 0, 0]).is_err());
        // Channel configuration 0 (a PCE follows).
        assert!(AdtsConfig::from_asc(&[0x11, 0x80]).is_err());
        // Object type 42 (USAC), escaped: 11111 001010 ...
        assert!(matches!(
            AdtsConfig::from_asc(&[0xF9, 0x51, 0x88, 0x00]),
            Err(TsError::UnsupportedCodec(_))
        ));
        let c = AdtsConfig::from_asc(&[0x11, 0x88]).unwrap();
        assert!(c.header(0).is_err());
        assert!(c.header(8184).is_ok());
        assert!(c.header(8185).is_err());
    }
}
