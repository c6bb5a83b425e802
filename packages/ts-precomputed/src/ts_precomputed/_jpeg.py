"""The ``jpeg`` precomputed encoding: a uint8 chunk of 1 (grey) or 3 (RGB) channels as one
baseline JPEG image (layout in ``_image_common``), through libjpeg-turbo (imagecodecs).

``jpeg_quality`` (IJG scale 0-100) says how to write; as tensorstore does, a new scale
stores it in ``info`` (75 when the spec gives none) and chunks are written with the
stored value. With the same quality the images are byte-identical to tensorstore's (both
use libjpeg's defaults: 4:2:0 chroma subsampling for RGB).
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

__all__ = ["JpegEncoding"]

#: The IJG quality tensorstore and neuroglancer's tools write with when none is given.
DEFAULT_QUALITY = 75
_QUALITY_MEMBER = "jpeg_quality"
#: libjpeg's largest image width or height (JPEG_MAX_DIMENSION).
MAX_DIMENSION = 65500

# JPEG markers (ITU T.81 table B.1) that the header reader needs.
_MARKER_PREFIX = 0xFF
_START_OF_IMAGE = 0xD8
_END_OF_IMAGE = 0xD9
_START_OF_SCAN = 0xDA
_END_MARKER = bytes((_MARKER_PREFIX, _END_OF_IMAGE))
#: Markers that stand alone (no length field): TEM and RST0-RST7.
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})
#: Start-of-frame markers SOF0-SOF15 (0xC4 DHT, 0xC8 JPG and 0xCC DAC are not frames).
_START_OF_FRAME = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def jpeg_dimensions(data: bytes) -> ImageDimensions:
    """``(width, height, components, bits)`` from a JPEG's frame header, read without
    decoding; ChunkError if there is none before the first scan, or if no end-of-image
    marker follows the scan (a truncated stream: libjpeg would only warn and pad it with
    grey, where tensorstore treats the warning as an error)."""
    data = bytes(data) if not isinstance(data, bytes) else data
    view = memoryview(data)
    if len(view) < 4 or view[0] != _MARKER_PREFIX or view[1] != _START_OF_IMAGE:
        raise ChunkError("jpeg chunk does not start with a JPEG start-of-image marker")
    position = 2
    while position + 4 <= len(view):
        if view[position] != _MARKER_PREFIX:
            raise ChunkError(f"jpeg chunk has no marker at byte {position}")
        marker = view[position + 1]
        if marker == _MARKER_PREFIX:  # fill byte before a marker
            position += 1
            continue
        if marker in _STANDALONE_MARKERS:
            position += 2
            continue
        if marker in (_START_OF_SCAN, _END_OF_IMAGE, _START_OF_IMAGE):
            break
        length = int.from_bytes(view[position + 2 : position + 4], "big")
        if marker in _START_OF_FRAME:
            if length < 8 or position + 10 > len(view):
                break
            bits = view[position + 4]
            height = int.from_bytes(view[position + 5 : position + 7], "big")
            width = int.from_bytes(view[position + 7 : position + 9], "big")
            # Entropy-coded data escapes every 0xFF byte, so an end-of-image marker after
            # the frame header is the real one.
            if data.find(_END_MARKER, position) < 0:
                raise ChunkError("jpeg chunk is truncated: no end-of-image marker")
            return width, height, view[position + 9], bits
        position += 2 + length
    raise ChunkError("jpeg chunk has no frame header (truncated or not a JPEG image)")


class JpegEncoding(ChunkEncoding):
    """Lossy JPEG chunks of uint8 volumes with 1 or 3 channels."""

    name: ClassVar[str] = "jpeg"
    scale_members: ClassVar[tuple[str, ...]] = (_QUALITY_MEMBER,)
    lossy: ClassVar[bool] = True

    @classmethod
    def check(cls, data_type: np.dtype[Any], num_channels: int, scale: Mapping[str, Any], json_path: str) -> None:
        check_image_volume(cls.name, ("uint8",), (1, 3), data_type, num_channels, json_path)
        integer_option(scale, _QUALITY_MEMBER, json_path, 0, 100)

    @classmethod
    def normalized_members(cls, scale: Mapping[str, Any]) -> dict[str, Any]:
        quality = integer_option(scale, _QUALITY_MEMBER, "", 0, 100)
        return {_QUALITY_MEMBER: DEFAULT_QUALITY if quality is None else quality}

    def __init__(
        self, data_type: np.dtype[Any], num_channels: int, scale: Mapping[str, Any], options: Mapping[str, Any]
    ) -> None:
        quality = integer_option(scale, _QUALITY_MEMBER, "", 0, 100)
        if quality is None:
            quality = integer_option(options, _QUALITY_MEMBER, "", 0, 100)
        #: The IJG quality chunks are written with.
        self.quality = DEFAULT_QUALITY if quality is None else quality
        self.num_channels = num_channels

    def encode(self, chunk: np.ndarray) -> bytes:
        x, y, z, _ = chunk.shape
        if x > MAX_DIMENSION or y * z > MAX_DIMENSION:
            raise ChunkError(
                f"a chunk of shape {list(chunk.shape)} (x, y, z, channel) is a {x}x{y * z} pixel image, "
                f"larger than JPEG's limit of {MAX_DIMENSION} pixels a side"
            )
        image = image_from_chunk(np.asarray(chunk, dtype=np.uint8))
        return bytes(imagecodecs.jpeg8_encode(image, level=self.quality))

    def decode(self, data: bytes, shape: tuple[int, int, int, int]) -> np.ndarray:
        return decode_image(
            "jpeg", data, shape, np.dtype(np.uint8), jpeg_dimensions, imagecodecs.jpeg8_decode,
            (imagecodecs.Jpeg8Error,),
        )
