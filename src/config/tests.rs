use super::*;
use crate::egress;

pub(super) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults() {
    let c = Config::load(None, env(&[])).unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.public_url(), "http://127.0.0.1:8080");
}

#[test]
fn env_overrides_file_and_keeps_string_types() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("v.toml");
    std::fs::write(&f, "listen = \"0.0.0.0:9000\"\naccount_id = \"1\"\n").unwrap();
    let c = Config::load(
        Some(&f),
        env(&[
            ("VIDSTREAM_ACCOUNT_ID", "123456789012"),
            ("VIDSTREAM_MAX_REQUEST_BODY_BYTES", "2048"),
            ("VIDSTREAM_PUBLIC_URL", "http://cams.example:80/"),
            ("VIDSTREAM_LOG", "debug"),
            ("OTHER", "x"),
        ]),
    )
    .unwrap();
    assert_eq!(c.listen.port(), 9000);
    assert_eq!(c.account_id, "123456789012");
    assert_eq!(c.max_request_body_bytes, 2048);
    assert_eq!(c.public_url(), "http://cams.example:80");
}

#[test]
fn unknown_keys_are_rejected_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("v.toml");
    std::fs::write(&f, "listn = \"0.0.0.0:9000\"\n").unwrap();
    let e = Config::load(Some(&f), env(&[])).unwrap_err().to_string();
    assert!(e.contains("listn") && e.contains("v.toml"), "{e}");
    // An empty variable leaves an optional key unset (compose's `${X:-}`).
    let c = Config::load(
        None,
        env(&[
            ("VIDSTREAM_AUTH__ROOT_ACCESS_KEY_ID", ""),
            ("VIDSTREAM_AUTH__ROOT_SECRET_ACCESS_KEY", ""),
        ]),
    )
    .unwrap();
    assert_eq!(c.auth.root_access_key_id, None);
    let e = Config::load(None, env(&[("VIDSTREAM_DATADIR", "/x")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("VIDSTREAM_DATADIR"), "{e}");
}

#[test]
fn nested_keys_from_the_environment() {
    let c = Config::load(None, env(&[("VIDSTREAM_INGEST__IDLE_TIMEOUT_SECS", "5")])).unwrap();
    assert_eq!(c.ingest.idle_timeout_secs, 5);
    let e = Config::load(None, env(&[("VIDSTREAM_INGEST__NOPE", "5")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("VIDSTREAM_INGEST__NOPE"), "{e}");
}

#[test]
fn retention_settings_from_file_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("v.toml");
    std::fs::write(&f, "[retention]\ngrace_secs = 5\ntotal_max_bytes = 1000\n").unwrap();
    let c = Config::load(
        Some(&f),
        env(&[("VIDSTREAM_RETENTION__STREAM_MAX_BYTES", "300")]),
    )
    .unwrap();
    assert_eq!(
        c.retention,
        RetentionSettings {
            interval_secs: 60,
            grace_secs: 5,
            stream_max_bytes: 300,
            total_max_bytes: 1000,
            reader_hold_timeout_secs: 15,
        }
    );
    let o = c.retention_options();
    assert_eq!((o.grace_ms, o.stream_max_bytes), (5000, 300));
    assert_eq!(
        o.writer_slack_ms,
        30_000 + 60_000,
        "longest fragment + 60 s"
    );
    let e = Config::load(None, env(&[("VIDSTREAM_RETENTION__MAX_BYTES", "1")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("VIDSTREAM_RETENTION__MAX_BYTES"), "{e}");
}

#[test]
fn bad_values_name_their_source() {
    let e = Config::load(None, env(&[("VIDSTREAM_SHUTDOWN_GRACE_SECS", "soon")]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("VIDSTREAM_SHUTDOWN_GRACE_SECS") && e.contains("integer"),
        "{e}"
    );
    let e = Config::load(None, env(&[("VIDSTREAM_LISTEN", "nowhere")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("VIDSTREAM_LISTEN"), "{e}");
}

#[test]
fn egress_lists_from_file_and_environment_are_strict() {
    let d = Config::default();
    let cam = d.cameras.egress_policy();
    assert!(cam.check_ip("c", "192.168.1.20".parse().unwrap()).is_ok());
    assert!(cam.check_ip("c", "127.0.0.1".parse().unwrap()).is_ok());
    assert!(cam.check_ip("c", "8.8.8.8".parse().unwrap()).is_err());
    let hook = d.hook.webhook_policy();
    assert!(hook.check_ip("h", "8.8.8.8".parse().unwrap()).is_ok());
    assert!(hook.check_ip("h", "192.168.1.20".parse().unwrap()).is_err());
    assert!(d.hook.allowed_s3_buckets.is_empty());

    let c = Config::load(
        None,
        env(&[
            (
                "VIDSTREAM_CAMERAS__ALLOWED_NETWORKS",
                r#"["192.168.10.0/24", "public"]"#,
            ),
            ("VIDSTREAM_CAMERAS__ALLOWED_PORTS", "[554, 8554]"),
            ("VIDSTREAM_HOOK__WEBHOOK_ALLOWED_HOSTS", r#"["*.lan"]"#),
            ("VIDSTREAM_HOOK__ALLOWED_S3_BUCKETS", r#"["cam-images"]"#),
        ]),
    )
    .unwrap();
    assert_eq!(
        c.cameras.allowed_networks,
        vec!["192.168.10.0/24".parse().unwrap(), egress::Network::Public]
    );
    assert_eq!(c.cameras.allowed_ports, vec![554, 8554]);
    assert_eq!(c.hook.webhook_allowed_hosts, vec!["*.lan".parse().unwrap()]);
    assert_eq!(c.hook.allowed_s3_buckets, vec!["cam-images".to_owned()]);

    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("v.toml");
    for (text, want) in [
        (
            "[cameras]\nallowed_networks = [\"10.0.0.0/33\"]\n",
            "10.0.0.0/33",
        ),
        (
            "[cameras]\nallowed_networks = [\"10.1.2.3/8\"]\n",
            "10.0.0.0/8",
        ),
        (
            "[hook]\nwebhook_allowed_hosts = [\"10.0.0.1\"]\n",
            "allowed_networks",
        ),
        ("[cameras]\nallowed_hosts = [\"a b\"]\n", "not a host name"),
    ] {
        std::fs::write(&f, text).unwrap();
        let e = Config::load(Some(&f), env(&[])).unwrap_err().to_string();
        assert!(e.contains(want) && e.contains("v.toml"), "{text}: {e}");
    }
}

/// The reference config in docker/ must parse and mention every key.
#[test]
fn reference_config_is_complete() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docker/vidstream.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    Config::load(Some(&path), env(&[])).unwrap();
    let table = toml::Table::try_from(Config::default()).unwrap();
    let mut keys: Vec<String> = Vec::new();
    for (k, v) in &table {
        match v.as_table() {
            Some(t) => {
                assert!(
                    text.contains(&format!("[{k}]")),
                    "docker/vidstream.toml lacks [{k}]"
                );
                for (k2, v2) in t {
                    match v2.as_table() {
                        Some(t2) => {
                            assert!(
                                text.contains(&format!("[{k}.{k2}]")),
                                "docker/vidstream.toml lacks [{k}.{k2}]"
                            );
                            keys.extend(t2.keys().cloned());
                        }
                        None => keys.push(k2.clone()),
                    }
                }
            }
            None => keys.push(k.clone()),
        }
    }
    // Optional keys without a default (not serialized).
    keys.extend(
        [
            "public_url",
            "root_access_key_id",
            "root_secret_access_key",
            "master_key",
            "cert_file",
            "key_file",
            "redirect_http_listen",
        ]
        .map(String::from),
    );
    for k in keys {
        assert!(
            text.contains(&format!("{k} =")),
            "docker/vidstream.toml does not document `{k}`"
        );
    }
}

#[test]
fn rtsp_message_limit_has_a_floor() {
    let d = Config::default();
    assert_eq!(d.cameras.max_rtsp_message_bytes, 1 << 20);
    assert_eq!(d.cameras.to_options().max_rtsp_message_bytes, 1 << 20);
    let c = Config::load(
        None,
        env(&[("VIDSTREAM_CAMERAS__MAX_RTSP_MESSAGE_BYTES", "100")]),
    )
    .unwrap();
    assert_eq!(c.cameras.max_rtsp_message_bytes, 100);
    assert_eq!(c.cameras.to_options().max_rtsp_message_bytes, 64 << 10);
}

#[test]
fn the_postgres_index_is_chosen_from_the_environment_and_its_url_is_never_shown() {
    let url = "postgres://vs:s3cr3t@db:5432/vidstream";
    let c = Config::load(
        None,
        env(&[
            ("VIDSTREAM_STORE__INDEX", "postgres"),
            ("VIDSTREAM_STORE__POSTGRES_URL", url),
        ]),
    )
    .unwrap();
    assert_eq!(c.store.index, super::IndexEngine::Postgres);
    assert_eq!(c.store.postgres_url.expose(), url);
    let shown = format!("{c:?} {:?}", c.store.index_backend());
    assert!(!shown.contains("s3cr3t"), "{shown}");
    let e = Config::load(None, env(&[("VIDSTREAM_STORE__INDEX", "postgres")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs store.postgres_url"), "{e}");
    let e = Config::load(
        None,
        env(&[
            ("VIDSTREAM_STORE__INDEX", "postgres"),
            ("VIDSTREAM_STORE__POSTGRES_URL", "mysql://x"),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("postgres://"), "{e}");
    let e = Config::load(None, env(&[("VIDSTREAM_STORE__INDEX", "oracle")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("oracle"), "{e}");
}

#[test]
fn local_then_object_needs_a_bucket_and_keeps_its_secret() {
    let c = Config::load(
        None,
        env(&[
            ("VIDSTREAM_STORE__MEDIA", "local-then-object"),
            ("VIDSTREAM_STORE__HOT_TIER_SECS", "3600"),
            ("VIDSTREAM_STORE__S3__BUCKET", "media"),
            ("VIDSTREAM_STORE__S3__ENDPOINT", "http://127.0.0.1:8333"),
            ("VIDSTREAM_STORE__S3__SECRET_ACCESS_KEY", "sh-secret"),
        ]),
    )
    .unwrap();
    let o = c.store.object_store().unwrap();
    assert_eq!(o.bucket, "media");
    assert_eq!(o.endpoint.as_deref(), Some("http://127.0.0.1:8333"));
    assert_eq!(o.secret_access_key, "sh-secret");
    assert_eq!(c.store.tier_policy().hot_after_ms, Some(3_600_000));
    assert!(!format!("{c:?} {o:?}").contains("sh-secret"));
    assert!(Config::default().store.object_store().is_none());
    let e = Config::load(
        None,
        env(&[("VIDSTREAM_STORE__MEDIA", "local-then-object")]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("store.s3.bucket"), "{e}");
}
