"""HLS and DASH streaming sessions through real boto3 (`get_hls_streaming_session_url`,
`get_dash_streaming_session_url`): the URLs play (ffprobe reads the master playlist and the
manifest as the fixture's 150 H.264 frames), the KVS parameter errors reach boto3 as its modelled
exceptions, and forged or truncated session tokens are refused in the KVS error shape."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest
import urllib.error
import urllib.request

from helpers import assert_kvs_error, create_active, unique_name
from test_archived_media import FIXTURE, START_MS, archived_client, put_media


def utc(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)


def get(url: str) -> tuple[int, dict, bytes]:
    """GET with the standard library: (status, headers, body), errors included."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


RANGE = {"StartTimestamp": utc(START_MS - 1000), "EndTimestamp": utc(START_MS + 60_000)}


@pytest.fixture(scope="module")
def stream(kvs, endpoint):
    name = unique_name("hls")
    create_active(kvs, name, DataRetentionInHours=2)
    acks = put_media(endpoint, name, FIXTURE.read_bytes())
    assert len([a for a in acks if a["EventType"] == "PERSISTED"]) == 5, acks
    hls = kvs.get_data_endpoint(StreamName=name, APIName="GET_HLS_STREAMING_SESSION_URL")["DataEndpoint"]
    return name, archived_client(hls)


def probe_frames(url: str) -> tuple[str, int]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-of", "json",
         "-show_entries", "stream=codec_name,nb_read_frames", url],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    (s,) = json.loads(out.stdout)["streams"]
    return s["codec_name"], int(s["nb_read_frames"])


@pytest.mark.parametrize("container", ["FRAGMENTED_MP4", "MPEG_TS"])
def test_hls_session_url_plays(stream, container):
    name, am = stream
    url = am.get_hls_streaming_session_url(
        StreamName=name,
        PlaybackMode="ON_DEMAND",
        ContainerFormat=container,
        HLSFragmentSelector={"FragmentSelectorType": "PRODUCER_TIMESTAMP", "TimestampRange": RANGE},
        Expires=600,
    )["HLSStreamingSessionURL"]
    assert "/hls/v1/getHLSMasterPlaylist.m3u8?SessionToken=" in url
    assert probe_frames(url) == ("h264", 150)


def test_dash_session_url_plays(stream):
    name, am = stream
    url = am.get_dash_streaming_session_url(
        StreamName=name,
        PlaybackMode="ON_DEMAND",
        DisplayFragmentNumber="ALWAYS",
        DASHFragmentSelector={"FragmentSelectorType": "PRODUCER_TIMESTAMP", "TimestampRange": RANGE},
    )["DASHStreamingSessionURL"]
    assert "/dash/v1/getDASHManifest.mpd?SessionToken=" in url
    assert b"kvs:fn=" in get(url)[2]
    assert probe_frames(url) == ("h264", 150)


def test_session_errors_reach_boto3(stream, kvs):
    name, am = stream
    # ON_DEMAND without a range, an unknown stream, a stream that keeps nothing.
    with pytest.raises(am.exceptions.InvalidArgumentException) as e:
        am.get_hls_streaming_session_url(StreamName=name, PlaybackMode="ON_DEMAND")
    assert_kvs_error(e.value, "InvalidArgumentException")
    with pytest.raises(am.exceptions.ResourceNotFoundException) as e:
        am.get_dash_streaming_session_url(StreamName=unique_name("missing"))
    assert_kvs_error(e.value, "ResourceNotFoundException", 404)
    nokeep = unique_name("nokeep")
    create_active(kvs, nokeep, DataRetentionInHours=0)
    with pytest.raises(am.exceptions.NoDataRetentionException) as e:
        am.get_hls_streaming_session_url(StreamName=nokeep)
    assert_kvs_error(e.value, "NoDataRetentionException")


def test_forged_and_truncated_tokens_are_refused(stream):
    name, am = stream
    url = am.get_hls_streaming_session_url(
        StreamName=name,
        PlaybackMode="ON_DEMAND",
        HLSFragmentSelector={"FragmentSelectorType": "PRODUCER_TIMESTAMP", "TimestampRange": RANGE},
    )["HLSStreamingSessionURL"]
    assert get(url)[0] == 200
    base, token = url.split("SessionToken=")
    payload, tag = token.split(".")
    forged = payload + "." + ("B" if tag[0] == "A" else "A") + tag[1:]
    for bad in [forged, token[: len(token) // 2], "x"]:
        status, headers, body = get(base + "SessionToken=" + bad)
        assert status == 401
        assert headers["x-amzn-errortype"].split(":")[0] == "NotAuthorizedException"
        assert json.loads(body)["__type"] == "NotAuthorizedException"
