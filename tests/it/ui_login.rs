//! Web UI login over real HTTP: users made through the admin API (`/v1/users`), the session
//! cookie's attributes, the CSRF token on state-changing requests, the lock-out after five wrong
//! passwords, the per-address limit, logout, and `vidstream users`.
//!
//! The admin calls go unsigned: `main` has no gate yet. Once the gate is in, they need an
//! admin's signature (`send_signed()`), and a gated state-changing route (say `POST
//! /v1/cameras`) with the cookie but without `x-csrf-token` must be refused too; here
//! `/v1/logout`, which checks the token itself, stands for them.

use std::process::Command;

use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};

use crate::common::TestServer;
use crate::common::sign::SendSigned;

const PASSWORD: &str = "correct horse battery staple";

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn error_type(&self) -> &str {
        self.body["__type"].as_str().unwrap_or("")
    }
}

async fn send(req: reqwest::RequestBuilder) -> Answer {
    answer(req.send().await.expect("request sent")).await
}

/// Sends signed with the tests' root key (the admin API).
async fn send_as_admin(req: reqwest::RequestBuilder) -> Answer {
    answer(req.send_signed().await.expect("request sent")).await
}

async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.expect("body");
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

async fn login(s: &TestServer, user: &str, password: &str) -> Answer {
    send(
        reqwest::Client::new()
            .post(format!("{}/v1/login", s.url))
            .json(&json!({"user": user, "password": password})),
    )
    .await
}

async fn whoami(s: &TestServer, cookie: &str) -> Answer {
    send(
        reqwest::Client::new()
            .get(format!("{}/v1/whoami", s.url))
            .header(COOKIE, cookie),
    )
    .await
}

async fn logout(s: &TestServer, cookie: &str, csrf: Option<&str>) -> Answer {
    let mut req = reqwest::Client::new()
        .post(format!("{}/v1/logout", s.url))
        .header(COOKIE, cookie);
    if let Some(t) = csrf {
        req = req.header("x-csrf-token", t);
    }
    send(req).await
}

async fn create_user(s: &TestServer, name: &str, policy: &str) -> Answer {
    send_as_admin(
        reqwest::Client::new()
            .post(format!("{}/v1/users", s.url))
            .json(&json!({"name": name, "password": PASSWORD, "policy": policy})),
    )
    .await
}

/// The `name=value` part of a `Set-Cookie`, to send back as `Cookie`.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .expect("a cookie")
        .trim()
        .to_owned()
}

