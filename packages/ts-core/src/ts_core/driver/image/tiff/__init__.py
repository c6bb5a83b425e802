"""The ``tiff`` image driver (TIFF)."""

from ._driver import TiffDriver

__all__ = ["TiffDriver"]
