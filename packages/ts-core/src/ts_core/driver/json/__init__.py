"""The ``json`` driver: a JSON document (or a value within it) in a kvstore, as a rank-0 array."""

from ._driver import JsonDriver, json_source_array

__all__ = ["JsonDriver", "json_source_array"]
