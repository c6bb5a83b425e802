"""ts_ocdbt.versions and garbage listing: listing, selecting, opening, pinning and diffing
versions, on databases written by the tensorstore wheel (the reference) and by ts."""

from __future__ import annotations

import datetime
import itertools
import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorstore

import ts_core as ts
import ts_ocdbt
from ts_ocdbt import versions as versions_module

DEEP = {"manifest_kind": "numbered", "version_tree_arity_log2": 1,
        "max_decoded_node_bytes": 200, "max_inline_value_bytes": 8}


def wheel_store(path: Path, config: dict[str, Any] | None = None) -> Any:
    spec: dict[str, Any] = {"driver": "ocdbt", "base": f"file://{path}/"}
    if config:
        spec["config"] = config
    return tensorstore.KvStore.open(spec).result()


def commit(store: Any, library: Any, writes: dict[str, bytes | None]) -> None:
    """One atomic transaction: a value puts the key, None deletes it."""
    transaction = library.Transaction(atomic=True)
    view = store.with_transaction(transaction)
    for key, value in writes.items():
        if value is None:
            view.delete_range(library.KvStore.KeyRange(key, key + "\x00")).result()
        else:
            view[key] = value
    transaction.commit_sync()


def wheel_history(path: Path, config: dict[str, Any] | None = None, commits: int = 10) -> list[dict[bytes, bytes]]:
    """The model after each generation (index 0: generation 1, the empty database)."""
    store = wheel_store(path, config)
    model: dict[bytes, bytes] = {}
    history: list[dict[bytes, bytes]] = [{}]  # the first commit also creates generation 1, empty
    for number in range(commits):
        writes: dict[str, bytes | None] = {}
        for index in range(6):
            key = f"k{(number * 7 + index * 3) % 23:02d}"
            writes[key] = bytes([number]) * (4 + 30 * (index % 3))  # some out of line
        if number % 3 == 2:
            writes[sorted(model)[0].decode()] = None
        commit(store, tensorstore, writes)
        for key, value in writes.items():
            if value is None:
                model.pop(key.encode(), None)
            else:
                model[key.encode()] = value
        history.append(dict(model))
    return history


def wheel_dump(path: Path) -> Any:
    return tensorstore.ocdbt.dump(tensorstore.KvStore.open(f"file://{path}/").result()).result()


def base(path: Path) -> ts.KvStore:
    return ts.KvStore.open(f"file://{path}/").result()


def ocdbt(database: Path, **members: Any) -> ts.KvStore:
    return ts.KvStore.open({"driver": "ocdbt", "base": f"file://{database}/", **members}).result()


def contents(store: Any) -> dict[bytes, bytes]:
    return {bytes(key): bytes(store.read(key).result().value) for key in store.list().result()}


# -- listing ----------------------------------------------------------------------------

@pytest.mark.parametrize("config", [None, DEEP], ids=["default", "numbered-deep"])
def test_list_versions_matches_the_wheels_dump(tmp_path: Path, config: dict[str, Any] | None) -> None:
    history = wheel_history(tmp_path, config)
    listed = ts_ocdbt.list_versions(base(tmp_path)).result()
    assert [v.generation_number for v in listed] == list(range(1, len(history) + 1))
    assert [v.num_keys for v in listed] == [len(model) for model in history]
    assert all(a.commit_time < b.commit_time for a, b in itertools.pairwise(listed))
    dumped = {v["generation_number"]: v for v in wheel_dump(tmp_path)["versions"]}
    for version in listed:
        if version.generation_number in dumped:  # the newest ones, inline in the manifest
            reference = dumped[version.generation_number]
            assert version.commit_time == reference["commit_time"]
            assert version.root == reference["root"].get("location")
            assert version.root_height == reference["root_height"]
            assert version.num_tree_bytes == reference["root"]["statistics"]["num_tree_bytes"]
    assert listed[0].root is None
    assert listed[0].num_keys == 0
    # The same through the ocdbt store itself.
    assert ts_ocdbt.list_versions(ocdbt(tmp_path)).result() == listed


def test_list_versions_of_nothing_is_empty(tmp_path: Path) -> None:
    assert ts_ocdbt.list_versions(base(tmp_path)).result() == []


