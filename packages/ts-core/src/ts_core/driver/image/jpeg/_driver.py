"""The ``jpeg`` driver: a JPEG image in one kvstore value."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from ....errors import SpecError, describe
from .._base import ImageDriver, ImageHeader

__all__ = ["JpegDriver"]

#: ITU T.81 table B.1 markers.
_SOI = 0xD8
_EOI = 0xD9
_SOS = 0xDA
_TEM = 0x01
_RST = range(0xD0, 0xD8)
#: Start-of-frame markers (baseline, extended, progressive, lossless, arithmetic...):
#: C0-CF except DHT (C4), JPG (C8) and DAC (CC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
#: Default quality, as tensorstore documents it.
DEFAULT_QUALITY = 75


class JpegDriver(ImageDriver):
    """JPEG: lossy, 1 (grayscale) or 3 (RGB) channels."""

    id = "jpeg"
    format_name = "JPEG"
    format_members = ("quality",)
    encodable_channels = (1, 3)

    def check_options(self) -> None:
        quality = self._spec_members.get("quality")
        if quality is not None and not (isinstance(quality, int | float) and 0 <= quality <= 100):
            raise SpecError("quality", f"expected a number from 0 to 100, but received: {describe(quality)}")

    def read_header(self, data: bytes) -> ImageHeader:
        if len(data) < 2 or data[0] != 0xFF or data[1] != _SOI:
            raise ValueError("Failed to decode JPEG: missing start-of-image marker")
        position = 2
        while position + 4 <= len(data):
            if data[position] != 0xFF:
                raise ValueError(f"Failed to decode JPEG: no marker at byte {position}")
            marker = data[position + 1]
            if marker == 0xFF:  # fill byte before a marker
                position += 1
                continue
            if marker in (_SOI, _TEM) or marker in _RST:
                position += 2
                continue
            if marker in (_EOI, _SOS):
                raise ValueError("Failed to decode JPEG: no frame header before the image data")
            (length,) = struct.unpack_from(">H", data, position + 2)
            if marker in _SOF:
                if position + 10 > len(data):
                    break
                precision, height, width, components = struct.unpack_from(">BHHB", data, position + 4)
                return ImageHeader(height, width, max(components, 1), 2 if precision > 8 else 1)
            position += 2 + length
        raise ValueError("Failed to decode JPEG: truncated before the frame header")

    def decode_image(self, data: bytes) -> np.ndarray[Any, Any]:
        return self.codecs.jpeg8_decode(data)  # type: ignore[no-any-return]

    def encode_image(self, image: np.ndarray[Any, Any]) -> bytes:
        quality = self._spec_members.get("quality", DEFAULT_QUALITY)
        source = image[:, :, 0] if image.shape[2] == 1 else image
        return bytes(self.codecs.jpeg8_encode(source, level=round(quality)))
