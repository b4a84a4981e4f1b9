//! The object store against real S3-protocol servers: each behaviour is one function, run on
//! s3s-fs and on SeaweedFS (`tests::s3s_fs::*`, `tests::seaweedfs::*`). Tests share one
//! server per engine and keep to a random prefix of their own, except the fault test, which
//! kills and freezes a server of its own. Some print measured figures (`--nocapture`).
#![allow(clippy::print_stderr)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use rand::RngCore;

use super::*;
use crate::testbed::s3::{Engine, S3Server};

fn random_bytes(n: usize) -> Bytes {
    let mut v = vec![0u8; n];
    rand::rng().fill_bytes(&mut v);
    Bytes::from(v)
}

fn unique(name: &str) -> String {
    format!("{name}-{:08x}", rand::random::<u32>())
}

fn shared(engine: Engine) -> &'static S3Server {
    S3Server::shared(engine).unwrap()
}

/// A store on the shared server of `engine`, under a prefix of its own.
fn store(engine: Engine, name: &str) -> ObjectStore {
    ObjectStore::new(&shared(engine).options(&unique(name))).unwrap()
}

/// Runs each behaviour on both engines.
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod s3s_fs {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::testbed::s3::Engine::S3sFs).await;
                }
            )*
        }
        mod seaweedfs {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::testbed::s3::Engine::SeaweedFs).await;
                }
            )*
        }
    };
}

on_both_engines!(
    put_get_and_ranges_are_exact,
    multipart_reads_back_byte_exact_and_counts_its_requests,
    list_paginates_and_delete_many_batches_over_1100_keys,
    delete_many_takes_absent_keys,
    absent_objects_are_not_found,
    wrong_credentials_are_denied_without_leaking_them,
    a_dead_or_hung_server_is_unavailable_in_time_then_recovers,
    prefixes_isolate_stores,
    put_latency_of_a_300_kb_object,
    a_failed_multipart_upload_is_aborted,
);

async fn put_get_and_ranges_are_exact(engine: Engine) {
    let s = store(engine, "exact");
    let data = random_bytes(300_000);
    let info = s.put("seg/1", data.clone()).await.unwrap();
    assert_eq!((info.size, info.parts), (300_000, 0));
    assert_eq!(s.get("seg/1").await.unwrap(), data);
    assert_eq!(s.head("seg/1").await.unwrap(), Some(300_000));
    for (start, len) in [
        (0u64, 1u64),
        (0, 300_000),
        (1, 4095),
        (123_456, 65_536),
        (299_990, 10),
    ] {
        let got = s.get_range("seg/1", start, len).await.unwrap();
        assert_eq!(
            got,
            data.slice(start as usize..(start + len) as usize),
            "{start}+{len}"
        );
    }
    assert!(s.get_range("seg/1", 5, 0).await.unwrap().is_empty());
    // Past the end: a short answer (or 416) is an error, never fewer bytes.
    for (start, len) in [(299_990u64, 11u64), (300_000, 1), (400_000, 10)] {
        let e = s.get_range("seg/1", start, len).await.unwrap_err();
        assert!(matches!(e, ObjectError::Other { .. }), "{start}+{len}: {e}");
    }
    // Overwriting replaces; an empty object is an object.
    s.put("seg/1", Bytes::from_static(b"short")).await.unwrap();
    assert_eq!(s.get("seg/1").await.unwrap(), Bytes::from_static(b"short"));
    s.put("empty", Bytes::new()).await.unwrap();
    assert_eq!(s.head("empty").await.unwrap(), Some(0));
    assert!(s.get("empty").await.unwrap().is_empty());
    let st = s.stats();
    assert_eq!(st.put, 3, "{st:?}");
    assert_eq!(st.get, 5 + 3 + 3, "{st:?}");
    assert_eq!(st.head, 2, "{st:?}");
    assert_eq!(st.bytes_put, 300_005, "{st:?}");
}

