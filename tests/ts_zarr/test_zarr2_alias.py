"""``"zarr2"`` is tensorstore's other name for the zarr v2 driver: specs normalise it to ``"zarr"``."""

from __future__ import annotations

import numpy as np
import pytest
import tensorstore

import ts_core


@pytest.mark.parametrize("ts", [tensorstore, ts_core], ids=["tensorstore", "ts"])
def test_zarr2_alias_names_the_zarr_driver(ts: object) -> None:
    spec = ts.Spec({"driver": "zarr2", "kvstore": "memory://"})  # type: ignore[attr-defined]
    assert spec.to_json() == {"driver": "zarr", "kvstore": {"driver": "memory"}}
    store = ts.open(  # type: ignore[attr-defined]
        {"driver": "zarr2", "kvstore": "memory://"}, create=True, dtype=ts.uint8, shape=[3]  # type: ignore[attr-defined]
    ).result()
    store[...] = np.array([1, 2, 3], np.uint8)
    assert store.spec().to_json()["driver"] == "zarr"
    assert store.read().result().tolist() == [1, 2, 3]


def test_an_unknown_driver_still_names_the_member() -> None:
    with pytest.raises(ValueError, match="driver"):
        ts_core.Spec({"driver": "zarr4", "kvstore": "memory://"})
