//! Reading the `fragments` table, and the `track_headers` they point at (SQLite keeps these in
//! its `mod.rs`). Appending fragments lives in `segments.rs`, with the summary it keeps in step.

use std::collections::HashMap;

use tokio_postgres::Row;

use super::{Client, col, db, to_i64, unsigned};
use crate::model::StreamId;
use crate::store::StoreError;
use crate::store::fragment::{FragmentNumber, FragmentRecord, StoredTrackHeader, TrackHeader};
use crate::store::index::{FragmentQuery, TimestampKind};

/// `byte_offset` is SQLite's `offset` (a reserved word in PostgreSQL).
pub(super) const FRAGMENT_COLUMNS: &str = "stream_id, seq, producer_ms, server_ms, duration_ms, \
     track_header_id, segment, byte_offset, cluster_len, trailer_len";

fn fragment_from_row(row: &Row) -> Result<FragmentRecord, StoreError> {
    Ok(FragmentRecord {
        number: FragmentNumber {
            stream: StreamId(col(row, 0)?),
            seq: col(row, 1)?,
        },
        producer_ms: col(row, 2)?,
        server_ms: col(row, 3)?,
        duration_ms: col(row, 4)?,
        track_header_id: col(row, 5)?,
        segment: col(row, 6)?,
        offset: unsigned(row, 7, "offset")?,
        cluster_len: unsigned(row, 8, "cluster length")?,
        trailer_len: unsigned(row, 9, "trailer length")?,
    })
}

fn fragments(rows: &[Row]) -> Result<Vec<FragmentRecord>, StoreError> {
    rows.iter().map(fragment_from_row).collect()
}

fn track_header_from_row(row: &Row) -> Result<StoredTrackHeader, StoreError> {
    let tracks: Vec<u8> = col(row, 2)?;
    Ok(StoredTrackHeader {
        id: col(row, 0)?,
        header: TrackHeader {
            timecode_scale: unsigned(row, 1, "timecode scale")?,
            tracks: tracks.into(),
        },
    })
}

/// [`Index::put_track_header`](crate::store::index::Index::put_track_header).
pub(super) async fn put_track_header(
    client: &mut Client,
    stream: StreamId,
    header: TrackHeader,
) -> Result<i64, StoreError> {
    let tx = client.transaction().await.map_err(db)?;
    let stmt = tx
        .prepare_cached(
            "SELECT id, timecode_scale, tracks FROM track_headers
             WHERE stream_id = $1 ORDER BY id DESC LIMIT 1",
        )
        .await
        .map_err(db)?;
    let latest = tx.query_opt(&stmt, &[&stream.0]).await.map_err(db)?;
    if let Some(row) = latest {
        let latest = track_header_from_row(&row)?;
        if latest.header == header {
            return Ok(latest.id);
        }
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO track_headers (stream_id, timecode_scale, tracks) VALUES ($1, $2, $3)
             RETURNING id",
        )
        .await
        .map_err(db)?;
    let tracks: &[u8] = &header.tracks;
    let row = tx
        .query_one(&stmt, &[&stream.0, &to_i64(header.timecode_scale), &tracks])
        .await
        .map_err(db)?;
    let id = col(&row, 0)?;
    tx.commit().await.map_err(db)?;
    Ok(id)
}

/// [`Index::track_header`](crate::store::index::Index::track_header).
pub(super) async fn track_header(
    client: &Client,
    id: i64,
) -> Result<Option<StoredTrackHeader>, StoreError> {
    let stmt = client
        .prepare_cached("SELECT id, timecode_scale, tracks FROM track_headers WHERE id = $1")
        .await
        .map_err(db)?;
    let row = client.query_opt(&stmt, &[&id]).await.map_err(db)?;
    row.as_ref().map(track_header_from_row).transpose()
}

/// The stream's newest `limit` fragments, oldest first ([`Index::last_fragments`], and
/// [`Index::last_fragment`] with a limit of 1).
///
/// [`Index::last_fragments`]: crate::store::index::Index::last_fragments
/// [`Index::last_fragment`]: crate::store::index::Index::last_fragment
pub(super) async fn last(
    client: &Client,
    stream: StreamId,
    limit: usize,
) -> Result<Vec<FragmentRecord>, StoreError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {FRAGMENT_COLUMNS} FROM fragments WHERE stream_id = $1
             ORDER BY seq DESC LIMIT $2"
        ))
        .await
        .map_err(db)?;
    let rows = client
        .query(&stmt, &[&stream.0, &to_i64(limit)])
        .await
        .map_err(db)?;
    let mut out = fragments(&rows)?;
    out.reverse();
    Ok(out)
}

/// [`Index::list_fragments`](crate::store::index::Index::list_fragments).
pub(super) async fn list(
    client: &Client,
    q: FragmentQuery,
) -> Result<Vec<FragmentRecord>, StoreError> {
    let limit = to_i64(q.limit);
    let after = q.after_seq.unwrap_or(i64::MIN);
    let rows = match q.range {
        None => {
            let stmt = client
                .prepare_cached(&format!(
                    "SELECT {FRAGMENT_COLUMNS} FROM fragments
                     WHERE stream_id = $1 AND seq > $2
                     ORDER BY seq LIMIT $3"
                ))
                .await
                .map_err(db)?;
            client
                .query(&stmt, &[&q.stream.0, &after, &limit])
                .await
                .map_err(db)?
        }
        Some((kind, lo, hi)) => {
            let col = match kind {
                TimestampKind::Producer => "producer_ms",
                TimestampKind::Server => "server_ms",
            };
            let stmt = client
                .prepare_cached(&format!(
                    "SELECT {FRAGMENT_COLUMNS} FROM fragments
                     WHERE stream_id = $1 AND seq > $2 AND {col} >= $3 AND {col} <= $4
                     ORDER BY seq LIMIT $5"
                ))
                .await
                .map_err(db)?;
            client
                .query(&stmt, &[&q.stream.0, &after, &lo, &hi, &limit])
                .await
                .map_err(db)?
        }
    };
    fragments(&rows)
}

/// [`Index::fragments_by_seq`](crate::store::index::Index::fragments_by_seq): one query, then
/// the rows in the order asked (a seq asked twice comes twice, as with SQLite).
pub(super) async fn by_seq(
    client: &Client,
    stream: StreamId,
    seqs: Vec<i64>,
) -> Result<Vec<FragmentRecord>, StoreError> {
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {FRAGMENT_COLUMNS} FROM fragments WHERE stream_id = $1 AND seq = ANY($2)"
        ))
        .await
        .map_err(db)?;
    let rows = client.query(&stmt, &[&stream.0, &seqs]).await.map_err(db)?;
    let found: HashMap<i64, FragmentRecord> = fragments(&rows)?
        .into_iter()
        .map(|f| (f.number.seq, f))
        .collect();
    Ok(seqs.iter().filter_map(|s| found.get(s).copied()).collect())
}

/// [`Index::segment_ends`](crate::store::index::Index::segment_ends).
pub(super) async fn segment_ends(
    client: &Client,
    stream: StreamId,
) -> Result<Vec<(i64, u64)>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT segment, max(byte_offset + cluster_len + trailer_len) FROM fragments
             WHERE stream_id = $1 GROUP BY segment ORDER BY segment",
        )
        .await
        .map_err(db)?;
    let rows = client.query(&stmt, &[&stream.0]).await.map_err(db)?;
    rows.iter()
        .map(|r| Ok((col(r, 0)?, unsigned(r, 1, "segment end")?)))
        .collect()
}
