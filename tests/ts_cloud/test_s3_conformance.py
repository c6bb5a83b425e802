"""The kvstore conformance suite for ``s3`` against a local SeaweedFS."""

from __future__ import annotations

import pytest
from cloud_servers import UnusualKeysTests, s3_spec, unique_prefix

import ts_core as ts
from ts_core.testing.kvstore import KvStoreConformance


class TestS3Conformance(KvStoreConformance, UnusualKeysTests):
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


def test_delete_range_in_batches(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from ts_cloud.s3 import _driver

    monkeypatch.setattr(_driver, "DELETE_BATCH", 7)
    store = ts.KvStore.open(s3_spec(s3_endpoint, unique_prefix("batch"))).result()
    keys = [f"k/{i:03d}" for i in range(30)] + ["odd <&> key", "z"]
    for future in [store.write(key, b"v") for key in keys]:
        future.result()
    store.delete_range(ts.KvStore.KeyRange("k/005", "z")).result()
    assert store.list().result() == [f"k/{i:03d}".encode() for i in range(5)] + [b"z"]


def test_list_from_inside_a_page(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from ts_cloud.s3 import _driver

    monkeypatch.setattr(_driver, "LIST_PAGE_SIZE", 4)
    store = ts.KvStore.open(s3_spec(s3_endpoint, unique_prefix("pages"))).result()
    keys = [f"a/{i:02d}" for i in range(11)] + ["a/\u00e9", "b"]
    for future in [store.write(key, b"v") for key in keys]:
        future.result()
    assert store.list().result() == sorted(k.encode() for k in keys)
    assert store.list(ts.KvStore.KeyRange("a/03", "a/09")).result() == [f"a/{i:02d}".encode() for i in range(3, 9)]
    assert store.list(ts.KvStore.KeyRange("a/\u00e9", "")).result() == ["a/\u00e9".encode(), b"b"]


def test_pickle_and_fork(s3_endpoint: str) -> None:
    import os
    import pickle

    store = ts.KvStore.open(s3_spec(s3_endpoint, unique_prefix("fork"))).result()
    store["before"] = b"1"  # the parent's pool now holds connections
    assert pickle.loads(pickle.dumps(store))["before"] == b"1"
    pid = os.fork()
    if pid == 0:  # the child must not share the parent's sockets or threads
        try:
            store["child"] = store["before"] + b"2"
            code = 0 if store.list().result() == [b"before", b"child"] else 1
        except BaseException:
            code = 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store["child"] == b"12"
