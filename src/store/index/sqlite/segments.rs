//! Retention's tables: the `segments` summary kept in step with the fragment rows, and the
//! `garbage` list of segments whose rows retention removed (phase 1) and whose files await
//! deletion (phase 2). The fragment append lives here too, since it keeps the summary in step
//! and refuses rows of garbage segments. Blocking functions over the connection; `mod.rs` runs
//! them on the blocking pool. See `store::retention` for the protocol and store invariants 10 and 11 for what these
//! transactions guarantee.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{FRAGMENT_COLUMNS, corrupt, db};
use crate::model::StreamId;
use crate::store::StoreError;
use crate::store::fragment::{FragmentNumber, FragmentRecord};
use crate::store::index::{Garbage, SegmentUsage};

const SEGMENT_COLUMNS: &str =
    "segment, first_server_ms, last_server_ms, last_seq, fragments, bytes, uploaded_ms";

fn usage_from_row(row: &Row<'_>) -> rusqlite::Result<SegmentUsage> {
    let fragments: i64 = row.get(4)?;
    let bytes: i64 = row.get(5)?;
    Ok(SegmentUsage {
        segment: row.get(0)?,
        first_server_ms: row.get(1)?,
        last_server_ms: row.get(2)?,
        last_seq: row.get(3)?,
        fragments: u64::try_from(fragments).map_err(|e| corrupt("segment fragment count", e))?,
        bytes: u64::try_from(bytes).map_err(|e| corrupt("segment bytes", e))?,
        uploaded_ms: row.get(6)?,
    })
}

/// [`Index::mark_uploaded`](crate::store::index::Index::mark_uploaded).
pub(super) fn mark_uploaded(
    conn: &Connection,
    stream: StreamId,
    want: SegmentUsage,
    uploaded_ms: i64,
) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE segments SET uploaded_ms = ?5
             WHERE stream_id = ?1 AND segment = ?2 AND last_seq = ?3 AND fragments = ?4
               AND uploaded_ms IS NULL",
        )
        .map_err(db)?
        .execute(params![
            stream.0,
            want.segment,
            want.last_seq,
            i64::try_from(want.fragments).unwrap_or(i64::MAX),
            uploaded_ms
        ])
        .map_err(db)?;
    Ok(changed == 1)
}

/// [`Index::append_fragments`](crate::store::index::Index::append_fragments).
pub(super) fn append(
    conn: &mut Connection,
    rows: Vec<FragmentRecord>,
) -> Result<Vec<FragmentNumber>, StoreError> {
    let tx = conn.transaction().map_err(db)?;
    let mut refused = Vec::new();
    {
        let mut is_garbage = tx
            .prepare_cached("SELECT 1 FROM garbage WHERE stream_id = ?1 AND segment = ?2")
            .map_err(db)?;
        let mut stream_exists = tx
            .prepare_cached("SELECT 1 FROM streams WHERE id = ?1")
            .map_err(db)?;
        let mut insert = tx
            .prepare_cached(&format!(
                "INSERT INTO fragments ({FRAGMENT_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            ))
            .map_err(db)?;
        // Rows of one stream arrive in seq order, so the first row of a segment sets
        // its first_server_ms and later ones only extend it.
        let mut summary = tx
            .prepare_cached(
                "INSERT INTO segments (stream_id, segment, first_server_ms, last_server_ms,
                     last_seq, fragments, bytes)
                 VALUES (?1, ?2, ?3, ?3, ?4, 1, ?5)
                 ON CONFLICT (stream_id, segment) DO UPDATE SET
                   last_server_ms = max(last_server_ms, excluded.last_server_ms),
                   last_seq = max(last_seq, excluded.last_seq),
                   fragments = fragments + 1,
                   bytes = bytes + excluded.bytes",
            )
            .map_err(db)?;
        // A stream deleted while its fragments were in flight: its rows are refused alone (a
        // foreign-key failure would fail every stream's rows of this group commit).
        let mut live = std::collections::HashMap::new();
        for r in &rows {
            let stream = r.number.stream.0;
            let exists = match live.get(&stream) {
                Some(&e) => e,
                None => {
                    let e = stream_exists.exists([stream]).map_err(db)?;
                    live.insert(stream, e);
                    e
                }
            };
            if !exists
                || is_garbage
                    .exists(params![r.number.stream.0, r.segment])
                    .map_err(db)?
            {
                refused.push(r.number);
                continue;
            }
            insert
                .execute(params![
                    r.number.stream.0,
                    r.number.seq,
                    r.producer_ms,
                    r.server_ms,
                    r.duration_ms,
                    r.track_header_id,
                    r.segment,
                    i64::try_from(r.offset).unwrap_or(i64::MAX),
                    r.cluster_len,
                    r.trailer_len,
                ])
                .map_err(db)?;
            summary
                .execute(params![
                    r.number.stream.0,
                    r.segment,
                    r.server_ms,
                    r.number.seq,
                    i64::from(r.cluster_len) + i64::from(r.trailer_len),
                ])
                .map_err(db)?;
        }
    }
    tx.commit().map_err(db)?;
    Ok(refused)
}

/// [`Index::segment_usage`](crate::store::index::Index::segment_usage).
pub(super) fn usage(conn: &Connection, stream: StreamId) -> Result<Vec<SegmentUsage>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {SEGMENT_COLUMNS} FROM segments WHERE stream_id = ?1 ORDER BY segment"
        ))
        .map_err(db)?;
    let rows = stmt.query_map([stream.0], usage_from_row).map_err(db)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
}

