//! Streaming sessions shared by HLS and DASH, on the wire: a GetHLS/GetDASHStreamingSessionURL
//! request validated into a [`SessionRequest`] (started by [`crate::playback::window::start`]),
//! and a session token opened from a playback URL. Which fragments a playlist shows is
//! [`crate::playback::window`]'s.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use super::AppState;
use super::archived::epoch_ms;
use super::error::ApiError;
use super::params::{in_range, stream_ref};
use crate::error::ErrorKind;
use crate::playback::session::{
    Container, Discontinuity, PlaybackMode, Protocol, Selector, Session, SessionError, SessionKey,
};
use crate::playback::window::{self, SessionRequest};
use crate::store::fragment::FragmentNumber;

/// ON_DEMAND ranges are at most this long (KVS: 24 h).
const MAX_RANGE_MS: i64 = 24 * 3600 * 1000;

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RangeInput {
    start_timestamp: Option<Value>,
    end_timestamp: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(super) struct SelectorInput {
    fragment_selector_type: Option<String>,
    timestamp_range: Option<RangeInput>,
}

/// The request fields HLS and DASH share (each names its selector and result limit itself).
pub(super) struct Common<'a> {
    pub stream_name: Option<&'a str>,
    pub stream_arn: Option<&'a str>,
    pub playback_mode: Option<&'a str>,
    pub selector: Option<&'a SelectorInput>,
    pub selector_field: &'static str,
    pub container: Option<&'a str>,
    pub discontinuity_mode: Option<&'a str>,
    pub display_timestamp: Option<&'a str>,
    pub display_number: Option<&'a str>,
    pub expires: Option<i64>,
    pub max_results: Option<i64>,
    pub max_results_field: &'static str,
    pub low_latency: bool,
}

