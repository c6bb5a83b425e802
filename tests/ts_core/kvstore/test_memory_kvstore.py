"""The memory driver passes the kvstore conformance suite, plus memory-specific checks."""

from __future__ import annotations

import pytest

import ts_core as ts
from ts_core.testing.kvstore import KvStoreConformance


class TestMemoryConformance(KvStoreConformance):
    @pytest.fixture
    def kvstore(self) -> ts.KvStore:
        return ts.KvStore.open({"driver": "memory"}).result()


def test_shared_through_context() -> None:
    context = ts.Context()
    first = ts.KvStore.open("memory://", context=context).result()
    second = ts.KvStore.open("memory://", context=context).result()
    first["k"] = b"v"
    assert second["k"] == b"v"
    separate = ts.KvStore.open("memory://").result()
    assert separate.read("k").result().state == "missing"


def test_named_memory_store_resource() -> None:
    context = ts.Context({"memory_key_value_store#a": {}})
    a = ts.KvStore.open(
        {"driver": "memory", "memory_key_value_store": "memory_key_value_store#a"}, context=context
    ).result()
    default = ts.KvStore.open({"driver": "memory"}, context=context).result()
    a["k"] = b"1"
    assert default.read("k").result().state == "missing"


def test_atomic_multi_key_transaction() -> None:
    store = ts.KvStore.open("memory://").result()
    store["a"] = b"0"
    txn = ts.Transaction(atomic=True)
    staged = store.with_transaction(txn)
    staged["a"] = str(int(staged["a"]) + 1).encode()
    staged["b"] = b"new"
    store["a"] = b"5"  # conflicting concurrent write
    with pytest.raises(ValueError, match="nothing was written"):
        txn.commit_sync()
    assert store["a"] == b"5"
    assert store.read("b").result().state == "missing"


def test_url_round_trip() -> None:
    store = ts.KvStore.open("memory://a/b%20c/").result()
    assert store.path == "a/b c/"
    assert store.url == "memory://a/b%20c/"
