"""The example third-party format ``ts-chunkdir`` (examples/ts-chunkdir), installed as its
own distribution: found through its entry point, passes the driver conformance suite,
stores what its README says, and rejects bad metadata and chunks with errors naming
them. (That it uses only the public ts_core API is checked by tests/test_code_quality.py.)"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tracemalloc
import zlib
from importlib import metadata
from typing import Any

import numpy as np
import pytest

import ts_core as ts
from ts_core.errors import ChunkError, SpecError
from ts_core.plugin import get_registry
from ts_core.testing.driver import DriverConformance


def chunkdir(shape: list[int], chunks: list[int], dtype: str = "uint16", **metadata: Any) -> Any:
    """A new chunkdir array in a fresh memory kvstore."""
    return ts.open(
        {"driver": "chunkdir", "kvstore": "memory://array/",
         "metadata": {"shape": shape, "chunks": chunks, "dtype": dtype, **metadata}},
        create=True,
    ).result()


def reopen(store: Any) -> Any:
    """The same array opened afresh from what is stored (the memory kvstore is shared
    through the context)."""
    return ts.open(
        {"driver": "chunkdir", "kvstore": store.kvstore.spec().to_json()}, open=True, context=store.kvstore.context
    ).result()


# -- packaging ---------------------------------------------------------------------------------
def test_found_through_its_entry_point() -> None:
    entry_points = [ep for ep in metadata.distribution("ts-chunkdir").entry_points if ep.group == "ts"]
    assert [(ep.name, ep.value) for ep in entry_points] == [("ts_chunkdir", "ts_chunkdir._plugin")]
    record = get_registry().get("driver", "chunkdir")
    assert record.distribution == "ts-chunkdir"
    assert record.target == "ts_chunkdir._driver:ChunkdirDriver"
    assert record.schema is not None
    assert record.schema["$id"] == "urn:ts-chunkdir:driver:chunkdir"


def test_plugin_module_is_light() -> None:
    code = "import sys, ts_chunkdir._plugin; print(sorted(m for m in ('numpy', 'ts_chunkdir._driver') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# -- conformance ---------------------------------------------------------------------------------
class TestChunkdirConformance(DriverConformance):
    driver = "chunkdir"

    def create(self, kvstore: Any, shape: Any, chunks: Any, dtype: Any, fill_value: Any, context: Any) -> Any:
        return ts.open(
            {"driver": "chunkdir", "kvstore": kvstore, "metadata": {"chunks": list(chunks)}},
            create=True, shape=shape, dtype=dtype, fill_value=fill_value, context=context,
        ).result()


class TestChunkdirZlibConformance(TestChunkdirConformance):
    def create(self, kvstore: Any, shape: Any, chunks: Any, dtype: Any, fill_value: Any, context: Any) -> Any:
        return ts.open(
            {"driver": "chunkdir", "kvstore": kvstore, "metadata": {"chunks": list(chunks), "compression": "zlib"}},
            create=True, shape=shape, dtype=dtype, fill_value=fill_value, context=context,
        ).result()


# -- the stored format -----------------------------------------------------------------------------
@pytest.mark.parametrize("compression", ["none", "zlib"])
def test_chunks_are_little_endian_c_order_bytes(compression: str) -> None:
    store = chunkdir([3, 5], [2, 4], "int32", fill_value=-1, compression=compression)
    data = np.arange(15, dtype=np.int32).reshape(3, 5) * 1000
    store.write(data).result()
    keys = sorted(store.kvstore.list().result())
    assert keys == [b"c/0.0", b"c/0.1", b"c/1.0", b"c/1.1", b"chunkdir.json"]
    stored = store.kvstore.read("c/1.1").result().value
    raw = stored if compression == "none" else zlib.decompress(stored)
    edge = np.full((2, 4), -1, np.int32)  # full chunk shape at the edge, padded with the fill value
    edge[0, 0] = data[2, 4]
    assert raw == edge.astype("<i4").tobytes(order="C")
    assert json.loads(store.kvstore.read("chunkdir.json").result().value) == {
        "shape": [3, 5], "chunks": [2, 4], "dtype": "int32", "fill_value": -1, "compression": compression,
    }
    np.testing.assert_array_equal(reopen(store).read().result(), data)


def test_rank_zero_and_bool() -> None:
    scalar = chunkdir([], [], "float64", fill_value="NaN")
    assert math.isnan(scalar.read().result())
    scalar.write(2.5).result()
    assert scalar.kvstore.read("c/0").result().value == np.float64(2.5).tobytes()
    flags = chunkdir([5], [5], "bool", fill_value=False)
    flags[1:3].write(True).result()
    assert reopen(flags).read().result().tolist() == [False, True, True, False, False]


def test_non_finite_fill_value_round_trips() -> None:
    store = ts.open(
        {"driver": "chunkdir", "kvstore": "memory://nan/", "metadata": {"chunks": [2]}},
        create=True, shape=[3], dtype=ts.float32, fill_value=np.nan,
    ).result()
    assert store.spec().to_json()["metadata"]["fill_value"] == "NaN"
    assert np.isnan(store.read().result()).all()
    store[0].write(np.nan).result()
    assert store.kvstore.list().result() == [b"chunkdir.json"]  # equal to the fill value: not stored


def test_schema_constraints_choose_the_metadata() -> None:
    store = ts.open(
        {"driver": "chunkdir", "kvstore": "memory://schema/"},
        create=True, shape=[3000, 3000], dtype=ts.uint8,
        codec=ts.CodecSpec({"driver": "chunkdir", "compression": "zlib"}),
    ).result()
    # With no chunk constraint, the chunk shape is ts-core's choice, the same as zarr's.
    zarr = ts.open({"driver": "zarr", "kvstore": "memory://schema-zarr/"}, create=True,
                   shape=[3000, 3000], dtype=ts.uint8).result()
    chunks = list(zarr.chunk_layout.write_chunk.shape)
    assert chunks != [3000, 3000]
    assert store.spec().to_json()["metadata"] == {
        "shape": [3000, 3000], "chunks": chunks, "dtype": "uint8", "fill_value": 0, "compression": "zlib",
    }
    assert store.schema.codec.to_json() == {"driver": "chunkdir", "compression": "zlib"}
    shaped = ts.open(
        {"driver": "chunkdir", "kvstore": "memory://layout/"},
        create=True, shape=[100, 100], dtype=ts.uint8, chunk_layout=ts.ChunkLayout(chunk_shape=[10, 20]),
    ).result()
    assert shaped.spec().to_json()["metadata"]["chunks"] == [10, 20]


def test_resize_trims_chunks() -> None:
    store = chunkdir([4, 4], [2, 2])
    store.write(np.arange(1, 17, dtype=np.uint16).reshape(4, 4)).result()
    smaller = store.resize(exclusive_max=[3, 2]).result()
    assert sorted(smaller.kvstore.list().result()) == [b"c/0.0", b"c/1.0", b"chunkdir.json"]
    np.testing.assert_array_equal(reopen(store).read().result(), [[1, 2], [5, 6], [9, 10]])


# -- corrupt chunks -----------------------------------------------------------------------------------
def damaged(compression: str, chunk: bytes, dtype: str = "uint16") -> Any:
    """An array whose only chunk ``c/0.0`` holds ``chunk``."""
    store = chunkdir([2, 2], [2, 2], dtype, compression=compression)
    store.kvstore.write("c/0.0", chunk).result()
    return store


def test_chunk_of_the_wrong_size() -> None:
    with pytest.raises(ChunkError, match=r"'array/c/0\.0'.*expected 8 bytes .*found 3"):
        damaged("none", b"abc").read().result()


def test_truncated_zlib_chunk() -> None:
    whole = zlib.compress(np.arange(4, dtype="<u2").tobytes())
    with pytest.raises(ChunkError, match=r"'array/c/0\.0'.*truncated zlib stream"):
        damaged("zlib", whole[:-3]).read().result()


def test_corrupt_zlib_chunk() -> None:
    with pytest.raises(ChunkError, match=r"'array/c/0\.0'.*corrupt zlib stream"):
        damaged("zlib", b"\x78\x9c not deflate at all").read().result()
    trailing = zlib.compress(bytes(8)) + b"junk"
    with pytest.raises(ChunkError, match="4 unexpected bytes after the end of the zlib stream"):
        damaged("zlib", trailing).read().result()
    short = zlib.compress(bytes(6))
    with pytest.raises(ChunkError, match=r"expected 8 bytes .*decompresses to 6"):
        damaged("zlib", short).read().result()


def test_decompression_stops_at_the_chunk_size() -> None:
    """A small chunk that inflates to 64 MiB is rejected after at most one chunk's bytes."""
    compressor = zlib.compressobj()
    block = bytes(1 << 20)
    bomb = b"".join(compressor.compress(block) for _ in range(64)) + compressor.flush()
    store = damaged("zlib", bomb)
    tracemalloc.start()
    try:
        with pytest.raises(ChunkError, match="decompresses to more than the chunk's 8 bytes"):
            store.read().result()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < len(bomb) + (4 << 20)


