"""Fixtures that run a REAL vidstream server and talk to it with REAL boto3.

The binary comes from $VIDSTREAM_BIN (scripts/pytest.sh sets it to target/debug/vidstream).
Every server listens on a free loopback port with its own data directory; stopping one sends
SIGTERM and requires a clean exit (code 0) within 10 s, because graceful shutdown is a feature
under test.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from helpers import ACCESS_KEY, SECRET_KEY, make_client

STARTUP_TIMEOUT_S = 30.0
SHUTDOWN_TIMEOUT_S = 10.0

REPO_ROOT = Path(__file__).resolve().parents[2]

# Keep the developer's AWS setup (profiles, endpoint overrides, credentials, regions) and HTTP
# proxies out of the suite: everything talks to 127.0.0.1 with the fixed test credentials.
for _var in list(os.environ):
    if _var.startswith("AWS_"):
        del os.environ[_var]
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
for _var in ("NO_PROXY", "no_proxy"):
    os.environ[_var] = ",".join(filter(None, [os.environ.get(_var, ""), "127.0.0.1", "localhost"]))

# urllib without any proxy, whatever the environment says.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def urlopen(url: str, timeout: float, context: ssl.SSLContext | None = None):
    """HTTP's `open`, trusting `context`'s CAs for https."""
    if context is None:
        return HTTP.open(url, timeout=timeout)
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    return opener.open(url, timeout=timeout)


def free_port() -> int:
    """A loopback port that was free a moment ago (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, limit: int = 20000) -> str:
    try:
        data = path.read_bytes()
    except OSError as e:
        return f"<cannot read {path}: {e}>"
    text = data[-limit:].decode("utf-8", "replace")
    return ("...\n" if len(data) > limit else "") + text


