"""The ``png`` precomputed encoding: a uint8 or uint16 chunk of 1 to 4 channels as one
lossless PNG image (layout in ``_image_common``), through libpng (imagecodecs).

``png_level`` (zlib level 0-9) says how to write; as tensorstore does, a scale created
with one stores it in ``info``, and without one libpng's default level is used. Levels
below 3 write unfiltered rows (favouring speed), as tensorstore's writer does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import imagecodecs
import numpy as np

from ts_core.errors import ChunkError

from ._image_common import (
    ImageDimensions,
    check_image_volume,
    decode_image,
    image_from_chunk,
    integer_option,
)
from .encoding_api import ChunkEncoding

__all__ = ["PngEncoding"]

#: PNG file signature (PNG specification, section 5.2).
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Byte layout of the IHDR chunk that must follow the signature (section 11.2.2): length,
#: type, then width, height, bit depth and colour type.
_IHDR_TYPE = b"IHDR"
_IHDR_END = 8 + 8 + 13
#: Samples per pixel of each PNG colour type but the palette one (3), which no
#: precomputed writer produces and which is refused.
_COLOUR_TYPE_COMPONENTS = {0: 1, 2: 3, 4: 2, 6: 4}
_PALETTE_COLOUR_TYPE = 3
_LEVEL_MEMBER = "png_level"
#: Below this zlib level, rows are written unfiltered (tensorstore's choice too).
_FILTERED_FROM_LEVEL = 3


def png_dimensions(data: bytes) -> ImageDimensions:
    """``(width, height, components, bits)`` from a PNG's IHDR chunk, read without decoding."""
    header = bytes(data[:_IHDR_END])
    if len(header) < _IHDR_END or not header.startswith(_SIGNATURE) or header[12:16] != _IHDR_TYPE:
        raise ChunkError("png chunk does not start with a PNG signature and IHDR header")
    width = int.from_bytes(header[16:20], "big")
    height = int.from_bytes(header[20:24], "big")
    bits, colour_type = header[24], header[25]
    components = _COLOUR_TYPE_COMPONENTS.get(colour_type)
    if colour_type == _PALETTE_COLOUR_TYPE:
        raise ChunkError("png chunk is a palette image; chunks hold their samples directly")
    if components is None:
        raise ChunkError(f"png chunk has an invalid colour type {colour_type}")
    return width, height, components, bits


class PngEncoding(ChunkEncoding):
    """Lossless PNG chunks of uint8 or uint16 volumes with 1 to 4 channels."""

    name: ClassVar[str] = "png"
    scale_members: ClassVar[tuple[str, ...]] = (_LEVEL_MEMBER,)

    @classmethod
    def check(cls, data_type: np.dtype[Any], num_channels: int, scale: Mapping[str, Any], json_path: str) -> None:
        check_image_volume(cls.name, ("uint8", "uint16"), (1, 2, 3, 4), data_type, num_channels, json_path)
        integer_option(scale, _LEVEL_MEMBER, json_path, 0, 9)

    @classmethod
    def normalized_members(cls, scale: Mapping[str, Any]) -> dict[str, Any]:
        level = integer_option(scale, _LEVEL_MEMBER, "", 0, 9)
        return {} if level is None else {_LEVEL_MEMBER: level}

    def __init__(
        self, data_type: np.dtype[Any], num_channels: int, scale: Mapping[str, Any], options: Mapping[str, Any]
    ) -> None:
        level = integer_option(scale, _LEVEL_MEMBER, "", 0, 9)
        #: The zlib level chunks are written with (None: libpng's default).
        self.level = integer_option(options, _LEVEL_MEMBER, "", 0, 9) if level is None else level
        #: Native-order element type: PNG stores 16-bit samples big-endian and libpng swaps.
        self.dtype = np.dtype(data_type).newbyteorder("=")
        self.num_channels = num_channels

    def encode(self, chunk: np.ndarray) -> bytes:
        image = image_from_chunk(np.asarray(chunk, dtype=self.dtype))
        if self.level is None:
            return bytes(imagecodecs.png_encode(image))
        unfiltered = self.level < _FILTERED_FROM_LEVEL
        png_filter = imagecodecs.PNG.FILTER.NONE if unfiltered else None
        return bytes(imagecodecs.png_encode(image, level=self.level, filter=png_filter))

    def decode(self, data: bytes, shape: tuple[int, int, int, int]) -> np.ndarray:
        return decode_image("png", data, shape, self.dtype, png_dimensions, imagecodecs.png_decode, (imagecodecs.PngError,))
