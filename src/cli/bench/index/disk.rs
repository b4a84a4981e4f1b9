//! What the index costs on disk, per fragment, and which structure costs what: SQLite's file
//! and its b-trees (`dbstat`), PostgreSQL's relations. Also the query plans of the two fragment
//! queries, which explain most of the latency figures.

use std::path::Path;

use anyhow::Context;

use super::Row;

/// The target of the issue: the index's bytes per fragment (the frame table is not in the
/// index but in the segment files, after each cluster).
const TARGET: &str = "<= 48 B (+ frame table, in the segment files)";

/// The fragment-at-time statement of the store (`SqliteIndex::list_fragments` with a producer
/// range), and the 1-hour listing's (a server range).
pub(super) const SQLITE_AT: &str = "SELECT stream_id, seq, producer_ms, server_ms, duration_ms, \
     track_header_id, segment, offset, cluster_len, trailer_len FROM fragments \
     WHERE stream_id = ?1 AND seq > ?2 AND producer_ms >= ?3 AND producer_ms <= ?4 \
     ORDER BY seq LIMIT ?5";
pub(super) const SQLITE_LIST: &str = "SELECT stream_id, seq, producer_ms, server_ms, \
     duration_ms, track_header_id, segment, offset, cluster_len, trailer_len FROM fragments \
     WHERE stream_id = ?1 AND seq > ?2 AND server_ms >= ?3 AND server_ms <= ?4 \
     ORDER BY seq LIMIT ?5";

