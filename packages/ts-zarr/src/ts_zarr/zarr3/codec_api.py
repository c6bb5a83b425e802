"""The contract of a zarr v3 codec plugin (import this module, nothing else).

A codec is registered with ``registry.add("codec", name, "module:Class", namespace="zarr3")``
and built by ``Class.from_json(configuration, json_path)``. Before use, ``resolve`` is called
with what the codec receives (shape and dtype of the decoded chunk) and returns what it
produces for the next codec, so shape and chain-order errors surface at open time.

Decoding is bounded: the chain knows the size each bytes -> bytes codec's output can have
(from the chunk spec, through ``max_encoded_size`` of the codecs before it) and calls
``decode_bounded``; a compressing codec overrides it to stop at that size (see
``ts_core.decompression``), so a small hostile chunk cannot expand in memory.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import attrs
import numpy as np

__all__ = ["ENCODED_EXPANSION", "ENCODED_OVERHEAD", "ArrayToArrayCodec", "ArrayToBytesCodec", "BytesToBytesCodec", "ChunkSpec", "Zarr3Codec"]

#: What a codec that does not say otherwise may encode ``n`` bytes to:
#: ``ENCODED_EXPANSION * n + ENCODED_OVERHEAD`` (compressors stay far below it).
ENCODED_EXPANSION = 2
ENCODED_OVERHEAD = 4096


@attrs.frozen
class ChunkSpec:
    """What a codec sees: the chunk shape, element dtype, trailing element shape and fill value."""

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    inner_shape: tuple[int, ...] = ()
    fill_value: Any = None

    @property
    def full_shape(self) -> tuple[int, ...]:
        """Shape of the in-memory array (chunk dimensions, then the element's own)."""
        return self.shape + self.inner_shape

    @property
    def nbytes(self) -> int:
        """Bytes of the in-memory array."""
        count = 1
        for size in self.full_shape:
            count *= size
        return count * self.dtype.itemsize


class Zarr3Codec(abc.ABC):
    """One entry of ``codecs``: ``name`` plus its configuration."""

    #: ``"array_to_array"``, ``"array_to_bytes"`` or ``"bytes_to_bytes"``.
    kind: ClassVar[str]
    name: ClassVar[str]

    @classmethod
    @abc.abstractmethod
    def from_json(cls, configuration: dict[str, Any] | None, json_path: str) -> Zarr3Codec:
        """Build from the ``configuration`` member (None when absent); SpecError when invalid."""

    def resolve(self, decoded: ChunkSpec, json_path: str) -> Any:
        """Check the input and return the output spec (a ChunkSpec, or None for bytes)."""
        return None

    @abc.abstractmethod
    def to_json(self) -> dict[str, Any]:
        """The codec's JSON as tensorstore writes it (``name`` and ``configuration``)."""


class ArrayToArrayCodec(Zarr3Codec):
    kind = "array_to_array"

    @abc.abstractmethod
    def encode(self, array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]: ...

    @abc.abstractmethod
    def decode(self, array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]: ...


class ArrayToBytesCodec(Zarr3Codec):
    kind = "array_to_bytes"

    @abc.abstractmethod
    def encode(self, array: np.ndarray[Any, Any], spec: ChunkSpec) -> bytes: ...

    @abc.abstractmethod
    def decode(self, data: bytes, spec: ChunkSpec) -> np.ndarray[Any, Any]: ...

    def max_encoded_size(self, spec: ChunkSpec) -> int:
        """At most how many bytes a chunk of ``spec`` encodes to (bounds the decoders after)."""
        return ENCODED_EXPANSION * spec.nbytes + ENCODED_OVERHEAD


class BytesToBytesCodec(Zarr3Codec):
    kind = "bytes_to_bytes"

    #: Whether the encoded size depends only on the decoded size (a checksum, not a
    #: compressor): only such codecs may encode a shard index, which is read by size.
    fixed_size: bool = False
    #: Whether ``encode`` also accepts a flat C-contiguous ``uint8`` array in place of
    #: bytes and keeps no reference to it; then the chain hands a first such codec a
    #: reused buffer instead of a new bytes object per chunk.
    encodes_buffers: bool = False

    @abc.abstractmethod
    def encode(self, data: bytes) -> bytes: ...

    @abc.abstractmethod
    def decode(self, data: bytes) -> bytes: ...

    def encode_into(self, data: Any, out: memoryview) -> int | None:
        """Encode ``data`` (as ``encode`` takes it) into the writable ``out``, which holds
        ``max_encoded_size(len(data))`` bytes; the number of bytes written, or None when
        this codec cannot (then the chain calls ``encode``). Lets a bulk write encode each
        chunk into a buffer its thread reuses instead of a new bytes object."""
        return None

    def decode_into(self, data: bytes, out: Any) -> bool:
        """Decode ``data`` into the writable flat ``uint8`` array ``out`` if it decodes to
        exactly ``out.nbytes`` bytes: True when it did, False when this codec cannot or the
        data is of another size (then the chain calls ``decode_bounded``, which reports
        any error). Lets a read-modify-write decode into a buffer its thread reuses."""
        return False

    def max_encoded_size(self, decoded_size: int) -> int:
        """At most how many bytes ``decoded_size`` bytes encode to."""
        return ENCODED_EXPANSION * decoded_size + ENCODED_OVERHEAD

    def decode_bounded(self, data: bytes, max_size: int) -> bytes:
        """``decode``, failing (ValueError) rather than producing more than ``max_size`` bytes.

        This default checks after decoding; a decompressing codec overrides it to stop early.
        """
        decoded = self.decode(data)
        if len(decoded) > max_size:
            raise ValueError(f'"{self.name}" decoded to {len(decoded)} bytes, more than the {max_size} expected')
        return decoded
