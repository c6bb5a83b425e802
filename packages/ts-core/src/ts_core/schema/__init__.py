"""Schema constraints of a TensorStore: ``Schema``, ``ChunkLayout``, ``CodecSpec``, ``Unit``.

Also the chunk-shape choice that drivers use when creating an array
(``choose_chunk_shape``, ``choose_read_write_chunk_shapes``).
"""

from ._chunk_layout import ChunkLayout
from ._unit import Unit

__all__ = ["ChunkLayout", "Unit"]
