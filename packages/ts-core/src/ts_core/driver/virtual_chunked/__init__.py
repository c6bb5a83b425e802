"""The ``virtual_chunked`` driver (``ts.virtual_chunked`` builds its views in ``ts_core._virtual_chunked``)."""

from ._driver import VirtualChunkedDriver

__all__ = ["VirtualChunkedDriver"]
