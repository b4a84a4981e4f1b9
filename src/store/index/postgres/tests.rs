//! The PostgreSQL index against throwaway clusters ([`Postgres`]): the conformance suite, and
//! what only this backend has (migrations and their lock, connection failures, the server
//! going away, the durability check, the cameras table's rewrite).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::*;
use crate::model::{KmsKeyId, StorageTier};
use crate::store::index::{FragmentQuery, StoredPassword};
use crate::testbed::postgres::Postgres;
use crate::time::ServerTime;

/// A database of its own on the process's shared cluster.
async fn fresh_database() -> String {
    Postgres::shared()
        .expect("PostgreSQL test cluster")
        .create_database()
        .await
        .expect("database")
}

/// A plain connection, for looking under the index.
async fn raw(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
}

/// The database name at the end of a test URL.
fn database_name(url: &str) -> &str {
    url.rsplit('/').next().expect("a URL with a path")
}

fn stream(n: &str) -> NewStream {
    NewStream {
        name: StreamName::parse(n).expect("valid"),
        arn: format!("arn:aws:kinesisvideo:us-east-1:1:stream/{n}/1"),
        device_name: None,
        media_type: None,
        kms_key_id: KmsKeyId::aws_default(),
        version: Version::parse("v1").expect("valid"),
        status: StreamStatus::Active,
        creation_time: ServerTime(1),
        data_retention_hours: 1,
        storage_tier: StorageTier::Hot,
        tags: Tags::new(),
    }
}

fn fragment(stream: StreamId, seq: i64) -> FragmentRecord {
    FragmentRecord {
        number: FragmentNumber { stream, seq },
        producer_ms: seq * 1000,
        server_ms: seq * 1000 + 1,
        duration_ms: 1000,
        track_header_id: 1,
        segment: seq / 20 * 20,
        offset: (seq % 20) as u64 * 100,
        cluster_len: 90,
        trailer_len: 10,
    }
}

async fn schema_versions(url: &str) -> Vec<i64> {
    raw(url)
        .await
        .query(
            "SELECT version FROM vidstream_schema_version ORDER BY version",
            &[],
        )
        .await
        .expect("versions")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn conformance() {
    let index = PgIndex::connect(&fresh_database().await, 4)
        .await
        .expect("connect");
    crate::store::index::testsuite::run(&index).await;
    assert_eq!(index.synchronous_commit().await.expect("show"), "on");
    index.close().await.expect("close");
    assert!(matches!(
        index.count_streams().await,
        Err(StoreError::Unavailable(_))
    ));
}

/// The suite again in a database whose default collation is linguistic (ICU en-US: `a < B`,
/// punctuation nearly ignored): the index's orderings must not depend on it.
#[tokio::test]
async fn conformance_in_a_database_with_a_linguistic_collation() {
    let pg = Postgres::shared().expect("cluster");
    let name = format!("icu_{}", std::process::id());
    raw(&pg.url("postgres"))
        .await
        .batch_execute(&format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'
             LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
        ))
        .await
        .expect("an ICU database");
    let url = pg.url(&name);
    let linguistic: bool = raw(&url)
        .await
        .query_one("SELECT 'a' < 'B' AND 'ord_a' < 'ord-B'", &[])
        .await
        .expect("compare")
        .get(0);
    assert!(
        linguistic,
        "the database's default collation is not byte-wise"
    );
    let index = PgIndex::connect(&url, 4).await.expect("connect");
    crate::store::index::testsuite::run(&index).await;
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let url = fresh_database().await;
    let first = PgIndex::connect(&url, 2).await.expect("connect");
    let s = first.create_stream(stream("kept")).await.expect("create");
    first.close().await.expect("close");
    let second = PgIndex::connect(&url, 2).await.expect("connect again");
    assert_eq!(
        second.stream_by_name(&s.name).await.expect("get"),
        Some(s),
        "a second connect migrates nothing and keeps the rows"
    );
    assert_eq!(
        schema_versions(&url).await,
        (1..=SCHEMA_VERSION).collect::<Vec<_>>()
    );
}

