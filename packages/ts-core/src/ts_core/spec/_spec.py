"""ts.Spec: the JSON description of a TensorStore, validated, picklable and dict-like.

Besides tensorstore's API (``to_json``, ``update(**options)``, properties), a Spec can be
used like the dict it describes: ``spec['open'] = True``, ``spec.update({'context': ...})``,
``'kvstore' in spec``. Every mutation is validated against the driver's schema and
rejected (leaving the spec unchanged) if it makes the spec invalid.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from .._validation import SpecError, json_copy
from ..driver._open_spec import OPEN_MODE_MEMBERS, validate_spec_json

__all__ = ["OPEN_MODE_MEMBERS", "Spec", "apply_open_options", "parse_spec_json"]


def parse_spec_json(value: Any) -> dict[str, Any]:
    """Validate spec JSON, a URL or a ``ts.Spec`` against its driver's schema; returns a copy."""
    if isinstance(value, Spec):
        copied: dict[str, Any] = json_copy(value._json)
        return copied
    return validate_spec_json(value)


class Spec:
    """Parsed TensorStore spec (a driver's JSON), usable like a dict."""

    __slots__ = ("_json",)

    def __init__(self, json: Any) -> None:
        self._json: dict[str, Any] = parse_spec_json(json)

    # -- dict-like access --------------------------------------------------------------------
    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self._json[key]
        raise TypeError("Spec supports member access by name (spec['kvstore']); index the opened TensorStore instead")

    def __setitem__(self, key: str, value: Any) -> None:
        self._replace({**self._json, key: value})

    def __delitem__(self, key: str) -> None:
        if key == "driver":
            raise SpecError("driver", "the driver member cannot be removed")
        remaining = dict(self._json)
        del remaining[key]
        self._replace(remaining)

    def __contains__(self, key: object) -> bool:
        return key in self._json

    def __iter__(self) -> Iterator[str]:
        return iter(self._json)

    def __len__(self) -> int:
        return len(self._json)

    def keys(self) -> Any:
        return self._json.keys()

    def items(self) -> Any:
        return self._json.items()

    def get(self, key: str, default: Any = None) -> Any:
        return self._json.get(key, default)

    def _replace(self, json_value: dict[str, Any]) -> None:
        self._json = parse_spec_json(json_value)

    # -- tensorstore's API --------------------------------------------------------------------
    def update(self, other: Mapping[str, Any] | None = None, /, **options: Any) -> None:
        """Merge JSON members (``spec.update({...})``) and/or apply ``ts.open``-style options."""
        merged = dict(self._json)
        if other is not None:
            if isinstance(other, Spec):
                other = other._json
            if not isinstance(other, Mapping):
                raise TypeError(f"update() takes a mapping of spec members, got {type(other).__name__}")
            merged.update(copy.deepcopy(dict(other)))
        merged = apply_open_options(merged, options)
        self._replace(merged)

    def to_json(self, include_defaults: bool = False) -> dict[str, Any]:
        return copy.deepcopy(dict(sorted(self._json.items())))

    def copy(self) -> Spec:
        return Spec(self)

    @property
    def driver(self) -> str:
        return str(self._json["driver"])

    @property
    def kvstore(self) -> Any:
        from ..kvstore import KvStoreSpec

        kvstore = self._json.get("kvstore")
        return None if kvstore is None else KvStoreSpec(kvstore)

    @property
    def dtype(self) -> Any:
        from .._dtype import dtype

        value = self._json.get("dtype")
        return None if value is None else dtype(value)

    @property
    def rank(self) -> int | None:
        rank = self._json.get("rank")
        if rank is None and "transform" in self._json:
            from ..index_space import IndexTransform

            return int(IndexTransform(json=self._json["transform"]).input_rank)
        return rank

    ndim = rank

    @property
    def transform(self) -> Any:
        from ..index_space import IndexTransform

        value = self._json.get("transform")
        return None if value is None else IndexTransform(json=value)

    @property
    def domain(self) -> Any:
        transform = self.transform
        return None if transform is None else transform.domain

    @property
    def open_mode(self) -> dict[str, bool]:
        return {name: bool(self._json.get(name, False)) for name in OPEN_MODE_MEMBERS}

    # -- value semantics -------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Spec):
            return NotImplemented
        return self._json == other._json

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (Spec, (self._json,))

    def __repr__(self) -> str:
        return f"Spec({self.to_json()!r})"


def apply_open_options(json_value: dict[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """Fold ``ts.open`` keyword options into spec JSON (schema constraints under ``schema``)."""
    result = dict(json_value)
    schema = dict(result.get("schema") or {})
    for name, value in options.items():
        if value is None:
            continue
        if name in OPEN_MODE_MEMBERS or name in ("recheck_cached_data", "recheck_cached_metadata"):
            result[name] = value
        elif name == "recheck_cached":
            result["recheck_cached_data"] = result["recheck_cached_metadata"] = value
        elif name == "context":
            from ..context import Context, ContextSpec

            layer = value.spec if isinstance(value, Context) else ContextSpec(value)
            result["context"] = {**layer.to_json(), **dict(result.get("context") or {})}
        elif name == "kvstore":
            from ..kvstore import KvStore, KvStoreSpec

            spec = value.spec() if isinstance(value, KvStore) else KvStoreSpec(value)
            result["kvstore"] = spec.to_json()
        elif name == "dtype":
            from .._dtype import to_dtype

            result["dtype"] = to_dtype(value, json_path="dtype").name
        elif name == "rank":
            result["rank"] = int(value)
        elif name == "shape":
            schema["domain"] = {"shape": [int(n) for n in value]}
        elif name == "domain":
            schema["domain"] = value.to_json() if hasattr(value, "to_json") else value
        elif name in ("chunk_layout", "codec", "dimension_units"):
            schema[name] = value.to_json() if hasattr(value, "to_json") else value
        elif name == "fill_value":
            import numpy as np

            schema["fill_value"] = np.asarray(value).tolist()
        elif name == "schema":
            incoming = value.to_json() if hasattr(value, "to_json") else dict(value)
            for member, member_value in incoming.items():
                if member == "dtype":
                    result.setdefault("dtype", member_value)
                elif member == "rank":
                    result.setdefault("rank", member_value)
                else:
                    schema.setdefault(member, member_value)
        else:
            raise TypeError(f"unexpected option {name!r}")
    if schema:
        result["schema"] = schema
    return result
