"""The ``cast`` adapter driver (``ts.cast`` builds its views in ``ts_core._adapters``)."""

from ._driver import CastDriver

__all__ = ["CastDriver"]
