//! The RTSP client of the camera agent: one camera connection as a stream of timed frames.
//!
//! Built on [`retina`] (the RTSP client of Moonfire NVR): DESCRIBE, SETUP of the streams we
//! store, PLAY, then RTP depacketized into whole frames on the caller's tokio task. No thread, no
//! GStreamer pipeline and no jitter buffer per camera: over TCP (interleaved, the default) RTP is
//! ordered and lossless, and frames are timed by their RTP timestamps ([`clock`]); retina reads
//! the socket into a 64 KiB ring buffer, so one read carries many packets. UDP works too (on a
//! LAN: retina has no reorder buffer, so reordered packets count as lost).
//!
//! What is stored: the first H.264 or H.265 video stream of the SDP and, when present, its first
//! AAC (`mpeg4-generic`) audio stream; both as sent, never re-encoded. Video comes out as 4-byte
//! length-prefixed NAL units with SPS/PPS (and VPS) repeated before each keyframe, as
//! `h264parse config-interval=-1` did, and the avcC/hvcC for the Matroska CodecPrivate. Any other
//! video (MJPEG, raw…) is [`PullFailure::UnsupportedCodec`] at DESCRIBE time; other audio is not
//! set up. [`mux`] turns the frames into the Matroska bytes of an ingest session.
//!
//! Errors become [`PullFailure`]s an operator can act on; retina's context lines (connection
//! addresses, byte positions) are logged at debug level, not shown. Credentials go to retina
//! only (it answers Basic and Digest challenges) and never appear in a message. Where a
//! camera may be and how it is reached under the egress guard, and why every failure before
//! the first RTSP answer reads the same: [`connect`].

pub mod clock;
pub mod connect;
pub mod mux;

use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt;
use retina::client::{
    self, Credentials, Demuxed, InitialTimestampPolicy, PlayOptions, SessionOptions, SetupOptions,
};
use retina::codec::{
    CodecItem, FrameFormat, ParameterSetInsertion, ParametersRef, VideoParametersCodec,
};

use super::Transport;
use crate::egress::Policy;
use clock::FrameClock;
use mux::{AUDIO_TRACK, TrackSpec, VIDEO_TRACK};

/// What to pull. `Debug` omits the password.
#[derive(Clone)]
pub struct PullOptions {
    /// `rtsp://host:port/path`, without userinfo.
    pub url: String,
    /// RTSP user.
    pub username: Option<String>,
    /// RTSP password.
    pub password: Option<String>,
    /// RTP transport.
    pub transport: Transport,
    /// Largest RTSP message accepted from the camera, in bytes (`[cameras]
    /// max_rtsp_message_bytes`).
    pub max_message_bytes: usize,
}

impl std::fmt::Debug for PullOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullOptions")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("has_password", &self.password.is_some())
            .field("transport", &self.transport)
            .field("max_message_bytes", &self.max_message_bytes)
            .finish()
    }
}

/// Why a pull failed, in words an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PullFailure {
    /// No RTSP answer from `HOST:PORT`: the name did not resolve, or the connection was refused,
    /// timed out or reset, or the peer does not speak RTSP. Deliberately one message for all (see
    /// [`connect`]); the log has the detail.
    #[error("could not connect to the camera at {0}")]
    CannotConnect(String),
    /// The egress guard refuses the camera's address (the message names the config key).
    #[error("{0}")]
    NotAllowed(String),
    /// The camera answered 401.
    #[error("401 unauthorized: the camera refused the username/password")]
    Unauthorized,
    /// The camera answered 404 for the URL.
    #[error("camera answered not found: {0}; check the URL path")]
    NotFound(String),
    /// A URL the client cannot use.
    #[error("url is not usable: {0}")]
    BadUrl(String),
    /// A video encoding vidstream cannot store without re-encoding.
    #[error(
        "unsupported codec {0}: vidstream stores H.264 or H.265 video as sent (no re-encoding)"
    )]
    UnsupportedCodec(String),
    /// The camera offers no video stream.
    #[error("the camera offers no video stream")]
    NoVideo,
    /// The peer does not speak RTSP properly (garbage, a closed connection, a bad answer).
    #[error("rtsp error: {0}")]
    Protocol(String),
    /// The camera sent an RTSP message larger than `[cameras] max_rtsp_message_bytes` (the
    /// limit, in bytes): a broken or hostile camera, or a limit set too low.
    #[error(
        "the camera sent an RTSP message over {0} bytes (the limit is [cameras] max_rtsp_message_bytes)"
    )]
    MessageTooLarge(usize),
    /// The camera ended the stream (RTSP teardown or end of stream).
    #[error("the camera ended the stream")]
    Ended,
    /// The camera changed its video parameters (SPS/PPS): a new track header, so a new
    /// ingest session.
    #[error("the camera changed its video parameters; reconnecting for a new track header")]
    ParametersChanged,
    /// The ingest side did not keep up with the camera's data.
    #[error("ingest is not keeping up with the camera; the connection was restarted")]
    ConsumerTooSlow,
}

