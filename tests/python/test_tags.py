"""Stream tags: TagStream/UntagStream/ListTagsForStream and TagResource/UntagResource/ListTagsForResource."""

from __future__ import annotations

import pytest

from helpers import assert_kvs_error, body, create_active, unique_name


def missing_arn() -> str:
    return f"arn:aws:kinesisvideo:us-east-1:000000000000:stream/{unique_name('missing')}/1700000000000"


def stream_tags(kvs, info) -> dict:
    resp = kvs.list_tags_for_stream(StreamARN=info["StreamARN"])
    assert "NextToken" not in resp
    return resp.get("Tags", {})


def resource_tags(kvs, info) -> dict:
    resp = kvs.list_tags_for_resource(ResourceARN=info["StreamARN"])
    assert "NextToken" not in resp
    return resp.get("Tags", {})


def as_list(tags: dict) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


# --- TagStream / UntagStream / ListTagsForStream ------------------------------------------------------


def test_stream_without_tags_lists_none(kvs):
    info = create_active(kvs)
    assert stream_tags(kvs, info) == {}
    assert kvs.list_tags_for_stream(StreamName=info["StreamName"]).get("Tags", {}) == {}


def test_tag_stream_adds_and_overwrites(kvs):
    info = create_active(kvs, Tags={"env": "dev", "owner": "alice"})
    assert body(kvs.tag_stream(StreamARN=info["StreamARN"], Tags={"env": "prod", "site": "berlin"})) == {}
    expected = {"env": "prod", "owner": "alice", "site": "berlin"}
    assert stream_tags(kvs, info) == expected
    assert kvs.list_tags_for_stream(StreamName=info["StreamName"])["Tags"] == expected

    kvs.tag_stream(StreamName=info["StreamName"], Tags={"owner": "bob"})
    assert stream_tags(kvs, info) == {"env": "prod", "owner": "bob", "site": "berlin"}


def test_untag_stream_removes_keys_and_ignores_unknown_ones(kvs):
    info = create_active(kvs, Tags={"a": "1", "b": "2", "c": "3"})
    assert body(kvs.untag_stream(StreamARN=info["StreamARN"], TagKeyList=["a", "nope"])) == {}
    assert stream_tags(kvs, info) == {"b": "2", "c": "3"}
    kvs.untag_stream(StreamName=info["StreamName"], TagKeyList=["b", "c"])
    assert stream_tags(kvs, info) == {}


def test_tags_accept_unicode_letters_spaces_and_allowed_punctuation(kvs):
    tags = {
        "Kamera Ort": "Büro 2",
        "ключ": "значение",
        "カメラ": "玄関",
        "a.b:c/d=e+f-g@h_i": "x.y:z/w=v+u-t@s_r",
        "empty-value": "",
        "k" * 128: "v" * 256,
    }
    info = create_active(kvs)
    kvs.tag_stream(StreamARN=info["StreamARN"], Tags=tags)
    assert stream_tags(kvs, info) == tags


@pytest.mark.parametrize(
    "tags",
    [{"bad#key": "v"}, {"k" * 129: "v"}, {"key": "v" * 257}, {"key": "bad#value"}],
    ids=["hash-in-key", "key-129-chars", "value-257-chars", "hash-in-value"],
)
def test_tag_stream_invalid_tag_is_invalid_argument(kvs, tags):
    info = create_active(kvs, Tags={"keep": "me"})
    with pytest.raises(kvs.exceptions.InvalidArgumentException) as e:
        kvs.tag_stream(StreamARN=info["StreamARN"], Tags={"good": "tag", **tags})
    assert_kvs_error(e.value, "InvalidArgumentException", 400)
    assert stream_tags(kvs, info) == {"keep": "me"}, "a rejected TagStream must not apply any tag"


def test_tag_stream_beyond_fifty_is_rejected_atomically(kvs):
    first = {f"first{i:02d}": "x" for i in range(30)}
    info = create_active(kvs, Tags=first)
    with pytest.raises(kvs.exceptions.TagsPerResourceExceededLimitException) as e:
        kvs.tag_stream(StreamARN=info["StreamARN"], Tags={f"second{i:02d}": "y" for i in range(30)})
    assert_kvs_error(e.value, "TagsPerResourceExceededLimitException", 400)
    assert stream_tags(kvs, info) == first


