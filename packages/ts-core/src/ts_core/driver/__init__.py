"""TensorStore drivers: the contract, the chunked-format base, and open options."""

from ._chunked import ChunkError, ChunkStorageError, KvsChunkedDriver, load_metadata_json
from ._constraints import SchemaConstraints, check_metadata_members
from ._driver import Driver
from ._open_options import OpenOptions, staleness_bound

__all__ = ["ChunkError", "ChunkStorageError", "Driver", "KvsChunkedDriver", "OpenOptions", "SchemaConstraints", "check_metadata_members", "load_metadata_json", "staleness_bound"]
