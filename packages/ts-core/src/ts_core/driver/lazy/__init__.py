"""The ``lazy`` adapter driver."""

from ._driver import LazyDriver, lazy_driver

__all__ = ["LazyDriver", "lazy_driver"]
