//! The audit log through `GET /v1/audit`: denials, signatures that do not verify, control-plane
//! changes (streams, keys, users) and UI login failures are there with their principal and
//! address; only an administrator may read it; its filters work; no secret is in it.

use serde_json::{Value, json};

use crate::common::TestServer;
use crate::common::sign::{self, SendSigned};

/// `GET /v1/audit?{query}` signed by the root key: the entries.
async fn audit(s: &TestServer, query: &str) -> Vec<Value> {
    let r = s
        .request(reqwest::Method::GET, &format!("/v1/audit?{query}"))
        .await;
    r.assert_ok()["Entries"]
        .as_array()
        .unwrap_or_else(|| panic!("Entries in {r:?}"))
        .clone()
}

/// The first entry (newest first) with this action and outcome.
fn find<'a>(entries: &'a [Value], action: &str, outcome: &str) -> &'a Value {
    entries
        .iter()
        .find(|e| e["Action"] == action && e["Outcome"] == outcome)
        .unwrap_or_else(|| panic!("no {action} {outcome} in {entries:#?}"))
}

#[tokio::test]
async fn changes_denials_and_login_failures_are_audited_for_admins_only() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;

    // Changes by the root key: a stream made and deleted, a viewer key, a user.
    s.create_active(json!({"StreamName": "audited"})).await;
    let info = s
        .call("/describeStream", json!({"StreamName": "audited"}))
        .await;
    let arn = info.assert_ok()["StreamInfo"]["StreamARN"]
        .as_str()
        .unwrap()
        .to_owned();
    s.call("/deleteStream", json!({"StreamARN": arn}))
        .await
        .assert_ok();
    let key = s
        .call("/v1/keys", json!({"name": "watcher", "policy": "viewer"}))
        .await;
    assert_eq!(key.status, 201, "{key:?}");
    let key_id = key.body["accessKeyId"].as_str().unwrap().to_owned();
    let key_secret = key.body["secretAccessKey"].as_str().unwrap().to_owned();
    let viewer = sign::signer(&key_id, &key_secret, None);
    let user_password = "the audited user's password";
    let user = s
        .call(
            "/v1/users",
            json!({"name": "ann", "password": user_password, "policy": "viewer"}),
        )
        .await;
    assert_eq!(user.status, 201, "{user:?}");

    // The viewer is refused a deletion and the audit log itself.
    let client = reqwest::Client::new();
    let denied = client
        .post(format!("{}/deleteStream", s.url))
        .body(json!({"StreamName": "whatever"}).to_string())
        .send_signed_by(viewer.clone())
        .await
        .unwrap();
    assert!(denied.status().is_client_error(), "{denied:?}");
    let read = client
        .get(format!("{}/v1/audit", s.url))
        .send_signed_by(viewer)
        .await
        .unwrap();
    assert_eq!(read.status(), 401);
    assert_eq!(read.headers()["x-amzn-errortype"], "AccessDeniedException");
    // A key the server does not know.
    let unknown = sign::signer("VSAKUNKNOWNAUDIT0001", "some-secret-that-is-wrong-00", None);
    let r = client
        .post(format!("{}/listStreams", s.url))
        .body("{}")
        .send_signed_by(unknown)
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // A wrong UI password.
    let wrong_password = "not ann's password at all";
    let r = client
        .post(format!("{}/v1/login", s.url))
        .json(&json!({"user": "ann", "password": wrong_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let all = audit(&s, "").await;
    let times: Vec<i64> = all.iter().map(|e| e["TimeMs"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let root = |e: &Value| {
        assert_eq!(e["PrincipalId"], sign::ACCESS_KEY, "{e:#}");
        assert_eq!(e["Address"], "127.0.0.1", "{e:#}");
    };
    let created = find(&all, "kinesisvideo:CreateStream", "success");
    root(created);
    assert!(
        created["Resource"]
            .as_str()
            .unwrap()
            .contains(":stream/audited/"),
        "{created:#}"
    );
    let deleted = find(&all, "kinesisvideo:DeleteStream", "success");
    root(deleted);
    assert_eq!(deleted["Resource"], arn.as_str());
    let key_made = find(&all, "vidstream:CreateKey", "success");
    root(key_made);
    assert!(
        key_made["Detail"].as_str().unwrap().contains(&key_id),
        "{key_made:#}"
    );
    root(find(&all, "vidstream:CreateUser", "success"));
    let refused = find(&all, "kinesisvideo:DeleteStream", "denied");
    assert_eq!(refused["Principal"], "watcher", "{refused:#}");
    assert_eq!(refused["PrincipalId"], key_id.as_str());
    assert_eq!(refused["Address"], "127.0.0.1");
    let not_admin = find(&all, "vidstream:GetAuditLog", "denied");
    assert_eq!(not_admin["PrincipalId"], key_id.as_str());
    let unverified = find(&all, "kinesisvideo:ListStreams", "denied");
    assert_eq!(unverified["PrincipalId"], "VSAKUNKNOWNAUDIT0001");
    assert_eq!(unverified["Detail"], "UnrecognizedClientException");
    let login = find(&all, "vidstream:Login", "denied");
    assert_eq!(login["Principal"], "ann", "{login:#}");
    assert_eq!(login["Detail"], "failure");
    assert_eq!(login["Address"], "127.0.0.1");
    // Reads are not recorded; no secret is anywhere.
    assert!(
        !all.iter()
            .any(|e| e["Action"] == "kinesisvideo:DescribeStream"),
        "{all:#?}"
    );
    let text = Value::Array(all.clone()).to_string();
    for secret in [
        key_secret.as_str(),
        user_password,
        wrong_password,
        sign::SECRET_KEY,
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }

    // Filters.
    let newest = audit(&s, "limit=1").await;
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0], all[0]);
    let watcher = audit(&s, "principal=watcher").await;
    assert_eq!(watcher.len(), 2, "{watcher:#?}");
    assert_eq!(audit(&s, &format!("principal={key_id}")).await, watcher);
    let creates = audit(&s, "action=CreateStream").await;
    assert_eq!(creates.len(), 1, "{creates:#?}");
    assert_eq!(audit(&s, "action=kinesisvideo:CreateStream").await, creates);
    let denials = audit(&s, "outcome=denied").await;
    assert_eq!(denials.len(), 4, "{denials:#?}");
    assert!(denials.iter().all(|e| e["Outcome"] == "denied"));
    let since = all[1]["TimeMs"].as_i64().unwrap();
    assert!(
        audit(&s, &format!("since={since}"))
            .await
            .iter()
            .all(|e| e["TimeMs"].as_i64().unwrap() >= since)
    );
    assert_eq!(
        audit(&s, "outcome=success&action=DeleteStream&limit=5")
            .await
            .len(),
        1
    );
    // `vidstream audit` prints the same entries, filtered the same way.
    let url = s.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_vidstream"))
            .args([
                "audit",
                "--endpoint",
                &url,
                "--outcome",
                "denied",
                "--principal",
                "watcher",
            ])
            .env("AWS_ACCESS_KEY_ID", sign::ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", sign::SECRET_KEY)
            .output()
            .expect("vidstream runs")
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].contains("\tdenied\twatcher (")
            && lines[0].contains("vidstream:GetAuditLog")
            && lines[1].contains("kinesisvideo:DeleteStream"),
        "{text}"
    );
    assert!(!text.contains(&key_secret), "{text}");
    for bad in ["outcome=maybe", "limit=0", "limit=x", "color=red"] {
        s.request(reqwest::Method::GET, &format!("/v1/audit?{bad}"))
            .await
            .assert_error(400, "InvalidArgumentException");
    }
    s.stop().await;
}

/// A change that fails is recorded as a failure, with the error's type.
#[tokio::test]
async fn failed_changes_are_audited_as_failures() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    s.call(
        "/tagStream",
        json!({"StreamName": "never-made", "Tags": {"k": "v"}}),
    )
    .await
    .assert_error(404, "ResourceNotFoundException");
    let entries = audit(&s, "action=TagStream").await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert_eq!(entries[0]["Outcome"], "failure");
    assert_eq!(entries[0]["Detail"], "404 ResourceNotFoundException");
    s.stop().await;
}
