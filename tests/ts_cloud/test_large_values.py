"""Multipart (S3) and resumable (GCS) uploads of values above the drivers' thresholds."""

from __future__ import annotations

import random

import pytest
from cloud_servers import gcs_spec, s3_spec, unique_prefix

import ts_core as ts
from ts_core.kvstore import NO_VALUE, UNKNOWN

tensorstore = pytest.importorskip("tensorstore")


@pytest.fixture
def small_s3_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    from ts_cloud.s3 import _driver

    monkeypatch.setattr(_driver, "MULTIPART_THRESHOLD", 6 << 20)
    monkeypatch.setattr(_driver, "PART_SIZE", 5 << 20)


@pytest.fixture
def small_gcs_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    from ts_cloud.gcs import _driver

    monkeypatch.setattr(_driver, "RESUMABLE_THRESHOLD", 1 << 20)
    monkeypatch.setattr(_driver, "RESUMABLE_CHUNK", 256 << 10)


def _value(size: int) -> bytes:
    # Incompressible: SeaweedFS spends seconds compressing repetitive uploads.
    return random.Random(size).randbytes(size - 3) + b"end"


@pytest.mark.usefixtures("small_s3_parts")
def test_s3_multipart_upload(s3_endpoint: str) -> None:
    path = unique_prefix("large")
    store = ts.KvStore.open(s3_spec(s3_endpoint, path)).result()
    value = _value(12 << 20)  # three parts
    stamp = store.write("big", value).result()
    assert stamp.generation.endswith(b'-3"\x00')  # multipart ETags end in -<part count>
    result = store.read("big").result()
    assert result.value == value
    assert result.stamp.generation == stamp.generation
    assert store.read("big", byte_range=slice(5 << 20, (5 << 20) + 10)).result().value == value[5 << 20:(5 << 20) + 10]
    theirs = tensorstore.KvStore.open(s3_spec(s3_endpoint, path) | {"s3_request_retries": {}}).result()
    assert bytes(theirs.read("big").result().value) == value
    # The condition travels with the completion request.
    newer = store.write("big", value[::-1], if_equal=stamp.generation).result()
    assert newer.generation not in (UNKNOWN, stamp.generation)
    assert store.write("big", value, if_equal=stamp.generation).result().generation == UNKNOWN
    assert store.write("big", value, if_equal=NO_VALUE).result().generation == UNKNOWN
    assert store["big"] == value[::-1]


@pytest.mark.usefixtures("small_gcs_chunks")
def test_gcs_resumable_upload(gcs_url: str) -> None:
    path = unique_prefix("large")
    store = ts.KvStore.open(gcs_spec(path)).result()
    value = _value(3 << 20)
    stamp = store.write("big", value).result()
    assert stamp.generation not in (UNKNOWN, NO_VALUE)
    result = store.read("big").result()
    assert result.value == value
    assert result.stamp.generation == stamp.generation
    theirs = tensorstore.KvStore.open({"driver": "gcs", "bucket": gcs_spec()["bucket"], "path": path}).result()
    assert bytes(theirs.read("big").result().value) == value
    newer = store.write("big", value[::-1], if_equal=stamp.generation).result()
    assert newer.generation not in (UNKNOWN, stamp.generation)
    assert store.write("big", value, if_equal=stamp.generation).result().generation == UNKNOWN
    assert store.write("big", value, if_equal=NO_VALUE).result().generation == UNKNOWN
    assert store.write("fresh", value, if_equal=NO_VALUE).result().generation != UNKNOWN
    assert store["big"] == value[::-1]
