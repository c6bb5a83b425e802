"""The N5 data block format (N5 spec, "Data block format").

A block is a big-endian header -- mode (uint16), number of dimensions (uint16), the size
of each dimension (uint32, in ``attributes.json`` order) -- followed by the compressed
element data: big-endian, the first dimension varying fastest. A block at the upper edge
of the array may store only its in-bounds part; its header then gives that smaller size.
Mode 1 ("varlength") adds the element count after the sizes and is not supported.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from ._compression import RawCompression
from .compression_api import N5Compression

__all__ = ["BlockCodec"]

#: Block modes (N5 spec, "Data block format": mode).
MODE_DEFAULT = 0
MODE_VARLENGTH = 1
_MODE_AND_RANK = struct.Struct(">HH")
_SIZE = struct.Struct(">I")


class BlockCodec:
    """Encodes and decodes the blocks of one array (block shape, element type, compression)."""

    def __init__(self, block_size: tuple[int, ...], stored_dtype: np.dtype[Any], compression: N5Compression) -> None:
        self.block_size = block_size
        self.stored_dtype = stored_dtype
        self.native_dtype = stored_dtype.newbyteorder("=")
        self.compression = compression
        rank = len(block_size)
        self._header_format = struct.Struct(f">HH{rank}I")
        self._full_header = self._header_format.pack(MODE_DEFAULT, rank, *block_size)

    def decode(self, data: bytes) -> np.ndarray[Any, Any]:
        """A full block (native byte order); a smaller stored block is padded with zeros."""
        sizes = self._parse_header(data)  # within blockSize, so ``expected`` is bounded too
        rank = len(self.block_size)
        count = 1
        for size in sizes:
            count *= size
        expected = count * self.stored_dtype.itemsize
        # Decompression stops at the size the header declares: a small hostile block cannot expand.
        payload = self.compression.decode_bounded(data[_MODE_AND_RANK.size + rank * _SIZE.size :], expected)
        if len(payload) != expected:
            shape = "x".join(map(str, sizes)) or "scalar"
            raise ValueError(
                f"block of size {shape} needs {expected} bytes of {self.stored_dtype.name} data after "
                f"decompression, but has {len(payload)}"
            )
        # First dimension fastest: Fortran order, i.e. C order of the reversed shape.
        elements = np.frombuffer(payload, dtype=self.stored_dtype).reshape(sizes[::-1]).T
        if sizes == self.block_size:
            return elements.astype(self.native_dtype, order="F")
        block = np.zeros(self.block_size, dtype=self.native_dtype, order="F")
        block[tuple(slice(0, size) for size in sizes)] = elements
        return block

    def _parse_header(self, data: bytes) -> tuple[int, ...]:
        if len(data) < _MODE_AND_RANK.size:
            raise ValueError(f"block of {len(data)} bytes is shorter than the {_MODE_AND_RANK.size}-byte header start")
        mode, rank = _MODE_AND_RANK.unpack_from(data)
        if mode == MODE_VARLENGTH:
            raise ValueError("varlength blocks (header mode 1) are not supported")
        if mode != MODE_DEFAULT:
            raise ValueError(f"unknown block header mode {mode} (expected 0)")
        if rank != len(self.block_size):
            raise ValueError(f"block header has {rank} dimensions but the array has {len(self.block_size)}")
        header_length = self._header_format.size
        if len(data) < header_length:
            raise ValueError(f"block of {len(data)} bytes is shorter than its {header_length}-byte header")
        sizes = tuple(self._header_format.unpack_from(data)[2:])
        if any(size > limit for size, limit in zip(sizes, self.block_size, strict=True)):
            raise ValueError(
                f"block header size {list(sizes)} exceeds the blockSize {list(self.block_size)}"
            )
        return sizes

    def encode(self, block: np.ndarray[Any, Any]) -> bytes:
        """A full block, as tensorstore writes every block (edge blocks included)."""
        if isinstance(self.compression, RawCompression):
            # Transpose and byte-swap straight into the output buffer: one pass, one copy.
            out = bytearray(len(self._full_header) + block.size * self.stored_dtype.itemsize)
            out[: len(self._full_header)] = self._full_header
            target = np.frombuffer(out, dtype=self.stored_dtype, offset=len(self._full_header))
            target.reshape(self.block_size[::-1])[...] = block.T
            return bytes(out)
        payload = np.empty(self.block_size[::-1], dtype=self.stored_dtype)
        payload[...] = block.T
        return self._full_header + self.compression.encode(payload.data, self.stored_dtype.itemsize)
