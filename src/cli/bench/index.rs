//! `vidstream bench index`: the fragment index at scale, on SQLite and on PostgreSQL (issue
//! targets: fragment-at-time lookup p99 ≤ 50 µs on SQLite warm, a 1-hour ListFragments ≤ 5 ms,
//! ≤ 48 bytes per fragment on disk plus the frame table).
//!
//! For each backend: a generator ([`generate`]) creates `--streams` streams (default 1,000) and
//! appends `--fragments` rows (default 10 M, 2 s fragments: 5.6 hours per stream) through the
//! [`Index`] trait, in group commits of `--batch` rows that span several streams, as the
//! writer's sync stage commits them; then, warm (each set runs once untimed first):
//! - fragment at time T: random (stream, producer time) lookups, each the queries
//!   `Media::at` makes (`list_fragments` over `[T - lookback, T]` on the producer axis, pages
//!   of 256, the latest start wins, kept if it covers T), with the lookback the server's
//!   default configuration gives (30 s longest fragment + 1 s);
//! - a 1-hour ListFragments: random one-hour server-time windows (1,800 fragments), each listed
//!   as the API lists it (`list_fragments` with MaxResults 1000 + 1, then the next page after
//!   the last seq), until the window is exhausted;
//! - bytes per fragment on disk, and which structure costs what.
//!
//! SQLite lives in a temporary directory under `--dir` (synchronous=FULL, as the store opens
//! it); PostgreSQL is a throwaway cluster of the testbed (fsync on, default settings), where
//! `VACUUM ANALYZE` runs after the load, as autovacuum would. On SQLite, the lookups are also
//! timed on a connection of their own with the same statement, to separate the query from the
//! index's connection hop (tokio's blocking pool), and with the producer index forced, to show
//! what the planner's choice costs.

mod disk;
mod generate;

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Args, Row, print_rows, tempdir_in};
use crate::media::Media;
use crate::model::StreamId;
use crate::store::StoreError;
use crate::store::fragment::FragmentRecord;
use crate::store::index::postgres::PgIndex;
use crate::store::index::sqlite::SqliteIndex;
use crate::store::index::{FragmentQuery, Index, TimestampKind};
use generate::{Generated, Scale, Stream, generate};

/// `Media::latest_starting_by`'s page size.
const AT_PAGE: usize = 256;
/// ListFragments' largest (and default) MaxResults.
const MAX_RESULTS: usize = 1000;
/// The listing window.
const HOUR_MS: i64 = 3_600_000;
/// Most fragment-at-time lookups (fewer at a small scale: one per 100 fragments, at least 1000).
const LOOKUPS: u64 = 20_000;
/// One-hour listings.
const WINDOWS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let backends = match args.backend.as_str() {
        "sqlite" => vec![Backend::Sqlite],
        "postgres" => vec![Backend::Postgres],
        "both" => vec![Backend::Sqlite, Backend::Postgres],
        other => bail!("--backend {other}: expected `sqlite`, `postgres` or `both`"),
    };
    let scale = Scale {
        fragments: args.fragments,
        streams: args.streams.unwrap_or(1000).max(1),
        batch: args.batch.max(1),
    };
    if scale.fragments < scale.streams as u64 {
        bail!("--fragments must be at least --streams");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let work = tempdir_in(&args.dir)?;
    let result = rt.block_on(async {
        for backend in backends {
            // Each backend's table as soon as it is measured: a full run takes a while.
            let rows = match backend {
                Backend::Sqlite => sqlite(&work, scale).await?,
                Backend::Postgres => postgres(scale).await?,
            };
            print_rows(rows)?;
        }
        anyhow::Ok(())
    });
    let _ = std::fs::remove_dir_all(&work);
    result
}

