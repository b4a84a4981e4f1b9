//! Conformance cases for the access keys (see `super::run`).

use crate::store::StoreError;
use crate::store::index::{AccessKeyRow, AccessKeyStatus, Index};

fn key(id: &str, name: &str, expires_ms: Option<i64>) -> AccessKeyRow {
    AccessKeyRow {
        access_key_id: id.to_owned(),
        name: name.to_owned(),
        sealed_secret: vec![1, 2, 3, 0, 255],
        status: AccessKeyStatus::Active,
        policy: r#"{"Statement":[]}"#.to_owned(),
        created_ms: 1_700_000_000_000,
        expires_ms,
        session_token_sha256: expires_ms.map(|_| [7; 32]),
        created_by: "root".to_owned(),
    }
}

/// Insert, get, list by name, unique ids and names, status, delete, and the expired purge.
pub(super) async fn access_keys_crud(index: &dyn Index) {
    assert_eq!(index.list_access_keys().await.expect("list"), vec![]);
    let b = key("VSAKBBBBBBBBBBBBBBBB", "ts-key-b", None);
    let a = key("VSTKAAAAAAAAAAAAAAAA", "ts-key-a", Some(1_700_000_060_000));
    index.insert_access_key(b.clone()).await.expect("insert b");
    index.insert_access_key(a.clone()).await.expect("insert a");
    assert_eq!(
        index.access_key(&a.access_key_id).await.expect("get"),
        Some(a.clone()),
        "every field round-trips"
    );
    assert_eq!(index.access_key("VSAKNOPE").await.expect("get"), None);
    assert_eq!(
        index.list_access_keys().await.expect("list"),
        vec![a.clone(), b.clone()],
        "ordered by name"
    );
    // Unique names and ids; a refused insert changes nothing.
    let same_name = key("VSAKCCCCCCCCCCCCCCCC", "ts-key-b", None);
    assert!(matches!(
        index.insert_access_key(same_name).await,
        Err(StoreError::AccessKeyNameTaken(n)) if n == "ts-key-b"
    ));
    let same_id = key("VSAKBBBBBBBBBBBBBBBB", "ts-key-c", None);
    assert!(matches!(
        index.insert_access_key(same_id).await,
        Err(StoreError::AccessKeyExists(id)) if id == "VSAKBBBBBBBBBBBBBBBB"
    ));
    assert_eq!(index.list_access_keys().await.expect("list").len(), 2);

    index
        .set_access_key_status(&b.access_key_id, AccessKeyStatus::Inactive)
        .await
        .expect("disable");
    let got = index.access_key(&b.access_key_id).await.expect("get");
    assert_eq!(got.map(|k| k.status), Some(AccessKeyStatus::Inactive));
    assert!(matches!(
        index
            .set_access_key_status("VSAKNOPE", AccessKeyStatus::Active)
            .await,
        Err(StoreError::AccessKeyNotFound(_))
    ));

    // The purge takes keys expired at `now` (inclusive) and nothing else.
    assert_eq!(
        index
            .delete_expired_access_keys(1_700_000_059_999)
            .await
            .expect("purge"),
        Vec::<String>::new()
    );
    assert_eq!(
        index
            .delete_expired_access_keys(1_700_000_060_000)
            .await
            .expect("purge"),
        vec![a.access_key_id.clone()]
    );
    assert_eq!(index.access_key(&a.access_key_id).await.expect("get"), None);

    index
        .delete_access_key(&b.access_key_id)
        .await
        .expect("delete");
    assert!(matches!(
        index.delete_access_key(&b.access_key_id).await,
        Err(StoreError::AccessKeyNotFound(_))
    ));
    assert_eq!(index.list_access_keys().await.expect("list"), vec![]);
    // A deleted key's name is free again.
    index
        .insert_access_key(key("VSAKDDDDDDDDDDDDDDDD", "ts-key-b", None))
        .await
        .expect("name reused");
    index
        .delete_access_key("VSAKDDDDDDDDDDDDDDDD")
        .await
        .expect("delete");
    assert!(!format!("{a:?}").contains("[7, 7"), "Debug hides the hash");
}
