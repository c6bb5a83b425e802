"""The kvstore conformance suite for ``gcs`` against a local fake-gcs-server."""

from __future__ import annotations

import pytest
from cloud_servers import UnusualKeysTests, gcs_spec, unique_prefix

import ts_core as ts
from ts_core.testing.kvstore import KvStoreConformance


class TestGcsConformance(KvStoreConformance, UnusualKeysTests):
    @pytest.fixture
    def kvstore(self, gcs_url: str) -> ts.KvStore:
        return ts.KvStore.open(gcs_spec(unique_prefix("conformance"))).result()


def test_list_pages_and_delete_range(gcs_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from ts_cloud.gcs import _driver

    monkeypatch.setattr(_driver, "LIST_PAGE_SIZE", 4)
    store = ts.KvStore.open(gcs_spec(unique_prefix("pages"))).result()
    keys = [f"a/{i:02d}" for i in range(11)] + ["a/\u00e9", "b c"]
    for future in [store.write(key, b"v") for key in keys]:
        future.result()
    assert store.list().result() == sorted(k.encode() for k in keys)
    assert store.list(ts.KvStore.KeyRange("a/03", "a/09")).result() == [f"a/{i:02d}".encode() for i in range(3, 9)]
    store.delete_range(ts.KvStore.KeyRange("a/05", "b")).result()
    assert store.list().result() == [f"a/{i:02d}".encode() for i in range(5)] + [b"b c"]
