"""Arrays of different formats, each behind its own kvstore adapter, in one transaction on
one ocdbt database: every chunk is encoded by the adapter it was staged through (a
precomputed volume's encoding, a zarr3 array's shard index format) and the whole commit is
one version; read back by ts and by the tensorstore wheel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ts_core as ts
from ts_core.errors import TransactionConflictError

PRECOMPUTED_SHARDING = {
    "@type": "neuroglancer_uint64_sharded_v1", "hash": "identity", "preshift_bits": 1, "minishard_bits": 1,
    "shard_bits": 1, "minishard_index_encoding": "gzip", "data_encoding": "gzip",
}


def ocdbt(tmp_path: Path, path: str) -> dict[str, Any]:
    return {"driver": "ocdbt", "base": f"file://{tmp_path}/", "path": path}


def precomputed_spec(tmp_path: Path, sharding: Any) -> dict[str, Any]:
    # 40 is not a multiple of 16: the upper chunks are stored truncated (edge chunks).
    return {
        "driver": "neuroglancer_precomputed", "kvstore": ocdbt(tmp_path, "pre/"),
        "multiscale_metadata": {"data_type": "uint16", "num_channels": 1, "type": "image"},
        "scale_metadata": {"size": [40, 40, 16], "chunk_size": [16, 16, 16], "encoding": "png", "sharding": sharding},
    }


def zarr3_spec(tmp_path: Path, path: str, sharding: dict[str, Any]) -> dict[str, Any]:
    return {
        "driver": "zarr3", "kvstore": ocdbt(tmp_path, path),
        "metadata": {
            "shape": [32, 32], "data_type": "uint16",
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [16, 16]}},
            "codecs": [{"name": "sharding_indexed", "configuration": {"chunk_shape": [8, 8], **sharding}}],
        },
    }


def opened_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` without its creation metadata (open what is stored)."""
    return {"driver": spec["driver"], "kvstore": spec["kvstore"]}


def version_count(tmp_path: Path) -> int:
    import ts_ocdbt

    return len(ts_ocdbt.list_versions(ts.KvStore.open({"driver": "ocdbt", "base": f"file://{tmp_path}/"}).result()).result())


def values(shape: tuple[int, ...], seed: int) -> np.ndarray[Any, Any]:
    return np.random.default_rng(seed).integers(1, 60000, size=shape, dtype=np.uint16)


def check_both_libraries(spec: dict[str, Any], expected: np.ndarray[Any, Any]) -> None:
    import tensorstore

    np.testing.assert_array_equal(ts.open(opened_spec(spec)).result().read().result(), expected)
    np.testing.assert_array_equal(tensorstore.open(opened_spec(spec)).result().read().result(), expected)


@pytest.mark.parametrize("atomic", [True, False], ids=["atomic", "not-atomic"])
@pytest.mark.parametrize("sharding", [None, PRECOMPUTED_SHARDING], ids=["unsharded", "sharded"])
@pytest.mark.parametrize("zarr3_first", [False, True], ids=["precomputed-first", "zarr3-first"])
def test_precomputed_and_sharded_zarr3_in_one_transaction(tmp_path: Path, sharding: Any, zarr3_first: bool, atomic: bool) -> None:
    pre_spec = precomputed_spec(tmp_path, sharding)
    z_spec = zarr3_spec(tmp_path, "z/", {})
    pre = ts.open(pre_spec, create=True).result()
    z = ts.open(z_spec, create=True).result()
    pre_values, z_values = values((40, 40, 16, 1), 1), values((32, 32), 2)
    before = version_count(tmp_path)
    with ts.Transaction(atomic=atomic) as txn:
        if zarr3_first:
            z.with_transaction(txn)[:] = z_values
            pre.with_transaction(txn)[:] = pre_values
        else:
            pre.with_transaction(txn)[:] = pre_values
            z.with_transaction(txn)[:] = z_values
    assert version_count(tmp_path) == before + 1  # both arrays' chunks: one version
    check_both_libraries(pre_spec, pre_values)
    check_both_libraries(z_spec, z_values)


