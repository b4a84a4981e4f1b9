//! An object-store client: whole objects and byte ranges of them in one bucket of an
//! S3-compatible service (AWS S3, SeaweedFS, MinIO, …), under one key prefix. Built on
//! `aws-sdk-s3`; the client itself is configured in one place, [`s3_client`], which the frame
//! hook's S3 destination uses too.
//!
//! # What it guarantees
//! - **Durable when acknowledged**: [`ObjectStore::put`] returns `Ok` only once the server has
//!   answered the (last) request with success, i.e. the object is as durable as the server
//!   promises for a completed write. An `Err` says nothing either way for a single PUT (the
//!   server may have stored it before the answer was lost); write idempotently.
//! - **No partial objects**: a single PUT is atomic on S3; a multipart upload (objects above
//!   [`ObjectStoreOptions::multipart_threshold`]) is completed only after every part was
//!   uploaded, and aborted when any part fails, so a reader sees the whole object or none.
//!   Parts are at least 5 MiB except the last, at most 10 000 of them.
//! - **Exact reads**: [`ObjectStore::get_range`] returns exactly the bytes asked for or an
//!   error (a short answer, e.g. a range past the end, is [`ObjectError::Other`]); a server
//!   that ignores `Range` is detected.
//! - **Confined keys**: every key is relative to the configured prefix, and listings strip it;
//!   two stores with different prefixes never see each other's objects.
//! - **Bounded waits**: each try of a request is limited by
//!   [`ObjectStoreOptions::request_timeout`] (connecting, and the whole exchange up to the answer;
//!   reading a GET's body is bounded by it too), with up to
//!   [`ObjectStoreOptions::max_attempts`] tries: exponential backoff with jitter (at most 5 s per
//!   wait) on throttling, 5xx, timeouts and connection errors (the SDK's standard retry mode).
//!   A call therefore fails within about `max_attempts × (request_timeout + 5 s)`.
//! - **Classified errors** ([`ObjectError`]): `NotFound`, `Unavailable` (retry later),
//!   `Denied` (credentials or policy), `Other` (including a certificate that the system's roots
//!   and [`ObjectStoreOptions::ca_file`] do not trust). Messages never contain the credentials.
//! - **Counted requests**: [`ObjectStore::stats`] counts every request sent, by price class
//!   ([`ObjectStats`]), for "S3 requests per stream-hour".

mod client;
mod error;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};

use client::Counters;
pub use client::{ObjectStats, s3_client};
pub use error::ObjectError;
use error::{Redact, chain, classify};

/// The smallest part S3 accepts (all but the last part of a multipart upload).
pub const MIN_PART_SIZE: usize = 5 << 20;
/// The most parts one multipart upload may have.
const MAX_PARTS: usize = 10_000;
/// The most keys one DeleteObjects request may name.
const DELETE_BATCH: usize = 1000;
/// Parts of one multipart upload in flight at once.
const PART_CONCURRENCY: usize = 4;

/// Where and how to reach the object store.
#[derive(Clone)]
pub struct ObjectStoreOptions {
    /// Endpoint URL (`http(s)://host:port`); None = AWS's, for `region`.
    pub endpoint: Option<String>,
    /// Region (signing, and AWS's endpoint).
    pub region: String,
    /// Bucket.
    pub bucket: String,
    /// Key prefix; slashes at its ends do not matter (`a/b` and `/a/b/` are the same).
    pub prefix: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key (never shown by `Debug`).
    pub secret_access_key: String,
    /// Path-style addressing (`endpoint/bucket/key`; most S3-compatible servers need it).
    pub force_path_style: bool,
    /// A PEM file of CA certificates trusted for `https` endpoints, besides the system's.
    pub ca_file: Option<PathBuf>,
    /// The limit on each try of a request (connect + exchange), and on reading a GET's body.
    pub request_timeout: Duration,
    /// Tries per request (1 = no retry).
    pub max_attempts: u32,
    /// The first wait before a retry (doubling, with jitter, at most 5 s).
    pub initial_backoff: Duration,
    /// Objects larger than this are uploaded in parts.
    pub multipart_threshold: usize,
    /// The size of each part but the last (at least [`MIN_PART_SIZE`]).
    pub part_size: usize,
    /// Keys per ListObjectsV2 page (1..=1000).
    pub list_page_size: i32,
}