async fn multipart_reads_back_byte_exact_and_counts_its_requests(engine: Engine) {
    let mut opts = shared(engine).options(&unique("multipart"));
    opts.multipart_threshold = 5 << 20;
    opts.part_size = 5 << 20;
    let s = ObjectStore::new(&opts).unwrap();
    let data = random_bytes(12 << 20);
    let info = s.put("big", data.clone()).await.unwrap();
    assert_eq!((info.size, info.parts), (12 << 20, 3));
    let st = s.stats();
    assert_eq!(st.put, 1 + 3 + 1, "create, 3 parts, complete: {st:?}");
    assert_eq!(s.head("big").await.unwrap(), Some(12 << 20));
    let got = s.get("big").await.unwrap();
    assert!(got == data, "12 MiB read back byte-exact");
    // Across the first part boundary.
    let b = (5 << 20) as u64;
    let got = s.get_range("big", b - 100, 200).await.unwrap();
    assert_eq!(got, data.slice((b - 100) as usize..(b + 100) as usize));
    // At the threshold exactly: one PUT.
    let info = s.put("at-threshold", random_bytes(5 << 20)).await.unwrap();
    assert_eq!(info.parts, 0);
    let open = open_uploads(&s).await;
    assert!(
        matches!(open, None | Some(0)),
        "a completed upload is not listed: {open:?}"
    );
}

/// Multipart uploads in progress under the store's prefix (None: the server cannot list them;
/// s3s-fs).
async fn open_uploads(s: &ObjectStore) -> Option<usize> {
    match s
        .client
        .list_multipart_uploads()
        .bucket(&s.bucket)
        .prefix(&s.prefix)
        .send()
        .await
    {
        Ok(out) => Some(out.uploads().len()),
        Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(501) => None,
        Err(e) => panic!("{e:?}"),
    }
}

async fn a_failed_multipart_upload_is_aborted(engine: Engine) {
    let mut opts = shared(engine).options(&unique("abort"));
    opts.multipart_threshold = 1 << 20;
    let mut s = ObjectStore::new(&opts).unwrap();
    // Parts below S3's minimum (only possible from inside the module) make the server refuse
    // the completion.
    s.part_size = 1 << 20;
    let e = s
        .put("small-parts", random_bytes(3 << 20))
        .await
        .unwrap_err();
    assert!(matches!(e, ObjectError::Other { .. }), "{e:?}");
    let st = s.stats();
    assert_eq!(st.put, 1 + 3 + 1, "create, 3 parts, complete: {st:?}");
    assert_eq!(st.delete, 1, "then the abort: {st:?}");
    assert_eq!(s.head("small-parts").await.unwrap(), None, "no object");
    let open = open_uploads(&s).await;
    assert!(matches!(open, None | Some(0)), "no upload left: {open:?}");
}

async fn list_paginates_and_delete_many_batches_over_1100_keys(engine: Engine) {
    let s = store(engine, "list");
    let keys: Vec<String> = (0..1100).map(|i| format!("obj/{i:05}")).collect();
    let t = Instant::now();
    let puts = futures_util::stream::iter(keys.iter().map(|k| {
        let s = &s;
        async move { s.put(k, Bytes::from(k.clone().into_bytes())).await }
    }))
    .buffer_unordered(16)
    .collect::<Vec<_>>()
    .await;
    assert!(
        puts.iter().all(Result::is_ok),
        "{:?}",
        puts.iter().find(|r| r.is_err())
    );
    eprintln!("{}: 1100 small puts in {:?}", engine.name(), t.elapsed());
    s.put("other/x", Bytes::from_static(b"x")).await.unwrap();

    let lists = s.stats().list;
    let listed = s.list("obj/").await.unwrap();
    assert_eq!(s.stats().list - lists, 2, "1000 keys per page");
    let names: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        names, keys,
        "every key once, in order, without the store's prefix"
    );
    assert!(listed.iter().all(|o| o.size == 9));

    let mut small = shared(engine).options(&s.prefix);
    small.list_page_size = 300;
    let s300 = ObjectStore::new(&small).unwrap();
    let pages: Vec<usize> = s300
        .list_pages("obj/")
        .map(|p| p.unwrap().len())
        .collect()
        .await;
    assert_eq!(pages, vec![300, 300, 300, 200]);
    assert_eq!(s300.stats().list, 4);
    assert_eq!(s300.list("").await.unwrap().len(), 1101);

    let deletes = s.stats().delete;
    let failed = s.delete_many(&keys).await.unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(s.stats().delete - deletes, 2, "two batches");
    assert!(s.list("obj/").await.unwrap().is_empty());
    assert_eq!(s.list("").await.unwrap().len(), 1);
}