impl PullFailure {
    /// Failures that retrying soon will not fix.
    pub fn needs_a_person(&self) -> bool {
        matches!(
            self,
            PullFailure::Unauthorized
                | PullFailure::NotAllowed(_)
                | PullFailure::NotFound(_)
                | PullFailure::BadUrl(_)
                | PullFailure::UnsupportedCodec(_)
                | PullFailure::NoVideo
                | PullFailure::MessageTooLarge(_)
        )
    }

    /// Words for a retina error once the camera has answered RTSP: its first line (the rest is
    /// connection context). `max_message_bytes` is the limit the session was opened with.
    fn from_retina(e: &retina::Error, max_message_bytes: usize) -> PullFailure {
        let text = e.to_string();
        tracing::debug!(error = %text, "rtsp client error");
        if oversized(&text).is_some() {
            return PullFailure::MessageTooLarge(max_message_bytes);
        }
        let first = text.lines().next().unwrap_or("").trim().to_owned();
        match e.status_code() {
            Some(401) => PullFailure::Unauthorized,
            Some(404) => PullFailure::NotFound(first),
            _ => PullFailure::Protocol(first),
        }
    }
}

/// Whether retina refused a message over [`SessionOptions::max_message_size`]: its parser's
/// `message-too-large` (vendor/retina/VIDSTREAM-PATCH.md), in an RTSP framing error such as
/// `RTSP framing error: Invalid RTSP message: byte 1048620: response > message-too-large;
/// buffered: ...`. `Some(true)` when a start line (`RTSP/1.0 200 OK`, or a request's) came
/// before, i.e. the peer answered RTSP; `Some(false)` when the first line itself never ended.
fn oversized(text: &str) -> Option<bool> {
    let first = text.lines().next()?;
    if !first.contains("message-too-large") {
        return None;
    }
    Some(
        first.contains("response > message-too-large")
            || first.contains("request > message-too-large"),
    )
}

/// Which codec the video is: `H264` or `H265`.
pub type CodecName = &'static str;

/// A frame ready for the muxer.
#[derive(Debug)]
pub struct PulledFrame {
    /// [`VIDEO_TRACK`] or [`AUDIO_TRACK`].
    pub track: u64,
    /// Time in ms since the connection was opened, on the server's clock (see [`clock`]).
    pub ms: i64,
    /// A keyframe (video) or an audio frame.
    pub key: bool,
    /// Video: 4-byte length-prefixed NAL units; audio: a raw AAC frame.
    pub data: Vec<u8>,
}

/// A playing camera connection.
pub struct Connection {
    session: std::pin::Pin<Box<Demuxed>>,
    video: usize,
    audio: Option<(usize, TrackSpec)>,
    /// The video track as last announced (None until the first keyframe's parameters).
    video_spec: Option<TrackSpec>,
    video_clock: FrameClock,
    audio_clock: FrameClock,
    opened: Instant,
    /// [`PullOptions::max_message_bytes`], for the words of a message over it.
    max_message_bytes: usize,
    /// `H264` or `H265`.
    pub codec: CodecName,
}

/// One step of a connection.
#[derive(Debug)]
pub enum Pulled {
    /// A frame.
    Frame(PulledFrame),
    /// Nothing to store (RTCP, a P-frame before any parameters...).
    Nothing,
}

