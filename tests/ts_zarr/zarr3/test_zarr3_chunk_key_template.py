"""zarr3's chunk-key template (one ``str.format`` per key) against ``Zarr3Metadata.chunk_key``,
and the keys an array writes against the tensorstore wheel's."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import tensorstore

import ts_core as ts
from ts_zarr.zarr3._metadata import parse_metadata


def zarr_json(rank: int, encoding: dict[str, object], data_type: str = "uint8") -> dict[str, object]:
    return {
        "zarr_format": 3, "node_type": "array", "shape": [5] * rank, "data_type": data_type,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2] * rank}},
        "chunk_key_encoding": encoding, "fill_value": 0,
        "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
    }


ENCODINGS = [
    {"name": "default"},
    {"name": "default", "configuration": {"separator": "."}},
    {"name": "v2"},
    {"name": "v2", "configuration": {"separator": "/"}},
]


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("rank", [0, 1, 3])
def test_the_template_formats_every_key_as_chunk_key_does(encoding: dict[str, object], rank: int) -> None:
    metadata = parse_metadata(json.dumps(zarr_json(rank, encoding)).encode())
    template = metadata.chunk_key_template()
    for grid in itertools.product([0, 7, 12345], repeat=rank):
        assert template.format(*grid) == metadata.chunk_key(grid)
        assert template.format(*grid, 4, 9) == metadata.chunk_key(grid)  # inner dimensions ignored


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_an_array_stores_the_keys_the_wheel_stores(encoding: dict[str, object]) -> None:
    keys = []
    for module in (ts, tensorstore):
        spec = {"driver": "zarr3", "kvstore": {"driver": "memory"}, "metadata": zarr_json(2, encoding)}
        store = module.open(spec, create=True).result()
        store.write(np.arange(25, dtype=np.uint8).reshape(5, 5) + 1).result()
        kvstore = store.kvstore
        keys.append(sorted(k if isinstance(k, bytes) else k.encode() for k in kvstore.list().result()))
    assert keys[0] == keys[1]
