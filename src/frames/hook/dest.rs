//! Where pictures go: an S3 bucket (`s3://bucket/prefix`), a directory (`file:///dir`) or a
//! webhook (`http(s)://…`). KVS accepts only `s3://`; the other two are vidstream extensions.
//!
//! - **S3**: `PutObject` of `<prefix>/<key>` (see [`Picture::key`]) through the one S3 client
//!   builder ([`crate::store::object::s3_client`]: its retry and timeout policy), with the
//!   endpoint, path-style addressing and static credentials of `[hook]`; the picture's
//!   metadata travels as `x-amz-meta-*` (the webhook header names without `x-vidstream-`).
//! - **File**: `<dir>/<key>`, written to a temporary name in the same directory and renamed, so
//!   a reader never sees a partial picture. The directory must be under `[hook] file_root`
//!   (file destinations are off while it is empty): an API caller never writes elsewhere.
//! - **Webhook**: `POST` with the picture as the body (`Content-Type: image/jpeg|png`) and the
//!   metadata in `x-vidstream-*` headers. A network error, a timeout, 429 or 5xx is retried
//!   with doubling backoff up to `[hook] webhook_attempts` tries; another status fails at once.
//!   Where webhooks may go is the `[hook]` webhook egress policy ([`super::webhook`]).
//!
//! Who may name what: an `s3://` destination is written with this server's own credentials,
//! so only the buckets in `[hook] allowed_s3_buckets` may be named (none by default). The S3
//! endpoint, addressing style and credentials come from the server configuration alone; the
//! caller's `DestinationRegion` only picks the AWS region when no endpoint is configured (the
//! host stays under AWS's S3 domain), so the S3 client needs no egress check of its own.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::HookOptions;
use super::queue::Picture;
use crate::egress::Policy;

/// A parsed, allowed destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An S3 bucket and key prefix (without slashes at its ends; may be empty).
    S3 {
        /// Bucket.
        bucket: String,
        /// Key prefix.
        prefix: String,
    },
    /// A directory.
    File(PathBuf),
    /// A webhook URL.
    Http(String),
}

/// Parses a `DestinationConfig.Uri`; the error says what is wrong, for `InvalidArgument`.
pub fn parse_uri(uri: &str, opts: &HookOptions) -> Result<Target, String> {
    if let Some(rest) = uri.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err(format!(
                "DestinationConfig Uri `{uri}` has no valid bucket name: use s3://bucket/prefix with a 3-63 character lowercase bucket"
            ));
        }
        if opts.allowed_s3_buckets.is_empty() {
            return Err(
                "s3:// destinations are disabled on this server: they are written with its own credentials; list the buckets API callers may name in [hook] allowed_s3_buckets".to_owned(),
            );
        }
        if !opts.allowed_s3_buckets.iter().any(|b| b == bucket) {
            return Err(format!(
                "bucket `{bucket}` is not in this server's [hook] allowed_s3_buckets (s3:// destinations are written with the server's own credentials); add it there to allow it"
            ));
        }
        return Ok(Target::S3 {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        });
    }
    if let Some(path) = uri.strip_prefix("file://") {
        let Some(root) = &opts.file_root else {
            return Err(
                "file:// destinations are disabled on this server; set [hook] file_root to allow a directory tree".to_owned(),
            );
        };
        let path = Path::new(path);
        let clean = path.is_absolute()
            && path
                .components()
                .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
        if !clean || !path.starts_with(root) {
            return Err(format!(
                "DestinationConfig Uri `{uri}` must name an absolute directory under {} (no `..`)",
                root.display()
            ));
        }
        return Ok(Target::File(path.to_owned()));
    }
    if uri.starts_with("http://") || uri.starts_with("https://") {
        return match reqwest::Url::parse(uri) {
            Ok(u) if u.host_str().is_some() => {
                super::webhook::check_literal(&opts.webhook_egress, &u)
                    .map(|()| Target::Http(uri.to_owned()))
                    .map_err(|e| format!("DestinationConfig Uri `{uri}`: {e}"))
            }
            _ => Err(format!("DestinationConfig Uri `{uri}` is not a valid URL")),
        };
    }
    Err(format!(
        "DestinationConfig Uri `{uri}` is not supported: use s3://bucket/prefix, file:///dir or http(s)://host/path"
    ))
}

