//! What the playback use cases (windows, segments, LL-HLS parts) answer when they cannot serve:
//! one error type, mapped to a KVS error by `api::error`.

use crate::error::ErrorKind;
use crate::media::ReadError;
use crate::store::StoreError;

/// Why a playlist, manifest or segment could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlaybackError {
    /// Stored media could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An fMP4 segment could not be written.
    #[error(transparent)]
    Fmp4(#[from] super::fmp4::Fmp4Error),
    /// An MPEG-TS segment could not be written.
    #[error(transparent)]
    Ts(#[from] super::ts::TsError),
    /// A refusal with its kind (not found, not playable, invalid parameter).
    #[error("{message}")]
    Refused {
        /// The kind of refusal.
        kind: ErrorKind,
        /// What to tell the client.
        message: String,
    },
}

impl PlaybackError {
    /// A refusal of `kind`.
    pub fn refused(kind: ErrorKind, message: impl Into<String>) -> Self {
        PlaybackError::Refused {
            kind,
            message: message.into(),
        }
    }

    /// The error's kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            PlaybackError::Read(e) => e.kind(),
            PlaybackError::Store(e) => e.kind(),
            PlaybackError::Fmp4(e) => e.kind(),
            PlaybackError::Ts(e) => e.kind(),
            PlaybackError::Refused { kind, .. } => *kind,
        }
    }
}