class VidstreamServer:
    """One `vidstream serve` subprocess on a free loopback port."""

    def __init__(
        self,
        binary: Path,
        data_dir: Path,
        log_dir: Path,
        extra_args: tuple[str, ...] = (),
        tls_dir: Path | None = None,
    ):
        """`tls_dir`: a directory made by scripts/test-ca.sh; the server then speaks HTTPS with
        its server.pem/server.key and `ca_file` is the CA clients must trust."""
        self.tls_dir = tls_dir
        self.binary = binary
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.extra_args = tuple(extra_args)
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.returncode: int | None = None
        self._starts = 0

    @property
    def url(self) -> str:
        scheme = "https" if self.tls_dir else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path | None:
        return self.tls_dir / "ca.pem" if self.tls_dir else None

    @property
    def stderr_path(self) -> Path:
        return self.log_dir / f"server-{self._starts}.stderr"

    @property
    def stdout_path(self) -> Path:
        return self.log_dir / f"server-{self._starts}.stdout"

    def logs(self) -> str:
        return (
            f"--- server stderr ({self.stderr_path}) ---\n{_tail(self.stderr_path)}\n"
            f"--- server stdout ({self.stdout_path}) ---\n{_tail(self.stdout_path)}"
        )

    def start(self) -> VidstreamServer:
        assert self.proc is None or self.proc.poll() is not None, "server already running"
        # The free port can be taken between our probe and the server's bind: retry on a new port.
        for attempt in range(3):
            self._starts += 1
            self.port = free_port()
            self.returncode = None
            args = [
                str(self.binary),
                "serve",
                "--listen",
                f"127.0.0.1:{self.port}",
                "--data-dir",
                str(self.data_dir),
                *self.extra_args,
            ]
            # VIDSTREAM_* variables are server config overrides (unknown ones are errors): pass only
            # the logging ones, never the harness's own VIDSTREAM_BIN or a developer's overrides.
            env = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith("VIDSTREAM_") or k in ("VIDSTREAM_LOG", "VIDSTREAM_LOG_FORMAT")
            }
            env["VIDSTREAM_AUTH__ROOT_ACCESS_KEY_ID"] = ACCESS_KEY
            env["VIDSTREAM_AUTH__ROOT_SECRET_ACCESS_KEY"] = SECRET_KEY
            if self.tls_dir:
                env["VIDSTREAM_TLS__CERT_FILE"] = str(self.tls_dir / "server.pem")
                env["VIDSTREAM_TLS__KEY_FILE"] = str(self.tls_dir / "server.key")
            env.setdefault("VIDSTREAM_LOG", "info")
            env.setdefault("RUST_BACKTRACE", "1")
            env.setdefault("NO_COLOR", "1")  # plain logs in the files quoted by failures
            with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
                self.proc = subprocess.Popen(
                    args, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=self.log_dir
                )
            exited = self._wait_healthy(args)
            if not exited:
                return self
            if "in use" not in _tail(self.stderr_path).lower() or attempt == 2:
                pytest.fail(
                    f"vidstream exited with code {self.returncode} during startup\n"
                    f"command: {' '.join(args)}\n{self.logs()}",
                    pytrace=False,
                )
        raise AssertionError("unreachable")

    def _wait_healthy(self, args: list[str]) -> bool:
        """Poll GET /healthz until 200. Returns True if the process exited instead."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        last_error = "no attempt yet"
        context = ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else None
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.returncode = rc
                return True
            try:
                with urlopen(self.url + "/healthz", timeout=2, context=context) as resp:
                    if resp.status == 200:
                        return False
                    last_error = f"HTTP {resp.status}"
            except urllib.error.HTTPError as e:
                last_error = f"HTTP {e.code}"
            except (urllib.error.URLError, OSError) as e:
                last_error = repr(e)
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(
                    f"vidstream did not answer GET /healthz with 200 within {STARTUP_TIMEOUT_S:.0f} s "
                    f"(last: {last_error})\ncommand: {' '.join(args)}\n{self.logs()}",
                    pytrace=False,
                )
            time.sleep(0.05)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = SHUTDOWN_TIMEOUT_S) -> int:
        """SIGTERM, then require exit code 0 within `timeout` seconds (graceful shutdown)."""
        assert self.proc is not None, "server was never started"
        already_dead = self.proc.poll()
        if already_dead is None:
            self.proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(
                f"vidstream did not exit within {timeout:.0f} s of SIGTERM (killed it)\n{self.logs()}",
                pytrace=False,
            )
        self.returncode = rc
        if already_dead is not None:
            pytest.fail(f"vidstream had already exited (code {rc}) before SIGTERM\n{self.logs()}", pytrace=False)
        if rc != 0:
            pytest.fail(
                f"vidstream exited with code {rc} after SIGTERM (want 0; took {time.monotonic() - t0:.2f} s)\n"
                f"{self.logs()}",
                pytrace=False,
            )
        return rc

    def kill(self) -> None:
        if self.running:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def vidstream_bin() -> Path:
    value = os.environ.get("VIDSTREAM_BIN")
    if not value:
        pytest.fail("VIDSTREAM_BIN is not set: run the suite through scripts/pytest.sh", pytrace=False)
    path = Path(value)
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"VIDSTREAM_BIN={value} is not an executable file", pytrace=False)
    return path


@pytest.fixture(scope="session")
def server(vidstream_bin, tmp_path_factory) -> VidstreamServer:
    """The shared server for most tests; stopping it at the end checks graceful shutdown."""
    base = tmp_path_factory.mktemp("shared-server")
    data_dir = base / "data"
    data_dir.mkdir()
    # The one S3 bucket the image generation tests name: s3:// destinations are written with the
    # server's own credentials, so API callers may only name buckets the admin listed.
    config = base / "vidstream.toml"
    config.write_text('[hook]\nallowed_s3_buckets = ["vidstream-images"]\n')
    srv = VidstreamServer(vidstream_bin, data_dir, base, ("--config", str(config))).start()
    yield srv
    if srv.running:
        srv.stop()
    else:
        pytest.fail(f"the shared vidstream server died during the session (code {srv.proc.poll()})\n{srv.logs()}")


@pytest.fixture(scope="session")
def endpoint(server) -> str:
    return server.url


@pytest.fixture(scope="session")
def kvs(endpoint):
    return make_client(endpoint)


@pytest.fixture
def server_factory(vidstream_bin, tmp_path):
    """Start extra servers: `server_factory(data_dir=None, extra_args=())`.

    Servers still running at the end of the test are stopped with the graceful-shutdown check.
    """
    started: list[VidstreamServer] = []
    counter = iter(range(1_000_000))

    def start(
        data_dir: Path | None = None, extra_args: tuple[str, ...] = (), tls_dir: Path | None = None
    ) -> VidstreamServer:
        n = next(counter)
        log_dir = tmp_path / f"server-{n}-logs"
        log_dir.mkdir()
        if data_dir is None:
            data_dir = tmp_path / f"server-{n}-data"
            data_dir.mkdir()
        srv = VidstreamServer(vidstream_bin, data_dir, log_dir, extra_args, tls_dir).start()
        started.append(srv)
        return srv

    yield start
    errors = []
    for srv in started:
        if srv.running:
            try:
                srv.stop()
            except pytest.fail.Exception as e:  # keep stopping the others
                errors.append(str(e))
    for srv in started:
        srv.kill()
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)
