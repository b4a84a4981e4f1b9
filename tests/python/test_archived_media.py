"""ListFragments and GetMediaForFragmentList through real boto3 (`kinesis-video-archived-media`),
after a gst-made fixture was sent with PutMedia; what comes back must be valid MKV per ffprobe."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from helpers import ACCESS_KEY, REGION, SECRET_KEY, assert_kvs_error, create_active, sign, unique_name

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "gst_h264_320x240_gop30_5s.mkv"
START_MS = 1_700_000_000_000  # x-amzn-producer-start-timestamp; the fixture's clusters are 0, 999, ...


def archived_client(endpoint: str):
    return boto3.client(
        "kinesis-video-archived-media",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=30),
    )


def paced(body: bytes, pieces: int = 25):
    """The body in pieces a little apart, so each fragment gets its own server timestamp."""
    step = len(body) // pieces + 1
    for i in range(0, len(body), step):
        time.sleep(0.015)
        yield body[i : i + step]


def put_media(endpoint: str, stream: str, body: bytes) -> list[dict]:
    req = urllib.request.Request(
        f"{endpoint}/putMedia",
        data=paced(body),
        method="POST",
        # Streaming PutMedia is signed as if its body were empty, as the KVS producers sign it.
        headers=sign(
            "POST",
            f"{endpoint}/putMedia",
            headers={
                "x-amzn-stream-name": stream,
                "x-amzn-fragment-timecode-type": "RELATIVE",
                "x-amzn-producer-start-timestamp": f"{START_MS / 1000:.3f}",
            },
        ),
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200
        return [json.loads(line) for line in resp.read().decode().splitlines() if line.strip()]


def vint(b: bytes, i: int) -> tuple[int, int]:
    first = b[i]
    n = 8 - first.bit_length() + 1
    v = first & ((1 << (8 - n)) - 1)
    for x in b[i + 1 : i + n]:
        v = (v << 8) | x
    return v, n


def split_documents(b: bytes) -> list[bytes]:
    """Concatenated MKV documents, split by their top-level sizes only."""
    docs, i = [], 0
    while i < len(b):
        assert b[i : i + 4] == b"\x1a\x45\xdf\xa3", "EBML header"
        size, n = vint(b, i + 4)
        seg = i + 4 + n + size
        assert b[seg : seg + 4] == b"\x18\x53\x80\x67", "Segment"
        size, n = vint(b, seg + 4)
        end = seg + 4 + n + size
        docs.append(b[i:end])
        i = end
    return docs


def ffprobe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_packets", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stderr == "", out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def ingested(kvs, endpoint):
    name = unique_name("arch")
    create_active(kvs, name, DataRetentionInHours=2)
    acks = put_media(endpoint, name, FIXTURE.read_bytes())
    persisted = [a for a in acks if a["EventType"] == "PERSISTED"]
    assert len(persisted) == 5, acks
    assert [a["FragmentTimecode"] for a in persisted] == [0, 999, 1999, 2999, 3999]
    data_endpoint = kvs.get_data_endpoint(StreamName=name, APIName="LIST_FRAGMENTS")["DataEndpoint"]
    return name, [a["FragmentNumber"] for a in persisted], archived_client(data_endpoint)


def utc(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)


def test_list_fragments_by_producer_time_with_inclusive_boundaries(ingested):
    name, numbers, am = ingested
    resp = am.list_fragments(
        StreamName=name,
        FragmentSelector={
            "FragmentSelectorType": "PRODUCER_TIMESTAMP",
            "TimestampRange": {"StartTimestamp": utc(START_MS + 999), "EndTimestamp": utc(START_MS + 2999)},
        },
    )
    frags = resp["Fragments"]
    assert [f["FragmentNumber"] for f in frags] == numbers[1:4]
    assert frags[0]["ProducerTimestamp"] == utc(START_MS + 999)
    assert all(f["FragmentSizeInBytes"] > 1000 for f in frags)
    assert all(f["FragmentLengthInMilliseconds"] > 900 for f in frags)
    assert "NextToken" not in resp


def test_list_fragments_pagination_and_server_time(ingested):
    name, numbers, am = ingested
    pages = am.get_paginator("list_fragments").paginate(
        StreamName=name,
        FragmentSelector={
            "FragmentSelectorType": "SERVER_TIMESTAMP",
            "TimestampRange": {"StartTimestamp": utc(0), "EndTimestamp": dt.datetime.now(dt.timezone.utc)},
        },
        PaginationConfig={"PageSize": 2},
    )
    seen = [f["FragmentNumber"] for page in pages for f in page["Fragments"]]
    assert seen == numbers


def test_get_media_for_fragment_list_is_valid_mkv(ingested, tmp_path):
    name, numbers, am = ingested
    resp = am.get_media_for_fragment_list(StreamName=name, Fragments=numbers)
    assert resp["ContentType"] == "video/webm"
    payload = resp["Payload"].read()
    docs = split_documents(payload)
    assert len(docs) == 5
    total = 0
    for i, doc in enumerate(docs):
        path = tmp_path / f"fragment-{i}.mkv"
        path.write_bytes(doc)
        info = ffprobe(path)
        (stream,) = info["streams"]
        assert stream["codec_name"] == "h264"
        assert (stream["width"], stream["height"]) == (320, 240)
        total += int(stream["nb_read_packets"])
        assert numbers[i].encode() in doc, "AWS_KINESISVIDEO_FRAGMENT_NUMBER tag"
    assert total == 150


def test_archived_media_errors(ingested, kvs):
    name, numbers, am = ingested
    with pytest.raises(am.exceptions.ResourceNotFoundException) as e:
        am.get_media_for_fragment_list(StreamName=name, Fragments=["9" * 47])
    assert_kvs_error(e.value, "ResourceNotFoundException", 404)
    with pytest.raises(am.exceptions.ResourceNotFoundException):
        am.list_fragments(StreamName=unique_name("missing"))
    with pytest.raises(am.exceptions.InvalidArgumentException):
        am.list_fragments(StreamName=name, NextToken="not-a-token")
