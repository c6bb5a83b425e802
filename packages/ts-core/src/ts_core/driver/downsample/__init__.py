"""The ``downsample`` adapter driver (``ts.downsample`` builds its views in ``ts_core._adapters``)."""

from ._driver import METHODS, DownsampleDriver, downsampled_domain

__all__ = ["METHODS", "DownsampleDriver", "downsampled_domain"]
