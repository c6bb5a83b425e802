"""What an ``n5`` spec's partial ``metadata`` implies, as a ``ts.Schema``.

As tensorstore, each member given tells what it can: ``dimensions``, ``blockSize``,
``axes``, ``units`` and ``resolution`` the rank (they must agree), ``dimensions`` and
``axes`` the domain, ``blockSize`` the chunk grid, ``dataType`` the dtype, ``units`` (with
``resolution``) the dimension units; N5 always stores the first dimension fastest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ts_core.driver import check_spec_members, spec_rank
from ts_core.errors import SpecError

__all__ = ["check_spec_members", "n5_spec_schema", "normalize_n5_metadata"]

#: Members that each have one entry per dimension.
_PER_DIMENSION = ("dimensions", "blockSize", "axes", "units", "resolution")


def n5_spec_schema(json_value: Mapping[str, Any]) -> Any:
    """Schema implied by an ``n5`` spec's ``metadata``."""
    from ts_core.index_space import IndexDomain
    from ts_core.schema import ChunkLayout, CodecSpec, Schema

    from ._compression import parse_compression
    from ._metadata import DATA_TYPES, _index_vector, _vector, check_data_type

    metadata = json_value.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    codec: dict[str, Any] = {"driver": "n5"}
    if isinstance(metadata.get("compression"), Mapping):
        codec["compression"] = parse_compression(metadata["compression"], "metadata.compression").to_json()
    schema = Schema(codec=CodecSpec(codec))
    if "dataType" in metadata:
        schema.update(dtype=DATA_TYPES[check_data_type(metadata["dataType"], "metadata.dataType")])
    given = [name for name in _PER_DIMENSION if metadata.get(name) is not None]
    if given:
        first = given[0]
        if not isinstance(metadata[first], list):
            raise SpecError(f"metadata.{first}", "expected array")
        rank = len(metadata[first])
    else:
        given_rank = spec_rank(json_value)
        if given_rank is None:
            return schema
        rank = given_rank
    dimensions = _index_vector(metadata["dimensions"], "metadata.dimensions", 0) if "dimensions" in given else None
    if rank == 0:
        dimensions = ()  # a rank-0 domain is known whole
    block_size = _index_vector(metadata["blockSize"], "metadata.blockSize", 1) if "blockSize" in given else None
    for name, vector in (("dimensions", dimensions), ("blockSize", block_size)):
        if vector is not None and len(vector) != rank:
            raise SpecError(f"metadata.{name}", f"array has length {len(vector)} but should have length {rank}")
    axes = _vector(metadata["axes"], "metadata.axes", rank, str, "string") if "axes" in given else None
    units = _vector(metadata["units"], "metadata.units", rank, str, "string") if "units" in given else None
    resolution = (
        _vector(metadata["resolution"], "metadata.resolution", rank, (int, float), "number")
        if "resolution" in given else None
    )
    schema.update(rank=rank)
    layout: dict[str, Any] = {"grid_origin": [0] * rank, "inner_order": list(range(rank))[::-1]} if rank else {}
    if block_size is not None:
        layout["read_chunk"] = {"shape": list(block_size)}
        layout["write_chunk"] = {"shape": list(block_size)}
    schema.update(chunk_layout=ChunkLayout(json=layout))
    if dimensions is not None or axes is not None:
        bounds: dict[str, Any] = {} if dimensions is None else {"exclusive_max": list(dimensions)}
        schema.update(domain=IndexDomain(
            inclusive_min=[0] * rank, **bounds, implicit_upper_bounds=[True] * rank,
            labels=list(axes) if axes is not None else [""] * rank,
        ))
    if units is not None:
        multipliers = [float(x) for x in resolution] if resolution is not None else [1.0] * rank
        schema.update(dimension_units=[(m, u) for m, u in zip(multipliers, units, strict=True)])
    return schema


def normalize_n5_metadata(json_value: Mapping[str, Any]) -> dict[str, Any]:
    """An ``n5`` spec's ``metadata`` as tensorstore's Spec writes it: members sorted (at any
    depth), the compression's defaults filled in, ``resolution`` as floats."""
    from ._compression import parse_compression

    metadata = json_value.get("metadata")
    result = dict(metadata) if isinstance(metadata, Mapping) else {}
    if isinstance(result.get("compression"), Mapping):
        result["compression"] = parse_compression(result["compression"], "metadata.compression").to_json()
    resolution = result.get("resolution")
    if isinstance(resolution, list):
        result["resolution"] = [float(x) if isinstance(x, int) and not isinstance(x, bool) else x for x in resolution]
    normalized: dict[str, Any] = _sorted_json(result)
    return normalized


def _sorted_json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {name: _sorted_json(value[name]) for name in sorted(value)}
    if isinstance(value, list):
        return [_sorted_json(item) for item in value]
    return value
