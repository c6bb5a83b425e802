"""JSON for index domains and transforms, member for member as tensorstore writes and reads it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._domain import IndexDomain, check_unique_labels
from ._interval import Dim, bound_to_json, inf, validate_half_open
from ._output_map import CONSTANT, SINGLE, OutputIndexMap, as_index_array
from ._transform import IndexTransform

_TRANSFORM_MEMBERS = (
    "input_rank",
    "input_inclusive_min",
    "input_shape",
    "input_inclusive_max",
    "input_exclusive_max",
    "input_labels",
)
_MAP_MEMBERS = frozenset(
    {"offset", "stride", "input_dimension", "index_array", "index_array_bounds"}
)
#: Largest input or output rank (tensorstore's ``kMaxRank``); checked before anything is
#: built, so ``{"input_rank": 9223372036854775807}`` is an error rather than an allocation.
MAX_RANK = 32


# -- writing --------------------------------------------------------------------------------------
def _bounds_json(domain: IndexDomain, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    lo, hi = domain._inclusive_min, domain._exclusive_max
    il, iu = domain._implicit_lower, domain._implicit_upper
    rank = domain.rank
    if not all(lo[i] == -inf and il[i] for i in range(rank)):
        out[prefix + "inclusive_min"] = [
            bound_to_json(lo[i], il[i], lower=True) for i in range(rank)
        ]
    if not all(hi[i] - 1 == inf and iu[i] for i in range(rank)):
        out[prefix + "exclusive_max"] = [
            bound_to_json(hi[i], iu[i], lower=False) for i in range(rank)
        ]
    if any(domain._labels):
        out[prefix + "labels"] = list(domain._labels)
    if not out:
        out[prefix + "rank"] = rank
    return out


def domain_to_json(domain: IndexDomain) -> dict[str, Any]:
    """IndexDomain JSON with keys sorted like tensorstore's."""
    return dict(sorted(_bounds_json(domain, "").items()))


def map_to_json(m: OutputIndexMap) -> dict[str, Any]:
    """One output map; default members (offset 0, stride 1, full bounds) are omitted."""
    out: dict[str, Any] = {}
    if m._offset:
        out["offset"] = m._offset
    if m._method == CONSTANT:
        return out
    if m._stride != 1:
        out["stride"] = m._stride
    if m._method == SINGLE:
        out["input_dimension"] = m._input_dimension
    else:
        array = m._index_array
        assert array is not None
        out["index_array"] = array.tolist()
        rng = m._index_range
        if array.size and (
            int(array.min()) < rng._inclusive_min or int(array.max()) >= rng._exclusive_max
        ):
            out["index_array_bounds"] = [
                "-inf" if rng._inclusive_min == -inf else rng._inclusive_min,
                "+inf" if rng._exclusive_max - 1 == inf else rng._exclusive_max - 1,
            ]
    return dict(sorted(out.items()))


def transform_to_json(t: IndexTransform) -> dict[str, Any]:
    """IndexTransform JSON; ``output`` is omitted for an identity map."""
    out = _bounds_json(t._domain, "input_")
    maps = t._output
    identity = len(maps) == t._domain.rank and all(
        m._method == SINGLE and m._input_dimension == i and m._offset == 0 and m._stride == 1
        for i, m in enumerate(maps)
    )
    if not identity:
        out["output"] = [map_to_json(m) for m in maps]
    return dict(sorted(out.items()))


# -- reading --------------------------------------------------------------------------------------
class _JsonError(ValueError):
    pass


def _parse_bound(value: Any, *, lower: bool, where: str) -> tuple[int, bool]:
    implicit = False
    if isinstance(value, list):
        if len(value) != 1:
            raise _JsonError(f"{where}: Expected array of size 1, but received: {_dump(value)}")
        implicit, value = True, value[0]
    if isinstance(value, str):
        if lower and value == "-inf":
            return -inf, implicit
        if not lower and value == "+inf":
            return inf + 1, implicit
    elif isinstance(value, int) and not isinstance(value, bool):
        return value, implicit
    sign = '"-inf"' if lower else '"+inf"'
    raise _JsonError(
        f"{where}: Expected 64-bit signed integer or {sign}, but received: {_dump(value)}"
    )


