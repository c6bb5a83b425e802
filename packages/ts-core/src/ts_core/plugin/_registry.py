"""Plugin records and the registry that holds them.

A record names what a plugin provides (kind, id, aliases), where its implementation
lives (a lazy ``"module:attr"`` target, imported on first use) and the JSON Schema its
specs must satisfy. Registration never imports the implementation.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

__all__ = [
    "KINDS",
    "DuplicatePluginError",
    "PluginRecord",
    "Registrar",
    "Registry",
    "UnknownPluginError",
    "load_schema",
    "not_installed_hint",
]

KINDS = frozenset(
    {"driver", "kvstore", "codec", "context_resource", "url_scheme", "auto_detect"}
)

#: Drivers and kvstores of the project's other distributions, which may not be installed:
#: (kind, id) -> (what it is, the distribution that provides it).
PROVIDED_ELSEWHERE: dict[tuple[str, str], tuple[str, str]] = {
    ("kvstore", "ocdbt"): ("the ocdbt kvstore", "ts-ocdbt"),
    ("kvstore", "neuroglancer_uint64_sharded"): ("the neuroglancer_uint64_sharded kvstore", "ts-precomputed"),
    ("driver", "neuroglancer_precomputed"): ("the neuroglancer_precomputed driver", "ts-precomputed"),
    ("driver", "zarr3"): ("the zarr3 driver", "ts-zarr"),
    ("driver", "zarr"): ("the zarr (v2) driver", "ts-zarr"),
    ("kvstore", "zarr3_sharding_indexed"): ("the zarr3_sharding_indexed kvstore", "ts-zarr"),
    ("driver", "n5"): ("the n5 driver", "ts-n5"),
    ("kvstore", "gcs"): ("the gcs kvstore", "ts-cloud"),
    ("kvstore", "s3"): ("the s3 kvstore", "ts-cloud"),
    ("kvstore", "http"): ("the http kvstore", "ts-cloud"),
}


def not_installed_hint(kind: str, id: str) -> str:
    """``": the ocdbt kvstore is provided by the ts-ocdbt distribution, which is not
    installed"`` for a driver of another distribution, else ``""`` (an error's tail)."""
    provided = PROVIDED_ELSEWHERE.get((kind, id))
    if provided is None:
        return ""
    what, distribution = provided
    return f": {what} is provided by the {distribution} distribution, which is not installed"


#: ``$id`` prefix of the base schemas owned by ts-core (files in ``ts_core/schemas``).
BASE_SCHEMA_PREFIX = "urn:ts:schema:"


class DuplicatePluginError(ValueError):
    """Two distributions registered the same kind and id."""


class UnknownPluginError(ValueError):
    """No plugin is registered under the requested id."""


def load_schema(reference: str) -> dict[str, Any]:
    """Load a JSON schema given as ``"package:relative/path.json"``."""
    package, _, name = reference.partition(":")
    if not name:
        raise ValueError(f"schema reference {reference!r} must look like 'package:file.json'")
    path = _file_beside_modules(package, name)
    if path is not None:
        with open(path, encoding="utf-8") as file:
            return json.load(file)  # type: ignore[no-any-return]
    from importlib import resources  # only here: its import costs every process a few ms

    return json.loads(resources.files(package).joinpath(name).read_text("utf-8"))  # type: ignore[no-any-return]


def _file_beside_modules(package: str, name: str) -> str | None:
    """The file ``name`` of ``package`` when its distribution lies in plain directories,
    found without importing ``package``: ``importlib.resources`` imports the package (and
    a driver's package imports its implementation), which would undo the lazy targets and
    cost every process most of its plugin start-up. None: let ``importlib.resources`` find it."""
    top, _, subpackages = package.partition(".")
    try:
        spec = importlib.util.find_spec(top)  # a top-level name: finds, imports nothing
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    parts = [*subpackages.split("."), *name.split("/")] if subpackages else name.split("/")
    for location in spec.submodule_search_locations:
        candidate = os.path.join(location, *parts)
        if os.path.isfile(candidate):
            return candidate
    return None


@attrs.frozen
class PluginRecord:
    """One registered capability of a plugin distribution."""

    kind: str
    id: str
    target: str
    schema: Mapping[str, Any] | None = None
    aliases: tuple[str, ...] = ()
    namespace: str = ""
    distribution: str = "<unknown>"
    metadata: Mapping[str, Any] = attrs.field(factory=dict)
    _loaded: list[Any] = attrs.field(factory=list, eq=False, repr=False)

    def load(self) -> Any:
        """Import and return the target (cached after the first call)."""
        if not self._loaded:
            module_name, _, attribute = self.target.partition(":")
            obj: Any = importlib.import_module(module_name)
            for part in attribute.split(".") if attribute else ():
                obj = getattr(obj, part)
            self._loaded.append(obj)
        return self._loaded[0]

    @property
    def qualified_id(self) -> str:
        return f"{self.namespace}.{self.id}" if self.namespace else self.id


