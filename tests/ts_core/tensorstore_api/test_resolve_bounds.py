"""``resolve`` reports the bounds a resize made, through the view's transform, as tensorstore."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import tensorstore

import ts_core

VIEWS: dict[str, Callable[[Any, Any], Any]] = {
    "whole": lambda ts, s: s,
    "translated and sliced": lambda ts, s: s[ts.d[0].translate_by[5]][:, 3:],
    "explicit slice": lambda ts, s: s[2:50],
    "reversed": lambda ts, s: s[ts.d[0].translate_by[5]][::-1],
    "transposed": lambda ts, s: s.T,
    "labelled": lambda ts, s: s[ts.d[:].label["x", "y"]],
    "index array": lambda ts, s: s[[1, 2]],
}


def _domains(ts: Any, view_name: str) -> list[str]:
    store = ts.open({"driver": "zarr3", "kvstore": "memory://"}, create=True, dtype=ts.uint8, shape=[100, 200]).result()
    view = VIEWS[view_name](ts, store)
    seen = [str(view.resolve().result().domain)]
    store.resize(exclusive_max=[200, 300]).result()
    seen.append(str(view.resolve().result().domain))
    store.resize(exclusive_max=[50, 60], shrink_only=True).result()
    seen.append(str(view.resolve().result().domain))
    return seen


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_resolve_after_resize_matches_tensorstore(view: str) -> None:
    assert _domains(ts_core, view) == _domains(tensorstore, view)
