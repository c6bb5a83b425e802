"""The ``cast`` adapter driver."""

from ._driver import CastDriver, cast

__all__ = ["CastDriver", "cast"]
