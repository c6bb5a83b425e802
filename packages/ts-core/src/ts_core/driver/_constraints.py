"""Schema constraints gathered from a spec (``dtype``, ``rank``, ``schema`` members)."""

from __future__ import annotations

from typing import Any

import attrs

from .._validation import SpecError, describe

__all__ = ["SchemaConstraints", "constraints_from_spec"]


@attrs.define
class SchemaConstraints:
    """What the spec requires of the array; None where unconstrained."""

    dtype: Any = None
    rank: int | None = None
    shape: tuple[int, ...] | None = None
    domain: Any = None
    chunk_layout: Any = None
    codec: Any = None
    fill_value: Any = None
    dimension_units: Any = None


def constraints_from_spec(json_value: dict[str, Any]) -> SchemaConstraints:
    """Collect and check the generic schema constraints of a spec."""
    from .._dtype import to_dtype

    constraints = SchemaConstraints()
    if json_value.get("dtype") is not None:
        constraints.dtype = to_dtype(json_value["dtype"], json_path="dtype")
    constraints.rank = json_value.get("rank")
    schema = dict(json_value.get("schema") or {})
    if "dtype" in schema:
        dtype = to_dtype(schema["dtype"], json_path="schema.dtype")
        if constraints.dtype is not None and constraints.dtype != dtype:
            raise SpecError("schema.dtype", f"{dtype.name} conflicts with dtype {constraints.dtype.name}")
        constraints.dtype = dtype
    domain = schema.get("domain")
    if domain is not None:
        from ..index_space import IndexDomain

        parsed = IndexDomain(json=domain)
        constraints.domain = parsed
        constraints.shape = tuple(int(n) for n in parsed.shape)
    if "chunk_layout" in schema:
        from ..schema import ChunkLayout

        constraints.chunk_layout = ChunkLayout(json=schema["chunk_layout"])
    if "codec" in schema:
        from ..schema import CodecSpec

        constraints.codec = CodecSpec(schema["codec"])
    if "fill_value" in schema:
        import numpy as np

        constraints.fill_value = np.asarray(schema["fill_value"])
    constraints.dimension_units = schema.get("dimension_units")
    rank = constraints.rank
    if rank is not None and constraints.shape is not None and len(constraints.shape) != rank:
        raise SpecError("schema.domain", f"rank {len(constraints.shape)} does not match rank {describe(rank)}")
    return constraints
