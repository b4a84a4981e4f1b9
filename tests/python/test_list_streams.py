"""ListStreams: filtering, ordering, and pagination (by hand and with the boto3 paginator)."""

from __future__ import annotations

import pytest

from helpers import assert_kvs_error, create_active, describe, unique_name, wait_gone


@pytest.fixture
def five_streams(kvs):
    """Five streams sharing a unique prefix, created out of name order. Returns (prefix, sorted names)."""
    prefix = unique_name("ls") + "-"
    names = [prefix + suffix for suffix in ("c", "a", "e", "b", "d")]
    for n in names:
        create_active(kvs, n, DataRetentionInHours=1)
    return prefix, sorted(names)


def begins_with(prefix: str) -> dict:
    return {"ComparisonOperator": "BEGINS_WITH", "ComparisonValue": prefix}


def names_of(resp: dict) -> list[str]:
    return [i["StreamName"] for i in resp["StreamInfoList"]]


def test_list_with_prefix_returns_sorted_full_stream_infos(kvs, five_streams):
    prefix, names = five_streams
    resp = kvs.list_streams(StreamNameCondition=begins_with(prefix))
    assert names_of(resp) == names
    assert "NextToken" not in resp
    # Each entry is the same StreamInfo that DescribeStream returns.
    for info in resp["StreamInfoList"]:
        assert info == describe(kvs, info["StreamName"])
        assert info["Status"] == "ACTIVE"
        assert info["DataRetentionInHours"] == 1


def test_list_prefix_selects_subset(kvs, five_streams):
    prefix, names = five_streams
    resp = kvs.list_streams(StreamNameCondition=begins_with(prefix + "b"))
    assert names_of(resp) == [prefix + "b"]


def test_list_prefix_without_match_is_empty(kvs):
    resp = kvs.list_streams(StreamNameCondition=begins_with(unique_name("nomatch")))
    assert resp["StreamInfoList"] == []
    assert "NextToken" not in resp


def test_manual_pagination(kvs, five_streams):
    prefix, names = five_streams
    cond = begins_with(prefix)

    page1 = kvs.list_streams(MaxResults=2, StreamNameCondition=cond)
    assert names_of(page1) == names[0:2]
    assert page1.get("NextToken")

    page2 = kvs.list_streams(MaxResults=2, StreamNameCondition=cond, NextToken=page1["NextToken"])
    assert names_of(page2) == names[2:4]
    assert page2.get("NextToken")

    page3 = kvs.list_streams(MaxResults=2, StreamNameCondition=cond, NextToken=page2["NextToken"])
    assert names_of(page3) == names[4:5]
    assert "NextToken" not in page3


def test_no_next_token_when_page_is_exactly_full(kvs, five_streams):
    prefix, names = five_streams
    resp = kvs.list_streams(MaxResults=5, StreamNameCondition=begins_with(prefix))
    assert names_of(resp) == names
    assert "NextToken" not in resp, "NextToken must only be present when there are more streams"


def test_max_results_one_walks_every_stream(kvs, five_streams):
    prefix, names = five_streams
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"MaxResults": 1, "StreamNameCondition": begins_with(prefix)}
        if token:
            kwargs["NextToken"] = token
        resp = kvs.list_streams(**kwargs)
        pages += 1
        assert len(resp["StreamInfoList"]) == 1
        seen += names_of(resp)
        token = resp.get("NextToken")
        if not token:
            break
        assert pages < 10, "pagination does not terminate"
    assert seen == names and pages == 5


def test_boto3_paginator(kvs, five_streams):
    prefix, names = five_streams
    paginator = kvs.get_paginator("list_streams")
    pages = list(paginator.paginate(StreamNameCondition=begins_with(prefix), PaginationConfig={"PageSize": 2}))
    assert [names_of(p) for p in pages] == [names[0:2], names[2:4], names[4:5]]

    full = paginator.paginate(
        StreamNameCondition=begins_with(prefix), PaginationConfig={"PageSize": 3}
    ).build_full_result()
    assert [i["StreamName"] for i in full["StreamInfoList"]] == names


def test_unfiltered_list_is_sorted_and_contains_ours(kvs, five_streams):
    _, names = five_streams
    paginator = kvs.get_paginator("list_streams")
    everything = [
        i["StreamName"] for page in paginator.paginate(PaginationConfig={"PageSize": 7}) for i in page["StreamInfoList"]
    ]
    assert everything == sorted(everything)
    assert len(everything) == len(set(everything)), "a stream was listed twice"
    assert set(names) <= set(everything)


def test_pagination_is_stable_when_streams_are_added_before_the_cursor(kvs, five_streams):
    """A stream created mid-walk that sorts before the cursor must not shift (duplicate) later pages."""
    prefix, names = five_streams
    cond = begins_with(prefix)
    page1 = kvs.list_streams(MaxResults=2, StreamNameCondition=cond)
    assert names_of(page1) == names[0:2]
    create_active(kvs, prefix + "0-early")
    rest = kvs.list_streams(MaxResults=10, StreamNameCondition=cond, NextToken=page1["NextToken"])
    assert names_of(rest) == names[2:]


def test_deleted_streams_are_not_listed(kvs, five_streams):
    prefix, names = five_streams
    victim = describe(kvs, names[1])
    kvs.delete_stream(StreamARN=victim["StreamARN"])
    wait_gone(kvs, victim["StreamARN"])
    resp = kvs.list_streams(StreamNameCondition=begins_with(prefix))
    assert names_of(resp) == [n for n in names if n != names[1]]


def test_garbage_next_token_is_invalid_argument(kvs):
    with pytest.raises(kvs.exceptions.InvalidArgumentException) as e:
        kvs.list_streams(NextToken="bm90YXRva2Vu")  # base64("notatoken")
    assert_kvs_error(e.value, "InvalidArgumentException", 400)


def test_max_results_above_limit_is_invalid_argument(kvs):
    # boto3 checks only the minimum (1) client-side; the maximum is 10000.
    assert "StreamInfoList" in kvs.list_streams(MaxResults=10000, StreamNameCondition=begins_with("zz-none-"))
    with pytest.raises(kvs.exceptions.InvalidArgumentException) as e:
        kvs.list_streams(MaxResults=10001)
    assert_kvs_error(e.value, "InvalidArgumentException", 400)
