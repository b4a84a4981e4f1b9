"""GetClip through real boto3 (`kinesis-video-archived-media` get_clip), after a gst-made fixture
was sent with PutMedia: the payload must be an MP4 that ffprobe reads as H.264 of the asked
duration, and the KVS errors must reach boto3 as its modelled exceptions."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest

from helpers import assert_kvs_error, create_active, unique_name
from test_archived_media import FIXTURE, START_MS, archived_client, put_media


def utc(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)


def producer_range(start_ms: int, end_ms: int) -> dict:
    return {
        "FragmentSelectorType": "PRODUCER_TIMESTAMP",
        "TimestampRange": {"StartTimestamp": utc(start_ms), "EndTimestamp": utc(end_ms)},
    }


@pytest.fixture(scope="module")
def clip_stream(kvs, endpoint):
    name = unique_name("clip")
    create_active(kvs, name, DataRetentionInHours=2)
    acks = put_media(endpoint, name, FIXTURE.read_bytes())
    assert len([a for a in acks if a["EventType"] == "PERSISTED"]) == 5, acks
    data_endpoint = kvs.get_data_endpoint(StreamName=name, APIName="GET_CLIP")["DataEndpoint"]
    return name, archived_client(data_endpoint)


def test_get_clip_is_an_h264_mp4_of_the_asked_duration(clip_stream, tmp_path: Path):
    name, am = clip_stream
    resp = am.get_clip(StreamName=name, ClipFragmentSelector=producer_range(START_MS + 1500, START_MS + 3500))
    assert resp["ContentType"] == "video/mp4"
    payload = resp["Payload"].read()
    assert payload[4:8] == b"ftyp"
    path = tmp_path / "clip.mp4"
    path.write_bytes(payload)
    out = subprocess.run(
        [
            "ffprobe", "-v", "error", "-count_frames", "-of", "json",
            "-show_entries", "stream=codec_name,width,height,nb_read_frames:format=duration",
            str(path),
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stderr == "", out.stderr
    info = json.loads(out.stdout)
    (stream,) = info["streams"]
    assert stream["codec_name"] == "h264"
    assert (stream["width"], stream["height"]) == (320, 240)
    assert abs(float(info["format"]["duration"]) - 2.0) < 0.05, info
    assert 59 <= int(stream["nb_read_frames"]) <= 61, stream


def test_get_clip_errors_reach_boto3(clip_stream, kvs):
    name, am = clip_stream
    with pytest.raises(am.exceptions.ResourceNotFoundException) as e:
        am.get_clip(StreamName=name, ClipFragmentSelector=producer_range(START_MS - 600_000, START_MS - 500_000))
    assert_kvs_error(e.value, "ResourceNotFoundException", 404)
    assert e.value.response["Error"]["Message"] == "No fragments found in the given time range"
    with pytest.raises(am.exceptions.ResourceNotFoundException):
        am.get_clip(StreamName=unique_name("missing"), ClipFragmentSelector=producer_range(START_MS, START_MS + 1000))
    with pytest.raises(am.exceptions.InvalidArgumentException) as e:
        am.get_clip(StreamName=name, ClipFragmentSelector=producer_range(START_MS + 2000, START_MS + 1000))
    assert_kvs_error(e.value, "InvalidArgumentException", 400)
    live = unique_name("clip-live")
    create_active(kvs, live, DataRetentionInHours=0)
    with pytest.raises(am.exceptions.NoDataRetentionException) as e:
        am.get_clip(StreamName=live, ClipFragmentSelector=producer_range(START_MS, START_MS + 1000))
    assert_kvs_error(e.value, "NoDataRetentionException", 400)
