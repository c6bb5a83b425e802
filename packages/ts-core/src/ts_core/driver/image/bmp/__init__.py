"""The ``bmp`` image driver (BMP)."""

from ._driver import BmpDriver

__all__ = ["BmpDriver"]
