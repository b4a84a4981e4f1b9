use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use super::*;
use crate::auth::audit::AuditLog;
use crate::time::{ServerTime, SimClock};

const POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
/// Cheap parameters for tests that are not about the cost.
const CHEAP: HashParams = HashParams {
    m_kib: 64,
    t: 1,
    p: 1,
};

async fn users_at(dir: &Path, clock: SimClock, options: UserStoreOptions) -> UserStore {
    let store = Store::open(crate::auth::test_store_options(dir), Arc::new(clock))
        .await
        .unwrap();
    UserStore::new(store, options, AuditLog::system())
        .await
        .unwrap()
}

fn cheap() -> UserStoreOptions {
    UserStoreOptions {
        hash: CHEAP,
        failure_floor: std::time::Duration::ZERO,
        ..Default::default()
    }
}

fn secret(s: &str) -> SecretText {
    SecretText::new(s)
}

fn new_user(name: &str, password: &str) -> NewUser {
    NewUser {
        name: name.to_owned(),
        password: secret(password),
        policy_json: POLICY.to_owned(),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn hash_and_verify() {
    let h = hash_password(CHEAP, "correct horse battery").unwrap();
    assert!(h.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{h}");
    assert!(verify_password("correct horse battery", &h).unwrap());
    assert!(!verify_password("correct horse batterY", &h).unwrap());
    let again = hash_password(CHEAP, "correct horse battery").unwrap();
    assert_ne!(h, again, "a new salt every time");
    assert!(!needs_rehash(&h, CHEAP));
    assert!(needs_rehash(&h, HashParams::OWASP));
    assert!(verify_password("x", "not a PHC string").is_err());
    // The real parameters, once: the string names them.
    let owasp = hash_password(HashParams::OWASP, "correct horse battery").unwrap();
    assert!(
        owasp.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{owasp}"
    );
    assert!(verify_password("correct horse battery", &owasp).unwrap());
}

#[tokio::test]
async fn create_list_update_delete_without_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let users = users_at(dir.path(), SimClock::new(ServerTime(1_000)), cheap()).await;
    let b = users
        .create(new_user("bob", "bob's long password"))
        .await
        .unwrap();
    let a = users
        .create(new_user("ann", "ann's long password"))
        .await
        .unwrap();
    assert_eq!(a.status, UserStatus::Active);
    assert_eq!(a.created_ms, 1_000);
    assert_eq!(users.list().await.unwrap(), vec![a.clone(), b.clone()]);
    assert_eq!(users.get("bob").await.unwrap(), b);
    assert!(matches!(
        users.create(new_user("bob", "another long password")).await,
        Err(UserError::Store(StoreError::UserExists(_)))
    ));
    assert!(matches!(
        users.get("nobody").await,
        Err(UserError::Store(StoreError::UserNotFound(_)))
    ));
    // Rules: names, password length in characters, policy size.
    for (name, password) in [
        ("bad name", "long enough password"),
        ("", "long enough password"),
        ("carl", "elevenchars"),
        ("carl", &"x".repeat(1025)),
    ] {
        let e = users.create(new_user(name, password)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{name} {e}");
    }
    users
        .create(new_user("carl", "twelve chars"))
        .await
        .unwrap();
    users
        .create(new_user("dora", &"é".repeat(12)))
        .await
        .expect("12 characters of 2 bytes");
    users
        .create(new_user("emil", &"x".repeat(1024)))
        .await
        .unwrap();
    let e = users
        .create(NewUser {
            policy_json: " ".into(),
            ..new_user("fred", "long enough password")
        })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("policy"), "{e}");

    let changed = users
        .update(
            "bob",
            UserUpdate {
                policy_json: Some("{}".into()),
                status: Some(UserStatus::Inactive),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (changed.policy_json.as_str(), changed.status),
        ("{}", UserStatus::Inactive)
    );
    let e = users
        .update(
            "bob",
            UserUpdate {
                password: Some(secret("short")),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let before = users.changes();
    users.delete("bob").await.unwrap();
    assert!(users.changes() > before, "changes are counted");
    assert!(matches!(
        users.delete("bob").await,
        Err(UserError::Store(StoreError::UserNotFound(_)))
    ));
    let shown = format!("{:?} {users:?}", users.list().await.unwrap());
    assert!(
        !shown.contains("argon2") && !shown.contains("password"),
        "{shown}"
    );
}

#[tokio::test]
async fn five_failures_lock_even_the_right_password_until_the_lock_ends() {
    let dir = tempfile::tempdir().unwrap();
    let clock = SimClock::new(ServerTime(1_000_000));
    let users = users_at(dir.path(), clock.clone(), cheap()).await;
    users
        .create(new_user("ann", "the right password"))
        .await
        .unwrap();
    let right = secret("the right password");
    let wrong = secret("the wrong password");
    let client = ip("192.0.2.1");
    for _ in 0..5 {
        assert!(matches!(
            users.authenticate("ann", &wrong, client).await,
            Err(LoginError::BadCredentials)
        ));
    }
    let e = users.authenticate("ann", &right, client).await.unwrap_err();
    assert!(
        matches!(
            e,
            LoginError::Locked {
                retry_after_secs: 900
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.kind(), ErrorKind::ClientLimitExceeded);
    assert_eq!(e.retry_after_secs(), Some(900));
    let listed = users.get("ann").await.unwrap();
    assert_eq!(listed.locked_until_ms, Some(1_000_000 + 900_000));
    clock.advance_ms(899_999);
    assert!(matches!(
        users.authenticate("ann", &right, client).await,
        Err(LoginError::Locked {
            retry_after_secs: 1
        })
    ));
    clock.advance_ms(1);
    let ok = users.authenticate("ann", &right, client).await.unwrap();
    assert_eq!((ok.failed_logins, ok.locked_until_ms), (0, None));
}

#[tokio::test]
async fn a_success_resets_the_count_and_an_admin_change_unlocks() {
    let dir = tempfile::tempdir().unwrap();
    let users = users_at(dir.path(), SimClock::new(ServerTime(0)), cheap()).await;
    users
        .create(new_user("ann", "the right password"))
        .await
        .unwrap();
    let (right, wrong) = (secret("the right password"), secret("nope nope nope"));
    let client = ip("192.0.2.2");
    for _ in 0..4 {
        assert!(users.authenticate("ann", &wrong, client).await.is_err());
    }
    assert_eq!(users.get("ann").await.unwrap().failed_logins, 4);
    users.authenticate("ann", &right, client).await.unwrap();
    assert_eq!(users.get("ann").await.unwrap().failed_logins, 0);
    let other = ip("192.0.2.3"); // the first address has used its 10 attempts
    for _ in 0..5 {
        assert!(users.authenticate("ann", &wrong, other).await.is_err());
    }
    assert!(users.get("ann").await.unwrap().locked_until_ms.is_some());
    // Enabling (status Active) clears the lock; so does a new password.
    users
        .update(
            "ann",
            UserUpdate {
                status: Some(UserStatus::Active),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    users.authenticate("ann", &right, other).await.unwrap();
}

#[tokio::test]
async fn unknown_names_and_inactive_users_answer_like_a_wrong_password() {
    let dir = tempfile::tempdir().unwrap();
    let users = users_at(dir.path(), SimClock::new(ServerTime(0)), cheap()).await;
    users
        .create(new_user("ann", "the right password"))
        .await
        .unwrap();
    users
        .update(
            "ann",
            UserUpdate {
                status: Some(UserStatus::Inactive),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let right = secret("the right password");
    let e = users
        .authenticate("ann", &right, ip("192.0.2.4"))
        .await
        .unwrap_err();
    assert!(matches!(e, LoginError::BadCredentials), "{e:?}");
    assert_eq!(e.to_string(), "wrong user name or password");
    assert_eq!(e.kind(), ErrorKind::NotAuthorized);
    assert_eq!(
        users.get("ann").await.unwrap().failed_logins,
        0,
        "the right password of an inactive user is not a failure"
    );
    // An unknown name: the same answer, and the same lock after five.
    let client = ip("192.0.2.5");
    for _ in 0..5 {
        let e = users
            .authenticate("ghost", &right, client)
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "wrong user name or password");
    }
    assert!(matches!(
        users.authenticate("ghost", &right, client).await,
        Err(LoginError::Locked { .. })
    ));
    // Nonsense names are unknown names, not errors.
    assert!(matches!(
        users.authenticate("no such/name", &right, client).await,
        Err(LoginError::BadCredentials)
    ));
}

#[tokio::test]
async fn addresses_are_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let clock = SimClock::new(ServerTime(0));
    let users = users_at(dir.path(), clock.clone(), cheap()).await;
    users
        .create(new_user("ann", "the right password"))
        .await
        .unwrap();
    let right = secret("the right password");
    let client = ip("198.51.100.7");
    for _ in 0..LOGIN_BURST {
        users.authenticate("ann", &right, client).await.unwrap();
    }
    let e = users.authenticate("ann", &right, client).await.unwrap_err();
    assert!(
        matches!(
            e,
            LoginError::RateLimited {
                retry_after_secs: 6
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.kind(), ErrorKind::ClientLimitExceeded);
    users
        .authenticate("ann", &right, ip("198.51.100.8"))
        .await
        .expect("another address");
    clock.advance_ms(6_000);
    users
        .authenticate("ann", &right, client)
        .await
        .expect("refilled");
}

#[tokio::test]
async fn old_hashes_are_upgraded_at_login() {
    let dir = tempfile::tempdir().unwrap();
    let clock = SimClock::new(ServerTime(0));
    let store = Store::open(crate::auth::test_store_options(dir.path()), Arc::new(clock))
        .await
        .unwrap();
    let old = UserStore::new(store.clone(), cheap(), AuditLog::system())
        .await
        .unwrap();
    old.create(new_user("ann", "the right password"))
        .await
        .unwrap();
    let stronger = HashParams {
        m_kib: 128,
        t: 2,
        p: 1,
    };
    let users = UserStore::new(
        store.clone(),
        UserStoreOptions {
            hash: stronger,
            ..Default::default()
        },
        AuditLog::system(),
    )
    .await
    .unwrap();
    let right = secret("the right password");
    users
        .authenticate("ann", &right, ip("192.0.2.9"))
        .await
        .unwrap();
    let row = store.user("ann").await.unwrap().unwrap();
    assert!(
        row.password_hash.contains("m=128,t=2,p=1"),
        "{}",
        row.password_hash
    );
    users
        .authenticate("ann", &right, ip("192.0.2.9"))
        .await
        .unwrap();
}

/// A wrong user takes as long as a wrong password: both verify one hash of the same cost.
#[tokio::test]
async fn unknown_users_take_as_long_as_wrong_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let params = HashParams {
        m_kib: 8192,
        t: 2,
        p: 1,
    };
    let users = users_at(
        dir.path(),
        SimClock::new(ServerTime(0)),
        UserStoreOptions {
            hash: params,
            max_failures: 1000,
            burst: 1000,
            // Without the floor: this is about the hash alone.
            failure_floor: std::time::Duration::ZERO,
            ..Default::default()
        },
    )
    .await;
    users
        .create(new_user("ann", "the right password"))
        .await
        .unwrap();
    let wrong = secret("the wrong password");
    let median = |name: &'static str| {
        let users = users.clone();
        let wrong = wrong.clone();
        async move {
            let mut t = Vec::new();
            for _ in 0..5 {
                let start = Instant::now();
                let e = users.authenticate(name, &wrong, ip("192.0.2.10")).await;
                assert!(matches!(e, Err(LoginError::BadCredentials)));
                t.push(start.elapsed());
            }
            t.sort();
            t[2]
        }
    };
    let known = median("ann").await;
    let unknown = median("nobody").await;
    let ratio = unknown.as_secs_f64() / known.as_secs_f64();
    assert!(
        (0.33..3.0).contains(&ratio),
        "unknown {unknown:?} vs wrong password {known:?}"
    );
}

/// Refusals take at least the floor, whichever way they are wrong; successes do not wait.
#[tokio::test]
async fn refusals_are_answered_after_the_floor() {
    let dir = tempfile::tempdir().unwrap();
    let floor = std::time::Duration::from_millis(300);
    let users = users_at(
        dir.path(),
        SimClock::new(ServerTime(0)),
        UserStoreOptions {
            failure_floor: floor,
            ..cheap()
        },
    )
    .await;
    users
        .create(new_user("ann", "the right password"))
        .await
        .unwrap();
    for (name, password) in [
        ("ann", "the wrong password"),
        ("nobody", "the right password"),
    ] {
        let start = Instant::now();
        let e = users
            .authenticate(name, &secret(password), ip("192.0.2.11"))
            .await
            .unwrap_err();
        assert!(matches!(e, LoginError::BadCredentials));
        assert!(start.elapsed() >= floor, "{name}: {:?}", start.elapsed());
    }
    let start = Instant::now();
    users
        .authenticate("ann", &secret("the right password"), ip("192.0.2.11"))
        .await
        .unwrap();
    assert!(start.elapsed() < floor, "a success does not wait");
}
