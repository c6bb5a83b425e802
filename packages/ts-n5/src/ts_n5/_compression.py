"""The N5 compressions tensorstore writes: raw, gzip (and zlib), bzip2, xz, blosc, zstd.

Parameters, ranges and defaults follow tensorstore's n5 driver so ``attributes.json``
round-trips byte for byte; gzip/zlib, bzip2 and xz use the standard library, blosc and
zstd use numcodecs' C implementations.
"""

from __future__ import annotations

import bz2
import lzma
import struct
import zlib
from collections.abc import Mapping
from typing import Any

import attrs

from ts_core import decompression
from ts_core.errors import SpecError, describe

from .compression_api import N5Compression, check_members, integer_member

__all__ = [
    "BloscCompression",
    "Bzip2Compression",
    "GzipCompression",
    "RawCompression",
    "XzCompression",
    "ZstdCompression",
    "default_compression",
    "parse_compression",
]

#: Plugin namespace of N5 compressions.
CODEC_NAMESPACE = "n5"
#: zlib's ``wbits`` for a gzip wrapper (RFC 1952) and a zlib wrapper (RFC 1950).
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_ZLIB_WBITS = zlib.MAX_WBITS
#: Blosc compressor names tensorstore accepts.
BLOSC_CNAMES = ("blosclz", "lz4", "lz4hc", "snappy", "zlib", "zstd")
#: Members of a blosc ``compression`` that other writers add about how they compressed
#: (z5py and n5-blosc: ``nthreads``, the compression threads); accepted and ignored.
BLOSC_WRITER_SETTINGS = frozenset({"nthreads"})
#: Blosc shuffle modes (no shuffle, byte shuffle, bit shuffle).
BLOSC_SHUFFLES = (0, 1, 2)
_MAX_INT32 = 2**31 - 1
#: Size of the c-blosc frame header (c-blosc README_HEADER: version ... cbytes).
_BLOSC_HEADER_SIZE = 16
#: Header bytes 4-15: decompressed size, block size, compressed size (little-endian uint32).
_BLOSC_SIZES = struct.Struct("<III")


def parse_compression(json_value: Any, json_path: str) -> N5Compression:
    """The compression a ``compression`` object names (a plugin in the ``n5`` namespace)."""
    from ts_core.plugin import get_registry

    if not isinstance(json_value, Mapping):
        raise SpecError(json_path, f"expected object, but received: {describe(json_value)}")
    compression_type = json_value.get("type")
    if not isinstance(compression_type, str):
        raise SpecError(f"{json_path}.type", f"expected string, but received: {describe(compression_type)}")
    record = get_registry().find("codec", compression_type, CODEC_NAMESPACE)
    if record is None:
        known = ", ".join(get_registry().ids("codec", CODEC_NAMESPACE))
        raise SpecError(
            f"{json_path}.type", f'"{compression_type}" is not a registered N5 compression (known: {known})'
        )
    compression_class: type[N5Compression] = record.load()
    return compression_class.from_json(json_value, json_path)


def default_compression(itemsize: int) -> dict[str, Any]:
    """tensorstore's compression for new N5 arrays: blosc lz4, bit shuffle for 1-byte types."""
    shuffle = 2 if itemsize == 1 else 1
    return {"blocksize": 0, "clevel": 5, "cname": "lz4", "shuffle": shuffle, "type": "blosc"}


@attrs.frozen
class RawCompression(N5Compression):
    """No compression."""

    type = "raw"

    @classmethod
    def from_json(cls, json_value: Mapping[str, Any], json_path: str) -> RawCompression:
        check_members(json_value, set(), json_path)
        return cls()

    def parameters(self) -> dict[str, Any]:
        return {}

    def encode(self, data: bytes | memoryview, itemsize: int) -> bytes:
        return bytes(data)

    def decode(self, data: bytes) -> bytes:
        return data

    def decode_bounded(self, data: bytes, max_size: int) -> bytes:
        return data  # the block checks the size; nothing is allocated


@attrs.frozen
class GzipCompression(N5Compression):
    """Deflate in a gzip wrapper, or a zlib wrapper with ``useZlib``."""

    type = "gzip"
    level: int = -1
    use_zlib: bool = False

    @classmethod
    def from_json(cls, json_value: Mapping[str, Any], json_path: str) -> GzipCompression:
        check_members(json_value, {"level", "useZlib"}, json_path)
        level = integer_member(json_value, "level", json_path, -1, 9, -1)
        use_zlib = json_value.get("useZlib", False)
        if not isinstance(use_zlib, bool):
            raise SpecError(f"{json_path}.useZlib", f"expected boolean, but received: {describe(use_zlib)}")
        return cls(level=level, use_zlib=use_zlib)

    def parameters(self) -> dict[str, Any]:
        return {"level": self.level, "useZlib": self.use_zlib}

    def encode(self, data: bytes | memoryview, itemsize: int) -> bytes:
        compressor = zlib.compressobj(self.level, zlib.DEFLATED, _ZLIB_WBITS if self.use_zlib else _GZIP_WBITS)
        return compressor.compress(data) + compressor.flush()

    def decode(self, data: bytes) -> bytes:
        decompressor = zlib.decompressobj(_ZLIB_WBITS if self.use_zlib else _GZIP_WBITS)
        result = decompressor.decompress(data) + decompressor.flush()
        if not decompressor.eof:
            raise ValueError("truncated gzip/zlib stream")
        return result

    def decode_bounded(self, data: bytes, max_size: int) -> bytes:
        return decompression.decompress_zlib(data, max_size, wbits=_ZLIB_WBITS if self.use_zlib else _GZIP_WBITS)


