"""The control plane on the wire, without boto3: JSON shapes, error shape, hostile bodies."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse

import pytest

from helpers import ARN_RE, create_active, describe, sign, unique_name, wait_status


def raw_post(url: str, path: str, payload: bytes, content_type: str = "application/json", timeout: float = 30):
    """POST `payload` and return (status, {lower-case header: value}, body bytes).

    The body is sent from a second thread while this one reads the answer, so a server that
    answers (e.g. 413) before reading the whole body neither deadlocks nor loses its answer.
    """
    parsed = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)
    conn.connect()
    signed = sign("POST", url + path, payload, {"Content-Type": content_type})
    head = (
        f"POST {path} HTTP/1.1\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in signed.items())
        + f"Content-Length: {len(payload)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    sock = conn.sock

    def send():
        try:
            sock.sendall(head + payload)
        except OSError:
            pass  # the server may stop reading once it has answered

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    resp = http.client.HTTPResponse(sock, method="POST")
    resp.begin()
    data = resp.read()
    headers = {k.lower(): v for k, v in resp.getheaders()}
    sender.join(timeout)
    conn.close()
    return resp.status, headers, data


def raw_get(url: str, path: str, timeout: float = 10):
    parsed = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)
    conn.request("GET", path, headers=sign("GET", url + path))
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def post_json(url: str, path: str, obj) -> tuple[int, dict, dict]:
    status, headers, data = raw_post(url, path, json.dumps(obj).encode())
    return status, headers, json.loads(data) if data else {}


def assert_kvs_error_shape(status, headers, data, error_type, statuses):
    assert status in statuses, f"HTTP {status}, want one of {statuses}; body {data[:300]!r}"
    assert headers.get("x-amzn-errortype", "").split(":")[0] == error_type, headers
    try:
        doc = json.loads(data)
    except ValueError:
        pytest.fail(f"error body is not JSON: {data[:300]!r}")
    assert isinstance(doc, dict), doc
    assert doc.get("__type") == error_type, doc
    assert isinstance(doc.get("message"), str) and doc["message"], doc


def assert_healthy(url: str):
    status, _ = raw_get(url, "/healthz")
    assert status == 200


# --- well-formed requests: the JSON the SDKs see -------------------------------------------------------


def test_create_and_describe_wire_format(endpoint):
    name = unique_name("raw")
    t0 = time.time()
    status, headers, doc = post_json(
        endpoint, "/createStream", {"StreamName": name, "DataRetentionInHours": 2, "MediaType": "video/h264"}
    )
    assert status == 200, doc
    assert headers.get("content-type", "").startswith("application/json")
    assert set(doc) == {"StreamARN"}
    assert ARN_RE.fullmatch(doc["StreamARN"])

    deadline = time.monotonic() + 5
    while True:
        status, headers, desc = post_json(endpoint, "/describeStream", {"StreamName": name})
        assert status == 200, desc
        if desc["StreamInfo"]["Status"] == "ACTIVE" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    info = desc["StreamInfo"]
    assert info["Status"] == "ACTIVE"
    assert info["StreamARN"] == doc["StreamARN"]
    assert info["MediaType"] == "video/h264"
    assert info["DataRetentionInHours"] == 2
    # KVS timestamps are epoch seconds as JSON numbers (botocore rest-json), not strings.
    created = info["CreationTime"]
    assert isinstance(created, (int, float)) and not isinstance(created, bool), created
    assert t0 - 1 <= created <= time.time() + 1
    # Absent optional fields are omitted, not null.
    assert "DeviceName" not in info


def test_not_found_wire_shape(endpoint):
    status, headers, data = raw_post(
        endpoint, "/describeStream", json.dumps({"StreamName": unique_name("nope")}).encode()
    )
    assert_kvs_error_shape(status, headers, data, "ResourceNotFoundException", {404})


def test_create_accepts_amz_json_content_type(endpoint):
    """Content-Type varies between SDKs (application/json, application/x-amz-json-1.1); both work."""
    name = unique_name("ctype")
    status, _, data = raw_post(
        endpoint, "/createStream", json.dumps({"StreamName": name}).encode(), content_type="application/x-amz-json-1.1"
    )
    assert status == 200, data
    assert ARN_RE.fullmatch(json.loads(data)["StreamARN"])


# --- hostile / malformed requests ----------------------------------------------------------------------

MALFORMED = {
    "truncated-json": b'{"StreamName": ',
    "not-json": b"this is not json",
    "non-utf8": b'{"StreamName": "\xff\xfe"}',
    "json-array": b'["StreamName", "x"]',
    "json-string": b'"StreamName"',
    "json-null": b"null",
    "name-is-number": b'{"StreamName": 5}',
    "name-is-object": b'{"StreamName": {"a": 1}}',
    "retention-is-string": b'{"StreamName": "wrongtype-retention", "DataRetentionInHours": "24"}',
    "retention-negative": b'{"StreamName": "negative-retention", "DataRetentionInHours": -1}',
    "retention-fraction": b'{"StreamName": "fraction-retention", "DataRetentionInHours": 1.5}',
    "tags-is-list": b'{"StreamName": "wrongtype-tags", "Tags": ["a", "b"]}',
    "tag-value-is-number": b'{"StreamName": "wrongtype-tagvalue", "Tags": {"a": 1}}',
}


@pytest.mark.parametrize("payload", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_create_is_invalid_argument(endpoint, kvs, payload):
    status, headers, data = raw_post(endpoint, "/createStream", payload)
    assert_kvs_error_shape(status, headers, data, "InvalidArgumentException", {400})
    # Nothing was created under the names some payloads carry.
    for name in (
        "wrongtype-retention",
        "negative-retention",
        "fraction-retention",
        "wrongtype-tags",
        "wrongtype-tagvalue",
    ):
        with pytest.raises(kvs.exceptions.ResourceNotFoundException):
            describe(kvs, name)
    assert_healthy(endpoint)


@pytest.fixture(scope="module")
def existing(kvs):
    """A real stream, so that the wrong-type cases below can only fail on the type."""
    return create_active(kvs)


# (path, JSON body with {name}/{arn}/{version} placeholders filled from `existing`)
WRONG_TYPES = {
    "describe-name-number": ("/describeStream", {"StreamName": 5}),
    "describe-arn-list": ("/describeStream", {"StreamARN": ["{arn}"]}),
    "list-maxresults-string": ("/listStreams", {"MaxResults": "ten"}),
    "list-array-body": ("/listStreams", []),
    "list-condition-string": ("/listStreams", {"StreamNameCondition": "BEGINS_WITH x"}),
    "endpoint-apiname-number": ("/getDataEndpoint", {"StreamName": "{name}", "APIName": 7}),
    "tagstream-tags-string": ("/tagStream", {"StreamName": "{name}", "Tags": "a=b"}),
    "tagresource-tags-map": ("/TagResource", {"ResourceARN": "{arn}", "Tags": {"a": "b"}}),
    "untagstream-keys-string": ("/untagStream", {"StreamName": "{name}", "TagKeyList": "a"}),
    "update-version-number": ("/updateStream", {"StreamName": "{name}", "CurrentVersion": 1, "DeviceName": "x"}),
    "retention-hours-string": (
        "/updateDataRetention",
        {
            "StreamName": "{name}",
            "CurrentVersion": "{version}",
            "Operation": "INCREASE_DATA_RETENTION",
            "DataRetentionChangeInHours": "1",
        },
    ),
}


def fill(value, info):
    if isinstance(value, str):
        return value.format(name=info["StreamName"], arn=info["StreamARN"], version=info["Version"])
    if isinstance(value, list):
        return [fill(v, info) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, info) for k, v in value.items()}
    return value


@pytest.mark.parametrize("case", list(WRONG_TYPES), ids=list(WRONG_TYPES))
def test_wrong_types_on_other_operations_are_invalid_argument(endpoint, kvs, existing, case):
    path, template = WRONG_TYPES[case]
    status, headers, data = raw_post(endpoint, path, json.dumps(fill(template, existing)).encode())
    assert_kvs_error_shape(status, headers, data, "InvalidArgumentException", {400})
    # The stream was not modified by the rejected request.
    assert describe(kvs, existing["StreamARN"]) == existing
    assert kvs.list_tags_for_stream(StreamARN=existing["StreamARN"]).get("Tags", {}) == {}


def test_oversized_body_is_rejected_with_kvs_shape(endpoint, kvs):
    name = unique_name("huge")
    filler = "a" * (2 * 1024 * 1024)
    payload = json.dumps({"StreamName": name, "DeviceName": filler}).encode()
    assert len(payload) > 2 * 1024 * 1024
    status, headers, data = raw_post(endpoint, "/createStream", payload)
    assert_kvs_error_shape(status, headers, data, "InvalidArgumentException", {400, 413})
    with pytest.raises(kvs.exceptions.ResourceNotFoundException):
        kvs.describe_stream(StreamName=name)
    assert_healthy(endpoint)


def test_unknown_operation_is_404(endpoint):
    status, headers, data = raw_post(endpoint, "/noSuchOperation", b"{}")
    assert_kvs_error_shape(status, headers, data, "UnknownOperationException", {404})


def test_server_still_works_after_abuse(endpoint, kvs):
    for payload in (b"{", b"[]", b'{"StreamName": 5}'):
        raw_post(endpoint, "/createStream", payload)
    raw_post(endpoint, "/noSuchOperation", b"{}")
    # A client that disconnects half-way through a request body.
    parsed = urllib.parse.urlsplit(endpoint)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=5)
    conn.putrequest("POST", "/createStream")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", "1000")
    conn.endheaders(b'{"StreamName": "half')
    conn.close()

    assert_healthy(endpoint)
    name = unique_name("after")
    kvs.create_stream(StreamName=name)
    assert wait_status(kvs, name)["StreamName"] == name


def test_every_error_type_has_the_kvs_shape(endpoint, kvs):
    """Status, x-amzn-ErrorType header and {"__type", "message"} body for each error the control plane raises."""
    info = create_active(kvs, Tags={f"t{i:02d}": "x" for i in range(50)})
    name, arn = info["StreamName"], info["StreamARN"]
    cases = [
        ("/createStream", {"StreamName": name}, "ResourceInUseException", 400),
        ("/createStream", {"StreamName": "bad name!"}, "InvalidArgumentException", 400),
        ("/describeStream", {"StreamName": unique_name("nope")}, "ResourceNotFoundException", 404),
        (
            "/updateStream",
            {"StreamName": name, "CurrentVersion": "stale0", "DeviceName": "x"},
            "VersionMismatchException",
            400,
        ),
        ("/deleteStream", {"StreamARN": arn, "CurrentVersion": "stale0"}, "VersionMismatchException", 400),
        ("/tagStream", {"StreamARN": arn, "Tags": {"one-too-many": "x"}}, "TagsPerResourceExceededLimitException", 400),
        ("/listStreams", {"NextToken": "bm90YXRva2Vu"}, "InvalidArgumentException", 400),
        ("/ListTagsForResource", {"ResourceARN": arn.rsplit("/", 1)[0] + "/1"}, "ResourceNotFoundException", 404),
    ]
    for path, doc, error_type, status in cases:
        got_status, headers, data = raw_post(endpoint, path, json.dumps(doc).encode())
        try:
            assert_kvs_error_shape(got_status, headers, data, error_type, {status})
        except AssertionError as e:
            raise AssertionError(f"{path} {doc}: {e}") from None
    assert describe(kvs, arn) == info
