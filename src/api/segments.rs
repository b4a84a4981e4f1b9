//! The HTTP side of the segments a streaming session's playlists point at
//! (`getMP4InitFragment.mp4`, `getMP4MediaFragment.mp4`, `getTSFragment.ts`, for HLS and DASH):
//! the URL's parameters parsed once, one call into [`crate::playback::segment`] (or, for a part
//! of a fragment still being written, [`crate::playback::low_latency`]), the bytes sent as
//! reference-counted slices (no copy).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::AppState;
use super::error::ApiError;
use super::params::QueryMap;
use super::sessions;
use crate::error::ErrorKind;
use crate::playback::low_latency;
use crate::playback::segment::{self, SegmentSpec};
use crate::playback::session::{Container, Protocol, Session, SessionKey};
use crate::store::fragment::FragmentNumber;

/// A segment URL's parameters.
pub(super) struct SegmentQuery {
    pub session: Session,
    pub number: FragmentNumber,
    /// `TrackNumber=N` (DASH: one track per segment).
    pub track: Option<u64>,
    /// `Part=K` (LL-HLS).
    pub part: Option<u32>,
}

impl SegmentQuery {
    fn parse(
        st: &AppState,
        q: &HashMap<String, String>,
        protocol: Protocol,
    ) -> Result<SegmentQuery, ApiError> {
        SegmentQuery::parse_with(
            &st.session_key.current(),
            st.store.now().millis(),
            q,
            protocol,
        )
    }

    /// [`SegmentQuery::parse`] with the session key and the time given.
    pub(super) fn parse_with(
        key: &SessionKey,
        now_ms: i64,
        q: &HashMap<String, String>,
        protocol: Protocol,
    ) -> Result<SegmentQuery, ApiError> {
        let session = sessions::open_with(key, now_ms, q, protocol)?;
        let number = sessions::fragment_number(&session, q)?;
        let track = q
            .get("TrackNumber")
            .map(|n| {
                n.parse()
                    .map_err(|_| ApiError::invalid(format!("TrackNumber `{n}` is not a number")))
            })
            .transpose()?;
        let part = q
            .get("Part")
            .map(|p| {
                p.parse::<u32>()
                    .map_err(|_| ApiError::invalid(format!("Part `{p}` is not a part number")))
            })
            .transpose()?;
        Ok(SegmentQuery {
            session,
            number,
            track,
            part,
        })
    }
}

/// A response whose body is `parts` in order; the parts are reference-counted slices (a cached
/// segment's header and the stored payloads), sent without copying.
fn media_response(parts: Arc<[Bytes]>, content_type: &'static str) -> Response {
    let len: u64 = parts.iter().map(|p| p.len() as u64).sum();
    let stream = futures_util::stream::iter(
        (0..parts.len()).map(move |i| Ok::<_, std::io::Error>(parts[i].clone())),
    );
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    // A fragment never changes once stored.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    resp
}

async fn init_for(
    st: AppState,
    q: HashMap<String, String>,
    protocol: Protocol,
) -> Result<Response, ApiError> {
    let sq = SegmentQuery::parse(&st, &q, protocol)?;
    let init = segment::init_segment(&st.media, &sq.session, sq.number, sq.track).await?;
    Ok(media_response(vec![init].into(), "video/mp4"))
}

/// `getMP4InitFragment.mp4` (HLS).
pub(super) async fn init(
    State(st): State<AppState>,
    QueryMap(q): QueryMap,
) -> Result<Response, ApiError> {
    init_for(st, q, Protocol::Hls).await
}

/// `getMP4InitFragment.mp4` (DASH).
pub(super) async fn dash_init(
    State(st): State<AppState>,
    QueryMap(q): QueryMap,
) -> Result<Response, ApiError> {
    init_for(st, q, Protocol::Dash).await
}

async fn media_for(
    st: AppState,
    q: HashMap<String, String>,
    protocol: Protocol,
    container: Container,
) -> Result<Response, ApiError> {
    let sq = SegmentQuery::parse(&st, &q, protocol)?;
    let ll = st.low_latency();
    let spec = SegmentSpec {
        container,
        track: sq.track,
        part: sq.part.map(|k| (k, ll.part_target_ms as i64)),
    };
    let content_type = match container {
        Container::Fmp4 => "video/mp4",
        Container::Ts => "video/mp2t",
    };
    match segment::stored_segment(&st.media, &sq.session, sq.number, spec).await {
        Ok(parts) => Ok(media_response(parts, content_type)),
        // A part of a fragment still being written is served from the live bus.
        Err(e) if e.kind() == ErrorKind::ResourceNotFound && sq.part.is_some() => {
            let k = sq.part.unwrap_or_default();
            match low_latency::live_part(&st.media, ll, &sq.session, sq.number, k).await? {
                Some(parts) => Ok(media_response(parts.into(), content_type)),
                // Persisted meanwhile (or never existed): the store decides.
                None => Ok(media_response(
                    segment::stored_segment(&st.media, &sq.session, sq.number, spec).await?,
                    content_type,
                )),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// `getMP4MediaFragment.mp4` (HLS), whole or `&Part=K`.
pub(super) async fn hls_media(
    State(st): State<AppState>,
    QueryMap(q): QueryMap,
) -> Result<Response, ApiError> {
    media_for(st, q, Protocol::Hls, Container::Fmp4).await
}

/// `getMP4MediaFragment.mp4` (DASH).
pub(super) async fn dash_media(
    State(st): State<AppState>,
    QueryMap(q): QueryMap,
) -> Result<Response, ApiError> {
    media_for(st, q, Protocol::Dash, Container::Fmp4).await
}

/// `getTSFragment.ts`.
pub(super) async fn ts(
    State(st): State<AppState>,
    QueryMap(q): QueryMap,
) -> Result<Response, ApiError> {
    let mut q = q;
    // A TS segment is always the whole fragment, all tracks.
    q.remove("Part");
    q.remove("TrackNumber");
    media_for(st, q, Protocol::Hls, Container::Ts).await
}
