"""DeleteStream: optimistic concurrency, disappearance, and re-creating the name."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from helpers import assert_kvs_error, body, create_active, describe, unique_name, wait_gone, wait_status


def test_delete_then_gone_then_name_reusable(kvs):
    old = create_active(kvs, DataRetentionInHours=4, Tags={"old": "yes"})
    name, arn = old["StreamName"], old["StreamARN"]

    resp = kvs.delete_stream(StreamARN=arn, CurrentVersion=old["Version"])
    assert body(resp) == {}
    wait_gone(kvs, arn)

    with pytest.raises(kvs.exceptions.ResourceNotFoundException) as e:
        kvs.describe_stream(StreamName=name)
    assert_kvs_error(e.value, "ResourceNotFoundException", 404)

    # The name can be used again; it is a new stream (new ARN, defaults, no old tags).
    new_arn = kvs.create_stream(StreamName=name)["StreamARN"]
    assert new_arn != arn
    new = wait_status(kvs, name)
    assert new["StreamARN"] == new_arn
    assert new["DataRetentionInHours"] == 0
    assert new["CreationTime"] > old["CreationTime"]
    assert kvs.list_tags_for_stream(StreamName=name).get("Tags", {}) == {}

    # The old ARN names the deleted incarnation, not the new stream.
    with pytest.raises(kvs.exceptions.ResourceNotFoundException):
        kvs.describe_stream(StreamARN=arn)


def test_delete_without_version(kvs):
    info = create_active(kvs)
    kvs.delete_stream(StreamARN=info["StreamARN"])
    wait_gone(kvs, info["StreamARN"])


def test_delete_with_stale_version_is_version_mismatch(kvs):
    v0 = create_active(kvs, DeviceName="a")
    name = v0["StreamName"]
    kvs.update_stream(StreamName=name, CurrentVersion=v0["Version"], DeviceName="b")
    v1 = wait_status(kvs, name)
    with pytest.raises(kvs.exceptions.VersionMismatchException) as e:
        kvs.delete_stream(StreamARN=v0["StreamARN"], CurrentVersion=v0["Version"])
    assert_kvs_error(e.value, "VersionMismatchException", 400)
    # Still there and untouched.
    assert describe(kvs, name) == v1
    kvs.delete_stream(StreamARN=v1["StreamARN"], CurrentVersion=v1["Version"])
    wait_gone(kvs, v1["StreamARN"])


def test_deleted_stream_is_inaccessible_to_other_operations(kvs):
    info = create_active(kvs, Tags={"k": "v"})
    name, arn = info["StreamName"], info["StreamARN"]
    kvs.delete_stream(StreamARN=arn)
    wait_gone(kvs, arn)
    calls = {
        "get_data_endpoint": lambda: kvs.get_data_endpoint(StreamName=name, APIName="GET_MEDIA"),
        "list_tags_for_stream": lambda: kvs.list_tags_for_stream(StreamName=name),
        "list_tags_for_resource": lambda: kvs.list_tags_for_resource(ResourceARN=arn),
        "tag_stream": lambda: kvs.tag_stream(StreamARN=arn, Tags={"a": "b"}),
        "update_stream": lambda: kvs.update_stream(StreamName=name, CurrentVersion=info["Version"], DeviceName="x"),
        "delete_stream": lambda: kvs.delete_stream(StreamARN=arn),
    }
    for op, call in calls.items():
        try:
            call()
        except ClientError as err:
            assert err.response["Error"]["Code"] == "ResourceNotFoundException", (op, err.response["Error"])
            assert_kvs_error(err, "ResourceNotFoundException", 404)
        else:
            pytest.fail(f"{op} on a deleted stream succeeded; want ResourceNotFoundException")


def test_delete_missing_stream_is_not_found(kvs):
    arn = f"arn:aws:kinesisvideo:us-east-1:000000000000:stream/{unique_name('missing')}/1700000000000"
    with pytest.raises(kvs.exceptions.ResourceNotFoundException) as e:
        kvs.delete_stream(StreamARN=arn)
    assert_kvs_error(e.value, "ResourceNotFoundException", 404)
