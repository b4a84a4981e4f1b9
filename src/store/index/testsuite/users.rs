//! Conformance cases for web UI users and sessions (see `super::run`).

use crate::store::StoreError;
use crate::store::index::{Index, LoginFailures, UiSessionRow, UserChanges, UserRow, UserStatus};

fn user(name: &str) -> UserRow {
    UserRow {
        name: name.to_owned(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$hash-of-{name}"),
        policy: r#"{"Statement":[]}"#.to_owned(),
        status: UserStatus::Active,
        created_ms: 1_700_000_000_000,
        failed_logins: 0,
        locked_until_ms: None,
    }
}

fn session(id: u8, user: &str, last_seen_ms: i64, expires_ms: i64) -> UiSessionRow {
    UiSessionRow {
        id_sha256: [id; 32],
        user: user.to_owned(),
        csrf_token: format!("csrf-{id}"),
        created_ms: 1_000,
        last_seen_ms,
        expires_ms,
    }
}

/// Insert, get, list by name, unique names, updates (each field alone, all at once), delete.
pub(super) async fn users_crud(index: &dyn Index) {
    assert_eq!(index.list_users().await.expect("list"), vec![]);
    let b = user("ts-user-b");
    let a = UserRow {
        failed_logins: 2,
        locked_until_ms: Some(5),
        status: UserStatus::Inactive,
        ..user("ts-user-a")
    };
    index.insert_user(b.clone()).await.expect("insert b");
    index.insert_user(a.clone()).await.expect("insert a");
    assert_eq!(
        index.user("ts-user-a").await.expect("get"),
        Some(a.clone()),
        "every field round-trips"
    );
    assert_eq!(index.user("nobody").await.expect("get"), None);
    assert_eq!(
        index.list_users().await.expect("list"),
        vec![a.clone(), b.clone()],
        "ordered by name"
    );
    assert!(matches!(
        index.insert_user(user("ts-user-b")).await,
        Err(StoreError::UserExists(n)) if n == "ts-user-b"
    ));

    // A change touches only what it names.
    let got = index
        .update_user(
            "ts-user-b",
            UserChanges {
                policy: Some("{}".into()),
                ..Default::default()
            },
        )
        .await
        .expect("policy");
    assert_eq!(
        got,
        UserRow {
            policy: "{}".into(),
            ..b.clone()
        }
    );
    let got = index
        .update_user(
            "ts-user-a",
            UserChanges {
                password_hash: Some("$argon2id$new".into()),
                status: Some(UserStatus::Active),
                reset_failures: true,
                ..Default::default()
            },
        )
        .await
        .expect("password, status, reset");
    assert_eq!(
        got,
        UserRow {
            password_hash: "$argon2id$new".into(),
            status: UserStatus::Active,
            failed_logins: 0,
            locked_until_ms: None,
            ..a.clone()
        }
    );
    assert_eq!(index.user("ts-user-a").await.expect("get"), Some(got));
    assert!(matches!(
        index.update_user("nobody", UserChanges::default()).await,
        Err(StoreError::UserNotFound(n)) if n == "nobody"
    ));

    index.delete_user("ts-user-a").await.expect("delete");
    assert!(matches!(
        index.delete_user("ts-user-a").await,
        Err(StoreError::UserNotFound(_))
    ));
    index.delete_user("ts-user-b").await.expect("delete");
    assert_eq!(index.list_users().await.expect("list"), vec![]);
    assert!(
        !format!("{b:?}").contains("hash-of"),
        "Debug hides the hash"
    );
}

/// Failed logins count up, lock at the limit and start again; a reset clears both.
pub(super) async fn login_failures_lock_at_the_limit(index: &dyn Index) {
    index.insert_user(user("ts-locked")).await.expect("insert");
    for n in 1..=2 {
        assert_eq!(
            index
                .record_login_failure("ts-locked", 3, 9_000)
                .await
                .expect("failure"),
            Some(LoginFailures {
                failed_logins: n,
                locked_until_ms: None
            })
        );
    }
    assert_eq!(
        index
            .record_login_failure("ts-locked", 3, 9_000)
            .await
            .expect("third failure"),
        Some(LoginFailures {
            failed_logins: 0,
            locked_until_ms: Some(9_000)
        }),
        "the third failure locks and the count starts again"
    );
    let row = index.user("ts-locked").await.expect("get").expect("exists");
    assert_eq!((row.failed_logins, row.locked_until_ms), (0, Some(9_000)));
    // A failure after the lock counts again without moving the lock.
    assert_eq!(
        index
            .record_login_failure("ts-locked", 3, 20_000)
            .await
            .expect("failure"),
        Some(LoginFailures {
            failed_logins: 1,
            locked_until_ms: Some(9_000)
        })
    );
    assert_eq!(
        index
            .record_login_failure("nobody", 3, 9_000)
            .await
            .expect("unknown"),
        None
    );
    let row = index
        .update_user(
            "ts-locked",
            UserChanges {
                reset_failures: true,
                ..Default::default()
            },
        )
        .await
        .expect("reset");
    assert_eq!((row.failed_logins, row.locked_until_ms), (0, None));
    index.delete_user("ts-locked").await.expect("delete");
}

/// Sessions: insert, get, touch, delete, the expiry purge (absolute and idle), and their end
/// with their user (delete, `end_sessions`).
pub(super) async fn ui_sessions_lifecycle(index: &dyn Index) {
    assert!(matches!(
        index.insert_ui_session(session(1, "nobody", 0, 10)).await,
        Err(StoreError::UserNotFound(n)) if n == "nobody"
    ));
    index.insert_user(user("ts-s1")).await.expect("insert");
    index.insert_user(user("ts-s2")).await.expect("insert");
    let s1 = session(1, "ts-s1", 1_000, 50_000);
    index.insert_ui_session(s1.clone()).await.expect("insert");
    assert_eq!(
        index.ui_session([1; 32]).await.expect("get"),
        Some(s1.clone())
    );
    assert_eq!(index.ui_session([9; 32]).await.expect("get"), None);
    assert!(index.touch_ui_session([1; 32], 2_000).await.expect("touch"));
    assert!(!index.touch_ui_session([9; 32], 2_000).await.expect("touch"));
    assert_eq!(
        index
            .ui_session([1; 32])
            .await
            .expect("get")
            .map(|s| s.last_seen_ms),
        Some(2_000)
    );
    assert!(index.delete_ui_session([1; 32]).await.expect("delete"));
    assert!(!index.delete_ui_session([1; 32]).await.expect("again"));

    // The purge: absolute expiry at or before now, or last use at or before the idle cutoff.
    for s in [
        session(2, "ts-s1", 8_000, 10_000), // expires at 10 000
        session(3, "ts-s1", 4_000, 90_000), // idle since 4 000
        session(4, "ts-s1", 5_000, 90_000), // used at 5 000
    ] {
        index.insert_ui_session(s).await.expect("insert");
    }
    assert_eq!(
        index
            .delete_expired_ui_sessions(9_999, 3_999)
            .await
            .expect("purge"),
        0
    );
    assert_eq!(
        index
            .delete_expired_ui_sessions(10_000, 4_000)
            .await
            .expect("purge"),
        2
    );
    assert!(index.ui_session([4; 32]).await.expect("get").is_some());

    // A user's sessions end with `end_sessions` and with the user; others' stay.
    index
        .insert_ui_session(session(5, "ts-s2", 5_000, 90_000))
        .await
        .expect("insert");
    index
        .update_user(
            "ts-s1",
            UserChanges {
                policy: Some("{}".into()),
                ..Default::default()
            },
        )
        .await
        .expect("policy");
    assert!(
        index.ui_session([4; 32]).await.expect("get").is_some(),
        "a change without end_sessions keeps them"
    );
    index
        .update_user(
            "ts-s1",
            UserChanges {
                end_sessions: true,
                ..Default::default()
            },
        )
        .await
        .expect("end sessions");
    assert_eq!(index.ui_session([4; 32]).await.expect("get"), None);
    index.delete_user("ts-s2").await.expect("delete");
    assert_eq!(
        index.ui_session([5; 32]).await.expect("get"),
        None,
        "sessions go with their user"
    );
    index.delete_user("ts-s1").await.expect("delete");
    assert!(
        !format!("{s1:?}").contains("csrf-1"),
        "Debug hides the token"
    );
}
