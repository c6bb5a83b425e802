"""A pickled TensorStore carries exactly the JSON of ``store.spec()``, for any view."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

import ts_core as ts


def _views(root: Path) -> list[ts.TensorStore]:
    zarr3 = ts.open(f"file://{root}/a/|zarr3:", create=True, dtype="uint16", shape=[8, 12, 6]).result()
    zarr2 = ts.open(f"file://{root}/b/|zarr2:", create=True, dtype="float32", shape=[10, 20]).result()
    n5 = ts.open({"driver": "n5", "kvstore": "memory://c/"}, create=True, dtype="int16", shape=[10, 20],
                 chunk_layout=ts.ChunkLayout(chunk_shape=[5, 5])).result()
    return [
        zarr3, zarr3[:4, 3:11:2, ::-1], zarr3.T, zarr3[..., 5], zarr3[ts.d[0].translate_by[5]],
        zarr3[ts.d[:].label["x", "y", "z"]][ts.d["y"].transpose[0]],
        zarr2, zarr2[np.array([1, 3]), :], ts.cast(zarr2, "int32"), n5[2:4],
        ts.downsample(zarr3, [2, 2, 2], "mean"),
    ]


@pytest.mark.parametrize("index", range(11))
def test_the_pickle_holds_the_spec_json_and_reopens_the_same_view(index: int, tmp_path: Path) -> None:
    view = _views(tmp_path)[index]
    _reopen, arguments = view.__reduce__()
    assert arguments[0] == view.spec().to_json()
    reopened = pickle.loads(pickle.dumps(view))
    assert reopened.spec().to_json() == view.spec().to_json()
    assert reopened.domain == view.domain