impl Connection {
    /// Connects to an address `egress` allows (see [`connect`]), picks the streams and starts
    /// playing. Not bounded in time: the caller wraps it in a timeout.
    pub async fn open(opts: &PullOptions, egress: &Policy) -> Result<Connection, PullFailure> {
        let url = url::Url::parse(&opts.url)
            .map_err(|e| PullFailure::BadUrl(format!("{}: {e}", opts.url)))?;
        if url.scheme() != "rtsp" {
            return Err(PullFailure::BadUrl(format!(
                "scheme {} is not supported; use rtsp://",
                url.scheme()
            )));
        }
        let options = || {
            let creds = opts.username.as_ref().map(|u| Credentials {
                username: u.clone(),
                password: opts.password.clone().unwrap_or_default(),
            });
            SessionOptions::default()
                .creds(creds)
                .user_agent(format!("vidstream/{}", env!("CARGO_PKG_VERSION")))
                .max_message_size(opts.max_message_bytes)
        };
        let limit = opts.max_message_bytes;
        let (mut session, peer) = connect::describe(&url, egress, limit, options).await?;

        let streams = session.streams();
        let mut video = None;
        let mut other_video = None;
        let mut audio = None;
        for (i, s) in streams.iter().enumerate() {
            let encoding = s.encoding_name().to_ascii_uppercase();
            match s.media() {
                "video" if video.is_none() && (encoding == "H264" || encoding == "H265") => {
                    video = Some((i, if encoding == "H264" { "H264" } else { "H265" }));
                }
                "video" => {
                    other_video.get_or_insert(encoding);
                }
                "audio" if audio.is_none() && encoding == "MPEG4-GENERIC" => audio = Some(i),
                media => tracing::info!(media, encoding, "not storing an rtsp stream"),
            }
        }
        let Some((video, codec)) = video else {
            return Err(match other_video {
                Some(e) if e.is_empty() => PullFailure::UnsupportedCodec("(none)".into()),
                Some(e) => PullFailure::UnsupportedCodec(e),
                None => PullFailure::NoVideo,
            });
        };
        let transport = match opts.transport {
            Transport::Tcp => client::Transport::Tcp(Default::default()),
            Transport::Udp => client::Transport::Udp(Default::default()),
        };
        // Length-prefixed NALs (the CodecPrivate is avcC/hvcC), parameter sets repeated before
        // each keyframe so that every fragment decodes on its own, raw AAC.
        let format = FrameFormat {
            parameter_set_insertion: ParameterSetInsertion::EachKeyFrame,
            ..FrameFormat::MP4
        };
        for i in std::iter::once(video).chain(audio) {
            session
                .setup(
                    i,
                    SetupOptions::default()
                        .transport(transport.clone())
                        .frame_format(format),
                )
                .await
                .map_err(|e| PullFailure::from_retina(&e, limit))?;
            if opts.transport == Transport::Udp {
                connect::check_udp_source(session.streams()[i].ctx(), peer, egress)?;
            }
        }
        let session = session
            // Frame times come from arrival-anchored clocks (see `clock`), so the RTP-Info
            // `rtptime` is not needed; many cameras get it wrong.
            .play(PlayOptions::default().initial_timestamp(InitialTimestampPolicy::Ignore))
            .await
            .map_err(|e| PullFailure::from_retina(&e, limit))?
            .demuxed()
            .map_err(|e| PullFailure::from_retina(&e, limit))?;
        let audio = audio.and_then(|i| {
            let s = &session.streams()[i];
            match s.parameters() {
                Some(ParametersRef::Audio(p)) if !p.extra_data().is_empty() => Some((
                    i,
                    TrackSpec::Aac {
                        config: Bytes::copy_from_slice(p.extra_data()),
                        rate: p.clock_rate(),
                        channels: p.channels().get(),
                    },
                )),
                _ => {
                    tracing::info!("the AAC stream has no usable config; storing video only");
                    None
                }
            }
        });
        let rate = |i: usize| session.streams()[i].clock_rate_hz();
        let video_clock = FrameClock::new(rate(video));
        let audio_clock = FrameClock::new(audio.as_ref().map_or(0, |(i, _)| rate(*i)));
        Ok(Connection {
            session: Box::pin(session),
            video,
            audio,
            video_spec: None,
            video_clock,
            audio_clock,
            opened: Instant::now(),
            max_message_bytes: limit,
            codec,
        })
    }

    /// The audio track, if the camera sends AAC.
    pub fn audio_spec(&self) -> Option<&TrackSpec> {
        self.audio.as_ref().map(|(_, s)| s)
    }

    /// The video track, known from the first keyframe on.
    pub fn video_spec(&self) -> Option<&TrackSpec> {
        self.video_spec.as_ref()
    }

    /// The next item. Cancel-safe (state changes only after the read completes).
    pub async fn next(&mut self) -> Result<Pulled, PullFailure> {
        let item = match self.session.next().await {
            None => return Err(PullFailure::Ended),
            Some(Err(e)) => return Err(PullFailure::from_retina(&e, self.max_message_bytes)),
            Some(Ok(item)) => item,
        };
        let arrival_ms = i64::try_from(self.opened.elapsed().as_millis()).unwrap_or(i64::MAX);
        match item {
            CodecItem::VideoFrame(f) if f.stream_id() == self.video => {
                // retina 0.4.21 flags only IDR pictures as random access points in H.265; a CRA
                // (what x265 and many cameras send after the first keyframe) is one too, and
                // gets its parameter sets here, as retina does for IDR.
                let cra =
                    self.codec == "H265" && !f.is_random_access_point() && h265_has_irap(f.data());
                let key = f.is_random_access_point() || cra;
                if key || f.has_new_parameters() {
                    let spec = self.current_video_spec()?;
                    match &self.video_spec {
                        None => self.video_spec = spec,
                        Some(old) if spec.as_ref().is_some_and(|s| s != old) => {
                            return Err(PullFailure::ParametersChanged);
                        }
                        Some(_) => {}
                    }
                }
                if self.video_spec.is_none() {
                    return Ok(Pulled::Nothing);
                }
                let ms = self.video_clock.stamp(f.timestamp().elapsed(), arrival_ms);
                let data = if cra {
                    self.with_parameter_sets(f.data())
                } else {
                    f.into_data()
                };
                Ok(Pulled::Frame(PulledFrame {
                    track: VIDEO_TRACK,
                    ms,
                    key,
                    data,
                }))
            }
            CodecItem::AudioFrame(f)
                if self
                    .audio
                    .as_ref()
                    .is_some_and(|(i, _)| *i == f.stream_id()) =>
            {
                let ms = self.audio_clock.stamp(f.timestamp().elapsed(), arrival_ms);
                Ok(Pulled::Frame(PulledFrame {
                    track: AUDIO_TRACK,
                    ms,
                    key: true,
                    data: f.data().to_vec(),
                }))
            }
            _ => Ok(Pulled::Nothing),
        }
    }