#[tokio::test]
async fn login_cookie_csrf_lockout_and_logout() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    s.create_active(json!({"StreamName": "yard", "DataRetentionInHours": 1}))
        .await;
    let ann = create_user(&s, "ann", "viewer").await;
    assert_eq!(ann.status, 201, "{}", ann.body);
    assert_eq!(ann.body["name"], "ann");
    assert_eq!(ann.body["status"], "Active");
    assert!(
        !ann.body.to_string().contains("argon2") && !ann.body.to_string().contains(PASSWORD),
        "no hash, no password: {}",
        ann.body
    );
    assert_eq!(create_user(&s, "bob", "admin").await.status, 201);
    assert_eq!(
        create_user(&s, "ann", "viewer").await.error_type(),
        "ResourceInUseException"
    );
    let short = send_as_admin(
        reqwest::Client::new()
            .post(format!("{}/v1/users", s.url))
            .json(&json!({"name": "cy", "password": "too short", "policy": "viewer"})),
    )
    .await;
    assert_eq!(
        (short.status, short.error_type()),
        (400, "InvalidArgumentException")
    );

    // Not logged in.
    let none = send(reqwest::Client::new().get(format!("{}/v1/whoami", s.url))).await;
    assert_eq!(
        (none.status, none.error_type()),
        (401, "NotAuthorizedException")
    );

    // Only JSON: a cross-site form cannot log a browser in.
    let form = send(
        reqwest::Client::new()
            .post(format!("{}/v1/login", s.url))
            .header("content-type", "text/plain")
            .body(json!({"user": "ann", "password": PASSWORD}).to_string()),
    )
    .await;
    assert_eq!(
        (form.status, form.error_type()),
        (400, "InvalidArgumentException")
    );
    assert!(form.headers.get(SET_COOKIE).is_none());

    // A wrong password: 401, no cookie. The right one: the cookie and the token.
    let wrong = login(&s, "ann", "not the password at all").await;
    assert_eq!(
        (wrong.status, wrong.error_type()),
        (401, "NotAuthorizedException")
    );
    assert!(wrong.headers.get(SET_COOKIE).is_none());
    let ok = login(&s, "ann", PASSWORD).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let set_cookie = ok.headers[SET_COOKIE].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(
            set_cookie.split("; ").any(|a| a == attribute),
            "{attribute} in {set_cookie}"
        );
    }
    assert!(
        !set_cookie.contains("Secure"),
        "plain http: no Secure ({set_cookie})"
    );
    assert!(set_cookie.starts_with("vidstream_session="));
    assert_eq!(ok.headers["cache-control"], "no-store");
    let csrf = ok.body["csrfToken"].as_str().expect("csrfToken").to_owned();
    assert_eq!(ok.body["user"], "ann");
    assert!(ok.body["expiresMs"].as_i64().unwrap() > 0);
    assert!(ok.body["policy"]["Statement"].is_array(), "{}", ok.body);
    let cookie = cookie_pair(&set_cookie);

    // Who am I, and what may I do: a viewer sees streams, not the admin controls.
    let me = whoami(&s, &cookie).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["user"], "ann");
    assert_eq!(me.body["csrfToken"], csrf.as_str());
    let allowed = &me.body["allowed"];
    assert_eq!(allowed["kinesisvideo:ListStreams"], true, "{allowed}");
    assert_eq!(allowed["kinesisvideo:GetClip"], true, "{allowed}");
    for admin in [
        "kinesisvideo:CreateStream",
        "kinesisvideo:DeleteStream",
        "vidstream:PutCamera",
        "vidstream:DeleteCamera",
        "vidstream:CreateUser",
    ] {
        assert_eq!(allowed[admin], false, "{admin}: {allowed}");
    }
    let yard: Vec<&str> = me.body["streams"]["yard"]
        .as_array()
        .expect("per-stream actions")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        yard.contains(&"kinesisvideo:GetHLSStreamingSessionURL"),
        "{yard:?}"
    );
    assert!(!yard.contains(&"kinesisvideo:DeleteStream"), "{yard:?}");

    // State-changing with the cookie but without (or with a wrong) x-csrf-token: refused, and
    // the session lives on.
    for token in [None, Some("forged")] {
        let r = logout(&s, &cookie, token).await;
        assert_eq!(
            (r.status, r.error_type()),
            (401, "NotAuthorizedException"),
            "{token:?}"
        );
        assert!(r.body["message"].as_str().unwrap().contains("x-csrf-token"));
        assert!(r.headers.get(SET_COOKIE).is_none(), "the cookie stays");
        assert_eq!(whoami(&s, &cookie).await.status, 200);
    }

    // Five wrong passwords lock bob; then even the right one is refused for a while.
    for _ in 0..5 {
        let r = login(&s, "bob", "not the password at all").await;
        assert_eq!(r.status, 401, "{}", r.body);
    }
    let locked = login(&s, "bob", PASSWORD).await;
    assert_eq!(
        (locked.status, locked.error_type()),
        (429, "ClientLimitExceededException"),
        "{}",
        locked.body
    );
    assert_eq!(locked.headers["retry-after"], "900");
    assert!(locked.headers.get(SET_COOKIE).is_none());
    let listed = send_as_admin(reqwest::Client::new().get(format!("{}/v1/users", s.url))).await;
    let bob = listed.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "bob")
        .expect("bob listed")
        .clone();
    assert!(bob["lockedUntilMs"].as_i64().is_some(), "{bob}");

    // That made 8 attempts from this address, which may make 10 at once (and regains one
    // every 6 s): a few more and it is over its limit.
    let mut attempts = 8;
    let limited = loop {
        attempts += 1;
        let r = login(&s, &format!("nobody-{attempts}"), PASSWORD).await;
        if r.status != 401 || attempts > 20 {
            break r;
        }
    };
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(attempts >= 11, "limited after {attempts} attempts");
    assert!(
        limited.body["message"]
            .as_str()
            .unwrap()
            .contains("address"),
        "{}",
        limited.body
    );

    // Logout with the token ends the session and clears the cookie.
    let out = logout(&s, &cookie, Some(&csrf)).await;
    assert_eq!(out.status, 200, "{}", out.body);
    let cleared = out.headers[SET_COOKIE].to_str().unwrap();
    assert!(
        cleared.starts_with("vidstream_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(whoami(&s, &cookie).await.status, 401);
    assert_eq!(logout(&s, &cookie, Some(&csrf)).await.status, 401);
    s.stop().await;
}

// Two workers: the CLI runs as a blocking child process while the server answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_changes_end_sessions_and_the_cli_manages_users() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    assert_eq!(create_user(&s, "ann", "viewer").await.status, 201);
    let ok = login(&s, "ann", PASSWORD).await;
    let cookie = cookie_pair(ok.headers[SET_COOKIE].to_str().unwrap());
    assert_eq!(whoami(&s, &cookie).await.status, 200);

    // Disabling ends the session at once; enabling does not bring it back.
    let r = s.put("/v1/users/ann", json!({"status": "Inactive"})).await;
    assert_eq!(r.assert_ok()["status"], "Inactive");
    assert_eq!(whoami(&s, &cookie).await.status, 401);
    assert_eq!(login(&s, "ann", PASSWORD).await.status, 401);
    s.put("/v1/users/ann", json!({"status": "Active"}))
        .await
        .assert_ok();
    assert_eq!(whoami(&s, &cookie).await.status, 401);
    // A scoped built-in, and a bad change.
    let r = s
        .put(
            "/v1/users/ann",
            json!({"policy": "viewer", "streams": "cam-*"}),
        )
        .await;
    let resource = r.assert_ok()["policy"]["Statement"][0]["Resource"].clone();
    assert!(resource.to_string().contains("stream/cam-*/"), "{resource}");
    s.put("/v1/users/ann", json!({"status": "Sleeping"}))
        .await
        .assert_error(400, "InvalidArgumentException");
    s.put("/v1/users/ann", json!({}))
        .await
        .assert_error(400, "InvalidArgumentException");
    s.put("/v1/users/nobody", json!({"status": "Active"}))
        .await
        .assert_error(404, "ResourceNotFoundException");

    // The CLI: create (password from the environment), list, passwd, disable, delete.
    let cli = |args: &[&str], password: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_vidstream"));
        c.arg("users").args(["--endpoint", &s.url]).args(args);
        c.env_remove("VIDSTREAM_USER_PASSWORD");
        c.env("AWS_ACCESS_KEY_ID", crate::common::sign::ACCESS_KEY);
        c.env("AWS_SECRET_ACCESS_KEY", crate::common::sign::SECRET_KEY);
        if let Some(p) = password {
            c.env("VIDSTREAM_USER_PASSWORD", p);
        }
        let out = c.output().expect("vidstream runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, text) = cli(
        &["create", "cli-user", "--policy", "viewer"],
        Some(PASSWORD),
    );
    assert!(ok, "{text}");
    assert!(text.contains("created cli-user\tActive"), "{text}");
    assert!(!text.contains(PASSWORD));
    let (ok, text) = cli(&["list"], None);
    assert!(
        ok && text.contains("ann\tActive") && text.contains("cli-user\tActive"),
        "{text}"
    );
    assert_eq!(login(&s, "cli-user", PASSWORD).await.status, 200);
    let (ok, text) = cli(&["passwd", "cli-user"], Some("a brand new password"));
    assert!(ok, "{text}");
    assert_eq!(login(&s, "cli-user", PASSWORD).await.status, 401);
    assert_eq!(
        login(&s, "cli-user", "a brand new password").await.status,
        200
    );
    let (ok, text) = cli(&["disable", "cli-user"], None);
    assert!(ok, "{text}");
    assert_eq!(
        login(&s, "cli-user", "a brand new password").await.status,
        401
    );
    let (ok, text) = cli(&["create", "x", "--policy", "viewer"], Some("short"));
    assert!(!ok && text.contains("InvalidArgumentException"), "{text}");
    let (ok, text) = cli(&["delete", "cli-user"], None);
    assert!(ok, "{text}");
    let (ok, text) = cli(&["delete", "cli-user"], None);
    assert!(!ok && text.contains("404"), "{text}");
    s.stop().await;
}

