"""Access control as AWS clients see it: boto3 for the three KVS services and the AWS CLI, with the
right key, an unknown key, a wrong secret, a tampered body and a stale X-Amz-Date, each answered
with AWS's error; keys made through /v1/keys work with their policy's limits; the AWS CLI reads
the root credentials from a shared-credentials file."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import urllib.request

import boto3
import botocore.exceptions
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from helpers import ACCESS_KEY, REGION, SECRET_KEY, create_active, sign, unique_name
from test_aws_cli import find_aws

SERVICES = ("kinesisvideo", "kinesis-video-media", "kinesis-video-archived-media")


def client(service: str, endpoint: str, key: str = ACCESS_KEY, secret: str = SECRET_KEY, token=None, verify=None):
    """A boto3 client of `service` (one attempt); `verify` as boto3's (a CA file for https)."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        verify=verify,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=30),
    )


def call(c, service: str, stream: str):
    """One read operation of each service."""
    if service == "kinesisvideo":
        return c.describe_stream(StreamName=stream)
    if service == "kinesis-video-archived-media":
        return c.list_fragments(StreamName=stream)
    return c.get_media(StreamName=stream, StartSelector={"StartSelectorType": "EARLIEST"})


def error_code(exc: botocore.exceptions.ClientError) -> str:
    return exc.response["Error"]["Code"]


@pytest.mark.parametrize("service", SERVICES)
def test_right_key_works_unknown_key_and_wrong_secret_are_refused(endpoint, kvs, service):
    name = unique_name("auth")
    create_active(kvs, name, DataRetentionInHours=1)
    call(client(service, endpoint), service, name)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(client(service, endpoint, key="VSAKNOSUCHKEY0000000"), service, name)
    assert error_code(e.value) == "UnrecognizedClientException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(client(service, endpoint, secret="not-the-secret-0000000"), service, name)
    assert error_code(e.value) == "InvalidSignatureException"


def signed_post(endpoint: str, path: str, body: bytes, when: dt.datetime | None = None) -> AWSRequest:
    """A POST signed by botocore, at `when` (default now)."""
    req = AWSRequest(method="POST", url=endpoint + path, data=body, headers={"Content-Type": "application/json"})
    auth = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "kinesisvideo", REGION)
    if when is None:
        auth.add_auth(req)
        return req
    # add_auth always stamps the current time: sign step by step with the given one.
    req.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
    auth._modify_request_before_signing(req)
    canonical = auth.canonical_request(req)
    auth._inject_signature_to_request(req, auth.signature(auth.string_to_sign(req, canonical), req))
    return req


def send(req: AWSRequest, body: bytes | None = None) -> tuple[int, str, dict]:
    raw = urllib.request.Request(req.url, data=body if body is not None else req.body, method="POST")
    for k, v in req.headers.items():
        raw.add_header(k, v)
    try:
        with urllib.request.urlopen(raw, timeout=10) as r:
            return r.status, "", json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        doc = json.loads(e.read() or b"{}")
        return e.code, e.headers.get("x-amzn-ErrorType", ""), doc


def test_tampered_body_and_stale_date_are_refused(endpoint):
    body = json.dumps({"StreamName": "any"}).encode()
    status, _, _ = send(signed_post(endpoint, "/listStreams", b"{}"))
    assert status == 200
    # The body changed after signing.
    status, kind, _ = send(signed_post(endpoint, "/describeStream", body), body=b'{"StreamName": "other"}')
    assert (status, kind) == (403, "InvalidSignatureException")
    # Signed 10 minutes ago: outside the 5-minute window.
    stale = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=10)
    status, kind, doc = send(signed_post(endpoint, "/listStreams", b"{}", when=stale))
    assert (status, kind) == (403, "InvalidSignatureException")
    assert "Signature expired" in doc["message"], doc
    # No signature at all.
    raw = urllib.request.Request(endpoint + "/listStreams", data=b"{}", method="POST")
    raw.add_header("Content-Type", "application/json")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(raw, timeout=10)
    assert e.value.code == 403
    assert e.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def admin(endpoint: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else b""
    headers = sign(method, endpoint + path, data, {"Content-Type": "application/json"} if body is not None else {})
    raw = urllib.request.Request(endpoint + path, data=data if body is not None else None, method=method)
    for k, v in headers.items():
        raw.add_header(k, v)
    try:
        with urllib.request.urlopen(raw, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_a_producer_key_from_the_admin_api_is_limited_to_its_streams(endpoint, kvs):
    prefix = unique_name("cam")
    status, key = admin(
        endpoint, "POST", "/v1/keys", {"name": unique_name("k"), "policy": "producer", "streams": f"{prefix}*"}
    )
    assert status == 201, key
    producer = client("kinesisvideo", endpoint, key["accessKeyId"], key["secretAccessKey"])
    producer.create_stream(StreamName=f"{prefix}-1", DataRetentionInHours=1)
    with pytest.raises(producer.exceptions.ClientError) as e:
        producer.create_stream(StreamName=unique_name("elsewhere"))
    assert error_code(e.value) == "AccessDeniedException"
    with pytest.raises(producer.exceptions.NotAuthorizedException):
        producer.describe_stream(StreamName=unique_name("elsewhere"))
    arn = producer.describe_stream(StreamName=f"{prefix}-1")["StreamInfo"]["StreamARN"]
    with pytest.raises(producer.exceptions.NotAuthorizedException):
        producer.delete_stream(StreamARN=arn)
    listed, _ = admin(endpoint, "GET", "/v1/keys")
    assert listed == 200


def test_the_aws_cli_reads_the_root_credentials_file(endpoint, tmp_path):
    creds = tmp_path / "root-credentials"
    creds.write_text(f"[default]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n")
    wrong = tmp_path / "wrong-credentials"
    wrong.write_text("[default]\naws_access_key_id = VSAKNOSUCHKEY0000000\naws_secret_access_key = nope-nope-nope\n")
    config = tmp_path / "config"
    config.write_text(f"[default]\nregion = {REGION}\n")

    def run(credentials) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_SHARED_CREDENTIALS_FILE=str(credentials), AWS_CONFIG_FILE=str(config), AWS_PAGER="", HOME=str(tmp_path)
        )
        return subprocess.run(
            [find_aws(), "kinesisvideo", "list-streams", "--endpoint-url", endpoint, "--output", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    ok = run(creds)
    assert ok.returncode == 0, ok.stderr
    assert "StreamInfoList" in json.loads(ok.stdout)
    refused = run(wrong)
    assert refused.returncode != 0
    assert "UnrecognizedClientException" in refused.stderr, refused.stderr
