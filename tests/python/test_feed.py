"""The example ML consumer (examples/ml_consumer.py) run as a program against a real server:
frames into numpy through the WebSocket frame feed (with a checkpoint, an abrupt stop and an
exact resume) and through boto3 get_images. Which frame each array holds is read back with the
fixtures' framecode, never taken from the server's metadata."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import ACCESS_KEY, REGION, SECRET_KEY, create_active, unique_name
from test_archived_media import FIXTURE, START_MS, put_media
from test_images import fixture_pts

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "ml_consumer.py"
FRAMECODE = REPO / "fixtures" / "framecode.py"


@pytest.fixture(scope="module")
def feed_stream(kvs, endpoint):
    name = unique_name("feed")
    create_active(kvs, name, DataRetentionInHours=2)
    acks = put_media(endpoint, name, FIXTURE.read_bytes())
    assert len([a for a in acks if a["EventType"] == "PERSISTED"]) == 5, acks
    return name


def run_example(endpoint: str, tmp_path: Path, name: str, *args: str) -> tuple[list[dict], np.ndarray]:
    out = tmp_path / f"{name}.npy"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
           "AWS_DEFAULT_REGION": REGION}
    proc = subprocess.run([sys.executable, str(EXAMPLE), "--endpoint", endpoint, *args, "--out", str(out)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    return lines, np.load(out)


def framecodes(frames: np.ndarray, tmp_path: Path) -> list[int]:
    """The index each RGB frame shows: luma in numpy, then framecode.py."""
    n, h, w, _ = frames.shape
    luma = (frames[..., 0] * 0.299 + frames[..., 1] * 0.587 + frames[..., 2] * 0.114).round()
    gray = tmp_path / "frames.gray"
    gray.write_bytes(luma.astype(np.uint8).tobytes())
    out = subprocess.run([sys.executable, str(FRAMECODE), "decode", "--width", str(w), "--height", str(h), str(gray)],
                         capture_output=True, text=True, check=True)
    return [int(x) for x in out.stdout.split()]


def grid(interval: int, start: int, end: int) -> list[int]:
    """Frame indexes the feed's rule picks: the first frame at or after each grid time."""
    out, last = [], None
    for i, p in enumerate(fixture_pts()):
        if start <= p <= end and (last is None or (START_MS + p) // interval > last):
            out.append(i)
            last = (START_MS + p) // interval
    return out


def test_example_consumer_checkpoints_and_resumes_over_the_feed(feed_stream, endpoint, tmp_path: Path):
    end = START_MS + fixture_pts()[-1]  # the feed ends once it reaches the last frame
    want = grid(250, 0, 4999)
    assert len(want) == 20
    common = ["--stream", feed_stream, "--consumer", "py-job", "--interval", "250", "--end", str(end)]
    lines, first = run_example(endpoint, tmp_path, "first", *common, "--start", str(START_MS), "--max-frames", "8")
    assert first.shape == (8, 240, 320, 3) and first.dtype == np.uint8
    assert framecodes(first, tmp_path) == want[:8]
    assert [line["shape"] for line in lines] == [[240, 320, 3]] * 8

    # The program stopped abruptly after committing frame 8: the next run resumes right after it.
    lines, rest = run_example(endpoint, tmp_path, "rest", *common, "--start", "CHECKPOINT")
    assert framecodes(rest, tmp_path) == want[8:]
    assert lines[0]["producer_timestamp_ms"] > START_MS + fixture_pts()[want[7]]


def test_example_consumer_reads_get_images_into_numpy(feed_stream, endpoint, tmp_path: Path):
    lines, frames = run_example(endpoint, tmp_path, "images", "--source", "get-images", "--stream", feed_stream,
                                "--start", str(START_MS + 1000), "--end", str(START_MS + 3000), "--interval", "500")
    assert frames.shape == (5, 240, 320, 3)
    pts = fixture_pts()
    shown = [sum(1 for p in pts if p <= t) - 1 for t in range(1000, 3001, 500)]
    assert framecodes(frames, tmp_path) == shown
    assert [line["producer_timestamp_ms"] for line in lines] == list(range(START_MS + 1000, START_MS + 3001, 500))
