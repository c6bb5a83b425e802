"""The built-in zarr v3 codecs: transpose, bytes, gzip, blosc, zstd and crc32c.

Each is a plugin in the ``zarr3`` codec namespace (see ``ts_zarr._plugin``); the chain in
``_pipeline`` finds them by name, as it finds third-party codecs.
"""

from __future__ import annotations

import math
import sys
import threading
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ts_core import decompression
from ts_core.errors import SpecError, describe

from .._scratch import contiguous
from .codec_api import ArrayToArrayCodec, ArrayToBytesCodec, BytesToBytesCodec, ChunkSpec

__all__ = ["BloscCodec", "BytesCodec", "Crc32cCodec", "GzipCodec", "TransposeCodec", "ZstdCodec"]

#: gzip framing for zlib (wbits 16 + 15); 32 + 15 accepts gzip or zlib framing when decoding.
_GZIP_WBITS = 31
_ANY_DEFLATE_WBITS = 47
#: Size of the little-endian checksum the crc32c codec appends (zarr v3 crc32c codec spec).
CRC32C_SIZE = 4
_BLOSC_SHUFFLE = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}
_BLOSC_CNAMES = ("blosclz", "lz4", "lz4hc", "snappy", "zlib", "zstd")


def _compressed_bound(decoded_size: int) -> int:
    """Above what gzip, zstd or blosc encode ``decoded_size`` bytes to (incompressible data
    grows by a fraction of a percent plus a header)."""
    return decoded_size + decoded_size // 8 + 4096


#: This thread's ``zstandard`` compressors by (level, checksum); a compressor serves one
#: thread at a time. Should the zstandard package (a ts-zarr dependency) be missing, zstd
#: encodes through numcodecs into a new bytes object per chunk.
_zstd_local = threading.local()
_ZSTD_COMPRESSORS_PER_THREAD = 8


def _zstd_compressor(level: int, checksum: bool) -> Any:
    compressors: dict[tuple[int, bool], Any] | None = getattr(_zstd_local, "compressors", None)
    if compressors is None:
        try:
            import zstandard
        except ImportError:
            return None
        compressors = _zstd_local.compressors = {}
        _zstd_local.module = zstandard
    compressor = compressors.get((level, checksum))
    if compressor is None:
        if len(compressors) >= _ZSTD_COMPRESSORS_PER_THREAD:
            compressors.clear()
        compressor = compressors[level, checksum] = _zstd_local.module.ZstdCompressor(
            level=level, write_checksum=checksum, write_content_size=True
        )
    return compressor


def _config(configuration: dict[str, Any] | None, json_path: str, allowed: Sequence[str]) -> dict[str, Any]:
    config = dict(configuration or {})
    for member in config:
        if member not in allowed:
            raise SpecError(f"{json_path}.configuration.{member}", "unexpected member")
    return config


def _one_of(options: Iterable[str]) -> str:
    return ", ".join(describe(option) for option in options)


