"""The ``array`` driver over arrays with an empty dimension, as the tensorstore wheel."""

from __future__ import annotations

import numpy as np
import pytest
import tensorstore as tsw

import ts_core as ts


@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0, 4)])
def test_empty_arrays_read_and_write_as_the_wheel(shape: tuple[int, ...]) -> None:
    data = np.zeros(shape, dtype=np.int16)
    store, wheel = ts.array(data), tsw.array(data)
    got, expected = store.read().result(), wheel.read().result()
    assert got.shape == expected.shape == shape
    assert got.dtype == expected.dtype
    store.write(np.ones(shape, dtype=np.int16)).result()  # writes nothing, and does not fail
    assert store.read().result().shape == shape
    assert store.domain.shape == wheel.domain.shape
