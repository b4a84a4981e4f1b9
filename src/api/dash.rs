//! MPEG-DASH: GetDASHStreamingSessionURL and the session's sub-resources
//! (`/dash/v1/getDASHManifest.mpd`, `getMP4InitFragment.mp4`, `getMP4MediaFragment.mp4`).
//! Sessions and windows are shared with HLS ([`super::sessions`]); the manifest is written by
//! [`crate::playback::dash`]. Its media URLs name a segment by `Time=` (the `S@t` of the
//! manifest's SegmentTemplate: the fragment's producer timestamp less the session's base), which
//! [`media`] maps back to the fragment through the index; `FragmentNumber=` works too.

use axum::Router;
use axum::extract::State;

use super::params::QueryMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use super::json::{self, KvsJson};
use super::sessions::{self, Common, SelectorInput};
use crate::model::StreamId;
use crate::playback::session::{PlaybackMode, Protocol};
use crate::playback::window;
use crate::store::index::TimestampKind;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/getDASHStreamingSessionURL", post(session_url))
        .route("/dash/v1/getDASHManifest.mpd", get(manifest))
        .route(
            "/dash/v1/getMP4InitFragment.mp4",
            get(super::segments::dash_init),
        )
        .route("/dash/v1/getMP4MediaFragment.mp4", get(media))
}

/// The JSON bodies this module's operations read, for [`super::fuzz`].
pub(super) const BODIES: [(&str, super::fuzz::BodyCheck); 1] = [(
    "POST /getDASHStreamingSessionURL",
    json::parse_only::<Input>,
)];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    playback_mode: Option<String>,
    #[serde(rename = "DASHFragmentSelector")]
    selector: Option<SelectorInput>,
    display_fragment_timestamp: Option<String>,
    display_fragment_number: Option<String>,
    expires: Option<i64>,
    max_manifest_fragment_results: Option<i64>,
}

async fn session_url(
    State(st): State<AppState>,
    KvsJson(i): KvsJson<Input>,
) -> Result<Response, ApiError> {
    let s = sessions::create(
        &st,
        Protocol::Dash,
        Common {
            stream_name: i.stream_name.as_deref(),
            stream_arn: i.stream_arn.as_deref(),
            playback_mode: i.playback_mode.as_deref(),
            selector: i.selector.as_ref(),
            selector_field: "DASHFragmentSelector",
            container: None,
            discontinuity_mode: None,
            display_timestamp: i.display_fragment_timestamp.as_deref(),
            display_number: i.display_fragment_number.as_deref(),
            expires: i.expires,
            max_results: i.max_manifest_fragment_results,
            max_results_field: "MaxManifestFragmentResults",
            low_latency: false,
        },
    )
    .await?;
    let token = st.session_key.current().seal(&s);
    let url = format!(
        "{}/dash/v1/getDASHManifest.mpd?SessionToken={token}",
        st.public_url.trim_end_matches('/')
    );
    Ok(axum::Json(json!({ "DASHStreamingSessionURL": url })).into_response())
}

