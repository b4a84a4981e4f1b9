//! The generator of `vidstream bench index`: streams with the fragment rows a fleet of producers
//! would leave behind, appended through [`Index`] itself (its schema and code), in group commits
//! that hold several streams' fragments, in arrival order, the way the writer's sync stage
//! commits them.
//!
//! What each row looks like, as the store would write it:
//! - producer timestamps 2 s apart (a keyframe every 2 s), from a start that differs per stream;
//! - server timestamp = producer timestamp + the stream's network latency (40–250 ms) + jitter
//!   (0–40 ms);
//! - seq = server ms × 1000 (`Store::allocate_fragment_number`: `max(previous + 1, now × 1000)`);
//! - one of four producer profiles per stream (15 fps at 512 kbit/s, 25 fps at 1 Mbit/s, 30 fps
//!   at 2 and 4 Mbit/s): the cluster is 2 s of that bitrate ± 20 %, the trailer the frame table
//!   the store writes (11 bytes + 14 per frame, no producer tags);
//! - segments rotate like the writer's, with the server's defaults (`segment_max_bytes`, 64 MiB,
//!   or `segment_max_secs`, 10 min, whichever comes first); offsets run within the segment;
//! - one track header per stream.

use std::time::Instant;

use anyhow::{Context, bail};
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::model::{KmsKeyId, StorageTier, StreamId, StreamName, StreamStatus, Tags, Version};
use crate::store::fragment::{FragmentNumber, FragmentRecord, TrackHeader};
use crate::store::index::{Index, NewStream};
use crate::time::ServerTime;

/// Producer time of the earliest fragment (Nov 2023), epoch ms.
const T0_MS: i64 = 1_700_000_000_000;
/// Fragment duration (the producers' keyframe interval).
const FRAGMENT_MS: i64 = 2000;
/// (frames per second, kbit/s) of the producer profiles.
const PROFILES: [(u32, u32); 4] = [(15, 512), (25, 1000), (30, 2000), (30, 4000)];

/// How much to generate.
#[derive(Debug, Clone, Copy)]
pub(super) struct Scale {
    pub fragments: u64,
    pub streams: usize,
    pub batch: usize,
}

/// One stream of the generated fleet, and what the measurements need to know of it.
pub(super) struct Stream {
    pub id: StreamId,
    /// Its track header's id.
    pub header: i64,
    /// Fragments it gets in all.
    pub fragments: u64,
    made: u64,
    pub first_producer_ms: i64,
    pub first_server_ms: i64,
    pub last_server_ms: i64,
    latency_ms: i64,
    frames: u32,
    mean_cluster: u32,
    /// The open segment: (seq of its first fragment, its first server ms, bytes so far).
    segment: Option<(i64, i64, u64)>,
    last_seq: i64,
}

impl Stream {
    /// Producer time just past the stream's last fragment.
    pub fn end_producer_ms(&self) -> i64 {
        self.first_producer_ms + FRAGMENT_MS * i64::try_from(self.fragments).unwrap_or(i64::MAX)
    }

    fn next(&mut self, rng: &mut StdRng, rotation: (u64, i64)) -> FragmentRecord {
        let k = i64::try_from(self.made).unwrap_or(i64::MAX);
        self.made += 1;
        let producer_ms = self.first_producer_ms + k * FRAGMENT_MS;
        let server_ms = producer_ms + self.latency_ms + rng.random_range(0..40);
        let seq = (self.last_seq + 1).max(server_ms * 1000);
        self.last_seq = seq;
        if self.made == 1 {
            self.first_server_ms = server_ms;
        }
        self.last_server_ms = server_ms;
        let cluster_len = (f64::from(self.mean_cluster) * rng.random_range(0.8..1.2)) as u32;
        let trailer_len = 11 + 14 * self.frames;
        let (max_bytes, max_age_ms) = rotation;
        let (segment, started, len) = match self.segment {
            Some((s, started, len)) if len < max_bytes && server_ms - started < max_age_ms => {
                (s, started, len)
            }
            _ => (seq, server_ms, 0),
        };
        self.segment = Some((
            segment,
            started,
            len + u64::from(cluster_len) + u64::from(trailer_len),
        ));
        FragmentRecord {
            number: FragmentNumber {
                stream: self.id,
                seq,
            },
            producer_ms,
            server_ms,
            // 2 s of frames at the profile's rate (the next fragment starts where it ends).
            duration_ms: FRAGMENT_MS,
            track_header_id: self.header,
            segment,
            offset: len,
            cluster_len,
            trailer_len,
        }
    }
}

/// What generation made and what it took.
pub(super) struct Generated {
    pub streams: Vec<Stream>,
    /// Seconds to create the streams and their track headers.
    pub create_secs: f64,
    /// Seconds of `append_fragments` calls (and the row generation between them).
    pub append_secs: f64,
    pub commits: u64,
}