def _dump(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))


def _parse_list(obj: dict[str, Any], name: str) -> list[Any] | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, list):
        raise _JsonError(
            f'Error parsing object member "{name}": Expected array, but received: {_dump(value)}'
        )
    return value


def _parse_domain(obj: Any, prefix: str) -> IndexDomain:
    if not isinstance(obj, dict):
        raise _JsonError(f"Expected object, but received: {_dump(obj)}")
    names = [
        prefix + x
        for x in ("rank", "inclusive_min", "shape", "inclusive_max", "exclusive_max", "labels")
    ]
    if not any(n in obj for n in names):
        raise _JsonError(
            "At least one of " + ", ".join(f'"{n}"' for n in names) + " members must be specified"
        )
    rank = obj.get(names[0])
    if rank is not None and (
        not isinstance(rank, int) or isinstance(rank, bool) or not 0 <= rank <= MAX_RANK
    ):
        raise _JsonError(
            f'Error parsing object member "{names[0]}": Expected integer in the range [0, {MAX_RANK}], but received: {_dump(rank)}'
        )
    lists = {n: _parse_list(obj, n) for n in names[1:]}
    for n, v in lists.items():
        if v is None:
            continue
        if len(v) > MAX_RANK:
            raise _JsonError(
                f'Error parsing object member "{n}": Rank {len(v)} is outside valid range [0, {MAX_RANK}]'
            )
        if rank is not None and len(v) != rank:
            raise _JsonError(
                f'Error parsing object member "{n}": Array has length {len(v)} but should have length {rank}'
            )
        rank = len(v)
    if rank is None:  # pragma: no cover - guarded above
        raise _JsonError("rank unspecified")
    upper_names = [n for n in names[2:5] if lists[n] is not None]
    if len(upper_names) > 1:
        raise _JsonError(
            f"At most one of {', '.join(repr(n) for n in names[2:5])} members may be specified"
        )
    lo: list[int] = []
    il: list[bool] = []
    mins = lists[names[1]]
    for i in range(rank):
        if mins is None:
            lo.append(0 if lists[names[2]] is not None else -inf)
            il.append(lists[names[2]] is None)
        else:
            bound, imp = _parse_bound(
                mins[i],
                lower=True,
                where=f'Error parsing object member "{names[1]}": Error parsing value at position {i}',
            )
            lo.append(bound)
            il.append(imp)
    hi: list[int] = []
    iu: list[bool] = []
    for i in range(rank):
        if not upper_names:
            hi.append(inf + 1)
            iu.append(True)
            continue
        n = upper_names[0]
        value = lists[n][i]  # type: ignore[index]
        where = f'Error parsing object member "{n}": Error parsing value at position {i}'
        if n.endswith("shape"):
            imp = isinstance(value, list)
            size = value[0] if imp and len(value) == 1 else value
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise _JsonError(
                    f"{where}: Expected non-negative integer, but received: {_dump(value)}"
                )
            hi.append(lo[i] + size)
            iu.append(imp)
        elif n.endswith("inclusive_max"):
            bound, imp = _parse_bound(value, lower=False, where=where)
            hi.append(bound if bound == inf + 1 else bound + 1)
            iu.append(imp)
        else:
            bound, imp = _parse_bound(value, lower=False, where=where)
            hi.append(bound)
            iu.append(imp)
    for a, b in zip(lo, hi, strict=True):
        validate_half_open(a, b)
    labels_json = lists[names[5]]
    labels = ("",) * rank
    if labels_json is not None:
        if not all(isinstance(x, str) for x in labels_json):
            raise _JsonError(f'Error parsing object member "{names[5]}": Expected string')
        labels = tuple(labels_json)
        check_unique_labels(labels)
    return IndexDomain._make(tuple(lo), tuple(hi), tuple(il), tuple(iu), labels)