async fn delete_many_takes_absent_keys(engine: Engine) {
    let s = store(engine, "delete");
    for k in ["a", "b", "c"] {
        s.put(k, Bytes::from_static(b"1")).await.unwrap();
    }
    let failed = s.delete_many(&["a", "never-was", "c"]).await.unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    let left: Vec<String> = s
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(left, ["b"]);
    assert!(s.delete_many::<&str>(&[]).await.unwrap().is_empty());
    s.delete("b").await.unwrap();
    s.delete("b").await.unwrap();
    assert!(s.list("").await.unwrap().is_empty());
}

async fn absent_objects_are_not_found(engine: Engine) {
    let s = store(engine, "absent");
    let e = s.get("nope").await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    let e = s.get_range("nope", 0, 10).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!(s.head("nope").await.unwrap(), None);
    s.delete("nope").await.unwrap();
    assert!(s.list("").await.unwrap().is_empty());
}

async fn wrong_credentials_are_denied_without_leaking_them(engine: Engine) {
    let server = shared(engine);
    let prefix = unique("denied");
    let good = ObjectStore::new(&server.options(&prefix)).unwrap();
    good.put("k", Bytes::from_static(b"v")).await.unwrap();
    let mut wrong_secret = server.options(&prefix);
    wrong_secret.secret_access_key = "wrong-secret-0123456789abcdef".into();
    let mut unknown_key = server.options(&prefix);
    unknown_key.access_key_id = "VSUNKNOWNKEY000000".into();
    for opts in [wrong_secret, unknown_key] {
        let s = ObjectStore::new(&opts).unwrap();
        let errors = [
            s.put("k2", Bytes::from_static(b"v")).await.unwrap_err(),
            s.get("k").await.unwrap_err(),
            s.list("").await.unwrap_err(),
            s.head("k").await.unwrap_err(),
        ];
        for e in errors {
            assert!(matches!(e, ObjectError::Denied { .. }), "{e:?}");
            let shown = format!("{e} {e:?}");
            for secret in [
                opts.secret_access_key.as_str(),
                opts.access_key_id.as_str(),
                server.secret_key(),
            ] {
                assert!(!shown.contains(secret), "{shown}");
            }
        }
        assert!(!format!("{opts:?}").contains(&opts.secret_access_key));
    }
    assert_eq!(good.get("k").await.unwrap(), Bytes::from_static(b"v"));
}

async fn a_dead_or_hung_server_is_unavailable_in_time_then_recovers(engine: Engine) {
    let server = S3Server::start(engine).unwrap();
    let mut opts = server.options("fault");
    opts.request_timeout = Duration::from_secs(1);
    opts.max_attempts = 3;
    opts.initial_backoff = Duration::from_millis(50);
    let s = ObjectStore::new(&opts).unwrap();
    let data = random_bytes(10_000);
    s.put("k", data.clone()).await.unwrap();
    // Bound: 3 tries of at most 1 s each, plus the waits between them (≤ 5 s each, here
    // ~0.05 s and ~0.1 s with jitter).
    let bound = Duration::from_secs(6);

    server.kill().unwrap();
    let t = Instant::now();
    let e = s.get("k").await.unwrap_err();
    let dead = t.elapsed();
    assert!(e.is_retryable(), "{e:?}");
    assert!(dead < bound, "{dead:?}");
    let e = s.put("k2", data.clone()).await.unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    server.restart().unwrap();
    assert_eq!(
        s.get("k").await.unwrap(),
        data,
        "the same store works again"
    );

    server.pause().unwrap();
    let t = Instant::now();
    let e = s.get_range("k", 0, 10).await.unwrap_err();
    let hung = t.elapsed();
    assert!(e.is_retryable(), "{e:?}");
    assert!(hung < bound, "{hung:?}");
    assert!(
        hung >= Duration::from_secs(1),
        "it waited for an answer: {hung:?}"
    );
    server.resume().unwrap();
    s.put("k2", data.clone()).await.unwrap();
    assert_eq!(s.get("k2").await.unwrap(), data);
    eprintln!(
        "{}: dead server failed in {dead:?}, hung server in {hung:?}",
        engine.name()
    );
}

