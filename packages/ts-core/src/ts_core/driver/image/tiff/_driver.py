"""The ``tiff`` driver: one page of a TIFF file in one kvstore value."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from ....errors import SpecError, describe
from .._base import ImageDriver, ImageHeader

__all__ = ["TiffDriver", "tiff_pages"]

#: TIFF 6.0 section 2 (and BigTIFF): byte order marks and version numbers.
_BYTE_ORDERS = {b"II": "<", b"MM": ">"}
_CLASSIC = 42
_BIG = 43
#: Tags (TIFF 6.0 section 8): image width and length, bits per sample, samples per pixel.
_IMAGE_WIDTH = 256
_IMAGE_LENGTH = 257
_BITS_PER_SAMPLE = 258
_SAMPLES_PER_PIXEL = 277
#: Field types whose values are unsigned integers, and their sizes.
_INTEGER_SIZES = {1: 1, 3: 2, 4: 4, 16: 8}
#: More directories than this is a loop or a hostile file, not a real multi-page TIFF.
MAX_PAGES = 1 << 16


def tiff_pages(data: bytes) -> list[dict[int, int]]:
    """The size tags (first value) of every page's image file directory, in order."""
    order = _BYTE_ORDERS.get(data[:2])
    if order is None or len(data) < 8:
        raise ValueError("TIFF Initialize failed: missing TIFF signature")
    (version,) = struct.unpack_from(order + "H", data, 2)
    if version == _CLASSIC:
        (offset,) = struct.unpack_from(order + "I", data, 4)
        count_format, entry_format, next_format, entry_size = "H", "HHI4s", "I", 12
    elif version == _BIG and len(data) >= 16:
        (offset,) = struct.unpack_from(order + "Q", data, 8)
        count_format, entry_format, next_format, entry_size = "Q", "HHQ8s", "Q", 20
    else:
        raise ValueError(f"TIFF Initialize failed: unknown TIFF version {version}")
    pages: list[dict[int, int]] = []
    seen: set[int] = set()
    while offset:
        if offset in seen or len(pages) >= MAX_PAGES:
            raise ValueError("TIFF Initialize failed: the image file directories form a loop")
        seen.add(offset)
        try:
            (entries,) = struct.unpack_from(order + count_format, data, offset)
            position = offset + struct.calcsize(count_format)
            tags: dict[int, int] = {}
            for index in range(entries):
                tag, field_type, count, value = struct.unpack_from(order + entry_format, data, position + index * entry_size)
                size = _INTEGER_SIZES.get(field_type)
                if tag in (_IMAGE_WIDTH, _IMAGE_LENGTH, _BITS_PER_SAMPLE, _SAMPLES_PER_PIXEL) and size and count:
                    if size * count > len(value):  # stored elsewhere: the value is an offset
                        (where,) = struct.unpack_from(order + ("I" if len(value) == 4 else "Q"), value)
                        value = data[where:where + size]
                    tags[tag] = int.from_bytes(value[:size], "little" if order == "<" else "big")
            (offset,) = struct.unpack_from(order + next_format, data, position + entries * entry_size)
        except struct.error:
            raise ValueError("TIFF Initialize failed: truncated image file directory") from None
        pages.append(tags)
    if not pages:
        raise ValueError("TIFF Initialize failed: no image file directory")
    return pages


class TiffDriver(ImageDriver):
    """TIFF: one page (``page``), 1, 3 or 4 channels of 8 bits."""

    id = "tiff"
    format_name = "TIFF"
    format_members = ("page",)
    encodable_channels = (1, 3, 4)

    def check_options(self) -> None:
        page = self._spec_members.get("page")
        if page is not None and not (isinstance(page, int) and not isinstance(page, bool) and page >= 0):
            raise SpecError("page", f"expected a non-negative integer, but received: {describe(page)}")

    def cache_variant(self) -> Any:
        return self._spec_members.get("page")

    def _page(self, pages: list[dict[int, int]]) -> int:
        page = self._spec_members.get("page")
        if page is None:
            if len(pages) > 1:
                raise ValueError('Multi-page TIFF image encountered without a "page" specifier')
            return 0
        if page >= len(pages):
            raise ValueError(f"page {page} is out of range: the TIFF has {len(pages)} page(s)")
        return int(page)

    def read_header(self, data: bytes) -> ImageHeader:
        pages = tiff_pages(data)
        tags = pages[self._page(pages)]
        if _IMAGE_WIDTH not in tags or _IMAGE_LENGTH not in tags:
            raise ValueError("TIFF Initialize failed: the page has no ImageWidth/ImageLength")
        bits = tags.get(_BITS_PER_SAMPLE, 1)
        return ImageHeader(tags[_IMAGE_LENGTH], tags[_IMAGE_WIDTH], max(tags.get(_SAMPLES_PER_PIXEL, 1), 1), max(1, -(-bits // 8)))

    def decode_image(self, data: bytes) -> np.ndarray[Any, Any]:
        return self.codecs.tiff_decode(data, index=self._page(tiff_pages(data)))  # type: ignore[no-any-return]

    def encode_image(self, image: np.ndarray[Any, Any]) -> bytes:
        return bytes(self.codecs.tiff_encode(image[:, :, 0] if image.shape[2] == 1 else image))

    def modify(self, update: Any, transaction: Any) -> None:
        # Writing re-encodes one page; a multi-page file would lose the others.
        stored = self._store.read_blocking(self._key)
        if stored.state == "value" and len(tiff_pages(stored.value)) > 1:
            raise NotImplementedError(
                f"error writing {self.full_key!r}: writing a page of a multi-page TIFF is not supported"
            )
        super().modify(update, transaction)