class Registry:
    """All records of all loaded plugins, indexed by (kind, namespace, id or alias)."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str, str], PluginRecord] = {}
        self._primary: list[PluginRecord] = []
        self._lock = threading.RLock()
        self._validators: dict[int, Any] = {}
        self._reference_registry: Any = None

    # -- registration --------------------------------------------------------------
    def add(
        self,
        kind: str,
        id: str,
        target: str,
        *,
        schema: Mapping[str, Any] | str | None = None,
        aliases: Iterable[str] = (),
        namespace: str = "",
        distribution: str = "<unknown>",
        **metadata: Any,
    ) -> PluginRecord:
        """Register a record; raises DuplicatePluginError naming both distributions."""
        if kind not in KINDS:
            raise ValueError(f"unknown plugin kind {kind!r}; expected one of {sorted(KINDS)}")
        if not isinstance(id, str) or not id:
            raise ValueError(f"{kind} plugin id must be a non-empty string, got {id!r}")
        if ":" not in target:
            raise ValueError(f"{kind} {id!r}: target {target!r} must look like 'module:attr'")
        if isinstance(schema, str):
            schema = load_schema(schema)
        if schema is not None and distribution not in PROJECT_DISTRIBUTIONS:
            _check_schema(kind, id, schema)
        record = PluginRecord(
            kind=kind,
            id=id,
            target=target,
            schema=schema,
            aliases=tuple(aliases),
            namespace=namespace,
            distribution=distribution,
            metadata=dict(metadata),
        )
        with self._lock:
            keys = [(kind, namespace, name) for name in (id, *record.aliases)]
            for key in keys:
                existing = self._records.get(key)
                if existing is not None:
                    raise DuplicatePluginError(
                        f"{kind} {record.qualified_id!r} is registered twice: by distribution "
                        f"{existing.distribution!r} (as {existing.qualified_id!r}) and by "
                        f"distribution {distribution!r}"
                    )
            for key in keys:
                self._records[key] = record
            self._primary.append(record)
            self._reference_registry = None
            self._validators.clear()
        return record

    def scoped(self, distribution: str) -> Registrar:
        """A registrar that stamps every record with ``distribution``."""
        return Registrar(self, distribution)

    # -- lookup --------------------------------------------------------------------
    def find(self, kind: str, id: str, namespace: str = "") -> PluginRecord | None:
        return self._records.get((kind, namespace, id))

    def get(self, kind: str, id: str, namespace: str = "") -> PluginRecord:
        """The record for ``id``; UnknownPluginError lists the ids that are known."""
        record = self._records.get((kind, namespace, id))
        if record is None:
            what = {"driver": "TensorStore driver", "kvstore": "kvstore driver"}.get(kind, kind)
            if namespace:
                what = f"{namespace} {what}"
            known = ", ".join(self.ids(kind, namespace)) or "(none)"
            hint = "" if namespace else not_installed_hint(kind, id)
            raise UnknownPluginError(f'"{id}" is not a registered {what}{hint}; known: {known}')
        return record

    def ids(self, kind: str, namespace: str = "") -> list[str]:
        """Sorted primary ids registered for ``kind`` (and ``namespace``)."""
        return sorted(r.id for r in self._primary if r.kind == kind and r.namespace == namespace)

    def records(self, kind: str | None = None) -> list[PluginRecord]:
        return [r for r in self._primary if kind is None or r.kind == kind]

    # -- validation ------------------------------------------------------------------
    def validator(self, record: PluginRecord) -> Any:
        """A jsonschema validator for the record's schema (base schemas resolvable), whose
        ``iter_errors``/``is_valid`` first ask jsonschema-rs, so a valid value is accepted
        without jsonschema's walk (see ``_fast_schema``); errors still come from jsonschema."""
        validator = self._validators.get(id(record))
        if validator is not None:
            return validator
        with self._lock:
            validator = self._validators.get(id(record))
            if validator is None:
                from ._fast_schema import FastValidator, fast_check

                schema = record.schema or {}
                validator = FastValidator.deferred(
                    lambda: self._jsonschema_validator(schema), fast_check(schema, self._reference_schemas())
                )
                self._validators[id(record)] = validator
            return validator

    def _jsonschema_validator(self, schema: Mapping[str, Any]) -> Any:
        import jsonschema

        with self._lock:
            return jsonschema.Draft202012Validator(schema, registry=self._references())

    def _reference_schemas(self) -> list[tuple[str, Any]]:
        """(``$id``, schema) of every schema a ``$ref`` may name."""
        return [
            (schema["$id"], schema)
            for schema in (*_base_schemas(), *(r.schema for r in self._primary if r.schema))
            if "$id" in schema
        ]

    def _references(self) -> Any:
        if self._reference_registry is None:
            from referencing import Registry as ReferenceRegistry
            from referencing import Resource

            pairs = [(uri, Resource.from_contents(schema)) for uri, schema in self._reference_schemas()]
            self._reference_registry = ReferenceRegistry().with_resources(pairs)
        return self._reference_registry


@attrs.frozen
class Registrar:
    """What a plugin's ``ts_register`` hook receives: ``registry.add(...)`` only."""

    _registry: Registry
    distribution: str

    def add(self, kind: str, id: str, target: str, **kwargs: Any) -> PluginRecord:
        kwargs["distribution"] = self.distribution
        return self._registry.add(kind, id, target, **kwargs)


#: The project's own distributions. Their schemas are checked against the JSON Schema
#: metaschema by the project's tests (tests/ts_core/plugin), so checking them again at every
#: registry build (about 0.1-0.15 s of each process's start-up) would find nothing new;
#: every other distribution's schemas are checked when they are registered.
PROJECT_DISTRIBUTIONS = frozenset(
    {"ts-core", "ts-zarr", "ts-n5", "ts-cloud", "ts-precomputed", "ts-ocdbt", "ts-chunkdir"}
)

_BASE_SCHEMA_FILES = ("kvstore.json", "context.json", "driver.json", "codec.json")
_base_cache: list[dict[str, Any]] = []


def _base_schemas() -> list[dict[str, Any]]:
    if not _base_cache:
        _base_cache.extend(load_schema(f"ts_core.schemas:{name}") for name in _BASE_SCHEMA_FILES)
    return _base_cache


def _check_schema(kind: str, id: str, schema: Mapping[str, Any]) -> None:
    import jsonschema

    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        path = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise ValueError(
            f"{kind} {id!r}: schema is not a valid JSON Schema at {path}: {exc.message}"
        ) from None
