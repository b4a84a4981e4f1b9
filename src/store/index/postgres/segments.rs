//! Retention's tables: the `segments` summary kept in step with the fragment rows, and the
//! `garbage` list of segments whose rows retention removed (phase 1) and whose files await
//! deletion (phase 2). The fragment append lives here too, since it keeps the summary in step
//! and refuses rows of garbage segments. See `store::retention` for the protocol and store
//! invariants 10 and 11 for what these transactions guarantee; `mod.rs` for the row locks that
//! make them hold between nodes.

use std::collections::{BTreeMap, HashSet};

use tokio_postgres::Row;

use super::fragments::FRAGMENT_COLUMNS;
use super::{Client, col, db, to_i64, unsigned};
use crate::model::StreamId;
use crate::store::StoreError;
use crate::store::fragment::{FragmentNumber, FragmentRecord};
use crate::store::index::{Garbage, SegmentUsage};

const SEGMENT_COLUMNS: &str =
    "segment, first_server_ms, last_server_ms, last_seq, fragments, bytes, uploaded_ms";

fn usage_from_row(row: &Row) -> Result<SegmentUsage, StoreError> {
    Ok(SegmentUsage {
        segment: col(row, 0)?,
        first_server_ms: col(row, 1)?,
        last_server_ms: col(row, 2)?,
        last_seq: col(row, 3)?,
        fragments: unsigned(row, 4, "segment fragment count")?,
        bytes: unsigned(row, 5, "segment bytes")?,
        uploaded_ms: col(row, 6)?,
    })
}

/// [`Index::mark_uploaded`](crate::store::index::Index::mark_uploaded): one conditional
/// UPDATE, atomic against appends (which change `last_seq` and `fragments`).
pub(super) async fn mark_uploaded(
    client: &Client,
    stream: StreamId,
    want: SegmentUsage,
    uploaded_ms: i64,
) -> Result<bool, StoreError> {
    let stmt = client
        .prepare_cached(
            "UPDATE segments SET uploaded_ms = $5
             WHERE stream_id = $1 AND segment = $2 AND last_seq = $3 AND fragments = $4
               AND uploaded_ms IS NULL",
        )
        .await
        .map_err(db)?;
    let fragments = i64::try_from(want.fragments).unwrap_or(i64::MAX);
    let changed = client
        .execute(
            &stmt,
            &[
                &stream.0,
                &want.segment,
                &want.last_seq,
                &fragments,
                &uploaded_ms,
            ],
        )
        .await
        .map_err(db)?;
    Ok(changed == 1)
}

/// One segment's share of a batch, for its summary row.
struct Summary {
    first_server_ms: i64,
    last_server_ms: i64,
    last_seq: i64,
    fragments: i64,
    bytes: i64,
}

/// [`Index::append_fragments`](crate::store::index::Index::append_fragments): one transaction
/// of a fixed number of statements whatever the batch's size.
///
/// 1. The batch's streams are locked `FOR KEY SHARE` (in id order). A stream deleted before
///    that is absent, and its rows are refused; a `delete_stream` that comes later waits for
///    this commit. So the inserts below never fail a foreign key, and one stream's deletion
///    never fails another stream's rows. `mark_garbage` locks its stream `FOR UPDATE`, so it
///    also waits for this commit, or this waits for it.
/// 2. Rows whose segment is in `garbage` are refused.
/// 3. The others are inserted, and each segment's summary row is inserted or extended.
pub(super) async fn append(
    client: &mut Client,
    rows: Vec<FragmentRecord>,
) -> Result<Vec<FragmentNumber>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let tx = client.transaction().await.map_err(db)?;
    let mut streams: Vec<i64> = rows.iter().map(|r| r.number.stream.0).collect();
    streams.sort_unstable();
    streams.dedup();
    let stmt = tx
        .prepare_cached("SELECT id FROM streams WHERE id = ANY($1) ORDER BY id FOR KEY SHARE")
        .await
        .map_err(db)?;
    let live = tx
        .query(&stmt, &[&streams])
        .await
        .map_err(db)?
        .iter()
        .map(|r| col::<i64>(r, 0))
        .collect::<Result<HashSet<i64>, _>>()?;

    let mut pairs: Vec<(i64, i64)> = rows
        .iter()
        .filter(|r| live.contains(&r.number.stream.0))
        .map(|r| (r.number.stream.0, r.segment))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let (pair_streams, pair_segments): (Vec<i64>, Vec<i64>) = pairs.into_iter().unzip();
    let stmt = tx
        .prepare_cached(
            "SELECT g.stream_id, g.segment FROM garbage g
             JOIN unnest($1::bigint[], $2::bigint[]) AS b (stream_id, segment)
               ON g.stream_id = b.stream_id AND g.segment = b.segment",
        )
        .await
        .map_err(db)?;
    let garbage = tx
        .query(&stmt, &[&pair_streams, &pair_segments])
        .await
        .map_err(db)?
        .iter()
        .map(|r| Ok((col::<i64>(r, 0)?, col::<i64>(r, 1)?)))
        .collect::<Result<HashSet<(i64, i64)>, StoreError>>()?;

    let mut refused = Vec::new();
    let mut kept = Vec::with_capacity(rows.len());
    for r in &rows {
        let stream = r.number.stream.0;
        if !live.contains(&stream) || garbage.contains(&(stream, r.segment)) {
            refused.push(r.number);
        } else {
            kept.push(r);
        }
    }
    if !kept.is_empty() {
        insert_rows(&tx, &kept).await?;
        extend_summaries(&tx, &kept).await?;
    }
    tx.commit().await.map_err(db)?;
    Ok(refused)
}

