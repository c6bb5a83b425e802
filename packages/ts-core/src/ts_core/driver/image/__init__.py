"""The image drivers: one image file in one kvstore value, as a uint8 ``[y, x, channel]`` array.

Each format is its own driver (``png``, ``jpeg``, ``tiff``, ``webp``, ``avif``, ``bmp``),
registered separately, sharing :class:`ImageDriver`. Decoding and encoding need the
optional ``imagecodecs`` package (``pip install ts-core[image]``); this package imports
it only when a driver is opened.
"""

from ._base import ImageDriver, ImageHeader, require_imagecodecs

__all__ = ["ImageDriver", "ImageHeader", "require_imagecodecs"]