/// Nodes starting at once against a fresh database: each connect succeeds, the migrations run
/// once (the advisory lock), and the index is usable from all of them.
#[tokio::test]
async fn concurrent_connects_to_a_fresh_database_migrate_once() {
    let url = fresh_database().await;
    let (a, b, c, d) = tokio::join!(
        PgIndex::connect(&url, 2),
        PgIndex::connect(&url, 2),
        PgIndex::connect(&url, 2),
        PgIndex::connect(&url, 2),
    );
    let nodes = [a, b, c, d].map(|n| n.expect("every node connects"));
    assert_eq!(
        schema_versions(&url).await,
        (1..=SCHEMA_VERSION).collect::<Vec<_>>()
    );
    for (i, node) in nodes.iter().enumerate() {
        node.create_stream(stream(&format!("node{i}")))
            .await
            .expect("create");
    }
    assert_eq!(nodes[0].count_streams().await.expect("count"), 4);
}

#[tokio::test]
async fn refuses_a_newer_schema_and_a_foreign_database() {
    let url = fresh_database().await;
    PgIndex::connect(&url, 1).await.expect("connect");
    raw(&url)
        .await
        .batch_execute("INSERT INTO vidstream_schema_version (version) VALUES (99)")
        .await
        .expect("a newer vidstream's row");
    match PgIndex::connect(&url, 1).await {
        Err(StoreError::SchemaTooNew {
            found: 99,
            supported,
        }) => assert_eq!(supported, SCHEMA_VERSION),
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    let foreign = fresh_database().await;
    raw(&foreign)
        .await
        .batch_execute("CREATE TABLE orders (id INT)")
        .await
        .expect("another application's table");
    match PgIndex::connect(&foreign, 1).await {
        Err(StoreError::Database(m)) => assert!(m.contains("not written by vidstream"), "{m}"),
        other => panic!("expected Database, got {other:?}"),
    }
}

/// Nothing listens: a clear, prompt error that names the server and not the password.
#[tokio::test]
async fn an_unreachable_server_is_unavailable_and_named() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let started = Instant::now();
    let url = format!("postgres://vidstream:hunter2secret@127.0.0.1:{port}/x");
    match PgIndex::connect(&url, 2).await {
        Err(StoreError::Unavailable(m)) => {
            assert!(m.contains(&format!("127.0.0.1:{port}")), "{m}");
            assert!(!m.contains("hunter2secret"), "{m}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(6));
    for (bad, what) in [
        (
            "postgres://vidstream:hunter2secret@127.0.0.1:notaport/x",
            "parse",
        ),
        (
            "postgres://vidstream:hunter2secret@127.0.0.1/x?sslmode=require",
            "TLS",
        ),
    ] {
        match PgIndex::connect(bad, 2).await {
            Err(StoreError::Database(m)) => {
                assert!(!m.contains("hunter2secret"), "{m}");
                assert!(m.contains(what), "{m}");
            }
            other => panic!("expected Database, got {other:?}"),
        }
    }
    assert!(matches!(
        PgIndex::connect(&fresh_database().await, 0).await,
        Err(StoreError::Database(_))
    ));
}

/// A database or role with `synchronous_commit = off` could lose acknowledged fragments.
#[tokio::test]
async fn refuses_asynchronous_commit() {
    let url = fresh_database().await;
    raw(&url)
        .await
        .batch_execute(&format!(
            "ALTER DATABASE {} SET synchronous_commit = off",
            database_name(&url)
        ))
        .await
        .expect("alter");
    match PgIndex::connect(&url, 1).await {
        Err(StoreError::Database(m)) => assert!(m.contains("synchronous_commit"), "{m}"),
        other => panic!("expected Database, got {other:?}"),
    }
}

/// Group commits of several streams from several tasks while one stream is deleted: every
/// commit succeeds, only the deleted stream's rows are refused, and the other streams' rows and
/// summaries are all there.
#[tokio::test]
async fn concurrent_appends_while_a_stream_is_deleted() {
    const TASKS: usize = 4;
    const BATCHES: i64 = 40;
    let index = PgIndex::connect(&fresh_database().await, 8)
        .await
        .expect("connect");
    let doomed = index
        .create_stream(stream("doomed"))
        .await
        .expect("create")
        .id;
    let mut kept = Vec::new();
    for i in 0..TASKS {
        kept.push(
            index
                .create_stream(stream(&format!("kept{i}")))
                .await
                .expect("create")
                .id,
        );
    }
    let done = std::sync::Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (i, &mine) in kept.iter().enumerate() {
        let (index, done) = (index.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut refused = Vec::new();
            for b in 0..BATCHES {
                let batch = vec![
                    fragment(mine, 2 * b),
                    fragment(doomed, i as i64 * 1000 + b),
                    fragment(mine, 2 * b + 1),
                ];
                refused.extend(index.append_fragments(batch).await.expect("commit"));
                done.fetch_add(1, Ordering::Relaxed);
            }
            refused
        }));
    }
    while done.load(Ordering::Relaxed) < TASKS * 10 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    index.delete_stream(doomed).await.expect("delete");
    let deleted_at = done.load(Ordering::Relaxed);
    let mut refused = Vec::new();
    for t in tasks {
        refused.extend(t.await.expect("task"));
    }
    assert!(
        refused.iter().all(|n| n.stream == doomed),
        "only the deleted stream's rows are refused: {refused:?}"
    );
    // Every batch that started after the deletion committed had its doomed row refused.
    assert!(
        refused.len() >= TASKS * BATCHES as usize - deleted_at - TASKS,
        "{} refused, deletion after {deleted_at} batches",
        refused.len()
    );
    for &s in &kept {
        let rows = index
            .list_fragments(FragmentQuery {
                stream: s,
                range: None,
                after_seq: None,
                limit: 1000,
            })
            .await
            .expect("list");
        let seqs: Vec<i64> = rows.iter().map(|f| f.number.seq).collect();
        assert_eq!(seqs, (0..2 * BATCHES).collect::<Vec<_>>());
        let usage = index.segment_usage(s).await.expect("usage");
        assert_eq!(
            usage.iter().map(|u| u.fragments).sum::<u64>(),
            2 * BATCHES as u64
        );
        assert_eq!(
            index.stream_bytes(s).await.expect("bytes"),
            2 * BATCHES as u64 * 100
        );
    }
    assert!(index.last_fragment(doomed).await.expect("last").is_none());
    assert!(index.segment_usage(doomed).await.expect("usage").is_empty());
}

/// The server stops as in a crash: calls fail promptly with `Unavailable` (no hang), and once
/// it is back the same index works again, its broken connections replaced.
#[tokio::test]
async fn a_killed_server_fails_calls_then_the_index_recovers() {
    let pg = Postgres::start().expect("a private cluster");
    let url = pg.create_database().await.expect("database");
    let index = PgIndex::connect(&url, 2).await.expect("connect");
    let s = index
        .create_stream(stream("survivor"))
        .await
        .expect("create");
    pg.kill().expect("kill");
    for _ in 0..3 {
        let started = Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(20), index.stream_by_name(&s.name))
            .await
            .expect("a call to a dead server returns, it does not hang");
        match r {
            Err(StoreError::Unavailable(m)) => {
                assert!(started.elapsed() < Duration::from_secs(7), "{m}")
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
    match index.count_streams().await {
        Err(StoreError::Unavailable(m)) => {
            assert!(m.contains(&format!("127.0.0.1:{}", pg.port())), "{m}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    pg.restart().expect("restart");
    assert_eq!(
        index.stream_by_name(&s.name).await.expect("works again"),
        Some(s),
        "the committed row survived"
    );
    index
        .create_stream(stream("after-restart"))
        .await
        .expect("writes work again");
    assert_eq!(index.count_streams().await.expect("count"), 2);
}

/// Sealing a legacy clear-text camera password leaves no row version holding it in the cameras
/// table's file: `VACUUM FULL` rewrote it (see `cameras::seal_passwords` for what remains out of
/// reach: the WAL, freed blocks).
#[tokio::test]
async fn sealing_a_legacy_password_rewrites_the_cameras_table() {
    let url = fresh_database().await;
    let index = PgIndex::connect(&url, 2).await.expect("connect");
    let clear = "legacy-clear-hunter2";
    for name in ["door", "yard"] {
        index
            .insert_camera(CameraRow {
                name: name.into(),
                url: "rtsp://10.0.0.2/s".into(),
                username: Some("u".into()),
                password: Some(StoredPassword::Legacy(clear.into())),
                stream_name: name.into(),
                transport: "tcp".into(),
                enabled: true,
            })
            .await
            .expect("insert");
    }
    let admin = raw(&url).await;
    let data_dir: String = admin
        .query_one("SHOW data_directory", &[])
        .await
        .expect("data directory")
        .get(0);
    let table_file = || async {
        admin.batch_execute("CHECKPOINT").await.expect("checkpoint");
        let rel: String = admin
            .query_one("SELECT pg_relation_filepath('cameras')", &[])
            .await
            .expect("file path")
            .get(0);
        std::path::Path::new(&data_dir).join(rel)
    };
    let holds = |p: &std::path::Path| {
        let bytes = std::fs::read(p).unwrap_or_default();
        bytes.windows(clear.len()).any(|w| w == clear.as_bytes())
    };
    let before = table_file().await;
    assert!(holds(&before), "the test sees the clear text where it is");
    let sealings = ["door", "yard"]
        .map(|name| PasswordSealing {
            name: name.into(),
            legacy: clear.into(),
            sealed: vec![0xAA; 40],
        })
        .to_vec();
    assert_eq!(
        index.seal_camera_passwords(sealings).await.expect("seal"),
        2
    );
    let door = index.camera("door").await.expect("get").expect("there");
    assert_eq!(door.password, Some(StoredPassword::Sealed(vec![0xAA; 40])));
    let after = table_file().await;
    assert_ne!(before, after, "the table was rewritten into a new file");
    assert!(!holds(&after), "{} holds the clear text", after.display());
    assert!(!holds(&before), "{} holds the clear text", before.display());
}

/// Retention marking a segment while fragments of it arrive, many times over: the stream lock
/// `mark_garbage` takes keeps every round consistent (the conformance suite's race runs once).
#[tokio::test]
async fn marking_racing_appends_never_strands_a_row() {
    let index = PgIndex::connect(&fresh_database().await, 4)
        .await
        .expect("connect");
    let (mut marked_rounds, mut appended_rounds) = (0, 0);
    for round in 0..40 {
        let s = index
            .create_stream(stream(&format!("race{round}")))
            .await
            .expect("create")
            .id;
        let rows: Vec<_> = (0..5).map(|seq| fragment(s, seq)).collect();
        assert!(
            index
                .append_fragments(rows)
                .await
                .expect("append")
                .is_empty()
        );
        let usage = index.segment_usage(s).await.expect("usage");
        let (marked, refused) = tokio::join!(
            index.mark_garbage(s, usage.clone(), 1),
            index.append_fragments(vec![fragment(s, 5), fragment(s, 6)]),
        );
        let (marked, refused) = (marked.expect("mark"), refused.expect("append"));
        let left = index.last_fragments(s, 100).await.expect("rows");
        let summary = index.segment_usage(s).await.expect("usage");
        if marked.is_empty() {
            appended_rounds += 1;
            assert!(refused.is_empty());
            assert_eq!(left.len(), 7);
            assert_eq!((summary[0].fragments, summary[0].last_seq), (7, 6));
        } else {
            marked_rounds += 1;
            assert_eq!(marked, usage);
            assert_eq!(refused.len(), 2, "round {round}: rows in a garbage segment");
            assert!(left.is_empty(), "round {round}: {left:?} stranded");
            assert!(summary.is_empty(), "round {round}: {summary:?}");
        }
    }
    // Which call wins each round is up to the server; both orders must have held the rules.
    assert_eq!(marked_rounds + appended_rounds, 40);
}
