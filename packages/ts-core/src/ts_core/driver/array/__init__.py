"""The ``array`` driver (``ts.array`` builds its stores in ``ts_core._adapters``)."""

from ._driver import ArrayDriver

__all__ = ["ArrayDriver"]
