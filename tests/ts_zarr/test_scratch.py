"""Encoding from a reused per-thread buffer gives the bytes the general path gives, and a
chunk's encoded bytes never change when the thread encodes the next chunk."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
import tensorstore

import ts_core as ts
from ts_zarr._scratch import MAX_SCRATCH_BYTES, contiguous
from ts_zarr.zarr3._pipeline import parse_codec_chain
from ts_zarr.zarr3.codec_api import ChunkSpec


def test_contiguous_returns_a_c_contiguous_array_as_is() -> None:
    array = np.arange(24, dtype=np.uint16).reshape(2, 3, 4)
    assert contiguous(array) is array


def test_contiguous_copies_a_view_into_one_reused_buffer() -> None:
    base = np.arange(4 * 6 * 8, dtype=np.uint16).reshape(4, 6, 8)
    first = contiguous(base[:, 1:4, ::2])
    np.testing.assert_array_equal(first, base[:, 1:4, ::2])
    assert first.flags.c_contiguous
    second = contiguous(base[1:3, :, 2:6])
    np.testing.assert_array_equal(second, base[1:3, :, 2:6])
    assert np.shares_memory(first, second)  # the same scratch memory: valid until the next call


def test_contiguous_converts_the_byte_order() -> None:
    array = np.arange(12, dtype="<u4").reshape(3, 4).T
    swapped = contiguous(array, np.dtype(">u4"))
    assert swapped.dtype == np.dtype(">u4")
    assert swapped.tobytes() == array.astype(">u4").tobytes()


def test_contiguous_copies_large_arrays_afresh() -> None:
    large = np.zeros((2, MAX_SCRATCH_BYTES + 2), dtype=np.uint8)[:, 1:]
    assert large.nbytes > MAX_SCRATCH_BYTES
    assert not np.shares_memory(contiguous(large), contiguous(large))


def test_each_thread_has_its_own_buffer() -> None:
    base = np.arange(1000, dtype=np.int32)[::2]
    seen: list[np.ndarray[Any, Any]] = []
    worker = threading.Thread(target=lambda: seen.append(contiguous(base)))
    worker.start()
    worker.join()
    assert not np.shares_memory(contiguous(base), seen[0])


def _v2_spec(compressor: Any, filters: Any, order: str, dtype: str) -> dict[str, Any]:
    return {
        "driver": "zarr", "kvstore": {"driver": "memory"},
        "metadata": {"shape": [10, 12, 9], "chunks": [4, 5, 3], "dtype": dtype, "compressor": compressor,
                     "filters": filters, "order": order, "fill_value": 0},
    }


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", ["<u2", ">i4", "<f8"])
@pytest.mark.parametrize(
    ("compressor", "filters"),
    [
        ({"id": "zstd", "level": 1}, None),
        ({"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1}, None),
        ({"id": "zlib", "level": 1}, [{"id": "delta", "dtype": "=="}]),
        (None, [{"id": "shuffle", "elementsize": 0}]),
    ],
)
def test_zarr_v2_chunks_are_the_bytes_of_the_general_path(compressor: Any, filters: Any, order: str, dtype: str) -> None:
    filters = [{**f, "dtype": dtype} if f.get("dtype") == "==" else f for f in filters or []] or None
    spec = _v2_spec(compressor, filters, order, dtype)
    store = ts.open(spec, create=True).result()
    data = (np.arange(10 * 12 * 9) * 7919 % 1000).astype(dtype).reshape(10, 12, 9)
    store.write(data).result()  # interior chunks are views of ``data``; edge chunks are not
    np.testing.assert_array_equal(store.read().result(), data)
    import numcodecs

    codecs = [numcodecs.get_codec(dict(f)) for f in filters or []]
    compressor_codec = None if compressor is None else numcodecs.get_codec(dict(compressor))
    for key in store.kvstore.list().result():
        name = key.decode()
        if name.startswith("."):
            continue
        index = [int(i) for i in name.split(".")]
        region = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(index, (4, 5, 3), (10, 12, 9), strict=True))
        chunk = np.zeros((4, 5, 3), dtype=dtype)
        chunk[tuple(slice(0, r.stop - r.start) for r in region)] = data[region]
        raw: Any = chunk.tobytes(order=order)
        expected: Any = np.frombuffer(raw, dtype=dtype)
        for codec in codecs:
            expected = codec.encode(expected)
        if compressor_codec is not None:
            expected = compressor_codec.encode(expected)
        assert store.kvstore.read(key).result().value == bytes(memoryview(expected).cast("B")), name


def test_zarr_v2_many_threads_write_what_the_wheel_reads(tmp_path: Any) -> None:
    spec = {
        "driver": "zarr", "kvstore": {"driver": "file", "path": str(tmp_path)},
        "metadata": {"shape": [96, 80, 64], "chunks": [16, 16, 16], "dtype": "<u2",
                     "compressor": {"id": "zstd", "level": 1}, "filters": None, "order": "F", "fill_value": 0},
    }
    data = np.random.default_rng(1).integers(0, 4000, size=(96, 80, 64), dtype=np.uint16)
    ts.open(spec, create=True).result().write(data).result()
    np.testing.assert_array_equal(tensorstore.open(spec, open=True).result().read().result(), data)


@pytest.mark.parametrize("endian", ["little", "big"])
@pytest.mark.parametrize(
    "tail",
    [
        [{"name": "zstd", "configuration": {"level": 1}}],
        [{"name": "gzip", "configuration": {"level": 1}}, "crc32c"],
        ["blosc"],
        [{"name": "zstd", "configuration": {"level": 1}}, "crc32c"],
    ],
)
def test_zarr3_chain_encodes_views_as_their_bytes(endian: str, tail: list[Any]) -> None:
    spec = ChunkSpec((6, 5, 4), np.dtype("int32"), (), np.zeros((), "int32"))
    buffered = parse_codec_chain([{"name": "bytes", "configuration": {"endian": endian}}, *tail], "codecs", spec)
    base = (np.arange(12 * 10 * 8, dtype=np.int64) * 2654435761 % 100000).astype(np.int32).reshape(12, 10, 8)
    views = [base[::2, 1::2, ::2], base[6:, 5:, 4:], np.ascontiguousarray(base[:6, :5, 4:])]
    encoded = [buffered.encode(view) for view in views]  # each made before the next reuses the buffer
    for view, data in zip(views, encoded, strict=True):
        assert isinstance(data, bytes)
        expected = np.ascontiguousarray(view).astype(">i4" if endian == "big" else "<i4").tobytes()
        for codec in buffered.bytes_codecs:
            expected = codec.encode(expected)
        assert data == expected
        np.testing.assert_array_equal(buffered.decode(data), view)


def test_zarr3_sharded_and_transposed_arrays_read_back_in_the_wheel(tmp_path: Any) -> None:
    zstd = {"name": "zstd", "configuration": {"level": 1, "checksum": False}}
    for name, codecs in (
        ("chunked", [{"name": "transpose", "configuration": {"order": [2, 0, 1]}}, {"name": "bytes", "configuration": {"endian": "big"}}, zstd]),
        ("sharded", [{"name": "sharding_indexed", "configuration": {"chunk_shape": [8, 8, 8], "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, zstd]}}]),
    ):
        spec = {
            "driver": "zarr3", "kvstore": {"driver": "file", "path": str(tmp_path / name)},
            "metadata": {"shape": [40, 36, 20], "data_type": "uint16", "fill_value": 0, "codecs": codecs,
                         "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [16, 16, 16]}}},
        }
        data = np.random.default_rng(2).integers(0, 4000, size=(40, 36, 20), dtype=np.uint16)
        ts.open(spec, create=True).result().write(data).result()
        np.testing.assert_array_equal(tensorstore.open(spec, open=True).result().read().result(), data)


# -- transient encodings: the last codec writes into a reused output buffer ---------------
ZSTD_TAILS = [
    [{"name": "zstd", "configuration": {"level": 1}}],
    [{"name": "zstd", "configuration": {"level": -5, "checksum": True}}],
    [{"name": "zstd", "configuration": {"level": 19}}],
    [{"name": "gzip", "configuration": {"level": 1}}, {"name": "zstd", "configuration": {"level": 3}}],
    [{"name": "zstd", "configuration": {"level": 1}}, "crc32c"],  # crc32c last: the plain encode
    ["blosc"],
]


@pytest.mark.parametrize("tail", ZSTD_TAILS)
def test_transient_encoding_decodes_like_the_owned_one(tail: list[Any]) -> None:
    spec = ChunkSpec((6, 5, 4), np.dtype("uint16"), (), np.zeros((), "uint16"))
    chain = parse_codec_chain(["bytes", *tail], "codecs", spec)
    base = (np.arange(12 * 10 * 8, dtype=np.int64) * 2654435761 % 4000).astype(np.uint16).reshape(12, 10, 8)
    for view in (base[::2, 1::2, ::2], np.ascontiguousarray(base[6:, 5:, 4:]), np.zeros((6, 5, 4), np.uint16)):
        transient = chain.encode_transient(view)
        owned = chain.encode(view)
        np.testing.assert_array_equal(chain.decode(bytes(transient)), view)
        if tail[-1] in ("crc32c", "blosc"):  # no encode_into: the same bytes as encode
            assert transient == owned
        else:  # zstd's streaming frame may differ from the one-shot frame in a few bytes
            assert abs(len(transient) - len(owned)) < 16


def test_transient_encodings_reuse_one_buffer_per_thread() -> None:
    spec = ChunkSpec((64, 64), np.dtype("uint16"), (), np.zeros((), "uint16"))
    chain = parse_codec_chain(["bytes", {"name": "zstd", "configuration": {"level": 1}}], "codecs", spec)
    first = chain.encode_transient(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64))
    assert isinstance(first, memoryview)
    first_bytes = bytes(first)
    second = chain.encode_transient(np.ones((64, 64), np.uint16))
    assert isinstance(second, memoryview)
    assert np.shares_memory(np.asarray(first), np.asarray(second))  # valid only until the next call
    np.testing.assert_array_equal(chain.decode(first_bytes), np.arange(64 * 64).reshape(64, 64))
    other: list[memoryview] = []
    worker = threading.Thread(target=lambda: other.append(chain.encode_transient(np.ones((64, 64), np.uint16))))
    worker.start()
    worker.join()
    assert not np.shares_memory(np.asarray(other[0]), np.asarray(second))


def test_zstd_encode_into_refuses_a_buffer_too_small() -> None:
    from ts_zarr.zarr3._codecs import ZstdCodec

    codec = ZstdCodec(level=1, checksum=False)
    data = np.random.default_rng(0).integers(0, 256, size=4096, dtype=np.uint8)  # incompressible
    assert codec.encode_into(data, memoryview(bytearray(100))) is None
    out = memoryview(bytearray(codec.max_encoded_size(data.nbytes)))
    written = codec.encode_into(data, out)
    assert written is not None
    assert codec.decode(bytes(out[:written])) == data.tobytes()


def test_only_a_batch_that_copies_values_gets_transient_encodings(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bulk write to a file store encodes into the reused buffer (its write batch writes
    each value out before returning); to the memory store, whose values are kept, it
    encodes into a bytes object per chunk. Both read back in the wheel or in ts."""
    from ts_core.kvstore import WriteBatch
    from ts_zarr.zarr3._pipeline import CodecChain

    transient_calls: list[int] = []
    encode_transient = CodecChain.encode_transient

    def counted(self: CodecChain, array: np.ndarray[Any, Any]) -> bytes | memoryview:
        transient_calls.append(1)
        return encode_transient(self, array)

    monkeypatch.setattr(CodecChain, "encode_transient", counted)
    assert not WriteBatch.copies_values
    data = np.random.default_rng(3).integers(0, 4000, size=(64, 48), dtype=np.uint16)
    metadata = {"codecs": ["bytes", {"name": "zstd", "configuration": {"level": 1}}],
                "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [16, 16]}}}
    for kvstore in ({"driver": "memory"}, {"driver": "file", "path": str(tmp_path)}):
        spec = {"driver": "zarr3", "kvstore": kvstore, "metadata": metadata}
        transient_calls.clear()
        store = ts.open(spec, create=True, dtype=ts.uint16, shape=[64, 48]).result()
        store.write(data).result()
        assert len(transient_calls) == (12 if kvstore["driver"] == "file" else 0)
        np.testing.assert_array_equal(store.read().result(), data)
    file_spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(tmp_path)}}
    np.testing.assert_array_equal(tensorstore.open(file_spec, open=True).result().read().result(), data)


def test_without_zstandard_transient_encoding_is_the_owned_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from ts_zarr.zarr3 import _codecs

    monkeypatch.setattr(_codecs, "_zstd_compressor", lambda level, checksum: None)  # as if not installed
    spec = ChunkSpec((32, 32), np.dtype("uint16"), (), np.zeros((), "uint16"))
    chain = parse_codec_chain(["bytes", {"name": "zstd", "configuration": {"level": 1}}], "codecs", spec)
    data = np.arange(32 * 32, dtype=np.uint16).reshape(32, 32)
    for _ in range(2):  # the second call no longer asks the codec
        encoded = chain.encode_transient(data)
        assert isinstance(encoded, bytes)
        assert encoded == chain.encode(data)
