"""The ``bmp`` driver: a BMP image in one kvstore value."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from .._base import ImageDriver, ImageHeader

__all__ = ["BmpDriver"]

#: The file header: "BM", file size, reserved, pixel-data offset (14 bytes).
_FILE_HEADER_BYTES = 14
#: The OS/2 1.x core header (16-bit width and height); later headers are at least 40 bytes.
_CORE_HEADER_BYTES = 12
_INFO_HEADER_BYTES = 40


class BmpDriver(ImageDriver):
    """BMP: uncompressed, 1, 3 or 4 channels."""

    id = "bmp"
    format_name = "BMP"
    encodable_channels = (1, 3, 4)

    def read_header(self, data: bytes) -> ImageHeader:
        if not data.startswith(b"BM"):
            raise ValueError("Failed to decode BMP: missing BMP signature")
        if len(data) < _FILE_HEADER_BYTES + 4:
            raise ValueError("Failed to decode BMP: truncated header")
        (header_size,) = struct.unpack_from("<I", data, _FILE_HEADER_BYTES)
        if header_size == _CORE_HEADER_BYTES and len(data) >= _FILE_HEADER_BYTES + _CORE_HEADER_BYTES:
            width, height = struct.unpack_from("<HH", data, _FILE_HEADER_BYTES + 4)
        elif header_size >= _INFO_HEADER_BYTES and len(data) >= _FILE_HEADER_BYTES + _INFO_HEADER_BYTES:
            width, height = struct.unpack_from("<ii", data, _FILE_HEADER_BYTES + 4)
        else:
            raise ValueError(f"Failed to decode BMP: truncated or unsupported header ({header_size} bytes)")
        return ImageHeader(abs(height), width, 4)  # a negative height is a top-down image

    def decode_image(self, data: bytes) -> np.ndarray[Any, Any]:
        return self.codecs.bmp_decode(data)  # type: ignore[no-any-return]

    def encode_image(self, image: np.ndarray[Any, Any]) -> bytes:
        return bytes(self.codecs.bmp_encode(image[:, :, 0] if image.shape[2] == 1 else image))
