"""Group commit of bulk writes (``OcdbtDriver.write_batch``): one version per bulk array
write, generations known at once, nothing visible or referenced before it is durable."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorstore

import ts_core as ts
from ts_core.kvstore import NO_VALUE, UNKNOWN, WriteBatch
from ts_ocdbt import _batch


def _latest_generation(path: Path) -> int:
    manifest = tensorstore.ocdbt.dump(tensorstore.KvStore.open(f"file://{path}/").result()).result()
    return int(manifest["versions"][-1]["generation_number"])


def _store(path: Path, **members: Any) -> ts.KvStore:
    return ts.KvStore.open({"driver": "ocdbt", "base": f"file://{path}/", **members}).result()


def test_a_bulk_array_write_is_one_version(tmp_path: Path) -> None:
    spec = {"driver": "zarr3", "kvstore": {"driver": "ocdbt", "base": f"file://{tmp_path}/"}}
    array = ts.open(spec, create=True, dtype="uint16", shape=[64, 64], chunk_layout=ts.ChunkLayout(chunk_shape=[8, 8])).result()
    assert _latest_generation(tmp_path) == 2  # the new database, then zarr.json
    data = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    array.write(data).result()
    assert _latest_generation(tmp_path) == 3  # 64 chunks, one commit
    # Reported done: durable and visible to another library.
    np.testing.assert_array_equal(tensorstore.open(spec).result().read().result(), data)
    array[3:60, 5:9].write(np.zeros((57, 4), np.uint16)).result()  # partial chunks: read-modify-write
    data[3:60, 5:9] = 0
    np.testing.assert_array_equal(tensorstore.open(spec).result().read().result(), data)


def test_writes_are_committed_by_finish_with_the_generations_they_returned(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store["old"] = b"x"
    batch = store.driver.write_batch()
    assert isinstance(batch, WriteBatch)
    large, small = bytes(range(256)) * 8, b"small"
    stamps = {key: batch.write(key, value, None) for key, value in
              [(b"large", large), (b"small", small), (b"old", None)]}
    assert stamps[b"old"].generation == NO_VALUE
    reader = _store(tmp_path)
    assert reader.read("large").result().state == "missing"  # not committed yet
    assert reader["old"] == b"x"
    batch.finish()
    for key, value in [(b"large", large), (b"small", small)]:
        result = reader.read(key).result()
        assert (result.value, result.stamp.generation) == (value, stamps[key].generation)
    assert reader.read("old").result().state == "missing"
    assert tensorstore.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/"}).result()["large"] == large


def test_a_conditional_write_is_committed_at_once(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store["k"] = b"1"
    batch = store.driver.write_batch()
    assert batch.write(b"k", b"2", b"bogus\x00").generation == UNKNOWN
    assert store["k"] == b"1"
    generation = store.read("k").result().stamp.generation
    assert batch.write(b"k", b"2", generation).generation != UNKNOWN
    assert _store(tmp_path)["k"] == b"2"  # before finish
    # A condition on a key the batch holds sees the held value: it is committed first.
    held = batch.write(b"h", b"v" * 300, None)
    assert batch.write(b"h", b"w", held.generation).generation != UNKNOWN
    batch.finish()
    assert _store(tmp_path)["h"] == b"w"


def test_stored_values_are_durable_before_the_commit_refers_to_them(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store["k"] = b"1"
    events: list[str] = []
    written: list[bytes] = []
    base_driver = store.driver.base_kvstore.driver
    make_batch = base_driver.write_batch

    class Recording(WriteBatch):
        def __init__(self) -> None:
            super().__init__(base_driver)
            self.inner = make_batch()

        def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> Any:
            events.append("data file")
            written.append(key)
            return self.inner.write(key, value, if_equal)

        def finish(self) -> None:
            events.append("durable")
            self.inner.finish()

    original_write = base_driver.write

    def write(key: bytes, value: bytes | None, if_equal: bytes | None) -> Any:
        if key.endswith(b"manifest.ocdbt"):
            events.append("manifest")
        return original_write(key, value, if_equal)

    base_driver.write_batch = Recording  # type: ignore[method-assign]
    base_driver.write = write  # type: ignore[method-assign]
    try:
        batch = store.driver.write_batch()
        for index in range(3):
            batch.write(f"v{index}".encode(), bytes([index]) * 1000, None)
        batch.finish()
    finally:
        del base_driver.write_batch, base_driver.write
    # The three values share one data file, as tensorstore's values of one commit do.
    assert events[:2] == ["data file", "durable"]
    assert events.index("durable") < events.index("manifest")
    assert [store[f"v{i}"] for i in range(3)] == [bytes([i]) * 1000 for i in range(3)]
    assert (tmp_path / written[0].decode()).stat().st_size == 3000
    dumped = tensorstore.ocdbt.dump(tensorstore.KvStore.open(f"file://{tmp_path}/").result()).result()
    assert dumped["versions"][-1]["generation_number"] == _latest_generation(tmp_path)


def _data_files(path: Path) -> list[Path]:
    return sorted((path / "d").iterdir())


def test_a_bulk_array_write_packs_its_chunks_into_few_data_files_like_tensorstore(tmp_path: Path) -> None:
    data = (np.arange(96**3, dtype=np.uint32) * 2654435761 % 65521).astype(np.uint16).reshape(96, 96, 96)
    counts = {}
    for name, library in (("ts", ts), ("tensorstore", tensorstore)):
        spec = {"driver": "zarr3", "kvstore": {"driver": "ocdbt", "base": f"file://{tmp_path / name}/"}}
        array = library.open(
            spec, create=True, dtype="uint16", shape=[96, 96, 96],
            chunk_layout=library.ChunkLayout(chunk_shape=[16, 16, 16]),
        ).result()
        before = len(_data_files(tmp_path / name))
        array.write(data).result()
        counts[name] = len(_data_files(tmp_path / name)) - before
        # Each library reads what the other wrote.
        other = tensorstore if library is ts else ts
        np.testing.assert_array_equal(other.open(spec).result().read().result(), data)
    assert counts["ts"] <= max(counts["tensorstore"], 2)  # 216 chunks: values, then nodes


def test_data_files_are_written_when_they_reach_target_data_file_size(tmp_path: Path) -> None:
    store = _store(tmp_path, target_data_file_size=2500)
    store["first"] = b"1"
    before = set(_data_files(tmp_path))
    batch = store.driver.write_batch()
    values = {f"k{index:02d}".encode(): bytes([index]) * 1000 for index in range(10)}
    for key, value in values.items():
        batch.write(key, value, None)
    files = set(_data_files(tmp_path)) - before
    assert len(files) == 3  # three full files are written while the batch fills
    batch.finish()
    new_files = set(_data_files(tmp_path)) - before
    sizes = sorted(file.stat().st_size for file in new_files)
    # Three files of three values, one of the last value, and the commit's B+tree node.
    assert len(sizes) == 5
    assert sizes.count(3000) == 3
    assert 1000 in sizes
    reader = tensorstore.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/"}).result()
    assert {key: reader[key] for key in values} == values


def test_keys_of_a_data_file_that_could_not_be_written_are_not_committed(tmp_path: Path) -> None:
    store = _store(tmp_path, target_data_file_size=2000)
    store["first"] = b"1"
    batch = store.driver.write_batch()
    base = store.driver.base_kvstore
    original = type(base).write_blocking
    calls = 0

    def failing(self: Any, key: Any, value: Any, *args: Any) -> Any:
        nonlocal calls
        if isinstance(key, bytes) and key.startswith(b"d/") and value is not None:
            calls += 1
            if calls == 1:
                raise OSError("disk full")
        return original(self, key, value, *args)

    type(base).write_blocking = failing
    try:
        batch.write(b"a", b"a" * 1000, None)
        with pytest.raises(OSError, match="disk full"):
            batch.write(b"b", b"b" * 1000, None)  # fills the first file: its write fails
        batch.write(b"c", b"c" * 1000, None)
        batch.write(b"small", b"s", None)
        batch.finish()
    finally:
        type(base).write_blocking = original
    reader = _store(tmp_path)
    assert sorted(reader.list().result()) == [b"c", b"first", b"small"]
    assert reader["c"] == b"c" * 1000


def test_many_writers_and_intermediate_commits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_batch, "MAX_PENDING_KEYS", 16)
    store = _store(tmp_path)
    store["first"] = b"1"
    before = _latest_generation(tmp_path)
    batch = store.driver.write_batch()

    def writer(thread: int) -> None:
        for index in range(20):
            value = None if index == 19 else f"{thread}-{index}".encode() * (index % 3 * 60)
            batch.write(f"t{thread}/{index:02d}".encode(), value, None)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batch.finish()
    versions = _latest_generation(tmp_path) - before
    assert 1 <= versions <= 80 // 16 + 1
    expected = {f"t{t}/{i:02d}".encode(): f"{t}-{i}".encode() * (i % 3 * 60) for t in range(4) for i in range(19)}
    reader = _store(tmp_path)
    assert {key: reader[key] for key in reader.list().result() if key != b"first"} == expected


def test_a_new_database_and_a_pinned_version(tmp_path: Path) -> None:
    store = _store(tmp_path / "new")
    batch = store.driver.write_batch()
    batch.write(b"a", b"x" * 500, None)  # no config yet: committed at once, creating it
    batch.write(b"b", b"y" * 500, None)
    batch.finish()
    assert (store["a"], store["b"]) == (b"x" * 500, b"y" * 500)
    pinned = _store(tmp_path / "new", version=2)
    with pytest.raises(ValueError, match="Writing is not supported"):
        pinned.driver.write_batch().write(b"a", b"z", None)
