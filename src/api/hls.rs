//! HLS: GetHLSStreamingSessionURL and the session's sub-resources (KVS-API.md §1.4):
//! `/hls/v1/getHLSMasterPlaylist.m3u8`, `getHLSMediaPlaylist.m3u8`, `getMP4InitFragment.mp4`,
//! `getMP4MediaFragment.mp4`, `getTSFragment.ts`. Which fragments a playlist shows is decided in
//! [`crate::playback::window`]; the playlists are written by [`crate::playback::hls`]; the
//! segments by [`crate::playback::segment`] (HTTP side: [`super::segments`]).
//!
//! Low-latency HLS (an extension: KVS has none) is asked for with `"LowLatency": true` in the
//! request, or `&LowLatency=true` appended to a master playlist URL (for SDKs such as boto3
//! that only send KVS's fields). See [`crate::playback::low_latency`].

use std::collections::HashMap;

use axum::Router;
use axum::extract::State;

use super::params::QueryMap;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use super::json::{self, KvsJson};
use super::sessions::{self, Common, SelectorInput};
use crate::playback::fmp4;
use crate::playback::hls::{self, MediaSpec, Variant};
use crate::playback::low_latency::{self, Blocking};
use crate::playback::session::{Protocol, Session};
use crate::playback::window;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/getHLSStreamingSessionURL", post(session_url))
        .route("/hls/v1/getHLSMasterPlaylist.m3u8", get(master))
        .route("/hls/v1/getHLSMediaPlaylist.m3u8", get(media_playlist))
        .route("/hls/v1/getMP4InitFragment.mp4", get(super::segments::init))
        .route(
            "/hls/v1/getMP4MediaFragment.mp4",
            get(super::segments::hls_media),
        )
        .route("/hls/v1/getTSFragment.ts", get(super::segments::ts))
}

/// The JSON bodies this module's operations read, for [`super::fuzz`].
pub(super) const BODIES: [(&str, super::fuzz::BodyCheck); 1] =
    [("POST /getHLSStreamingSessionURL", json::parse_only::<Input>)];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    playback_mode: Option<String>,
    #[serde(rename = "HLSFragmentSelector")]
    selector: Option<SelectorInput>,
    container_format: Option<String>,
    discontinuity_mode: Option<String>,
    display_fragment_timestamp: Option<String>,
    expires: Option<i64>,
    max_media_playlist_fragment_results: Option<i64>,
    /// vidstream extension: low-latency HLS.
    low_latency: Option<bool>,
}

async fn session_url(
    State(st): State<AppState>,
    KvsJson(i): KvsJson<Input>,
) -> Result<Response, ApiError> {
    let s = sessions::create(
        &st,
        Protocol::Hls,
        Common {
            stream_name: i.stream_name.as_deref(),
            stream_arn: i.stream_arn.as_deref(),
            playback_mode: i.playback_mode.as_deref(),
            selector: i.selector.as_ref(),
            selector_field: "HLSFragmentSelector",
            container: i.container_format.as_deref(),
            discontinuity_mode: i.discontinuity_mode.as_deref(),
            display_timestamp: i.display_fragment_timestamp.as_deref(),
            display_number: None,
            expires: i.expires,
            max_results: i.max_media_playlist_fragment_results,
            max_results_field: "MaxMediaPlaylistFragmentResults",
            low_latency: i.low_latency.unwrap_or(false),
        },
    )
    .await?;
    let token = st.session_key.current().seal(&s);
    let url = format!(
        "{}/hls/v1/getHLSMasterPlaylist.m3u8?SessionToken={token}",
        st.public_url.trim_end_matches('/')
    );
    Ok(axum::Json(json!({ "HLSStreamingSessionURL": url })).into_response())
}

fn playlist_response(text: String, live: bool) -> Response {
    let mut resp = text.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.apple.mpegurl"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if live { "no-cache" } else { "max-age=60" }),
    );
    resp
}

/// An optional unsigned number parameter.
pub(super) fn number_param(
    q: &HashMap<String, String>,
    name: &str,
) -> Result<Option<u64>, ApiError> {
    q.get(name)
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| ApiError::invalid(format!("{name} `{v}` is not a number")))
        })
        .transpose()
}

fn low_latency_asked(s: &Session, q: &HashMap<String, String>) -> bool {
    s.low_latency
        || q.get("LowLatency")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

async fn master(State(st): State<AppState>, QueryMap(q): QueryMap) -> Result<Response, ApiError> {
    let s = sessions::open(&st, &q, Protocol::Hls)?;
    let token = q.get("SessionToken").cloned().unwrap_or_default();
    let w = window::window(&st.media, &st.cursors, &s).await?;
    // Describe the variant from the newest fragment: codecs, resolution, and its bit rate.
    let variant = match w.records.last() {
        Some(rec) => {
            let tracks = st.media.tracks(rec.track_header_id).await?;
            let codecs: Vec<String> = tracks.iter().filter_map(fmp4::codec_string).collect();
            let bits = u64::from(rec.cluster_len) * 8 * 1000 / rec.duration_ms.max(1) as u64;
            Variant {
                bandwidth: bits + bits / 4,
                codecs: (!codecs.is_empty()).then(|| codecs.join(",")),
                resolution: tracks
                    .iter()
                    .find_map(|t| t.video)
                    .filter(|&(w, h)| w > 0 && h > 0),
            }
        }
        None => Variant {
            bandwidth: 2_000_000,
            codecs: None,
            resolution: None,
        },
    };
    let extra = if !s.low_latency && low_latency_asked(&s, &q) {
        "&LowLatency=true"
    } else {
        ""
    };
    Ok(playlist_response(
        hls::master_playlist(&token, &variant, extra),
        false,
    ))
}

async fn media_playlist(
    State(st): State<AppState>,
    QueryMap(q): QueryMap,
) -> Result<Response, ApiError> {
    let s = sessions::open(&st, &q, Protocol::Hls)?;
    let token = q.get("SessionToken").cloned().unwrap_or_default();
    if low_latency_asked(&s, &q) {
        let want = Blocking {
            msn: number_param(&q, "_HLS_msn")?,
            part: number_param(&q, "_HLS_part")?,
        };
        let text =
            low_latency::playlist(&st.media, &st.cursors, st.low_latency(), &s, &token, want)
                .await?;
        return Ok(playlist_response(text, true));
    }
    let w = window::window(&st.media, &st.cursors, &s).await?;
    let entries = w.hls_entries(&s);
    let vod = s.mode == crate::playback::session::PlaybackMode::OnDemand;
    let text = hls::media_playlist(&MediaSpec {
        token: &token,
        container: s.container,
        media_sequence: w.media_sequence,
        discontinuity_sequence: w.discontinuity_sequence,
        entries: &entries,
        vod,
        ended: w.ended && !vod,
        low_latency: None,
    });
    Ok(playlist_response(text, !vod))
}
