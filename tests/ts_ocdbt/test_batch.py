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
    events: list[bytes] = []
    base_driver = store.driver.base_kvstore.driver
    original_write = base_driver.write

    def write(key: bytes, value: bytes | None, if_equal: bytes | None) -> Any:
        stamp = original_write(key, value, if_equal)
        events.append(key)  # once written (the file driver's write is durable on return)
        return stamp

    base_driver.write = write  # type: ignore[method-assign]
    try:
        batch = store.driver.write_batch()
        for index in range(3):
            batch.write(f"v{index}".encode(), bytes([index]) * 1000, None)
        assert not events  # held in memory until the commit
        batch.finish()
    finally:
        del base_driver.write
    # One data file holds the three values and the commit's B+tree node, and it is written
    # before the manifest that refers to it: as few writes as one small commit.
    names = [key.rsplit(b"/", 2)[-2:] for key in events]
    assert [name[0] for name in names] == [b"d", tmp_path.name.encode()]
    assert events[-1].endswith(b"manifest.ocdbt")
    data_file = Path(events[0].decode())
    assert data_file.stat().st_size > 3000
    assert data_file.read_bytes()[:3000] == b"".join(bytes([i]) * 1000 for i in range(3))
    assert [store[f"v{i}"] for i in range(3)] == [bytes([i]) * 1000 for i in range(3)]
    wheel = tensorstore.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/"}).result()
    assert [wheel[f"v{i}"] for i in range(3)] == [bytes([i]) * 1000 for i in range(3)]


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
    # Three files of three values, and one of the last value followed by the B+tree node.
    assert len(sizes) == 4
    assert sizes.count(3000) == 3
    assert 1000 < sizes[0] < 3000
    reader = tensorstore.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/"}).result()
    assert {key: reader[key] for key in values} == values


def test_keys_of_a_data_file_that_could_not_be_written_are_not_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path, target_data_file_size=2000)
    store["first"] = b"1"
    batch = store.driver.write_batch()
    base = store.driver.base_kvstore
    original = type(base).write_blocking
    calls = 0

    def failing(self: Any, key: Any, value: Any, *args: Any) -> Any:
        nonlocal calls
        if self is base and isinstance(key, bytes) and key.startswith(b"d/") and value is not None:
            calls += 1
            if calls == 1:
                raise OSError("disk full")
        return original(self, key, value, *args)

    monkeypatch.setattr(type(base), "write_blocking", failing)
    batch.write(b"a", b"a" * 1000, None)
    with pytest.raises(OSError, match="disk full"):
        batch.write(b"b", b"b" * 1000, None)  # fills the first file: its write fails
    batch.write(b"c", b"c" * 1000, None)
    batch.write(b"small", b"s", None)
    batch.finish()
    monkeypatch.undo()
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


def test_a_commit_that_loses_the_race_for_the_manifest_keeps_the_filled_data_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ts_ocdbt._driver import OcdbtDriver

    store = _store(tmp_path)
    store["first"] = b"1"
    rival = _store(tmp_path)
    publish = OcdbtDriver._publish
    lost = []

    def publish_once_late(self: OcdbtDriver, snapshot: Any, files: Any) -> Any:
        if self is store.driver and not lost:
            lost.append(True)
            rival["rival"] = b"r"  # another writer's commit lands first
        return publish(self, snapshot, files)

    monkeypatch.setattr(OcdbtDriver, "_publish", publish_once_late)
    before = set(_data_files(tmp_path))
    batch = store.driver.write_batch()
    values = {f"k{index}".encode(): bytes([index]) * 500 for index in range(5)}
    for key, value in values.items():
        batch.write(key, value, None)
    batch.finish()
    assert lost
    reader = tensorstore.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/"}).result()
    assert {key: reader[key] for key in values} == values
    assert reader["rival"] == b"r"
    # The values' file was written once, by the first attempt (with that attempt's node).
    holding = [file for file in set(_data_files(tmp_path)) - before if file.read_bytes()[:500] == bytes(500)]
    assert len(holding) == 1
