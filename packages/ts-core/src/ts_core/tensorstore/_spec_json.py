"""A TensorStore's spec JSON as ``TensorStore.spec(...)`` options shape it, the context
resources it is bound to, its URL and the view of an adapter's base.

The context member lists the resources the store's context chain has bound (the drivers
ask for them by name when they open), each with the JSON it was made from, as
tensorstore's ``unbind_context`` does; tensorstore's "config only" resources (file I/O
modes) belong inline in the kvstore spec, not in the context.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..driver._open_spec import RECHECK_DEFAULTS

if TYPE_CHECKING:
    from ..context import Context
    from ..driver import Driver
    from ..index_space import IndexTransform

__all__ = ["SPEC_OPTIONS", "driver_context", "apply_spec_options", "base_view", "bound_context_json", "driver_url", "sorted_members"]

#: Resources tensorstore never shares through a context: they are written inline in the
#: kvstore spec (``file_io_sync: true``), so they never appear in the context member.
CONFIG_ONLY_RESOURCES = frozenset({"file_io_sync", "file_io_locking", "file_io_mode", "file_io_retries"})

#: Every TensorStore copies data with a ``data_copy_concurrency`` pool (the ``array``
#: driver too, though ts's needs none).
_ALWAYS_BOUND: dict[str, Any] = {"data_copy_concurrency": {}}

#: Keyword options of ``TensorStore.spec``.
SPEC_OPTIONS = (
    "open_mode",
    "open",
    "create",
    "delete_existing",
    "assume_metadata",
    "assume_cached_metadata",
    "minimal_spec",
    "retain_context",
    "unbind_context",
    "recheck_cached_metadata",
    "recheck_cached_data",
    "recheck_cached",
    "minimal",  # the handbook's spelling of minimal_spec (a ts extension)
)



def driver_context(driver: Driver) -> Context | None:
    """The innermost context layer a driver (or the kvstore it uses) was opened in."""
    kvstore = driver.kvstore
    context = getattr(kvstore, "context", None) if kvstore is not None else None
    if context is None:
        context = getattr(driver, "_context", None)
    if context is None:
        base = getattr(driver, "_base", None)
        from ..driver import Driver as DriverBase

        if isinstance(base, DriverBase):
            return driver_context(base)
    return context


_RESOURCE_REF_SUFFIX = "context#/$defs/resource"
_declared_cache: dict[tuple[str, str], frozenset[str]] = {}


def _schema_resource_members(schema: Any, resolver: Any, seen: set[str]) -> set[str]:
    """Members a JSON schema declares as context resource references (following ``$ref``)."""
    found: set[str] = set()
    if isinstance(schema, dict):
        for name, member in (schema.get("properties") or {}).items():
            if isinstance(member, dict) and str(member.get("$ref", "")).endswith(_RESOURCE_REF_SUFFIX):
                found.add(name)
        ref = schema.get("$ref")
        if isinstance(ref, str) and not ref.endswith(_RESOURCE_REF_SUFFIX) and ref not in seen:
            seen.add(ref)
            from referencing.exceptions import Unresolvable

            with contextlib.suppress(Unresolvable):  # an unresolvable reference declares nothing
                found |= _schema_resource_members(resolver.lookup(ref).contents, resolver, seen)
        for key in ("allOf", "anyOf", "oneOf"):
            for sub in schema.get(key) or ():
                found |= _schema_resource_members(sub, resolver, seen)
    return found


def _declared_members(kind: str, driver_id: Any) -> frozenset[str]:
    """Resource members the ``kind`` (driver/kvstore) plugin ``driver_id`` declares in its schema."""
    key = (kind, str(driver_id))
    declared = _declared_cache.get(key)
    if declared is None:
        from ..plugin import get_registry

        registry = get_registry()
        record = registry.find(kind, str(driver_id))
        members: set[str] = set()
        if record is not None and record.schema:
            resolver = registry._references().resolver()
            members = _schema_resource_members(record.schema, resolver, set())
        declared = _declared_cache[key] = frozenset(members)
    return declared


def _resource_kinds(json_value: Any, kind: str = "driver") -> set[str]:
    """The resource kinds the drivers and kvstores of spec JSON may bind."""
    kinds: set[str] = set()
    if not isinstance(json_value, dict) or "driver" not in json_value:
        return kinds
    for member in _declared_members(kind, json_value["driver"]):
        reference = json_value.get(member)
        kinds.add(reference.split("#", 1)[0] if isinstance(reference, str) else member)
    for name, value in json_value.items():
        if name == "kvstore":
            kinds |= _resource_kinds(value, "kvstore")
        elif name == "base":
            kinds |= _resource_kinds(value, kind)
        elif isinstance(value, list):
            for item in value:
                kinds |= _resource_kinds(item, kind)
    return kinds


def bound_context_json(driver: Driver, spec_json: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``{identifier: resource JSON}`` for each resource the driver's context chain bound
    (only kinds the drivers of ``spec_json`` declare, when it declares any: a context
    shared with other stores also holds theirs)."""
    kinds = _resource_kinds(dict(spec_json)) if spec_json is not None else set()
    bound: dict[str, Any] = {}
    layer = driver_context(driver)
    while layer is not None:
        resources: Mapping[str, Any] = dict(getattr(layer, "_resources", {}))
        for identifier, handle in resources.items():
            kind = identifier.split("#", 1)[0]
            if kind in CONFIG_ONLY_RESOURCES or identifier in bound or (kinds and kind not in kinds):
                continue
            bound[identifier] = handle.spec_json
        layer = layer.parent
    for identifier, value in _ALWAYS_BOUND.items():
        bound.setdefault(identifier, dict(value))
    return dict(sorted(bound.items()))


