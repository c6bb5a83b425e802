"""``ts.Spec(...).to_json()`` and ``spec(minimal_spec=True)`` of precomputed specs, as the
tensorstore wheel writes them (differential), and the normalized spec still opens."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import tensorstore

import ts_core as ts

BASE = {"driver": "neuroglancer_precomputed", "kvstore": {"driver": "memory"}}
SHARDING = {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 0, "hash": "identity",
            "minishard_bits": 0, "shard_bits": 0, "minishard_index_encoding": "raw",
            "data_encoding": "gzip"}
CASES: list[dict[str, Any]] = [
    {"multiscale_metadata": {"data_type": "uint8", "num_channels": 1, "type": "image"},
     "scale_metadata": {"size": [10, 20, 30], "resolution": [1, 1, 1], "encoding": "raw",
                        "chunk_size": [5, 5, 5]}},
    {"multiscale_metadata": {"type": "segmentation"},
     "scale_metadata": {"encoding": "compressed_segmentation",
                        "compressed_segmentation_block_size": [8, 8, 8], "sharding": SHARDING}},
    {"scale_metadata": {"resolution": [4, 4, 40], "jpeg_quality": 80, "encoding": "jpeg"}},
    {"scale_index": 1},
    {"multiscale_metadata": {"data_type": "float32"}, "dtype": "float32"},
    {"scale_metadata": {"sharding": None, "size": [1, 2, 3]}},
    {"scale_metadata": {"size": [4, 5, 6], "voxel_offset": [-1, 2, 3], "key": "s0"}},
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_spec_to_json_matches_the_wheel(case: int) -> None:
    spec = {**BASE, **CASES[case]}
    assert ts.Spec(spec).to_json() == tensorstore.Spec(spec).to_json()


def test_voxel_offset_needs_size() -> None:
    spec = {**BASE, "scale_metadata": {"voxel_offset": [1, 2, 3]}}
    with pytest.raises(ValueError, match=r"scale_metadata\.voxel_offset.*size"):
        ts.Spec(spec)
    with pytest.raises(ValueError, match="size"):
        tensorstore.Spec(spec)


def test_minimal_spec_leaves_the_metadata_out_and_the_normalized_spec_reopens(tmp_path: Any) -> None:
    spec = {**BASE, **CASES[0]}
    spec["kvstore"] = {"driver": "file", "path": str(tmp_path / "a")}
    ours = ts.open(spec, create=True).result()
    theirs = tensorstore.open({**spec, "kvstore": {"driver": "file", "path": str(tmp_path / "b")}},
                              create=True).result()
    minimal = ours.spec(minimal_spec=True).to_json()
    wheel = theirs.spec(minimal_spec=True).to_json()
    assert {**minimal, "kvstore": None} == {**wheel, "kvstore": None}
    assert "scale_metadata" not in ours.spec(minimal_spec=True).to_json()
    ours[1:3, 2:4, 0:2] = np.full((2, 2, 2, 1), 9, np.uint8)
    # The normalized spec (data_type moved to dtype) creates an equal array elsewhere.
    normalized = ts.Spec({**spec, "kvstore": {"driver": "file", "path": str(tmp_path / "c")}})
    created = ts.open(normalized, create=True).result()
    assert created.dtype == ours.dtype
    assert created.domain == ours.domain
    reopened = ts.open(ours.spec(minimal_spec=True)).result()
    np.testing.assert_array_equal(reopened[1:3, 2:4, 0:2].read().result(), 9)