async fn sqlite(work: &Path, scale: Scale) -> anyhow::Result<Vec<Row>> {
    let path = work.join("index.sqlite");
    let index = SqliteIndex::open(&path).context("opening the SQLite index")?;
    let generated = generate(&index, "sqlite", scale).await?;
    let mut rows = vec![generation_row("SQLite", scale, &generated, None)];
    let lookups = lookups(&generated.streams, scale.fragments);
    rows.push(at_row("SQLite", &index, &lookups).await?);
    rows.push(list_row("SQLite", &index, &generated.streams).await?);
    rows.push(call_row(&index, &generated.streams).await?);

    // The same statement on a connection of its own: the query without the hop to the blocking
    // pool; then with the producer index forced.
    let conn = rusqlite::Connection::open_with_flags(
        &path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .context("opening a second connection")?;
    rows.push(Row {
        what: "  plan of the at-time query (producer range)".into(),
        result: disk::sqlite_plan(&conn, disk::SQLITE_AT)?,
        target: String::new(),
    });
    rows.push(Row {
        what: "  plan of the ListFragments query (server range)".into(),
        result: disk::sqlite_plan(&conn, disk::SQLITE_LIST)?,
        target: String::new(),
    });
    rows.push(direct_at_row(
        &conn,
        "  at time T, same statement, own connection (no pool hop)",
        disk::SQLITE_AT,
        &lookups,
    )?);
    let forced = disk::SQLITE_AT.replace(
        "FROM fragments",
        "FROM fragments INDEXED BY fragments_producer",
    );
    rows.push(direct_at_row(
        &conn,
        "  at time T, own connection, INDEXED BY fragments_producer",
        &forced,
        &lookups,
    )?);
    drop(conn);

    index.close().await.context("checkpointing the index")?;
    drop(index);
    rows.extend(disk::sqlite_bytes(&path, scale.fragments)?);
    Ok(rows)
}

async fn postgres(scale: Scale) -> anyhow::Result<Vec<Row>> {
    let cluster = tokio::task::spawn_blocking(crate::testbed::postgres::Postgres::start)
        .await
        .context("starting PostgreSQL")??;
    let url = cluster.create_database().await?;
    let index = PgIndex::connect(&url, 4)
        .await
        .context("connecting the PostgreSQL index")?;
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .context("connecting to PostgreSQL")?;
    let connection = tokio::spawn(connection);

    let generated = generate(&index, "postgres", scale).await?;
    let t = Instant::now();
    client
        .batch_execute("VACUUM (ANALYZE) fragments, segments")
        .await
        .context("VACUUM ANALYZE")?;
    let vacuum_secs = t.elapsed().as_secs_f64();
    let mut rows = vec![generation_row(
        "PostgreSQL",
        scale,
        &generated,
        Some(vacuum_secs),
    )];
    let lookups = lookups(&generated.streams, scale.fragments);
    rows.push(at_row("PostgreSQL", &index, &lookups).await?);
    rows.push(list_row("PostgreSQL", &index, &generated.streams).await?);
    rows.push(call_row(&index, &generated.streams).await?);
    if let (Some(&(stream, t)), Some(s)) = (lookups.first(), generated.streams.first()) {
        rows.push(Row {
            what: "  plan of the at-time query (producer range)".into(),
            result: disk::postgres_plan(
                &client,
                "producer_ms",
                stream.0,
                t - lookback_ms(),
                t,
                AT_PAGE,
            )
            .await?,
            target: String::new(),
        });
        rows.push(Row {
            what: "  plan of the ListFragments query (server range)".into(),
            result: disk::postgres_plan(
                &client,
                "server_ms",
                s.id.0,
                s.first_server_ms,
                s.first_server_ms + HOUR_MS,
                MAX_RESULTS + 1,
            )
            .await?,
            target: String::new(),
        });
    }
    rows.extend(disk::postgres_bytes(&client, scale.fragments).await?);
    index
        .close()
        .await
        .context("closing the PostgreSQL index")?;
    drop(client);
    let _ = connection.await;
    drop(cluster);
    Ok(rows)
}

fn generation_row(name: &str, scale: Scale, g: &Generated, vacuum_secs: Option<f64>) -> Row {
    let vacuum = vacuum_secs
        .map(|v| format!(", then VACUUM ANALYZE {v:.0} s"))
        .unwrap_or_default();
    Row {
        what: format!(
            "{name}: generate {} fragments over {} streams ({} per commit)",
            scale.fragments, scale.streams, scale.batch
        ),
        result: format!(
            "{:.0} fragments/s ({:.0} s, {} commits; streams created in {:.1} s{vacuum})",
            scale.fragments as f64 / g.append_secs.max(1e-9),
            g.append_secs,
            g.commits,
            g.create_secs
        ),
        target: "report".into(),
    }
}

/// Random (stream, producer time) pairs, each inside a stream's recorded span.
fn lookups(streams: &[Stream], fragments: u64) -> Vec<(StreamId, i64)> {
    let n = (fragments / 100).clamp(1000, LOOKUPS) as usize;
    let mut rng = StdRng::seed_from_u64(7);
    (0..n)
        .map(|_| {
            let s = &streams[rng.random_range(0..streams.len())];
            (
                s.id,
                rng.random_range(s.first_producer_ms..s.end_producer_ms()),
            )
        })
        .collect()
}

/// How far before a time `Media` looks for the fragment holding it, with the server's default
/// configuration (`Media::new`: the longest fragment ingest accepts, plus a second).
fn lookback_ms() -> i64 {
    let longest = crate::config::Config::default()
        .ingest
        .max_fragment_duration_secs
        .saturating_mul(1000);
    i64::try_from(longest)
        .unwrap_or(i64::MAX)
        .saturating_add(1000)
}

/// The fragment at producer time `t`, found with the queries `Media::at` makes
/// (`Media::latest_starting_by`, then `Media::covers`).
async fn fragment_at(
    index: &dyn Index,
    stream: StreamId,
    t: i64,
) -> Result<Option<FragmentRecord>, StoreError> {
    let kind = TimestampKind::Producer;
    let mut q = FragmentQuery {
        stream,
        range: Some((kind, t.saturating_sub(lookback_ms()), t)),
        after_seq: None,
        limit: AT_PAGE,
    };
    let mut best: Option<FragmentRecord> = None;
    loop {
        let page = index.list_fragments(q).await?;
        let done = page.len() < q.limit;
        for f in &page {
            // The producer axis' tie rule: the latest start, then the highest number.
            if best.is_none_or(|b| (f.producer_ms, f.number.seq) > (b.producer_ms, b.number.seq)) {
                best = Some(*f);
            }
        }
        match page.last() {
            Some(last) if !done => q.after_seq = Some(last.number.seq),
            _ => break,
        }
    }
    Ok(best.filter(|f| Media::covers(kind, f, t, 0)))
}

/// The fragments of one ListFragments over server times `[lo, hi]`, paged as the API pages it.
async fn list_window(
    index: &dyn Index,
    stream: StreamId,
    lo: i64,
    hi: i64,
) -> Result<usize, StoreError> {
    let mut after_seq = None;
    let mut listed = 0;
    loop {
        let mut rows = index
            .list_fragments(FragmentQuery {
                stream,
                range: Some((TimestampKind::Server, lo, hi)),
                after_seq,
                limit: MAX_RESULTS + 1,
            })
            .await?;
        let more = rows.len() > MAX_RESULTS;
        rows.truncate(MAX_RESULTS);
        listed += rows.len();
        match rows.last() {
            Some(last) if more => after_seq = Some(last.number.seq),
            _ => return Ok(listed),
        }
    }
}

async fn at_row(name: &str, index: &dyn Index, lookups: &[(StreamId, i64)]) -> anyhow::Result<Row> {
    let mut ns = Vec::with_capacity(lookups.len());
    let mut misses = 0;
    for round in 0..2 {
        for &(stream, t) in lookups {
            let start = Instant::now();
            let found = fragment_at(index, stream, t).await?;
            let took = start.elapsed();
            if round == 1 {
                ns.push(took.as_nanos() as u64);
                misses += usize::from(found.is_none());
            }
        }
    }
    Ok(Row {
        what: format!(
            "{name}: fragment at time T, warm ({} lookups)",
            lookups.len()
        ),
        result: format!("{} ({misses} misses)", micros(&mut ns)),
        target: if name == "SQLite" {
            "p99 <= 50 µs".into()
        } else {
            "report (50 µs is SQLite's)".into()
        },
    })
}

async fn list_row(name: &str, index: &dyn Index, streams: &[Stream]) -> anyhow::Result<Row> {
    let mut rng = StdRng::seed_from_u64(11);
    let windows: Vec<(StreamId, i64)> = (0..WINDOWS)
        .map(|_| {
            let s = &streams[rng.random_range(0..streams.len())];
            let latest = (s.last_server_ms - HOUR_MS).max(s.first_server_ms);
            (s.id, rng.random_range(s.first_server_ms..=latest))
        })
        .collect();
    let mut ns = Vec::with_capacity(windows.len());
    let mut listed = 0;
    for round in 0..2 {
        for &(stream, lo) in &windows {
            let start = Instant::now();
            let n = list_window(index, stream, lo, lo + HOUR_MS - 1).await?;
            let took = start.elapsed();
            if round == 1 {
                ns.push(took.as_nanos() as u64);
                listed += n;
            }
        }
    }
    Ok(Row {
        what: format!(
            "{name}: 1-hour ListFragments, warm ({WINDOWS} windows, pages of {MAX_RESULTS})"
        ),
        result: format!(
            "{} ({:.0} fragments each)",
            millis(&mut ns),
            listed as f64 / WINDOWS as f64
        ),
        target: "<= 5 ms".into(),
    })
}

/// What any call through the index costs: a one-row primary-key read (`track_header`), warm.
/// On SQLite, the hop to tokio's blocking pool and back; on PostgreSQL, the round trip.
async fn call_row(index: &dyn Index, streams: &[Stream]) -> anyhow::Result<Row> {
    let mut ns = Vec::with_capacity(LOOKUPS as usize);
    let ids: Vec<i64> = streams.iter().map(|s| s.header).collect();
    for round in 0..2 {
        for i in 0..LOOKUPS as usize {
            let id = ids[i % ids.len()];
            let start = Instant::now();
            let found = index.track_header(id).await?;
            let took = start.elapsed();
            if found.is_none() {
                bail!("track header {id} is missing");
            }
            if round == 1 {
                ns.push(took.as_nanos() as u64);
            }
        }
    }
    Ok(Row {
        what: "  one-row call through the index (track_header by id)".into(),
        result: micros(&mut ns),
        target: String::new(),
    })
}

/// Times `sql` (the at-time statement's shape) on `conn` for every lookup, warm: the first
/// page only, which is all of it with 2 s fragments.
fn direct_at_row(
    conn: &rusqlite::Connection,
    what: &str,
    sql: &str,
    lookups: &[(StreamId, i64)],
) -> anyhow::Result<Row> {
    let mut stmt = conn.prepare(sql)?;
    let mut ns = Vec::with_capacity(lookups.len());
    let limit = AT_PAGE as i64;
    for round in 0..2 {
        for &(stream, t) in lookups {
            let start = Instant::now();
            let mut rows = stmt.query(rusqlite::params![
                stream.0,
                i64::MIN,
                t - lookback_ms(),
                t,
                limit
            ])?;
            let mut n = 0u32;
            while let Some(r) = rows.next()? {
                // Read every column, as the index's row mapping does.
                for i in 0..10 {
                    std::hint::black_box(r.get::<_, i64>(i)?);
                }
                n += 1;
            }
            let took = start.elapsed();
            if round == 1 {
                ns.push(took.as_nanos() as u64);
            }
            std::hint::black_box(n);
        }
    }
    Ok(Row {
        what: what.into(),
        result: micros(&mut ns),
        target: String::new(),
    })
}

fn quantile(ns: &[u64], q: f64) -> f64 {
    ns.get(((ns.len() as f64 * q) as usize).min(ns.len().saturating_sub(1)))
        .map_or(f64::NAN, |&v| v as f64)
}

/// p50, p99 and max of `ns` (nanoseconds), in µs.
fn micros(ns: &mut [u64]) -> String {
    ns.sort_unstable();
    format!(
        "p50 {:.1} µs, p99 {:.1} µs, max {:.0} µs",
        quantile(ns, 0.5) / 1e3,
        quantile(ns, 0.99) / 1e3,
        quantile(ns, 1.0) / 1e3
    )
}

/// p50, p99 and max of `ns` (nanoseconds), in ms.
fn millis(ns: &mut [u64]) -> String {
    ns.sort_unstable();
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms",
        quantile(ns, 0.5) / 1e6,
        quantile(ns, 0.99) / 1e6,
        quantile(ns, 1.0) / 1e6
    )
}
