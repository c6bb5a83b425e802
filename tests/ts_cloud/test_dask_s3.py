"""A LocalCluster of two worker processes writes one zarr3 array to SeaweedFS S3 through
ts_core.dask, aligned and unaligned, and it reads back equal to NumPy."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import pytest
from cloud_servers import s3_spec, unique_prefix

import ts_core as ts

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from ts_core.dask import UnalignedChunksWarning, chunks_for, store_dask, to_dask  # noqa: E402


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as dask_client:
        yield dask_client


def _open(endpoint: str, name: str) -> ts.TensorStore:
    return ts.open({"driver": "zarr3", "kvstore": s3_spec(endpoint, unique_prefix(name))}, create=True,
                   shape=[48, 40], dtype="uint16", chunk_layout=ts.ChunkLayout(write_chunk_shape=[16, 16])).result()


def test_a_cluster_writes_one_array_to_s3(client: distributed.Client, s3_endpoint: str) -> None:
    store = _open(s3_endpoint, "dask-aligned")
    x = da.random.default_rng(3).integers(0, 60000, size=(48, 40), chunks=chunks_for(store, 1024), dtype=np.uint16)
    expected = x.compute()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnalignedChunksWarning)
        store_dask(x, store)
    np.testing.assert_array_equal(store.read().result(), expected)
    np.testing.assert_array_equal(to_dask(store).compute(), expected)  # read by the workers


def test_unaligned_writes_to_s3_from_many_workers_lose_nothing(client: distributed.Client, s3_endpoint: str) -> None:
    store = _open(s3_endpoint, "dask-unaligned")
    source = np.arange(48 * 40, dtype=np.uint16).reshape(48, 40)
    with pytest.warns(UnalignedChunksWarning):
        store_dask(da.from_array(source, chunks=(5, 6)), store)  # conditional writes retry on conflict
    np.testing.assert_array_equal(store.read().result(), source)
