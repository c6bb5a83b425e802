"""A file kvstore with a relative path opens arrays (as tensorstore's tutorial does) even
though such a path has no ``file://`` URL form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ts_core as ts


def test_relative_file_path_creates_and_reopens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = {"driver": "n5", "kvstore": {"driver": "file", "path": "tmp/dataset/"}}
    store = ts.open(spec, create=True, dtype=ts.uint8, shape=[4]).result()
    store[...] = np.arange(4, dtype=np.uint8)
    assert (tmp_path / "tmp" / "dataset" / "attributes.json").exists()
    assert ts.open(spec).result().read().result().tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="tmp/dataset/"):
        ts.open(spec, create=True, dtype=ts.uint8, shape=[4]).result()