def test_bool_chunk_with_other_bytes() -> None:
    with pytest.raises(ChunkError, match="other than 0 or 1"):
        damaged("none", b"\x00\x01\x02\x00", "bool").read().result()


# -- bad metadata ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("stored", "member"),
    [
        ({"shape": [4], "chunks": [0], "dtype": "uint8"}, r"chunks\[0\]: expected an integer >= 1"),
        ({"shape": [4], "chunks": [2, 2], "dtype": "uint8"}, "chunks: has 2 entries, but shape has 1"),
        ({"shape": [4], "chunks": [2], "dtype": "complex64"}, "dtype: expected one of"),
        ({"shape": [4], "chunks": [2], "dtype": "uint8", "fill_value": 256}, r"fill_value: 256 is out of range"),
        ({"shape": [4], "chunks": [2], "dtype": "uint8", "compression": "lz4"}, "compression: expected one of none, zlib"),
        ({"shape": [4], "dtype": "uint8"}, "chunks: is required"),
        ({"shape": [4], "chunks": [2], "dtype": "uint8", "order": "F"}, "order: unknown member"),
        ([4, 2], "expected a JSON object"),
    ],
)
def test_bad_stored_metadata_names_the_member(stored: Any, member: str) -> None:
    kvstore = ts.KvStore.open("memory://bad/").result()
    kvstore.write("chunkdir.json", json.dumps(stored).encode()).result()
    with pytest.raises(ValueError, match=rf"invalid metadata in 'bad/chunkdir\.json': {member}"):
        ts.open({"driver": "chunkdir", "kvstore": "memory://bad/"}, open=True, context=kvstore.context).result()