def _without_metadata(json_value: dict[str, Any], members: frozenset[str]) -> dict[str, Any]:
    result = {name: value for name, value in json_value.items() if name not in members}
    if isinstance(result.get("base"), dict):
        result["base"] = _without_metadata(result["base"], members)
    return result


def _with_kvstore_members(json_value: dict[str, Any], driver: Driver) -> dict[str, Any]:
    """The ``kvstore`` member with the members its open store spells out when unbound (a
    file store's ``file_io_locking``, ``file_io_sync``, ...), as tensorstore prints them;
    the kvstore's own context joins the store's ``context`` member instead."""
    base = json_value.get("base")
    base_driver = getattr(driver, "_base", None)
    if isinstance(base, dict) and base_driver is not None and type(driver).__module__.startswith("ts_core."):
        json_value = {**json_value, "base": _with_kvstore_members(base, base_driver)}  # cast, downsample
    member = json_value.get("kvstore")
    kvstore = getattr(driver, "kvstore", None)
    if not isinstance(member, dict) or kvstore is None or getattr(kvstore, "context", None) is None:
        return json_value
    try:
        unbound = kvstore.spec(unbind_context=True).to_json()
    except (ValueError, TypeError, NotImplementedError):
        return json_value
    if unbound.get("driver") != member.get("driver"):
        return json_value
    extra = {name: value for name, value in unbound.items() if name not in member and name != "context"}
    if not extra:
        return json_value
    return {**json_value, "kvstore": {**member, **extra}}


