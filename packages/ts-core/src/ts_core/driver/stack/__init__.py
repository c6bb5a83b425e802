"""The ``stack`` driver (``ts.stack``, ``ts.concat`` and ``ts.overlay`` build its views in ``ts_core._composite``)."""

from ._driver import StackDriver

__all__ = ["StackDriver"]
