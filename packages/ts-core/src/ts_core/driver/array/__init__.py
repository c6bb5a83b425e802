"""The ``array`` driver."""

from ._driver import ArrayDriver, array

__all__ = ["ArrayDriver", "array"]