def test_version_times(tmp_path: Path) -> None:
    wheel_history(tmp_path, commits=1)
    version = ts_ocdbt.list_versions(base(tmp_path)).result()[-1]
    assert version.commit_datetime.tzinfo is datetime.UTC
    assert versions_module.parse_commit_time(version.commit_time_iso) == version.commit_time
    assert versions_module.format_commit_time(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"
    with pytest.raises(ValueError, match=r'commit time "yesterday": expected YYYY-MM-DDThh:mm:ss\[\.fraction\]Z'):
        ts_ocdbt.get_version(base(tmp_path), "yesterday").result()


# -- selecting and opening --------------------------------------------------------------

def test_get_version_by_generation_and_commit_time(tmp_path: Path) -> None:
    wheel_history(tmp_path, commits=4)
    store = base(tmp_path)
    listed = ts_ocdbt.list_versions(store).result()
    third = listed[2]
    assert ts_ocdbt.get_version(store, 3).result() == third
    assert ts_ocdbt.get_version(store, third).result() == third
    # A commit time selects the newest version committed at or before it.
    assert ts_ocdbt.get_version(store, third.commit_time_iso).result() == third
    just_before_fourth = versions_module.format_commit_time(listed[3].commit_time - 1)
    assert ts_ocdbt.get_version(store, just_before_fourth).result() == third
    assert ts_ocdbt.get_version(store, listed[3].commit_datetime + datetime.timedelta(days=1)).result() == listed[-1]


def test_unknown_version_names_it_and_what_exists(tmp_path: Path) -> None:
    wheel_history(tmp_path, commits=4)
    store = base(tmp_path)
    first = ts_ocdbt.list_versions(store).result()[0]
    with pytest.raises(ValueError, match=r"version 9 \(generation number\) is not present in the OCDBT "
                                         r"database at 'file://.*': it has generations 1 to 5, committed from 2"):
        ts_ocdbt.get_version(store, 9).result()
    with pytest.raises(ValueError, match=r"version 2001-01-01T00:00:00Z \(commit time\) is not present .* "
                                         r"no version was committed at or before it; it has generations 1 to 5"):
        ts_ocdbt.open_version(store, "2001-01-01T00:00:00Z").result()
    with pytest.raises(ValueError, match="must be timezone-aware"):
        ts_ocdbt.get_version(store, first.commit_datetime.replace(tzinfo=None)).result()
    with pytest.raises(TypeError, match="expected a generation number, a commit time or a Version"):
        ts_ocdbt.get_version(store, 2.5).result()  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"expected a ts\.KvStore"):
        ts_ocdbt.list_versions("file:///tmp").result()  # type: ignore[arg-type]


def test_open_version_reads_the_earlier_data_read_only(tmp_path: Path) -> None:
    history = wheel_history(tmp_path, commits=5)
    store = ocdbt(tmp_path)
    for generation, model in enumerate(history, start=1):
        assert contents(ts_ocdbt.open_version(store, generation).result()) == model
    earlier = ts_ocdbt.open_version(store, 2).result()
    assert earlier.spec().to_json()["version"] == 2
    with pytest.raises(ValueError, match="version"):
        earlier.write("k00", b"new").result()
    assert contents(store) == history[-1]  # the newest version is untouched


def test_open_version_keeps_the_path_within_the_database(tmp_path: Path) -> None:
    history = wheel_history(tmp_path, commits=3)
    inner = ocdbt(tmp_path, path="k0")
    earlier = ts_ocdbt.open_version(inner, 3).result()
    assert contents(earlier) == {key[2:]: value for key, value in history[2].items() if key.startswith(b"k0")}


# -- pinning ----------------------------------------------------------------------------

def test_pinned_spec_keeps_reading_the_same_data(tmp_path: Path) -> None:
    store = ocdbt(tmp_path)
    store["a"] = b"one"
    pinned = ts_ocdbt.pin_version(store).result()
    generation = ts_ocdbt.list_versions(store).result()[-1].generation_number
    assert pinned.to_json()["version"] == generation
    store["a"] = b"two"
    store["b"] = b"three"
    # The spec is plain JSON (and pickles): a teammate opens it anywhere.
    shared = ts.KvStore.Spec(pickle.loads(pickle.dumps(pinned)).to_json())
    assert contents(ts.KvStore.open(shared).result()) == {b"a": b"one"}
    assert contents(tensorstore.KvStore.open(pinned.to_json()).result()) == {b"a": b"one"}
    # The pin names this database (its uuid): another one at the same place is refused.
    shutil.rmtree(tmp_path)
    ocdbt(tmp_path)["a"] = b"impostor"
    with pytest.raises(ValueError, match="Configuration mismatch on uuid"):
        ts.KvStore.open(pinned).result().read("a").result()
    store = ocdbt(tmp_path)
    # A commit time pins the generation it selects, not the time.
    latest = ts_ocdbt.list_versions(store).result()[-1]
    assert ts_ocdbt.pin_version(store, latest.commit_time_iso).result().to_json()["version"] == latest.generation_number