/// `EXPLAIN QUERY PLAN` of `sql` (with its five parameters), one line.
pub(super) fn sqlite_plan(conn: &rusqlite::Connection, sql: &str) -> anyhow::Result<String> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    let steps = stmt
        .query_map(rusqlite::params![1, i64::MIN, 0, 0, 1], |r| {
            r.get::<_, String>(3)
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(steps.join("; "))
}

/// SQLite: the file (checkpointed, so the WAL is empty) and each b-tree, per fragment.
pub(super) fn sqlite_bytes(path: &Path, fragments: u64) -> anyhow::Result<Vec<Row>> {
    let size = |p: &Path| match std::fs::metadata(p) {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    };
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let (main, wal) = (size(path)?, size(Path::new(&wal))?);
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {}", path.display()))?;
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    // name, pages, bytes, payload bytes
    let trees = conn
        .prepare(
            "SELECT name, count(*), sum(pgsize), sum(payload) FROM dbstat
             GROUP BY name ORDER BY sum(pgsize) DESC",
        )?
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let per = |b: i64| b as f64 / fragments.max(1) as f64;
    let mut rows = vec![Row {
        what: "SQLite: bytes per fragment on disk (index.sqlite + -wal)".into(),
        result: format!(
            "{:.1} B ({:.0} MB file + {:.0} MB WAL, {page_size} B pages)",
            (main + wal) as f64 / fragments.max(1) as f64,
            main as f64 / 1e6,
            wal as f64 / 1e6,
        ),
        target: TARGET.into(),
    }];
    let describe = |name: &str| match name {
        "fragments" => "  table fragments (WITHOUT ROWID, key stream_id, seq)",
        "fragments_producer" => "  index fragments_producer (stream_id, producer_ms)",
        "fragments_server" => "  index fragments_server (stream_id, server_ms)",
        "segments" => "  table segments (one row per segment file)",
        _ => "",
    };
    let mut rest = 0;
    for (name, pages, bytes, payload) in &trees {
        let what = describe(name);
        if what.is_empty() {
            rest += bytes;
            continue;
        }
        rows.push(Row {
            what: what.into(),
            result: format!(
                "{:.1} B/fragment ({:.1} B of it row data, pages {:.0} % full, {pages} pages)",
                per(*bytes),
                per(*payload),
                100.0 * *payload as f64 / (*bytes).max(1) as f64
            ),
            target: String::new(),
        });
    }
    rows.push(Row {
        what: "  everything else (other tables, freelist, schema)".into(),
        result: format!(
            "{:.1} B/fragment",
            per(
                i64::try_from(main).unwrap_or(i64::MAX) - trees.iter().map(|t| t.2).sum::<i64>()
                    + rest
            )
        ),
        target: String::new(),
    });
    Ok(rows)
}

/// PostgreSQL: the `fragments` relation with its indexes (`pg_total_relation_size`: heap,
/// TOAST, free space and visibility maps, indexes), and each part, per fragment.
pub(super) async fn postgres_bytes(
    client: &tokio_postgres::Client,
    fragments: u64,
) -> anyhow::Result<Vec<Row>> {
    let row = client
        .query_one(
            "SELECT pg_total_relation_size('fragments'), pg_relation_size('fragments'),
                 pg_relation_size('fragments_pkey'), pg_relation_size('fragments_producer'),
                 pg_relation_size('fragments_server'), pg_total_relation_size('segments'),
                 pg_database_size(current_database()),
                 current_setting('block_size')::bigint",
            &[],
        )
        .await
        .context("reading relation sizes")?;
    let b = |i: usize| -> anyhow::Result<i64> { Ok(row.try_get::<_, i64>(i)?) };
    let per = |v: i64| v as f64 / fragments.max(1) as f64;
    let (total, heap, pkey, producer, server) = (b(0)?, b(1)?, b(2)?, b(3)?, b(4)?);
    let parts = [
        ("  heap (10 bigint columns + 24 B tuple header)", heap),
        ("  index fragments_pkey (stream_id, seq)", pkey),
        (
            "  index fragments_producer (stream_id, producer_ms)",
            producer,
        ),
        ("  index fragments_server (stream_id, server_ms)", server),
        (
            "  free space and visibility maps",
            total - heap - pkey - producer - server,
        ),
    ];
    let mut rows = vec![Row {
        what: "PostgreSQL: bytes per fragment, pg_total_relation_size('fragments')".into(),
        result: format!(
            "{:.1} B ({:.0} MB, {} B pages)",
            per(total),
            total as f64 / 1e6,
            b(7)?
        ),
        target: TARGET.into(),
    }];
    for (what, bytes) in parts {
        rows.push(Row {
            what: what.into(),
            result: format!("{:.1} B/fragment", per(bytes)),
            target: String::new(),
        });
    }
    rows.push(Row {
        what: "  segments table; whole database".into(),
        result: format!(
            "{:.1} B/fragment; {:.1} B/fragment ({:.0} MB)",
            per(b(5)?),
            per(b(6)?),
            b(6)? as f64 / 1e6
        ),
        target: String::new(),
    });
    Ok(rows)
}

/// `EXPLAIN` of the PostgreSQL index's fragment query (`postgres/fragments.rs`) on the `col`
/// axis, with these values, one line without the cost figures.
pub(super) async fn postgres_plan(
    client: &tokio_postgres::Client,
    col: &str,
    stream: i64,
    lo: i64,
    hi: i64,
    limit: usize,
) -> anyhow::Result<String> {
    let rows = client
        .query(
            &format!(
                "EXPLAIN SELECT stream_id, seq, producer_ms, server_ms, duration_ms,
                     track_header_id, segment, byte_offset, cluster_len, trailer_len
                 FROM fragments
                 WHERE stream_id = {stream} AND seq > {} AND {col} >= {lo} AND {col} <= {hi}
                 ORDER BY seq LIMIT {limit}",
                i64::MIN
            ),
            &[],
        )
        .await
        .context("EXPLAIN")?;
    let mut steps = Vec::new();
    for r in rows {
        let line: String = r.try_get(0)?;
        let line = match line.find("  (cost=") {
            Some(i) => &line[..i],
            None => &line,
        };
        let line = line.trim().trim_start_matches("->").trim();
        if !line.is_empty() {
            steps.push(line.to_owned());
        }
    }
    Ok(steps.join("; "))
}
