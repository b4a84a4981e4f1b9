//! `vidstream bench auth`: what access control costs per request, on one core (target: SigV4
//! verify + policy p99 ≤ 20 µs).
//!
//! Each iteration is the path `api::guard` takes for a SigV4-signed request, minus the body
//! read and the stream lookup: parse what the request presents ([`presented`]), hash the body
//! (what the signature must cover), [`Auth::authenticate`] (key lookup in the real
//! [`KeyStore`] on a scratch data directory, token and expiry checks, signature check), then the
//! policy decision ([`crate::auth::Principal::allows`]) on the stream's ARN, which the guard
//! would have looked up once. The requests are signed the way the clients sign them: boto3's
//! DescribeStream (`content-type;host;x-amz-date`, a JSON body, an unsigned boto3 User-Agent)
//! and kvssink's PutMedia (`host;user-agent;x-amz-date`, Host without the port, the empty-body
//! hash). Keys: the root key (no policy) and a key with a four-statement policy (producer and
//! viewer grants, an explicit Deny, a List grant), evaluated to its last matching statement.
//!
//! Caches stay on, as in the server: the key store's lookup cache and the verifier's
//! signing-key cache (one HMAC chain per key and day), so the figures are the steady state of a
//! client making many requests. Every iteration is timed alone; the table gives p50, p99 and
//! p99.9 and the maximum (on a shared machine these two mostly show preemption by other
//! processes), and the rate one core sustains back to back (timing overhead included).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::client::{ACCESS_KEY, SECRET_KEY};
use super::{Args, Row, print_rows, tempdir_in};
use crate::auth::Auth;
use crate::auth::keys::{KeySpec, KeyStore, KeyStoreOptions};
use crate::auth::policy::resource;
use crate::auth::root::RootKey;
use crate::auth::sigv4::{
    self, Credentials, EMPTY_PAYLOAD_SHA256, Rules, Signer, claimed_payload_hash, presented,
};
use crate::store::{RetentionOptions, Rotation, Store, StoreOptions};
use crate::time::SystemClock;

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";
/// Most timed iterations per case (fewer when `--seconds` runs out first).
const ITERATIONS: usize = 200_000;
/// Untimed iterations first: caches filled, branch predictors trained.
const WARMUP: usize = 2_000;

