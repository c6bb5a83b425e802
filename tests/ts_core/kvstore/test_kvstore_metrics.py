"""Per-driver kvstore metrics (``/tensorstore/kvstore/<driver>/...``) against the wheel."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import tensorstore

import ts_core
from ts_core.kvstore import KvStoreDriver, ReadOptions, ReadResult

COUNTERS = ("read", "bytes_read", "write", "bytes_written", "list", "delete_range")
HISTOGRAMS = ("read_latency_ms", "write_latency_ms")


def _snapshot(library: Any, driver: str) -> dict[str, float]:
    """Counter values and histogram counts of one driver's kvstore metrics."""
    values: dict[str, float] = dict.fromkeys(COUNTERS + HISTOGRAMS, 0)
    prefix = f"/tensorstore/kvstore/{driver}/"
    for metric in library.experimental_collect_matching_metrics(prefix, include_zero_metrics=True):
        name = metric["name"][len(prefix):]
        if name in COUNTERS:
            values[name] = metric["values"][0]["value"]
        elif name in HISTOGRAMS:
            values[name] = metric["values"][0]["count"]
    return values


def _operations(library: Any, root: Path) -> None:
    kvstore = library.KvStore.open(f"file://{root}/").result()
    kvstore.write("a", b"xyz").result()
    kvstore.write("c", b"xyzw").result()
    kvstore.read("a").result()
    kvstore.read("missing").result()
    kvstore.read("a", byte_range=slice(1, None)).result()
    generation = kvstore.read("a").result().stamp.generation
    kvstore.read("a", if_not_equal=generation).result()  # unchanged: no value, no latency
    kvstore.write("c", None).result()  # a delete: a write call without bytes or latency
    kvstore.list().result()
    kvstore.delete_range(library.KvStore.KeyRange("a", "b")).result()
    transaction = library.Transaction()
    kvstore.with_transaction(transaction).write("q", b"12345").result()
    kvstore.with_transaction(transaction).write("r", b"12").result()
    transaction.commit_sync()


def test_file_metrics_count_as_the_wheel_does(tmp_path: Path) -> None:
    deltas = {}
    for library in (tensorstore, ts_core):
        before = _snapshot(library, "file")
        _operations(library, tmp_path / library.__name__)
        after = _snapshot(library, "file")
        deltas[library.__name__] = {name: after[name] - before[name] for name in before}
    assert deltas["ts_core"] == deltas["tensorstore"]
    assert deltas["ts_core"]["bytes_read"] == 3 + 2 + 3
    assert deltas["ts_core"]["write"] == 5


def test_latency_histogram_has_the_wheel_shape(tmp_path: Path) -> None:
    kvstore = ts_core.KvStore.open(f"file://{tmp_path}/").result()
    kvstore.write("k", b"v").result()
    kvstore.read("k").result()
    (collected,) = ts_core.experimental_collect_matching_metrics("/tensorstore/kvstore/file/read_latency_ms")
    (cell,) = collected["values"]
    assert {"0", "count", "mean", "sum_of_squared_deviation"} <= set(cell)
    assert sum(value for key, value in cell.items() if key.isdigit()) == cell["count"]


def test_memory_kvstore_is_counted_too() -> None:
    # A ts extension: the wheel keeps no metrics for its memory kvstore.
    before = _snapshot(ts_core, "memory")
    kvstore = ts_core.KvStore.open("memory://").result()
    kvstore.write("a", b"12").result()
    kvstore.read("a").result()
    kvstore.list().result()
    after = _snapshot(ts_core, "memory")
    assert {name: after[name] - before[name] for name in ("read", "bytes_read", "write", "bytes_written", "list")} == {
        "read": 1, "bytes_read": 2, "write": 1, "bytes_written": 2, "list": 1,
    }


def test_adapter_reads_count_in_the_base_driver_too(tmp_path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(tmp_path / "data.zip", "w") as archive:
        archive.writestr("member", b"12345")
    for library in (tensorstore, ts_core):
        before_zip, before_file = _snapshot(library, "zip"), _snapshot(library, "file")
        kvstore = library.KvStore.open(f"file://{tmp_path}/data.zip|zip:").result()
        assert kvstore.read("member").result().value == b"12345"
        after_zip, after_file = _snapshot(library, "zip"), _snapshot(library, "file")
        assert after_zip["read"] - before_zip["read"] == 1, library.__name__
        assert after_file["read"] > before_file["read"], library.__name__


def test_chunked_driver_io_is_counted(tmp_path: Path) -> None:
    before = _snapshot(ts_core, "file")
    store = ts_core.open(
        {"driver": "zarr3", "kvstore": f"file://{tmp_path}/"},
        dtype="uint8", shape=[4], chunk_layout=ts_core.ChunkLayout(chunk_shape=[2]), create=True,
    ).result()
    store[...] = [1, 2, 3, 4]
    assert list(store.read().result()) == [1, 2, 3, 4]
    after = _snapshot(ts_core, "file")
    assert after["write"] - before["write"] >= 3  # metadata and two chunks
    assert after["read"] > before["read"]


class _CountingSubclassStore(KvStoreDriver):
    """An unregistered driver: recorded nowhere (its id names no user-visible driver)."""

    id = "test_unregistered_metrics"
    spec_class = dict

    @classmethod
    def open(cls, spec: Any, context: Any) -> _CountingSubclassStore:
        return cls()

    @property
    def spec(self) -> Any:
        return {}

    def read(self, key: bytes, options: ReadOptions) -> ReadResult:
        return ReadResult("value", b"abc")

    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> Any:
        raise NotImplementedError

    def delete_range(self, key_range: Any) -> None:
        pass

    def list(self, key_range: Any) -> list[bytes]:
        return []


def test_unregistered_drivers_record_nothing() -> None:
    _CountingSubclassStore().read(b"k", ReadOptions())
    assert ts_core.experimental_collect_matching_metrics("/tensorstore/kvstore/test_unregistered_metrics/") == []


def test_an_override_calling_super_is_counted_once() -> None:
    from ts_core.kvstore.memory._driver import MemoryKvStore

    calls = []

    class Wrapped(MemoryKvStore):
        def read(self, key: bytes, options: ReadOptions) -> ReadResult:
            calls.append(key)
            return super().read(key, options)

    store = Wrapped.open(ts_core.KvStore.Spec("memory://")._driver_spec, ts_core.Context())
    before = _snapshot(ts_core, "memory")["read"]
    store.read(b"missing", ReadOptions())
    assert calls == [b"missing"]
    assert _snapshot(ts_core, "memory")["read"] - before == 1


def test_failed_operations_still_count() -> None:
    kvstore = ts_core.KvStore.open("memory://").result()
    kvstore.write("short", b"ab").result()
    before = _snapshot(ts_core, "memory")
    with pytest.raises(ValueError, match="byte range"):
        kvstore.read("short", byte_range=slice(5, 9)).result()
    after = _snapshot(ts_core, "memory")
    assert (after["read"] - before["read"], after["bytes_read"] - before["bytes_read"]) == (1, 0)


def test_concurrent_recording_loses_nothing() -> None:
    kvstore = ts_core.KvStore.open("memory://").result()
    kvstore.write("k", b"1").result()
    before = _snapshot(ts_core, "memory")["read"]

    def reads() -> None:
        for _ in range(500):
            kvstore.read_blocking("k")

    threads = [threading.Thread(target=reads) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _snapshot(ts_core, "memory")["read"] - before == 2000
