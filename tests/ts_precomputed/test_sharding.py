"""The sharded format's arithmetic against plain Python/NumPy models (property tests), and
the shard and minishard index codecs."""

from __future__ import annotations

import itertools
import struct
from typing import Any

import mmh3
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ts_precomputed._sharding import (
    ShardingSpec,
    chunks_in_shard,
    compressed_morton_codes,
    compressed_z_index_bits,
    decode_compressed_morton_codes,
    decode_minishard_index,
    decode_shard_index,
    encode_minishard_index,
    encode_shard,
    shard_chunk_hierarchy,
    split_shard,
)

UINT64 = st.integers(0, 2**64 - 1)


def spec_of(hash: str = "identity", preshift: int = 0, minishard: int = 0, shard: int = 0, **more: Any) -> ShardingSpec:
    return ShardingSpec.from_json({
        "@type": "neuroglancer_uint64_sharded_v1", "hash": hash, "preshift_bits": preshift,
        "minishard_bits": minishard, "shard_bits": shard, **more,
    })


# -- models ------------------------------------------------------------------------------------
def morton_model(position: tuple[int, int, int], bits: tuple[int, int, int]) -> int:
    """Bit by bit, as neuroglancer's format page describes compressed Morton codes."""
    code, out = 0, 0
    for bit in range(max(bits)):
        for dim in range(3):
            if bit < bits[dim]:
                code |= ((position[dim] >> bit) & 1) << out
                out += 1
    return code


def locate_model(spec: ShardingSpec, chunk_id: int) -> tuple[int, int]:
    shifted = chunk_id >> spec.preshift_bits
    if spec.hash == "murmurhash3_x86_128":
        shifted = mmh3.hash128(shifted.to_bytes(8, "little"), 0, False, signed=False) % 2**64
    combined = shifted % (1 << (spec.minishard_bits + spec.shard_bits))
    return combined >> spec.minishard_bits, combined % (1 << spec.minishard_bits)


@st.composite
def grids(draw: st.DrawFn) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    shape = tuple(draw(st.integers(1, 2**20)) for _ in range(3))
    chunk = tuple(draw(st.integers(1, 64)) for _ in range(3))
    return shape, chunk  # type: ignore[return-value]


@st.composite
def sharding_specs(draw: st.DrawFn) -> ShardingSpec:
    minishard = draw(st.integers(0, 32))
    return spec_of(
        draw(st.sampled_from(["identity", "murmurhash3_x86_128"])),
        draw(st.integers(0, 64)), minishard, draw(st.integers(0, 64 - minishard)),
    )


