"""Open a driver from spec JSON: the layer below ``ts.open`` that adapter drivers use too.

``ts.open`` validates a user's spec, folds in keyword options, calls :func:`open_driver` and
wraps the result in a ``TensorStore``. An adapter (``cast``, ``downsample``, ``lazy``, a
third party's) validates its ``base`` member with :func:`base_spec_json` and opens it with
:func:`open_driver` as well, so it gets the base's transform and never needs ``TensorStore``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._validation import (
    SpecError,
    describe,
    json_copy,
    json_path,
    plugin_registry,
    validate_against,
)
from ..context import Context
from ..kvstore import KvStoreSpec
from ._chunk_open import remember_kvstore_spec
from ._driver import Driver
from ._open_options import OpenOptions

if TYPE_CHECKING:
    from ..index_space import IndexTransform
    from ..kvstore import Transaction
    from ..plugin import PluginRecord

__all__ = [
    "OPEN_MODE_MEMBERS",
    "PASSED_TO_BASE",
    "RECHECK_DEFAULTS",
    "OpenedDriver",
    "apply_spec_transform",
    "base_spec_json",
    "open_driver",
    "validate_spec_json",
]

#: Keyword options of ``ts.open``/``Spec.update`` that are open-mode flags.
OPEN_MODE_MEMBERS = ("open", "create", "delete_existing", "assume_metadata", "assume_cached_metadata")

#: The cache-recheck members' defaults: a spec as tensorstore prints it leaves them out.
RECHECK_DEFAULTS: dict[str, Any] = {"recheck_cached_data": True, "recheck_cached_metadata": "open"}

#: Members of an adapter's spec that also apply to the array it adapts (tensorstore passes
#: the open mode and cache options of ``ts.open(adapter, create=True)`` on to the base).
PASSED_TO_BASE = (*OPEN_MODE_MEMBERS, "recheck_cached_data", "recheck_cached_metadata")


#: Validated (and normalised) spec JSON by its canonical text: reopening the same spec is
#: common (a worker per chunk, a loop over arrays), and validation is a pure function of
#: the JSON and the registered schemas. Values are copied in and out (callers edit theirs).
_VALIDATED_SPECS_SIZE = 1024
_validated_specs: dict[str, tuple[PluginRecord, dict[str, Any]]] = {}


#: Canonical JSON text of a spec (sorted keys): the key of the caches of parsed specs.
_canonical = json.JSONEncoder(sort_keys=True).encode


def _driver_record(driver: Any, path: str) -> PluginRecord:
    if not isinstance(driver, str):
        raise SpecError(json_path(path, ["driver"]), f"expected string, but received: {describe(driver)}")
    registry = plugin_registry()
    record: PluginRecord | None = registry.find("driver", driver)
    if record is not None:
        return record
    from ..plugin import UnknownPluginError

    try:
        return registry.get("driver", driver)  # type: ignore[no-any-return]
    except UnknownPluginError as exc:
        raise SpecError(json_path(path, ["driver"]), str(exc)) from None


def _from_url(url: str, path: str) -> dict[str, Any]:
    from ..kvstore._url import parse_tensorstore_url

    return parse_tensorstore_url(url, path)


def _kvstore_as_auto(value: Mapping[str, Any]) -> Mapping[str, Any]:
    """A kvstore spec where a TensorStore spec belongs opens with the ``auto`` driver, as in
    tensorstore (``{"driver": "file", "path": ...}`` -> ``{"driver": "auto", "kvstore": ...}``)."""
    driver = value.get("driver")
    if isinstance(driver, str):
        registry = plugin_registry()
        if registry.find("driver", driver) is None and registry.find("kvstore", driver) is not None:
            return {"driver": "auto", "kvstore": dict(value)}
    return value


def validate_spec_json(value: Any, json_path_prefix: str = "") -> dict[str, Any]:
    """Validate spec JSON (or a driver URL) against its driver's schema; returns a copy.

    Errors are ``SpecError``s whose message starts with the JSON path, below
    ``json_path_prefix`` (``"base"`` for an adapter's base). A nested ``kvstore`` is
    validated too and normalised to JSON (a URL becomes an object).
    """
    if isinstance(value, str):
        value = _from_url(value, json_path_prefix)
    elif isinstance(value, KvStoreSpec):  # a ts.KvStore.Spec opens with auto-detection
        value = {"driver": "auto", "kvstore": value.to_json()}
    if not isinstance(value, Mapping):
        raise SpecError(json_path_prefix, f"expected a spec object or URL string, but received: {describe(value)}")
    value = _kvstore_as_auto(value)
    try:
        cache_key: str | None = json_path_prefix + _canonical(value)
    except (TypeError, ValueError):
        cache_key = None  # not plain JSON (say, a numpy scalar): validate without caching
    if cache_key is not None:
        cached = _validated_specs.get(cache_key)
        # A registry rebuilt since (tests reset it) must validate afresh.
        if cached is not None and plugin_registry().find("driver", cached[1]["driver"]) is cached[0]:
            copied: dict[str, Any] = json_copy(cached[1])
            return copied
    json_value = _tuples_as_lists(value)
    record = _driver_record(json_value.get("driver"), json_path_prefix)
    json_value["driver"] = record.id  # an alias ("zarr2") names its driver's id ("zarr")
    validate_against(record, json_value, json_path_prefix)
    if "kvstore" in json_value:
        kvstore_path = json_path(json_path_prefix, ["kvstore"])
        json_value["kvstore"] = remember_kvstore_spec(KvStoreSpec(json_value["kvstore"], json_path=kvstore_path))
    validated: dict[str, Any] = json_value
    if cache_key is not None:
        if len(_validated_specs) >= _VALIDATED_SPECS_SIZE:
            with contextlib.suppress(StopIteration, KeyError, RuntimeError):  # another thread evicted it
                del _validated_specs[next(iter(_validated_specs))]
        _validated_specs[cache_key] = (record, json_copy(validated))
    return validated


def _tuples_as_lists(value: Any) -> Any:
    """A copy of spec JSON with tuples as lists: a JSON array may be given as either, as
    tensorstore accepts (``"shape": (4,)``), and the validated copy (and so the cache of
    validated specs, which keys both alike) holds lists."""
    kind = type(value)
    if kind is dict or isinstance(value, Mapping):
        return {key: _tuples_as_lists(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [_tuples_as_lists(item) for item in value]
    return json_copy(value)


def base_spec_json(json_value: Mapping[str, Any], member: str = "base") -> dict[str, Any]:
    """An adapter's ``member`` spec, validated, with the adapter's open mode passed on.

    The passed-on members were validated with the adapter's spec; like ``ts.open``'s
    keyword flags they are added after validation, so a base whose schema has no open
    mode (``array``) still accepts them.
    """
    base = validate_spec_json(json_value[member], member)
    base.update((name, json_value[name]) for name in PASSED_TO_BASE if name in json_value)
    return base


@dataclass(frozen=True)
class OpenedDriver:
    """A driver opened from a spec, and the transform that spec asks for."""

    driver: Driver
    #: The spec's ``transform`` composed onto ``driver.base_transform``; ``None`` when the
    #: spec has none, which means the driver's own (not asked for yet, so a lazy driver
    #: stays unopened until a caller needs it).
    spec_transform: IndexTransform | None = None

    @property
    def transform(self) -> IndexTransform:
        """The transform a view of the opened array starts with."""
        return self.spec_transform if self.spec_transform is not None else self.driver.base_transform


def open_driver(
    json_value: dict[str, Any],
    *,
    context: Context | None = None,
    transaction: Transaction | None = None,
    read: bool = True,
    write: bool = True,
) -> OpenedDriver:
    """Open the driver that validated spec JSON describes (blocking; run it off the caller).

    Parameters
    ----------
    json_value
        Spec JSON already checked with :func:`validate_spec_json` (``ts.open`` keyword
        options folded in). Its ``context`` member becomes a layer over ``context``.
    context
        The context resources are shared through; a new default context when ``None``.
    transaction
        The transaction the driver is opened in (``None``: none).
    read, write
        The access the caller asks for; at least one must be true.
    """
    record = plugin_registry().get("driver", json_value["driver"])
    driver_class = record.load()
    context = context or Context()
    if json_value.get("context") is not None:
        context = Context(json_value["context"], parent=context)
    options = OpenOptions(
        open=bool(json_value.get("open", False)),
        create=bool(json_value.get("create", False)),
        delete_existing=bool(json_value.get("delete_existing", False)),
        assume_metadata=bool(json_value.get("assume_metadata", False)),
        assume_cached_metadata=bool(json_value.get("assume_cached_metadata", False)),
        read=read,
        write=write,
        recheck_cached_data=json_value.get("recheck_cached_data", True),
        recheck_cached_metadata=json_value.get("recheck_cached_metadata", "open"),
    )
    options.check()
    driver: Driver = driver_class.from_spec(json_value, context=context, options=options, transaction=transaction)
    if "transform" not in json_value:
        return OpenedDriver(driver)
    from ..index_space import IndexTransform

    return OpenedDriver(driver, apply_spec_transform(IndexTransform(json=json_value["transform"]), driver.base_transform))


def apply_spec_transform(spec_transform: IndexTransform, base_transform: IndexTransform) -> IndexTransform:
    """``spec_transform`` composed onto ``base_transform`` (its output rank must match)."""
    if spec_transform.output_rank != base_transform.input_rank:
        raise ValueError(
            f"transform: output rank {spec_transform.output_rank} does not match "
            f"the array's rank {base_transform.input_rank}"
        )
    composed: IndexTransform = base_transform[spec_transform]
    return composed
