//! PutMedia's error vocabulary: the `ErrorId`/`ErrorCode` pairs of ERROR acks
//! (KVS PutMedia reference; producer-c `Include.h`).

/// An ERROR ack's id and code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AckErrorId {
    /// 4000: the request body could not be read.
    StreamReadError,
    /// 4001: a fragment is over the size limit (50 MB).
    MaxFragmentSizeReached,
    /// 4002: a fragment is over the duration limit.
    MaxFragmentDurationReached,
    /// 4004: a fragment starts before the previous one ended.
    FragmentTimecodeLesserThanPrevious,
    /// 4006: the body is not valid MKV, or breaks a rule of the PutMedia format.
    InvalidMkvData,
    /// 4007: a producer timestamp is out of range.
    InvalidProducerTimestamp,
    /// 4008: the stream is not ACTIVE (being deleted).
    StreamNotActive,
    /// 4009: too many, too long or non-text fragment metadata tags.
    FragmentMetadataLimitReached,
    /// 4010: a block names a track that Tracks does not declare.
    TrackNumberMismatch,
    /// 4011: a fragment has no frame for one of the declared tracks.
    FramesMissingForTrack,
    /// 4012: more than 3 tracks.
    MoreThanAllowedTracksFound,
    /// 5000: a bug or unexpected failure on our side.
    InternalError,
    /// 5001: the fragment could not be made durable.
    ArchivalError,
}

impl AckErrorId {
    /// The numeric `ErrorId`.
    pub fn id(self) -> u32 {
        match self {
            AckErrorId::StreamReadError => 4000,
            AckErrorId::MaxFragmentSizeReached => 4001,
            AckErrorId::MaxFragmentDurationReached => 4002,
            AckErrorId::FragmentTimecodeLesserThanPrevious => 4004,
            AckErrorId::InvalidMkvData => 4006,
            AckErrorId::InvalidProducerTimestamp => 4007,
            AckErrorId::StreamNotActive => 4008,
            AckErrorId::FragmentMetadataLimitReached => 4009,
            AckErrorId::TrackNumberMismatch => 4010,
            AckErrorId::FramesMissingForTrack => 4011,
            AckErrorId::MoreThanAllowedTracksFound => 4012,
            AckErrorId::InternalError => 5000,
            AckErrorId::ArchivalError => 5001,
        }
    }

    /// The `ErrorCode` string.
    pub fn code(self) -> &'static str {
        match self {
            AckErrorId::StreamReadError => "STREAM_READ_ERROR",
            AckErrorId::MaxFragmentSizeReached => "MAX_FRAGMENT_SIZE_REACHED",
            AckErrorId::MaxFragmentDurationReached => "MAX_FRAGMENT_DURATION_REACHED",
            AckErrorId::FragmentTimecodeLesserThanPrevious => {
                "FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS"
            }
            AckErrorId::InvalidMkvData => "INVALID_MKV_DATA",
            AckErrorId::InvalidProducerTimestamp => "INVALID_PRODUCER_TIMESTAMP",
            AckErrorId::StreamNotActive => "STREAM_NOT_ACTIVE",
            AckErrorId::FragmentMetadataLimitReached => "FRAGMENT_METADATA_LIMIT_REACHED",
            AckErrorId::TrackNumberMismatch => "TRACK_NUMBER_MISMATCH",
            AckErrorId::FramesMissingForTrack => "FRAMES_MISSING_FOR_TRACK",
            AckErrorId::MoreThanAllowedTracksFound => "MORE_THAN_ALLOWED_TRACKS_FOUND",
            AckErrorId::InternalError => "INTERNAL_ERROR",
            AckErrorId::ArchivalError => "ARCHIVAL_ERROR",
        }
    }
}

/// Why a PutMedia session stopped with an ERROR ack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} ({}): {message}", .id.code(), .id.id())]
pub struct IngestError {
    /// Which error.
    pub id: AckErrorId,
    /// Details for logs (not sent: acks carry only id and code).
    pub message: String,
}

impl IngestError {
    /// An error with a message.
    pub fn new(id: AckErrorId, message: impl Into<String>) -> Self {
        IngestError {
            id,
            message: message.into(),
        }
    }
}