def test_partial_writes_of_both_formats_keep_what_was_stored(tmp_path: Path) -> None:
    pre_spec = precomputed_spec(tmp_path, PRECOMPUTED_SHARDING)
    z_spec = zarr3_spec(tmp_path, "z/", {})
    pre = ts.open(pre_spec, create=True).result()
    z = ts.open(z_spec, create=True).result()
    pre_values, z_values = values((40, 40, 16, 1), 3), values((32, 32), 4)
    pre[:] = pre_values
    z[:] = z_values
    with ts.Transaction(atomic=True) as txn:
        pre.with_transaction(txn)[30:40, 5:9, 3:4] = 9
        z.with_transaction(txn)[3:5, 20:31] = 8
    pre_values[30:40, 5:9, 3:4] = 9
    z_values[3:5, 20:31] = 8
    check_both_libraries(pre_spec, pre_values)
    check_both_libraries(z_spec, z_values)


INDEX_FORMATS = [
    {},  # the default: index at the end, bytes + crc32c
    {"index_location": "start", "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}]},
]


@pytest.mark.parametrize("reverse", [False, True], ids=["default-first", "start-first"])
def test_two_zarr3_arrays_with_different_shard_index_formats_in_one_transaction(tmp_path: Path, reverse: bool) -> None:
    specs = [zarr3_spec(tmp_path, f"z{i}/", sharding) for i, sharding in enumerate(INDEX_FORMATS)]
    arrays = [ts.open(spec, create=True).result() for spec in specs]
    expected = [values((32, 32), 10 + i) for i in range(len(arrays))]
    order = list(range(len(arrays)))[::-1] if reverse else list(range(len(arrays)))
    before = version_count(tmp_path)
    with ts.Transaction(atomic=True) as txn:
        for i in order:
            arrays[i].with_transaction(txn)[:] = expected[i]
    assert version_count(tmp_path) == before + 1
    for spec, array_values in zip(specs, expected, strict=True):
        check_both_libraries(spec, array_values)


def test_two_opens_of_one_sharded_array_write_one_shard_together(tmp_path: Path) -> None:
    # Separate contexts: two adapter stores lowered onto the same shard keys of one database.
    spec = zarr3_spec(tmp_path, "z/", {})
    first = ts.open(spec, create=True, context=ts.Context()).result()
    second = ts.open(opened_spec(spec), context=ts.Context()).result()
    expected = values((32, 32), 5)
    first[:] = expected
    with ts.Transaction(atomic=True) as txn:
        first.with_transaction(txn)[0:8, 0:8] = 1  # inner chunks of one shard, two stores
        second.with_transaction(txn)[8:16, 0:8] = 2
    expected[0:8, 0:8] = 1
    expected[8:16, 0:8] = 2
    check_both_libraries(spec, expected)


def test_a_changed_inner_chunk_fails_the_whole_mixed_commit(tmp_path: Path) -> None:
    pre_spec = precomputed_spec(tmp_path, None)
    z_spec = zarr3_spec(tmp_path, "z/", {})
    pre = ts.open(pre_spec, create=True).result()
    z = ts.open(z_spec, create=True).result()
    pre_values, z_values = values((40, 40, 16, 1), 6), values((32, 32), 7)
    pre[:] = pre_values
    z[:] = z_values
    txn = ts.Transaction(atomic=True)
    staged = z.with_transaction(txn)
    staged[0:8, 0:8] = staged[0:8, 0:8].read().result() + 1  # reads, then writes, one inner chunk
    pre.with_transaction(txn)[:] = 3
    z[0:8, 0:8] = 0  # another writer changes that inner chunk meanwhile
    z_values[0:8, 0:8] = 0
    with pytest.raises(TransactionConflictError, match="changed"):
        txn.commit_sync()
    check_both_libraries(pre_spec, pre_values)  # nothing of the transaction was written
    check_both_libraries(z_spec, z_values)