async fn manifest(State(st): State<AppState>, QueryMap(q): QueryMap) -> Result<Response, ApiError> {
    use crate::playback::dash::{self, DashFragment, DashKind, DashOptions, DashTrackHeader};
    let s = sessions::open(&st, &q, Protocol::Dash)?;
    let token = q.get("SessionToken").cloned().unwrap_or_default();
    let w = window::window(&st.media, &st.cursors, &s).await?;
    let mut headers: Vec<DashTrackHeader> = Vec::new();
    // The init segment of a track header is addressed by the first fragment made under it (a
    // fragment number the session can check belongs to its stream).
    let mut first_of: Vec<(i64, String)> = Vec::new();
    for r in &w.records {
        if !headers.iter().any(|h| h.id == r.track_header_id) {
            headers.push(DashTrackHeader {
                id: r.track_header_id,
                tracks: st.media.tracks(r.track_header_id).await?,
            });
            first_of.push((r.track_header_id, r.number.to_string()));
        }
    }
    let fragments: Vec<DashFragment> = w
        .records
        .iter()
        .map(|r| DashFragment {
            number: r.number.to_string(),
            start_ms: r.producer_ms - s.base_ms,
            duration_ms: r.duration_ms,
            producer_ms: r.producer_ms,
            server_ms: r.server_ms,
            track_header_id: r.track_header_id,
            size_bytes: u64::from(r.cluster_len),
        })
        .collect();
    let kind = match (s.mode, w.records.last()) {
        (PlaybackMode::OnDemand, _) | (_, None) => DashKind::Static,
        (_, Some(last)) => {
            let longest = w
                .records
                .iter()
                .map(|r| r.duration_ms)
                .max()
                .unwrap_or(1000);
            DashKind::Dynamic {
                // MPD time 0 is media time 0 (the session's base), placed on the server's clock
                // by the newest fragment's producer-to-server offset.
                availability_start_ms: s.base_ms + (last.server_ms - last.producer_ms),
                timeline_origin_ms: 0,
                publish_ms: st.store.now().millis(),
                min_update_period_ms: 1000,
                time_shift_buffer_ms: w.records.iter().map(|r| r.duration_ms.max(0) as u64).sum(),
                suggested_delay_ms: (3 * longest).max(0) as u64,
            }
        }
    };
    let opts = DashOptions {
        display_fragment_timestamp: s.display_timestamp.then(|| window::kind_of(s.selector)),
        display_fragment_number: s.display_number,
        init_url: format!(
            "getMP4InitFragment.mp4?SessionToken={token}&TrackHeader={}&TrackNumber={}",
            dash::TRACK_HEADER,
            dash::TRACK_NUMBER
        ),
        media_url: format!(
            "getMP4MediaFragment.mp4?SessionToken={token}&TrackNumber={}&Time={}",
            dash::TRACK_NUMBER,
            dash::TIME
        ),
    };
    let mut text = dash::manifest(&kind, &headers, &fragments, &opts)
        .map_err(|e| ApiError::new(e.kind(), e.to_string()))?;
    for (id, number) in first_of {
        text = text.replace(
            &format!("TrackHeader={id}&amp;"),
            &format!("FragmentNumber={number}&amp;"),
        );
    }
    let mut resp = text.into_response();
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/dash+xml"),
    );
    Ok(resp)
}

/// `getMP4MediaFragment.mp4`: by `FragmentNumber=`, or by `Time=` (what the manifest's
/// SegmentTemplate asks for): the fragment whose producer timestamp is the session's base plus
/// that many ms (of equal ones the highest number, as the ON_DEMAND window keeps).
async fn media(State(st): State<AppState>, QueryMap(q): QueryMap) -> Result<Response, ApiError> {
    let mut q = q;
    if !q.contains_key("FragmentNumber")
        && let Some(text) = q.get("Time")
    {
        let s = sessions::open(&st, &q, Protocol::Dash)?;
        let t: i64 = text
            .parse()
            .map_err(|_| ApiError::invalid(format!("Time `{text}` is not a number of ms")))?;
        let at = s.base_ms.saturating_add(t);
        let range = Some((TimestampKind::Producer, at, at));
        let rows = st
            .media
            .collect(StreamId(s.stream), range, |_| false)
            .await
            .map_err(|e| ApiError::new(e.kind(), e.to_string()))?;
        let number = rows.iter().map(|r| r.number).max().ok_or_else(|| {
            ApiError::new(
                crate::error::ErrorKind::ResourceNotFound,
                format!(
                    "no fragment of this session's stream starts at Time {t}; use a segment time from the manifest"
                ),
            )
        })?;
        q.insert("FragmentNumber".into(), number.to_string());
    }
    super::segments::dash_media(State(st), QueryMap(q)).await
}
