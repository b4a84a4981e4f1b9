"""GetImages through real boto3 (`kinesis-video-archived-media` get_images and its paginator),
after a gst-made fixture was sent with PutMedia: each image must have the asked size and show
the frame on screen at its timestamp, read back with ffmpeg and the fixtures' framecode; the KVS
errors must reach boto3 as its modelled exceptions."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import assert_kvs_error, create_active, unique_name
from test_archived_media import FIXTURE, START_MS, archived_client, put_media

FRAMECODE = Path(__file__).resolve().parents[2] / "fixtures" / "framecode.py"


def utc(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)


def fixture_pts() -> list[int]:
    """The fixture's presentation times in ms from its start, sorted: frame i is the i-th."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", "-show_entries", "packet=pts_time", str(FIXTURE)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    pts = sorted(round(float(p["pts_time"]) * 1000) for p in json.loads(out.stdout)["packets"])
    return [p - pts[0] for p in pts]


def shown(pts: list[int], offset: int) -> int:
    return sum(1 for p in pts if p <= offset) - 1


def read_image(data: bytes, tmp_path: Path, name: str) -> tuple[str, int, int, int]:
    """(codec, width, height, framecode index) of an image, per ffprobe, ffmpeg and framecode."""
    path = tmp_path / name
    path.write_bytes(data)
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", "-show_entries", "stream=codec_name,width,height", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    (s,) = json.loads(out.stdout)["streams"]
    gray = path.with_suffix(".gray")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "gray", str(gray)],
        check=True,
    )  # fmt: skip
    out = subprocess.run(
        [sys.executable, str(FRAMECODE), "decode", "--width", str(s["width"]), "--height", str(s["height"]), str(gray)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return s["codec_name"], s["width"], s["height"], int(out.stdout.strip())


@pytest.fixture(scope="module")
def image_stream(kvs, endpoint):
    name = unique_name("images")
    create_active(kvs, name, DataRetentionInHours=2)
    acks = put_media(endpoint, name, FIXTURE.read_bytes())
    assert len([a for a in acks if a["EventType"] == "PERSISTED"]) == 5, acks
    data_endpoint = kvs.get_data_endpoint(StreamName=name, APIName="GET_IMAGES")["DataEndpoint"]
    return name, archived_client(data_endpoint)


def test_get_images_returns_the_frames_shown_at_the_asked_size(image_stream, tmp_path: Path):
    name, am = image_stream
    pts = fixture_pts()
    resp = am.get_images(
        StreamName=name,
        ImageSelectorType="PRODUCER_TIMESTAMP",
        StartTimestamp=utc(START_MS + 1500),
        EndTimestamp=utc(START_MS + 2300),
        SamplingInterval=400,
        Format="JPEG",
        FormatConfig={"JPEGQuality": "90"},
        WidthPixels=160,
    )
    images = resp["Images"]
    assert "NextToken" not in resp
    assert len(images) == 3
    for k, img in enumerate(images):
        offset = 1500 + 400 * k
        assert img["TimeStamp"] == utc(START_MS + offset)
        assert "Error" not in img, img
        got = read_image(base64.b64decode(img["ImageContent"]), tmp_path, f"{k}.jpg")
        assert got == ("mjpeg", 160, 120, shown(pts, offset)), (offset, got)


def test_get_images_paginator_and_no_media(image_stream, tmp_path: Path):
    name, am = image_stream
    pts = fixture_pts()
    pages = am.get_paginator("get_images").paginate(
        StreamName=name,
        ImageSelectorType="PRODUCER_TIMESTAMP",
        StartTimestamp=utc(START_MS - 1100),
        EndTimestamp=utc(START_MS + 6000),
        SamplingInterval=500,
        Format="PNG",
        PaginationConfig={"PageSize": 4},
    )
    sizes, images = [], []
    for page in pages:
        sizes.append(len(page["Images"]))
        images.extend(page["Images"])
    assert sizes == [4, 4, 4, 3]
    for k, img in enumerate(images):
        offset = -1100 + 500 * k
        assert img["TimeStamp"] == utc(START_MS + offset)
        if offset < 0 or offset > 5000:  # the last frame (4967 ms) is shown until 5000
            assert img.get("Error") == "NO_MEDIA", img
            continue
        got = read_image(base64.b64decode(img["ImageContent"]), tmp_path, f"p{k}.png")
        assert got == ("png", 320, 240, shown(pts, offset)), (offset, got)


def test_get_images_errors_reach_boto3(image_stream, kvs):
    name, am = image_stream
    args = dict(
        ImageSelectorType="PRODUCER_TIMESTAMP",
        StartTimestamp=utc(START_MS),
        EndTimestamp=utc(START_MS + 1000),
        Format="PNG",
    )
    with pytest.raises(am.exceptions.ResourceNotFoundException) as e:
        am.get_images(StreamName=unique_name("missing"), **args)
    assert_kvs_error(e.value, "ResourceNotFoundException", 404)
    with pytest.raises(am.exceptions.InvalidArgumentException) as e:
        am.get_images(StreamName=name, **{**args, "EndTimestamp": utc(START_MS + 301_000)})
    assert_kvs_error(e.value, "InvalidArgumentException", 400)
    with pytest.raises(am.exceptions.InvalidArgumentException):
        am.get_images(StreamName=name, SamplingInterval=100, **args)
    live = unique_name("images-live")
    create_active(kvs, live, DataRetentionInHours=0)
    with pytest.raises(am.exceptions.NoDataRetentionException) as e:
        am.get_images(StreamName=live, **args)
    assert_kvs_error(e.value, "NoDataRetentionException", 400)
