//! Streaming sessions (HLS, DASH): what GetHLSStreamingSessionURL / GetDASHStreamingSessionURL
//! decided, carried in the session URL itself as a signed, expiring token, so any node that
//! shares the secret serves it and nothing is stored per session.
//!
//! Token: `base64url(JSON of Session) "." base64url(HMAC-SHA256(secret, that JSON))`. A token
//! whose MAC does not match is forged (or made with another secret); one past `expires_ms` is
//! expired. Both are refused before anything else is looked at.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::store::StoreError;

/// Longest token accepted (a real one is a few hundred bytes).
const MAX_TOKEN_BYTES: usize = 4096;

/// Shortest secret accepted from the configuration.
pub const MIN_SECRET_BYTES: usize = 32;

/// What a session plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlaybackMode {
    /// The newest fragments, following the stream.
    #[serde(rename = "LIVE")]
    Live,
    /// From a start time, following the stream as it grows.
    #[serde(rename = "LIVE_REPLAY")]
    LiveReplay,
    /// A fixed range.
    #[serde(rename = "ON_DEMAND")]
    OnDemand,
}

/// Which timestamp selects fragments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Selector {
    /// The producer's (cluster) timestamps.
    #[serde(rename = "PRODUCER_TIMESTAMP")]
    Producer,
    /// Arrival at the server.
    #[serde(rename = "SERVER_TIMESTAMP")]
    Server,
}

/// HLS media container (the media model's; named here too for the session's wire form).
pub use crate::media::Container;

/// When the playlist marks a discontinuity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Discontinuity {
    /// Before every fragment.
    #[serde(rename = "ALWAYS")]
    Always,
    /// Only where the codec configuration changes (a player cannot do without it there).
    #[serde(rename = "NEVER")]
    Never,
    /// Where consecutive fragments leave a gap or overlap of more than 50 ms, and at codec
    /// changes.
    #[serde(rename = "ON_DISCONTINUITY")]
    OnDiscontinuity,
}

/// HLS or DASH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    /// HTTP Live Streaming.
    #[serde(rename = "hls")]
    Hls,
    /// MPEG-DASH.
    #[serde(rename = "dash")]
    Dash,
}

/// Everything a session URL stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// HLS or DASH.
    pub protocol: Protocol,
    /// The stream (by id: a stream deleted and re-created under the same name is another one).
    pub stream: i64,
    /// Mode.
    pub mode: PlaybackMode,
    /// Timestamp kind of `start_ms`/`end_ms`.
    pub selector: Selector,
    /// Range start (LIVE_REPLAY, ON_DEMAND), epoch ms.
    pub start_ms: Option<i64>,
    /// Range end (ON_DEMAND; optional for LIVE_REPLAY), epoch ms.
    pub end_ms: Option<i64>,
    /// Container (HLS only; DASH is always fMP4).
    pub container: Container,
    /// Discontinuity marking.
    pub discontinuity: Discontinuity,
    /// EXT-X-PROGRAM-DATE-TIME / `kvs:ts`.
    pub display_timestamp: bool,
    /// DASH `kvs:fn`.
    pub display_number: bool,
    /// Most fragments per playlist or manifest.
    pub max_results: u32,
    /// Low-latency HLS (partial segments, blocking reload).
    pub low_latency: bool,
    /// Media time 0 of the session, epoch ms of the producer clock: segment decode times are
    /// relative to it, so they stay small (exact in a browser's 53-bit numbers) and equal
    /// across every playlist and node of the session.
    pub base_ms: i64,
    /// LIVE: the seq of the first fragment the session could list; media sequence numbers
    /// count fragments from it.
    pub anchor_seq: i64,
    /// When the session URL was made, epoch ms (LIVE_REPLAY plays from its start as time passes
    /// from this moment).
    pub created_ms: i64,
    /// Expiry, epoch ms.
    pub expires_ms: i64,
}

