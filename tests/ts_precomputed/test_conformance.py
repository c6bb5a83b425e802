"""The driver conformance suite over precomputed volumes with the ``raw`` encoding.

A precomputed volume is always 4-D (``x, y, z, channel``) and starts at its
``voxel_offset``; the suite's 1-D and 2-D arrays are views of a volume with a non-zero
``voxel_offset`` (so every read and write crosses the origin shift and truncated edge
chunks), moved to the origin, with the unused dimensions indexed away.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import ts_core as ts
from ts_core.testing.driver import DriverConformance

#: The volume's origin: the suite's index 0 is voxel (5, -3, 2).
VOXEL_OFFSET = [5, -3, 2]


def volume_view(store: Any, rank: int) -> Any:
    """The first ``rank`` dimensions of a 4-D volume, moved to the origin."""
    moved = store[ts.d[:].translate_to[0]]
    return moved[(slice(None),) * rank + (0,) * (4 - rank)]


class TestPrecomputedRawConformance(DriverConformance):
    driver = "neuroglancer_precomputed"

    def create(self, kvstore: Any, shape: Any, chunks: Any, dtype: Any, fill_value: Any, context: Any) -> Any:
        # Precomputed has no fill value (missing chunks read as 0); only the default is meaningful.
        assert fill_value in (None, 0)
        rank = len(shape)
        size = list(shape) + [1] * (3 - rank)
        chunk_size = list(chunks) + [1] * (3 - rank)
        store = ts.open(
            {
                "driver": "neuroglancer_precomputed",
                "kvstore": kvstore,
                "multiscale_metadata": {"data_type": np.dtype(dtype).name, "num_channels": 1, "type": "image"},
                "scale_metadata": {
                    "size": size, "voxel_offset": VOXEL_OFFSET, "chunk_size": chunk_size,
                    "resolution": [4, 4, 40], "encoding": "raw",
                },
            },
            create=True,
            context=context,
        ).result()
        return volume_view(store, rank)

    # The suite's fill-value tests use fill values precomputed cannot store; the same with 0:
    def test_new_array_reads_fill_value(self, kvstore: Any, context: Any) -> None:
        store = self._create(kvstore, context, (7, 9), (3, 4), "uint16")
        np.testing.assert_array_equal(store.read().result(), np.zeros((7, 9), np.uint16))
        assert store.shape == (7, 9)
        assert store.dtype.name == "uint16"
        assert store.fill_value is None

    def test_fill_value_chunks_not_stored(self, kvstore: Any, context: Any) -> None:
        store = self._create(kvstore, context, (4, 4), (2, 2))
        store[0:2, 0:2].write(np.zeros((2, 2), np.uint16)).result()
        store[2:4, 2:4].write(np.ones((2, 2), np.uint16)).result()
        keys = [key for key in store.kvstore.list().result() if key != b"info"]
        # The chunk of voxels [7, 9) x [-1, 1) x [2, 3), under the scale key "4_4_40".
        assert keys == [b"4_4_40/7-9_-1-1_2-3"]

    def test_reopen_from_spec(self, kvstore: Any, context: Any) -> None:
        """The spec reopens the view; a minimal spec opens the whole 4-D volume."""
        store = self._create(kvstore, context, (6, 5), (4, 4))
        data = np.arange(30, dtype=np.uint16).reshape(6, 5)
        store.write(data).result()
        reopened = ts.open(store.spec(), open=True, context=self._context).result()
        np.testing.assert_array_equal(reopened.read().result(), data)
        whole = ts.open({"driver": self.driver, "kvstore": kvstore}, open=True, context=self._context).result()
        assert whole.domain.labels == ("x", "y", "z", "channel")
        assert list(whole.domain.inclusive_min) == [*VOXEL_OFFSET, 0]
        np.testing.assert_array_equal(whole.read().result()[:, :, 0, 0], data)

    def test_delete_existing(self, kvstore: Any, context: Any) -> None:
        store = self._create(kvstore, context, (4,), (2,))
        store.write(np.arange(4, dtype=np.uint16)).result()
        spec = store.spec().to_json()
        spec.pop("transform", None)
        fresh = ts.open(spec, create=True, delete_existing=True, context=self._context).result()
        assert fresh.shape == (4, 1, 1, 1)
        np.testing.assert_array_equal(fresh.read().result(), np.zeros((4, 1, 1, 1), np.uint16))
