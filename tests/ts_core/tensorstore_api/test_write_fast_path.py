"""``TensorStore.write`` of an array of the stored type and of the view's shape skips the
conversion and broadcast: differential tests against the general path (a source that is not
a plain ``np.ndarray`` of that type takes it) and the wheel, for the stored bytes, the chunks
touched and the errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorstore

import ts_core as ts


class _Subclass(np.ndarray):  # type: ignore[type-arg]
    """An ndarray subclass: the general path's conversion (``type(source) is not ndarray``)."""


def _open(path: Path, cached: bool = False) -> Any:
    spec = {
        "driver": "zarr3",
        "kvstore": {"driver": "file", "path": str(path) + "/"},
        "metadata": {
            "shape": [20, 16, 12],
            "data_type": "uint16",
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [8, 8, 4]}},
            "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "zstd"}],
        },
    }
    limit = 1 << 24 if cached else 0
    return ts.open(spec, create=True, context=ts.Context({"cache_pool": {"total_bytes_limit": limit}})).result()


def _stored(path: Path) -> dict[str, bytes]:
    files = {}
    for directory, _, names in os.walk(path):
        for name in names:
            full = Path(directory) / name
            files[str(full.relative_to(path))] = full.read_bytes()
    return files


BOXES = [
    (slice(0, 8), slice(0, 8), slice(0, 4)),  # a whole chunk
    (slice(9, 13), slice(2, 5), slice(5, 7)),  # inside one chunk
    (slice(16, 20), slice(8, 16), slice(8, 12)),  # a whole chunk at the array's edge
    (slice(3, 17), slice(5, 11), slice(1, 10)),  # many chunks, partly
    (slice(2, 3), slice(4, 5), slice(3, 4)),  # one element
]


def _sources(box: tuple[slice, ...], round_: int) -> tuple[np.ndarray[Any, Any], Any]:
    shape = tuple(s.stop - s.start for s in box)
    values = (np.arange(int(np.prod(shape))) * 7 + round_ * 1000 + 1).astype(np.uint16).reshape(shape)
    return values, values.copy().view(_Subclass)


@pytest.mark.parametrize("cached", [False, True])
def test_fast_path_stores_the_same_bytes_in_the_same_chunks(tmp_path: Path, cached: bool) -> None:
    fast, general = _open(tmp_path / "fast", cached), _open(tmp_path / "general", cached)
    for round_ in range(2):  # the second round rewrites existing chunks (read-modify-write)
        futures = []
        for box in BOXES:
            plain, subclass = _sources(box, round_)
            futures.append(fast[box].write(plain))
            futures.append(general[box].write(subclass))
        for future in futures:
            future.result()
        assert _stored(tmp_path / "fast") == _stored(tmp_path / "general")
        np.testing.assert_array_equal(fast.read().result(), general.read().result())


def test_writes_of_one_chunk_land_in_issue_order(tmp_path: Path) -> None:
    store = _open(tmp_path / "a")
    box = (slice(1, 5), slice(1, 5), slice(0, 3))
    futures = [store[box].write(np.full((4, 4, 3), value, np.uint16)) for value in range(1, 30)]
    for future in futures:
        future.result()
    np.testing.assert_array_equal(store[box].read().result(), np.full((4, 4, 3), 29, np.uint16))


def test_the_callers_array_stays_its_own(tmp_path: Path) -> None:
    """The array written is neither made read-only nor kept: changing it afterwards changes
    neither the stored nor the cached chunk."""
    store = _open(tmp_path / "a", cached=True)
    whole = (slice(0, 8), slice(0, 8), slice(0, 4))
    for box in (whole, (slice(1, 3), slice(1, 3), slice(1, 3))):
        shape = tuple(s.stop - s.start for s in box)
        values = np.full(shape, 5, np.uint16)
        store[box].write(values).result()
        assert values.flags.writeable
        values[...] = 9
        np.testing.assert_array_equal(store[box].read().result(), np.full(shape, 5, np.uint16))
    reopened = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": str(tmp_path / "a") + "/"}}).result()
    np.testing.assert_array_equal(reopened[whole].read().result()[1:3, 1:3, 1:3], 5)


def test_errors_match_the_general_path_and_the_wheel(tmp_path: Path) -> None:
    store = _open(tmp_path / "a")
    wheel = tensorstore.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": str(tmp_path / "a") + "/"}}).result()
    # Out of bounds (an implicit upper bound allows the view): the dimension is named.
    for library in (store, wheel):
        view = library[18:24]
        with pytest.raises(ValueError, match=r"OUT_OF_RANGE.*for dimension 0"):
            view.write(np.zeros((6, 16, 12), np.uint16)).result()
    # An unsafe conversion fails in both libraries, with the same error.
    box = (slice(0, 2), slice(0, 2), slice(0, 2))
    for library in (store, wheel):
        with pytest.raises(TypeError, match=r"float64.*uint16.*safe"):
            library[box].write(np.zeros((2, 2, 2), np.float64)).result()
    # A shape that only broadcasts, and one that does not fit, take the general path.
    store[box].write(np.arange(2, dtype=np.uint16)).result()
    np.testing.assert_array_equal(store[box].read().result(), np.broadcast_to(np.arange(2), (2, 2, 2)))
    with pytest.raises(ValueError, match="cannot broadcast"):
        store[box].write(np.zeros((3, 2, 2), np.uint16))