/// Inserts the fragment rows, in one statement.
async fn insert_rows(
    tx: &deadpool_postgres::Transaction<'_>,
    rows: &[&FragmentRecord],
) -> Result<(), StoreError> {
    let column = |f: fn(&FragmentRecord) -> i64| rows.iter().map(|r| f(r)).collect::<Vec<i64>>();
    let columns = [
        column(|r| r.number.stream.0),
        column(|r| r.number.seq),
        column(|r| r.producer_ms),
        column(|r| r.server_ms),
        column(|r| r.duration_ms),
        column(|r| r.track_header_id),
        column(|r| r.segment),
        column(|r| to_i64(r.offset)),
        column(|r| i64::from(r.cluster_len)),
        column(|r| i64::from(r.trailer_len)),
    ];
    let stmt = tx
        .prepare_cached(&format!(
            "INSERT INTO fragments ({FRAGMENT_COLUMNS})
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[],
                 $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[],
                 $10::bigint[])"
        ))
        .await
        .map_err(db)?;
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = columns
        .iter()
        .map(|c| c as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    tx.execute(&stmt, &params).await.map_err(db)?;
    Ok(())
}

/// Inserts or extends the summary row of each segment the rows fall in, in one statement.
/// Rows of one stream arrive in seq order, so the first row of a new segment sets its
/// `first_server_ms` and later ones only extend it. The summaries are written in
/// `(stream, segment)` order, so two batches touching the same segments lock them in the same
/// order.
async fn extend_summaries(
    tx: &deadpool_postgres::Transaction<'_>,
    rows: &[&FragmentRecord],
) -> Result<(), StoreError> {
    let mut summaries: BTreeMap<(i64, i64), Summary> = BTreeMap::new();
    for r in rows {
        let bytes = i64::from(r.cluster_len) + i64::from(r.trailer_len);
        summaries
            .entry((r.number.stream.0, r.segment))
            .and_modify(|s| {
                s.last_server_ms = s.last_server_ms.max(r.server_ms);
                s.last_seq = s.last_seq.max(r.number.seq);
                s.fragments += 1;
                s.bytes += bytes;
            })
            .or_insert(Summary {
                first_server_ms: r.server_ms,
                last_server_ms: r.server_ms,
                last_seq: r.number.seq,
                fragments: 1,
                bytes,
            });
    }
    let mut columns: [Vec<i64>; 7] = Default::default();
    for ((stream, segment), s) in &summaries {
        let values = [
            *stream,
            *segment,
            s.first_server_ms,
            s.last_server_ms,
            s.last_seq,
            s.fragments,
            s.bytes,
        ];
        for (c, v) in columns.iter_mut().zip(values) {
            c.push(v);
        }
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO segments (stream_id, segment, first_server_ms, last_server_ms,
                 last_seq, fragments, bytes)
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[],
                 $5::bigint[], $6::bigint[], $7::bigint[])
             ON CONFLICT (stream_id, segment) DO UPDATE SET
               last_server_ms = greatest(segments.last_server_ms, excluded.last_server_ms),
               last_seq = greatest(segments.last_seq, excluded.last_seq),
               fragments = segments.fragments + excluded.fragments,
               bytes = segments.bytes + excluded.bytes",
        )
        .await
        .map_err(db)?;
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = columns
        .iter()
        .map(|c| c as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    tx.execute(&stmt, &params).await.map_err(db)?;
    Ok(())
}

/// [`Index::segment_usage`](crate::store::index::Index::segment_usage).
pub(super) async fn usage(
    client: &Client,
    stream: StreamId,
) -> Result<Vec<SegmentUsage>, StoreError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {SEGMENT_COLUMNS} FROM segments WHERE stream_id = $1 ORDER BY segment"
        ))
        .await
        .map_err(db)?;
    let rows = client.query(&stmt, &[&stream.0]).await.map_err(db)?;
    rows.iter().map(usage_from_row).collect()
}

