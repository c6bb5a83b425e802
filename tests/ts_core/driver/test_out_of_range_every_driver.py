"""Every driver refuses a read or write that reaches outside its domain with a ValueError.

NumPy would otherwise wrap a negative position, or an index array past the end, into a
silently wrong element; tensorstore raises ``ValueError`` (OUT_OF_RANGE) in each case.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import tensorstore

import ts_core


def _array(ts: Any) -> Any:
    return ts.array(np.arange(10, dtype=np.int32))


def _cast(ts: Any) -> Any:
    return ts.cast(ts.array(np.arange(10, dtype=np.int32)), ts.float32)


def _downsample(ts: Any) -> Any:
    return ts.downsample(ts.array(np.arange(20, dtype=np.int32)), [2], "mean")


def _stack(ts: Any) -> Any:
    return ts.concat([ts.array(np.arange(5, dtype=np.int32)), ts.array(np.arange(5, dtype=np.int32))], axis=0)


def _zarr3(ts: Any) -> Any:
    spec = {"driver": "zarr3", "kvstore": "memory://"}
    return ts.open(spec, create=True, dtype=ts.int32, shape=[10]).result()


def _virtual(ts: Any) -> Any:
    def fill(domain: Any, array: np.ndarray[Any, Any], params: Any) -> None:
        array[...] = 1

    return ts.virtual_chunked(fill, dtype=ts.int32, shape=[10])


STORES: dict[str, Callable[[Any], Any]] = {
    "array": _array,
    "cast": _cast,
    "downsample": _downsample,
    "stack": _stack,
    "zarr3": _zarr3,
    "virtual_chunked": _virtual,
}

#: index terms reaching past the end, before the start, and through a translated view
INDICES: dict[str, Callable[[Any, Any], Any]] = {
    "array past end": lambda ts, s: s[[0, 19]],
    "array before start": lambda ts, s: s[ts.d[0].translate_by[5]][[0, 9]],
    "vindex past end": lambda ts, s: s.vindex[[3, 10]],
}


@pytest.mark.parametrize("index", sorted(INDICES))
@pytest.mark.parametrize("driver", sorted(STORES))
def test_out_of_range_read_is_a_value_error_in_both_libraries(driver: str, index: str) -> None:
    for ts in (tensorstore, ts_core):
        view = INDICES[index](ts, STORES[driver](ts))
        with pytest.raises(ValueError, match=r"OUT_OF_RANGE|out of bounds|outside"):
            view.read().result()


@pytest.mark.parametrize("driver", ["array", "zarr3", "stack"])
def test_out_of_range_write_changes_nothing(driver: str) -> None:
    store = STORES[driver](ts_core)
    before = store.read().result()
    with pytest.raises(ValueError, match=r"out of bounds|outside"):
        store[[0, 19]].write(np.array([7, 7], dtype=np.int32)).result()
    np.testing.assert_array_equal(store.read().result(), before)


def test_image_driver_refuses_index_arrays_past_the_image() -> None:
    image = ts_core.open({"driver": "png", "kvstore": "memory://x.png"}, create=True, shape=[4, 4, 1]).result()
    image[...] = np.ones((4, 4, 1), np.uint8)
    assert image[[0, 3]].read().result().shape == (2, 4, 1)
    with pytest.raises(ValueError, match="out of bounds"):
        image[[0, 9]].read().result()
    with pytest.raises(ValueError, match="out of bounds"):
        image[:, [0, 7]].read().result()
