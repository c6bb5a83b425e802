"""The agreement check between a spec's own members and what its ``metadata`` implies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["check_spec_members", "spec_rank"]


def check_spec_members(implied: Any, json_value: Mapping[str, Any]) -> None:
    """Raise ValueError when the spec's own ``dtype``, ``rank``, ``transform`` or schema
    domain disagree with ``implied`` (the ``ts.Schema`` a driver's ``spec_schema`` derives
    from the spec's metadata), as tensorstore refuses such a spec. Formats call it from
    their ``spec_schema`` hook."""
    from ..index_space import IndexTransform
    from ..schema import Schema

    schema_json = json_value.get("schema")
    members = {k: schema_json[k] for k in ("dtype", "rank", "domain") if isinstance(schema_json, Mapping) and k in schema_json}
    given = Schema(members) if members else Schema()
    if json_value.get("dtype") is not None:
        given.update(dtype=json_value["dtype"])
    if json_value.get("rank") is not None:
        given.update(rank=json_value["rank"])
    transform = json_value.get("transform")
    if transform is not None:
        output_rank = (transform if isinstance(transform, IndexTransform) else IndexTransform(json=transform)).output_rank
        given.update(rank=output_rank)
    if implied.dtype is not None:
        given.update(dtype=implied.dtype)
    if implied.rank is not None:
        given.update(rank=implied.rank)
    if implied.domain is not None and given.domain is not None:
        given.update(domain=implied.domain)


def spec_rank(json_value: Mapping[str, Any]) -> int | None:
    """The rank the spec gives besides its ``metadata`` (``rank``, ``transform``, schema
    rank or domain): tensorstore's chunk layout has a grid origin once the rank is known."""
    from ..index_space import IndexDomain, IndexTransform

    try:
        if json_value.get("rank") is not None:
            return int(json_value["rank"])
        transform = json_value.get("transform")
        if transform is not None:
            return int((transform if isinstance(transform, IndexTransform) else IndexTransform(json=transform)).output_rank)
        schema = json_value.get("schema")
        if isinstance(schema, Mapping):
            if schema.get("rank") is not None:
                return int(schema["rank"])
            if schema.get("domain") is not None:
                return int(IndexDomain(json=schema["domain"]).rank)
    except (TypeError, ValueError):
        return None  # reported where the spec's own members are checked
    return None