    /// An H.265 frame with VPS, SPS and PPS before it (4-byte lengths).
    fn with_parameter_sets(&self, frame: &[u8]) -> Vec<u8> {
        let Some(ParametersRef::Video(p)) = self.session.streams()[self.video].parameters() else {
            return frame.to_vec();
        };
        let VideoParametersCodec::H265 { vps, sps, pps } = p.codec_params() else {
            return frame.to_vec();
        };
        let sets = [vps, sps, pps];
        let mut out =
            Vec::with_capacity(frame.len() + sets.iter().map(|n| n.len() + 4).sum::<usize>());
        for nal in sets {
            out.extend_from_slice(&u32::try_from(nal.len()).unwrap_or(0).to_be_bytes());
            out.extend_from_slice(nal);
        }
        out.extend_from_slice(frame);
        out
    }

    /// The video parameters retina holds now, as a track.
    fn current_video_spec(&self) -> Result<Option<TrackSpec>, PullFailure> {
        let Some(ParametersRef::Video(p)) = self.session.streams()[self.video].parameters() else {
            return Ok(None);
        };
        let codec_id = match p.codec_params() {
            VideoParametersCodec::H264 { .. } => "V_MPEG4/ISO/AVC",
            VideoParametersCodec::H265 { .. } => "V_MPEGH/ISO/HEVC",
            _ => return Err(PullFailure::UnsupportedCodec(self.codec.into())),
        };
        Ok(Some(TrackSpec::Video {
            codec_id,
            codec_private: Bytes::copy_from_slice(p.extra_data()),
            size: p.pixel_dimensions(),
        }))
    }
}

/// Whether a frame of 4-byte length-prefixed H.265 NAL units holds an IRAP picture
/// (`nal_unit_type` 16..=23: BLA, IDR, CRA; H.265 §7.4.2.2). Stops at a malformed length.
fn h265_has_irap(mut data: &[u8]) -> bool {
    while data.len() > 4 {
        let len = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let nal = &data[4..];
        if let Some(&b) = nal.first()
            && (16..=23).contains(&((b >> 1) & 0x3f))
        {
            return true;
        }
        let Some(rest) = nal.get(len..) else {
            return false;
        };
        data = rest;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_messages_are_told_apart() {
        let head = "RTSP framing error: Invalid RTSP message: byte 1048620: response > \
                    message-too-large; buffered:\n0000: 52 54 53 50\n\nconn: 127.0.0.1:1(me)";
        assert_eq!(oversized(head), Some(true));
        let start = "RTSP framing error: Invalid RTSP message: byte 0: message-too-large; \
                     buffered:\n";
        assert_eq!(oversized(start), Some(false));
        let other = "RTSP framing error: Invalid RTSP message: byte 9: response > field-value";
        assert_eq!(oversized(other), None);
        assert_eq!(
            PullFailure::MessageTooLarge(1 << 20).to_string(),
            "the camera sent an RTSP message over 1048576 bytes (the limit is [cameras] \
             max_rtsp_message_bytes)"
        );
    }

    #[test]
    fn h265_irap_detection() {
        let frame = |types: &[u8]| -> Vec<u8> {
            let mut v = Vec::new();
            for t in types {
                v.extend_from_slice(&[0, 0, 0, 3, t << 1, 1, 0xAA]);
            }
            v
        };
        assert!(h265_has_irap(&frame(&[21])), "CRA");
        assert!(h265_has_irap(&frame(&[39, 19])), "SEI then IDR_W_RADL");
        assert!(!h265_has_irap(&frame(&[1])), "TRAIL_R");
        assert!(!h265_has_irap(&frame(&[1, 0])));
        // Malformed lengths end the scan without a panic.
        assert!(!h265_has_irap(&[0, 0, 0, 200, 2]));
        assert!(!h265_has_irap(&[0xFF, 0xFF, 0xFF, 0xFF]));
        assert!(!h265_has_irap(&[]));
    }
}
