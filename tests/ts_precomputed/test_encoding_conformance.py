"""The driver conformance suite over precomputed volumes with the jpeg, png and
compressed_segmentation encodings.

As for ``raw`` (test_conformance.py), the suite's 1-D and 2-D arrays are views of a 4-D
volume with a non-zero ``voxel_offset`` (every read and write crosses the origin shift and
truncated edge chunks), moved to the origin, with the unused dimensions indexed away. Each
encoding runs the suite in a data type it can store; JPEG, lossy, within a tolerance.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

import ts_core as ts
from ts_core.testing.driver import DriverConformance

#: The volume's origin: the suite's index 0 is voxel (5, -3, 2).
VOXEL_OFFSET = [5, -3, 2]


def volume_view(store: Any, rank: int) -> Any:
    """The first ``rank`` dimensions of a 4-D volume, moved to the origin."""
    moved = store[ts.d[:].translate_to[0]]
    return moved[(slice(None),) * rank + (0,) * (4 - rank)]


class EncodingConformance(DriverConformance):
    """The suite over one encoding; subclasses name it, its members and a data type."""

    driver = "neuroglancer_precomputed"
    encoding: ClassVar[str] = ""
    #: Encoding members of the scale (block size, quality, level).
    scale_members: ClassVar[dict[str, Any]] = {}

    def create(self, kvstore: Any, shape: Any, chunks: Any, dtype: Any, fill_value: Any, context: Any) -> Any:
        # Precomputed has no fill value (missing chunks read as 0); only the default is meaningful.
        assert fill_value in (None, 0)
        rank = len(shape)
        store = ts.open(
            {
                "driver": "neuroglancer_precomputed",
                "kvstore": kvstore,
                "multiscale_metadata": {"data_type": np.dtype(dtype).name, "num_channels": 1, "type": "image"},
                "scale_metadata": {
                    "size": list(shape) + [1] * (3 - rank), "voxel_offset": VOXEL_OFFSET,
                    "chunk_size": list(chunks) + [1] * (3 - rank), "resolution": [4, 4, 40],
                    "encoding": self.encoding, **self.scale_members,
                },
            },
            create=True,
            context=context,
        ).result()
        return volume_view(store, rank)

    # The suite's fill-value tests use fill values precomputed cannot store; the same with 0:
    def test_new_array_reads_fill_value(self, kvstore: Any, context: Any) -> None:
        store = self._create(kvstore, context, (7, 9), (3, 4))
        np.testing.assert_array_equal(store.read().result(), np.zeros((7, 9), self.dtype))
        assert store.shape == (7, 9)
        assert store.dtype.name == self.dtype
        assert store.fill_value is None

    def test_fill_value_chunks_not_stored(self, kvstore: Any, context: Any) -> None:
        store = self._create(kvstore, context, (4, 4), (2, 2))
        store[0:2, 0:2].write(np.zeros((2, 2), self.dtype)).result()
        store[2:4, 2:4].write(np.ones((2, 2), self.dtype)).result()
        keys = [key for key in store.kvstore.list().result() if key != b"info"]
        # The chunk of voxels [7, 9) x [-1, 1) x [2, 3), under the scale key "4_4_40".
        assert keys == [b"4_4_40/7-9_-1-1_2-3"]

    def test_reopen_from_spec(self, kvstore: Any, context: Any) -> None:
        """The spec reopens the view; a minimal spec opens the whole 4-D volume."""
        store = self._create(kvstore, context, (6, 5), (4, 4))
        data = self._values(np.arange(30).reshape(6, 5))
        store.write(data).result()
        reopened = ts.open(store.spec(), open=True, context=self._context).result()
        self.assert_read_equal(reopened.read().result(), data)
        whole = ts.open({"driver": self.driver, "kvstore": kvstore}, open=True, context=self._context).result()
        assert whole.domain.labels == ("x", "y", "z", "channel")
        assert list(whole.domain.inclusive_min) == [*VOXEL_OFFSET, 0]
        self.assert_read_equal(whole.read().result()[:, :, 0, 0], data)
        assert whole.spec().to_json()["scale_metadata"]["encoding"] == self.encoding

    def test_delete_existing(self, kvstore: Any, context: Any) -> None:
        store = self._create(kvstore, context, (4,), (2,))
        store.write(self._values(np.arange(4))).result()
        spec = store.spec().to_json()
        spec.pop("transform", None)
        fresh = ts.open(spec, create=True, delete_existing=True, context=self._context).result()
        assert fresh.shape == (4, 1, 1, 1)
        np.testing.assert_array_equal(fresh.read().result(), np.zeros((4, 1, 1, 1), self.dtype))


class TestJpegConformance(EncodingConformance):
    encoding = "jpeg"
    dtype = "uint8"
    # At quality 100 libjpeg's rounding moves a value by at most one level (measured: the
    # suite fails exactly with tolerance 0), even at the sharp edges of the suite's ramps
    # and after a partial write re-encodes a chunk; 2 leaves a margin for other libjpegs.
    scale_members: ClassVar[dict[str, Any]] = {"jpeg_quality": 100}
    tolerance = 2


class TestPngConformance(EncodingConformance):
    encoding = "png"


class TestPngUint8Conformance(EncodingConformance):
    encoding = "png"
    dtype = "uint8"
    scale_members: ClassVar[dict[str, Any]] = {"png_level": 1}


class TestCompressedSegmentationConformance(EncodingConformance):
    encoding = "compressed_segmentation"
    dtype = "uint32"
    scale_members: ClassVar[dict[str, Any]] = {"compressed_segmentation_block_size": [2, 3, 1]}


class TestCompressedSegmentationUint64Conformance(EncodingConformance):
    encoding = "compressed_segmentation"
    dtype = "uint64"
