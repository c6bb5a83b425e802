"""The ``raw`` precomputed encoding: the voxels as little-endian values, ``x`` fastest
and ``channel`` slowest (neuroglancer's "raw chunk encoding")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ts_core.errors import ChunkError

from .encoding_api import ChunkEncoding, from_czyx, to_czyx

__all__ = ["RawEncoding"]


class RawEncoding(ChunkEncoding):
    """Uncompressed chunks; any data type and channel count."""

    name: ClassVar[str] = "raw"

    @classmethod
    def check(cls, data_type: np.dtype[Any], num_channels: int, scale: Mapping[str, Any], json_path: str) -> None:
        return None  # every data type and channel count can be stored raw

    def __init__(
        self, data_type: np.dtype[Any], num_channels: int, scale: Mapping[str, Any], options: Mapping[str, Any]
    ) -> None:
        #: Stored element type: the data type in little-endian byte order.
        self.stored_dtype = np.dtype(data_type).newbyteorder("<")
        self.num_channels = num_channels

    def encode(self, chunk: np.ndarray) -> bytes:
        return to_czyx(np.asarray(chunk, dtype=self.stored_dtype)).tobytes()

    def decode(self, data: bytes, shape: tuple[int, int, int, int]) -> np.ndarray:
        expected = self.stored_dtype.itemsize * int(np.prod(shape))
        if len(data) != expected:
            raise ChunkError(
                f"raw chunk of shape {list(shape)} (x, y, z, channel) should have {expected} bytes, "
                f"but has {len(data)}"
            )
        x, y, z, channels = shape
        return from_czyx(np.frombuffer(data, dtype=self.stored_dtype).reshape(channels, z, y, x))
