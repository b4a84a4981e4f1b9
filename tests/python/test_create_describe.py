"""CreateStream and DescribeStream through boto3."""

from __future__ import annotations

import datetime
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from helpers import (
    ARN_RE,
    VERSION_RE,
    arn_creation_ms,
    assert_kvs_error,
    body,
    create_active,
    describe,
    make_client,
    unique_name,
    wait_status,
)


def test_create_returns_arn_then_stream_becomes_active(kvs):
    name = unique_name("create")
    t0_ms = time.time() * 1000
    resp = kvs.create_stream(StreamName=name)
    t1_ms = time.time() * 1000

    assert set(body(resp)) == {"StreamARN"}
    arn = resp["StreamARN"]
    m = ARN_RE.fullmatch(arn)
    assert m, f"unexpected ARN {arn!r}"
    assert m["name"] == name
    created_ms = int(m["ms"])
    assert t0_ms - 1000 <= created_ms <= t1_ms + 1000, "ARN suffix is not the creation time in epoch ms"

    first = describe(kvs, name)
    assert first["Status"] in ("CREATING", "ACTIVE")
    info = wait_status(kvs, name, "ACTIVE")

    assert info["StreamName"] == name
    assert info["StreamARN"] == arn
    assert info["KmsKeyId"] == "aws/kinesisvideo"
    assert info["DataRetentionInHours"] == 0
    assert "MediaType" not in info
    assert "DeviceName" not in info
    assert VERSION_RE.fullmatch(info["Version"]), info["Version"]
    created = info["CreationTime"]
    assert isinstance(created, datetime.datetime) and created.tzinfo is not None
    assert abs(created.timestamp() * 1000 - created_ms) <= 1000, (created, created_ms)
    assert set(info) == {
        "StreamName",
        "StreamARN",
        "KmsKeyId",
        "Version",
        "Status",
        "CreationTime",
        "DataRetentionInHours",
    }


def test_create_with_all_parameters(kvs):
    name = unique_name("full")
    tags = {"env": "test", "team": "video", "empty": ""}
    info = create_active(
        kvs,
        name,
        DeviceName="camera-01.front_door",
        MediaType="video/h264,audio/aac",
        KmsKeyId="arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        DataRetentionInHours=24,
        Tags=tags,
    )
    assert info["DeviceName"] == "camera-01.front_door"
    assert info["MediaType"] == "video/h264,audio/aac"
    assert info["KmsKeyId"] == "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert info["DataRetentionInHours"] == 24
    assert kvs.list_tags_for_stream(StreamName=name)["Tags"] == tags


def test_describe_by_name_and_by_arn_agree(kvs):
    info = create_active(kvs, DeviceName="dev", MediaType="video/h265", DataRetentionInHours=2)
    by_name = kvs.describe_stream(StreamName=info["StreamName"])
    by_arn = kvs.describe_stream(StreamARN=info["StreamARN"])
    assert body(by_name) == body(by_arn) == {"StreamInfo": info}


def test_describe_is_stable(kvs):
    """Describing does not change the stream (no version bump, same creation time)."""
    info = create_active(kvs)
    for _ in range(3):
        assert describe(kvs, info["StreamName"]) == info


@pytest.mark.parametrize("media_type", ["video/h264", "video/h264,audio/aac", "audio/x-opus", "video/x.vendor+raw"])
def test_create_accepts_valid_media_types(kvs, media_type):
    info = create_active(kvs, MediaType=media_type)
    assert info["MediaType"] == media_type


def test_duplicate_name_is_resource_in_use(kvs):
    name = unique_name("dup")
    original = create_active(kvs, name, DataRetentionInHours=1)
    with pytest.raises(kvs.exceptions.ResourceInUseException) as e:
        kvs.create_stream(StreamName=name, DataRetentionInHours=5)
    assert_kvs_error(e.value, "ResourceInUseException", 400)
    assert describe(kvs, name) == original


@pytest.mark.parametrize(
    "bad_name",
    ["bad name!", "slash/name", "colon:name", "ünïcödé", "x" * 257],
    ids=["space-bang", "slash", "colon", "non-ascii", "257-chars"],
)
def test_invalid_stream_name_is_invalid_argument(kvs, bad_name):
    with pytest.raises(kvs.exceptions.InvalidArgumentException) as e:
        kvs.create_stream(StreamName=bad_name)
    assert_kvs_error(e.value, "InvalidArgumentException", 400)


def test_stream_name_of_256_characters_is_accepted(kvs):
    name = unique_name("long")
    name = name + "x" * (256 - len(name))
    info = create_active(kvs, name)
    assert info["StreamName"] == name and len(name) == 256


