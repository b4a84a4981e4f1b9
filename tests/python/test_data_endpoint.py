"""GetDataEndpoint: every APIName answers the server's public URL."""

from __future__ import annotations

import pytest

from helpers import API_NAMES, assert_kvs_error, body, create_active, make_client, unique_name


@pytest.fixture(scope="module")
def stream(kvs):
    return create_active(kvs, MediaType="video/h264", DataRetentionInHours=1)


@pytest.mark.parametrize("api_name", API_NAMES)
def test_data_endpoint_defaults_to_listen_address(kvs, endpoint, server, stream, api_name):
    assert endpoint == f"http://127.0.0.1:{server.port}"
    by_name = kvs.get_data_endpoint(StreamName=stream["StreamName"], APIName=api_name)
    assert body(by_name) == {"DataEndpoint": endpoint}
    by_arn = kvs.get_data_endpoint(StreamARN=stream["StreamARN"], APIName=api_name)
    assert body(by_arn) == {"DataEndpoint": endpoint}


def test_data_endpoint_missing_stream_is_not_found(kvs):
    with pytest.raises(kvs.exceptions.ResourceNotFoundException) as e:
        kvs.get_data_endpoint(StreamName=unique_name("missing"), APIName="PUT_MEDIA")
    assert_kvs_error(e.value, "ResourceNotFoundException", 404)
    arn = f"arn:aws:kinesisvideo:us-east-1:000000000000:stream/{unique_name('missing')}/1700000000000"
    with pytest.raises(kvs.exceptions.ResourceNotFoundException) as e:
        kvs.get_data_endpoint(StreamARN=arn, APIName="GET_MEDIA")
    assert_kvs_error(e.value, "ResourceNotFoundException", 404)


def test_data_endpoint_unknown_api_name_is_invalid_argument(kvs, stream):
    # botocore does not validate enum values client-side.
    with pytest.raises(kvs.exceptions.InvalidArgumentException) as e:
        kvs.get_data_endpoint(StreamName=stream["StreamName"], APIName="GET_EVERYTHING")
    assert_kvs_error(e.value, "InvalidArgumentException", 400)


def test_data_endpoint_uses_configured_public_url(server_factory):
    srv = server_factory(extra_args=("--public-url", "http://example.test:9999"))
    client = make_client(srv.url)
    info = create_active(client)
    for api_name in API_NAMES:
        resp = client.get_data_endpoint(StreamARN=info["StreamARN"], APIName=api_name)
        assert resp["DataEndpoint"] == "http://example.test:9999", api_name
