"""A view's schema, chunk layout, units and fill value are the base's seen through the view's
transform, as the tensorstore wheel reports them (differential against the wheel)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import tensorstore

import ts_core as ts

ZARR3 = {
    "driver": "zarr3",
    "kvstore": {"driver": "memory"},
    "metadata": {
        "shape": [100, 200, 300],
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [10, 20, 30]}},
        "data_type": "uint16",
        "dimension_names": ["a", "b", "c"],
        "fill_value": 7,
    },
    "schema": {"dimension_units": ["4nm", None, "2um"]},
}
ZARR2 = {
    "driver": "zarr",
    "kvstore": {"driver": "memory"},
    "metadata": {"shape": [40, 60], "chunks": [4, 6], "dtype": "<f4", "fill_value": 1.5},
}

VIEWS: dict[str, Callable[[Any, Any], Any]] = {
    "identity": lambda lib, s: s,
    "T": lambda lib, s: s.T,
    "slice, stride and integer": lambda lib, s: s[5:, ::2, 3] if s.rank == 3 else s[5:, ::2],
    "translate": lambda lib, s: s[lib.d[0].translate_by[3]],
    "negative stride and new axis": lambda lib, s: s[::-3, 4:9, lib.newaxis],
    "index array": lambda lib, s: s.oindex[[1, 2, 5]],
    "transpose by label": lambda lib, s: s[lib.d[-1, 0].transpose[0, 1]],
    "translate_to after T": lambda lib, s: s.T.translate_to[(1,) * s.rank],
    "cast of T": lambda lib, s: lib.cast(s.T, "int32"),
    "cast then view": lambda lib, s: lib.cast(s, "float64")[2:, ::-1],
}


@pytest.mark.parametrize("spec", [ZARR3, ZARR2], ids=["zarr3", "zarr"])
@pytest.mark.parametrize("view", sorted(VIEWS))
def test_view_schema_matches_the_wheel(spec: dict[str, Any], view: str) -> None:
    results = []
    for lib in (ts, tensorstore):
        store = VIEWS[view](lib, lib.open(spec, create=True).result())
        results.append((store.schema.to_json(), store.chunk_layout.to_json(),
                        [str(u) if u is not None else None for u in store.dimension_units],
                        store.domain.to_json()))
    assert results[0] == results[1]


def test_view_schema_domain_is_the_view_domain() -> None:
    store = ts.open(ZARR3, create=True).result()
    view = store[3:9][ts.d["c"].translate_by[-5]]
    assert view.schema.domain == view.domain
    assert store.schema.domain == store.domain
