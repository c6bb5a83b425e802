"""A zarr array's dtype is known from its metadata: opening one (or asking its dtype) never
builds its chunk of fill values, which for a nonzero fill and large chunks costs tens of ms."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import ts_core as ts

SPECS: list[tuple[dict[str, Any], str, tuple[int, ...]]] = [
    ({"driver": "zarr3", "metadata": {"shape": [4096, 4096], "data_type": "float32", "fill_value": 1.5,
      "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2048, 2048]}}}}, "float32", ()),
    ({"driver": "zarr", "metadata": {"shape": [8], "chunks": [4], "fill_value": None,
      "dtype": [["a", "<i2"], ["b", "<f4", [3]]]}, "field": "b"}, "float32", (3,)),
    ({"driver": "zarr", "metadata": {"shape": [4096, 4096], "chunks": [2048, 2048], "dtype": "<u2",
      "fill_value": 7}}, "uint16", ()),
]


@pytest.mark.parametrize(("spec", "dtype", "inner"), SPECS, ids=["zarr3", "zarr-field", "zarr"])
def test_dtype_does_not_build_the_fill_chunk(spec: dict[str, Any], dtype: str, inner: tuple[int, ...]) -> None:
    store = ts.open({**spec, "kvstore": {"driver": "memory"}}, create=True).result()
    assert store.dtype == ts.dtype(dtype)
    assert np.dtype(store.dtype) == np.dtype(dtype)
    assert store._driver._fill_state._chunk is None  # asked for nothing but the dtype
    # Reading still gives the fill value in that dtype.
    first = store[(0,) * (store.rank - len(inner))].read().result()
    assert first.dtype == np.dtype(dtype)
    assert first.shape == inner
