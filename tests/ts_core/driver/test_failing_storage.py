"""A kvstore that fails: array reads and writes report the chunk key, other chunks still work."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

import ts_core as ts
from ts_core.driver import ChunkStorageError
from ts_core.kvstore.memory import MemoryKvStore
from ts_core.plugin import hookimpl, register_plugin, reset_registry


class FlakyMemory(MemoryKvStore):
    """The memory kvstore, except that keys containing 'bad' fail like a broken disk."""

    id = "flaky_memory"

    def read(self, key: bytes, options):  # type: ignore[no-untyped-def]
        if b"bad" in key:
            raise OSError(5, "Input/output error")
        return super().read(key, options)

    def write(self, key: bytes, value, if_equal):  # type: ignore[no-untyped-def]
        if b"bad" in key:
            raise ConnectionResetError("connection reset by peer")
        return super().write(key, value, if_equal)


@pytest.fixture
def flaky() -> object:
    module = types.ModuleType("flaky_kvstore_test")
    module.FlakyMemory = FlakyMemory  # type: ignore[attr-defined]
    sys.modules["flaky_kvstore_test"] = module

    class Plugin:
        @hookimpl
        def ts_register(self, registry):  # type: ignore[no-untyped-def]
            registry.add("kvstore", "flaky_memory", "flaky_kvstore_test:FlakyMemory", schema={
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "allOf": [{"$ref": "urn:ts:schema:kvstore"}],
                "properties": {"driver": {"const": "flaky_memory"},
                               "memory_key_value_store": True, "atomic": {"type": "boolean"}},
                "unevaluatedProperties": False,
            })

    register_plugin(Plugin(), name="flaky-test")
    yield
    reset_registry()
    del sys.modules["flaky_kvstore_test"]


def test_failing_reads_and_writes_name_the_chunk(flaky: object) -> None:
    context = ts.Context()
    spec = {
        "driver": "zarr",
        "kvstore": {"driver": "flaky_memory"},
        "metadata": {"chunks": [2], "dimension_separator": "/"},
    }
    store = ts.open(spec, create=True, dtype=ts.uint8, shape=[4], context=context).result()
    store.write([1, 2, 3, 4]).result()
    # A second array whose chunk keys contain "bad" lives in the same failing store.
    bad = ts.open({**spec, "kvstore": {"driver": "flaky_memory", "path": "bad/"}},
                  create=True, dtype=ts.uint8, shape=[4], context=context)
    with pytest.raises(ChunkStorageError, match=r"reading metadata 'bad/\.zarray' failed: OSError"):
        bad.result()
    np.testing.assert_array_equal(store.read().result(), [1, 2, 3, 4])


def test_failing_chunk_read_is_reported_with_key(flaky: object) -> None:
    context = ts.Context()
    ok = ts.open({"driver": "zarr", "kvstore": {"driver": "flaky_memory", "path": "a/"}, "metadata": {"chunks": [2]}},
                 create=True, dtype=ts.uint8, shape=[4], context=context).result()
    ok.write([1, 2, 3, 4]).result()
    # Put a chunk under a failing key by writing the bytes through the plain memory store.
    plain = ts.KvStore.open({"driver": "memory"}, context=context).result()
    plain["a/bad"] = b"x"
    with pytest.raises(ChunkStorageError, match=r"reading chunk 'a/bad' failed: OSError"):
        ok._driver.read_stored_chunk("bad", ok.kvstore)
    with pytest.raises(ChunkStorageError, match=r"writing chunk 'a/bad' failed: ConnectionResetError"):
        ok._driver._store(ok.kvstore, "bad", ok._driver.fill_chunk() + 1, None)
