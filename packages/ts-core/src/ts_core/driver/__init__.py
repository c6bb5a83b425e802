"""TensorStore drivers: the contract, the chunked-format base, and open options."""

from ._chunked import ChunkError, KvsChunkedDriver
from ._driver import Driver
from ._open_options import OpenOptions, staleness_bound

__all__ = ["ChunkError", "Driver", "KvsChunkedDriver", "OpenOptions", "staleness_bound"]
