"""TensorStore drivers: the contract, the chunked-format base, and open options."""

from ._bounds import check_in_bounds
from ._chunk_cache import ChunkCache
from ._chunked import ChunkError, ChunkStorageError, KvsChunkedDriver, load_metadata_json
from ._constraints import SchemaConstraints, check_metadata_members
from ._driver import Driver
from ._open_options import OpenOptions, staleness_bound
from ._open_spec import OpenedDriver, open_driver, validate_spec_json
from ._raw_chunk import RawChunkLayout
from ._scheduling import pull_workers, run_parts
from ._spec_members import check_spec_members, spec_rank

__all__ = ["ChunkCache", "ChunkError", "ChunkStorageError", "Driver", "KvsChunkedDriver", "OpenOptions", "OpenedDriver", "RawChunkLayout", "SchemaConstraints", "check_in_bounds", "check_metadata_members", "check_spec_members", "load_metadata_json", "open_driver", "pull_workers", "run_parts", "spec_rank", "staleness_bound", "validate_spec_json"]
