//! Shared test harness: a real vidstream server on a loopback port, in-process.

pub mod backend;
pub mod browser;
pub mod camera;
pub mod frames;
pub mod media;
pub mod probe;
pub mod serial;
pub mod sign;
pub mod tls;

use sign::SendSigned;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use vidstream::config::Config;
use vidstream::server::Server;
use vidstream::store::Store;
use vidstream::time::{Clock, SystemClock};

/// A running server; dropping it does not stop it, call [`TestServer::stop`].
pub struct TestServer {
    pub url: String,
    /// The server's store, e.g. to run retention on demand; dropped by [`TestServer::stop`].
    pub store: Store,
    /// The server's playback media cache (to read its counters).
    pub media_cache: Arc<vidstream::media::cache::MediaCache>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), vidstream::server::ServerError>>>,
    client: reqwest::Client,
    /// Keeps tests that must run alone off while this server lives (see [`serial`]).
    _turn: serial::Shared,
    data_dir: std::path::PathBuf,
}

/// A response, decoded.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub error_type: Option<String>,
    pub request_id: Option<String>,
    pub body: Value,
}

impl Reply {
    /// Asserts a KVS error: status, header and body `__type` agree, and a message is present.
    pub fn assert_error(&self, status: u16, name: &str) {
        assert_eq!(self.status, status, "status of {self:?}");
        assert_eq!(
            self.error_type.as_deref(),
            Some(name),
            "x-amzn-ErrorType of {self:?}"
        );
        assert_eq!(self.body["__type"], name, "__type of {self:?}");
        let msg = self.body["message"].as_str().unwrap_or("");
        assert!(!msg.is_empty(), "message of {self:?}");
    }

    /// Asserts a 2xx status.
    pub fn assert_error_free(&self) {
        assert!(
            (200..300).contains(&self.status),
            "expected success: {self:?}"
        );
    }

    pub fn assert_ok(&self) -> &Value {
        assert_eq!(self.status, 200, "{self:?}");
        &self.body
    }
}

impl TestServer {
    /// Starts a server on 127.0.0.1:0 with a data dir at `data_dir`.
    pub async fn start(data_dir: &Path) -> TestServer {
        Self::start_with(data_dir, |_| {}).await
    }

    /// Starts a server after letting `tweak` change the config.
    pub async fn start_with(data_dir: &Path, tweak: impl FnOnce(&mut Config)) -> TestServer {
        Self::start_with_clock(data_dir, tweak, Arc::new(SystemClock)).await
    }

    /// Starts an HTTPS server with `ca`'s "server" certificate (after `tweak`); its client
    /// trusts only `ca`.
    pub async fn start_tls(
        data_dir: &Path,
        ca: &tls::TestCa,
        tweak: impl FnOnce(&mut Config),
    ) -> TestServer {
        let settings = ca.settings();
        let mut s = Self::start_with(data_dir, |c| {
            c.tls = settings;
            tweak(c);
        })
        .await;
        s.client = ca.client();
        s
    }

