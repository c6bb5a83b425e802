"""The downsample view: every method against the tensorstore wheel, on sub-views too."""

from __future__ import annotations

import numpy as np
import pytest
import tensorstore

import ts_core as ts

BASE = np.random.default_rng(1).integers(0, 9, size=(7, 9)).astype(np.float32)
VIEWS = [(slice(None),), (slice(1, None),), (slice(2, 6), slice(1, 8)), (slice(3, 4), slice(5, 6))]
# Selections on the downsampled view. Reversed (negative-stride) selections are left out of
# the comparison: the tensorstore wheel returns uninitialised values for them, while ts
# returns the downsampled data reversed (checked separately below).
SELECTIONS = [(slice(None),), (1,), (slice(1, None), slice(1, 2))]


@pytest.mark.parametrize("method", ["stride", "mean", "min", "max", "median", "mode"])
@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("selection", SELECTIONS)
def test_matches_tensorstore(method: str, view: tuple[slice, ...], selection: tuple[object, ...]) -> None:
    try:
        expected = tensorstore.downsample(tensorstore.array(BASE)[view], [2, 3], method)[selection].read().result()
    except (ValueError, IndexError):
        with pytest.raises((ValueError, IndexError)):
            ts.downsample(ts.array(BASE)[view], [2, 3], method)[selection].read().result()
        return
    ours = ts.downsample(ts.array(BASE)[view], [2, 3], method)[selection]
    np.testing.assert_array_equal(ours.read().result(), expected)


def test_reversed_selection_is_the_reversed_downsample() -> None:
    view = ts.downsample(ts.array(BASE), [2, 3], "mean")
    np.testing.assert_array_equal(view[:, ::-1].read().result(), view.read().result()[:, ::-1])


def test_integer_mean_median_mode_match_tensorstore() -> None:
    ints = (np.arange(30) % 7).astype(np.uint8).reshape(5, 6)
    for method in ("mean", "median", "mode"):
        expected = tensorstore.downsample(tensorstore.array(ints), [2, 4], method).read().result()
        np.testing.assert_array_equal(ts.downsample(ts.array(ints), [2, 4], method).read().result(), expected)


def test_add_method_sums_blocks() -> None:
    result = ts.downsample(ts.array(np.ones((4, 5), np.float32)), [2, 2], "add").read().result()
    np.testing.assert_array_equal(result, [[4, 4, 2], [4, 4, 2]])


def test_read_only_and_bad_arguments() -> None:
    view = ts.downsample(ts.array(BASE), [2, 3], "mean")
    assert not view.writable
    with pytest.raises(ValueError, match="without write access"):
        view.write(0)
    with pytest.raises(ValueError, match="downsample_method"):
        ts.downsample(ts.array(BASE), [2, 3], "average")
    with pytest.raises(ValueError, match="downsample_factors: has 1 entries but the base has rank 2"):
        ts.downsample(ts.array(BASE), [2], "mean")


def test_downsample_zarr_and_reopen_from_spec() -> None:
    store = ts.open({"driver": "zarr", "kvstore": "memory://"}, create=True, dtype=ts.uint16, shape=[8, 8]).result()
    store.write(np.arange(64, dtype=np.uint16).reshape(8, 8)).result()
    view = ts.downsample(store, [4, 4], "max")
    np.testing.assert_array_equal(view.read().result(), [[27, 31], [59, 63]])
    assert view.spec().to_json()["driver"] == "downsample"
