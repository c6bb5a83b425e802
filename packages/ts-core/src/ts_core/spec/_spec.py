"""ts.Spec: the JSON description of a TensorStore, validated, picklable and indexable.

Besides tensorstore's API (properties, ``update(**options)``, indexing a spec applies an
index to its transform: ``spec[1:3]``, ``spec.T``, ``spec.translate_to[...]``), a Spec can
be used like the dict it describes (a ts extension): ``spec['open'] = True``,
``spec.update({'context': ...})``, ``'kvstore' in spec``. A string key means member
access; any other key is an index. Every mutation is validated against the driver's
schema and rejected (leaving the spec unchanged) if it makes the spec invalid.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .._validation import SpecError, json_copy
from ..context._context import resources_json
from ..driver._open_spec import OPEN_MODE_MEMBERS, validate_spec_json
from ..index_space._mixin import Indexable
from ._normalize import normalize_spec_json, parse_transform, printed_members

__all__ = ["OPEN_MODE_MEMBERS", "Spec", "apply_open_options", "parse_spec_json"]

#: URL scheme of each driver whose plugin registers none (tensorstore's spellings).
_DRIVER_URL_SCHEMES = {
    "zarr": "zarr2",
    "zarr3": "zarr3",
    "n5": "n5",
    "neuroglancer_precomputed": "neuroglancer-precomputed",
}

_CONTEXT_OPTIONS = ("context", "unbind_context", "strip_context")
_IGNORED_OPTIONS = ("minimal_spec",)


def parse_spec_json(value: Any) -> dict[str, Any]:
    """Validate spec JSON, a URL or a ``ts.Spec`` against its driver's schema; returns a copy."""
    if isinstance(value, Spec):
        copied: dict[str, Any] = json_copy(value._json)
        return copied
    return validate_spec_json(value)


