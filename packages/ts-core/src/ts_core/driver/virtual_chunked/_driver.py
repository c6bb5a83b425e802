"""The ``virtual_chunked`` driver (being written)."""

from __future__ import annotations

__all__ = ["VirtualChunkedDriver"]


class VirtualChunkedDriver:
    id = "virtual_chunked"
