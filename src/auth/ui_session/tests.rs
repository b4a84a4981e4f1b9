use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::*;
use crate::auth::users::{HashParams, NewUser, UserStoreOptions, UserUpdate};
use crate::time::{ServerTime, SimClock};

const ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
const UI_ONLY: &str =
    r#"{"Statement":[{"Effect":"Allow","Action":"vidstream:UseWebUI","Resource":"*"}]}"#;
const PASSWORD: &str = "the right password";
const MIN: i64 = 60_000;

struct Fixture {
    clock: SimClock,
    store: Store,
    ui: UiSessions,
}

async fn fixture(dir: &Path) -> Fixture {
    let clock = SimClock::new(ServerTime(1_700_000_000_000));
    let store = Store::open(
        crate::auth::test_store_options(dir),
        Arc::new(clock.clone()),
    )
    .await
    .unwrap();
    let ui = node(&store).await;
    ui.users()
        .create(NewUser {
            name: "ann".into(),
            password: SecretText::new(PASSWORD),
            policy_json: ADMIN.into(),
        })
        .await
        .unwrap();
    Fixture { clock, store, ui }
}

/// Sessions of one node over `store` (a second call is a second node: its own cache).
async fn node(store: &Store) -> UiSessions {
    let users = UserStore::new(
        store.clone(),
        UserStoreOptions {
            hash: HashParams {
                m_kib: 64,
                t: 1,
                p: 1,
            },
            failure_floor: Duration::ZERO,
            ..Default::default()
        },
        crate::auth::audit::AuditLog::system(),
    )
    .await
    .unwrap();
    UiSessions::new(store.clone(), users, UiSessionOptions::default())
}

fn client() -> IpAddr {
    "192.0.2.1".parse().unwrap()
}

async fn login(ui: &UiSessions) -> LoggedIn {
    ui.login("ann", &SecretText::new(PASSWORD), client())
        .await
        .unwrap()
}

#[tokio::test]
async fn state_changing_requests_need_the_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(dir.path()).await;
    let s = login(&f.ui).await;
    let id = s.session_id.expose();
    assert_eq!(id.len(), 43);
    let csrf = s.principal.csrf_token.clone();
    assert_eq!(csrf.len(), 43);
    assert_ne!(csrf, id);
    assert_eq!(s.user.name, "ann");
    assert_eq!(&*s.principal.policy_json, ADMIN);

    let p =
        f.ui.principal(id, None, false)
            .await
            .expect("a GET needs no token");
    assert_eq!(p.user, "ann");
    assert_eq!(p.csrf_token, csrf, "whoami can hand the token out again");
    for bad in [None, Some(""), Some("x"), Some(&csrf[..42])] {
        let e = f.ui.principal(id, bad, true).await.unwrap_err();
        assert!(matches!(e, UiAuthError::Csrf), "{bad:?}: {e:?}");
        assert_eq!(e.kind(), ErrorKind::NotAuthorized);
        assert!(e.to_string().contains("x-csrf-token"));
    }
    f.ui.principal(id, Some(&csrf), true)
        .await
        .expect("with the token");

    // Unknown and malformed ids: no session.
    for bad in ["", "nope", &"A".repeat(43), &format!("{}!", &id[..42])] {
        assert!(matches!(
            f.ui.principal(bad, Some(&csrf), true).await,
            Err(UiAuthError::NoSession)
        ));
    }
    assert!(
        !format!("{p:?} {s:?}").contains(&csrf),
        "Debug hides the token"
    );
}

#[tokio::test]
async fn only_the_hash_of_the_session_id_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(dir.path()).await;
    let s = login(&f.ui).await;
    let id = s.session_id.expose();
    let hash: [u8; 32] = Sha256::digest(id.as_bytes()).into();
    let row = f
        .store
        .ui_session(hash)
        .await
        .unwrap()
        .expect("stored by hash");
    assert_eq!(row.user, "ann");
    assert_eq!(row.expires_ms - row.created_ms, 12 * 3600 * 1000);
    f.store.close().await.unwrap();
    let mut bytes = std::fs::read(dir.path().join("index.sqlite")).unwrap();
    bytes.extend(std::fs::read(dir.path().join("index.sqlite-wal")).unwrap_or_default());
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(id), "the session id is in the index file");
}