class Spec(Indexable):
    """Parsed TensorStore spec (a driver's JSON and the transform applied to it)."""

    __slots__ = ("_context", "_json")

    def __init__(self, json: Any) -> None:
        self._json: dict[str, Any] = normalize_spec_json(parse_spec_json(json))
        #: A context bound with ``update(context=...)`` (resources shared with it).
        self._context: Any = json._context if isinstance(json, Spec) else None

    @classmethod
    def _from_normalized(cls, json_value: dict[str, Any], context: Any = None) -> Spec:
        spec = cls.__new__(cls)
        spec._json = json_value
        spec._context = context
        return spec

    # -- dict-like access (a ts extension) -----------------------------------------------------
    def __getitem__(self, key: Any) -> Any:
        """``spec['member']`` reads a JSON member; any other key indexes the spec's domain."""
        if isinstance(key, str):
            return self._json[key]
        from ..schema._schema import check_composable

        check_composable(self._index_transform(), key)
        return Indexable.__getitem__(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise TypeError(f"Spec members are named by str, not {type(key).__name__}")
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
        self._json = normalize_spec_json(validate_spec_json(json_value))

    # -- indexing -------------------------------------------------------------------------------
    def _index_transform(self) -> Any:
        from ..index_space import IndexTransform

        transform = self.transform
        if transform is not None:
            return transform
        rank = self.rank
        if rank is None:
            raise ValueError("Cannot perform indexing operations on Spec with unspecified rank")
        return IndexTransform(input_rank=rank)

    def _with_index_transform(self, transform: Any) -> Spec:
        json_value = dict(self._json)
        json_value.pop("rank", None)
        json_value["transform"] = transform.to_json()
        return Spec._from_normalized(dict(sorted(json_value.items())), self._context)

    # -- tensorstore's API ----------------------------------------------------------------------
    def update(self, other: Mapping[str, Any] | None = None, /, **options: Any) -> None:
        """Apply ``ts.open``-style options (tensorstore's ``Spec.update``); a mapping (or
        Spec) given positionally merges its members first (a ts extension)."""
        merged = dict(self._json)
        if other is not None:
            if isinstance(other, Spec):
                other = other._json
            if not isinstance(other, Mapping):
                raise TypeError(f"update() takes a mapping of spec members, got {type(other).__name__}")
            merged.update(json_copy(dict(other)))
        context = options.pop("context", None)
        unbind = options.pop("unbind_context", None)
        strip = options.pop("strip_context", None)
        for name in _IGNORED_OPTIONS:
            options.pop(name, None)
        if options.get("kvstore") is not None and "kvstore" in merged:
            raise SpecError("kvstore", '"kvstore" is already specified')
        merged = _apply_open_mode(merged, options)
        merged = _apply_update_options(merged, options)
        bound = self._context
        if context is not None:
            merged = _bind_context(merged, context)
            bound = context
        if unbind and bound is not None:
            # The resources the spec used are spelled out under ``context`` (as tensorstore).
            merged["context"] = bound_json(validate_spec_json(merged), bound, bound_form=False)["context"]
            bound = None
        if strip:
            merged = strip_context_json(merged)
            bound = None
        self._replace(merged)
        self._context = bound

    def to_json(self, include_defaults: bool = False) -> dict[str, Any]:
        """The spec's JSON; with ``include_defaults`` the members a kvstore-backed driver
        and its kvstore take by default are spelled out too (not a format's own defaults)."""
        copied: dict[str, Any] = json_copy(self._json)
        if self._context is not None:
            copied = bound_json(copied, self._context, bound_form=False)
        context = copied.get("context")
        if isinstance(context, dict) and context:  # as tensorstore writes it (defaults left out)
            copied["context"] = resources_json(context, include_defaults)
        copied = printed_members(copied)
        return with_defaults(copied) if include_defaults else copied

    def copy(self) -> Spec:
        return Spec._from_normalized(json_copy(self._json), self._context)

    def __copy__(self) -> Spec:
        return self.copy()

    def __deepcopy__(self, memo: Any) -> Spec:
        return self.copy()

    # -- properties -----------------------------------------------------------------------------
    @property
    def driver(self) -> str:
        """The driver id (a ts extension)."""
        return str(self._json["driver"])

    @property
    def kvstore(self) -> Any:
        """The ``KvStore.Spec`` of the spec's ``kvstore`` member, or None."""
        from ..kvstore import KvStoreSpec

        kvstore = self._json.get("kvstore")
        return None if kvstore is None else KvStoreSpec(kvstore)

    @property
    def base(self) -> Spec | None:
        """The adapted spec of an adapter (``cast``, ``downsample``, ...), else None.

        A ``cast`` converts elements one to one, so its transform applies to its base too.
        """
        base = self._json.get("base")
        if base is None:
            return None
        if self.driver == "downsample":  # the base elements the selected cells aggregate
            from ..driver.downsample import downsample_base_json

            return Spec(downsample_base_json(self._json, self.transform))
        base_spec = Spec(base)
        if self.driver == "cast" and "transform" in self._json:
            return base_spec._with_index_transform(self.transform)
        return base_spec

    @property
    def dtype(self) -> Any:
        from .._dtype import dtype

        value = self._json.get("dtype")
        return None if value is None else dtype(value)

    @property
    def rank(self) -> int | None:
        if "transform" in self._json:
            return int(self.transform.input_rank)
        rank = self._json.get("rank")
        return None if rank is None else int(rank)

    @property
    def ndim(self) -> int | None:
        """Alias for ``rank``."""
        return self.rank

    @property
    def transform(self) -> Any:
        value = self._json.get("transform")
        return None if value is None else parse_transform(value)

    @property
    def domain(self) -> Any:
        transform = self.transform
        return None if transform is None else transform.domain

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._index_transform().domain.shape)

    @property
    def origin(self) -> tuple[int, ...]:
        return tuple(self._index_transform().domain.origin)

    @property
    def size(self) -> int:
        return int(self._index_transform().domain.size)

    @property
    def schema(self) -> Any:
        """The schema constraints, in the spec's own index space (after its transform)."""
        return self._schema(with_chunk_layout=True)

    def _schema(self, with_chunk_layout: bool) -> Any:
        """The spec's schema merged with what its driver's members imply; without
        ``with_chunk_layout`` the chunk layouts are left out, so that a conflict between them
        surfaces only in ``schema`` and ``chunk_layout`` (as tensorstore's)."""
        from ..schema import ChunkLayout
        from ..schema._schema import Schema, schema_from_json, transform_schema
        from ._normalize import driver_schema

        schema_json = dict(self._json.get("schema") or {})
        if self._json.get("dtype") is not None:
            schema_json["dtype"] = self._json["dtype"]  # a fill value takes the dtype
        if not with_chunk_layout:
            schema_json.pop("chunk_layout", None)
        schema: Schema = schema_from_json(schema_json, "schema")
        implied = driver_schema(self._json)
        if implied is not None:
            implied = implied.copy()
            implied._domain = None  # the transform carries it
            if not with_chunk_layout:
                implied._chunk_layout = ChunkLayout()
            if implied._fill_value is not None:
                schema._fill_value = None  # the metadata's fill value wins (as tensorstore's)
            schema.update(schema=implied)
        transform = self.transform
        if transform is None:
            if self._json.get("rank") is not None:
                schema.update(rank=self._json["rank"])
            return schema
        schema.update(rank=transform.output_rank)
        viewed: Schema = transform_schema(schema, transform)
        viewed._domain = transform.domain  # the spec's transform defines its domain
        return viewed

    @property
    def chunk_layout(self) -> Any:
        """The schema's chunk layout; of the spec's rank when it constrains nothing else (as
        tensorstore's)."""
        from ..schema import ChunkLayout

        layout = self.schema.chunk_layout
        rank = self.rank
        if rank is not None and not layout.to_json():
            return ChunkLayout(rank=rank)
        return layout

    @property
    def codec(self) -> Any:
        return self._schema(with_chunk_layout=False).codec

    @property
    def fill_value(self) -> Any:
        return self._schema(with_chunk_layout=False).fill_value

    @property
    def dimension_units(self) -> Any:
        """None while the spec's rank is unknown (as tensorstore's, even when its metadata
        gives units)."""
        if self.rank is None:
            return None
        return self._schema(with_chunk_layout=False).dimension_units

    @property
    def open_mode(self) -> Any:
        """The open-mode flags the spec sets (``OpenMode(open=True)`` when it sets none)."""
        from .._open_mode import OPEN_MODE_FLAGS, OpenMode

        flags = {name: bool(self._json.get(name, False)) for name in OPEN_MODE_FLAGS}
        if not (flags["open"] or flags["create"]):
            flags["open"] = True  # assume_metadata and the like qualify an open, as in tensorstore
        return OpenMode(**flags)

    @property
    def url(self) -> str:
        """The spec as a URL pipeline (``"memory://|zarr2:"``); ValueError if it has none."""
        return spec_url(self._json)

    # -- value semantics ----------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Spec):
            return NotImplemented
        return self._json == other._json and self._context is other._context

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (Spec, (self.to_json(),))  # a bound spec pickles unbound, its resources spelled out

    def __repr__(self) -> str:
        from ..schema._pretty import pretty_repr

        shown = self._json if self._context is None else bound_json(self._json, self._context)
        return pretty_repr("Spec(", shown)


