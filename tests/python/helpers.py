"""Small helpers shared by the test modules (stream names, waiting on status, error checks)."""

from __future__ import annotations

import re
import urllib.parse
import time
import uuid

import boto3
import botocore.exceptions
from botocore.config import Config

REGION = "us-east-1"
ACCOUNT = "000000000000"
# The root key every test server is configured with (conftest passes it as
# VIDSTREAM_AUTH__ROOT_ACCESS_KEY_ID / _SECRET_ACCESS_KEY): access control is on in every test.
ACCESS_KEY = "VSRKPYTESTROOT000001"
SECRET_KEY = "py-test-root-secret-00000000000000000000000"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

# arn:aws:kinesisvideo:<region>:<account>:stream/<name>/<creation epoch ms>
ARN_RE = re.compile(
    rf"arn:aws:kinesisvideo:{re.escape(REGION)}:{ACCOUNT}:stream/(?P<name>[a-zA-Z0-9_.-]+)/(?P<ms>[0-9]+)"
)
VERSION_RE = re.compile(r"[a-zA-Z0-9]{1,64}")

STATUS_TIMEOUT_S = 5.0


def make_client(endpoint_url: str):
    """A kinesisvideo control-plane client for `endpoint_url`, signing with the tests' root key."""
    return boto3.client(
        "kinesisvideo",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        # One attempt: a 5xx or a dropped connection must surface as a failure, not be retried away.
        config=Config(
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=5,
            read_timeout=30,
        ),
    )


def sign(method: str, url: str, body: bytes = b"", headers: dict | None = None,
         access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY, token: str | None = None) -> dict:
    """The headers that sign a request as boto3 would (botocore's SigV4Auth, service kinesisvideo).

    `body` is what the signature covers: a streaming PutMedia is signed with an empty body, as the
    KVS producers sign it. Returns `headers` plus Host, X-Amz-Date, Authorization (and the token).
    """
    from botocore.auth import SigV4Auth  # noqa: PLC0415
    from botocore.awsrequest import AWSRequest  # noqa: PLC0415
    from botocore.credentials import Credentials  # noqa: PLC0415

    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    SigV4Auth(Credentials(access_key, secret_key, token), "kinesisvideo", REGION).add_auth(req)
    out = dict(req.headers.items())
    # botocore signs the URL's host (with a non-default port) but leaves the header to the client.
    out.setdefault("Host", urllib.parse.urlsplit(url).netloc)
    return out


API_NAMES = [
    "PUT_MEDIA",
    "GET_MEDIA",
    "LIST_FRAGMENTS",
    "GET_MEDIA_FOR_FRAGMENT_LIST",
    "GET_HLS_STREAMING_SESSION_URL",
    "GET_DASH_STREAMING_SESSION_URL",
    "GET_CLIP",
    "GET_IMAGES",
]


def unique_name(prefix: str = "t") -> str:
    """A stream name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def body(resp: dict) -> dict:
    """A boto3 response without ResponseMetadata."""
    return {k: v for k, v in resp.items() if k != "ResponseMetadata"}


def describe(kvs, name_or_arn: str) -> dict:
    key = "StreamARN" if name_or_arn.startswith("arn:") else "StreamName"
    return kvs.describe_stream(**{key: name_or_arn})["StreamInfo"]


def wait_status(kvs, name_or_arn: str, status: str = "ACTIVE", timeout: float = STATUS_TIMEOUT_S) -> dict:
    """Poll DescribeStream until Status == status; returns that StreamInfo."""
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        info = describe(kvs, name_or_arn)
        if not seen or seen[-1] != info["Status"]:
            seen.append(info["Status"])
        if info["Status"] == status:
            return info
        if time.monotonic() > deadline:
            raise AssertionError(f"{name_or_arn}: status never became {status} within {timeout} s (saw {seen})")
        time.sleep(0.05)


def create_active(kvs, name: str | None = None, **params) -> dict:
    """CreateStream, then wait until ACTIVE. Returns the ACTIVE StreamInfo."""
    name = name or unique_name()
    arn = kvs.create_stream(StreamName=name, **params)["StreamARN"]
    info = wait_status(kvs, name)
    assert info["StreamARN"] == arn
    return info


def wait_gone(kvs, arn: str, timeout: float = STATUS_TIMEOUT_S) -> None:
    """Poll DescribeStream until ResourceNotFoundException; only DELETING may be seen before."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            info = kvs.describe_stream(StreamARN=arn)["StreamInfo"]
        except kvs.exceptions.ResourceNotFoundException:
            return
        assert info["Status"] == "DELETING", f"deleted stream shows Status {info['Status']}, want DELETING or gone"
        if time.monotonic() > deadline:
            raise AssertionError(f"{arn} still described (DELETING) {timeout} s after DeleteStream")
        time.sleep(0.05)


def assert_kvs_error(err: botocore.exceptions.ClientError, code: str, status: int | None = None) -> None:
    """The error boto3 parsed has the KVS shape: code, HTTP status, x-amzn-ErrorType header, message."""
    if status is None:
        status = 404 if code == "ResourceNotFoundException" else 400
    resp = err.response
    meta = resp["ResponseMetadata"]
    assert resp["Error"]["Code"] == code, resp
    assert meta["HTTPStatusCode"] == status, f"{code}: HTTP {meta['HTTPStatusCode']}, want {status}"
    header = meta["HTTPHeaders"].get("x-amzn-errortype")
    assert header is not None, f"no x-amzn-ErrorType header in {meta['HTTPHeaders']}"
    assert header.split(":")[0] == code
    assert resp["Error"].get("Message"), f"empty error message in {resp['Error']}"


def arn_creation_ms(arn: str) -> int:
    m = ARN_RE.fullmatch(arn)
    assert m, f"{arn!r} is not a vidstream stream ARN"
    return int(m["ms"])
