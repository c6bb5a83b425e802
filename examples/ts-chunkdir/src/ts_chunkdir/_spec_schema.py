"""What a ``chunkdir`` spec's partial ``metadata`` implies, as a ``ts.Schema``.

A spec's ``rank``, ``dtype``, ``domain``, ``chunk_layout``, ``codec`` and ``fill_value``
come from whichever metadata members it gives, so that ``ts.Spec(...)`` reports them
before anything is opened (as tensorstore's own formats do). Members that contradict the
spec's own ``dtype``, ``rank``, ``transform`` or schema domain make the spec invalid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ts_core.driver import check_spec_members
from ts_core.errors import SpecError

from ._metadata import (
    COMPRESSIONS,
    NON_FINITE,
    _parse_dimensions,
    member_path,
    parse_dtype,
    parse_fill_value,
)

__all__ = ["chunkdir_spec_schema", "check_spec_members"]


def chunkdir_spec_schema(json_value: Mapping[str, Any]) -> Any:
    """Schema implied by a ``chunkdir`` spec's ``metadata``."""
    from ts_core.index_space import IndexDomain
    from ts_core.schema import ChunkLayout, CodecSpec, Schema

    metadata = json_value.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    codec: dict[str, Any] = {"driver": "chunkdir"}
    if "compression" in metadata:
        if metadata["compression"] not in COMPRESSIONS:
            raise SpecError("metadata.compression", f"expected one of {', '.join(COMPRESSIONS)}")
        codec["compression"] = metadata["compression"]
    schema = Schema(codec=CodecSpec(codec))
    dtype = parse_dtype(metadata["dtype"], "metadata.dtype") if "dtype" in metadata else None
    if dtype is not None:
        schema.update(dtype=dtype)
    if "fill_value" in metadata:
        if dtype is None:
            raise SpecError("metadata.fill_value", 'must be given together with "dtype"')
        fill = parse_fill_value(metadata["fill_value"], dtype, "metadata.fill_value")
        schema.update(fill_value=np.asarray(NON_FINITE.get(fill, fill), dtype=dtype))
    vectors = {
        name: _parse_dimensions(metadata[name], member_path("metadata", name), minimum)
        for name, minimum in (("shape", 0), ("chunks", 1)) if name in metadata
    }
    if not vectors:
        return schema
    rank = len(next(iter(vectors.values())))
    if "chunks" in vectors and len(vectors["chunks"]) != rank:
        raise SpecError("metadata.chunks", f"has {len(vectors['chunks'])} entries, but shape has {rank} (the rank)")
    schema.update(rank=rank)
    layout: dict[str, Any] = {"grid_origin": [0] * rank, "inner_order": list(range(rank))}
    if "chunks" in vectors:
        layout["read_chunk"] = {"shape": list(vectors["chunks"])}
        layout["write_chunk"] = {"shape": list(vectors["chunks"])}
    schema.update(chunk_layout=ChunkLayout(json=layout))
    if "shape" in vectors:
        schema.update(domain=IndexDomain(shape=list(vectors["shape"]), implicit_upper_bounds=[True] * rank))
    return schema