    /// Starts a server on `clock` (a `SimClock` makes server timestamps and retention
    /// deterministic) after letting `tweak` change the config.
    pub async fn start_with_clock(
        data_dir: &Path,
        tweak: impl FnOnce(&mut Config),
        clock: Arc<dyn Clock>,
    ) -> TestServer {
        // The servers' warnings and errors go to the test's captured output: shown when a test
        // fails (what the server saw), hidden otherwise. `VIDSTREAM_TEST_LOG` overrides the level.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("VIDSTREAM_TEST_LOG")
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .try_init();
        let turn = serial::shared();
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data_dir.to_owned(),
            ..Config::default()
        };
        // Access control is on in every test, with a root key the test configures.
        config.auth.root_access_key_id = Some(sign::ACCESS_KEY.to_owned());
        config.auth.root_secret_access_key = Some(sign::SECRET_KEY.into());
        backend::apply(&mut config).await;
        tweak(&mut config);
        let server = Server::bind(&config, clock).await.expect("server binds");
        let store = server.store().clone();
        let media_cache = Arc::clone(server.media_cache());
        let url = format!("{}://{}", config.scheme(), server.local_addr());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(async move {
            let _ = stopped.await;
        }));
        TestServer {
            url,
            store,
            media_cache,
            stop: Some(stop),
            task: Some(task),
            client: reqwest::Client::new(),
            _turn: turn,
            data_dir: config.data_dir.clone(),
        }
    }

    /// Graceful stop; panics if the server returned an error.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(15), t)
                .await
                .expect("server stops within 15 s")
                .expect("server task did not panic")
                .expect("server stopped cleanly");
        }
        // Tasks the server spawned (sessions, readers, hooks) drop their store handles a moment
        // after `serve` returns; a process exits then, but a test may restart on the same
        // directory at once: wait for the directory's lock to be free.
        let data_dir = self.data_dir.clone();
        drop(self);
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let free = std::fs::File::options()
                .write(true)
                .open(data_dir.join("LOCK"))
                .map(|f| f.try_lock().is_ok())
                .unwrap_or(true);
            if free {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the data directory stays locked after stop"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The HTTP client of this server (trusting its test CA when it speaks https).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// POSTs raw bytes to `path`.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> Reply {
        let resp = self
            .client
            .post(format!("{}{}", self.url, path))
            .body(body)
            .send_signed()
            .await
            .expect("request sent");
        decode(resp).await
    }

    /// POSTs JSON to a KVS operation path such as `/createStream`.
    pub async fn call(&self, path: &str, body: Value) -> Reply {
        self.post_raw(path, body.to_string()).await
    }

    /// PUTs JSON to `path` (the `/v1/...` resources).
    pub async fn put(&self, path: &str, body: Value) -> Reply {
        let resp = self
            .client
            .put(format!("{}{}", self.url, path))
            .body(body.to_string())
            .send_signed()
            .await
            .expect("request sent");
        decode(resp).await
    }

    /// Any method.
    pub async fn request(&self, method: reqwest::Method, path: &str) -> Reply {
        let resp = self
            .client
            .request(method, format!("{}{}", self.url, path))
            .send_signed()
            .await
            .expect("request sent");
        decode(resp).await
    }

    /// Creates a stream and waits until it is ACTIVE; returns its StreamInfo.
    pub async fn create_active(&self, body: Value) -> Value {
        let name = body["StreamName"].as_str().expect("StreamName").to_owned();
        self.call("/createStream", body).await.assert_ok();
        self.wait_status(&name, Some("ACTIVE")).await
    }

    /// ListFragments of `stream`: its fragment numbers, sorted (in fragment order).
    pub async fn fragment_numbers(&self, stream: &str) -> Vec<String> {
        let r = self
            .call(
                "/listFragments",
                serde_json::json!({ "StreamName": stream }),
            )
            .await;
        let mut numbers: Vec<String> = r.assert_ok()["Fragments"]
            .as_array()
            .expect("Fragments")
            .iter()
            .map(|f| f["FragmentNumber"].as_str().expect("number").to_owned())
            .collect();
        numbers.sort();
        numbers
    }

    /// Polls DescribeStream until the status is `want` (None = not found).
    pub async fn wait_status(&self, name: &str, want: Option<&str>) -> Value {
        for _ in 0..500 {
            let r = self
                .call("/describeStream", serde_json::json!({ "StreamName": name }))
                .await;
            let status = r.body["StreamInfo"]["Status"].as_str();
            match (want, r.status) {
                (None, 404) => return r.body,
                (Some(w), 200) if status == Some(w) => return r.body["StreamInfo"].clone(),
                _ => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
        panic!("stream {name} never reached {want:?}");
    }
}

/// A loopback port that was free a moment ago (for servers that take a port, not a listener).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

async fn decode(resp: reqwest::Response) -> Reply {
    let status = resp.status().as_u16();
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let error_type = header("x-amzn-ErrorType");
    let request_id = header("x-amzn-RequestId");
    let bytes = resp.bytes().await.expect("body read");
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Reply {
        status,
        error_type,
        request_id,
        body,
    }
}
