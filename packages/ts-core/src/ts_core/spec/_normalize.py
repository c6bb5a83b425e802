"""The canonical JSON of a ``ts.Spec``, as tensorstore prints it.

tensorstore parses a spec into a driver spec plus a transform and prints it back in one
form: ``rank`` and ``dtype`` given inside ``schema`` move to the top level, the schema's
domain is written out (``exclusive_max``/``inclusive_min``), a known domain becomes an
identity ``transform`` over it (upper bounds implicit: the array may be resized), a
``transform`` replaces ``rank``, and open-mode flags that are false are dropped. The
driver's optional classmethods refine this: ``spec_schema`` (what its members imply: the
domain becomes the transform, a rank without one the top-level ``rank``), ``spec_rank``
(the rank the spec itself takes, if not the implied schema's) and
``normalize_spec_metadata`` (``metadata`` in the driver's canonical form) and
``normalize_spec_members`` (the whole spec JSON, for formats whose metadata members have
other names).
"""

from __future__ import annotations

from typing import Any

from .._validation import SpecError

__all__ = ["normalize_spec_json", "parse_transform", "printed_members"]


def parse_transform(value: Any, path: str = "transform") -> Any:
    """``IndexTransform`` from spec JSON; errors name ``path``."""
    from ..index_space import IndexTransform

    if isinstance(value, IndexTransform):
        return value
    try:
        return IndexTransform(json=value)
    except SpecError:
        raise
    except (TypeError, ValueError) as exc:
        raise SpecError(path, str(exc)) from None


def printed_members(json_value: dict[str, Any]) -> dict[str, Any]:
    """Spec JSON as tensorstore prints it (``to_json``): open-mode flags that are false,
    a lone ``open: true`` (opening is the default mode) and the cache-recheck options at
    their defaults left out. The spec itself keeps them (``spec["create"]`` still reads
    what was set)."""
    from ..driver._open_spec import OPEN_MODE_MEMBERS, RECHECK_DEFAULTS

    result = {name: value for name, value in json_value.items()
              if not (name in OPEN_MODE_MEMBERS and value is False)
              and not (name in RECHECK_DEFAULTS and type(value) is type(RECHECK_DEFAULTS[name])
                       and value == RECHECK_DEFAULTS[name])}
    if result.get("open") is True and not (result.get("create") or result.get("delete_existing")):
        del result["open"]
    return result


def _fold_path_into_kvstore(result: dict[str, Any], driver_class: Any) -> None:
    """As tensorstore: a driver's ``path`` member is joined onto its kvstore's path, and a
    chunked format's kvstore path (its directory) ends with ``/``."""
    from ..kvstore._spec import join_path

    kvstore = result.get("kvstore")
    if kvstore is None and result.get("path") is not None and _is_chunked(driver_class):
        raise SpecError("path", '"path" must be specified in conjunction with "kvstore"')
    if not isinstance(kvstore, dict) or not isinstance(kvstore.get("path", ""), str):
        return
    path = kvstore.get("path", "")
    member = result.get("path")
    if isinstance(member, str):
        path = join_path(path, member)
        del result["path"]
    if path and not path.endswith("/") and _is_chunked(driver_class):
        path += "/"
    if path != kvstore.get("path", ""):
        result["kvstore"] = dict(sorted({**kvstore, "path": path}.items()))


def _normalized_nested(json_value: Any, json_path: str) -> Any:
    """A nested spec (an adapter's ``base``, a ``stack`` layer) in canonical form; one
    that does not validate is kept as it is, for opening to report."""
    from ..driver._open_spec import validate_spec_json

    if not isinstance(json_value, dict):
        return json_value
    try:
        return normalize_spec_json(validate_spec_json(json_value, json_path))
    except (TypeError, ValueError):
        return json_value


def _is_chunked(driver_class: Any) -> bool:
    """Whether a driver class is a chunked format (its kvstore path is a directory)."""
    from ..driver import KvsChunkedDriver

    return isinstance(driver_class, type) and issubclass(driver_class, KvsChunkedDriver)


def _driver_class(json_value: dict[str, Any]) -> Any:
    """The class of the spec's driver, or None if no plugin registers it."""
    from ..plugin import get_registry

    record = get_registry().find("driver", str(json_value.get("driver")))
    return None if record is None else record.load()