/// A destination ready to deliver.
pub enum Destination {
    /// See [`Target::S3`].
    S3 {
        /// The client (endpoint, credentials, region).
        client: aws_sdk_s3::Client,
        /// Bucket.
        bucket: String,
        /// Key prefix.
        prefix: String,
    },
    /// See [`Target::File`].
    File(PathBuf),
    /// See [`Target::Http`].
    Http {
        /// Shared client (names resolved under the webhook policy).
        client: reqwest::Client,
        /// The webhook policy, for IP-literal URLs (which the client does not resolve).
        egress: Arc<Policy>,
        /// URL.
        url: String,
        /// Tries per picture.
        attempts: u32,
        /// First wait between tries.
        backoff: Duration,
    },
}

/// The metadata of a picture as (name, value) pairs, without a prefix.
fn metadata(p: &Picture) -> [(&'static str, String); 7] {
    [
        ("stream-name", p.stream.clone()),
        ("fragment-number", p.fragment.clone()),
        ("producer-timestamp", p.producer_ms.to_string()),
        ("server-timestamp", p.server_ms.to_string()),
        ("sample-timestamp", p.sample_ms.to_string()),
        ("image-selector-type", p.selector.to_owned()),
        ("format", p.format.to_owned()),
    ]
}

impl Destination {
    /// Builds the destination for `target`; `region` is the configuration's DestinationRegion.
    /// The error says why the S3 client could not be made.
    pub fn new(target: Target, region: &str, opts: &HookOptions) -> Result<Destination, String> {
        Ok(match target {
            Target::S3 { bucket, prefix } => Destination::S3 {
                client: s3_client(region, opts)?,
                bucket,
                prefix,
            },
            Target::File(dir) => Destination::File(dir),
            Target::Http(url) => Destination::Http {
                client: opts.http.clone(),
                egress: Arc::clone(&opts.webhook_egress),
                url,
                attempts: opts.webhook_attempts.max(1),
                backoff: opts.webhook_backoff,
            },
        })
    }

    /// Delivers one picture; the error is for the counters and the log.
    pub async fn deliver(&self, p: &Picture) -> Result<(), String> {
        match self {
            Destination::S3 {
                client,
                bucket,
                prefix,
            } => {
                let key = if prefix.is_empty() {
                    p.key()
                } else {
                    format!("{prefix}/{}", p.key())
                };
                let mut put = client
                    .put_object()
                    .bucket(bucket)
                    .key(&key)
                    .content_type(p.content_type())
                    .body(p.bytes.clone().into());
                for (k, v) in metadata(p) {
                    put = put.metadata(k, v);
                }
                put.send()
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("s3 put {bucket}/{key}: {}", error_chain(&e)))
            }
            Destination::File(dir) => write_file(dir, p).await,
            Destination::Http {
                client,
                egress,
                url,
                attempts,
                backoff,
            } => {
                // Checked when the destination was made, and again here: the check that counts
                // is the one before connecting.
                let parsed = reqwest::Url::parse(url).map_err(|e| format!("webhook {url}: {e}"))?;
                super::webhook::check_literal(egress, &parsed)
                    .map_err(|e| format!("webhook {url}: {e}"))?;
                post(client, url, *attempts, *backoff, p).await
            }
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}

/// The S3 client of a destination: the shared builder (`store::object::s3_client`) with the
/// `[hook]` endpoint, addressing style and credentials, and the destination's region.
fn s3_client(region: &str, opts: &HookOptions) -> Result<aws_sdk_s3::Client, String> {
    let options = crate::store::object::ObjectStoreOptions {
        endpoint: opts.s3_endpoint.clone(),
        region: region.to_owned(),
        access_key_id: opts.s3_access_key_id.clone(),
        secret_access_key: opts.s3_secret_access_key.clone(),
        force_path_style: opts.s3_force_path_style,
        ..Default::default()
    };
    crate::store::object::s3_client(&options).map_err(|e| e.to_string())
}

async fn write_file(dir: &Path, p: &Picture) -> Result<(), String> {
    let key = p.key();
    // Keys are relative paths of plain names (see `Picture::key`); never write elsewhere.
    if !Path::new(&key)
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(format!("picture name `{key}` is not a plain relative path"));
    }
    let path = dir.join(key);
    let bytes = p.bytes.clone();
    tokio::task::spawn_blocking(move || -> Result<(), String> {
        let parent = path
            .parent()
            .ok_or_else(|| format!("{} has no parent directory", path.display()))?;
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("creating {}: {e}", parent.display()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = parent.join(format!(".{name}.{:016x}.tmp", rand::random::<u64>()));
        let write = || -> std::io::Result<()> {
            std::fs::write(&tmp, &bytes)?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("writing {}: {e}", path.display())
        })
    })
    .await
    .map_err(|e| format!("file task failed: {e}"))?
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    attempts: u32,
    backoff: Duration,
    p: &Picture,
) -> Result<(), String> {
    let mut wait = backoff;
    let mut last = String::new();
    for attempt in 1..=attempts {
        let mut req = client
            .post(url)
            .header("content-type", p.content_type())
            .body(p.bytes.clone());
        for (k, v) in metadata(p) {
            req = req.header(format!("x-vidstream-{k}"), v);
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => {
                let s = r.status();
                last = format!("webhook {url} answered {s}");
                if !(s.is_server_error() || s.as_u16() == 429) {
                    return Err(last);
                }
            }
            Err(e) => last = super::webhook::describe_error(url, &e),
        }
        if attempt < attempts {
            tracing::debug!(attempt, error = %last, "hook: webhook retry");
            tokio::time::sleep(wait).await;
            wait = wait.saturating_mul(2);
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        let mut opts = HookOptions::for_tests();
        opts.allowed_s3_buckets = vec!["my-bucket".into()];
        let ok = |u: &str, o: &HookOptions| parse_uri(u, o).unwrap();
        assert_eq!(
            ok("s3://my-bucket/a/b/", &opts),
            Target::S3 {
                bucket: "my-bucket".into(),
                prefix: "a/b".into()
            }
        );
        assert_eq!(
            ok("s3://my-bucket", &opts),
            Target::S3 {
                bucket: "my-bucket".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            ok("https://hooks.example/in?x=1", &opts),
            Target::Http("https://hooks.example/in?x=1".into())
        );
        for bad in [
            "s3://",
            "s3://UPPER/x",
            "s3://ab",
            "s3://other-bucket/x",
            "ftp://x/y",
            "http://",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/",
            "http://127.0.0.1:8080/in",
            "http://192.168.1.10/in",
            "file:///tmp/x",
            "nope",
        ] {
            assert!(parse_uri(bad, &opts).is_err(), "{bad}");
        }
        let e = parse_uri("s3://other-bucket/x", &opts).unwrap_err();
        assert!(e.contains("[hook] allowed_s3_buckets"), "{e}");
        let e = parse_uri("http://127.0.0.1/in", &opts).unwrap_err();
        assert!(e.contains("[hook] webhook_allowed_networks"), "{e}");
        // No bucket listed: s3:// is off.
        let e = parse_uri("s3://my-bucket/x", &HookOptions::for_tests()).unwrap_err();
        assert!(e.contains("allowed_s3_buckets"), "{e}");
        opts.file_root = Some(PathBuf::from("/srv/images"));
        assert_eq!(
            ok("file:///srv/images/cam1", &opts),
            Target::File("/srv/images/cam1".into())
        );
        for bad in [
            "file:///srv/images/../etc",
            "file:///srv/imagesX",
            "file://relative",
            "file:///etc",
        ] {
            assert!(parse_uri(bad, &opts).is_err(), "{bad}");
        }
    }
}
