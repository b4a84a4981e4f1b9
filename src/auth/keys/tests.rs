use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::time::{SimClock, SystemClock};

const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kinesisvideo:*","Resource":"*"}]}"#;

async fn store(dir: &Path, clock: Arc<dyn crate::time::Clock>) -> Store {
    Store::open(crate::auth::test_store_options(dir), clock)
        .await
        .unwrap()
}

fn spec(name: &str) -> KeySpec {
    KeySpec {
        name: name.to_owned(),
        policy_json: POLICY.to_owned(),
        expires: None,
        temporary: false,
        created_by: "root".to_owned(),
    }
}

#[tokio::test]
async fn create_list_get_disable_delete() {
    let dir = tempfile::tempdir().unwrap();
    let keys = KeyStore::open(
        store(dir.path(), Arc::new(SystemClock)).await,
        KeyStoreOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(keys.list().await.unwrap(), vec![]);
    let b = keys.create(spec("b-cam")).await.unwrap();
    let a = keys.create(spec("a-ci")).await.unwrap();
    assert!(a.info.access_key_id.starts_with("VSAK"));
    assert_eq!(a.info.access_key_id.len(), 20);
    assert_eq!(a.secret_access_key.expose().len(), 40);
    assert!(a.session_token.is_none() && !a.info.temporary);
    assert_eq!(a.info.status, KeyStatus::Active);
    assert_eq!(a.info.created_by, "root");

    let listed = keys.list().await.unwrap();
    assert_eq!(listed, vec![a.info.clone(), b.info.clone()], "by name");
    assert_eq!(keys.get(&b.info.access_key_id).await.unwrap(), b.info);
    // No secret in any listing or Debug string.
    let shown = format!(
        "{listed:?} {a:?} {keys:?} {:?} {:?}",
        keys.lookup(&a.info.access_key_id).await.unwrap(),
        keys.lookup(keys.root_access_key_id()).await.unwrap()
    );
    for secret in [&a, &b].map(|k| k.secret_access_key.expose().to_owned()) {
        assert!(!shown.contains(&secret), "secret shown: {shown}");
    }
    let root_secret = keys
        .lookup(keys.root_access_key_id())
        .await
        .unwrap()
        .unwrap();
    assert!(!shown.contains(root_secret.secret()));

    // The secret opens for lookup.
    let r = keys.lookup(&a.info.access_key_id).await.unwrap().unwrap();
    assert_eq!(r.secret(), a.secret_access_key.expose());
    assert_eq!(r.policy, KeyPolicy::Json(Arc::from(POLICY)));
    assert_eq!((r.name.as_str(), r.root), ("a-ci", false));
    assert!(r.session_token_matches(None));
    assert!(!r.session_token_matches(Some("VSSTsomething")));

    // Disabling takes effect at once through this store, and can be undone.
    let id = a.info.access_key_id.clone();
    keys.set_status(&id, KeyStatus::Inactive).await.unwrap();
    assert!(keys.lookup(&id).await.unwrap().is_none());
    assert_eq!(keys.get(&id).await.unwrap().status, KeyStatus::Inactive);
    keys.set_status(&id, KeyStatus::Active).await.unwrap();
    assert!(keys.lookup(&id).await.unwrap().is_some());

    keys.delete(&id).await.unwrap();
    assert!(keys.lookup(&id).await.unwrap().is_none());
    assert!(matches!(
        keys.get(&id).await,
        Err(KeyError::Store(StoreError::AccessKeyNotFound(_)))
    ));
    assert!(matches!(
        keys.delete(&id).await,
        Err(KeyError::Store(StoreError::AccessKeyNotFound(_)))
    ));
    assert!(matches!(
        keys.set_status(&id, KeyStatus::Active).await,
        Err(KeyError::Store(StoreError::AccessKeyNotFound(_)))
    ));
    assert_eq!(keys.list().await.unwrap(), vec![b.info]);
}

#[tokio::test]
async fn names_policies_and_expiries_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let keys = KeyStore::open(
        store(dir.path(), Arc::new(SystemClock)).await,
        KeyStoreOptions::default(),
    )
    .await
    .unwrap();
    keys.create(spec("ops")).await.unwrap();
    let e = keys.create(spec("ops")).await.unwrap_err();
    assert!(
        matches!(&e, KeyError::Store(StoreError::AccessKeyNameTaken(n)) if n == "ops"),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::ResourceInUse);
    for bad in ["", "a b", "root", "ROOT", &"x".repeat(129)] {
        let e = keys.create(spec(bad)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}: {e}");
    }
    for policy in [String::new(), "x".repeat(MAX_POLICY_BYTES + 1)] {
        let e = keys
            .create(KeySpec {
                policy_json: policy,
                ..spec("p")
            })
            .await
            .unwrap_err();
        assert!(matches!(e, KeyError::Invalid(_)), "{e}");
    }
    let e = keys
        .create(KeySpec {
            temporary: true,
            ..spec("t")
        })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("needs an expiry"), "{e}");
    let e = keys
        .create(KeySpec {
            expires: Some(ServerTime(1000)),
            ..spec("t")
        })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not in the future"), "{e}");
    // The root key is not stored: it cannot be changed here.
    let root = keys.root_access_key_id().to_owned();
    assert!(matches!(keys.get(&root).await, Err(KeyError::RootKey(_))));
    assert!(matches!(
        keys.delete(&root).await,
        Err(KeyError::RootKey(_))
    ));
    assert!(matches!(
        keys.set_status(&root, KeyStatus::Inactive).await,
        Err(KeyError::RootKey(_))
    ));
    assert_eq!(keys.list().await.unwrap().len(), 1);
}