def normalize_spec_json(json_value: dict[str, Any]) -> dict[str, Any]:
    """Canonical form of validated spec JSON (a new dict; ``json_value`` is left alone)."""
    from ..schema._schema import Schema, schema_from_json

    result = dict(json_value)
    driver_class = _driver_class(result)
    _fold_path_into_kvstore(result, driver_class)
    if getattr(driver_class, "normalizes_base_spec", False) and "base" in result:
        result["base"] = _normalized_nested(result["base"], "base")
    if getattr(driver_class, "normalizes_layer_specs", False) and isinstance(result.get("layers"), list):
        result["layers"] = [_normalized_nested(layer, f"layers[{i}]") for i, layer in enumerate(result["layers"])]
    schema_json = result.get("schema")
    implied = driver_schema(result)
    if isinstance(result.get("metadata"), dict):
        normalize_metadata = driver_hook(result, "normalize_spec_metadata")
        if normalize_metadata is not None:
            result["metadata"] = normalize_metadata(result)
    normalize_members = driver_hook(result, "normalize_spec_members")
    if normalize_members is not None:  # formats whose metadata has other member names
        result = dict(normalize_members(result))
    if schema_json is None and implied is None and "rank" not in result \
            and "dtype" not in result and "transform" not in result:
        return dict(sorted(result.items()))
    schema = schema_from_json(schema_json, "schema") if schema_json is not None else Schema()
    implied_transform = None
    if implied is not None:
        if implied.dtype is not None and result.get("dtype") is None:
            result["dtype"] = implied.dtype.name
        if result.get("transform") is None:
            if implied.domain is not None:
                implied_transform = over_implied_domain(implied.domain, schema.domain)
            elif implied.rank is not None and result.get("rank") is None \
                    and schema.domain is None and spec_rank(result, implied) is not None:
                result["rank"] = implied.rank
    if result.get("dtype") is not None:
        schema._set_dtype(result["dtype"], "dtype")
    if result.get("rank") is not None and result.get("transform") is None:
        schema._set_rank(result["rank"], "rank")
    transform = None
    if result.get("transform") is not None:
        transform = parse_transform(result["transform"])
        if schema.rank is not None and schema.rank != transform.output_rank:
            raise SpecError("transform", f"transform output rank ({transform.output_rank}) does "
                                         f"not match the rank of the schema ({schema.rank})")
    members = schema.to_json()
    result.pop("rank", None)
    result.pop("dtype", None)
    dtype = members.pop("dtype", None)
    rank = members.pop("rank", None)
    if dtype is not None:
        result["dtype"] = dtype
    if members:
        result["schema"] = members
    else:
        result.pop("schema", None)
    if transform is None:
        transform = implied_transform
    if transform is None and schema.domain is not None:
        transform = identity_over(schema.domain)
    if transform is not None:
        result["transform"] = transform.to_json()
    elif rank is not None:
        result["rank"] = rank
    return dict(sorted(result.items()))


def driver_hook(json_value: dict[str, Any], name: str) -> Any:
    """The optional classmethod ``name`` of the spec's driver class, or None."""
    return getattr(_driver_class(json_value), name, None)


def driver_schema(json_value: dict[str, Any]) -> Any:
    """What the driver's own members (``metadata``, ...) imply, as a ``ts.Schema``, from the
    driver's optional ``spec_schema(json_value)`` classmethod; None if it has none."""
    hook = driver_hook(json_value, "spec_schema")
    return None if hook is None else hook(json_value)


def spec_rank(json_value: dict[str, Any], implied: Any) -> int | None:
    """The rank the spec itself takes from its driver's members: the driver's optional
    ``spec_rank(json_value)`` classmethod, else the rank of what they imply."""
    hook = driver_hook(json_value, "spec_rank")
    rank: int | None = implied.rank if hook is None else hook(json_value)
    return rank


def over_implied_domain(implied_domain: Any, schema_domain: Any) -> Any:
    """The identity transform over the domain the driver's members imply, merged with the
    schema's domain (labels, bounds); the implied domain's implicit flags are kept, so a
    field's inner dimensions stay explicit."""
    from ..index_space import IndexDomain, IndexTransform
    from ..schema._domain_merge import merge_domains

    domain = implied_domain
    if schema_domain is not None:
        merged = merge_domains(implied_domain, schema_domain, "schema.domain")
        domain = IndexDomain(
            inclusive_min=merged.inclusive_min,
            exclusive_max=merged.exclusive_max,
            implicit_lower_bounds=implied_domain.implicit_lower_bounds,
            implicit_upper_bounds=implied_domain.implicit_upper_bounds,
            labels=merged.labels,
        )
    return IndexTransform(domain=domain)


def identity_over(domain: Any) -> Any:
    """The identity transform over ``domain`` with implicit upper bounds (a resizable array)."""
    from ..index_space import IndexDomain, IndexTransform

    implicit = IndexDomain(
        inclusive_min=domain.inclusive_min,
        exclusive_max=domain.exclusive_max,
        implicit_lower_bounds=domain.implicit_lower_bounds,
        implicit_upper_bounds=[True] * domain.rank,
        labels=domain.labels,
    )
    return IndexTransform(domain=implicit)
