"""The ``png`` image driver (PNG)."""

from ._driver import PngDriver

__all__ = ["PngDriver"]
