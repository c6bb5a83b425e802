"""The ``downsample`` adapter driver (``ts.downsample`` builds its views in ``ts_core._adapters``)."""

from ._driver import METHODS, DownsampleDriver, downsampled_domain
from ._spec import downsample_base_json

__all__ = ["METHODS", "DownsampleDriver", "downsample_base_json", "downsampled_domain"]