def test_overwriting_tags_do_not_count_twice_toward_the_limit(kvs):
    first = {f"k{i:02d}": "old" for i in range(30)}
    info = create_active(kvs, Tags=first)
    # 10 overwrites + 20 new keys = 50 distinct keys: allowed.
    update = {f"k{i:02d}": "new" for i in range(20, 50)}
    kvs.tag_stream(StreamARN=info["StreamARN"], Tags=update)
    tags = stream_tags(kvs, info)
    assert len(tags) == 50
    assert tags == {**first, **update}
    # One more distinct key is one too many.
    with pytest.raises(kvs.exceptions.TagsPerResourceExceededLimitException):
        kvs.tag_stream(StreamARN=info["StreamARN"], Tags={"k50": "x"})
    # Overwriting an existing key at the limit is fine.
    kvs.tag_stream(StreamARN=info["StreamARN"], Tags={"k00": "newest"})
    assert stream_tags(kvs, info)["k00"] == "newest"


def test_stream_tag_operations_on_missing_stream_are_not_found(kvs):
    name = unique_name("missing")
    for call in (
        lambda: kvs.tag_stream(StreamName=name, Tags={"a": "b"}),
        lambda: kvs.untag_stream(StreamName=name, TagKeyList=["a"]),
        lambda: kvs.list_tags_for_stream(StreamName=name),
        lambda: kvs.tag_stream(StreamARN=missing_arn(), Tags={"a": "b"}),
        lambda: kvs.list_tags_for_stream(StreamARN=missing_arn()),
    ):
        with pytest.raises(kvs.exceptions.ResourceNotFoundException) as e:
            call()
        assert_kvs_error(e.value, "ResourceNotFoundException", 404)


# --- TagResource / UntagResource / ListTagsForResource -------------------------------------------------


def test_tag_resource_roundtrip(kvs):
    info = create_active(kvs)
    arn = info["StreamARN"]
    assert resource_tags(kvs, info) == {}
    assert body(kvs.tag_resource(ResourceARN=arn, Tags=as_list({"env": "dev", "team": "video"}))) == {}
    assert resource_tags(kvs, info) == {"env": "dev", "team": "video"}

    kvs.tag_resource(ResourceARN=arn, Tags=as_list({"env": "prod"}))
    assert resource_tags(kvs, info) == {"env": "prod", "team": "video"}

    assert body(kvs.untag_resource(ResourceARN=arn, TagKeyList=["team", "nope"])) == {}
    assert resource_tags(kvs, info) == {"env": "prod"}


def test_resource_and_stream_tag_apis_share_one_tag_set(kvs):
    info = create_active(kvs, Tags={"from-create": "1"})
    kvs.tag_resource(ResourceARN=info["StreamARN"], Tags=as_list({"from-resource": "2"}))
    kvs.tag_stream(StreamName=info["StreamName"], Tags={"from-stream": "3"})
    expected = {"from-create": "1", "from-resource": "2", "from-stream": "3"}
    assert stream_tags(kvs, info) == expected
    assert resource_tags(kvs, info) == expected
    kvs.untag_stream(StreamName=info["StreamName"], TagKeyList=["from-resource"])
    assert resource_tags(kvs, info) == {"from-create": "1", "from-stream": "3"}


def test_resource_tag_operations_on_unknown_arn_are_not_found(kvs):
    arn = missing_arn()
    for call in (
        lambda: kvs.tag_resource(ResourceARN=arn, Tags=[{"Key": "a", "Value": "b"}]),
        lambda: kvs.untag_resource(ResourceARN=arn, TagKeyList=["a"]),
        lambda: kvs.list_tags_for_resource(ResourceARN=arn),
    ):
        with pytest.raises(kvs.exceptions.ResourceNotFoundException) as e:
            call()
        assert_kvs_error(e.value, "ResourceNotFoundException", 404)


def test_tag_resource_invalid_key_is_invalid_argument(kvs):
    info = create_active(kvs, Tags={"keep": "me"})
    with pytest.raises(kvs.exceptions.InvalidArgumentException) as e:
        kvs.tag_resource(
            ResourceARN=info["StreamARN"], Tags=[{"Key": "fine", "Value": "x"}, {"Key": "bad#key", "Value": "v"}]
        )
    assert_kvs_error(e.value, "InvalidArgumentException", 400)
    assert resource_tags(kvs, info) == {"keep": "me"}


def test_tag_resource_beyond_fifty_is_rejected(kvs):
    info = create_active(kvs, Tags={f"a{i:02d}": "x" for i in range(30)})
    with pytest.raises(kvs.exceptions.TagsPerResourceExceededLimitException) as e:
        kvs.tag_resource(ResourceARN=info["StreamARN"], Tags=[{"Key": f"b{i:02d}", "Value": "y"} for i in range(21)])
    assert_kvs_error(e.value, "TagsPerResourceExceededLimitException", 400)
    assert len(resource_tags(kvs, info)) == 30
