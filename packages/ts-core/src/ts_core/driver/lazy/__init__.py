"""The ``lazy`` adapter driver (``ts.lazy_driver`` builds its stores in ``ts_core._adapters``)."""

from ._driver import LazyDriver

__all__ = ["LazyDriver"]