/// Creates `scale.streams` streams and appends `scale.fragments` rows to them through `index`,
/// `scale.batch` rows per `append_fragments` (one transaction each), in arrival order. Logs
/// progress under `label`.
pub(super) async fn generate(
    index: &dyn Index,
    label: &str,
    scale: Scale,
) -> anyhow::Result<Generated> {
    let config = crate::config::Config::default();
    let rotation = (
        config.segment_max_bytes,
        i64::try_from(config.segment_max_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
    );
    let mut rng = StdRng::seed_from_u64(0x1dec5);
    let n_streams = scale.streams.max(1);
    let per = scale.fragments / n_streams as u64;
    let extra = scale.fragments % n_streams as u64;

    let t = Instant::now();
    let mut streams = Vec::with_capacity(n_streams);
    for i in 0..n_streams {
        let name = format!("bench-index-{i:05}");
        let record = index
            .create_stream(NewStream {
                name: StreamName::parse(&name).context("a stream name")?,
                arn: format!("arn:aws:kinesisvideo:us-east-1:123456789012:stream/{name}/{T0_MS}"),
                device_name: None,
                media_type: None,
                kms_key_id: KmsKeyId::aws_default(),
                version: Version::parse("v1").context("a version")?,
                status: StreamStatus::Active,
                creation_time: ServerTime(T0_MS - 60_000),
                data_retention_hours: 24,
                storage_tier: StorageTier::Hot,
                tags: Tags::new(),
            })
            .await
            .with_context(|| format!("creating stream {name}"))?;
        let (fps, kbit) = PROFILES[rng.random_range(0..PROFILES.len())];
        let header = index
            .put_track_header(record.id, track_header(i, fps))
            .await
            .context("adding a track header")?;
        streams.push(Stream {
            id: record.id,
            header,
            fragments: per + u64::from((i as u64) < extra),
            made: 0,
            first_producer_ms: T0_MS + rng.random_range(0..FRAGMENT_MS),
            first_server_ms: 0,
            last_server_ms: 0,
            latency_ms: rng.random_range(40..250),
            frames: fps * 2,
            mean_cluster: kbit * 1000 / 8 * 2,
            segment: None,
            last_seq: 0,
        });
    }
    let create_secs = t.elapsed().as_secs_f64();

    // Arrival order: round k holds every stream's k-th fragment, streams ordered by their start
    // within the 2 s period.
    let mut order: Vec<usize> = (0..streams.len()).collect();
    order.sort_by_key(|&i| streams[i].first_producer_ms);
    let rounds = streams.iter().map(|s| s.fragments).max().unwrap_or(0);
    let batch = scale.batch.max(1);
    let step = (scale.fragments / 20).max(1);
    let mut pending = Vec::with_capacity(batch);
    let (mut done, mut commits, mut next_report) = (0u64, 0u64, step);
    let t = Instant::now();
    for k in 0..rounds {
        for &i in &order {
            let s = &mut streams[i];
            if k >= s.fragments {
                continue;
            }
            pending.push(s.next(&mut rng, rotation));
            if pending.len() == batch {
                done += commit(index, &mut pending).await?;
                commits += 1;
            }
        }
        if done >= next_report {
            let secs = t.elapsed().as_secs_f64();
            tracing::info!(
                "{label}: {done} of {} fragments in {secs:.0} s ({:.0}/s)",
                scale.fragments,
                done as f64 / secs.max(1e-9)
            );
            next_report = done + step;
        }
    }
    if !pending.is_empty() {
        done += commit(index, &mut pending).await?;
        commits += 1;
    }
    if done != scale.fragments {
        bail!("generated {done} fragments, meant {}", scale.fragments);
    }
    Ok(Generated {
        streams,
        create_secs,
        append_secs: t.elapsed().as_secs_f64(),
        commits,
    })
}

/// One group commit of the pending rows; every row must be accepted.
async fn commit(index: &dyn Index, pending: &mut Vec<FragmentRecord>) -> anyhow::Result<u64> {
    let rows = std::mem::take(pending);
    let n = rows.len() as u64;
    let refused = index
        .append_fragments(rows)
        .await
        .context("appending fragments")?;
    if !refused.is_empty() {
        bail!("the index refused {} fragments", refused.len());
    }
    Ok(n)
}

/// An H.264 track's Tracks element as a producer sends it, about 110 bytes (the contents only
/// need to be the right size and differ per stream).
fn track_header(stream: usize, fps: u32) -> TrackHeader {
    let mut tracks = b"\x16\x54\xae\x6b\x42\x6a\xae\x42\x67\xd7\x81\x01\x73\xc5\x88".to_vec();
    tracks.extend_from_slice(&(stream as u64).to_be_bytes());
    tracks.extend_from_slice(b"\x83\x81\x01\x86\x8fV_MPEG4/ISO/AVC\x23\xe3\x83\x84");
    tracks.extend_from_slice(&(1_000_000_000 / fps).to_be_bytes());
    tracks.extend_from_slice(b"\xe0\x88\xb0\x82\x05\x00\xba\x82\x02\xd0\x63\xa2\xa8");
    tracks.resize(110, 0x42);
    TrackHeader {
        timecode_scale: 1_000_000,
        tracks: Bytes::from(tracks),
    }
}