/// Producer and viewer grants on `cam-*`, a Deny on `lobby`, List on everything: a request
/// on a cam stream is matched against every statement.
const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Sid":"Produce","Effect":"Allow","Action":["kinesisvideo:PutMedia","kinesisvideo:DescribeStream","kinesisvideo:GetDataEndpoint"],"Resource":"arn:aws:kinesisvideo:*:*:stream/cam-*/*"},
 {"Sid":"View","Effect":"Allow","Action":["kinesisvideo:Get*","kinesisvideo:ListFragments"],"Resource":["arn:aws:kinesisvideo:*:*:stream/cam-*/*","arn:aws:kinesisvideo:*:*:stream/door-*/*"]},
 {"Sid":"NoLobby","Effect":"Deny","Action":"*","Resource":"arn:aws:kinesisvideo:*:*:stream/lobby/*"},
 {"Sid":"List","Effect":"Allow","Action":"kinesisvideo:List*","Resource":"*"}]}"#;

const BOTO3_AGENT: &str = "Boto3/1.40.8 md/Botocore#1.44.8 ua/2.1 os/linux#6.8.0 md/arch#x86_64 \
     lang/python#3.12.3 md/pyimpl#CPython m/Z,D cfg/retry-mode#legacy Botocore/1.44.8";
const SDK_AGENT: &str = "AWS-SDK-KVS-CPP-CLIENT/3.5.0/1.5.0 GCC/12.2.0 Linux/6.1 x86_64";

pub fn run(args: &Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let work = tempdir_in(&args.dir)?;
    let rows = rt.block_on(measure(args, &work));
    let _ = std::fs::remove_dir_all(&work);
    print_rows(rows?)
}

/// One kind of request by one key.
struct Case {
    what: &'static str,
    req: http::Request<()>,
    /// The body the signature covers; `None`: streaming (PutMedia).
    body: Option<Vec<u8>>,
    action: &'static str,
    resource: String,
}

async fn measure(args: &Args, work: &std::path::Path) -> anyhow::Result<Vec<Row>> {
    let store = Store::open(
        StoreOptions {
            data_dir: work.join("data"),
            region: REGION.into(),
            account_id: ACCOUNT.into(),
            rotation: Rotation {
                max_bytes: 1 << 26,
                max_age_ms: 60_000,
            },
            retention: RetentionOptions::default(),
            index: Default::default(),
            objects: None,
            tiers: Default::default(),
        },
        Arc::new(SystemClock),
    )
    .await
    .context("opening the scratch store")?;
    let keys = KeyStore::open(
        store,
        KeyStoreOptions {
            root: Some(RootKey::new(ACCESS_KEY, SECRET_KEY)?),
            ..KeyStoreOptions::default()
        },
    )
    .await?;
    let key = keys
        .create(KeySpec {
            name: "bench-camera".into(),
            policy_json: POLICY.into(),
            expires: None,
            temporary: false,
            created_by: "root".into(),
        })
        .await?;
    let auth = Auth::new(keys, Arc::new(SystemClock), Rules::default());
    let root = signer(ACCESS_KEY, SECRET_KEY);
    let scoped = signer(&key.info.access_key_id, key.secret_access_key.expose());
    let arn = resource::stream(REGION, ACCOUNT, "cam-17", 1_700_000_000_123);
    let cases = [
        ("root key, DescribeStream (boto3)", &root, false),
        (
            "4-statement policy key, DescribeStream (boto3)",
            &scoped,
            false,
        ),
        ("4-statement policy key, PutMedia (kvssink)", &scoped, true),
    ];
    let budget = Duration::from_secs(args.seconds.max(1));
    let mut rows = Vec::new();
    for (what, signer, put_media) in cases {
        // Signed right before it is timed: the signature stays fresh (5 min) throughout.
        let case = if put_media {
            put_media_case(what, signer, &arn)
        } else {
            describe_case(what, signer, &arn)
        };
        rows.push(time_case(&auth, &case, budget).await?);
    }
    rows.push(Row {
        what: "(each: presented + body SHA-256 + authenticate + allows)".into(),
        result: format!(
            "{} timed iterations at most, after {WARMUP} untimed",
            ITERATIONS
        ),
        target: String::new(),
    });
    Ok(rows)
}

fn signer(access_key: &str, secret: &str) -> Signer {
    Signer::new(
        Credentials {
            access_key: access_key.into(),
            secret_key: secret.into(),
            session_token: None,
        },
        REGION,
    )
}

/// boto3's DescribeStream: `content-type;host;x-amz-date` signed, the body's SHA-256.
fn describe_case(what: &'static str, signer: &Signer, arn: &str) -> Case {
    let body = br#"{"StreamName":"cam-17"}"#.to_vec();
    let host = "127.0.0.1:8080";
    let signed = [("content-type", "application/json"), ("host", host)];
    let auth = signer.sign_headers(
        "POST",
        "/describeStream",
        &signed,
        &sigv4::payload_sha256(&body),
        sigv4::now_secs(),
    );
    let mut b = http::Request::builder()
        .method("POST")
        .uri("/describeStream")
        .header("host", host)
        .header("accept-encoding", "identity")
        .header("content-type", "application/json")
        .header("user-agent", BOTO3_AGENT)
        .header("content-length", body.len());
    for (n, v) in &auth {
        b = b.header(*n, v);
    }
    Case {
        what,
        req: b.body(()).expect("a valid request"),
        body: Some(body),
        action: "kinesisvideo:DescribeStream",
        resource: arn.to_owned(),
    }
}

/// kvssink's PutMedia: `host;user-agent;x-amz-date` signed (Host without the port), the
/// empty-body hash, the stream named in unsigned headers.
fn put_media_case(what: &'static str, signer: &Signer, arn: &str) -> Case {
    let signed = [("host", "127.0.0.1"), ("user-agent", SDK_AGENT)];
    let auth = signer.sign_headers(
        "POST",
        "/putMedia",
        &signed,
        EMPTY_PAYLOAD_SHA256,
        sigv4::now_secs(),
    );
    let mut b = http::Request::builder()
        .method("POST")
        .uri("/putMedia")
        .header("host", "127.0.0.1")
        .header("accept", "*/*")
        .header("user-agent", SDK_AGENT)
        .header("transfer-encoding", "chunked")
        .header("x-amzn-stream-name", "cam-17")
        .header("x-amzn-fragment-timecode-type", "ABSOLUTE")
        .header("x-amzn-producer-start-timestamp", "1700000000.123");
    for (n, v) in &auth {
        b = b.header(*n, v);
    }
    Case {
        what,
        req: b.body(()).expect("a valid request"),
        body: None,
        action: "kinesisvideo:PutMedia",
        resource: arn.to_owned(),
    }
}

/// One guard check of `case`: what it costs is the figure.
async fn check(auth: &Auth, case: &Case) -> anyhow::Result<()> {
    let req = black_box(&case.req);
    let p = presented(req.uri(), req.headers())?.context("the request is signed")?;
    let hash = match &case.body {
        Some(b) => sigv4::payload_sha256(b),
        None => claimed_payload_hash(req.headers())
            .unwrap_or(EMPTY_PAYLOAD_SHA256)
            .to_owned(),
    };
    let principal = auth.authenticate(&p, req.into(), &hash).await?;
    if !principal.allows(case.action, black_box(&case.resource)) {
        bail!("{}: {} was denied", case.what, case.action);
    }
    Ok(())
}

async fn time_case(auth: &Auth, case: &Case, budget: Duration) -> anyhow::Result<Row> {
    for _ in 0..WARMUP {
        check(auth, case).await.context(case.what)?;
    }
    let mut ns: Vec<u64> = Vec::with_capacity(ITERATIONS);
    let start = Instant::now();
    while ns.len() < ITERATIONS && start.elapsed() < budget {
        let t = Instant::now();
        check(auth, case).await?;
        ns.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    let total = start.elapsed().as_secs_f64();
    let n = ns.len();
    ns.sort_unstable();
    let at = |q: f64| ns[((n as f64 * q) as usize).min(n - 1)] as f64 / 1000.0;
    Ok(Row {
        what: case.what.into(),
        result: format!(
            "p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.0} µs, max {:.0} µs, {:.0} req/s",
            at(0.50),
            at(0.99),
            at(0.999),
            ns[n - 1] as f64 / 1000.0,
            n as f64 / total
        ),
        target: "p99 <= 20 µs".into(),
    })
}