def test_pinned_array(tmp_path: Path) -> None:
    array_spec = {"driver": "zarr3", "kvstore": {"driver": "ocdbt", "base": f"file://{tmp_path}/", "path": "x/"}}
    array = ts.open(array_spec, create=True, dtype=ts.int16, shape=[4, 6], chunk_layout=ts.ChunkLayout(chunk_shape=[2, 3])).result()
    array[...] = np.arange(24, dtype=np.int16).reshape(4, 6)
    pinned = ts_ocdbt.pin_version(array.kvstore).result()
    array[1:3, 2:5] = -1
    frozen = ts.open({"driver": "zarr3", "kvstore": pinned.to_json()}, open=True).result()
    np.testing.assert_array_equal(frozen.read().result(), np.arange(24, dtype=np.int16).reshape(4, 6))
    assert pinned.to_json()["path"] == "x/"


# -- diff -------------------------------------------------------------------------------

def model_diff(old: dict[bytes, bytes], new: dict[bytes, bytes]) -> list[tuple[bytes, str]]:
    changes = [(key, "deleted") for key in old if key not in new]
    changes += [(key, "added") for key in new if key not in old]
    changes += [(key, "modified") for key in old if key in new and old[key] != new[key]]
    return sorted(changes)


def ts_history(path: Path, config: dict[str, Any] | None = None, commits: int = 10) -> list[dict[bytes, bytes]]:
    """wheel_history's commits written by ts."""
    store = ocdbt(path, **({"config": config} if config else {}))
    model: dict[bytes, bytes] = {}
    history: list[dict[bytes, bytes]] = [{}]  # as tensorstore, ts starts with an empty generation 1
    for number in range(commits):
        writes: dict[str, bytes | None] = {
            f"k{(number * 7 + index * 3) % 23:02d}": bytes([number]) * (4 + 30 * (index % 3))
            for index in range(6)}
        if number % 3 == 2:
            writes[sorted(model)[0].decode()] = None
        commit(store, ts, writes)
        for key, value in writes.items():
            if value is None:
                model.pop(key.encode(), None)
            else:
                model[key.encode()] = value
        history.append(dict(model))
    assert ts_ocdbt.list_versions(store).result()[-1].generation_number == len(history)
    return history


@pytest.mark.parametrize("writer", ["wheel", "ts"])
@pytest.mark.parametrize("config", [None, DEEP], ids=["default", "numbered-deep"])
def test_diff_matches_the_model(tmp_path: Path, config: dict[str, Any] | None, writer: str) -> None:
    history = (wheel_history if writer == "wheel" else ts_history)(tmp_path, config, commits=9)
    store = base(tmp_path)
    for old, new in [(1, 9), (2, 3), (4, 8), (8, 4), (5, 5), (3, 9)]:
        changes = ts_ocdbt.diff_versions(store, old, new).result()
        # Every commit here rewrites its values with new bytes, so "modified" is exact.
        assert [(c.key, c.kind) for c in changes] == model_diff(history[old - 1], history[new - 1])
        for change in changes:
            assert change.old_size == (len(history[old - 1][change.key]) if change.kind != "added" else None)
            assert change.new_size == (len(history[new - 1][change.key]) if change.kind != "deleted" else None)


def test_diff_within_a_path_and_by_commit_time(tmp_path: Path) -> None:
    history = wheel_history(tmp_path, commits=4)
    inner = ocdbt(tmp_path, path="k1")
    changes = ts_ocdbt.diff_versions(inner, 2, 5).result()
    expected = [(key[2:], kind) for key, kind in model_diff(history[1], history[4]) if key.startswith(b"k1")]
    assert [(c.key, c.kind) for c in changes] == expected
    listed = ts_ocdbt.list_versions(inner).result()
    by_time = ts_ocdbt.diff_versions(inner, listed[1].commit_time_iso, listed[4].commit_datetime).result()
    assert by_time == changes


