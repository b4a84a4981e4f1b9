"""A failing data disk (EIO) during ingest: the data directory lives on tests/python/faultfs.py,
a passthrough FUSE filesystem the test mounts (root and /dev/fuse, as in CI) whose writes and
fsyncs fail with EIO while a control file exists.

While the disk fails: PutMedia answers ERROR acks and never PERSISTED, the server keeps serving
what it stored, and other requests keep answering. When the disk heals, ingest resumes by itself
(no restart). Nothing acknowledged PERSISTED is lost, nothing torn is listed, and `vidstream
check` is clean afterwards. (ENOSPC, the full disk, is tests/it/faults.rs.)
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from helpers import create_active, make_client, sign, unique_name
from test_archived_media import archived_client, ffprobe, split_documents

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "gst_h264_320x240_gop30_5s.mkv"
BASE_MS = 1_700_000_000_000


class FaultyDisk:
    """faultfs.py mounted at `mount`, backed by `backing`; `fail()` / `heal()` flip it."""

    def __init__(self, tmp: Path):
        self.backing = tmp / "backing"
        self.mount = tmp / "mnt"
        self.control = tmp / "fail-writes"
        self.log = tmp / "faultfs.log"
        self.backing.mkdir()
        self.mount.mkdir()
        script = Path(__file__).with_name("faultfs.py")
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(self.backing), str(self.mount), str(self.control)],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
        )
        deadline = time.monotonic() + 10
        while not os.path.ismount(self.mount):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                pytest.fail(
                    "mounting the FUSE test filesystem needs root, /dev/fuse and libfuse3 "
                    f"(scripts/install-deps.sh installs fuse3):\n{self.log.read_text()}"
                )
            time.sleep(0.05)

    def fail(self, mode: str = "all") -> None:
        """`all`: every change to the disk fails; `fsync`: only fsync does."""
        self.control.write_text(mode)

    def heal(self) -> None:
        self.control.unlink(missing_ok=True)

    def eio_count(self) -> int:
        return self.log.read_text().count("faultfs: EIO")

    def close(self) -> None:
        self.heal()
        subprocess.run(["umount", "-l", str(self.mount)], capture_output=True, check=False)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def disk(tmp_path):
    d = FaultyDisk(tmp_path)
    yield d
    d.close()


def put_media(endpoint: str, stream: str, start_ms: int) -> list[dict]:
    """The 5-fragment fixture with its first fragment at `start_ms`; the acks."""
    req = urllib.request.Request(
        f"{endpoint}/putMedia",
        data=FIXTURE.read_bytes(),
        method="POST",
        headers=sign(
            "POST",
            f"{endpoint}/putMedia",
            headers={
                "x-amzn-stream-name": stream,
                "x-amzn-fragment-timecode-type": "RELATIVE",
                "x-amzn-producer-start-timestamp": f"{start_ms / 1000:.3f}",
            },
        ),
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.status == 200
        return [json.loads(line) for line in resp.read().decode().splitlines() if line.strip()]


def persisted(acks: list[dict]) -> list[str]:
    return [a["FragmentNumber"] for a in acks if a.get("EventType") == "PERSISTED"]


def errors(acks: list[dict]) -> list[dict]:
    return [a for a in acks if a.get("EventType") == "ERROR"]


def listed(archived, stream: str) -> list[str]:
    frags = archived.list_fragments(StreamName=stream, MaxResults=1000)["Fragments"]
    return sorted(f["FragmentNumber"] for f in frags)


def frames_of(archived, stream: str, numbers: list[str], tmp_path: Path) -> int:
    """Video frames ffprobe reads from GetMediaForFragmentList of `numbers` (one MKV document
    per fragment, each checked)."""
    body = archived.get_media_for_fragment_list(StreamName=stream, Fragments=numbers)["Payload"].read()
    docs = split_documents(body)
    assert len(docs) == len(numbers)
    total = 0
    for i, doc in enumerate(docs):
        path = tmp_path / f"{stream}-{i}.mkv"
        path.write_bytes(doc)
        (video,) = ffprobe(path)["streams"]
        total += int(video["nb_read_packets"])
    return total


@pytest.mark.parametrize("mode", ["all", "fsync"])
def test_failing_disk_answers_errors_keeps_reads_and_recovers(mode, disk, server_factory, tmp_path):
    # `disk` first: fixtures are torn down in reverse, so the server stops before the unmount.
    data = disk.mount / "data"
    data.mkdir()
    srv = server_factory(data_dir=data)
    kvs = make_client(srv.url)
    archived = archived_client(srv.url)
    cam, other = unique_name("eio"), unique_name("eio-other")
    create_active(kvs, cam, DataRetentionInHours=1)
    create_active(kvs, other, DataRetentionInHours=1)

    # A healthy disk: the fixture's five fragments are stored.
    before = persisted(put_media(srv.url, cam, BASE_MS))
    assert len(before) == 5

    # The disk fails: errors, never PERSISTED; what was stored is still listed and served.
    disk.fail(mode)
    during = put_media(srv.url, cam, BASE_MS + 10_000)
    assert persisted(during) == [], during
    assert errors(during), during
    assert all(e["ErrorId"] in (5000, 5001) for e in errors(during)), during
    assert not any(str(tmp_path) in json.dumps(e) for e in errors(during)), "no paths to clients"
    assert disk.eio_count() > 0, "the filesystem refused writes"
    during_other = put_media(srv.url, other, BASE_MS)
    assert persisted(during_other) == [], during_other
    assert listed(archived, cam) == sorted(before)
    assert frames_of(archived, cam, before, tmp_path) == 150
    assert kvs.describe_stream(StreamName=cam)["StreamInfo"]["Status"] == "ACTIVE"

    # The disk heals: ingest resumes by itself, on both streams.
    disk.heal()
    after = persisted(put_media(srv.url, cam, BASE_MS + 20_000))
    assert len(after) == 5, "ingest resumed without a restart"
    after_other = persisted(put_media(srv.url, other, BASE_MS + 20_000))
    assert len(after_other) == 5

    # Everything acknowledged is listed and whole, nothing else (no torn fragment) is.
    assert listed(archived, cam) == sorted(before + after)
    assert frames_of(archived, cam, before + after, tmp_path) == 300
    assert listed(archived, other) == sorted(after_other)

    # And it stays so across a restart; `vidstream check` finds nothing wrong.
    srv.stop()
    check = subprocess.run(
        [str(srv.binary), "check", "--data-dir", str(data)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    srv.start()
    archived = archived_client(srv.url)
    assert listed(archived, cam) == sorted(before + after)
    assert frames_of(archived, cam, before + after, tmp_path) == 300


def clusters(mkv: bytes) -> tuple[bytes, list[bytes]]:
    """The fixture split before each Cluster: (EBML header + Segment head + Tracks, clusters).
    The Segment's size is made unknown, as a live producer's is, so any run of clusters after
    the head is a whole body."""
    seg = mkv.find(b"\x18\x53\x80\x67") + 4
    n = 9 - mkv[seg].bit_length()  # the size's length in bytes
    unknown = bytes([(0xFF >> (n - 1)) & 0xFF if n > 1 else 0xFF]) + b"\xff" * (n - 1)
    mkv = mkv[:seg] + unknown + mkv[seg + n :]
    marker = b"\x1f\x43\xb6\x75"
    starts = []
    i = mkv.find(marker)
    while i != -1:
        starts.append(i)
        i = mkv.find(marker, i + 1)
    assert len(starts) == 5, "the fixture has five clusters"
    ends = starts[1:] + [len(mkv)]
    return mkv[: starts[0]], [mkv[a:b] for a, b in zip(starts, ends)]


def put_media_raw(endpoint: str, stream: str, pieces) -> list[dict]:
    """PutMedia over a raw socket, one chunk per piece (pieces may be callables, run between
    chunks); writing stops quietly when the server ends the session. The acks it sent."""
    url = urllib.parse.urlsplit(endpoint)
    headers = sign(
        "POST",
        f"{endpoint}/putMedia",
        headers={
            "x-amzn-stream-name": stream,
            "x-amzn-fragment-timecode-type": "RELATIVE",
            "x-amzn-producer-start-timestamp": f"{BASE_MS / 1000:.3f}",
        },
    )
    head = "POST /putMedia HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection((url.hostname, url.port), timeout=30) as s:
        s.sendall(head.encode())
        try:
            for piece in pieces:
                if callable(piece):
                    piece()
                    continue
                s.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            s.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except ConnectionResetError:
            pass
    return [json.loads(m) for m in re.findall(rb"\{[^{}]*\}", out)]


def test_a_failing_spell_ends_the_session_and_the_producer_resends(disk, server_factory, tmp_path):
    """A producer's long connection: the disk fails under its second fragment. The session ends
    with ERROR 5001 naming that fragment's timecode (what the KVS producer SDK rolls back to);
    once the disk heals, the producer's new connection resends from there and everything is
    stored once, whole."""
    data = disk.mount / "data"
    data.mkdir()
    srv = server_factory(data_dir=data)
    kvs = make_client(srv.url)
    archived = archived_client(srv.url)
    cam = unique_name("eio-spell")
    create_active(kvs, cam, DataRetentionInHours=1)
    head, parts = clusters(FIXTURE.read_bytes())
    pause = lambda: time.sleep(0.5)  # noqa: E731 -- a fragment is stored once the next begins

    # Fragment 0 is sealed by cluster 1's start, fragment 1 by cluster 2's: after the failure.
    first = put_media_raw(
        srv.url, cam, [head + parts[0], parts[1], pause, disk.fail, parts[2], pause, parts[3], pause]
    )
    assert persisted(first) and [a["FragmentTimecode"] for a in first if a["EventType"] == "PERSISTED"] == [0]
    (error,) = errors(first)
    assert (error["ErrorId"], error["FragmentTimecode"]) == (5001, 999), first

    disk.heal()
    resend = parts[1:]  # from the failed fragment on
    second = put_media_raw(srv.url, cam, [head + resend[0], *resend[1:]])
    assert [a["FragmentTimecode"] for a in second if a["EventType"] == "PERSISTED"] == [999, 1999, 2999, 3999], second
    kept = persisted(first) + persisted(second)

    # Exactly what was acknowledged is listed, and each of those fragments is whole.
    assert listed(archived, cam) == sorted(kept)
    assert frames_of(archived, cam, kept, tmp_path) == 150
    srv.stop()
    check = subprocess.run(
        [str(srv.binary), "check", "--data-dir", str(data)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
