"""The kvstore conformance suite for ``gcs`` against a local fake-gcs-server."""

from __future__ import annotations

import pytest
from cloud_servers import gcs_spec, unique_prefix

import ts_core as ts
from ts_core.testing.kvstore import KvStoreConformance


class TestGcsConformance(KvStoreConformance):
    @pytest.fixture
    def kvstore(self, gcs_url: str) -> ts.KvStore:
        return ts.KvStore.open(gcs_spec(unique_prefix("conformance"))).result()
