"""The ``downsample`` adapter driver."""

from ._driver import METHODS, DownsampleDriver, downsample

__all__ = ["METHODS", "DownsampleDriver", "downsample"]