#: Resources every kvstore-backed driver refers to (the ``kvs_backed`` part of the schema).
_KVS_BACKED_RESOURCES = ("cache_pool", "data_copy_concurrency")


def _driver_schema_properties(driver: str) -> dict[str, Any]:
    """The members ``driver``'s own JSON schema declares (not those of the base schemas)."""
    from ..plugin import get_registry

    record = get_registry().find("driver", driver)
    if record is None or record.schema is None:
        return {}
    return dict(record.schema.get("properties", {}))


def _driver_resource_members(driver: str) -> list[str]:
    """Members of ``driver``'s spec that refer to context resources."""
    from ..plugin import get_registry

    registry = get_registry()
    record = registry.find("driver", driver)
    if record is None or record.schema is None:
        return []
    kinds = set(registry.ids("context_resource"))
    names = [name for name in _driver_schema_properties(driver) if name in kinds]
    if any(str(part.get("$ref", "")).endswith("/kvs_backed") for part in record.schema.get("allOf", [])):
        names.extend(name for name in _KVS_BACKED_RESOURCES if name not in names)
    return names


def bound_json(json_value: dict[str, Any], context: Any, bound_form: bool = True) -> dict[str, Any]:
    """Spec JSON bound to ``context``: under ``context`` the spec each resource it refers to
    resolves to, and (``bound_form``, how tensorstore prints it) each reference as
    ``[identifier]``."""
    from ..context import Context, ContextSpec
    from ..kvstore import KvStoreSpec

    layer = json_value.get("context")
    resolving = Context(ContextSpec(layer), parent=context) if layer else context
    shown = dict(json_value)
    resolved: dict[str, Any] = {}
    for name in _driver_resource_members(str(json_value["driver"])):
        identifier = shown.get(name, name)
        if isinstance(identifier, str):
            if bound_form:
                shown[name] = [identifier]
            resolved[identifier] = resolving[identifier].to_json()
    if isinstance(shown.get("kvstore"), dict):
        kvstore = KvStoreSpec(shown["kvstore"])
        references, shared, inline = kvstore._resolve_resources(resolving, None)
        if bound_form:
            bound = {name: [value] for name, value in {**inline, **references}.items()}
            shown["kvstore"] = dict(sorted({**shown["kvstore"], **bound}.items()))
        else:  # configuration-only resources are written inline, as tensorstore's bound specs
            shown["kvstore"] = dict(sorted({**shown["kvstore"], **inline}.items()))
        resolved.update(shared)
    shown["context"] = dict(sorted({**resolved, **dict(layer or {})}.items()))
    return dict(sorted(shown.items()))


