"""Server lifecycle: graceful shutdown on SIGTERM, and state that survives a restart."""

from __future__ import annotations

import http.client
import time

import pytest

from helpers import body, create_active, make_client, unique_name, wait_gone, wait_status


def test_sigterm_exits_zero_with_idle_keepalive_connection(server_factory):
    srv = server_factory()
    client = make_client(srv.url)
    create_active(client)  # the boto3 client now holds a pooled keep-alive connection

    # Plus a raw HTTP/1.1 keep-alive connection that has finished one request and stays open.
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    conn.request("GET", "/healthz")
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 200

    t0 = time.monotonic()
    srv.stop()  # SIGTERM; fails unless the exit code is 0 within 10 s
    assert time.monotonic() - t0 < 10
    conn.close()


def test_restart_preserves_streams_tags_versions(server_factory, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()

    first = server_factory(data_dir=data_dir)
    c1 = make_client(first.url)
    prefix = unique_name("persist") + "-"
    name = prefix + "kept"
    create_active(
        c1,
        name,
        DeviceName="cam-1",
        MediaType="video/h264",
        KmsKeyId="my-kms-key",
        DataRetentionInHours=48,
        Tags={"env": "test", "site": "Büro 2", "drop": "me"},
    )
    v0 = wait_status(c1, name)
    c1.update_stream(StreamName=name, CurrentVersion=v0["Version"], DeviceName="cam-2", MediaType="video/h265")
    v1 = wait_status(c1, name)
    c1.update_data_retention(
        StreamName=name,
        CurrentVersion=v1["Version"],
        Operation="INCREASE_DATA_RETENTION",
        DataRetentionChangeInHours=24,
    )
    before = wait_status(c1, name)
    c1.tag_stream(StreamName=name, Tags={"env": "prod", "added": "later"})
    c1.untag_stream(StreamName=name, TagKeyList=["drop"])
    tags_before = c1.list_tags_for_stream(StreamName=name)["Tags"]
    assert tags_before == {"env": "prod", "site": "Büro 2", "added": "later"}
    assert before["DataRetentionInHours"] == 72 and before["DeviceName"] == "cam-2"
    assert before["Version"] not in (v0["Version"], v1["Version"])

    # A second stream that is deleted before the restart must stay deleted.
    gone = create_active(c1, prefix + "gone")
    c1.delete_stream(StreamARN=gone["StreamARN"])
    wait_gone(c1, gone["StreamARN"])
    # A third, untouched stream with defaults.
    plain = create_active(c1, prefix + "plain")

    first.stop()  # SIGTERM -> exit 0 within 10 s

    second = server_factory(data_dir=data_dir)
    c2 = make_client(second.url)

    after = wait_status(c2, name)  # ACTIVE right away: no re-creation
    assert after == before, "StreamInfo changed across the restart"
    assert after["CreationTime"] == before["CreationTime"]
    assert after["Version"] == before["Version"]
    assert c2.list_tags_for_stream(StreamARN=before["StreamARN"])["Tags"] == tags_before
    assert c2.list_tags_for_resource(ResourceARN=before["StreamARN"])["Tags"] == tags_before
    assert wait_status(c2, plain["StreamARN"]) == plain

    with pytest.raises(c2.exceptions.ResourceNotFoundException):
        c2.describe_stream(StreamName=prefix + "gone")
    listed = c2.list_streams(StreamNameCondition={"ComparisonOperator": "BEGINS_WITH", "ComparisonValue": prefix})
    assert [i["StreamName"] for i in listed["StreamInfoList"]] == [name, prefix + "plain"]

    # The data endpoint follows the new server's address.
    assert c2.get_data_endpoint(StreamName=name, APIName="PUT_MEDIA")["DataEndpoint"] == second.url

    # Names stay taken, versions keep their meaning.
    with pytest.raises(c2.exceptions.ResourceInUseException):
        c2.create_stream(StreamName=name)
    with pytest.raises(c2.exceptions.VersionMismatchException):
        c2.update_stream(StreamName=name, CurrentVersion=v1["Version"], DeviceName="stale")
    assert body(c2.update_stream(StreamName=name, CurrentVersion=before["Version"], DeviceName="cam-3")) == {}
    final = wait_status(c2, name)
    assert final["DeviceName"] == "cam-3"
    assert final["Version"] not in (v0["Version"], v1["Version"], before["Version"])


def test_restart_twice_keeps_state_and_new_writes(server_factory, tmp_path):
    """Writes made after a restart are persisted too (not only the first run's)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    s1 = server_factory(data_dir=data_dir)
    a = create_active(make_client(s1.url), Tags={"run": "1"})
    s1.stop()

    s2 = server_factory(data_dir=data_dir)
    c2 = make_client(s2.url)
    b = create_active(c2, DataRetentionInHours=5)
    c2.tag_stream(StreamARN=a["StreamARN"], Tags={"run": "2"})
    s2.stop()

    s3 = server_factory(data_dir=data_dir)
    c3 = make_client(s3.url)
    assert wait_status(c3, a["StreamARN"]) == a
    assert wait_status(c3, b["StreamARN"]) == b
    assert c3.list_tags_for_stream(StreamARN=a["StreamARN"])["Tags"] == {"run": "2"}


def test_acknowledged_changes_survive_sigkill(server_factory, tmp_path):
    """A control-plane change that was answered 200 is durable even if the process is killed -9 next."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    s1 = server_factory(data_dir=data_dir)
    c1 = make_client(s1.url)
    v0 = create_active(c1, Tags={"a": "1"}, DataRetentionInHours=1)
    c1.update_stream(StreamARN=v0["StreamARN"], CurrentVersion=v0["Version"], MediaType="video/h264")
    v1 = wait_status(c1, v0["StreamARN"])
    c1.tag_stream(StreamARN=v0["StreamARN"], Tags={"b": "2"})
    doomed = create_active(c1)
    c1.delete_stream(StreamARN=doomed["StreamARN"])
    wait_gone(c1, doomed["StreamARN"])
    s1.kill()  # SIGKILL: no graceful shutdown, no final flush

    s2 = server_factory(data_dir=data_dir)
    c2 = make_client(s2.url)
    assert wait_status(c2, v0["StreamARN"]) == v1
    assert c2.list_tags_for_stream(StreamARN=v0["StreamARN"])["Tags"] == {"a": "1", "b": "2"}
    with pytest.raises(c2.exceptions.ResourceNotFoundException):
        c2.describe_stream(StreamARN=doomed["StreamARN"])