def _int_member(config: dict[str, Any], member: str, default: int, low: int, high: int, json_path: str) -> int:
    value = config.get(member, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON 1.0 is the integer 1, as tensorstore reads it
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SpecError(
            f"{json_path}.configuration.{member}",
            f"expected integer in the range [{low}, {high}], but received: {describe(value)}",
        )
    return value


class TransposeCodec(ArrayToArrayCodec):
    """Permutes the chunk dimensions (the element's trailing dimensions stay last)."""

    name = "transpose"

    def __init__(self, order: Any) -> None:
        self._order_json = order
        self.order: tuple[int, ...] = ()

    @classmethod
    def from_json(cls, configuration: dict[str, Any] | None, json_path: str) -> TransposeCodec:
        config = _config(configuration, json_path, ("order",))
        order = config.get("order")
        if order not in ("C", "F") and not (
            isinstance(order, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in order)
        ):
            raise SpecError(f"{json_path}.configuration.order", f"expected a permutation, but received: {describe(order)}")
        return cls(order)

    def resolve(self, decoded: ChunkSpec, json_path: str) -> ChunkSpec:
        rank = len(decoded.shape)
        order = self._order_json
        if order == "C":
            order = list(range(rank))
        elif order == "F":
            order = list(reversed(range(rank)))
        if sorted(order) != list(range(rank)):
            raise SpecError(
                f"{json_path}.configuration.order",
                f"{describe(self._order_json)} is not a permutation of the {rank} chunk dimensions",
            )
        self.order = tuple(order)
        return ChunkSpec(tuple(decoded.shape[i] for i in order), decoded.dtype, decoded.inner_shape, decoded.fill_value)

    def _full(self, array: np.ndarray[Any, Any]) -> tuple[int, ...]:
        return self.order + tuple(range(len(self.order), array.ndim))

    def encode(self, array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return array.transpose(self._full(array))

    def decode(self, array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return array.transpose(np.argsort(self._full(array)))

    def to_json(self) -> dict[str, Any]:
        return {"configuration": {"order": list(self.order)}, "name": self.name}


class BytesCodec(ArrayToBytesCodec):
    """Elements in C order, in the configured byte order."""

    name = "bytes"

    def __init__(self, endian: str | None) -> None:
        self.endian = endian
        self._single_byte = False

    @classmethod
    def from_json(cls, configuration: dict[str, Any] | None, json_path: str) -> BytesCodec:
        config = _config(configuration, json_path, ("endian",))
        endian = config.get("endian")
        if endian not in (None, "little", "big"):
            raise SpecError(f"{json_path}.configuration.endian", f'expected "little" or "big", but received: {describe(endian)}')
        return cls(endian)

    def resolve(self, decoded: ChunkSpec, json_path: str) -> None:
        self._single_byte = decoded.dtype.itemsize == 1 or bool(decoded.inner_shape)
        if self.endian is None and not self._single_byte:
            self.endian = "little"  # what tensorstore writes when creating
        return None

    def max_encoded_size(self, spec: ChunkSpec) -> int:
        return spec.nbytes

    def stored_dtype(self, dtype: np.dtype[Any]) -> np.dtype[Any]:
        """The stored form of elements of ``dtype``: its byte order the configured one."""
        if self._single_byte or self.endian is None:
            return dtype
        return dtype.newbyteorder("<" if self.endian == "little" else ">")

    _stored = stored_dtype

    def encode(self, array: np.ndarray[Any, Any], spec: ChunkSpec) -> bytes:
        stored = self._stored(spec.dtype)
        if stored != array.dtype:
            array = array.astype(stored)
        return array.tobytes()  # one C-order copy, from any memory layout

    def encode_buffer(self, array: np.ndarray[Any, Any], spec: ChunkSpec) -> np.ndarray[Any, Any]:
        """``encode``'s bytes as a flat ``uint8`` array, possibly this thread's scratch
        buffer (valid until its next encode): for a codec that only reads it."""
        return contiguous(array, self._stored(spec.dtype)).reshape(-1).view(np.uint8)

    def decode(self, data: bytes, spec: ChunkSpec) -> np.ndarray[Any, Any]:
        shape = spec.full_shape
        stored = self._stored(spec.dtype)
        expected = int(math.prod(shape)) * stored.itemsize  # math.prod: a few µs less per chunk than np.prod
        if len(data) != expected:
            raise ValueError(f"expected {expected} bytes after decoding, but got {len(data)}")
        array = np.frombuffer(data, dtype=stored).reshape(shape)
        native = stored.newbyteorder("=")
        return array.astype(native) if native != stored and sys.byteorder != self.endian else array.view(native)

    def to_json(self) -> dict[str, Any]:
        if self._single_byte or self.endian is None:
            return {"name": self.name}
        return {"configuration": {"endian": self.endian}, "name": self.name}


class GzipCodec(BytesToBytesCodec):
    name = "gzip"
    encodes_buffers = True

    def __init__(self, level: int) -> None:
        self.level = level

    @classmethod
    def from_json(cls, configuration: dict[str, Any] | None, json_path: str) -> GzipCodec:
        config = _config(configuration, json_path, ("level",))
        return cls(_int_member(config, "level", 6, 0, 9, json_path))

    def encode(self, data: bytes) -> bytes:
        compressor = zlib.compressobj(self.level, zlib.DEFLATED, _GZIP_WBITS)
        return compressor.compress(data) + compressor.flush()

    def decode(self, data: bytes) -> bytes:
        return zlib.decompress(data, _ANY_DEFLATE_WBITS)

    def decode_bounded(self, data: bytes, max_size: int) -> bytes:
        return decompression.decompress_zlib(data, max_size, wbits=_ANY_DEFLATE_WBITS)

    def max_encoded_size(self, decoded_size: int) -> int:
        return _compressed_bound(decoded_size)

    def to_json(self) -> dict[str, Any]:
        return {"configuration": {"level": self.level}, "name": self.name}


class ZstdCodec(BytesToBytesCodec):
    name = "zstd"
    encodes_buffers = True

    def __init__(self, level: int, checksum: bool) -> None:
        self.level, self.checksum = level, checksum
        self._numcodecs: Any = None  # made on first use: a bulk write to a file never needs it

    @property
    def _codec(self) -> Any:
        if self._numcodecs is None:
            from numcodecs import Zstd

            self._numcodecs = Zstd(level=self.level, checksum=self.checksum)
        return self._numcodecs

    @classmethod
    def from_json(cls, configuration: dict[str, Any] | None, json_path: str) -> ZstdCodec:
        config = _config(configuration, json_path, ("level", "checksum"))
        checksum = config.get("checksum", False)
        if not isinstance(checksum, bool):
            raise SpecError(f"{json_path}.configuration.checksum", f"expected boolean, but received: {describe(checksum)}")
        return cls(_int_member(config, "level", 3, -131072, 22, json_path), checksum)

    def encode(self, data: bytes) -> bytes:
        # zstandard where installed, as encode_into: importing numcodecs' Zstd imports every
        # numcodecs codec, 15-40 ms of a process that writes one zstd chunk.
        compressor = _zstd_compressor(self.level, self.checksum)
        if compressor is not None:
            return bytes(compressor.compress(memoryview(data).cast("B")))
        return bytes(self._codec.encode(data))

    def encode_into(self, data: Any, out: memoryview) -> int | None:
        compressor = _zstd_compressor(self.level, self.checksum)
        if compressor is None:
            return None
        source = memoryview(data).cast("B")
        written = 0
        with compressor.stream_reader(source, size=source.nbytes) as reader:
            while True:
                if written == out.nbytes:  # out is full: the frame may not be complete
                    return None
                count = reader.readinto(out[written:])
                if not count:
                    return written
                written += count

    def decode(self, data: bytes) -> bytes:
        return bytes(self._codec.decode(data))

    def decode_into(self, data: bytes, out: Any) -> bool:
        # Only a first frame declaring exactly out's size (or no size) is decoded here:
        # zstd then fails unless the whole data decodes to exactly out.nbytes bytes
        # (numcodecs checks the total of declared sizes, or the count of an unknown one).
        try:
            import zstandard
            from numcodecs import zstd

            if zstandard.frame_content_size(data) not in (-1, out.nbytes) or not out.nbytes:
                return False
            zstd.decompress(data, out)
        except Exception:
            return False  # decode_bounded reports what is wrong with the data
        return True

    def decode_bounded(self, data: bytes, max_size: int) -> bytes:
        return decompression.decompress_zstd(data, max_size)

    def max_encoded_size(self, decoded_size: int) -> int:
        return _compressed_bound(decoded_size)

    def to_json(self) -> dict[str, Any]:
        return {"configuration": {"checksum": self.checksum, "level": self.level}, "name": self.name}


class BloscCodec(BytesToBytesCodec):
    name = "blosc"
    encodes_buffers = True

    def __init__(self, cname: str, clevel: int, shuffle: str | None, typesize: int | None, blocksize: int) -> None:
        self.cname, self.clevel, self.shuffle = cname, clevel, shuffle
        self.typesize, self.blocksize = typesize, blocksize

    @classmethod
    def from_json(cls, configuration: dict[str, Any] | None, json_path: str) -> BloscCodec:
        config = _config(configuration, json_path, ("cname", "clevel", "shuffle", "typesize", "blocksize"))
        cname = config.get("cname", "lz4")
        if cname not in _BLOSC_CNAMES:
            raise SpecError(f"{json_path}.configuration.cname", f"expected one of {_one_of(_BLOSC_CNAMES)}, but received: {describe(cname)}")
        shuffle = config.get("shuffle")
        if shuffle is not None and shuffle not in _BLOSC_SHUFFLE:
            raise SpecError(f"{json_path}.configuration.shuffle", f"expected one of {_one_of(_BLOSC_SHUFFLE)}, but received: {describe(shuffle)}")
        typesize = config.get("typesize")
        if typesize is not None:
            typesize = _int_member(config, "typesize", 1, 1, 255, json_path)
        return cls(cname, _int_member(config, "clevel", 5, 0, 9, json_path), shuffle, typesize,
                   _int_member(config, "blocksize", 0, 0, 2**31 - 1, json_path))

    def resolve(self, decoded: ChunkSpec, json_path: str) -> None:
        itemsize = 1 if decoded.inner_shape else decoded.dtype.itemsize
        if self.typesize is None:
            self.typesize = itemsize
        if self.shuffle is None:
            self.shuffle = "bitshuffle" if itemsize == 1 else "shuffle"
        return None

    def encode(self, data: bytes) -> bytes:
        from numcodecs import blosc

        typesize = self.typesize or 1
        view = np.frombuffer(data, dtype=np.uint8)
        if typesize > 1 and len(data) % typesize == 0:
            view = view.view(np.dtype(f"V{typesize}"))
        return bytes(blosc.compress(view, self.cname.encode(), self.clevel, _BLOSC_SHUFFLE[self.shuffle or "noshuffle"], self.blocksize))

    def decode(self, data: bytes) -> bytes:
        from numcodecs import blosc

        return bytes(blosc.decompress(data))

    def decode_bounded(self, data: bytes, max_size: int) -> bytes:
        return decompression.decompress_blosc(data, max_size)

    def max_encoded_size(self, decoded_size: int) -> int:
        return _compressed_bound(decoded_size)

    def to_json(self) -> dict[str, Any]:
        return {
            "configuration": {"blocksize": self.blocksize, "clevel": self.clevel, "cname": self.cname,
                              "shuffle": self.shuffle, "typesize": self.typesize},
            "name": self.name,
        }


class Crc32cCodec(BytesToBytesCodec):
    """Appends a CRC-32C of the bytes; decoding checks and strips it."""

    fixed_size = True

    name = "crc32c"

    @classmethod
    def from_json(cls, configuration: dict[str, Any] | None, json_path: str) -> Crc32cCodec:
        _config(configuration, json_path, ())
        return cls()

    def encode(self, data: bytes) -> bytes:
        import google_crc32c

        checksum: int = google_crc32c.value(data)
        return data + checksum.to_bytes(CRC32C_SIZE, "little")

    def decode(self, data: bytes) -> bytes:
        import google_crc32c

        if len(data) < CRC32C_SIZE:
            raise ValueError(f"crc32c: {len(data)} bytes is too short to hold a checksum")
        payload, stored = data[:-CRC32C_SIZE], int.from_bytes(data[-CRC32C_SIZE:], "little")
        computed = google_crc32c.value(payload)
        if computed != stored:
            raise ValueError(f"crc32c checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")
        return payload

    def max_encoded_size(self, decoded_size: int) -> int:
        return decoded_size + CRC32C_SIZE

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name}
