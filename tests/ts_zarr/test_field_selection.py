"""zarr v2 ``field``: ``""`` means no field, and a structured dtype with a single field
selects it without naming it, as in tensorstore (its zarr documentation relies on both)."""

from __future__ import annotations

from typing import Any

import pytest
import tensorstore

import ts_core

CASES = [
    (None, [["a", "<u2"]]),
    ("", [["a", "<u2"]]),
    ("", "<u2"),
    (None, [["a", "<u2"], ["b", "<u1"]]),
    ("", [["a", "<u2"], ["b", "<u1"]]),
    ("b", [["a", "<u2"], ["b", "<u1"]]),
]


def _open(ts: Any, field: str | None, dtype: Any) -> tuple[str, Any]:
    spec: dict[str, Any] = {
        "driver": "zarr",
        "kvstore": "memory://",
        "metadata": {"dtype": dtype, "shape": [3], "chunks": [3]},
    }
    if field is not None:
        spec["field"] = field
    try:
        store = ts.open(spec, create=True).result()
    except ValueError as exc:
        return ("error", "field" in str(exc))
    return (store.dtype.name, store.spec().to_json().get("field"))


@pytest.mark.parametrize(("field", "dtype"), CASES, ids=[f"{f!r}-{d}" for f, d in CASES])
def test_field_selection_matches_tensorstore(field: str | None, dtype: Any) -> None:
    assert _open(ts_core, field, dtype) == _open(tensorstore, field, dtype)


@pytest.mark.parametrize("order", ["C", "F"])
def test_subarray_field_inner_order_matches_tensorstore(order: str) -> None:
    layouts = []
    for ts in (tensorstore, ts_core):
        metadata = {"dtype": [["x", "<u2", [2, 3]]], "shape": [4, 5, 6], "chunks": [2, 5, 6], "order": order}
        store: Any = ts.open({"driver": "zarr", "kvstore": "memory://", "metadata": metadata}, create=True).result()
        layouts.append(store.chunk_layout.to_json()["inner_order"])
    assert layouts[0] == layouts[1]
