"""HTTPS as AWS clients see it: a server with a private CA's certificate ([tls]), boto3 for the
three KVS services with `verify=<CA file>`, the AWS CLI with `--ca-bundle`, and refusals: a
client that does not trust the CA, a wrong key over TLS."""

from __future__ import annotations

import json
import os
import subprocess

import botocore.exceptions
import pytest

from conftest import REPO_ROOT
from helpers import ACCESS_KEY, REGION, SECRET_KEY, unique_name
from test_auth import client
from test_aws_cli import find_aws

FIXTURE = REPO_ROOT / "fixtures" / "gst_h264_320x240_gop30_5s.mkv"


@pytest.fixture
def tls_server(server_factory, tmp_path):
    ca_dir = tmp_path / "ca"
    subprocess.run([str(REPO_ROOT / "scripts" / "test-ca.sh"), str(ca_dir)], check=True)
    return server_factory(tls_dir=ca_dir)


def test_boto3_trusting_the_ca_uses_all_three_services(tls_server, vidstream_bin):
    ca = str(tls_server.ca_file)
    kvs = client("kinesisvideo", tls_server.url, verify=ca)
    name = unique_name("tls")
    # `vidstream push --ca-file` creates the stream and sends the fixture over https.
    subprocess.run(
        [str(vidstream_bin), "push", "--endpoint", tls_server.url, "--ca-file", ca,
         "--stream", name, "--create", "--fast", str(FIXTURE)],
        check=True,
        env={**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY},
        capture_output=True,
    )
    endpoint = kvs.get_data_endpoint(StreamName=name, APIName="LIST_FRAGMENTS")["DataEndpoint"]
    assert endpoint == tls_server.url
    archived = client("kinesis-video-archived-media", endpoint, verify=ca)
    fragments = archived.list_fragments(StreamName=name)["Fragments"]
    assert len(fragments) == 5
    media = client("kinesis-video-media", endpoint, verify=ca)
    got = media.get_media(StreamName=name, StartSelector={"StartSelectorType": "EARLIEST"})
    first = got["Payload"].read(4)
    assert first == b"\x1a\x45\xdf\xa3"  # an MKV (EBML) document
    url = archived.get_hls_streaming_session_url(StreamName=name, PlaybackMode="LIVE")[
        "HLSStreamingSessionURL"
    ]
    assert url.startswith("https://127.0.0.1:")


def test_clients_that_do_not_trust_the_ca_and_wrong_keys_are_refused(tls_server):
    # boto3's default trust store (certifi) does not know the private CA.
    with pytest.raises(botocore.exceptions.SSLError):
        client("kinesisvideo", tls_server.url, verify=True).list_streams()
    # Over TLS, signatures are still checked.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client("kinesisvideo", tls_server.url, key="VSAKNOSUCHKEY0000000", verify=str(tls_server.ca_file)).list_streams()
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_aws_cli_with_ca_bundle(tls_server, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_PAGER": "",
        "HOME": str(home),
    }
    base = [find_aws(), "kinesisvideo", "--endpoint-url", tls_server.url, "--region", REGION, "--output", "json"]
    name = unique_name("tlscli")
    ok = subprocess.run(
        [*base, "--ca-bundle", str(tls_server.ca_file), "create-stream", "--stream-name", name],
        env=env, capture_output=True, text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert f":stream/{name}/" in json.loads(ok.stdout)["StreamARN"]
    untrusted = subprocess.run([*base, "list-streams"], env=env, capture_output=True, text=True)
    assert untrusted.returncode != 0
    assert "SSL" in untrusted.stderr or "certificate" in untrusted.stderr, untrusted.stderr