def test_stored_metadata_that_is_not_json() -> None:
    kvstore = ts.KvStore.open("memory://bad/").result()
    kvstore.write("chunkdir.json", b"{shape: 4").result()
    with pytest.raises(ValueError, match=r"'bad/chunkdir\.json': invalid JSON"):
        ts.open({"driver": "chunkdir", "kvstore": "memory://bad/"}, open=True, context=kvstore.context).result()


@pytest.mark.parametrize(
    ("spec_metadata", "options", "json_path"),
    [
        ({"chunks": [0]}, {"shape": [4], "dtype": ts.uint8}, "metadata.chunks[0]"),
        ({"chunkz": [2]}, {"shape": [4], "dtype": ts.uint8}, "metadata.chunkz"),
        ({"fill_value": 1.5}, {"shape": [4], "dtype": ts.uint8}, "metadata.fill_value"),
        ({"dtype": "int8"}, {"shape": [4], "dtype": ts.uint8}, "metadata.dtype"),
        ({"shape": [5]}, {"shape": [4], "dtype": ts.uint8}, "metadata.shape"),
        ({"chunks": [3]}, {"shape": [4], "dtype": ts.uint8, "chunk_layout": ts.ChunkLayout(chunk_shape=[2])}, "metadata.chunks"),
        ({}, {"shape": [4]}, "dtype"),
        ({}, {"dtype": ts.uint8}, "schema.domain"),
        ({}, {"shape": [4], "dtype": ts.complex64}, "dtype"),
        ({}, {"shape": [4], "dtype": ts.uint8, "fill_value": 300}, "schema.fill_value"),
        ({}, {"shape": [4], "dtype": ts.uint8, "codec": ts.CodecSpec({"driver": "zarr"})}, "schema.codec.driver"),
    ],
)
def test_bad_spec_names_the_member(spec_metadata: Any, options: Any, json_path: str) -> None:
    context = ts.Context()
    with pytest.raises(SpecError) as caught:
        ts.open(
            {"driver": "chunkdir", "kvstore": "memory://new/", "metadata": spec_metadata},
            create=True, context=context, **options,
        ).result()
    assert caught.value.json_path == json_path
    kvstore = ts.KvStore.open("memory://new/", context=context).result()
    assert kvstore.list().result() == []  # nothing was written


def test_opening_checks_the_stored_metadata() -> None:
    context = ts.Context()
    spec = {"driver": "chunkdir", "kvstore": "memory://a/"}
    ts.open({**spec, "metadata": {"chunks": [2]}}, create=True, shape=[4], dtype=ts.uint8, context=context).result()
    with pytest.raises(SpecError, match=r"metadata\.chunks: expected \[3\] but the stored array has \[2\]"):
        ts.open({**spec, "metadata": {"chunks": [3]}}, open=True, context=context).result()
    with pytest.raises(SpecError, match=r"schema\.fill_value: expected 7 but the stored array has 0"):
        ts.open(spec, open=True, fill_value=7, context=context).result()
    with pytest.raises(SpecError, match=r"schema\.codec\.compression"):
        ts.open(spec, open=True, codec=ts.CodecSpec({"driver": "chunkdir", "compression": "zlib"}), context=context).result()
    with pytest.raises(SpecError, match="dtype"):
        ts.open(spec, open=True, dtype=ts.int8, context=context).result()
    assert ts.open({**spec, "metadata": {"fill_value": 0.0}}, open=True, context=context).result().shape == (4,)