#[tokio::test]
async fn sessions_end_when_idle() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(dir.path()).await;
    let s = login(&f.ui).await;
    let id = s.session_id.expose();
    // Used every 29 minutes, it lives on; its expiry moves with each use.
    for _ in 0..4 {
        f.clock.advance_ms(29 * MIN);
        let p = f.ui.principal(id, None, false).await.expect("still alive");
        assert_eq!(p.expires_ms, f.store.now().millis() + 30 * MIN);
    }
    // 30 minutes unused: gone, and deleted from the index.
    f.clock.advance_ms(30 * MIN);
    assert!(matches!(
        f.ui.principal(id, None, false).await,
        Err(UiAuthError::NoSession)
    ));
    let hash: [u8; 32] = Sha256::digest(id.as_bytes()).into();
    assert_eq!(f.store.ui_session(hash).await.unwrap(), None);
}

#[tokio::test]
async fn sessions_end_at_their_absolute_expiry_however_busy() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(dir.path()).await;
    let s = login(&f.ui).await;
    let id = s.session_id.expose();
    for _ in 0..(12 * 60 / 20 - 1) {
        f.clock.advance_ms(20 * MIN);
        f.ui.principal(id, None, false).await.expect("within 12 h");
    }
    // 11 h 40 min in: the expiry the UI is told is the absolute one now.
    let p = f.ui.principal(id, None, false).await.unwrap();
    assert_eq!(p.expires_ms, 1_700_000_000_000 + 12 * 60 * MIN);
    f.clock.advance_ms(20 * MIN);
    assert!(matches!(
        f.ui.principal(id, None, false).await,
        Err(UiAuthError::NoSession)
    ));
}

#[tokio::test]
async fn last_use_is_written_back_at_most_once_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(dir.path()).await;
    let s = login(&f.ui).await;
    let id = s.session_id.expose();
    let hash: [u8; 32] = Sha256::digest(id.as_bytes()).into();
    let stored = || async {
        f.store
            .ui_session(hash)
            .await
            .unwrap()
            .unwrap()
            .last_seen_ms
    };
    let t0 = stored().await;
    for _ in 0..6 {
        f.clock.advance_ms(11_000); // past the revalidation: the index is read each time
        f.ui.principal(id, None, false).await.unwrap();
    }
    assert_eq!(
        stored().await,
        t0,
        "uses up to 66 s: the newest was 55 s ahead, not written"
    );
    f.clock.advance_ms(11_000);
    f.ui.principal(id, None, false).await.unwrap();
    assert_eq!(
        stored().await,
        t0 + 66_000,
        "the use seen a minute after the stored one is written"
    );
    assert_eq!(f.ui.cached(), 1);
}

#[tokio::test]
async fn logout_ends_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(dir.path()).await;
    let s = login(&f.ui).await;
    let other = login(&f.ui).await;
    let id = s.session_id.expose();
    assert!(matches!(
        f.ui.logout(id, None).await,
        Err(UiAuthError::Csrf)
    ));
    let p =
        f.ui.logout(id, Some(&s.principal.csrf_token))
            .await
            .unwrap();
    assert_eq!(p.user, "ann");
    assert!(matches!(
        f.ui.principal(id, None, false).await,
        Err(UiAuthError::NoSession)
    ));
    assert!(matches!(
        f.ui.logout(id, Some(&s.principal.csrf_token)).await,
        Err(UiAuthError::NoSession)
    ));
    f.ui.principal(other.session_id.expose(), None, false)
        .await
        .expect("another browser's session stays");
}