impl Default for ObjectStoreOptions {
    fn default() -> ObjectStoreOptions {
        ObjectStoreOptions {
            endpoint: None,
            region: "us-east-1".to_owned(),
            bucket: String::new(),
            prefix: String::new(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            force_path_style: false,
            ca_file: None,
            request_timeout: Duration::from_secs(30),
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            multipart_threshold: 16 << 20,
            part_size: 8 << 20,
            list_page_size: 1000,
        }
    }
}

impl std::fmt::Debug for ObjectStoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStoreOptions")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("force_path_style", &self.force_path_style)
            .field("ca_file", &self.ca_file)
            .field("request_timeout", &self.request_timeout)
            .field("max_attempts", &self.max_attempts)
            .field("initial_backoff", &self.initial_backoff)
            .field("multipart_threshold", &self.multipart_threshold)
            .field("part_size", &self.part_size)
            .field("list_page_size", &self.list_page_size)
            .finish()
    }
}

/// What a successful [`ObjectStore::put`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutInfo {
    /// Bytes.
    pub size: u64,
    /// The server's ETag, if it sent one.
    pub etag: Option<String>,
    /// Parts of the multipart upload; 0 for a single PUT.
    pub parts: u32,
}

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Key, relative to the store's prefix.
    pub key: String,
    /// Bytes.
    pub size: u64,
}

/// A key [`ObjectStore::delete_many`] could not delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteFailure {
    /// Key, relative to the store's prefix.
    pub key: String,
    /// The server's error code and message.
    pub error: String,
}

/// A bucket under a prefix; cheap to clone (clones share the connection pool and the counters).
#[derive(Clone)]
pub struct ObjectStore {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// Empty, or ends with `/`.
    prefix: String,
    body_timeout: Duration,
    multipart_threshold: usize,
    part_size: usize,
    page_size: i32,
    counters: Arc<Counters>,
    redact: Redact,
}

