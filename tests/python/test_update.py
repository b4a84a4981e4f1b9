"""UpdateStream and UpdateDataRetention: field changes, Version bumps, optimistic concurrency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from helpers import (
    VERSION_RE,
    assert_kvs_error,
    body,
    create_active,
    describe,
    make_client,
    unique_name,
    wait_status,
)

UNCHANGED_BY_UPDATES = ("StreamName", "StreamARN", "KmsKeyId", "CreationTime")


def test_update_stream_changes_fields_and_version(kvs):
    before = create_active(kvs, DeviceName="dev1", MediaType="video/h264", DataRetentionInHours=3)
    name = before["StreamName"]
    resp = kvs.update_stream(
        StreamName=name, CurrentVersion=before["Version"], DeviceName="dev2", MediaType="video/h265"
    )
    assert body(resp) == {}
    after = wait_status(kvs, name)
    assert after["DeviceName"] == "dev2"
    assert after["MediaType"] == "video/h265"
    assert after["DataRetentionInHours"] == 3
    assert VERSION_RE.fullmatch(after["Version"])
    assert after["Version"] != before["Version"]
    for key in UNCHANGED_BY_UPDATES:
        assert after[key] == before[key], key


def test_update_stream_by_arn(kvs):
    before = create_active(kvs, MediaType="video/h264")
    kvs.update_stream(StreamARN=before["StreamARN"], CurrentVersion=before["Version"], MediaType="video/h264,audio/aac")
    after = wait_status(kvs, before["StreamARN"])
    assert after["MediaType"] == "video/h264,audio/aac"
    assert after["Version"] != before["Version"]


def test_update_stream_sets_device_name_on_stream_without_one(kvs):
    before = create_active(kvs)
    assert "DeviceName" not in before
    kvs.update_stream(StreamName=before["StreamName"], CurrentVersion=before["Version"], DeviceName="newcam")
    after = wait_status(kvs, before["StreamName"])
    assert after["DeviceName"] == "newcam"


def test_update_stream_omitted_fields_stay_unchanged(kvs):
    before = create_active(kvs, DeviceName="keepdev", MediaType="video/h264")
    kvs.update_stream(StreamName=before["StreamName"], CurrentVersion=before["Version"], DeviceName="otherdev")
    after = wait_status(kvs, before["StreamName"])
    assert after["DeviceName"] == "otherdev"
    assert after["MediaType"] == "video/h264"


def test_successive_updates_each_need_the_latest_version(kvs):
    v0 = create_active(kvs, DeviceName="a0")
    name = v0["StreamName"]
    kvs.update_stream(StreamName=name, CurrentVersion=v0["Version"], DeviceName="a1")
    v1 = wait_status(kvs, name)
    kvs.update_stream(StreamName=name, CurrentVersion=v1["Version"], DeviceName="a2")
    v2 = wait_status(kvs, name)
    assert len({v0["Version"], v1["Version"], v2["Version"]}) == 3
    assert v2["DeviceName"] == "a2"


def test_update_stream_with_stale_version_is_version_mismatch(kvs):
    before = create_active(kvs, DeviceName="orig")
    name = before["StreamName"]
    kvs.update_stream(StreamName=name, CurrentVersion=before["Version"], DeviceName="first")
    current = wait_status(kvs, name)
    with pytest.raises(kvs.exceptions.VersionMismatchException) as e:
        kvs.update_stream(StreamName=name, CurrentVersion=before["Version"], DeviceName="second")
    assert_kvs_error(e.value, "VersionMismatchException", 400)
    assert describe(kvs, name) == current


def test_update_stream_with_made_up_version_is_version_mismatch(kvs):
    before = create_active(kvs)
    with pytest.raises(kvs.exceptions.VersionMismatchException) as e:
        kvs.update_stream(StreamName=before["StreamName"], CurrentVersion="NoSuchVersion0", DeviceName="x")
    assert_kvs_error(e.value, "VersionMismatchException", 400)
    assert describe(kvs, before["StreamName"]) == before


def test_update_stream_invalid_media_type_is_invalid_argument(kvs):
    before = create_active(kvs, MediaType="video/h264")
    with pytest.raises(kvs.exceptions.InvalidArgumentException) as e:
        kvs.update_stream(StreamName=before["StreamName"], CurrentVersion=before["Version"], MediaType="video")
    assert_kvs_error(e.value, "InvalidArgumentException", 400)
    assert describe(kvs, before["StreamName"]) == before


def test_update_missing_stream_is_not_found(kvs):
    with pytest.raises(kvs.exceptions.ResourceNotFoundException) as e:
        kvs.update_stream(StreamName=unique_name("missing"), CurrentVersion="abc", DeviceName="x")
    assert_kvs_error(e.value, "ResourceNotFoundException", 404)


# --- UpdateDataRetention ---------------------------------------------------------------------------


def retention(kvs, name_or_arn, version, op, hours):
    return kvs.update_data_retention(
        **{("StreamARN" if name_or_arn.startswith("arn:") else "StreamName"): name_or_arn},
        CurrentVersion=version,
        Operation=op,
        DataRetentionChangeInHours=hours,
    )


def test_increase_and_decrease_retention(kvs):
    s0 = create_active(kvs, DataRetentionInHours=24, DeviceName="d", MediaType="video/h264")
    name = s0["StreamName"]

    assert body(retention(kvs, name, s0["Version"], "INCREASE_DATA_RETENTION", 12)) == {}
    s1 = wait_status(kvs, name)
    assert s1["DataRetentionInHours"] == 36
    assert s1["Version"] != s0["Version"]

    retention(kvs, s1["StreamARN"], s1["Version"], "DECREASE_DATA_RETENTION", 30)
    s2 = wait_status(kvs, name)
    assert s2["DataRetentionInHours"] == 6
    assert s2["Version"] not in (s0["Version"], s1["Version"])

    # Down to exactly 0 is allowed.
    retention(kvs, name, s2["Version"], "DECREASE_DATA_RETENTION", 6)
    s3 = wait_status(kvs, name)
    assert s3["DataRetentionInHours"] == 0

    for key in UNCHANGED_BY_UPDATES + ("DeviceName", "MediaType"):
        assert s3[key] == s0[key], key


def test_increase_retention_from_zero(kvs):
    s0 = create_active(kvs)
    retention(kvs, s0["StreamARN"], s0["Version"], "INCREASE_DATA_RETENTION", 1)
    assert wait_status(kvs, s0["StreamARN"])["DataRetentionInHours"] == 1


def test_decrease_below_zero_is_invalid_argument(kvs):
    s0 = create_active(kvs, DataRetentionInHours=5)
    with pytest.raises(kvs.exceptions.InvalidArgumentException) as e:
        retention(kvs, s0["StreamName"], s0["Version"], "DECREASE_DATA_RETENTION", 6)
    assert_kvs_error(e.value, "InvalidArgumentException", 400)
    assert describe(kvs, s0["StreamName"]) == s0


def test_increase_beyond_ten_years_is_invalid_argument(kvs):
    s0 = create_active(kvs, DataRetentionInHours=87000)
    with pytest.raises(kvs.exceptions.InvalidArgumentException) as e:
        retention(kvs, s0["StreamName"], s0["Version"], "INCREASE_DATA_RETENTION", 601)
    assert_kvs_error(e.value, "InvalidArgumentException", 400)
    assert describe(kvs, s0["StreamName"]) == s0
    retention(kvs, s0["StreamName"], s0["Version"], "INCREASE_DATA_RETENTION", 600)
    assert wait_status(kvs, s0["StreamName"])["DataRetentionInHours"] == 87600


def test_retention_with_stale_version_is_version_mismatch(kvs):
    s0 = create_active(kvs, DataRetentionInHours=2)
    name = s0["StreamName"]
    retention(kvs, name, s0["Version"], "INCREASE_DATA_RETENTION", 1)
    s1 = wait_status(kvs, name)
    with pytest.raises(kvs.exceptions.VersionMismatchException) as e:
        retention(kvs, name, s0["Version"], "INCREASE_DATA_RETENTION", 1)
    assert_kvs_error(e.value, "VersionMismatchException", 400)
    assert describe(kvs, name) == s1
    assert s1["DataRetentionInHours"] == 3


def test_retention_unknown_operation_is_invalid_argument(kvs):
    # botocore does not validate enum values client-side.
    s0 = create_active(kvs, DataRetentionInHours=2)
    with pytest.raises(kvs.exceptions.InvalidArgumentException) as e:
        retention(kvs, s0["StreamName"], s0["Version"], "SET_DATA_RETENTION", 1)
    assert_kvs_error(e.value, "InvalidArgumentException", 400)
    assert describe(kvs, s0["StreamName"]) == s0


def test_retention_missing_stream_is_not_found(kvs):
    with pytest.raises(kvs.exceptions.ResourceNotFoundException) as e:
        retention(kvs, unique_name("missing"), "abc", "INCREASE_DATA_RETENTION", 1)
    assert_kvs_error(e.value, "ResourceNotFoundException", 404)


def test_concurrent_updates_with_the_same_version_exactly_one_wins(endpoint):
    """Optimistic concurrency under a race: N clients update with one CurrentVersion; one succeeds."""
    clients = [make_client(endpoint) for _ in range(8)]
    before = create_active(clients[0])
    name = before["StreamName"]

    def attempt(i):
        try:
            clients[i].update_stream(StreamName=name, CurrentVersion=before["Version"], DeviceName=f"racer{i}")
            return "ok", i
        except ClientError as e:
            return e.response["Error"]["Code"], i

    with ThreadPoolExecutor(len(clients)) as pool:
        results = list(pool.map(attempt, range(len(clients))))
    winners = [i for code, i in results if code == "ok"]
    losers = [code for code, _ in results if code != "ok"]
    assert len(winners) == 1, results
    assert set(losers) <= {"VersionMismatchException", "ResourceInUseException"}, results
    after = wait_status(clients[0], name)
    assert after["DeviceName"] == f"racer{winners[0]}"
    assert after["Version"] != before["Version"]


def test_stream_storage_configuration_describes_and_updates_the_tier(kvs):
    s = create_active(kvs)
    name, arn = s["StreamName"], s["StreamARN"]
    got = kvs.describe_stream_storage_configuration(StreamName=name)
    assert got["StreamName"] == name
    assert got["StreamARN"] == arn
    assert got["StreamStorageConfiguration"] == {"DefaultStorageTier": "HOT"}
    resp = kvs.update_stream_storage_configuration(
        StreamARN=arn,
        CurrentVersion=s["Version"],
        StreamStorageConfiguration={"DefaultStorageTier": "WARM"},
    )
    assert body(resp) == {}
    got = kvs.describe_stream_storage_configuration(StreamARN=arn)
    assert got["StreamStorageConfiguration"] == {"DefaultStorageTier": "WARM"}
    after = describe(kvs, name)
    assert after["Version"] != s["Version"]
    # The old version is stale now; a tier KVS does not have is refused.
    with pytest.raises(ClientError) as e:
        kvs.update_stream_storage_configuration(
            StreamName=name,
            CurrentVersion=s["Version"],
            StreamStorageConfiguration={"DefaultStorageTier": "HOT"},
        )
    assert_kvs_error(e.value, "VersionMismatchException")
    with pytest.raises(ClientError) as e:
        kvs.update_stream_storage_configuration(
            StreamName=name,
            CurrentVersion=after["Version"],
            StreamStorageConfiguration={"DefaultStorageTier": "COLD"},
        )
    assert_kvs_error(e.value, "InvalidArgumentException")
    with pytest.raises(ClientError) as e:
        kvs.describe_stream_storage_configuration(StreamName=unique_name())
    assert_kvs_error(e.value, "ResourceNotFoundException")
