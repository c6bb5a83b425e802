"""OCDBT databases written by the tensorstore wheel are read by ts, and the reverse, at every
version.

Each case builds a history of commits with one library, remembering the keys and values of
every generation; the other library then opens every generation read-only (the spec's
``"version"`` member) and must list exactly those keys with exactly those values. Cases
cover the default configuration, the numbered manifest with a version tree several levels
deep, deep B+trees from a small ``max_decoded_node_bytes``, out-of-line values, deletes and
delete ranges, and a sharded zarr3 array stored inside the database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorstore

import ts_core as ts
import ts_ocdbt

#: generation number -> the database's keys and values at that generation.
History = dict[int, dict[bytes, bytes]]

CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "numbered-deep": {"manifest_kind": "numbered", "version_tree_arity_log2": 1,
                      "max_decoded_node_bytes": 160, "max_inline_value_bytes": 8},
    "single-deep-uncompressed": {"manifest_kind": "single", "version_tree_arity_log2": 2,
                                 "max_decoded_node_bytes": 256, "compression": None},
}


def ocdbt_spec(path: Path, config: dict[str, Any] | None = None, version: Any = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"driver": "ocdbt", "base": f"file://{path}/"}
    if config:
        spec["config"] = config
    if version is not None:
        spec["version"] = version
    return spec


def value_for(commit: int, index: int) -> bytes:
    """Small values stay inline, every third one is long enough to be stored out of line."""
    size = 3 + (index % 5) if index % 3 else 150 + 37 * index
    return (b"%d:%d/" % (commit, index) * size)[:size]


def write_history(library: Any, path: Path, config: dict[str, Any], commits: int = 12) -> History:
    """``commits`` atomic transactions of puts, overwrites, deletes and a delete range."""
    store = library.KvStore.open(ocdbt_spec(path, config)).result()
    model: dict[bytes, bytes] = {}
    history: History = {}
    for commit in range(commits):
        transaction = library.Transaction(atomic=True)
        view = store.with_transaction(transaction)
        for index in range(commit % 4 * 7 + 5):
            key = b"k%03d/%02d" % ((commit * 5 + index) % 31, index)
            value = value_for(commit, index)
            view[key.decode()] = value
            model[key] = value
        if commit % 4 == 3:
            victim = sorted(model)[len(model) // 2]
            view.delete_range(library.KvStore.KeyRange(victim.decode(), victim.decode() + "\x00")).result()
            del model[victim]
        transaction.commit_sync()
        if commit == 7:
            prefix_range = library.KvStore.KeyRange("k010", "k013")
            store.delete_range(prefix_range).result()
            model = {key: value for key, value in model.items() if not b"k010" <= key < b"k013"}
        history[latest_generation(path)] = dict(model)
    return history


def latest_generation(path: Path) -> int:
    manifest = tensorstore.ocdbt.dump(tensorstore.KvStore.open(f"file://{path}/").result()).result()
    return int(manifest["versions"][-1]["generation_number"])


def contents(library: Any, spec: dict[str, Any]) -> dict[bytes, bytes]:
    store = library.KvStore.open(spec).result()
    return {bytes(key): bytes(store.read(key).result().value) for key in store.list().result()}


@pytest.mark.parametrize("config_name", list(CONFIGS))
def test_wheel_writes_ts_reads_every_version(tmp_path: Path, config_name: str) -> None:
    history = write_history(tensorstore, tmp_path, CONFIGS[config_name])
    assert contents(ts, ocdbt_spec(tmp_path)) == history[max(history)]
    for generation, expected in history.items():
        assert contents(ts, ocdbt_spec(tmp_path, version=generation)) == expected, generation
    listed = ts_ocdbt.list_versions(ts.KvStore.open(f"file://{tmp_path}/").result()).result()
    wheel = tensorstore.ocdbt.dump(tensorstore.KvStore.open(f"file://{tmp_path}/").result()).result()
    wheel_versions = {v["generation_number"]: v["commit_time"] for v in wheel["versions"]}
    assert {v.generation_number for v in listed} == set(range(1, max(history) + 1))
    for version in listed:  # the wheel's dump lists only the newest ones inline
        if version.generation_number in wheel_versions:
            assert version.commit_time == wheel_versions[version.generation_number]


@pytest.mark.parametrize("config_name", list(CONFIGS))
def test_ts_writes_wheel_reads_every_version(tmp_path: Path, config_name: str) -> None:
    history = write_history(ts, tmp_path, CONFIGS[config_name])
    assert contents(tensorstore, ocdbt_spec(tmp_path)) == history[max(history)]
    for generation, expected in history.items():
        assert contents(tensorstore, ocdbt_spec(tmp_path, version=generation)) == expected, generation


def test_wheel_reads_ts_earlier_version_by_url_and_commit_time(tmp_path: Path) -> None:
    history = write_history(ts, tmp_path, {}, commits=4)
    versions = ts_ocdbt.list_versions(ts.KvStore.open(f"file://{tmp_path}/").result()).result()
    second = versions[2]
    url = f"file://{tmp_path}/|ocdbt:@v{second.generation_number}/"
    wheel = tensorstore.KvStore.open(url).result()
    assert {bytes(k) for k in wheel.list().result()} == set(history[second.generation_number])
    by_time = contents(tensorstore, ocdbt_spec(tmp_path, version=second.commit_time_iso))
    assert by_time == history[second.generation_number]


ZARR3_SHARDED = {
    "zarr_format": 3, "node_type": "array", "shape": [40, 36], "data_type": "uint16",
    "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [20, 18]}},
    "chunk_key_encoding": {"name": "default"}, "fill_value": 7,
    "codecs": [{"name": "sharding_indexed", "configuration": {
        "chunk_shape": [10, 6],
        "codecs": [{"name": "bytes", "configuration": {"endian": "little"}},
                   {"name": "zstd", "configuration": {"level": 1, "checksum": False}}],
        "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}]}}],
}


def zarr3_spec(path: Path, version: Any = None) -> dict[str, Any]:
    return {"driver": "zarr3", "kvstore": {**ocdbt_spec(path, version=version), "path": "array/"}}


@pytest.mark.parametrize(("writer", "reader"), [(tensorstore, ts), (ts, tensorstore)],
                         ids=["wheel-writes", "ts-writes"])
def test_sharded_zarr3_inside_ocdbt(tmp_path: Path, writer: Any, reader: Any) -> None:
    array = writer.open({**zarr3_spec(tmp_path), "metadata": ZARR3_SHARDED}, create=True).result()
    first = (np.arange(40 * 36, dtype=np.uint16) * 13 % 1000).reshape(40, 36)
    array[...] = first
    after_first = latest_generation(tmp_path)
    array[5:25, 3:30] = 999
    second = first.copy()
    second[5:25, 3:30] = 999
    np.testing.assert_array_equal(reader.open(zarr3_spec(tmp_path), open=True).result().read().result(), second)
    earlier = reader.open(zarr3_spec(tmp_path, version=after_first), open=True).result()
    np.testing.assert_array_equal(earlier.read().result(), first)