#: What every kvstore-backed driver takes when its spec does not say.
_KVS_BACKED_DEFAULTS: dict[str, Any] = {
    "assume_cached_metadata": False,
    "assume_metadata": False,
    "cache_pool": "cache_pool",
    "data_copy_concurrency": "data_copy_concurrency",
    "delete_existing": False,
    "fill_missing_data_reads": True,
    "recheck_cached_data": True,
    "recheck_cached_metadata": "open",
    "store_data_equal_to_fill_value": False,
}


def with_defaults(json_value: dict[str, Any]) -> dict[str, Any]:
    """Spec JSON with the generic defaults spelled out (``to_json(include_defaults=True)``)."""
    from ..kvstore import KvStoreSpec

    result = dict(json_value)
    result.setdefault("context", {})
    schema = dict(result.get("schema") or {})
    if "dtype" in result:
        schema.setdefault("dtype", result["dtype"])
    if "transform" in result:
        schema.setdefault("rank", parse_transform(result["transform"]).output_rank)
    elif "rank" in result:
        schema.setdefault("rank", result["rank"])
    if schema:
        result["schema"] = dict(sorted(schema.items()))
    if "kvstore" in result:
        result["kvstore"] = KvStoreSpec(result["kvstore"]).to_json(include_defaults=True)
        for name, value in _KVS_BACKED_DEFAULTS.items():
            result.setdefault(name, value)
        result.setdefault("schema", {})
        if "metadata" in _driver_schema_properties(str(result["driver"])):
            result.setdefault("metadata", {})
    if isinstance(result.get("base"), dict):
        result["base"] = with_defaults(result["base"])
    return dict(sorted(result.items()))


def spec_url(json_value: Mapping[str, Any]) -> str:
    """URL of spec JSON: its kvstore's URL, then the driver's component."""
    from ..kvstore import KvStoreSpec
    from ..plugin import get_registry

    driver = json_value["driver"]
    if driver == "cast" and "base" in json_value and "dtype" in json_value:
        return f"{spec_url(json_value['base'])}|cast:{json_value['dtype']}"
    scheme = None
    for record in get_registry().records("url_scheme"):
        if record.metadata.get("layer") == "driver" and record.metadata.get("driver") == driver:
            scheme = record.id
            break
    scheme = scheme or _DRIVER_URL_SCHEMES.get(driver)
    if scheme is None or "kvstore" not in json_value:
        raise NotImplementedError(f'URL representation not supported for "{driver}" driver')
    return f"{KvStoreSpec(json_value['kvstore']).url}|{scheme}:"