/// Why a session token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Not a token this server (or its peers) made.
    #[error("the session token is not valid")]
    Invalid,
    /// Valid, but past its expiry.
    #[error("the streaming session expired at {0} ms; request a new session URL")]
    Expired(i64),
}

/// Why there is no session key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The configured secret is too short to be a key.
    #[error("playback.session_secret must be at least {MIN_SECRET_BYTES} bytes long")]
    ShortSecret,
    /// The stored secret could not be read or created.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The key that signs session tokens.
#[derive(Clone)]
pub struct SessionKey {
    /// HMAC-SHA256 keyed with the secret, before any message: cloned per token, so the key
    /// schedule (two SHA-256 blocks) is not redone on every segment request.
    keyed: Hmac<Sha256>,
    /// Tokens already verified, with what they say: a player sends the same token with every
    /// playlist and segment request, so the decode and MAC check happen once per token, not
    /// per request. Expiry is still checked on every use. Bounded: cleared when full.
    verified: Arc<Mutex<HashMap<Box<str>, Session>>>,
}

/// Verified tokens remembered by one key.
const VERIFIED_TOKENS: usize = 4096;

impl Session {
    /// Whether the session's token grants `rec`: a fragment of its stream that its playlists
    /// could list (LIVE: from the anchor on; LIVE_REPLAY and ON_DEMAND: timestamp in the range).
    /// A token is scoped to what it was minted for, not to the whole stream.
    pub fn admits(&self, rec: &crate::store::fragment::FragmentRecord) -> bool {
        if rec.number.stream.0 != self.stream {
            return false;
        }
        match self.mode {
            PlaybackMode::Live => rec.number.seq >= self.anchor_seq,
            PlaybackMode::LiveReplay | PlaybackMode::OnDemand => {
                let ts = match self.selector {
                    Selector::Producer => rec.producer_ms,
                    Selector::Server => rec.server_ms,
                };
                ts >= self.start_ms.unwrap_or(i64::MIN) && ts <= self.end_ms.unwrap_or(i64::MAX)
            }
        }
    }
}

/// The session key in use, replaceable while the server runs (`vidstream keys
/// rotate-session-key`): tokens signed with the key before are refused from then on.
pub struct SessionKeys {
    current: std::sync::RwLock<Arc<SessionKey>>,
    configured: bool,
}

impl SessionKeys {
    /// Starts with `key`; `configured` when it comes from the config (then it is not rotated
    /// here, but in the config).
    pub fn new(key: SessionKey, configured: bool) -> SessionKeys {
        SessionKeys {
            current: std::sync::RwLock::new(Arc::new(key)),
            configured,
        }
    }

