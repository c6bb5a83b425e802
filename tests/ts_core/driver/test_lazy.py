"""The lazy driver (from our users' handbook): no I/O until first use."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

import ts_core as ts


def test_nothing_happens_until_first_use(tmp_path: Path) -> None:
    spec = {"driver": "zarr", "kvstore": {"driver": "file", "path": f"{tmp_path}/"}}
    lazy = ts.lazy_driver(spec, create=True, dtype=ts.uint8, shape=[4])
    assert os.listdir(tmp_path) == []
    assert lazy.spec().to_json()["driver"] == "lazy"
    lazy[1:3].write([5, 6]).result()  # first use: creates the array
    assert ".zarray" in os.listdir(tmp_path)
    np.testing.assert_array_equal(lazy.read().result(), [0, 5, 6, 0])


def test_open_lazy_spec_and_resolve(tmp_path: Path) -> None:
    spec = {"driver": "zarr", "kvstore": {"driver": "file", "path": f"{tmp_path}/"}}
    ts.open(spec, create=True, dtype=ts.int16, shape=[3]).result()
    lazy = ts.open({"driver": "lazy", "base": spec}).result()
    assert lazy._driver.opened is False
    resolved = lazy.resolve().result()
    assert resolved._driver.opened is True
    assert resolved.shape == (3,)
    assert pickle.loads(pickle.dumps(resolved)).shape == (3,)


def test_errors_surface_at_first_use_and_bad_specs_at_once() -> None:
    lazy = ts.lazy_driver({"driver": "zarr", "kvstore": "memory://nothing/"})
    with pytest.raises(ValueError, match="cannot open"):
        lazy.read().result()
    with pytest.raises(ValueError, match=r"^metadata\.order"):
        ts.lazy_driver({"driver": "zarr", "kvstore": "memory://", "metadata": {"order": "Z"}})
