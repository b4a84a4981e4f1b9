"""The AWS CLI (v1, from the venv) against the server: `aws kinesisvideo ... --endpoint-url URL`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import ACCESS_KEY, ARN_RE, REGION, SECRET_KEY, VERSION_RE, unique_name


def find_aws() -> str:
    # The venv's own `aws` script sits next to its python.
    candidate = Path(sys.executable).with_name("aws")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("aws")
    if not found:
        pytest.fail("the AWS CLI (awscli from tests/python/requirements.txt) is not installed", pytrace=False)
    return found


@pytest.fixture(scope="module")
def aws(endpoint, tmp_path_factory):
    """Run `aws kinesisvideo <args>` against the test server; returns the CompletedProcess."""
    aws_bin = find_aws()
    home = tmp_path_factory.mktemp("aws-cli")
    config = home / "config"
    config.write_text(f"[default]\nregion = {REGION}\noutput = json\n")
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_CONFIG_FILE=str(config),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials-none"),
        AWS_PAGER="",
        HOME=str(home),
    )

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [
            aws_bin,
            "kinesisvideo",
            *args,
            "--endpoint-url",
            endpoint,
            "--region",
            REGION,
            "--output",
            "json",
        ]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            pytest.fail(
                f"{' '.join(cmd)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}",
                pytrace=False,
            )
        return proc

    return run


def out(proc: subprocess.CompletedProcess) -> dict:
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


def test_cli_create_describe_list(aws):
    name = unique_name("cli")
    t0 = time.time()
    created = out(aws("create-stream", "--stream-name", name, "--data-retention-in-hours", "24"))
    m = ARN_RE.fullmatch(created["StreamARN"])
    assert m and m["name"] == name

    deadline = time.monotonic() + 5
    while True:
        info = out(aws("describe-stream", "--stream-name", name))["StreamInfo"]
        if info["Status"] == "ACTIVE" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert info["Status"] == "ACTIVE"
    assert info["StreamName"] == name
    assert info["StreamARN"] == created["StreamARN"]
    assert info["DataRetentionInHours"] == 24
    assert info["KmsKeyId"] == "aws/kinesisvideo"
    assert VERSION_RE.fullmatch(info["Version"])
    # AWS CLI v1 prints timestamps the way the server sent them: epoch seconds.
    assert isinstance(info["CreationTime"], (int, float)), info["CreationTime"]
    assert t0 - 1 <= info["CreationTime"] <= time.time() + 1

    listed = out(aws("list-streams"))["StreamInfoList"]
    mine = [i for i in listed if i["StreamName"] == name]
    assert mine == [info]

    cond = f"ComparisonOperator=BEGINS_WITH,ComparisonValue={name}"
    filtered = out(aws("list-streams", "--stream-name-condition", cond))
    assert [i["StreamName"] for i in filtered["StreamInfoList"]] == [name]


def test_cli_list_streams_paginates_transparently(aws):
    prefix = unique_name("clipage") + "-"
    names = [prefix + s for s in ("b", "c", "a")]
    for n in names:
        aws("create-stream", "--stream-name", n)
    cond = f"ComparisonOperator=BEGINS_WITH,ComparisonValue={prefix}"
    # --page-size makes the CLI fetch 1 per request and follow NextToken itself.
    listed = out(aws("list-streams", "--stream-name-condition", cond, "--page-size", "1"))
    assert [i["StreamName"] for i in listed["StreamInfoList"]] == sorted(names)


def test_cli_tags_endpoint_update_delete(aws, endpoint):
    name = unique_name("clitag")
    arn = out(
        aws("create-stream", "--stream-name", name, "--media-type", "video/h264", "--tags", "env=cli,team=video")
    )["StreamARN"]
    assert out(aws("list-tags-for-stream", "--stream-name", name))["Tags"] == {"env": "cli", "team": "video"}
    aws("tag-stream", "--stream-arn", arn, "--tags", "env=prod")
    assert out(aws("list-tags-for-stream", "--stream-arn", arn))["Tags"] == {"env": "prod", "team": "video"}

    ep = out(aws("get-data-endpoint", "--stream-name", name, "--api-name", "GET_HLS_STREAMING_SESSION_URL"))
    assert ep == {"DataEndpoint": endpoint}

    deadline = time.monotonic() + 5
    while (info := out(aws("describe-stream", "--stream-arn", arn))["StreamInfo"])["Status"] != "ACTIVE":
        assert time.monotonic() < deadline, info
        time.sleep(0.1)
    aws("update-stream", "--stream-name", name, "--current-version", info["Version"], "--device-name", "cli-cam")
    deadline = time.monotonic() + 5
    while (after := out(aws("describe-stream", "--stream-arn", arn))["StreamInfo"])["Status"] != "ACTIVE":
        assert time.monotonic() < deadline, after
        time.sleep(0.1)
    assert after["DeviceName"] == "cli-cam"
    assert after["Version"] != info["Version"]

    aws("delete-stream", "--stream-arn", arn, "--current-version", after["Version"])
    deadline = time.monotonic() + 5
    while True:
        proc = aws("describe-stream", "--stream-arn", arn, check=False)
        if proc.returncode != 0:
            break
        assert out(proc)["StreamInfo"]["Status"] == "DELETING"
        assert time.monotonic() < deadline, "stream still described 5 s after delete-stream"
        time.sleep(0.1)
    assert "ResourceNotFoundException" in proc.stderr, proc.stderr


def test_cli_reports_service_errors(aws):
    proc = aws("describe-stream", "--stream-name", unique_name("missing"), check=False)
    assert proc.returncode != 0
    assert "ResourceNotFoundException" in proc.stderr, proc.stderr

    proc = aws("create-stream", "--stream-name", "bad name!", check=False)
    assert proc.returncode != 0
    assert "InvalidArgumentException" in proc.stderr, proc.stderr