def _apply_open_mode(json_value: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """As in tensorstore, open-mode options replace the spec's open mode as a whole."""
    from .._open import open_mode_override
    from .._open_mode import OPEN_MODE_FLAGS

    mode = open_mode_override(options.pop("open_mode", None),
                              {name: options.pop(name, None) for name in OPEN_MODE_FLAGS})
    if mode is None:
        return json_value
    result = {name: value for name, value in json_value.items() if name not in OPEN_MODE_FLAGS}
    result.update(mode.to_json())
    return result


def _bind_context(json_value: dict[str, Any], context: Any) -> dict[str, Any]:
    from ..context import Context

    if not isinstance(context, Context):
        raise TypeError(f"context: expected ts.Context, but received {type(context).__name__}")
    layer = context.spec.to_json() if context.spec is not None else {}
    merged = {**layer, **dict(json_value.get("context") or {})}
    return {**json_value, "context": dict(sorted(merged.items()))}


def strip_context_json(json_value: dict[str, Any]) -> dict[str, Any]:
    """Spec JSON without ``context`` members or references to context resources (at any
    depth: kvstore, base), so the default resources apply."""
    from ..plugin import get_registry

    kinds = set(get_registry().ids("context_resource"))

    def strip(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {name: strip(member) for name, member in value.items()
                if name != "context" and name not in kinds}

    stripped: dict[str, Any] = strip(json_value)
    return stripped


def apply_open_options(json_value: dict[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """Fold ``ts.open`` keyword options into spec JSON (schema constraints under ``schema``).

    The driver checks the constraints when it opens the array.
    """
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
            result["context"] = {**_context_layer(value), **dict(result.get("context") or {})}
        elif name == "kvstore":
            result["kvstore"] = _kvstore_json(value)
        elif name == "dtype":
            from .._dtype import to_dtype

            result["dtype"] = to_dtype(value, json_path="dtype").name
        elif name == "rank":
            result["rank"] = int(value)
        elif name == "shape":
            schema["domain"] = _merged_domain_json(schema.get("domain"), {"shape": [int(n) for n in value]})
        elif name == "domain":
            schema["domain"] = _merged_domain_json(schema.get("domain"), value.to_json() if hasattr(value, "to_json") else value)
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
                elif member == "domain":
                    schema["domain"] = _merged_domain_json(schema.get("domain"), member_value)
                else:
                    schema.setdefault(member, member_value)
        else:
            raise TypeError(f"unexpected option {name!r}")
    if schema:
        result["schema"] = schema
    return result


def _merged_domain_json(existing: Any, new: Any) -> Any:
    """Two schema domains as one (``shape=`` and a labelled ``schema`` domain, say), as
    tensorstore merges them; a conflict is a ValueError naming ``schema.domain``."""
    if existing is None:
        return new
    from ..index_space import IndexDomain
    from ..schema._domain_merge import merge_domains

    merged = merge_domains(IndexDomain(json=existing), IndexDomain(json=new), "schema.domain")
    return merged.to_json()


def _context_layer(value: Any) -> dict[str, Any]:
    from ..context import Context, ContextSpec

    if isinstance(value, Context):
        return value.spec.to_json() if value.spec is not None else {}
    layer: dict[str, Any] = ContextSpec(value).to_json()
    return layer


def _kvstore_json(value: Any) -> dict[str, Any]:
    from ..kvstore import KvStore, KvStoreSpec

    spec = value.spec() if isinstance(value, KvStore) else KvStoreSpec(value)
    json_value: dict[str, Any] = spec.to_json()
    return json_value


def _apply_update_options(json_value: dict[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """``Spec.update`` options: as ``ts.open``'s, but schema constraints are merged at once,
    so a conflict is a ValueError naming the member (as in tensorstore)."""
    constraints = {name: value for name, value in options.items()
                   if name in _SCHEMA_OPTIONS and value is not None}
    others = {name: value for name, value in options.items() if name not in _SCHEMA_OPTIONS}
    result = apply_open_options(json_value, others)
    return _merge_schema_options(result, constraints) if constraints else result


_SCHEMA_OPTIONS = ("rank", "dtype", "shape", "domain", "chunk_layout", "codec", "fill_value",
                   "dimension_units", "schema")


def _merge_schema_options(json_value: dict[str, Any], constraints: dict[str, Any]) -> dict[str, Any]:
    from ..index_space import IndexDomain
    from ..schema import ChunkLayout, CodecSpec
    from ..schema._schema import Schema, schema_from_json

    schema = schema_from_json(json_value.get("schema") or {}, "schema")
    if json_value.get("dtype") is not None:
        schema.update(dtype=json_value["dtype"])
    if json_value.get("rank") is not None:
        schema.update(rank=json_value["rank"])
    converters: dict[str, Any] = {"chunk_layout": ChunkLayout, "codec": CodecSpec, "schema": Schema,
                  "domain": lambda value: IndexDomain(json=value)}
    for name, convert in converters.items():
        value = constraints.get(name)
        if isinstance(value, Mapping):
            constraints[name] = convert(value)
    if "rank" in constraints:
        constraints["rank"] = int(constraints["rank"])
    transform = json_value.get("transform")
    if transform is not None and constraints.get("rank") is not None:
        rank = parse_transform(transform).input_rank
        if constraints["rank"] != rank:
            raise SpecError("rank", f"rank {constraints['rank']} does not match the rank of the "
                                    f"spec's transform ({rank})")
        del constraints["rank"]
    schema.update(**constraints)
    members = schema.to_json()
    result = {name: value for name, value in json_value.items() if name not in ("schema", "dtype", "rank")}
    if "dtype" in members:
        result["dtype"] = members.pop("dtype")
    if "rank" in members:
        result["rank"] = members.pop("rank")
    if members:
        result["schema"] = members
    return result
