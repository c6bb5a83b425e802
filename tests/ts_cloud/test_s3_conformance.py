"""The kvstore conformance suite for ``s3`` against a local SeaweedFS."""

from __future__ import annotations

import pytest
from cloud_servers import s3_spec, unique_prefix

import ts_core as ts
from ts_core.testing.kvstore import KvStoreConformance


class TestS3Conformance(KvStoreConformance):
    @pytest.fixture
    def kvstore(self, s3_endpoint: str) -> ts.KvStore:
        return ts.KvStore.open(s3_spec(s3_endpoint, unique_prefix("conformance"))).result()

    def test_overwrite_changes_generation(self, kvstore: ts.KvStore) -> None:
        # S3 ETags are MD5 digests of the content, so rewriting the same bytes keeps the
        # generation (on AWS as on SeaweedFS). Conditions still work, because they compare
        # content; what holds is that different content gives a different generation.
        first = kvstore.write("a", b"1").result()
        second = kvstore.write("a", b"2").result()
        assert first.generation != second.generation
        assert kvstore.read("a").result().stamp.generation == second.generation