#[tokio::test]
async fn temporary_keys_expire_and_are_purged() {
    let dir = tempfile::tempdir().unwrap();
    let clock = SimClock::new(ServerTime(1_700_000_000_000));
    let keys = KeyStore::open(
        store(dir.path(), Arc::new(clock.clone())).await,
        KeyStoreOptions::default(),
    )
    .await
    .unwrap();
    let t = keys
        .create(KeySpec {
            temporary: true,
            expires: Some(ServerTime(1_700_000_060_000)),
            ..spec("session-1")
        })
        .await
        .unwrap();
    let id = t.info.access_key_id.clone();
    assert!(id.starts_with("VSTK"), "{id}");
    assert!(t.info.temporary);
    let token = t
        .session_token
        .clone()
        .expect("a temporary key has a token");
    assert!(token.expose().starts_with("VSST"));
    let r = keys.lookup(&id).await.unwrap().expect("valid until expiry");
    assert_eq!(r.expires_ms, Some(1_700_000_060_000));
    assert!(r.session_token_matches(Some(token.expose())));
    assert!(!r.session_token_matches(None), "the token is required");
    assert!(!r.session_token_matches(Some("VSSTwrong")));
    assert!(!format!("{t:?} {r:?}").contains(token.expose()));

    clock.advance_ms(59_999);
    let r = keys.lookup(&id).await.unwrap().expect("still valid");
    assert!(!r.expired_at(crate::time::Clock::now(&clock).millis()));
    clock.advance_ms(1);
    let r = keys
        .lookup(&id)
        .await
        .unwrap()
        .expect("an expired key is still found");
    assert!(
        r.expired_at(crate::time::Clock::now(&clock).millis()),
        "expired, though still cached: the caller answers ExpiredToken"
    );
    assert_eq!(keys.list().await.unwrap().len(), 1, "kept until purged");
    let long = keys.create(spec("long")).await.unwrap();
    assert_eq!(keys.purge_expired().await.unwrap(), vec![id.clone()]);
    assert_eq!(keys.list().await.unwrap(), vec![long.info]);
    assert!(keys.lookup(&id).await.unwrap().is_none());
}

/// Two key stores on one index stand for two nodes: a change made through one is seen by the
/// other once its cached entry is older than the TTL.
#[tokio::test]
async fn other_nodes_see_changes_within_the_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), Arc::new(SystemClock)).await;
    let ttl = Duration::from_millis(300);
    let opts = KeyStoreOptions {
        cache_ttl: ttl,
        ..KeyStoreOptions::default()
    };
    let a = KeyStore::open(s.clone(), opts.clone()).await.unwrap();
    let b = KeyStore::open(s, opts).await.unwrap();
    assert_eq!(a.root_access_key_id(), b.root_access_key_id());
    let k = a.create(spec("shared")).await.unwrap();
    let id = k.info.access_key_id;
    assert!(b.lookup(&id).await.unwrap().is_some(), "b reads the index");
    a.set_status(&id, KeyStatus::Inactive).await.unwrap();
    assert!(a.lookup(&id).await.unwrap().is_none(), "at once on a");
    assert!(
        b.lookup(&id).await.unwrap().is_some(),
        "b still trusts its cache"
    );
    tokio::time::sleep(ttl + Duration::from_millis(50)).await;
    assert!(
        b.lookup(&id).await.unwrap().is_none(),
        "b re-read the index"
    );
    // Unknown ids of our shape are cached as absent; other shapes never reach the cache.
    let before = b.cached_entries();
    assert!(b.lookup("VSAKAAAAAAAAAAAAAAAA").await.unwrap().is_none());
    assert_eq!(b.cached_entries(), before + 1);
    for junk in ["AKIAIOSFODNN7EXAMPLE", "", "VSRKAAAAAAAAAAAAAAAA", "x"] {
        assert!(b.lookup(junk).await.unwrap().is_none(), "{junk}");
    }
    assert_eq!(b.cached_entries(), before + 1);
}

