"""GetMedia through real boto3 (`kinesis-video-media`), read the way the KVS Python consumer
library reads it: split the stream at each fragment's EBML header, and parse every fragment as
its own MKV document with ebmlite (the EBML library that consumer library uses). Each start
selector must land on the right frame, told by decoding with ffmpeg and reading the fixture's
framecode."""

from __future__ import annotations

import subprocess
import time
import sys
from pathlib import Path

import boto3
import ebmlite
import pytest
from botocore.config import Config

from helpers import ACCESS_KEY, REGION, SECRET_KEY, create_active, sign, unique_name
from test_archived_media import FIXTURE, START_MS, put_media

REPO = Path(__file__).resolve().parents[2]
EBML_MAGIC = b"\x1a\x45\xdf\xa3"
SCHEMA = ebmlite.loadSchema("matroska.xml")


def media_client(endpoint: str):
    return boto3.client(
        "kinesis-video-media",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=30),
    )


def first_fragments(payload, count: int) -> list[bytes]:
    """The consumer-library pattern: a fragment is complete once the next one's EBML header
    arrives. Reads until `count` fragments are complete, then stops reading."""
    buf = b""
    while True:
        chunk = payload.read(16 * 1024)
        assert chunk, "the stream ended early"
        buf += chunk
        starts = []
        i = buf.find(EBML_MAGIC)
        while i != -1:
            starts.append(i)
            i = buf.find(EBML_MAGIC, i + 1)
        if len(starts) > count:
            payload.close()
            return [buf[starts[k] : starts[k + 1]] for k in range(count)]


def tags_and_blocks(fragment: bytes) -> tuple[dict[str, str], int]:
    """Parses one fragment on its own with ebmlite: its tags and its SimpleBlock count."""
    doc = SCHEMA.loads(fragment)
    tags: dict[str, str] = {}
    blocks = 0
    (segment,) = [el for el in doc if el.name == "Segment"]
    for el in segment:
        if el.name == "Tags":
            for tag in el:
                for simple in tag:
                    if simple.name == "SimpleTag":
                        fields = {c.name: c.value for c in simple}
                        tags[fields["TagName"]] = fields.get("TagString", "")
        elif el.name == "Cluster":
            blocks += sum(1 for c in el if c.name == "SimpleBlock")
    return tags, blocks


def framecode_of_first_frame(fragment: bytes, tmp_path: Path) -> int:
    mkv = tmp_path / "fragment.mkv"
    mkv.write_bytes(fragment)
    gray = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(mkv), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True,
        check=True,
    ).stdout
    sys.path.insert(0, str(REPO / "fixtures"))
    import framecode  # noqa: PLC0415 (the fixture's own decoder)

    return framecode.decode(gray, 320, 240)


@pytest.fixture(scope="module")
def stream(kvs, endpoint):
    name = unique_name("gm")
    create_active(kvs, name, DataRetentionInHours=2)
    acks = put_media(endpoint, name, FIXTURE.read_bytes())
    numbers = [a["FragmentNumber"] for a in acks if a["EventType"] == "PERSISTED"]
    assert len(numbers) == 5
    data_endpoint = kvs.get_data_endpoint(StreamName=name, APIName="GET_MEDIA")["DataEndpoint"]
    return name, numbers, media_client(data_endpoint)


