"""The ``webp`` driver: a WebP image in one kvstore value."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from ....errors import SpecError, describe
from .._base import ImageDriver, ImageHeader

__all__ = ["WebpDriver"]

#: RIFF container: "RIFF", size, "WEBP", then the first chunk's fourcc at byte 12.
_CHUNK_OFFSET = 12
_PAYLOAD_OFFSET = 20
#: VP8L (lossless) bitstream signature byte (WebP lossless spec section 3.1).
_VP8L_SIGNATURE = 0x2F
#: VP8 key frame start code (RFC 6386 section 9.1).
_VP8_START_CODE = b"\x9d\x01\x2a"
#: Defaults as tensorstore documents them.
DEFAULT_QUALITY = 95
DEFAULT_LOSSLESS = True


class WebpDriver(ImageDriver):
    """WebP: lossless or lossy, 3 (RGB) or 4 (RGBA) channels."""

    id = "webp"
    format_name = "WebP"
    format_members = ("quality", "lossless")
    encodable_channels = (3, 4)

    def check_options(self) -> None:
        quality = self._spec_members.get("quality")
        if quality is not None and not (isinstance(quality, int | float) and 0 <= quality <= 100):
            raise SpecError("quality", f"expected a number from 0 to 100, but received: {describe(quality)}")

    def read_header(self, data: bytes) -> ImageHeader:
        if len(data) < _PAYLOAD_OFFSET or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
            raise ValueError("Failed to decode WebP: missing RIFF/WEBP signature")
        chunk = data[_CHUNK_OFFSET:_PAYLOAD_OFFSET - 4]
        if chunk == b"VP8X" and len(data) >= _PAYLOAD_OFFSET + 10:
            # Extended format: 24-bit canvas width - 1 and height - 1 after 4 flag bytes.
            width = 1 + int.from_bytes(data[24:27], "little")
            height = 1 + int.from_bytes(data[27:30], "little")
        elif chunk == b"VP8L" and len(data) >= _PAYLOAD_OFFSET + 5 and data[_PAYLOAD_OFFSET] == _VP8L_SIGNATURE:
            (bits,) = struct.unpack_from("<I", data, _PAYLOAD_OFFSET + 1)
            width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        elif chunk == b"VP8 " and len(data) >= _PAYLOAD_OFFSET + 10 and data[23:26] == _VP8_START_CODE:
            width, height = (n & 0x3FFF for n in struct.unpack_from("<HH", data, 26))
        else:
            raise ValueError("Failed to decode WebP: truncated or unknown bitstream header")
        return ImageHeader(height, width, 4)

    def decode_image(self, data: bytes) -> np.ndarray[Any, Any]:
        return self.codecs.webp_decode(data)  # type: ignore[no-any-return]

    def encode_image(self, image: np.ndarray[Any, Any]) -> bytes:
        quality = self._spec_members.get("quality", DEFAULT_QUALITY)
        lossless = bool(self._spec_members.get("lossless", DEFAULT_LOSSLESS))
        return bytes(self.codecs.webp_encode(image, level=float(quality), lossless=lossless))
