"""Update/DescribeImageGenerationConfiguration through real boto3: the KVS shapes round-trip,
no configuration removes it, and invalid ones reach boto3 as its modelled exceptions. (Pictures
reaching S3, files and webhooks are checked by tests/it/image_hook.rs.)"""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config

from helpers import ACCESS_KEY, REGION, SECRET_KEY, assert_kvs_error, create_active, unique_name

BASE = {
    "Status": "ENABLED",
    "ImageSelectorType": "SERVER_TIMESTAMP",
    "DestinationConfig": {"Uri": "s3://vidstream-images/cams", "DestinationRegion": "us-east-1"},
    "SamplingInterval": 2000,
    "Format": "JPEG",
    "FormatConfig": {"JPEGQuality": "70"},
    "WidthPixels": 640,
}


@pytest.fixture(scope="module")
def unchecked(endpoint):
    """A client that sends what it is given (no client-side validation), to reach the server's."""
    return boto3.client(
        "kinesisvideo",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(parameter_validation=False, retries={"mode": "standard", "total_max_attempts": 1}),
    )


def test_update_then_describe_round_trips_the_kvs_shape(kvs):
    info = create_active(kvs, DataRetentionInHours=1)
    name = info["StreamName"]
    assert kvs.describe_image_generation_configuration(StreamName=name).get("ImageGenerationConfiguration") is None
    kvs.update_image_generation_configuration(StreamName=name, ImageGenerationConfiguration=BASE)
    got = kvs.describe_image_generation_configuration(StreamARN=info["StreamARN"])
    assert got["ImageGenerationConfiguration"] == BASE

    png = dict(BASE, Status="DISABLED", Format="PNG", ImageSelectorType="PRODUCER_TIMESTAMP", HeightPixels=2160)
    del png["FormatConfig"]
    kvs.update_image_generation_configuration(StreamARN=info["StreamARN"], ImageGenerationConfiguration=png)
    assert kvs.describe_image_generation_configuration(StreamName=name)["ImageGenerationConfiguration"] == png

    # No configuration removes it.
    kvs.update_image_generation_configuration(StreamName=name)
    assert kvs.describe_image_generation_configuration(StreamName=name).get("ImageGenerationConfiguration") is None


def test_jpeg_quality_defaults_to_80(kvs):
    name = create_active(kvs, DataRetentionInHours=1)["StreamName"]
    cfg = {k: v for k, v in BASE.items() if k != "FormatConfig"}
    kvs.update_image_generation_configuration(StreamName=name, ImageGenerationConfiguration=cfg)
    got = kvs.describe_image_generation_configuration(StreamName=name)["ImageGenerationConfiguration"]
    assert got["FormatConfig"] == {"JPEGQuality": "80"}


@pytest.mark.parametrize(
    "change",
    [
        {"Format": "GIF"},
        {"Status": "PAUSED"},
        {"ImageSelectorType": "NOW"},
        {"SamplingInterval": 199},
        {"SamplingInterval": 20001},
        {"WidthPixels": 0},
        {"WidthPixels": 3841},
        {"HeightPixels": 2161},
        {"FormatConfig": {"JPEGQuality": "0"}},
        {"FormatConfig": {"JPEGQuality": "high"}},
        {"DestinationConfig": {"Uri": "gopher://x/y", "DestinationRegion": "us-east-1"}},
        {"DestinationConfig": {"Uri": "s3://b/p", "DestinationRegion": "mars"}},
        {"DestinationConfig": {"Uri": "file:///etc", "DestinationRegion": "us-east-1"}},
        # Egress: an unlisted bucket, loopback and cloud metadata webhooks.
        {"DestinationConfig": {"Uri": "s3://not-listed-bucket/p", "DestinationRegion": "us-east-1"}},
        {"DestinationConfig": {"Uri": "http://127.0.0.1:9/hook", "DestinationRegion": "us-east-1"}},
        {"DestinationConfig": {"Uri": "http://169.254.169.254/latest", "DestinationRegion": "us-east-1"}},
    ],
    ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()),
)
def test_invalid_configuration_is_invalid_argument(kvs, unchecked, change):
    name = create_active(kvs, DataRetentionInHours=1)["StreamName"]
    with pytest.raises(unchecked.exceptions.InvalidArgumentException) as e:
        unchecked.update_image_generation_configuration(
            StreamName=name, ImageGenerationConfiguration=dict(BASE, **change)
        )
    assert_kvs_error(e.value, "InvalidArgumentException")
    assert kvs.describe_image_generation_configuration(StreamName=name).get("ImageGenerationConfiguration") is None


def test_missing_required_member_is_invalid_argument(kvs, unchecked):
    name = create_active(kvs, DataRetentionInHours=1)["StreamName"]
    for member in ["Status", "ImageSelectorType", "DestinationConfig", "SamplingInterval", "Format"]:
        cfg = {k: v for k, v in BASE.items() if k != member}
        with pytest.raises(unchecked.exceptions.InvalidArgumentException) as e:
            unchecked.update_image_generation_configuration(StreamName=name, ImageGenerationConfiguration=cfg)
        assert member in e.value.response["Error"]["Message"]


def test_unknown_stream_is_resource_not_found(kvs):
    name = unique_name("nope")
    with pytest.raises(kvs.exceptions.ResourceNotFoundException) as e:
        kvs.update_image_generation_configuration(StreamName=name, ImageGenerationConfiguration=BASE)
    assert_kvs_error(e.value, "ResourceNotFoundException")
    with pytest.raises(kvs.exceptions.ResourceNotFoundException) as e:
        kvs.describe_image_generation_configuration(StreamName=name)
    assert_kvs_error(e.value, "ResourceNotFoundException")


def test_stream_without_retention_is_no_data_retention(kvs):
    name = create_active(kvs)["StreamName"]
    with pytest.raises(kvs.exceptions.NoDataRetentionException) as e:
        kvs.update_image_generation_configuration(StreamName=name, ImageGenerationConfiguration=BASE)
    assert_kvs_error(e.value, "NoDataRetentionException")


def test_stream_without_video_is_invalid_argument(kvs):
    name = create_active(kvs, DataRetentionInHours=1, MediaType="audio/aac")["StreamName"]
    with pytest.raises(kvs.exceptions.InvalidArgumentException) as e:
        kvs.update_image_generation_configuration(StreamName=name, ImageGenerationConfiguration=BASE)
    assert_kvs_error(e.value, "InvalidArgumentException")
    assert "video" in e.value.response["Error"]["Message"]
