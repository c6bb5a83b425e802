"""zarr3 codec chains: property-based round trips, defaults and the shard format."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ts_zarr.zarr3._pipeline import parse_codec_chain
from ts_zarr.zarr3._sharding import MISSING
from ts_zarr.zarr3.codec_api import ChunkSpec

BYTES_TO_BYTES = [
    [],
    [{"name": "gzip", "configuration": {"level": 1}}],
    [{"name": "zstd", "configuration": {"level": 1}}],
    ["blosc"],
    ["crc32c"],
    [{"name": "zstd", "configuration": {"level": 3, "checksum": True}}, "crc32c"],
]
DTYPES = ["bool", "int8", "uint16", "int32", "float32", "float64", "complex64", "uint64"]


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    dtype=st.sampled_from(DTYPES),
    tail=st.sampled_from(BYTES_TO_BYTES),
    endian=st.sampled_from(["little", "big"]),
    transpose=st.booleans(),
)
def test_chain_round_trips(data: st.DataObject, dtype: str, tail: list[Any], endian: str, transpose: bool) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=5))
    array = data.draw(hnp.arrays(np.dtype(dtype), shape))
    codecs: list[Any] = [{"name": "transpose", "configuration": {"order": list(reversed(range(len(shape))))}}] if transpose else []
    codecs += [{"name": "bytes", "configuration": {"endian": endian}}, *tail]
    chain = parse_codec_chain(codecs, "codecs", ChunkSpec(shape, np.dtype(dtype), (), np.zeros((), dtype)))
    decoded = chain.decode(chain.encode(array))
    np.testing.assert_array_equal(np.ascontiguousarray(decoded).view(np.uint8), np.ascontiguousarray(array).view(np.uint8))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), location=st.sampled_from(["start", "end"]), nested=st.booleans())
def test_sharding_round_trips_and_omits_fill_chunks(data: st.DataObject, location: str, nested: bool) -> None:
    shape = (4, 6)
    array = data.draw(hnp.arrays(np.dtype("uint16"), shape, elements=st.sampled_from([0, 0, 0, 1, 500])))
    inner: list[Any] = ["bytes"]
    if nested:
        inner = [{"name": "sharding_indexed", "configuration": {"chunk_shape": [1, 3]}}]
    codec = {"name": "sharding_indexed", "configuration": {"chunk_shape": [2, 3], "codecs": inner, "index_location": location}}
    chain = parse_codec_chain([codec], "codecs", ChunkSpec(shape, np.dtype("uint16"), (), np.zeros((), "uint16")))
    encoded = chain.encode(array)
    np.testing.assert_array_equal(chain.decode(encoded), array)
    sharding = chain.sharding
    index_format = sharding.index_format
    index_bytes = encoded[: index_format.index_size] if location == "start" else encoded[-index_format.index_size :]
    index = index_format.decode_index(index_bytes, len(encoded))
    for i in range(2):
        for j in range(2):
            empty = not array[2 * i : 2 * i + 2, 3 * j : 3 * j + 3].any()
            assert (index[i, j, 0] == MISSING) == empty


@pytest.mark.parametrize(
    ("dtype", "codecs", "expected"),
    [
        ("uint8", ["bytes"], [{"name": "bytes"}]),
        ("uint16", ["bytes"], [{"configuration": {"endian": "little"}, "name": "bytes"}]),
        ("uint16", ["zstd"], [{"configuration": {"endian": "little"}, "name": "bytes"}, {"configuration": {"checksum": False, "level": 3}, "name": "zstd"}]),
        ("uint16", ["gzip"], [{"configuration": {"endian": "little"}, "name": "bytes"}, {"configuration": {"level": 6}, "name": "gzip"}]),
        ("int16", ["blosc"], [{"configuration": {"endian": "little"}, "name": "bytes"},
                              {"configuration": {"blocksize": 0, "clevel": 5, "cname": "lz4", "shuffle": "shuffle", "typesize": 2}, "name": "blosc"}]),
    ],
)
def test_defaults_filled_in(dtype: str, codecs: list[Any], expected: list[Any]) -> None:
    chain = parse_codec_chain(codecs, "codecs", ChunkSpec((4,), np.dtype(dtype), (), None))
    assert chain.to_json() == expected


def test_blosc_defaults_match_tensorstore_for_single_bytes() -> None:
    import tensorstore

    theirs = tensorstore.open({"driver": "zarr3", "kvstore": "memory://", "metadata": {"codecs": ["blosc"]}},
                              create=True, dtype="uint8", shape=[4]).result()
    chain = parse_codec_chain(["blosc"], "codecs", ChunkSpec((4,), np.dtype("uint8"), (), None))
    assert chain.to_json() == theirs.codec.to_json()["codecs"]