@pytest.mark.parametrize(
    ("selector", "want"),
    [
        ({"StartSelectorType": "EARLIEST"}, 0),
        ({"StartSelectorType": "FRAGMENT_NUMBER", "AfterFragmentNumber": 1}, 30),
        ({"StartSelectorType": "CONTINUATION_TOKEN", "ContinuationToken": 1}, 60),
        ({"StartSelectorType": "PRODUCER_TIMESTAMP", "StartTimestamp": START_MS + 3500}, 90),
        ({"StartSelectorType": "SERVER_TIMESTAMP", "StartTimestamp": "fragment 2"}, 60),
    ],
    ids=["earliest", "fragment-number", "continuation-token", "producer-timestamp", "server-timestamp"],
)
def test_get_media_selector_starts_at_the_right_frame(stream, kvs, endpoint, selector, want, tmp_path):
    name, numbers, media = stream
    selector = dict(selector)
    for key in ("AfterFragmentNumber", "ContinuationToken"):
        if key in selector:
            selector[key] = numbers[selector[key]]
    if selector.get("StartTimestamp") == "fragment 2":
        from test_archived_media import archived_client  # noqa: PLC0415

        frags = archived_client(endpoint).list_fragments(StreamName=name)["Fragments"]
        selector["StartTimestamp"] = frags[2]["ServerTimestamp"]
    elif "StartTimestamp" in selector:
        import datetime as dt  # noqa: PLC0415

        selector["StartTimestamp"] = dt.datetime.fromtimestamp(selector["StartTimestamp"] / 1000, tz=dt.timezone.utc)
    resp = media.get_media(StreamName=name, StartSelector=selector)
    assert resp["ContentType"] == "video/webm"
    k = want // 30
    # A fragment is complete when the next one's header arrives: the last stored one never is.
    count = min(2, 4 - k)
    fragments = first_fragments(resp["Payload"], count)
    tags, blocks = tags_and_blocks(fragments[0])
    assert tags["AWS_KINESISVIDEO_FRAGMENT_NUMBER"] == numbers[k]
    assert tags["AWS_KINESISVIDEO_CONTINUATION_TOKEN"] == numbers[k]
    assert int(tags["AWS_KINESISVIDEO_MILLIS_BEHIND_NOW"]) >= 0
    assert float(tags["AWS_KINESISVIDEO_PRODUCER_TIMESTAMP"]) == pytest.approx((START_MS + [0, 999, 1999, 2999, 3999][k]) / 1000)
    assert blocks == 30
    assert framecode_of_first_frame(fragments[0], tmp_path) == want
    # The next fragment is a standalone document too.
    if count == 2:
        tags2, blocks2 = tags_and_blocks(fragments[1])
        assert tags2["AWS_KINESISVIDEO_FRAGMENT_NUMBER"] == numbers[k + 1]
        assert blocks2 == 30


def test_get_media_errors(stream):
    name, _, media = stream
    with pytest.raises(media.exceptions.ResourceNotFoundException):
        media.get_media(StreamName=unique_name("missing"), StartSelector={"StartSelectorType": "NOW"})
    with pytest.raises(media.exceptions.InvalidArgumentException):
        media.get_media(StreamName=name, StartSelector={"StartSelectorType": "FRAGMENT_NUMBER"})


def test_get_media_now_follows_the_live_edge(kvs, endpoint, tmp_path):
    """NOW joins a producer that is sending in real time: the first document is the fragment
    being written, from its first frame (a multiple of 30 in the fixture's framecode)."""
    import threading  # noqa: PLC0415

    name = unique_name("now")
    create_active(kvs, name, DataRetentionInHours=1)
    body = FIXTURE.read_bytes()
    producer = threading.Thread(
        target=lambda: put_media_paced(endpoint, name, body, seconds=4.0), daemon=True
    )
    producer.start()
    time.sleep(1.2)
    data_endpoint = kvs.get_data_endpoint(StreamName=name, APIName="GET_MEDIA")["DataEndpoint"]
    resp = media_client(data_endpoint).get_media(StreamName=name, StartSelector={"StartSelectorType": "NOW"})
    (fragment,) = first_fragments(resp["Payload"], 1)
    producer.join(timeout=30)
    first = framecode_of_first_frame(fragment, tmp_path)
    assert first % 30 == 0 and 0 < first < 150, first
    tags, blocks = tags_and_blocks(fragment)
    assert blocks == 30
    assert "AWS_KINESISVIDEO_CONTINUATION_TOKEN" in tags


def put_media_paced(endpoint: str, stream: str, body: bytes, seconds: float) -> None:
    pieces = 40
    step = len(body) // pieces + 1

    def gen():
        for i in range(0, len(body), step):
            time.sleep(seconds / pieces)
            yield body[i : i + step]

    import urllib.request  # noqa: PLC0415

    req = urllib.request.Request(
        f"{endpoint}/putMedia",
        data=gen(),
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
    with urllib.request.urlopen(req, timeout=60) as r:
        r.read()
