"""The kvstore conformance suite on ``ocdbt`` over memory, file and SeaweedFS S3 bases."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ts_core as ts
from ts_core.testing.kvstore import KvStoreConformance

TS_CLOUD_TESTS = Path(__file__).resolve().parent.parent / "ts_cloud"


class OcdbtConformance(KvStoreConformance):
    # A small value is stored inline and its generation is a hash of its bytes, as in
    # tensorstore: rewriting identical bytes keeps the generation.
    generation_changes_on_identical_rewrite = False
    # Every increment is a commit (a new version), so keep the count modest.
    increments_per_writer = 10


class TestOcdbtOverMemory(OcdbtConformance):
    @pytest.fixture
    def kvstore(self) -> ts.KvStore:
        return ts.KvStore.open({"driver": "ocdbt", "base": "memory://db/"}, context=ts.Context()).result()


class TestOcdbtOverFile(OcdbtConformance):
    @pytest.fixture
    def kvstore(self, tmp_path: Path) -> ts.KvStore:
        return ts.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/db/"}).result()


class TestOcdbtOverFileWithPath(OcdbtConformance):
    """The store's ``path`` is a prefix of the database's keys; small nodes make deep trees."""

    @pytest.fixture
    def kvstore(self, tmp_path: Path) -> ts.KvStore:
        spec = {
            "driver": "ocdbt", "base": f"file://{tmp_path}/db/", "path": "inner/",
            "config": {"max_decoded_node_bytes": 200, "max_inline_value_bytes": 4},
        }
        return ts.KvStore.open(spec).result()


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """The SeaweedFS server of the ts-cloud tests (tests/ts_cloud/cloud_servers.py)."""
    sys.path.insert(0, str(TS_CLOUD_TESTS))
    import cloud_servers

    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    with cloud_servers.seaweedfs() as endpoint:
        cloud_servers.create_s3_bucket(endpoint, cloud_servers.S3_BUCKET)
        yield endpoint


class TestOcdbtOverS3(OcdbtConformance):
    concurrent_writers = 2
    increments_per_writer = 5

    @pytest.fixture
    def kvstore(self, s3_endpoint: str) -> ts.KvStore:
        import cloud_servers

        base: dict[str, Any] = cloud_servers.s3_spec(s3_endpoint, cloud_servers.unique_prefix("ocdbt"))
        return ts.KvStore.open({"driver": "ocdbt", "base": base}).result()