def domain_from_json(obj: Any) -> IndexDomain:
    """Parse IndexDomain JSON (``ValueError`` naming the member on error)."""
    try:
        extra = (
            set(obj)
            - {"rank", "inclusive_min", "shape", "inclusive_max", "exclusive_max", "labels"}
            if isinstance(obj, dict)
            else set()
        )
        if extra:
            raise _JsonError(
                f"Object includes extra members: {', '.join(sorted(repr(x) for x in extra))}"
            )
        return _parse_domain(obj, "")
    except ValueError as exc:
        raise ValueError(f"Error parsing index domain from JSON: {exc}") from None


def _parse_map(obj: Any, j: int, domain: IndexDomain) -> OutputIndexMap:
    where = f'Error parsing object member "output": Error parsing value at position {j}'
    if not isinstance(obj, dict):
        raise _JsonError(f"{where}: Expected object, but received: {_dump(obj)}")
    extra = set(obj) - _MAP_MEMBERS
    if extra:
        raise _JsonError(
            f"{where}: Object includes extra members: {', '.join(sorted(repr(x) for x in extra))}"
        )
    for name in ("offset", "stride", "input_dimension"):
        v = obj.get(name)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
            raise _JsonError(
                f'{where}: Error parsing object member "{name}": Expected 64-bit signed integer, but received: {_dump(v)}'
            )
    offset = obj.get("offset", 0)
    stride = obj.get("stride", 1)
    if "input_dimension" in obj and "index_array" in obj:
        raise _JsonError(
            f'{where}: At most one of "input_dimension", "index_array" may be specified'
        )
    if "input_dimension" in obj:
        return OutputIndexMap(offset=offset, input_dimension=obj["input_dimension"], stride=stride)
    if "index_array" in obj:
        try:
            array = np.array(obj["index_array"], dtype=object)
            if (
                array.dtype == object
                and array.size
                and not all(isinstance(x, int) and not isinstance(x, bool) for x in array.flat)
            ):
                raise TypeError
            array = as_index_array(
                array.astype(np.int64) if array.size else np.zeros(array.shape, np.int64)
            )
        except (TypeError, ValueError, OverflowError):
            raise _JsonError(
                f'{where}: Error parsing object member "index_array": expected a rectangular array of integers'
            ) from None
        index_range = None
        bounds = obj.get("index_array_bounds")
        if bounds is not None:
            if not isinstance(bounds, list) or len(bounds) != 2:
                raise _JsonError(
                    f'{where}: Error parsing object member "index_array_bounds": expected [min, max]'
                )
            a, _ = _parse_bound(bounds[0], lower=True, where=where)
            b, _ = _parse_bound(bounds[1], lower=False, where=where)
            index_range = Dim._make(a, b if b == inf + 1 else b + 1, False, False, "")
        return OutputIndexMap(
            offset=offset, index_array=array, stride=stride, index_range=index_range
        )
    if "stride" in obj:
        raise _JsonError(
            f'{where}: Either "input_dimension" or "index_array" must be specified in conjunction with "stride"'
        )
    return OutputIndexMap(offset)


def transform_from_json(obj: Any) -> IndexTransform:
    """Parse IndexTransform JSON as tensorstore produces it (``[[n]]`` implicit bounds included)."""
    try:
        if not isinstance(obj, dict):
            raise _JsonError(f"Expected object, but received: {_dump(obj)}")
        extra = set(obj) - set(_TRANSFORM_MEMBERS) - {"output"}
        if extra:
            raise _JsonError(
                f"Object includes extra members: {', '.join(sorted(repr(x) for x in extra))}"
            )
        domain = _parse_domain(obj, "input_")
        output = obj.get("output")
        if output is None:
            return IndexTransform(domain=domain)
        if not isinstance(output, Sequence) or isinstance(output, str):
            raise _JsonError(
                f'Error parsing object member "output": Expected array, but received: {_dump(output)}'
            )
        if len(output) > MAX_RANK:
            raise _JsonError(
                f'Error parsing object member "output": Rank {len(output)} is outside valid range [0, {MAX_RANK}]'
            )
        maps = [_parse_map(m, j, domain) for j, m in enumerate(output)]
        return IndexTransform(domain=domain, output=maps)
    except ValueError as exc:
        raise ValueError(f"Error parsing index transform from JSON: {exc}") from None