@attrs.frozen
class Bzip2Compression(N5Compression):
    """bzip2 with a block size of ``blockSize`` x 100 kB."""

    type = "bzip2"
    block_size: int = 9

    @classmethod
    def from_json(cls, json_value: Mapping[str, Any], json_path: str) -> Bzip2Compression:
        check_members(json_value, {"blockSize"}, json_path)
        return cls(block_size=integer_member(json_value, "blockSize", json_path, 1, 9, 9))

    def parameters(self) -> dict[str, Any]:
        return {"blockSize": self.block_size}

    def encode(self, data: bytes | memoryview, itemsize: int) -> bytes:
        return bz2.compress(data, self.block_size)

    def decode(self, data: bytes) -> bytes:
        decompressor = bz2.BZ2Decompressor()
        result = decompressor.decompress(data)
        if not decompressor.eof:
            raise ValueError("truncated bzip2 stream")
        return result

    def decode_bounded(self, data: bytes, max_size: int) -> bytes:
        return decompression.decompress_bz2(data, max_size)


@attrs.frozen
class XzCompression(N5Compression):
    """xz container (CRC64 check) with an LZMA2 ``preset``."""

    type = "xz"
    preset: int = 6

    @classmethod
    def from_json(cls, json_value: Mapping[str, Any], json_path: str) -> XzCompression:
        check_members(json_value, {"preset"}, json_path)
        return cls(preset=integer_member(json_value, "preset", json_path, 0, 9, 6))

    def parameters(self) -> dict[str, Any]:
        return {"preset": self.preset}

    def encode(self, data: bytes | memoryview, itemsize: int) -> bytes:
        return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=self.preset)

    def decode(self, data: bytes) -> bytes:
        decompressor = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
        result = decompressor.decompress(data)
        if not decompressor.eof:
            raise ValueError("truncated xz stream")
        return result

    def decode_bounded(self, data: bytes, max_size: int) -> bytes:
        return decompression.decompress_lzma(data, max_size, format=lzma.FORMAT_XZ)


@attrs.frozen
class BloscCompression(N5Compression):
    """Blosc; the element size is the blosc type size, so shuffling works on elements."""

    type = "blosc"
    cname: str = "lz4"
    clevel: int = 5
    shuffle: int = 1
    blocksize: int = 0

    @classmethod
    def from_json(cls, json_value: Mapping[str, Any], json_path: str) -> BloscCompression:
        check_members(json_value, {"cname", "clevel", "shuffle", "blocksize"}, json_path, BLOSC_WRITER_SETTINGS)
        integer_member(json_value, "nthreads", json_path, 0, _MAX_INT32, 1)  # checked, then ignored
        if "cname" not in json_value:
            raise SpecError(json_path, 'missing required member "cname"')
        cname = json_value["cname"]
        if cname not in BLOSC_CNAMES:
            raise SpecError(
                f"{json_path}.cname", f"expected one of {', '.join(BLOSC_CNAMES)}, but received: {describe(cname)}"
            )
        return cls(
            cname=cname,
            clevel=integer_member(json_value, "clevel", json_path, 0, 9, None),
            shuffle=integer_member(json_value, "shuffle", json_path, 0, 2, None),
            blocksize=integer_member(json_value, "blocksize", json_path, 0, _MAX_INT32, 0),
        )

    def parameters(self) -> dict[str, Any]:
        return {"blocksize": self.blocksize, "clevel": self.clevel, "cname": self.cname, "shuffle": self.shuffle}

    def encode(self, data: bytes | memoryview, itemsize: int) -> bytes:
        from numcodecs import blosc

        return bytes(
            blosc.compress(data, self.cname.encode(), self.clevel, self.shuffle, self.blocksize, typesize=itemsize)
        )

    def decode(self, data: bytes) -> bytes:
        from numcodecs import blosc

        if len(data) < _BLOSC_HEADER_SIZE:
            raise ValueError(f"blosc stream of {len(data)} bytes is shorter than its {_BLOSC_HEADER_SIZE}-byte header")
        # c-blosc trusts the sizes in its header; check them so a truncated block is an error.
        decompressed_size, _, compressed_size = _BLOSC_SIZES.unpack_from(data, 4)
        if compressed_size != len(data):
            raise ValueError(f"blosc stream has {len(data)} bytes, but its header says {compressed_size}")
        if decompressed_size == 0:
            return b""  # c-blosc refuses to decompress an empty frame
        return bytes(blosc.decompress(data))

    def decode_bounded(self, data: bytes, max_size: int) -> bytes:
        return decompression.decompress_blosc(data, max_size)


@attrs.frozen
class ZstdCompression(N5Compression):
    """Zstandard; level 0 means zstd's default level."""

    type = "zstd"
    level: int = 0

    @classmethod
    def from_json(cls, json_value: Mapping[str, Any], json_path: str) -> ZstdCompression:
        check_members(json_value, {"level"}, json_path)
        return cls(level=integer_member(json_value, "level", json_path, -131072, 22, 0))

    def parameters(self) -> dict[str, Any]:
        return {"level": self.level}

    def encode(self, data: bytes | memoryview, itemsize: int) -> bytes:
        from numcodecs import Zstd

        return bytes(Zstd(level=self.level).encode(data))

    def decode(self, data: bytes) -> bytes:
        from numcodecs import Zstd

        return bytes(Zstd().decode(data))

    def decode_bounded(self, data: bytes, max_size: int) -> bytes:
        return decompression.decompress_zstd(data, max_size)