/// [`Index::stream_bytes`](crate::store::index::Index::stream_bytes).
pub(super) async fn stream_bytes(client: &Client, stream: StreamId) -> Result<u64, StoreError> {
    // sum(bigint) is numeric: back to bigint (an overflow is an error, not a wrap).
    let stmt = client
        .prepare_cached("SELECT coalesce(sum(bytes), 0)::bigint FROM segments WHERE stream_id = $1")
        .await
        .map_err(db)?;
    let row = client.query_one(&stmt, &[&stream.0]).await.map_err(db)?;
    unsigned(&row, 0, "stream bytes")
}

/// [`Index::mark_garbage`](crate::store::index::Index::mark_garbage): one transaction, under
/// the stream's row lock `FOR UPDATE`. Appends hold `FOR KEY SHARE` on it until they commit,
/// so this waits for those in flight and keeps new ones out: the summary compared below is
/// exact when it is acted on, and no fragment lands in a segment being marked. A stream that
/// is gone (or was being deleted) has nothing to mark.
pub(super) async fn mark(
    client: &mut Client,
    stream: StreamId,
    segments: Vec<SegmentUsage>,
    marked_ms: i64,
) -> Result<Vec<SegmentUsage>, StoreError> {
    let tx = client.transaction().await.map_err(db)?;
    let stmt = tx
        .prepare_cached("SELECT 1 FROM streams WHERE id = $1 FOR UPDATE")
        .await
        .map_err(db)?;
    if tx
        .query_opt(&stmt, &[&stream.0])
        .await
        .map_err(db)?
        .is_none()
    {
        return Ok(Vec::new());
    }
    let summary = tx
        .prepare_cached(&format!(
            "SELECT {SEGMENT_COLUMNS} FROM segments WHERE stream_id = $1 AND segment = $2"
        ))
        .await
        .map_err(db)?;
    // A segment's fragments have seqs in [segment, last_seq] (the writer appends a stream's
    // fragments in seq order and a new segment starts at its first seq), so this is a
    // primary-key range scan; `segment = $2` keeps it exact regardless.
    let delete_rows = tx
        .prepare_cached(
            "DELETE FROM fragments
             WHERE stream_id = $1 AND seq BETWEEN $2 AND $3 AND segment = $2",
        )
        .await
        .map_err(db)?;
    let delete_summary = tx
        .prepare_cached("DELETE FROM segments WHERE stream_id = $1 AND segment = $2")
        .await
        .map_err(db)?;
    let insert_garbage = tx
        .prepare_cached("INSERT INTO garbage (stream_id, segment, marked_ms) VALUES ($1, $2, $3)")
        .await
        .map_err(db)?;
    let mut marked = Vec::with_capacity(segments.len());
    for want in segments {
        let now = tx
            .query_opt(&summary, &[&stream.0, &want.segment])
            .await
            .map_err(db)?;
        let Some(now) = now.as_ref().map(usage_from_row).transpose()? else {
            continue;
        };
        if now.last_seq != want.last_seq || now.fragments != want.fragments {
            continue; // a fragment arrived since the caller decided
        }
        let deleted = tx
            .execute(&delete_rows, &[&stream.0, &want.segment, &now.last_seq])
            .await
            .map_err(db)?;
        if deleted != now.fragments {
            // Dropping `tx` rolls everything back.
            return Err(StoreError::corruption(format!(
                "segment {} of stream {} lists {} fragments but {deleted} rows matched; \
                 the index is inconsistent, run vidstream check",
                want.segment, stream.0, now.fragments
            )));
        }
        tx.execute(&delete_summary, &[&stream.0, &want.segment])
            .await
            .map_err(db)?;
        tx.execute(&insert_garbage, &[&stream.0, &want.segment, &marked_ms])
            .await
            .map_err(db)?;
        marked.push(now);
    }
    tx.commit().await.map_err(db)?;
    Ok(marked)
}

/// [`Index::garbage`](crate::store::index::Index::garbage).
pub(super) async fn garbage(client: &Client) -> Result<Vec<Garbage>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT stream_id, segment, marked_ms FROM garbage
             ORDER BY marked_ms, stream_id, segment",
        )
        .await
        .map_err(db)?;
    let rows = client.query(&stmt, &[]).await.map_err(db)?;
    rows.iter()
        .map(|r| {
            Ok(Garbage {
                stream: StreamId(col(r, 0)?),
                segment: col(r, 1)?,
                marked_ms: col(r, 2)?,
            })
        })
        .collect()
}

/// [`Index::forget_garbage`](crate::store::index::Index::forget_garbage).
pub(super) async fn forget(
    client: &Client,
    stream: StreamId,
    segment: i64,
) -> Result<(), StoreError> {
    let stmt = client
        .prepare_cached("DELETE FROM garbage WHERE stream_id = $1 AND segment = $2")
        .await
        .map_err(db)?;
    client
        .execute(&stmt, &[&stream.0, &segment])
        .await
        .map_err(db)?;
    Ok(())
}
