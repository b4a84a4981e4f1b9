//! Policy evaluation cost per request (DESIGN.md: SigV4 verify + policy p99 ≤ 20 µs; the policy
//! part's target is ≤ 2 µs for typical policies). One iteration is one decision; the resource
//! strings are built once, as the API builds them once per request.
//!
//! `cargo bench --bench policy_eval` (add `-- --measurement-time 3` for a quick run). Cases:
//! - `viewer_allow`: the built-in viewer on `cam-*`, GetMedia on a cam stream (first statement).
//! - `viewer_not_matched`: PutMedia on the same: every statement tried, default deny.
//! - `producer_allow`: the built-in producer, PutMedia.
//! - `set_of_3_deny`: viewer + producer + an explicit Deny on `lobby`, through `evaluate`.
//! - `glob_path`: an action outside the catalog's exact names (`KINESISVIDEO:GETMEDIA`), matched
//!   through the action patterns instead of the bitset.
//! - `large_10x10_not_matched`: 10 statements of 10 ARN globs each (near the 6144-byte document
//!   limit), none matching: a ceiling, not a typical policy.
//! - `parse_viewer`: parsing the viewer document (done once per policy, not per request).
//! - `arn_eq_baseline`: comparing the request's stream ARN with an equal copy, the least any
//!   resource check costs, measured in the same run so the figures above read as ratios of it
//!   (this 2-core machine is often shared: absolute numbers move with its load).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vidstream::auth::policy::{Action, Policy, builtin, evaluate, resource};

fn bench(c: &mut Criterion) {
    let cam = resource::stream("us-east-1", "123456789012", "cam-17", 1_700_000_000_123);
    let lobby = resource::stream("us-east-1", "123456789012", "lobby", 1_700_000_000_123);
    let viewer = builtin("viewer", "cam-*").expect("built-in");
    let producer = builtin("producer", "cam-*").expect("built-in");
    let deny_lobby = Policy::parse(
        r#"{"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Action": "*", "Resource": "arn:aws:kinesisvideo:*:*:stream/lobby/*"},
            {"Effect": "Allow", "Action": "kinesisvideo:*", "Resource": "arn:aws:kinesisvideo:*:*:stream/lobby*"}]}"#,
    )
    .expect("valid");
    let statements: Vec<String> = (0..10)
        .map(|i| {
            let resources: Vec<String> = (0..10)
                .map(|j| format!("\"arn:aws:kinesisvideo:*:*:stream/s{i}-{j}-*/*\""))
                .collect();
            format!(
                r#"{{"Effect":"Allow","Action":"kinesisvideo:Get*","Resource":[{}]}}"#,
                resources.join(",")
            )
        })
        .collect();
    let large_text = format!(r#"{{"Statement":[{}]}}"#, statements.join(","));
    let large = Policy::parse(&large_text).expect("fits the document limit");

    let mut group = c.benchmark_group("policy_eval");
    group.throughput(Throughput::Elements(1));
    group.bench_function("viewer_allow", |b| {
        b.iter(|| black_box(&viewer).decide(black_box(Action::GetMedia.as_str()), black_box(&cam)))
    });
    group.bench_function("viewer_not_matched", |b| {
        b.iter(|| black_box(&viewer).decide(black_box(Action::PutMedia.as_str()), black_box(&cam)))
    });
    group.bench_function("producer_allow", |b| {
        b.iter(|| {
            black_box(&producer).decide(black_box(Action::PutMedia.as_str()), black_box(&cam))
        })
    });
    let set = [&viewer, &producer, &deny_lobby];
    group.bench_function("set_of_3_deny", |b| {
        b.iter(|| {
            evaluate(
                black_box(set),
                black_box(Action::GetMedia.as_str()),
                black_box(&lobby),
            )
        })
    });
    group.bench_function("glob_path", |b| {
        b.iter(|| black_box(&viewer).decide(black_box("KINESISVIDEO:GETMEDIA"), black_box(&cam)))
    });
    group.bench_function("large_10x10_not_matched", |b| {
        b.iter(|| black_box(&large).decide(black_box(Action::GetMedia.as_str()), black_box(&cam)))
    });
    let cam_copy = cam.clone();
    group.bench_function("arn_eq_baseline", |b| {
        b.iter(|| black_box(cam.as_str()) == black_box(cam_copy.as_str()))
    });
    group.bench_function("parse_viewer", |b| {
        b.iter(|| Policy::parse(black_box(viewer.json())))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