def apply_spec_options(json_value: dict[str, Any], driver: Driver, options: Mapping[str, Any]) -> dict[str, Any]:
    """Spec JSON of an open store shaped by ``TensorStore.spec`` keyword ``options``."""
    unknown = sorted(set(options) - set(SPEC_OPTIONS))
    if unknown:
        raise TypeError(f"spec() got unexpected keyword argument(s): {', '.join(unknown)}")
    result = dict(json_value)
    if options.get("minimal_spec") or options.get("minimal"):
        members = frozenset(("metadata", *getattr(driver, "metadata_members", ())))
        result = _without_metadata(result, members)
    if options.get("unbind_context"):
        result["context"] = bound_context_json(driver, json_value)
        result = _with_kvstore_members(result, driver)
    open_mode = options.get("open_mode")
    flags = {name: options.get(name) for name in ("open", "create", "delete_existing", "assume_metadata",
                                                    "assume_cached_metadata")}
    if open_mode is not None:
        for name in flags:
            if getattr(open_mode, name, None) is not None and flags[name] is None:
                flags[name] = bool(getattr(open_mode, name))
    for name, value in flags.items():
        if value:
            result[name] = True
    if result.get("open") and not (result.get("create") or result.get("delete_existing")):
        del result["open"]  # opening is the default mode: tensorstore leaves it out
    recheck = options.get("recheck_cached")
    for name in ("recheck_cached_data", "recheck_cached_metadata"):
        value = options.get(name, None)
        if value is None:
            value = recheck
        if value is not None and value != RECHECK_DEFAULTS[name]:
            result[name] = value
    sorted_json: dict[str, Any] = sorted_members(result)
    return sorted_json


def sorted_members(value: Any) -> Any:
    """JSON with the members of every object in key order, as tensorstore writes JSON."""
    if isinstance(value, dict):
        return {key: sorted_members(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [sorted_members(item) for item in value]
    return value


def driver_url(spec_json: Mapping[str, Any]) -> str:
    """The TensorStore URL of ``spec_json``; NotImplementedError (as tensorstore raises)
    when its driver has no URL form."""
    try:
        from ..kvstore._url import tensorstore_url
    except ImportError:  # pragma: no cover - URL formatting not available
        raise NotImplementedError("URL representation not supported") from None
    try:
        return tensorstore_url(spec_json)
    except ValueError:
        raise NotImplementedError("URL representation not supported") from None


def base_view(driver: Driver, transform: IndexTransform) -> tuple[Driver, IndexTransform] | None:
    """The (driver, transform) of the store an adapter's view reads from; None if ``driver``
    adapts no single TensorStore (``cast`` keeps the view's transform; ``downsample``
    gives the base region the view's cells aggregate)."""
    from ..driver.cast import CastDriver
    from ..driver.downsample import DownsampleDriver

    if isinstance(driver, CastDriver):
        return driver._base, transform
    if isinstance(driver, DownsampleDriver):
        return driver._base, _downsample_base_transform(driver, transform)
    return None


def _downsample_base_transform(driver: Any, transform: IndexTransform) -> IndexTransform:
    """The base transform restricted to the blocks under the view's bounding box."""
    from ..index_space import IndexDomain

    base_transform: IndexTransform = driver._base_transform
    lower, upper = [], []
    for dim, (factor, base_lo, base_hi) in enumerate(zip(driver._factors, driver._lower, driver._upper, strict=True)):
        lo, hi = _output_range(transform, dim)
        lower.append(max(base_lo, lo * factor))
        upper.append(min(base_hi, hi * factor))
    box = IndexDomain(inclusive_min=lower, exclusive_max=upper)
    restricted: IndexTransform = base_transform[box]
    # A dimension the view indexes with a constant starts at 0 in the base view, as in tensorstore.
    constant = [dim for dim, output in enumerate(transform.output) if str(output.method).endswith("constant")]
    if constant:
        from ..index_space import d

        restricted = restricted[d[constant].translate_to[0]]
    return restricted


def _output_range(transform: IndexTransform, dim: int) -> tuple[int, int]:
    """The range ``[lo, hi)`` output dimension ``dim`` of ``transform`` takes."""
    import numpy as np

    output = transform.output[dim]
    method = str(output.method).rsplit(".", 1)[-1]
    if method == "constant":
        return int(output.offset), int(output.offset) + 1
    if method == "single_input_dimension":
        interval = transform.domain[output.input_dimension]
        ends = [output.offset + output.stride * interval.inclusive_min,
                output.offset + output.stride * (interval.exclusive_max - 1)]
        return int(min(ends)), int(max(ends)) + 1
    values = output.offset + output.stride * np.asarray(output.index_array)
    return int(values.min()), int(values.max()) + 1