    /// The key in use.
    pub fn current(&self) -> Arc<SessionKey> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Puts `key` in use.
    pub fn replace(&self, key: SessionKey) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
    }

    /// Whether the key comes from the config.
    pub fn configured(&self) -> bool {
        self.configured
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

impl SessionKey {
    /// A key from secret bytes.
    pub fn new(secret: &[u8]) -> SessionKey {
        // HMAC accepts keys of any length; new_from_slice cannot fail for it.
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        SessionKey {
            keyed,
            verified: Arc::default(),
        }
    }

    /// The configured secret, or else the one the store keeps in the data directory
    /// (`stored`: [`crate::store::Store::secret`], only called when nothing is configured).
    pub fn load(
        configured: &str,
        stored: impl FnOnce() -> Result<Vec<u8>, StoreError>,
    ) -> Result<SessionKey, KeyError> {
        if configured.is_empty() {
            return Ok(SessionKey::new(&stored()?));
        }
        if configured.len() < MIN_SECRET_BYTES {
            return Err(KeyError::ShortSecret);
        }
        Ok(SessionKey::new(configured.as_bytes()))
    }

    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(payload);
        mac
    }

    /// Signs a session into a URL-safe token.
    pub fn seal(&self, s: &Session) -> String {
        let json = serde_json::to_vec(s).unwrap_or_default();
        let tag = self.mac(&json).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&json),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// Checks a token's signature and expiry and returns its session.
    pub fn open(&self, token: &str, now_ms: i64) -> Result<Session, SessionError> {
        let known = {
            let verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            verified.get(token).cloned()
        };
        let s = match known {
            Some(s) => s,
            None => {
                let s = self.verify(token)?;
                let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
                if verified.len() >= VERIFIED_TOKENS {
                    verified.clear();
                }
                verified.insert(token.into(), s.clone());
                s
            }
        };
        if now_ms >= s.expires_ms {
            return Err(SessionError::Expired(s.expires_ms));
        }
        Ok(s)
    }

    /// What a token says, if this key signed it (expiry not checked).
    fn verify(&self, token: &str) -> Result<Session, SessionError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(SessionError::Invalid);
        }
        let (payload, tag) = token.split_once('.').ok_or(SessionError::Invalid)?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| SessionError::Invalid)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| SessionError::Invalid)?;
        self.mac(&json)
            .verify_slice(&tag)
            .map_err(|_| SessionError::Invalid)?;
        serde_json::from_slice(&json).map_err(|_| SessionError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session {
            protocol: Protocol::Hls,
            stream: 7,
            mode: PlaybackMode::OnDemand,
            selector: Selector::Producer,
            start_ms: Some(1_000),
            end_ms: Some(9_000),
            container: Container::Fmp4,
            discontinuity: Discontinuity::Never,
            display_timestamp: true,
            display_number: false,
            max_results: 1000,
            low_latency: false,
            base_ms: 1_000,
            anchor_seq: 0,
            created_ms: 0,
            expires_ms: 100_000,
        }
    }

    #[test]
    fn tokens_open_until_they_expire_and_refuse_tampering() {
        let key = SessionKey::new(&[7u8; 32]);
        let t = key.seal(&session());
        assert_eq!(key.open(&t, 99_999), Ok(session()));
        assert_eq!(key.open(&t, 100_000), Err(SessionError::Expired(100_000)));
        // Another secret, a changed payload, a changed tag, garbage: all invalid.
        assert_eq!(
            SessionKey::new(&[8u8; 32]).open(&t, 0),
            Err(SessionError::Invalid)
        );
        let mut forged = session();
        forged.expires_ms = i64::MAX;
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let tag = t.split_once('.').unwrap().1;
        assert_eq!(
            key.open(&format!("{forged_payload}.{tag}"), 0),
            Err(SessionError::Invalid)
        );
        for bad in ["", ".", "abc", "a.b", &"x".repeat(5000), &t[..t.len() - 2]] {
            assert_eq!(key.open(bad, 0), Err(SessionError::Invalid), "{bad}");
        }
    }

    #[test]
    fn the_stored_secret_is_used_unless_one_is_configured() {
        let stored = || Ok(vec![7u8; 32]);
        let a = SessionKey::load("", stored).unwrap();
        let b = SessionKey::load("", stored).unwrap();
        let t = a.seal(&session());
        assert!(
            b.open(&t, 0).is_ok(),
            "the same stored secret, the same key"
        );
        let untouched = || -> Result<Vec<u8>, StoreError> {
            panic!("the store is not asked when a secret is configured")
        };
        assert!(matches!(
            SessionKey::load("short", untouched),
            Err(KeyError::ShortSecret)
        ));
        let c = SessionKey::load(&"s".repeat(40), untouched).unwrap();
        assert_eq!(c.open(&t, 0), Err(SessionError::Invalid));
        let failing = || {
            Err(StoreError::io(
                "reading x",
                std::io::ErrorKind::Other.into(),
            ))
        };
        assert!(matches!(
            SessionKey::load("", failing),
            Err(KeyError::Store(_))
        ));
    }
}
