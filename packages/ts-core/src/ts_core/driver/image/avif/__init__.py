"""The ``avif`` image driver (AVIF)."""

from ._driver import AvifDriver

__all__ = ["AvifDriver"]
