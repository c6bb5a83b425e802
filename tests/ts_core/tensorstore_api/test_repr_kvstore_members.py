"""A TensorStore's repr spells out its kvstore's members (a file store's file_io_* resources),
through adapters too, and wraps nested members as tensorstore's repr does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorstore

import ts_core
from ts_core.schema._pretty import pretty_repr


def _reprs(tmp_path: Path, url_tail: str) -> list[str]:
    seen = []
    for name, ts in (("wheel", tensorstore), ("ts", ts_core)):
        where = tmp_path / name / "a.zarr"
        ts.open(f"file://{where}|zarr3", dtype="int32", shape=[5], create=True).result()
        store: Any = ts.open(f"file://{where}{url_tail}").result()
        seen.append(repr(store).replace(str(where), "WHERE"))
    return seen


@pytest.mark.parametrize("url_tail", ["|zarr3", "|cast:int64"])
def test_file_store_repr_matches_tensorstore(tmp_path: Path, url_tail: str) -> None:
    wheel, ours = _reprs(tmp_path, url_tail)
    assert ours == wheel
    assert "'file_io_sync': True" in ours


@pytest.mark.parametrize("depth", range(4))
@pytest.mark.parametrize("length", range(15, 75, 3))
def test_nested_members_wrap_as_tensorstore(depth: int, length: int) -> None:
    spec_json: dict[str, Any] = {"driver": "zarr", "kvstore": {"driver": "memory", "path": "p" * length}}
    for _ in range(depth):
        spec_json = {"driver": "cast", "dtype": "int32", "base": spec_json}
    spec = tensorstore.Spec(spec_json)
    assert pretty_repr("Spec(", spec.to_json()) == repr(spec)


@pytest.mark.parametrize("rows", [1, 7, 13, 26])
def test_array_reprs_wrap_as_tensorstore(rows: int) -> None:
    values = np.arange(rows * 4).reshape(rows, 4)
    assert repr(ts_core.array(values)).replace("ts_core", "tensorstore") == repr(tensorstore.array(values))
