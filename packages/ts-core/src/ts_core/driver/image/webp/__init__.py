"""The ``webp`` image driver (WebP)."""

from ._driver import WebpDriver

__all__ = ["WebpDriver"]
