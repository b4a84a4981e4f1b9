//! Reader throughput over the largest H.264 fixture, pushed in 4 KiB chunks (how PutMedia bodies
//! arrive) and in one chunk, reported as bytes/s. Every event is pulled and the frame payloads
//! are touched (their length summed), so nothing is optimized away.
//!
//! `cargo bench --bench mkv_reader` (add `-- --measurement-time 3` for a quick run). The
//! `memcpy_baseline` case copies the same bytes once: report the reader as a ratio of it.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vidstream::mkv::{Event, Limits, Reader};

const FIXTURE: &str = "gst_h264_320x240_gop30_5s.mkv";

fn read(data: &[u8], chunk: usize) -> usize {
    let mut reader = Reader::new(Limits::default());
    let mut payload = 0;
    let mut count = |event: Event| {
        if let Event::Frame(frame) = event {
            payload += frame.data.len();
        }
    };
    for piece in data.chunks(chunk) {
        reader.push(piece);
        while let Some(event) = reader.pull().expect("the fixture is valid") {
            count(event);
        }
    }
    reader
        .finish()
        .expect("the fixture is complete")
        .into_iter()
        .for_each(count);
    payload
}

fn bench(c: &mut Criterion) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(FIXTURE);
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut group = c.benchmark_group("mkv_reader");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("4KiB_chunks", |b| b.iter(|| read(black_box(&data), 4096)));
    group.bench_function("one_chunk", |b| {
        b.iter(|| read(black_box(&data), data.len()))
    });
    // The ceiling, measured in the same run so the figures above can be read as a ratio.
    group.bench_function("memcpy_baseline", |b| b.iter(|| black_box(&data).to_vec()));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
