"""Property test: random shapes, chunkings, dtypes and index expressions against a NumPy model."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ts_core as ts

DTYPES = ["uint8", "int16", "uint32", "int64", "float32", "float64", "complex64", "bool"]


@st.composite
def array_case(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...], str, str]:
    rank = draw(st.integers(1, 3))
    shape = tuple(draw(st.integers(1, 9)) for _ in range(rank))
    chunks = tuple(draw(st.integers(1, n + 2)) for n in shape)
    return shape, chunks, draw(st.sampled_from(DTYPES)), draw(st.sampled_from(["C", "F"]))


@st.composite
def index_for(draw: st.DrawFn, shape: tuple[int, ...]) -> tuple[Any, ...]:
    """An index mixing integers and slices with explicit bounds."""
    index: list[Any] = []
    for size in shape:
        if draw(st.booleans()):
            index.append(draw(st.integers(0, size - 1)))
        else:
            low = draw(st.integers(0, size - 1))
            high = draw(st.integers(low, size - 1))
            step = draw(st.sampled_from([1, 2, -1]))
            # tensorstore reads an explicit stop of -1 literally (no wrap-around), so it
            # is how a negative-step slice reaches index 0; NumPy needs None there.
            index.append(slice(low, high + 1, step) if step > 0 else slice(high, low - 1, step))
    return tuple(index)


def numpy_index(index: tuple[Any, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for item in index:
        if isinstance(item, slice) and item.step < 0 and item.stop == -1:
            out.append(slice(item.start, None, item.step))
        else:
            out.append(item)
    return tuple(out)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=array_case(), data=st.data())
def test_writes_and_reads_match_numpy(case: tuple[tuple[int, ...], tuple[int, ...], str, str], data: st.DataObject) -> None:
    shape, chunks, dtype, order = case
    store = ts.open(
        {"driver": "zarr", "kvstore": "memory://", "metadata": {"chunks": list(chunks), "order": order}},
        create=True, dtype=dtype, shape=list(shape), context=ts.Context(),
    ).result()
    model = np.zeros(shape, dtype=dtype)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    for _ in range(3):
        index = data.draw(index_for(shape))
        target_shape = model[numpy_index(index)].shape
        values = (rng.integers(0, 100, size=target_shape)).astype(dtype)
        model[numpy_index(index)] = values
        store[index].write(values).result()
        read_index = data.draw(index_for(shape))
        np.testing.assert_array_equal(store[read_index].read().result(), model[numpy_index(read_index)])
    np.testing.assert_array_equal(store.read().result(), model)