@pytest.mark.parametrize("writer", ["wheel", "ts"])
def test_diff_skips_shared_subtrees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: str) -> None:
    library = tensorstore if writer == "wheel" else ts
    store = library.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/",
                                  "config": {"max_decoded_node_bytes": 256}}).result()
    commit(store, library, {f"key/{i:05d}": b"v%05d" % i for i in range(3000)})
    commit(store, library, {"key/01234": b"changed"})
    reads: list[Any] = []
    real = versions_module._Database.read_node

    def counting(self: Any, reference: Any) -> Any:
        reads.append(reference)
        return real(self, reference)

    monkeypatch.setattr(versions_module._Database, "read_node", counting)
    listed = ts_ocdbt.list_versions(base(tmp_path)).result()
    changes = ts_ocdbt.diff_versions(base(tmp_path), listed[-2], listed[-1]).result()
    assert [(c.key, c.kind) for c in changes] == [(b"key/01234", "modified")]
    height = listed[-1].root_height
    assert height >= 2  # a deep tree: thousands of keys in nodes of at most 256 bytes
    # Only the changed path, on both sides (plus at most a neighbour per level where the
    # bounds of a rewritten node moved), not the ~hundreds of nodes of each tree.
    assert len(reads) <= 4 * (height + 1), len(reads)


# -- garbage ----------------------------------------------------------------------------

def test_no_garbage_in_a_fresh_database(tmp_path: Path) -> None:
    wheel_history(tmp_path, DEEP, commits=6)
    assert ts_ocdbt.list_garbage(base(tmp_path)).result() == []
    assert ts_ocdbt.list_garbage(ocdbt(tmp_path)).result() == []


def test_garbage_of_a_rolled_back_manifest_is_listed_and_deleted(tmp_path: Path) -> None:
    history = wheel_history(tmp_path, commits=3)
    saved = tmp_path.parent / "saved-manifest"
    shutil.copy(tmp_path / "manifest.ocdbt", saved)
    files_before = {p.relative_to(tmp_path).as_posix() for p in (tmp_path / "d").iterdir()}
    store = wheel_store(tmp_path)
    commit(store, tensorstore, {"late": b"x" * 500, "k00": b"y" * 300})  # writes new data files
    shutil.copy(saved, tmp_path / "manifest.ocdbt")  # as if that commit had never landed
    (tmp_path / "notes.txt").write_text("not a data file")
    files_after = {p.relative_to(tmp_path).as_posix() for p in (tmp_path / "d").iterdir()}
    orphans = sorted(files_after - files_before)
    assert orphans
    assert ts_ocdbt.list_garbage(base(tmp_path)).result() == orphans
    # An explicit list deletes only what is still garbage.
    referenced = sorted(files_before)[0]
    assert ts_ocdbt.delete_garbage(base(tmp_path), [referenced, orphans[0]]).result() == [orphans[0]]
    assert ts_ocdbt.delete_garbage(base(tmp_path)).result() == orphans[1:]
    assert ts_ocdbt.list_garbage(base(tmp_path)).result() == []
    assert (tmp_path / "notes.txt").exists()
    assert (tmp_path / "manifest.ocdbt").exists()
    # Every version still reads, in ts and in the wheel.
    for generation, model in enumerate(history, start=1):
        assert contents(ocdbt(tmp_path, version=generation)) == model
        assert contents(tensorstore.KvStore.open(
            {"driver": "ocdbt", "base": f"file://{tmp_path}/", "version": generation}).result()) == model


def test_manifest_in_a_kvstore_of_its_own(tmp_path: Path) -> None:
    spec = {"driver": "ocdbt", "base": f"file://{tmp_path}/data/", "manifest": f"file://{tmp_path}/manifest/"}
    wheel = tensorstore.KvStore.open(spec).result()
    wheel["a"] = b"1"
    wheel["b"] = b"2" * 300
    store = ts.KvStore.open(spec).result()
    listed = ts_ocdbt.list_versions(store).result()
    assert [v.generation_number for v in listed] == [1, 2, 3]
    assert [(c.key, c.kind) for c in ts_ocdbt.diff_versions(store, 2, 3).result()] == [(b"b", "added")]
    assert ts_ocdbt.list_garbage(store).result() == []
    pinned = ts_ocdbt.pin_version(store, 2).result()
    assert contents(tensorstore.KvStore.open(pinned.to_json()).result()) == {b"a": b"1"}