/// [`Index::stream_bytes`](crate::store::index::Index::stream_bytes).
pub(super) fn stream_bytes(conn: &Connection, stream: StreamId) -> Result<u64, StoreError> {
    let total: i64 = conn
        .prepare_cached("SELECT coalesce(sum(bytes), 0) FROM segments WHERE stream_id = ?1")
        .map_err(db)?
        .query_row([stream.0], |r| r.get(0))
        .map_err(db)?;
    u64::try_from(total).map_err(|e| db(corrupt("stream bytes", e)))
}

/// [`Index::mark_garbage`](crate::store::index::Index::mark_garbage): one transaction.
pub(super) fn mark(
    conn: &mut Connection,
    stream: StreamId,
    segments: Vec<SegmentUsage>,
    marked_ms: i64,
) -> Result<Vec<SegmentUsage>, StoreError> {
    let tx = conn.transaction().map_err(db)?;
    let mut marked = Vec::with_capacity(segments.len());
    for want in segments {
        let now = tx
            .prepare_cached(&format!(
                "SELECT {SEGMENT_COLUMNS} FROM segments WHERE stream_id = ?1 AND segment = ?2"
            ))
            .map_err(db)?
            .query_row(params![stream.0, want.segment], usage_from_row)
            .optional()
            .map_err(db)?;
        let Some(now) = now else { continue };
        if now.last_seq != want.last_seq || now.fragments != want.fragments {
            continue; // a fragment arrived since the caller decided
        }
        // A segment's fragments have seqs in [segment, last_seq] (the writer appends a
        // stream's fragments in seq order and a new segment starts at its first seq), so
        // this is a primary-key range scan; `segment = ?2` keeps it exact regardless.
        let deleted = tx
            .prepare_cached(
                "DELETE FROM fragments
                 WHERE stream_id = ?1 AND seq BETWEEN ?2 AND ?3 AND segment = ?2",
            )
            .map_err(db)?
            .execute(params![stream.0, want.segment, now.last_seq])
            .map_err(db)?;
        if deleted as u64 != now.fragments {
            // Dropping `tx` rolls everything back.
            return Err(StoreError::corruption(format!(
                "segment {} of stream {} lists {} fragments but {deleted} rows matched; \
                 the index is inconsistent, run vidstream check",
                want.segment, stream.0, now.fragments
            )));
        }
        tx.prepare_cached("DELETE FROM segments WHERE stream_id = ?1 AND segment = ?2")
            .map_err(db)?
            .execute(params![stream.0, want.segment])
            .map_err(db)?;
        tx.prepare_cached(
            "INSERT INTO garbage (stream_id, segment, marked_ms) VALUES (?1, ?2, ?3)",
        )
        .map_err(db)?
        .execute(params![stream.0, want.segment, marked_ms])
        .map_err(db)?;
        marked.push(now);
    }
    tx.commit().map_err(db)?;
    Ok(marked)
}

/// [`Index::garbage`](crate::store::index::Index::garbage).
pub(super) fn garbage(conn: &Connection) -> Result<Vec<Garbage>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT stream_id, segment, marked_ms FROM garbage
             ORDER BY marked_ms, stream_id, segment",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(Garbage {
                stream: StreamId(r.get(0)?),
                segment: r.get(1)?,
                marked_ms: r.get(2)?,
            })
        })
        .map_err(db)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
}

/// [`Index::forget_garbage`](crate::store::index::Index::forget_garbage).
pub(super) fn forget(conn: &Connection, stream: StreamId, segment: i64) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM garbage WHERE stream_id = ?1 AND segment = ?2")
        .map_err(db)?
        .execute(params![stream.0, segment])
        .map_err(db)?;
    Ok(())
}