@pytest.mark.parametrize("bad_type", ["video", "video/", "/h264", "video/h264,", "video/h264,audio", "video /h264"])
def test_invalid_media_type_is_invalid_argument(kvs, bad_type):
    name = unique_name("mt")
    with pytest.raises(kvs.exceptions.InvalidArgumentException) as e:
        kvs.create_stream(StreamName=name, MediaType=bad_type)
    assert_kvs_error(e.value, "InvalidArgumentException", 400)
    with pytest.raises(kvs.exceptions.ResourceNotFoundException):
        kvs.describe_stream(StreamName=name)


def test_invalid_device_name_is_invalid_argument(kvs):
    name = unique_name("dev")
    with pytest.raises(kvs.exceptions.InvalidArgumentException) as e:
        kvs.create_stream(StreamName=name, DeviceName="bad device!")
    assert_kvs_error(e.value, "InvalidArgumentException", 400)


def test_retention_above_ten_years_is_invalid_argument(kvs):
    """KVS caps retention at 87,600 h (10 years); boto3 only checks the minimum."""
    ok = create_active(kvs, DataRetentionInHours=87600)
    assert ok["DataRetentionInHours"] == 87600
    name = unique_name("ret")
    with pytest.raises(kvs.exceptions.InvalidArgumentException) as e:
        kvs.create_stream(StreamName=name, DataRetentionInHours=87601)
    assert_kvs_error(e.value, "InvalidArgumentException", 400)


def test_fifty_tags_at_create_are_accepted(kvs):
    tags = {f"key{i:02d}": f"value{i}" for i in range(50)}
    info = create_active(kvs, Tags=tags)
    assert kvs.list_tags_for_stream(StreamARN=info["StreamARN"])["Tags"] == tags


def test_more_than_fifty_tags_at_create_is_rejected(kvs):
    # botocore does not validate the map's max size client-side, so this reaches the server.
    name = unique_name("tags51")
    with pytest.raises(kvs.exceptions.TagsPerResourceExceededLimitException) as e:
        kvs.create_stream(StreamName=name, Tags={f"k{i}": "v" for i in range(51)})
    assert_kvs_error(e.value, "TagsPerResourceExceededLimitException", 400)
    # A rejected create creates nothing.
    with pytest.raises(kvs.exceptions.ResourceNotFoundException):
        kvs.describe_stream(StreamName=name)


def test_invalid_tag_key_at_create_is_invalid_argument(kvs):
    name = unique_name("badtag")
    with pytest.raises(kvs.exceptions.InvalidArgumentException) as e:
        kvs.create_stream(StreamName=name, Tags={"bad#key": "v"})
    assert_kvs_error(e.value, "InvalidArgumentException", 400)
    with pytest.raises(kvs.exceptions.ResourceNotFoundException):
        kvs.describe_stream(StreamName=name)


def test_describe_missing_stream_is_not_found(kvs):
    name = unique_name("missing")
    with pytest.raises(kvs.exceptions.ResourceNotFoundException) as e:
        kvs.describe_stream(StreamName=name)
    assert_kvs_error(e.value, "ResourceNotFoundException", 404)

    arn = f"arn:aws:kinesisvideo:us-east-1:000000000000:stream/{name}/1700000000000"
    with pytest.raises(kvs.exceptions.ResourceNotFoundException) as e:
        kvs.describe_stream(StreamARN=arn)
    assert_kvs_error(e.value, "ResourceNotFoundException", 404)


def test_describe_with_wrong_creation_time_in_arn_is_not_found(kvs):
    """The ARN names one incarnation of a stream: same name, other creation time is another stream."""
    info = create_active(kvs)
    ms = arn_creation_ms(info["StreamARN"])
    other = info["StreamARN"].rsplit("/", 1)[0] + f"/{ms + 1}"
    with pytest.raises(kvs.exceptions.ResourceNotFoundException) as e:
        kvs.describe_stream(StreamARN=other)
    assert_kvs_error(e.value, "ResourceNotFoundException", 404)


def test_describe_without_name_or_arn_is_invalid_argument(kvs):
    with pytest.raises(kvs.exceptions.InvalidArgumentException) as e:
        kvs.describe_stream()
    assert_kvs_error(e.value, "InvalidArgumentException", 400)


def test_concurrent_creates_of_one_name_exactly_one_wins(endpoint):
    clients = [make_client(endpoint) for _ in range(8)]
    name = unique_name("race")

    def attempt(i):
        try:
            return "ok", clients[i].create_stream(StreamName=name, DeviceName=f"racer{i}")["StreamARN"]
        except ClientError as e:
            return e.response["Error"]["Code"], None

    with ThreadPoolExecutor(len(clients)) as pool:
        results = list(pool.map(attempt, range(len(clients))))
    arns = [arn for code, arn in results if code == "ok"]
    assert len(arns) == 1, results
    assert [code for code, _ in results if code != "ok"] == ["ResourceInUseException"] * (len(clients) - 1)
    info = wait_status(clients[0], name)
    assert info["StreamARN"] == arns[0]
