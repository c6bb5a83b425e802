"""The contract of a zarr v3 codec plugin (import this module, nothing else).

A codec is registered with ``registry.add("codec", name, "module:Class", namespace="zarr3")``
and built by ``Class.from_json(configuration, json_path)``. Before use, ``resolve`` is called
with what the codec receives (shape and dtype of the decoded chunk) and returns what it
produces for the next codec, so shape and chain-order errors surface at open time.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import attrs
import numpy as np

__all__ = ["ArrayToArrayCodec", "ArrayToBytesCodec", "BytesToBytesCodec", "ChunkSpec", "Zarr3Codec"]


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


class BytesToBytesCodec(Zarr3Codec):
    kind = "bytes_to_bytes"

    @abc.abstractmethod
    def encode(self, data: bytes) -> bytes: ...

    @abc.abstractmethod
    def decode(self, data: bytes) -> bytes: ...
