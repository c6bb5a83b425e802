"""Dask over TensorStores: dask.array used directly, the aligned-chunk helpers of
ts_core.dask, and a LocalCluster of worker processes writing one array on the file kvstore."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import ts_core as ts

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from ts_core.dask import UnalignedChunksWarning, chunks_for, is_aligned, store_dask, to_dask  # noqa: E402


def _zarr3(path: Path | None, shape: list[int], chunks: list[int], dtype: str = "int32") -> ts.TensorStore:
    kvstore = "memory://" if path is None else {"driver": "file", "path": f"{path}/"}
    return ts.open({"driver": "zarr3", "kvstore": kvstore}, create=True, shape=shape, dtype=dtype,
                   chunk_layout=ts.ChunkLayout(write_chunk_shape=chunks)).result()


def test_dask_array_works_on_a_tensorstore_directly() -> None:
    store = _zarr3(None, [8, 6], [4, 3])
    assert np.dtype(store.dtype) == np.int32
    source = np.arange(48, dtype=np.int32).reshape(8, 6)
    da.store(da.from_array(source, chunks=(4, 3)), store, lock=False)
    x = da.from_array(store, chunks=(4, 3))
    assert x.dtype == np.int32
    np.testing.assert_array_equal(x.compute(), source)
    np.testing.assert_array_equal((x.astype("float64") / 2)[1:7, ::2].compute(), source[1:7, ::2] / 2)
    np.testing.assert_array_equal(x[[5, 1]].compute(), source[[5, 1]])


def test_chunks_follow_the_write_chunks_of_the_view() -> None:
    store = _zarr3(None, [10, 9], [4, 3])
    assert chunks_for(store, target_bytes=1) == ((4, 4, 2), (3, 3, 3))  # never below one chunk
    assert chunks_for(store, target_bytes=200) == ((8, 2), (6, 3))  # 8*6*4 = 192 bytes <= 200
    assert chunks_for(store, target_bytes="1MiB") == ((10,), (9,))
    assert chunks_for(store[1:, 2:], target_bytes=1) == ((3, 4, 2), (1, 3, 3))  # starts mid-chunk
    assert chunks_for(store[::-1], target_bytes=1) == ((2, 4, 4), (3, 3, 3))
    assert chunks_for(store.T, target_bytes=1) == ((3, 3, 3), (4, 4, 2))
    assert chunks_for(store[:, ::2], target_bytes=1) == ((4, 4, 2), (2, 1, 2))  # columns 0 2 | 4 | 6 8
    assert chunks_for(store[3], target_bytes=1) == ((3, 3, 3),)
    assert chunks_for(store[[1, 5, 2]], target_bytes=1) == ((3,), (9,))  # an index array: one block
    assert is_aligned((4, 3), store)
    assert is_aligned(((8, 2), (3, 6)), store)
    assert not is_aligned((5, 3), store)
    assert not is_aligned((4, 2), store[1:, 2:])


def test_to_dask_reads_any_view_from_zero() -> None:
    store = _zarr3(None, [10, 9], [4, 3])
    source = np.arange(90, dtype=np.int32).reshape(10, 9)
    store[...] = source
    x = to_dask(store[2:, 1:])  # a domain starting at (2, 1): Dask still counts from 0
    assert x.shape == (8, 8)
    np.testing.assert_array_equal(x.compute(), source[2:, 1:])
    np.testing.assert_array_equal(to_dask(store[::-1, ::2], chunks=(3, 2)).compute(), source[::-1, ::2])


def test_store_dask_warns_only_when_blocks_split_chunks() -> None:
    store = _zarr3(None, [10, 9], [4, 3])
    source = np.arange(90, dtype=np.int32).reshape(10, 9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store_dask(da.from_array(source, chunks=chunks_for(store, 200)), store)
    np.testing.assert_array_equal(store.read().result(), source)
    with pytest.warns(UnalignedChunksWarning, match=r"split write chunks of shape \(4, 3\)"):
        store_dask(da.from_array(source * 2, chunks=(5, 5)), store)
    np.testing.assert_array_equal(store.read().result(), source * 2)
    with warnings.catch_warnings():  # a view from (2, 1): chunk boundaries at view positions 2, 6 and 2, 5
        warnings.simplefilter("error")
        store_dask(da.from_array(source[2:, 1:].astype(np.int16), chunks=((2, 4, 2), (2, 3, 3))), store[2:, 1:])
    expected = source * 2
    expected[2:, 1:] = source[2:, 1:]
    np.testing.assert_array_equal(store.read().result(), expected)


def test_store_dask_refuses_a_lossy_cast_or_another_shape() -> None:
    store = _zarr3(None, [4], [2])
    with pytest.raises(TypeError, match="cannot cast the Dask array's float64 to the store's int32"):
        store_dask(da.ones(4, chunks=2), store)
    with pytest.raises(ValueError, match=r"shape \(5,\) differs from the store's \(4,\)"):
        store_dask(da.ones(5, chunks=2, dtype=np.int32), store)


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as dask_client:
        yield dask_client


def test_a_cluster_of_processes_writes_one_array(client: distributed.Client, tmp_path: Path) -> None:
    store = _zarr3(tmp_path, [64, 48], [16, 16])
    x = da.random.default_rng(7).integers(0, 1000, size=(64, 48), chunks=chunks_for(store, 4096), dtype=np.int32)
    expected = x.compute()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnalignedChunksWarning)
        store_dask(x, store)
    np.testing.assert_array_equal(store.read().result(), expected)
    np.testing.assert_array_equal(to_dask(store, chunks=(16, 48)).sum(axis=0).compute(), expected.sum(axis=0))
    assert len(client.scheduler_info()["workers"]) == 2


def test_unaligned_writes_from_many_workers_lose_nothing(client: distributed.Client, tmp_path: Path) -> None:
    store = _zarr3(tmp_path, [60, 60], [16, 16])
    source = np.arange(3600, dtype=np.int32).reshape(60, 60)
    x = da.from_array(source, chunks=(5, 7))  # most chunks are shared by several blocks
    with pytest.warns(UnalignedChunksWarning):
        store_dask(x, store)
    np.testing.assert_array_equal(store.read().result(), source)
