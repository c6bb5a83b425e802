"""zarr v2 arrays opened from hostile metadata or specs never touch files outside their root."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ts_core as ts
from ts_core.testing.safety import files_below, sandbox


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return sandbox(tmp_path)


def zarray(**changes: Any) -> dict[str, Any]:
    return {
        "zarr_format": 2, "shape": [4, 4], "chunks": [2, 2], "dtype": "<u2", "compressor": None,
        "fill_value": 0, "order": "C", "filters": None, **changes,
    }


@pytest.mark.parametrize("separator", ["/../../outside/", "..", "/", "\0", "./"])
def test_hostile_dimension_separator_is_refused_at_open(root: Path, separator: str) -> None:
    if separator == "/":  # the valid one, for contrast: keys stay below the root
        (root / ".zarray").write_text(json.dumps(zarray(dimension_separator=separator)))
        store = ts.open({"driver": "zarr", "kvstore": {"driver": "file", "path": f"{root}/"}}).result()
        store.write(np.ones((4, 4), np.uint16)).result()
        assert sorted(files_below(root)) == [".zarray", "0/0", "0/1", "1/0", "1/1"]
        return
    before = files_below(root.parent)
    (root / ".zarray").write_text(json.dumps(zarray(dimension_separator=separator)))
    with pytest.raises(ValueError, match="dimension_separator"):
        ts.open({"driver": "zarr", "kvstore": {"driver": "file", "path": f"{root}/"}}).result()
    with pytest.raises(ValueError, match="dimension_separator"):
        ts.open(
            {"driver": "zarr", "kvstore": {"driver": "file", "path": f"{root}/new/"},
             "metadata": zarray(dimension_separator=separator)},
            create=True,
        ).result()
    assert files_below(root.parent) == {**before, "root/.zarray": (root / ".zarray").read_bytes()}


@pytest.mark.parametrize("path", ["../outside/", "a/../../outside", "/..", "./"])
def test_spec_path_leading_out_is_refused(root: Path, path: str) -> None:
    before = files_below(root.parent)
    with pytest.raises(ValueError, match="Invalid kvstore path"):
        ts.open(
            {"driver": "zarr", "kvstore": {"driver": "file", "path": f"{root}/"}, "path": path,
             "metadata": zarray()},
            create=True,
        ).result()
    assert files_below(root.parent) == before


def test_hostile_key_encoding_spec_member_is_refused(root: Path) -> None:
    before = files_below(root.parent)
    with pytest.raises(ValueError, match="key_encoding"):
        ts.open(
            {"driver": "zarr", "key_encoding": "/../", "kvstore": {"driver": "file", "path": f"{root}/"},
             "metadata": zarray()},
            create=True,
        ).result()
    assert files_below(root.parent) == before