fn enum_field<T>(
    field: &str,
    v: Option<&str>,
    default: T,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, ApiError> {
    match v {
        None => Ok(default),
        Some(s) => parse(s).ok_or_else(|| ApiError::invalid(format!("{field} `{s}` is not valid"))),
    }
}

fn always_never(field: &str, v: Option<&str>) -> Result<bool, ApiError> {
    enum_field(field, v, false, |s| match s {
        "ALWAYS" => Some(true),
        "NEVER" => Some(false),
        _ => None,
    })
}

/// Validates a session request and makes its session (not yet signed).
pub(super) async fn create(
    st: &AppState,
    protocol: Protocol,
    c: Common<'_>,
) -> Result<Session, ApiError> {
    let r = stream_ref(c.stream_name, c.stream_arn)?;
    let mode = enum_field(
        "PlaybackMode",
        c.playback_mode,
        PlaybackMode::Live,
        |s| match s {
            "LIVE" => Some(PlaybackMode::Live),
            "LIVE_REPLAY" => Some(PlaybackMode::LiveReplay),
            "ON_DEMAND" => Some(PlaybackMode::OnDemand),
            _ => None,
        },
    )?;
    let selector = enum_field(
        &format!("{}.FragmentSelectorType", c.selector_field),
        c.selector.and_then(|s| s.fragment_selector_type.as_deref()),
        Selector::Server,
        |s| match s {
            "PRODUCER_TIMESTAMP" => Some(Selector::Producer),
            "SERVER_TIMESTAMP" => Some(Selector::Server),
            _ => None,
        },
    )?;
    let range = c.selector.and_then(|s| s.timestamp_range.as_ref());
    let field = |name: &str| format!("{}.TimestampRange.{name}", c.selector_field);
    let start_ms = range
        .and_then(|r| r.start_timestamp.as_ref())
        .map(|v| epoch_ms(&field("StartTimestamp"), v))
        .transpose()?;
    let end_ms = range
        .and_then(|r| r.end_timestamp.as_ref())
        .map(|v| epoch_ms(&field("EndTimestamp"), v))
        .transpose()?;
    match mode {
        PlaybackMode::Live if range.is_some() => {
            return Err(ApiError::invalid(format!(
                "{}.TimestampRange must not be set in LIVE mode",
                c.selector_field
            )));
        }
        PlaybackMode::OnDemand | PlaybackMode::LiveReplay if start_ms.is_none() => {
            return Err(ApiError::invalid(format!(
                "{} requires {}",
                if mode == PlaybackMode::OnDemand {
                    "ON_DEMAND"
                } else {
                    "LIVE_REPLAY"
                },
                field("StartTimestamp")
            )));
        }
        PlaybackMode::OnDemand if end_ms.is_none() => {
            return Err(ApiError::invalid(format!(
                "ON_DEMAND requires {}",
                field("EndTimestamp")
            )));
        }
        _ => {}
    }
    if let (Some(s), Some(e)) = (start_ms, end_ms) {
        if e <= s {
            return Err(ApiError::invalid(
                "the TimestampRange's EndTimestamp must be after its StartTimestamp",
            ));
        }
        if mode == PlaybackMode::OnDemand && e - s > MAX_RANGE_MS {
            return Err(ApiError::invalid(
                "an ON_DEMAND TimestampRange may span at most 24 hours",
            ));
        }
    }
    let container = match protocol {
        Protocol::Dash => Container::Fmp4,
        Protocol::Hls => enum_field(
            "ContainerFormat",
            c.container,
            Container::Fmp4,
            |s| match s {
                "FRAGMENTED_MP4" => Some(Container::Fmp4),
                "MPEG_TS" => Some(Container::Ts),
                _ => None,
            },
        )?,
    };
    let default_disc = match selector {
        Selector::Server => Discontinuity::Always,
        Selector::Producer => Discontinuity::Never,
    };
    let discontinuity = enum_field(
        "DiscontinuityMode",
        c.discontinuity_mode,
        default_disc,
        |s| match s {
            "ALWAYS" => Some(Discontinuity::Always),
            "NEVER" => Some(Discontinuity::Never),
            "ON_DISCONTINUITY" => Some(Discontinuity::OnDiscontinuity),
            _ => None,
        },
    )?;
    let display_timestamp = always_never("DisplayFragmentTimestamp", c.display_timestamp)?;
    let display_number = always_never("DisplayFragmentNumber", c.display_number)?;
    let expires_s = in_range("Expires", c.expires.unwrap_or(300), 300, 43_200)?;
    let default_max = if mode == PlaybackMode::OnDemand {
        1000
    } else {
        5
    };
    let max_results = in_range(
        c.max_results_field,
        c.max_results.unwrap_or(default_max),
        1,
        5000,
    )? as u32;

    let stream = st.store.resolve(&r).await?;
    let req = SessionRequest {
        protocol,
        stream,
        mode,
        selector,
        start_ms,
        end_ms,
        container,
        discontinuity,
        display_timestamp,
        display_number,
        max_results,
        low_latency: c.low_latency,
        expires_s,
    };
    Ok(window::start(&st.media, req).await?)
}

/// Opens the `SessionToken` query parameter; refusals are `NotAuthorizedException`.
pub(super) fn open(
    st: &AppState,
    query: &HashMap<String, String>,
    protocol: Protocol,
) -> Result<Session, ApiError> {
    open_with(
        &st.session_key.current(),
        st.store.now().millis(),
        query,
        protocol,
    )
}

/// [`open`] with the key and the time given.
pub(super) fn open_with(
    key: &SessionKey,
    now_ms: i64,
    query: &HashMap<String, String>,
    protocol: Protocol,
) -> Result<Session, ApiError> {
    let token = query.get("SessionToken").ok_or_else(|| {
        ApiError::new(
            ErrorKind::InvalidArgument,
            "the SessionToken parameter is missing",
        )
    })?;
    let s = key.open(token, now_ms).map_err(|e| match e {
        SessionError::Invalid => ApiError::new(
            ErrorKind::NotAuthorized,
            "the session token is not valid for this server",
        ),
        SessionError::Expired(_) => ApiError::new(ErrorKind::NotAuthorized, e.to_string()),
    })?;
    if s.protocol != protocol {
        return Err(ApiError::new(
            ErrorKind::NotAuthorized,
            "the session token belongs to another streaming protocol",
        ));
    }
    Ok(s)
}

/// The `FragmentNumber` URL parameter, which must name a fragment of the session's stream.
pub(super) fn fragment_number(
    s: &Session,
    query: &HashMap<String, String>,
) -> Result<FragmentNumber, ApiError> {
    let text = query
        .get("FragmentNumber")
        .ok_or_else(|| ApiError::invalid("the FragmentNumber parameter is missing"))?;
    FragmentNumber::parse(text)
        .filter(|n| n.stream.0 == s.stream)
        // A LIVE token covers its stream from its anchor on (a fragment still being written is
        // served before it has a record to check).
        .filter(|n| s.mode != PlaybackMode::Live || n.seq >= s.anchor_seq)
        .ok_or_else(|| {
            ApiError::invalid(format!("{text} is not a fragment of this session's stream"))
        })
}
