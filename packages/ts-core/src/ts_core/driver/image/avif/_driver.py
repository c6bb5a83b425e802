"""The ``avif`` driver: an AVIF image in one kvstore value."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from ....errors import SpecError, describe
from .._base import ImageDriver, ImageHeader

__all__ = ["AvifDriver"]

#: ISO/IEC 23008-12 section 6.5.3: the image spatial extents property box: a full-box
#: header (version and flags, 4 bytes), then 32-bit width and height.
_ISPE = b"ispe"
#: AV1 quantizer range (0 = best quality); tensorstore's default is 0, speed 6.
MAX_QUANTIZER = 63
DEFAULT_QUANTIZER = 0
DEFAULT_SPEED = 6
#: The AV1 codec configuration box and its bit-depth flags.
_AV1C = b"av1C"
_HIGH_BITDEPTH = 0x40
_TWELVE_BIT = 0x20
#: AVIF decodes at most 12 bits per sample (2 bytes before conversion to 8 bits).
_MAX_SAMPLE_BYTES = 2


class AvifDriver(ImageDriver):
    """AVIF: 1 to 4 channels, any encoded bit depth read as 8 bits."""

    id = "avif"
    format_name = "AVIF"
    format_members = ("quantizer", "speed")

    def check_options(self) -> None:
        quantizer = self._spec_members.get("quantizer")
        if quantizer is not None and not (isinstance(quantizer, int | float) and 0 <= quantizer <= MAX_QUANTIZER):
            raise SpecError("quantizer", f"expected a number from 0 to {MAX_QUANTIZER}, but received: {describe(quantizer)}")
        speed = self._spec_members.get("speed")
        if speed is not None and not (isinstance(speed, int | float) and 0 <= speed <= 10):
            raise SpecError("speed", f"expected a number from 0 to 10, but received: {describe(speed)}")

    def read_header(self, data: bytes) -> ImageHeader:
        if len(data) < 12 or data[4:8] != b"ftyp":
            raise ValueError("Failed to decode AVIF: missing ftyp box")
        height = width = 0
        position = data.find(_ISPE)
        while position >= 0:  # every extents box: the largest counts
            if position + 16 <= len(data):
                box_width, box_height = struct.unpack_from(">II", data, position + 8)
                width, height = max(width, box_width), max(height, box_height)
            position = data.find(_ISPE, position + 1)
        if not (width and height):
            raise ValueError("Failed to decode AVIF: no image extents (ispe) in the header")
        return ImageHeader(height, width, 4, _MAX_SAMPLE_BYTES)

    def decode_image(self, data: bytes) -> np.ndarray[Any, Any]:
        image: np.ndarray[Any, Any] = self.codecs.avif_decode(data)
        if image.dtype == np.uint16:  # 10 or 12 bits: rescale to 8, as tensorstore does
            scale = 255 / ((1 << _bit_depth(data)) - 1)
            image = np.round(image.astype(np.float32) * scale).astype(np.uint8)
        return image

    def encode_image(self, image: np.ndarray[Any, Any]) -> bytes:
        quantizer = float(self._spec_members.get("quantizer", DEFAULT_QUANTIZER))
        speed = int(self._spec_members.get("speed", DEFAULT_SPEED))
        # imagecodecs takes a quality (100: lossless); quantizer 0 is the best quality.
        quality = round(100 * (MAX_QUANTIZER - quantizer) / MAX_QUANTIZER)
        source = image[:, :, 0] if image.shape[2] == 1 else image
        return bytes(self.codecs.avif_encode(source, level=quality, speed=speed))


def _bit_depth(data: bytes) -> int:
    """Bits per sample from the AV1 codec configuration box (AV1-ISOBMFF section 2.3.3:
    the third byte holds high_bitdepth and twelve_bit); 10 if it cannot be found."""
    position = data.find(_AV1C)
    if position < 0 or position + 7 > len(data):
        return 10
    flags = data[position + 6]
    if flags & _TWELVE_BIT:
        return 12
    return 10 if flags & _HIGH_BITDEPTH else 8
