"""URLs (``file:///a.png|png:``) and auto-detection of the image formats.

As in tensorstore, an image component takes no path (the kvstore names the file), and a
file is recognised by its first bytes.
"""

from __future__ import annotations

from typing import Any

from ...kvstore import url_component_path

__all__ = ["IMAGE_SIGNATURE_BYTES", "is_avif", "is_bmp", "is_jpeg", "is_png", "is_tiff", "is_webp", "parse_image_url"]

#: Bytes read from the start of a file to recognise every image format.
IMAGE_SIGNATURE_BYTES = 16
#: ISO/IEC 23008-12 brands of AVIF files (a still image and an image sequence).
_AVIF_BRANDS = (b"avif", b"avis")


def parse_image_url(component: str, kvstore: dict[str, Any]) -> dict[str, Any]:
    """``png:`` (or ``jpeg:``, ...) after a kvstore: the image driver over that kvstore."""
    if url_component_path(component):
        raise ValueError("Path not supported")
    return {"driver": component.partition(":")[0].lower(), "kvstore": dict(kvstore)}


def is_png(prefix: bytes, suffix: bytes) -> bool:
    return prefix.startswith(b"\x89PNG\r\n\x1a\n")


def is_jpeg(prefix: bytes, suffix: bytes) -> bool:
    return prefix.startswith(b"\xff\xd8\xff")


def is_tiff(prefix: bytes, suffix: bytes) -> bool:
    return prefix[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def is_webp(prefix: bytes, suffix: bytes) -> bool:
    return prefix[:4] == b"RIFF" and prefix[8:12] == b"WEBP"


def is_avif(prefix: bytes, suffix: bytes) -> bool:
    return prefix[4:8] == b"ftyp" and prefix[8:12] in _AVIF_BRANDS


def is_bmp(prefix: bytes, suffix: bytes) -> bool:
    return prefix.startswith(b"BM") and len(prefix) >= 14