#[tokio::test]
async fn user_changes_end_or_change_sessions_at_once_here_and_within_10_s_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(dir.path()).await;
    let other_node = node(&f.store).await;
    let s = login(&f.ui).await;
    let id = s.session_id.expose();
    other_node
        .principal(id, None, false)
        .await
        .expect("any node");

    // A policy change: here at once, on the other node after the revalidation.
    f.ui.users()
        .update(
            "ann",
            UserUpdate {
                policy_json: Some(UI_ONLY.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let here = f.ui.principal(id, None, false).await.unwrap();
    assert_eq!(&*here.policy_json, UI_ONLY);
    let there = other_node.principal(id, None, false).await.unwrap();
    assert_eq!(&*there.policy_json, ADMIN, "cached on the other node");
    f.clock.advance_ms(10_000);
    let there = other_node.principal(id, None, false).await.unwrap();
    assert_eq!(&*there.policy_json, UI_ONLY);

    // Logout on one node: the other refuses after the revalidation.
    f.ui.logout(id, Some(&s.principal.csrf_token))
        .await
        .unwrap();
    other_node
        .principal(id, None, false)
        .await
        .expect("within the 10 s window");
    f.clock.advance_ms(10_000);
    assert!(matches!(
        other_node.principal(id, None, false).await,
        Err(UiAuthError::NoSession)
    ));

    // Password change, disabling, deletion: every session of the user ends.
    let changes: [UserUpdate; 2] = [
        UserUpdate {
            password: Some(SecretText::new("a new long password")),
            ..Default::default()
        },
        UserUpdate {
            status: Some(UserStatus::Inactive),
            ..Default::default()
        },
    ];
    let mut password = PASSWORD;
    for change in changes {
        let s =
            f.ui.login("ann", &SecretText::new(password), client())
                .await
                .unwrap();
        if change.password.is_some() {
            password = "a new long password";
        }
        f.ui.users().update("ann", change).await.unwrap();
        assert!(matches!(
            f.ui.principal(s.session_id.expose(), None, false).await,
            Err(UiAuthError::NoSession)
        ));
    }
    f.ui.users()
        .update(
            "ann",
            UserUpdate {
                status: Some(UserStatus::Active),
                policy_json: Some(ADMIN.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let s =
        f.ui.login("ann", &SecretText::new(password), client())
            .await
            .unwrap();
    f.ui.users().delete("ann").await.unwrap();
    assert!(matches!(
        f.ui.principal(s.session_id.expose(), None, false).await,
        Err(UiAuthError::NoSession)
    ));
}

#[tokio::test]
async fn a_policy_without_the_web_ui_cannot_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(dir.path()).await;
    let ml = crate::auth::policy::builtin("ml-consumer", "*").unwrap();
    f.ui.users()
        .create(NewUser {
            name: "model".into(),
            password: SecretText::new(PASSWORD),
            policy_json: ml.json().to_owned(),
        })
        .await
        .unwrap();
    let e =
        f.ui.login("model", &SecretText::new(PASSWORD), client())
            .await
            .unwrap_err();
    assert!(matches!(e, LoginError::NotForWebUi(_)), "{e:?}");
    assert!(e.to_string().contains("vidstream:UseWebUI"));
}

#[test]
fn cookie_attributes_and_parsing() {
    let c = set_cookie("abc", Duration::from_secs(43_200), false);
    assert_eq!(
        c,
        "vidstream_session=abc; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200"
    );
    let secure = set_cookie("abc", Duration::from_secs(60), true);
    assert!(secure.ends_with("; Secure"), "{secure}");
    assert_eq!(
        clear_cookie(false),
        "vidstream_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
    );

    let mut h = HeaderMap::new();
    assert_eq!(session_cookie(&h), None);
    h.append(header::COOKIE, "theme=dark; other=1".parse().unwrap());
    assert_eq!(session_cookie(&h), None);
    h.append(
        header::COOKIE,
        "a=b;vidstream_session=the-id ; c=d".parse().unwrap(),
    );
    assert_eq!(session_cookie(&h), Some("the-id"));

    assert!(is_state_changing(&Method::POST));
    assert!(is_state_changing(&Method::PUT));
    assert!(is_state_changing(&Method::DELETE));
    assert!(is_state_changing(&Method::PATCH));
    assert!(!is_state_changing(&Method::GET));
    assert!(!is_state_changing(&Method::HEAD));
    assert!(!is_state_changing(&Method::OPTIONS));
}

/// Log lines written while a test runs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn logins_are_audited_without_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(dir.path()).await;
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer({
            let logs = logs.clone();
            move || logs.clone()
        })
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    login(&f.ui).await;
    let wrong = SecretText::new("a wrong password here");
    for _ in 0..5 {
        let _ = f.ui.login("ann", &wrong, client()).await;
    }
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    for (outcome, detail) in [
        ("success", "session_started"),
        ("denied", "failure"),
        ("denied", "locked_now"),
    ] {
        assert!(
            text.lines().any(|l| l.contains("audit")
                && l.contains("principal=ann")
                && l.contains("address=192.0.2.1")
                && l.contains("action=vidstream:Login")
                && l.contains(&format!("outcome=\"{outcome}\""))
                && l.contains(&format!("detail={detail}"))),
            "{outcome} {detail}:\n{text}"
        );
    }
    assert!(
        !text.contains(PASSWORD) && !text.contains("a wrong password"),
        "{text}"
    );
    // The same entries are in the ring `GET /v1/audit` serves, newest first.
    let entries = f.ui.users().audit().query(&Default::default());
    assert_eq!(entries.len(), 6, "{entries:?}");
    assert_eq!(entries[0].detail, "locked_now");
    assert_eq!(entries[5].detail, "session_started");
    assert_eq!(entries[5].principal_id.as_deref(), Some("user/ann"));
    assert!(entries.iter().all(|e| e.principal == "ann"
        && e.address == Some(client())
        && !format!("{e:?}").contains("a wrong password")));
}