/// The gate takes a UI session in place of a signature, and a state-changing request with it
/// needs the session's CSRF token: without it (a cross-site request riding the cookie) it is
/// refused before its handler runs.
#[tokio::test]
async fn state_changing_requests_with_the_cookie_need_the_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    assert_eq!(create_user(&s, "root-ui", "admin").await.status, 201);
    let ok = login(&s, "root-ui", PASSWORD).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let cookie = cookie_pair(ok.headers[SET_COOKIE].to_str().unwrap());
    let csrf = ok.body["csrfToken"].as_str().unwrap().to_owned();
    let create = |with_csrf: bool| {
        let mut req = reqwest::Client::new()
            .post(format!("{}/createStream", s.url))
            .header(COOKIE, &cookie)
            .header("content-type", "application/json")
            .body(json!({"StreamName": "from-ui"}).to_string());
        if with_csrf {
            req = req.header("x-csrf-token", &csrf);
        }
        send(req)
    };
    let refused = create(false).await;
    assert_eq!(
        (refused.status, refused.error_type()),
        (401, "NotAuthorizedException"),
        "{}",
        refused.body
    );
    s.wait_status("from-ui", None).await;
    assert_eq!(create(true).await.status, 200);
    // A GET needs no token (KVS operations are POSTs, so they all carry it).
    let list = send(
        reqwest::Client::new()
            .get(format!("{}/v1/streams", s.url))
            .header(COOKIE, &cookie),
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.body);
    s.stop().await;
}