impl std::fmt::Debug for ObjectStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStore")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl ObjectStore {
    /// A store for `opts` (no request is sent). Fails on an empty bucket or a bad CA file.
    pub fn new(opts: &ObjectStoreOptions) -> Result<ObjectStore, ObjectError> {
        if opts.bucket.is_empty() {
            return Err(ObjectError::config("no bucket configured".to_owned()));
        }
        let counters = Arc::new(Counters::default());
        let client = client::build(opts, Some(Arc::clone(&counters)))?;
        let prefix = opts.prefix.trim_matches('/');
        Ok(ObjectStore {
            client,
            bucket: opts.bucket.clone(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            body_timeout: opts.request_timeout.max(Duration::from_millis(1)),
            multipart_threshold: opts.multipart_threshold,
            part_size: opts.part_size.max(MIN_PART_SIZE),
            page_size: opts.list_page_size.clamp(1, 1000),
            counters,
            redact: Redact::new(&[&opts.access_key_id, &opts.secret_access_key]),
        })
    }

    /// The requests sent so far, by kind.
    pub fn stats(&self) -> ObjectStats {
        self.counters.snapshot()
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The full key of `key` (prefix + key), checked.
    fn full_key(&self, op: &'static str, key: &str) -> Result<String, ObjectError> {
        if key.is_empty() {
            return Err(ObjectError::other(op, key, "empty key".to_owned()));
        }
        Ok(format!("{}{key}", self.prefix))
    }

    /// `bucket/full-key`, for messages.
    fn shown(&self, full: &str) -> String {
        format!("{}/{full}", self.bucket)
    }

    /// Stores `data` at `key`, replacing any object there: one PUT up to the multipart
    /// threshold, a multipart upload above it (aborted if any part fails).
    pub async fn put(&self, key: &str, data: Bytes) -> Result<PutInfo, ObjectError> {
        let full = self.full_key("PUT", key)?;
        let size = data.len() as u64;
        let info = if data.len() > self.multipart_threshold {
            self.put_multipart(&full, data).await?
        } else {
            let out = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(&full)
                .content_length(data.len() as i64)
                .body(data.into())
                .send()
                .await
                .map_err(|e| classify("PUT", &self.shown(&full), &e, &self.redact))?;
            PutInfo {
                size,
                etag: out.e_tag,
                parts: 0,
            }
        };
        self.counters.bytes_put.fetch_add(size, Ordering::Relaxed);
        Ok(info)
    }

    async fn put_multipart(&self, full: &str, data: Bytes) -> Result<PutInfo, ObjectError> {
        let shown = self.shown(full);
        let part_size = self.part_size.max(data.len().div_ceil(MAX_PARTS));
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(full)
            .send()
            .await
            .map_err(|e| classify("PUT", &shown, &e, &self.redact))?;
        let Some(upload_id) = created.upload_id else {
            return Err(ObjectError::other(
                "PUT",
                &shown,
                "CreateMultipartUpload answered no upload id".to_owned(),
            ));
        };
        let parts = data.len().div_ceil(part_size);
        tracing::debug!(key = %shown, bytes = data.len(), parts, "object store: multipart upload");
        match self.upload_parts(full, &upload_id, &data, part_size).await {
            Ok(done) => {
                let out = self
                    .client
                    .complete_multipart_upload()
                    .bucket(&self.bucket)
                    .key(full)
                    .upload_id(&upload_id)
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(done))
                            .build(),
                    )
                    .send()
                    .await;
                match out {
                    Ok(out) => Ok(PutInfo {
                        size: data.len() as u64,
                        etag: out.e_tag,
                        parts: parts as u32,
                    }),
                    Err(e) => {
                        let err = classify("PUT", &shown, &e, &self.redact);
                        self.abort(full, &upload_id).await;
                        Err(err)
                    }
                }
            }
            Err(err) => {
                self.abort(full, &upload_id).await;
                Err(err)
            }
        }
    }

    async fn upload_parts(
        &self,
        full: &str,
        upload_id: &str,
        data: &Bytes,
        part_size: usize,
    ) -> Result<Vec<CompletedPart>, ObjectError> {
        let shown = self.shown(full);
        let shown = &shown;
        let uploads = (0..data.len().div_ceil(part_size)).map(|i| {
            let start = i * part_size;
            let body = data.slice(start..(start + part_size).min(data.len()));
            let number = i as i32 + 1;
            async move {
                let out = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(full)
                    .upload_id(upload_id)
                    .part_number(number)
                    .content_length(body.len() as i64)
                    .body(body.into())
                    .send()
                    .await
                    .map_err(|e| classify("PUT", shown, &e, &self.redact))?;
                Ok::<_, ObjectError>(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(out.e_tag)
                        .build(),
                )
            }
        });
        futures_util::stream::iter(uploads)
            .buffered(PART_CONCURRENCY)
            .try_collect()
            .await
    }

    /// Aborts a multipart upload after a failure (its parts would otherwise be kept, and
    /// billed, until a lifecycle rule removes them).
    async fn abort(&self, full: &str, upload_id: &str) {
        let r = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(full)
            .upload_id(upload_id)
            .send()
            .await;
        if let Err(e) = r {
            let e = classify("ABORT", &self.shown(full), &e, &self.redact);
            tracing::warn!(error = %e, "object store: aborting a failed multipart upload failed");
        }
    }

    /// Exactly `len` bytes of `key` from byte `start`. A range past the end of the object is an
    /// error, as is any answer of another length. `len == 0` returns nothing without a request.
    pub async fn get_range(&self, key: &str, start: u64, len: u64) -> Result<Bytes, ObjectError> {
        let full = self.full_key("GET", key)?;
        if len == 0 {
            return Ok(Bytes::new());
        }
        let shown = self.shown(&full);
        let end = start
            .checked_add(len - 1)
            .ok_or_else(|| ObjectError::other("GET", &shown, "range overflows".to_owned()))?;
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&full)
            .range(format!("bytes={start}-{end}"))
            .send()
            .await
            .map_err(|e| classify("GET", &shown, &e, &self.redact))?;
        // A server that ignores Range answers the whole object (no Content-Range).
        if out.content_range.is_none() && start != 0 {
            return Err(ObjectError::other(
                "GET",
                &shown,
                "the server ignored the Range header".to_owned(),
            ));
        }
        let bytes = self.read_body("GET", &shown, out.body).await?;
        if bytes.len() as u64 != len {
            return Err(ObjectError::other(
                "GET",
                &shown,
                format!(
                    "{}: asked bytes {start}..{} ({len} bytes), got {} bytes",
                    if (bytes.len() as u64) < len {
                        "short read"
                    } else {
                        "long answer"
                    },
                    start + len,
                    bytes.len()
                ),
            ));
        }
        Ok(bytes)
    }

    /// The whole object at `key`.
    pub async fn get(&self, key: &str) -> Result<Bytes, ObjectError> {
        let full = self.full_key("GET", key)?;
        let shown = self.shown(&full);
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
            .map_err(|e| classify("GET", &shown, &e, &self.redact))?;
        let expected = out.content_length;
        let bytes = self.read_body("GET", &shown, out.body).await?;
        if let Some(n) = expected
            && n != bytes.len() as i64
        {
            return Err(ObjectError::other(
                "GET",
                &shown,
                format!("short read: Content-Length {n}, got {} bytes", bytes.len()),
            ));
        }
        Ok(bytes)
    }

    async fn read_body(
        &self,
        op: &'static str,
        shown: &str,
        body: aws_sdk_s3::primitives::ByteStream,
    ) -> Result<Bytes, ObjectError> {
        let bytes = tokio::time::timeout(self.body_timeout, body.collect())
            .await
            .map_err(|_| {
                ObjectError::unavailable(op, shown, "timed out reading the body".to_owned())
            })?
            .map_err(|e| {
                ObjectError::unavailable(
                    op,
                    shown,
                    self.redact
                        .apply(format!("reading the body: {}", chain(&e))),
                )
            })?
            .into_bytes();
        self.counters
            .bytes_got
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(bytes)
    }

    /// The size of the object at `key`, or None if there is none.
    pub async fn head(&self, key: &str) -> Result<Option<u64>, ObjectError> {
        let full = self.full_key("HEAD", key)?;
        let shown = self.shown(&full);
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
        {
            Ok(out) => Ok(Some(out.content_length.unwrap_or(0).max(0) as u64)),
            Err(e) => match classify("HEAD", &shown, &e, &self.redact) {
                ObjectError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Deletes the object at `key`; an absent object is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        let full = self.full_key("DELETE", key)?;
        let shown = self.shown(&full);
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match classify("DELETE", &shown, &e, &self.redact) {
                ObjectError::NotFound { .. } => Ok(()),
                other => Err(other),
            },
        }
    }

    /// Deletes `keys` with DeleteObjects, up to 1000 per request. `Err` when a whole request
    /// failed (earlier batches may be deleted); `Ok` lists the keys the server refused one by
    /// one. Absent keys count as deleted.
    pub async fn delete_many<S: AsRef<str>>(
        &self,
        keys: &[S],
    ) -> Result<Vec<DeleteFailure>, ObjectError> {
        let mut failures = Vec::new();
        for batch in keys.chunks(DELETE_BATCH) {
            let mut ids = Vec::with_capacity(batch.len());
            for k in batch {
                let full = self.full_key("DELETE", k.as_ref())?;
                ids.push(
                    ObjectIdentifier::builder()
                        .key(full)
                        .build()
                        .map_err(|e| ObjectError::other("DELETE", k.as_ref(), e.to_string()))?,
                );
            }
            let shown = format!("{}/{}… ({} keys)", self.bucket, self.prefix, ids.len());
            let delete = Delete::builder()
                .set_objects(Some(ids))
                .quiet(true)
                .build()
                .map_err(|e| ObjectError::other("DELETE", &shown, e.to_string()))?;
            let out = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| classify("DELETE", &shown, &e, &self.redact))?;
            for err in out.errors.unwrap_or_default() {
                let key = err.key.unwrap_or_default();
                if err.code.as_deref() == Some("NoSuchKey") {
                    continue;
                }
                failures.push(DeleteFailure {
                    key: key.strip_prefix(&self.prefix).unwrap_or(&key).to_owned(),
                    error: self.redact.apply(format!(
                        "{}: {}",
                        err.code.unwrap_or_default(),
                        err.message.unwrap_or_default()
                    )),
                });
            }
        }
        if !failures.is_empty() {
            tracing::warn!(
                failed = failures.len(),
                first = ?failures.first(),
                "object store: DeleteObjects refused some keys"
            );
        }
        Ok(failures)
    }

    /// The objects whose keys start with `prefix` (relative to the store's prefix), a page at a
    /// time in key order ([`ObjectStoreOptions::list_page_size`] keys per request).
    pub fn list_pages<'a>(
        &'a self,
        prefix: &str,
    ) -> impl Stream<Item = Result<Vec<ObjectInfo>, ObjectError>> + 'a {
        let full = format!("{}{prefix}", self.prefix);
        // (the continuation token, done)
        futures_util::stream::try_unfold((None::<String>, false), move |(token, done)| {
            let full = full.clone();
            async move {
                if done {
                    return Ok(None);
                }
                let shown = self.shown(&full);
                let out = self
                    .client
                    .list_objects_v2()
                    .bucket(&self.bucket)
                    .prefix(&full)
                    .max_keys(self.page_size)
                    .set_continuation_token(token)
                    .send()
                    .await
                    .map_err(|e| classify("LIST", &shown, &e, &self.redact))?;
                let page: Vec<ObjectInfo> = out
                    .contents
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|o| {
                        let key = o.key?;
                        Some(ObjectInfo {
                            key: key.strip_prefix(&self.prefix)?.to_owned(),
                            size: o.size.unwrap_or(0).max(0) as u64,
                        })
                    })
                    .collect();
                let next = match (out.is_truncated, out.next_continuation_token) {
                    (Some(true), Some(t)) if !t.is_empty() => Some(t),
                    (Some(true), _) => {
                        return Err(ObjectError::other(
                            "LIST",
                            &shown,
                            "a truncated page without a continuation token".to_owned(),
                        ));
                    }
                    _ => None,
                };
                let done = next.is_none();
                Ok(Some((page, (next, done))))
            }
        })
    }

    /// All objects whose keys start with `prefix` (relative to the store's prefix), in key
    /// order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, ObjectError> {
        let pages: Vec<Vec<ObjectInfo>> = self.list_pages(prefix).try_collect().await?;
        Ok(pages.into_iter().flatten().collect())
    }
}
