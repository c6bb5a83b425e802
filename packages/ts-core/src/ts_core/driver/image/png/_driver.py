"""The ``png`` driver: a PNG image in one kvstore value."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from ....errors import SpecError, describe
from .._base import ImageDriver, ImageHeader

__all__ = ["PngDriver"]

#: PNG specification section 5.2: the eight bytes every PNG file starts with.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Section 11.2.2: IHDR is the first chunk; its width and height follow the chunk type.
_IHDR_OFFSET = len(PNG_SIGNATURE) + 4
_IHDR_END = _IHDR_OFFSET + 4 + 13
#: Section 11.2.2, colour type -> samples per pixel (a palette expands to at most RGBA).
_CHANNELS = {0: 1, 2: 3, 3: 4, 4: 2, 6: 4}


class PngDriver(ImageDriver):
    """PNG: lossless, 1 to 4 channels."""

    id = "png"
    format_name = "PNG"
    format_members = ("compression_level",)

    def check_options(self) -> None:
        level = self._spec_members.get("compression_level")
        if level is not None and not (isinstance(level, int) and -1 <= level <= 9):
            raise SpecError("compression_level", f"expected an integer from 0 to 9 (or -1), but received: {describe(level)}")

    def read_header(self, data: bytes) -> ImageHeader:
        if not data.startswith(PNG_SIGNATURE):
            raise ValueError("Failed to decode PNG: missing PNG signature")
        if len(data) < _IHDR_END or data[_IHDR_OFFSET:_IHDR_OFFSET + 4] != b"IHDR":
            raise ValueError("Failed to decode PNG: truncated header (no IHDR chunk)")
        width, height, bit_depth, color_type = struct.unpack_from(">IIBB", data, _IHDR_OFFSET + 4)
        if color_type not in _CHANNELS:
            raise ValueError(f"Failed to decode PNG: invalid colour type {color_type}")
        return ImageHeader(height, width, _CHANNELS[color_type], 2 if bit_depth == 16 else 1)

    def decode_image(self, data: bytes) -> np.ndarray[Any, Any]:
        return self.codecs.png_decode(data)  # type: ignore[no-any-return]

    def encode_image(self, image: np.ndarray[Any, Any]) -> bytes:
        level = self._spec_members.get("compression_level")
        return bytes(self.codecs.png_encode(_squeeze(image), level=None if level == -1 else level))


def _squeeze(image: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A one-channel image as 2-d (how the codecs take grayscale)."""
    return image[:, :, 0] if image.shape[2] == 1 else image
