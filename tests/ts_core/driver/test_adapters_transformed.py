"""Adapters over a base that carries a transform, against the tensorstore wheel.

Each case opens the same spec JSON in both libraries (an ``array`` base inline, or a
``zarr`` base in a memory kvstore for implicit bounds and writes seen through the base)
and compares domain, reads, writes-then-reads and the spec round trip. ``lazy`` has no
tensorstore equivalent, so it is compared with the wheel opening its base directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pytest
import tensorstore

import ts_core as ts

DATA = np.arange(48, dtype=np.int16).reshape(6, 8)
WHOLE = tensorstore.IndexTransform(input_shape=[6, 8])
LABELLED = tensorstore.IndexTransform(input_shape=[6, 8], input_labels=["y", "x"])
IMPLICIT = tensorstore.IndexTransform(input_shape=[6, 8], implicit_upper_bounds=[True, True])

#: base transforms (tensorstore-built, handed to both libraries as JSON)
TRANSFORMS = {
    "slice": WHOLE[2:5, 1:7],
    "strided": WHOLE[1:6:2, ::3],
    "transposed": WHOLE[1:5].T,
    "translated": WHOLE[2:5, 1:7].translate_by[10, -4],
    "labelled": LABELLED[2:5],
    "labelled_strided_translated": LABELLED[1:6:2, 2:8].translate_to[0, 0],
    "reversed": WHOLE[::-1, 2:6],
    "implicit": IMPLICIT[:, 2:5],
}

Opener = Callable[[dict[str, Any]], Any]


def _array_base(transform: tensorstore.IndexTransform) -> dict[str, Any]:
    return {"driver": "array", "array": DATA.tolist(), "dtype": "int16", "transform": transform.to_json()}


def _domain(store: Any) -> tuple[Any, ...]:
    domain = store.domain
    return (
        tuple(domain.inclusive_min),
        tuple(domain.exclusive_max),
        tuple(domain.labels),
        tuple(domain.implicit_lower_bounds),
        tuple(domain.implicit_upper_bounds),
    )


def _assert_same(ours: Any, theirs: Any) -> None:
    """Same domain, same data, and the same data in a sub-box one element in from the origin."""
    assert _domain(ours) == _domain(theirs)
    np.testing.assert_array_equal(ours.read().result(), theirs.read().result())
    inner = tuple(slice(lo + 1, None) for lo in theirs.domain.inclusive_min)
    np.testing.assert_array_equal(ours[inner].read().result(), theirs[inner].read().result())


class Zarr:
    """The same zarr array (``DATA``) in a memory kvstore of each library, one context each."""

    KVSTORE: ClassVar[dict[str, str]] = {"driver": "memory", "path": "base/"}

    def __init__(self) -> None:
        self.ts_context = ts.Context()
        self.tensorstore_context = tensorstore.Context()
        spec = {"driver": "zarr", "kvstore": self.KVSTORE}
        ts.open(spec, create=True, dtype=ts.int16, shape=[6, 8], context=self.ts_context).result().write(DATA).result()
        created = tensorstore.open(spec, create=True, dtype=tensorstore.int16, shape=[6, 8], context=self.tensorstore_context)
        created.result().write(DATA).result()

    def base(self, transform: tensorstore.IndexTransform) -> dict[str, Any]:
        return {"driver": "zarr", "kvstore": self.KVSTORE, "transform": transform.to_json()}

    def open_ts(self, spec: dict[str, Any]) -> Any:
        return ts.open(spec, context=self.ts_context).result()

    def open_tensorstore(self, spec: dict[str, Any]) -> Any:
        return tensorstore.open(spec, context=self.tensorstore_context).result()

    def stored(self) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """The whole stored array as each library sees it now."""
        spec = {"driver": "zarr", "kvstore": self.KVSTORE}
        return self.open_ts(spec).read().result(), self.open_tensorstore(spec).read().result()


def _both(base_kind: str, transform: tensorstore.IndexTransform) -> tuple[dict[str, Any], Opener, Opener, Zarr | None]:
    if base_kind == "array":
        return _array_base(transform), lambda s: ts.open(s).result(), lambda s: tensorstore.open(s).result(), None
    zarr = Zarr()
    return zarr.base(transform), zarr.open_ts, zarr.open_tensorstore, zarr


def _values(shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    return np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape) + 100.5


# -- the case from the report ------------------------------------------------------------------
def test_cast_keeps_the_base_transform_like_tensorstore() -> None:
    base = {"driver": "array", "array": list(range(10)), "dtype": "int32",
            "transform": {"input_inclusive_min": [2], "input_exclusive_max": [5]}}
    spec = {"driver": "cast", "dtype": "float32", "base": base}
    ours, theirs = ts.open(spec).result(), tensorstore.open(spec).result()
    assert (ours.domain.inclusive_min, ours.domain.exclusive_max) == ((2,), (5,))
    _assert_same(ours, theirs)
    np.testing.assert_array_equal(ours.read().result(), np.array([2, 3, 4], np.float32))
    reopened = ts.open(ours.spec().to_json()).result()
    _assert_same(reopened, theirs)


# -- cast ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("base_kind", ["array", "zarr"])
@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_cast(base_kind: str, name: str) -> None:
    base, open_ts, open_tensorstore, zarr = _both(base_kind, TRANSFORMS[name])
    spec = {"driver": "cast", "dtype": "float32", "base": base}
    ours, theirs = open_ts(spec), open_tensorstore(spec)
    _assert_same(ours, theirs)

    # writes convert back to int16 and land where the base transform maps them
    ours.write(_values(ours.shape)).result()
    theirs.write(_values(theirs.shape)).result()
    _assert_same(ours, theirs)
    if zarr is not None:
        ours_stored, theirs_stored = zarr.stored()
        np.testing.assert_array_equal(ours_stored, theirs_stored)

    # the spec keeps the transform at the top level, as the wheel's does, and reopens
    our_spec, their_spec = ours.spec().to_json(), theirs.spec().to_json()
    assert "transform" not in our_spec["base"]
    assert "transform" not in their_spec["base"]
    if zarr is not None:  # the wheel's array driver re-bases its data, so transforms differ there
        assert tensorstore.IndexTransform(json=our_spec["transform"]) == tensorstore.IndexTransform(
            json=their_spec["transform"]
        )
    _assert_same(open_ts(our_spec), theirs)
    if zarr is None:  # the wheel reads our spec the same way
        _assert_same(ours, tensorstore.open(our_spec).result())


def test_cast_spec_transform_composes_onto_the_base_transform() -> None:
    base = _array_base(TRANSFORMS["labelled_strided_translated"])
    spec = {"driver": "cast", "dtype": "int32", "base": base,
            "transform": {"input_inclusive_min": [1, 0], "input_exclusive_max": [3, 4], "input_labels": ["y", "x"]}}
    _assert_same(ts.open(spec).result(), tensorstore.open(spec).result())


def test_cast_of_a_transformed_view_and_astype() -> None:
    view = ts.array(DATA)[1:6:2, 2:8][ts.d[:].translate_to[0]]
    expected = tensorstore.cast(tensorstore.array(DATA)[1:6:2, 2:8][tensorstore.d[:].translate_to[0]], tensorstore.float64)
    _assert_same(ts.cast(view, ts.float64), expected)
    _assert_same(view.astype(ts.float64), expected)


# -- downsample ----------------------------------------------------------------------------------
DOWNSAMPLE_TRANSFORMS = sorted(set(TRANSFORMS) - {"implicit"})


@pytest.mark.parametrize("method", ["mean", "stride", "max"])
@pytest.mark.parametrize("name", DOWNSAMPLE_TRANSFORMS)
def test_downsample_over_array(method: str, name: str) -> None:
    spec = {"driver": "downsample", "downsample_factors": [2, 3], "downsample_method": method,
            "base": _array_base(TRANSFORMS[name])}
    ours, theirs = ts.open(spec).result(), tensorstore.open(spec).result()
    _assert_same(ours, theirs)
    our_spec, their_spec = ours.spec().to_json(), theirs.spec().to_json()
    assert "transform" in our_spec["base"]
    assert "transform" in their_spec["base"]
    _assert_same(ts.open(our_spec).result(), theirs)
    _assert_same(ours, tensorstore.open(our_spec).result())
    with pytest.raises(ValueError, match="read-only"):
        ours.write(0).result()


@pytest.mark.parametrize("name", ["implicit", "labelled_strided_translated", "transposed"])
def test_downsample_over_zarr_sees_writes_to_the_base(name: str) -> None:
    zarr = Zarr()
    base = zarr.base(TRANSFORMS[name])
    spec = {"driver": "downsample", "downsample_factors": [2, 2], "downsample_method": "mean", "base": base}
    ours, theirs = zarr.open_ts(spec), zarr.open_tensorstore(spec)
    _assert_same(ours, theirs)
    our_base, their_base = zarr.open_ts(base), zarr.open_tensorstore(base)
    our_base.write(_values(our_base.shape).astype(np.int16)).result()
    their_base.write(_values(their_base.shape).astype(np.int16)).result()
    _assert_same(ours, theirs)
    our_spec, their_spec = ours.spec().to_json(), theirs.spec().to_json()
    assert tensorstore.IndexTransform(json=our_spec["base"]["transform"]) == tensorstore.IndexTransform(
        json=their_spec["base"]["transform"]
    )
    _assert_same(zarr.open_ts(our_spec), theirs)


def test_downsample_of_a_transformed_view() -> None:
    view = ts.array(DATA)[1:6, 1:8:2][ts.d[:].label["a", "b"]]
    expected = tensorstore.downsample(tensorstore.array(DATA)[1:6, 1:8:2][tensorstore.d[:].label["a", "b"]], [2, 2], "mean")
    _assert_same(ts.downsample(view, [2, 2], "mean"), expected)


# -- array ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_array_with_a_transform(name: str) -> None:
    spec = _array_base(TRANSFORMS[name])
    ours, theirs = ts.open(spec).result(), tensorstore.open(spec).result()
    _assert_same(ours, theirs)
    ours.write(_values(ours.shape).astype(np.int16)).result()
    theirs.write(_values(theirs.shape).astype(np.int16)).result()
    _assert_same(ours, theirs)
    _assert_same(ts.open(ours.spec().to_json()).result(), theirs)
    _assert_same(ours, tensorstore.open(ours.spec().to_json()).result())


# -- lazy (a ts extension: compared with the wheel opening the base directly) ----------------------
@pytest.mark.parametrize("base_kind", ["array", "zarr"])
@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_lazy(base_kind: str, name: str) -> None:
    base, open_ts, open_tensorstore, zarr = _both(base_kind, TRANSFORMS[name])
    ours, theirs = open_ts({"driver": "lazy", "base": base}), open_tensorstore(base)
    assert ours._driver.opened is False
    unopened_spec = ours.spec().to_json()
    _assert_same(ours, theirs)
    assert ours._driver.opened is True

    ours.write(_values(ours.shape).astype(np.int16)).result()
    theirs.write(_values(theirs.shape).astype(np.int16)).result()
    _assert_same(ours, theirs)
    if zarr is not None:
        ours_stored, theirs_stored = zarr.stored()
        np.testing.assert_array_equal(ours_stored, theirs_stored)

    opened_spec = ours.spec().to_json()
    assert opened_spec["driver"] == "lazy"
    assert "transform" not in opened_spec["base"]  # the view's transform is at the top level
    _assert_same(open_ts(opened_spec), theirs)
    if zarr is not None:  # the unopened spec reopens the same base (inline arrays were copied)
        _assert_same(open_ts(unopened_spec), theirs)


def test_lazy_driver_of_a_transformed_spec() -> None:
    base = _array_base(TRANSFORMS["labelled_strided_translated"])
    _assert_same(ts.lazy_driver(base), tensorstore.open(base).result())


# -- open mode and errors through an adapter -----------------------------------------------------
def test_open_mode_reaches_the_base_like_tensorstore() -> None:
    base = {"driver": "zarr", "kvstore": {"driver": "memory", "path": "made/"},
            "metadata": {"shape": [4], "chunks": [4], "dtype": "<i2"}}
    spec = {"driver": "cast", "dtype": "float32", "base": base}
    ours, theirs = ts.open(spec, create=True).result(), tensorstore.open(spec, create=True).result()
    _assert_same(ours, theirs)


def test_bad_base_spec_names_the_member() -> None:
    bad = {"driver": "array", "array": [1, 2], "dtype": "int16", "transform": 3}
    with pytest.raises(ValueError, match=r"^base\.transform: "):
        ts.open({"driver": "cast", "dtype": "float32", "base": bad}).result()
    with pytest.raises(ValueError, match=r"^base\.transform: "):
        ts.open({"driver": "lazy", "base": bad}).result()
    with pytest.raises(ValueError, match=r"^base\.driver: "):
        ts.open({"driver": "downsample", "downsample_factors": [1], "downsample_method": "mean",
                 "base": {"driver": "no_such_driver"}}).result()