# -- compressed Morton codes ---------------------------------------------------------------------
@given(grids(), st.data())
@settings(max_examples=200)
def test_morton_codes_match_the_bitwise_model(grid: Any, data: st.DataObject) -> None:
    shape, chunk = grid
    bits = compressed_z_index_bits(shape, chunk)
    assert bits == tuple(max(0, -(-n // c) - 1).bit_length() for n, c in zip(shape, chunk, strict=True))
    extents = [-(-n // c) for n, c in zip(shape, chunk, strict=True)]
    positions = data.draw(st.lists(st.tuples(*(st.integers(0, e - 1) for e in extents)), min_size=1, max_size=20))
    codes = compressed_morton_codes(np.array(positions), bits)
    assert codes.dtype == np.uint64
    assert [int(c) for c in codes] == [morton_model(p, bits) for p in positions]
    np.testing.assert_array_equal(decode_compressed_morton_codes(codes, bits), np.array(positions))


def test_morton_codes_of_a_whole_grid_are_a_permutation() -> None:
    bits = compressed_z_index_bits((5, 3, 9), (1, 1, 1))  # 3, 2, 4 bits: unequal, non-powers of 2
    grid = np.array(list(itertools.product(range(5), range(3), range(9))))
    codes = compressed_morton_codes(grid, bits)
    assert len(set(codes.tolist())) == len(grid)
    assert max(codes.tolist()) < 2 ** sum(bits)
    assert int(compressed_morton_codes([1, 0, 0], bits)) == 1
    assert int(compressed_morton_codes([0, 1, 0], bits)) == 2
    assert int(compressed_morton_codes([0, 0, 1], bits)) == 4
    assert int(compressed_morton_codes([0, 0, 4], bits)) == 1 << 7  # y used up: x2, then z2
    assert int(compressed_morton_codes([0, 0, 8], bits)) == 1 << 8  # x and y used up: z3 last


# -- shard and minishard numbers -------------------------------------------------------------------
@given(sharding_specs(), st.lists(UINT64, min_size=1, max_size=20))
@settings(max_examples=200)
def test_locate_matches_the_model(spec: ShardingSpec, chunk_ids: list[int]) -> None:
    expected = [locate_model(spec, c) for c in chunk_ids]
    assert [spec.locate(c) for c in chunk_ids] == expected
    shards, minishards = spec.locate_many(chunk_ids)
    assert list(zip(shards.tolist(), minishards.tolist(), strict=True)) == expected


def test_murmurhash_is_the_low_64_bits_of_the_reference_hash() -> None:
    spec = spec_of("murmurhash3_x86_128", minishard=32, shard=32)
    # Reference values of MurmurHash3_x86_128 over the 8 little-endian bytes of the id,
    # seed 0, low 64 bits (h2 << 32 | h1), as neuroglancer's sharded format specifies.
    for chunk_id in (0, 1, 12345, 2**63 + 5):
        digest = mmh3.hash_bytes(struct.pack("<Q", chunk_id), 0, False)
        low = int.from_bytes(digest[:8], "little")
        assert spec.hash_id(chunk_id) == low
    # shard names tensorstore gave these ids with 16 shard bits and no minishard bits
    sixteen = spec_of("murmurhash3_x86_128", shard=16)
    assert [sixteen.locate(c)[0] for c in (0, 1, 2, 12345)] == [0xAE41, 0xCE9A, 0x3F5A, 0xE510]


@pytest.mark.parametrize(
    ("shard_bits", "shard", "name"),
    [(0, 0, "0.shard"), (1, 1, "1.shard"), (4, 15, "f.shard"), (5, 3, "03.shard"), (15, 0x1A, "001a.shard"), (64, 2**64 - 1, "f" * 16 + ".shard")],
)
def test_shard_names(shard_bits: int, shard: int, name: str) -> None:
    spec = spec_of(shard=shard_bits)
    assert spec.shard_name(shard) == name
    assert spec.parse_shard_name(name) == shard
    assert spec.parse_shard_name("x" + name) is None
    assert spec.parse_shard_name(name.upper().replace(".SHARD", ".shard")) in (None, shard)


# -- shards as boxes of the chunk grid -----------------------------------------------------------
@given(st.tuples(*(st.integers(1, 9) for _ in range(3))), st.integers(0, 4), st.integers(0, 4), st.integers(0, 6))
@settings(max_examples=150)
def test_shard_hierarchy_matches_brute_force(grid: tuple[int, int, int], preshift: int, minishard: int, shard_bits: int) -> None:
    spec = spec_of(preshift=preshift, minishard=minishard, shard=shard_bits)
    bits = compressed_z_index_bits(grid, (1, 1, 1))
    hierarchy = shard_chunk_hierarchy(spec, grid, (1, 1, 1))
    if sum(bits) > preshift + minishard + shard_bits:
        assert hierarchy is None
        return
    assert hierarchy is not None
    positions = np.array(list(itertools.product(*(range(n) for n in grid))))
    shards, minishards = spec.locate_many(compressed_morton_codes(positions, bits))
    for number in range(2 ** min(shard_bits, 8)):
        members = positions[shards == number]
        assert chunks_in_shard(hierarchy, number) == len(members)
        if len(members):
            # a shard is the box its shape says, aligned to that shape
            shape = np.array(hierarchy.shard_shape_in_chunks)
            low = members.min(axis=0)
            assert (low % shape == 0).all()
            assert (members.max(axis=0) - low < shape).all()
            assert len(members) == np.prod(np.minimum(shape, np.array(grid) - low))
    # each minishard of a shard is a box of the minishard shape, aligned to it
    minishard_shape = np.array(hierarchy.minishard_shape_in_chunks)
    for number in set(zip(shards.tolist(), minishards.tolist(), strict=True)):
        members = positions[(shards == number[0]) & (minishards == number[1])]
        low = members.min(axis=0)
        assert (low % minishard_shape == 0).all()
        assert (members.max(axis=0) - low < minishard_shape).all()


def test_non_identity_hash_has_no_hierarchy() -> None:
    assert shard_chunk_hierarchy(spec_of("murmurhash3_x86_128", shard=4), (8, 8, 8), (1, 1, 1)) is None


# -- index codecs --------------------------------------------------------------------------------
@given(
    st.dictionaries(UINT64, st.binary(max_size=20), max_size=30),
    st.sampled_from(["identity", "murmurhash3_x86_128"]),
    st.sampled_from(["raw", "gzip"]),
    st.integers(0, 3),
)
@settings(max_examples=100)
def test_split_shard_inverts_encode_shard(chunks: dict[int, bytes], hash: str, encoding: str, minishard: int) -> None:
    spec = spec_of(hash, minishard=minishard, minishard_index_encoding=encoding)
    shard = encode_shard(spec, chunks)
    if not chunks:
        assert shard is None
        return
    assert shard is not None
    assert split_shard(spec, shard, "shard") == chunks


def test_minishard_index_is_three_delta_encoded_arrays() -> None:
    raw = encode_minishard_index([3, 7, 20], [0, 10, 10], [10, 10, 25])
    assert np.frombuffer(raw, "<u8").tolist() == [3, 4, 13, 0, 0, 0, 10, 0, 15]
    index = decode_minishard_index(raw, "raw", "m")
    assert index.chunk_ids.tolist() == [3, 7, 20]
    assert index.find(7) == (10, 10)
    assert index.find(8) is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x00" * 25, "not a multiple of 24"),
        (np.array([1, 0, 0, 0, 0, 0], "<u8").tobytes(), "chunk 1 occurs more than once"),
        (np.array([1, 2**63, 4], "<u8").tobytes(), "invalid byte range"),
    ],
)
def test_corrupt_minishard_index(raw: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_minishard_index(raw, "raw", "m")


def test_gzip_minishard_index_bomb_is_refused() -> None:
    import gzip

    bomb = gzip.compress(b"\x00" * (200 << 20))
    with pytest.raises(ValueError, match="inflates to more than"):
        decode_minishard_index(bomb, "gzip", "m")


def test_shard_index_entries_are_checked() -> None:
    assert decode_shard_index(struct.pack("<QQ", 4, 9), "s").tolist() == [[4, 9]]
    with pytest.raises(ValueError, match=r"minishard 1 is not a valid byte range \[9, 4\)"):
        decode_shard_index(struct.pack("<QQQQ", 0, 0, 9, 4), "s")
    with pytest.raises(ValueError, match="overlap"):
        split_shard(spec_of(minishard=1), struct.pack("<QQQQ", 0, 24, 10, 34) + b"\x00" * 34, "s")


@pytest.mark.parametrize(
    ("member", "value", "message"),
    [
        ("@type", "x", "metadata.@type"),
        ("hash", "md5", "metadata.hash"),
        ("minishard_bits", 33, r"metadata.minishard_bits: expected an integer in \[0, 32\]"),
        ("shard_bits", 61, r"metadata.shard_bits: expected an integer in \[0, 60\]"),
        ("preshift_bits", 1.5, "metadata.preshift_bits"),
        ("preshift_bits", True, "metadata.preshift_bits"),
        ("data_encoding", "zstd", "metadata.data_encoding"),
    ],
)
def test_spec_errors_name_the_member(member: str, value: Any, message: str) -> None:
    good = {"@type": "neuroglancer_uint64_sharded_v1", "hash": "identity", "preshift_bits": 0, "minishard_bits": 4, "shard_bits": 4}
    with pytest.raises(ValueError, match=message):
        ShardingSpec.from_json({**good, member: value})


def test_spec_json_spells_out_defaults() -> None:
    assert spec_of(minishard=2).to_json() == {
        "@type": "neuroglancer_uint64_sharded_v1", "data_encoding": "raw", "hash": "identity",
        "minishard_bits": 2, "minishard_index_encoding": "raw", "preshift_bits": 0, "shard_bits": 0,
    }