async fn prefixes_isolate_stores(engine: Engine) {
    let server = shared(engine);
    let root = unique("iso");
    let parent = ObjectStore::new(&server.options(&root)).unwrap();
    let a = ObjectStore::new(&server.options(&format!("/{root}/a/"))).unwrap();
    let ab = ObjectStore::new(&server.options(&format!("{root}/ab"))).unwrap();
    a.put("k", Bytes::from_static(b"from a")).await.unwrap();
    ab.put("k", Bytes::from_static(b"from ab")).await.unwrap();
    assert_eq!(a.get("k").await.unwrap(), Bytes::from_static(b"from a"));
    assert_eq!(ab.get("k").await.unwrap(), Bytes::from_static(b"from ab"));
    let keys = |v: Vec<ObjectInfo>| v.into_iter().map(|o| o.key).collect::<Vec<_>>();
    assert_eq!(keys(a.list("").await.unwrap()), ["k"]);
    assert_eq!(keys(ab.list("").await.unwrap()), ["k"]);
    assert_eq!(keys(parent.list("").await.unwrap()), ["a/k", "ab/k"]);
    ab.delete("k").await.unwrap();
    assert_eq!(a.head("k").await.unwrap(), Some(6));
    assert_eq!(keys(parent.list("").await.unwrap()), ["a/k"]);
    assert!(a.put("", Bytes::new()).await.is_err(), "an empty key");
}

/// Prints the latency of 300 KB puts and 64 KiB ranged gets (the figures for the report; only
/// loose bounds are checked).
async fn put_latency_of_a_300_kb_object(engine: Engine) {
    let s = store(engine, "latency");
    let data = random_bytes(300_000);
    let mut puts = Vec::new();
    let mut gets = Vec::new();
    for i in 0..40 {
        let t = Instant::now();
        s.put(&format!("seg/{i}"), data.clone()).await.unwrap();
        puts.push(t.elapsed());
        let t = Instant::now();
        s.get_range(&format!("seg/{i}"), 100_000, 65_536)
            .await
            .unwrap();
        gets.push(t.elapsed());
    }
    puts.sort();
    gets.sort();
    let pct = |v: &[Duration], p: usize| v[(v.len() * p / 100).min(v.len() - 1)];
    eprintln!(
        "{}: PUT 300 KB p50 {:?} p90 {:?}; GET 64 KiB range p50 {:?} p90 {:?}",
        engine.name(),
        pct(&puts, 50),
        pct(&puts, 90),
        pct(&gets, 50),
        pct(&gets, 90)
    );
    assert!(pct(&puts, 50) < Duration::from_secs(2));
}

/// `ca_file` adds a private CA to the trusted roots: an HTTPS endpoint whose certificate it
/// issued works with it and is refused without it (SeaweedFS; s3s-fs has no TLS).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seaweedfs_https_endpoint_is_trusted_through_the_ca_file() {
    let server = crate::testbed::s3::SeaweedFs::start_tls().unwrap();
    let mut opts = server.options("tls");
    opts.endpoint = server.https_endpoint();
    opts.max_attempts = 1;
    let untrusted = ObjectStore::new(&opts).unwrap();
    let e = untrusted
        .put("k", Bytes::from_static(b"v"))
        .await
        .unwrap_err();
    assert!(
        !e.is_retryable(),
        "a certificate error is not retryable: {e:?}"
    );
    eprintln!("without the CA: {e}");
    opts.ca_file = server.ca_file();
    let s = ObjectStore::new(&opts).unwrap();
    let data = random_bytes(100_000);
    s.put("k", data.clone()).await.unwrap();
    assert_eq!(
        s.get_range("k", 10, 1000).await.unwrap(),
        data.slice(10..1010)
    );
}