#[tokio::test]
async fn root_credentials_are_generated_once_and_a_configured_root_wins() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), Arc::new(SystemClock)).await;
    let keys = KeyStore::open(s.clone(), KeyStoreOptions::default())
        .await
        .unwrap();
    let path = dir.path().join("root-credentials");
    assert_eq!(keys.root_source(), &RootSource::Generated(path.clone()));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("# vidstream root credentials, made "),
        "{text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let from_file = RootKey::parse_credentials_file(&text).unwrap();
    assert_eq!(from_file.access_key_id(), keys.root_access_key_id());
    assert!(keys.root_access_key_id().starts_with("VSRK"));
    let root = keys
        .lookup(keys.root_access_key_id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(root.secret(), from_file.secret().expose());
    assert!(root.root && root.policy == KeyPolicy::Admin && root.policy.json().is_none());

    // A second start reads the same file back.
    let again = KeyStore::open(s.clone(), KeyStoreOptions::default())
        .await
        .unwrap();
    assert_eq!(again.root_source(), &RootSource::File(path.clone()));
    assert_eq!(again.root_access_key_id(), keys.root_access_key_id());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "unchanged");

    // A configured root wins; the file's key is then not accepted.
    let configured = RootKey::new(
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    )
    .unwrap();
    let keys = KeyStore::open(
        s,
        KeyStoreOptions {
            root: Some(configured),
            ..KeyStoreOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(keys.root_source(), &RootSource::Config);
    let r = keys.lookup("AKIAIOSFODNN7EXAMPLE").await.unwrap().unwrap();
    assert_eq!(r.secret(), "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    assert!(
        keys.lookup(from_file.access_key_id())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_damaged_root_credentials_file_is_refused_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("root-credentials");
    let damaged = "[default]\naws_access_key_id = VSRKAAAAAAAAAAAAAAAA\n";
    std::fs::write(&path, damaged).unwrap();
    let e = KeyStore::open(
        store(dir.path(), Arc::new(SystemClock)).await,
        KeyStoreOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, KeyError::Root(_)), "{e}");
    assert!(e.to_string().contains("root-credentials"), "{e}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), damaged);
}

#[tokio::test]
async fn the_master_key_must_open_the_stored_keys() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), Arc::new(SystemClock)).await;
    let other = MasterKey::from_bytes(&[9; 32]).unwrap();
    // With no stored key, any master key will do.
    KeyStore::open(
        s.clone(),
        KeyStoreOptions {
            master_key: Some(other.clone()),
            ..KeyStoreOptions::default()
        },
    )
    .await
    .unwrap();
    let keys = KeyStore::open(s.clone(), KeyStoreOptions::default())
        .await
        .unwrap();
    assert!(matches!(keys.master_key_source(), MasterKeySource::File(_)));
    keys.create(spec("k")).await.unwrap();
    let e = KeyStore::open(
        s,
        KeyStoreOptions {
            master_key: Some(other),
            ..KeyStoreOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(e, KeyError::WrongMasterKey { .. }), "{e}");
    assert!(e.to_string().contains("master.key"), "{e}");
}

/// A sealed secret moved onto another row (by someone with write access to the database) does
/// not open there: the seal is bound to the key id.
#[tokio::test]
async fn a_secret_pasted_onto_another_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let keys = KeyStore::open(
        store(dir.path(), Arc::new(SystemClock)).await,
        KeyStoreOptions::default(),
    )
    .await
    .unwrap();
    let a = keys.create(spec("a")).await.unwrap().info.access_key_id;
    let b = keys.create(spec("b")).await.unwrap().info.access_key_id;
    let conn = rusqlite::Connection::open(dir.path().join("index.sqlite")).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute(
        "UPDATE access_keys SET secret_sealed =
           (SELECT secret_sealed FROM access_keys WHERE access_key_id = ?1)
         WHERE access_key_id = ?2",
        [&a, &b],
    )
    .unwrap();
    assert!(keys.lookup(&a).await.unwrap().is_some());
    match keys.lookup(&b).await {
        Err(KeyError::Seal(SealError::Mismatch { id, .. })) => assert_eq!(id, b),
        other => panic!("expected a seal mismatch, got {other:?}"),
    }
}
