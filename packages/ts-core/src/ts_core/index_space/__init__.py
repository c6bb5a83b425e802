"""The index space engine: intervals, domains, transforms, NumPy-style indexing, dimension
expressions, JSON, and partitioning of transforms onto chunk grids.

Everything a user does to select data compiles to an ``IndexTransform``; the chunked drivers
call ``partition_index_transform`` to turn one into per-chunk copies.
"""

from ._compose import compose, inverse_transform, propagate_bounds
from ._dim_expression import DimExpression, DimSelection, d, newaxis
from ._domain import IndexDomain
from ._indexing import apply_index
from ._interval import Dim, inf
from ._mixin import DimOpsMixin, Indexable
from ._output_map import OutputIndexMap, OutputIndexMaps, OutputIndexMethod
from ._partition import ChunkPart, output_index_bounds, partition_index_transform
from ._transform import IndexTransform

__all__ = [
    "ChunkPart",
    "Dim",
    "DimExpression",
    "DimOpsMixin",
    "DimSelection",
    "IndexDomain",
    "IndexTransform",
    "Indexable",
    "OutputIndexMap",
    "OutputIndexMaps",
    "OutputIndexMethod",
    "apply_index",
    "compose",
    "d",
    "inf",
    "inverse_transform",
    "newaxis",
    "output_index_bounds",
    "partition_index_transform",
    "propagate_bounds",
]
