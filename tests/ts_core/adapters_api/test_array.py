"""``ts.array(array, dtype, *, context, copy, write)``: referencing vs copying the source
and the store's write access, compared with the tensorstore wheel."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import ts_core

tensorstore = pytest.importorskip("tensorstore")

LIBRARIES = pytest.mark.parametrize("ts", [ts_core, tensorstore], ids=["ts_core", "tensorstore"])


def _read_only(values: list[int]) -> np.ndarray:
    array = np.array(values, dtype=np.int32)
    array.setflags(write=False)
    return array


@LIBRARIES
def test_a_numpy_array_is_referenced_by_default(ts: Any) -> None:
    source = np.zeros(4, dtype=np.int32)
    store = ts.array(source)
    assert store.writable
    store[0] = 5
    ts.array(source[::2])[1] = 9  # a strided view is referenced too
    np.testing.assert_array_equal(source, [5, 0, 9, 0])


@LIBRARIES
def test_copy_true_or_a_dtype_conversion_copies(ts: Any) -> None:
    source = np.zeros(3, dtype=np.int32)
    ts.array(source, copy=True)[0] = 5
    ts.array(source, dtype=ts.int64)[1] = 7
    np.testing.assert_array_equal(source, [0, 0, 0])


@LIBRARIES
def test_copy_false_refuses_to_copy(ts: Any) -> None:
    with pytest.raises(ValueError, match="copy"):
        ts.array([1, 2, 3], copy=False)
    with pytest.raises(ValueError, match="copy"):
        ts.array(np.zeros(3, dtype=np.int32), dtype=ts.int64, copy=False)


@LIBRARIES
def test_write_access(ts: Any) -> None:
    read_only = ts.array(np.zeros(3, dtype=np.int32), write=False)
    assert (read_only.readable, read_only.writable) == (True, False)
    with pytest.raises(ValueError, match="does not support writing"):
        read_only[0] = 1
    assert not ts.array(_read_only([1, 2])).writable
    source = _read_only([1, 2])
    writable = ts.array(source, write=True)  # a copy of the read-only source
    writable[0] = 3
    np.testing.assert_array_equal(writable.read().result(), [3, 2])
    np.testing.assert_array_equal(source, [1, 2])


@LIBRARIES
def test_array_keyword_names_the_source(ts: Any) -> None:
    store = ts.array(array=[1.5, 2.5], dtype=ts.float32)
    assert store.dtype == ts.float32
    np.testing.assert_array_equal(store.read().result(), [1.5, 2.5])
