"""zarr v2 ``field``: ``""`` means no field, and a structured dtype with a single field
selects it without naming it, as in tensorstore (its zarr documentation relies on both)."""

from __future__ import annotations

from typing import Any

import numpy as np
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


@pytest.mark.parametrize("in_transaction", [False, True], ids=["direct", "transaction"])
@pytest.mark.parametrize("library", [ts_core, tensorstore], ids=["ts", "tensorstore"])
def test_whole_chunk_write_of_one_field_keeps_the_other_fields(
    tmp_path: Any, library: Any, in_transaction: bool
) -> None:
    """Writing every element of a chunk through one field's view changes only that field:
    the chunk's other fields keep their stored values (a whole-chunk overwrite would put
    the fill value there)."""
    spec: dict[str, Any] = {
        "driver": "zarr",
        "kvstore": {"driver": "file", "path": str(tmp_path)},
        "metadata": {"shape": [8], "chunks": [4], "dtype": [["a", "<u2"], ["b", "<i4"]], "compressor": None},
    }
    library.open({**spec, "field": "a"}, create=True).result()
    for field, offset, dtype in (("a", 0, np.uint16), ("b", 100, np.int32)):
        library.open({**spec, "field": field}).result()[...] = (np.arange(8) + offset).astype(dtype)
    a = library.open({**spec, "field": "a"}).result()
    if in_transaction:
        with library.Transaction() as transaction:
            a.with_transaction(transaction)[0:4] = np.full(4, 7, np.uint16)
            a.with_transaction(transaction)[4:8] = np.full(4, 9, np.uint16)
    else:
        a[0:4] = np.full(4, 7, np.uint16)
        a[4:8] = np.full(4, 9, np.uint16)
    for reader in (ts_core, tensorstore):
        assert reader.open({**spec, "field": "a"}).result().read().result().tolist() == [7] * 4 + [9] * 4
        assert reader.open({**spec, "field": "b"}).result().read().result().tolist() == list(range(100, 108))
