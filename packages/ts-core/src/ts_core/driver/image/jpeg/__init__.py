"""The ``jpeg`` image driver (JPEG)."""

from ._driver import JpegDriver

__all__ = ["JpegDriver"]
