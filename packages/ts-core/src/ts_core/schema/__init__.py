"""Schema constraints of a TensorStore: ``Schema``, ``ChunkLayout``, ``CodecSpec``, ``Unit``.

Also what drivers need when creating an array: the chunk-shape choice
(``choose_chunk_shape`` for one grid, ``choose_read_write_chunk_shape`` for one-level
formats, ``choose_sharded_chunk_shapes`` for write = shard / read = inner chunk), the
codec merge hook (``merge_codec_json``), the domain merge rules (``merge_domains``) and the
size limits checked before allocating a chunk or a read result (``check_chunk_bytes``,
``check_read_bytes``), and ``validate_json`` for stored JSON a format checks against its
schemas.
"""

from ._chunk_layout import ChunkLayout
from ._chunk_shape import (
    DEFAULT_CHUNK_ELEMENTS,
    choose_chunk_shape,
    choose_read_write_chunk_shape,
    choose_sharded_chunk_shapes,
)
from ._codec import CODEC_MERGE_ID, CodecSpec, merge_codec_json
from ._domain_merge import merge_domains
from ._json_schema import validate_json
from ._limits import (
    MAX_CHUNK_BYTES,
    MAX_DIMENSION_SIZE,
    check_chunk_bytes,
    check_read_bytes,
    check_shape,
    read_bytes_limit,
)
from ._schema import Schema
from ._unit import Unit

__all__ = [
    "CODEC_MERGE_ID",
    "DEFAULT_CHUNK_ELEMENTS",
    "MAX_CHUNK_BYTES",
    "ChunkLayout",
    "CodecSpec",
    "Schema",
    "Unit",
    "MAX_DIMENSION_SIZE",
    "check_chunk_bytes",
    "check_shape",
    "check_read_bytes",
    "choose_chunk_shape",
    "choose_read_write_chunk_shape",
    "choose_sharded_chunk_shapes",
    "merge_codec_json",
    "merge_domains",
    "read_bytes_limit",
    "validate_json",
]
