//! SigV4 verification of a typical boto3 control-plane call (POST /describeStream, Host with a
//! port, JSON body, `content-type;host;x-amz-date` signed, a boto3 User-Agent not signed): the
//! parse alone, the check with the signing key cached (warm) and derived every time (cold), and
//! both together. The body's SHA-256 is the caller's and is measured apart.
//!
//! `cargo bench --bench sigv4_verify` (add `-- --measurement-time 3` for a quick run). After
//! criterion, it prints p50/p99/p99.9 of single parse + verify calls (the target is p99 ≤ 20 µs
//! per request, policy included).

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use vidstream::auth::sigv4::{
    Credentials, Request, Rules, SERVICE, Signer, SigningKeyCache, Verifier, amz_date,
    payload_sha256, presented,
};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const NOW: i64 = 1_769_422_272;
const BODY: &[u8] = br#"{"StreamName":"front-door-camera-01"}"#;

fn boto3_request() -> http::Request<()> {
    let signer = Signer {
        credentials: Credentials {
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: SECRET.into(),
            session_token: None,
        },
        region: "us-east-1".into(),
        service: SERVICE.into(),
    };
    let date = amz_date(NOW as u64);
    let mut headers = vec![
        ("host", "127.0.0.1:8080"),
        ("content-type", "application/json"),
        ("x-amz-date", date.as_str()),
    ];
    let sig = signer.sign(
        &Request {
            method: "POST",
            path: "/describeStream",
            query: &[],
            headers: &headers,
            payload_sha256: &payload_sha256(BODY),
        },
        &date,
    );
    headers.push(("authorization", &sig.authorization));
    headers.push((
        "user-agent",
        "Boto3/1.40.8 md/Botocore#1.44.8 ua/2.1 os/linux#6.8.0 md/arch#x86_64 lang/python#3.12.3 \
         md/pyimpl#CPython m/Z,D cfg/retry-mode#legacy Botocore/1.44.8",
    ));
    headers.push(("content-length", "37"));
    headers.push(("accept-encoding", "identity"));
    let mut b = http::Request::builder()
        .method("POST")
        .uri("/describeStream");
    for (k, v) in headers {
        b = b.header(k, v);
    }
    b.body(()).expect("a valid request")
}

fn bench(c: &mut Criterion) {
    let req = boto3_request();
    let hash = payload_sha256(BODY);
    let warm = Verifier::new(Rules::default());
    let cold = Verifier::with_cache(Rules::default(), SigningKeyCache::new(0));
    let p = presented(req.uri(), req.headers())
        .expect("well formed")
        .expect("signed");
    warm.verify(&p, (&req).into(), &hash, SECRET, NOW)
        .expect("valid");

    let mut group = c.benchmark_group("sigv4_verify");
    group.bench_function("presented", |b| {
        b.iter(|| presented(black_box(req.uri()), black_box(req.headers())))
    });
    group.bench_function("verify_warm", |b| {
        b.iter(|| warm.verify(black_box(&p), (&req).into(), &hash, SECRET, NOW))
    });
    group.bench_function("verify_cold", |b| {
        b.iter(|| cold.verify(black_box(&p), (&req).into(), &hash, SECRET, NOW))
    });
    group.bench_function("presented_and_verify_warm", |b| {
        b.iter(|| {
            let p = presented(black_box(req.uri()), black_box(req.headers()))
                .expect("well formed")
                .expect("signed");
            warm.verify(&p, (&req).into(), &hash, SECRET, NOW)
        })
    });
    group.bench_function("body_sha256", |b| {
        b.iter(|| payload_sha256(black_box(BODY)))
    });
    group.finish();

    for (name, verifier) in [("warm", &warm), ("cold", &cold)] {
        let mut ns: Vec<u64> = (0..100_000)
            .map(|_| {
                let start = Instant::now();
                let p = presented(black_box(req.uri()), black_box(req.headers()))
                    .expect("well formed")
                    .expect("signed");
                let ok = verifier.verify(&p, (&req).into(), &hash, SECRET, NOW);
                black_box(ok).expect("valid");
                start.elapsed().as_nanos() as u64
            })
            .collect();
        ns.sort_unstable();
        let at = |q: f64| ns[((ns.len() as f64 * q) as usize).min(ns.len() - 1)] as f64 / 1000.0;
        eprintln!(
            "sigv4_verify/presented_and_verify_{name}: p50 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs",
            at(0.50),
            at(0.99),
            at(0.999)
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
