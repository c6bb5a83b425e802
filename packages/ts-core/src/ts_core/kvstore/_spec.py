"""KvStore.Spec: a validated, picklable description of a kvstore (JSON or URL)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._converter import structure_spec, unstructure_spec
from .._validation import SpecError, describe, plugin_registry, validate_against
from ..context import Context, ContextSpec

if TYPE_CHECKING:
    from ..plugin import PluginRecord
    from ._driver import KvStoreDriver

__all__ = ["KvStoreSpec", "join_path"]

_FRONT_END_MEMBERS = ("driver", "path", "context")


def join_path(path: str, component: str) -> str:
    """Append ``component`` to ``path`` with a ``/`` between them unless ``path`` is empty
    or one side already has it (tensorstore's rule)."""
    if not path or path.endswith("/") or component.startswith("/"):
        return path + component
    return f"{path}/{component}"


def _driver_record(driver: Any, prefix: str) -> PluginRecord:
    if not isinstance(driver, str):
        raise SpecError(f"{prefix}.driver", f"expected string, but received: {describe(driver)}")
    registry = plugin_registry()
    record: PluginRecord | None = registry.find("kvstore", driver)
    if record is not None:
        return record
    from ..plugin import UnknownPluginError

    try:
        return registry.get("kvstore", driver)  # type: ignore[no-any-return]
    except UnknownPluginError as exc:
        raise SpecError(f"{prefix}.driver", str(exc)) from None


class KvStoreSpec:
    """Parsed kvstore spec: driver members (attrs), ``path`` and an optional context layer."""

    __slots__ = ("_bound", "_context", "_driver_spec", "_path", "_record")
    _record: PluginRecord
    _driver_spec: Any
    _path: str
    _context: ContextSpec | None

    def __init__(self, json: Any, *, json_path: str = "kvstore") -> None:
        #: A context bound with ``update(context=...)``: specs bound to different contexts
        #: are not equal, as in tensorstore.
        self._bound: Context | None = None
        if isinstance(json, KvStoreSpec):
            self._record, self._driver_spec = json._record, json._driver_spec
            self._path, self._context, self._bound = json._path, json._context, json._bound
            return
        if isinstance(json, str):
            from ._url import parse_kvstore_url

            json = parse_kvstore_url(json, json_path)
        if not isinstance(json, Mapping):
            raise SpecError(json_path, f"expected object or URL string, but received: {describe(json)}")
        record = _driver_record(json.get("driver"), json_path)
        validate_against(record, dict(json), json_path)
        driver_class: type[KvStoreDriver] = record.load()
        members = {k: v for k, v in json.items() if k not in _FRONT_END_MEMBERS}
        self._record = record
        self._driver_spec = structure_spec(members, driver_class.spec_class, json_path)
        self._path = json.get("path", "")
        try:
            self._driver_spec, self._path = driver_class.normalize_spec(self._driver_spec, self._path)
        except SpecError as exc:  # names a member of this spec: re-rooted at json_path
            member = exc.json_path
            message = str(exc)[len(member) + 2:] if member else str(exc)
            raise SpecError(f"{json_path}.{member}" if json_path and member else json_path or member, message) from None
        except ValueError as exc:
            raise SpecError(json_path, str(exc)) from None
        if not self._path.isascii():
            try:
                self._path.encode("utf-8")  # keys are UTF-8: a lone surrogate can never be one
            except UnicodeEncodeError as exc:
                raise SpecError(f"{json_path}.path", f"not valid Unicode ({exc.reason} at position {exc.start})") from None
        context = json.get("context")
        self._context = ContextSpec(context, json_path=f"{json_path}.context") if context is not None else None

    @classmethod
    def _from_parts(
        cls, record: PluginRecord, driver_spec: Any, path: str, context: ContextSpec | None
    ) -> KvStoreSpec:
        spec = cls.__new__(cls)
        spec._record, spec._driver_spec, spec._path, spec._context = record, driver_spec, path, context
        spec._bound = None
        return spec

    def _with(self, **changes: Any) -> KvStoreSpec:
        parts = {"path": self._path, "context": self._context, **changes}
        spec = KvStoreSpec._from_parts(self._record, self._driver_spec, parts["path"], parts["context"])
        spec._bound = self._bound
        return spec

    # -- properties ---------------------------------------------------------------------
    @property
    def driver(self) -> str:
        return self._record.id

    @property
    def path(self) -> str:
        """Key prefix within the driver's key space."""
        return self._path

    @path.setter
    def path(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"path: expected str, but received {type(value).__name__}")
        self._path = value

    @property
    def base(self) -> KvStoreSpec | None:
        """The underlying kvstore of an adapter spec (``zip``); ``None`` for a root driver."""
        base = self._open_driver_class().base_spec(self._driver_spec)
        return None if base is None else KvStoreSpec(base, json_path="base")

    @property
    def url(self) -> str:
        """The URL form of this spec; ValueError when the driver has none."""
        return self._open_driver_class().url_for(self._driver_spec, self._path)

    def _open_driver_class(self) -> type[KvStoreDriver]:
        return self._record.load()  # type: ignore[no-any-return]

    # -- JSON --------------------------------------------------------------------------
    def to_json(self, include_defaults: bool = False) -> dict[str, Any]:
        """The JSON form. For a spec bound to a context (``update(context=...)``), the spec
        each resource it refers to resolves to is written under ``context``."""
        return self._json(include_defaults, bound_form=False)

    def _json(self, include_defaults: bool, bound_form: bool) -> dict[str, Any]:
        """``bound_form`` is how tensorstore prints a bound spec: each resource reference as
        ``[identifier]`` (configuration-only resources as ``[spec]``)."""
        json: dict[str, Any] = {"driver": self._record.id, **unstructure_spec(self._driver_spec)}
        if self._path or include_defaults:
            json["path"] = self._path
        if include_defaults:
            import attrs

            defaults = attrs.asdict(self._driver_spec, recurse=True)
            json.update((name, value) for name, value in defaults.items()
                        if value is not None and name not in json)
        context_json = self._context.to_json(include_defaults) if self._context is not None else {}
        if self._bound is not None:
            references, shared, inline = self._resolve_resources(self._bound, self._context)
            if bound_form:
                json.update((name, [identifier]) for name, identifier in references.items())
                json.update((name, [value]) for name, value in inline.items())
            else:  # configuration-only resources are written inline, as tensorstore's bound specs
                json.update(inline)
            context_json = dict(sorted({**shared, **context_json}.items()))
        if context_json or include_defaults:
            json["context"] = context_json
        return dict(sorted(json.items()))

    def _resource_references(self) -> dict[str, str]:
        """Member name -> identifier of each context resource the driver spec refers to."""
        import attrs

        kinds = _resource_kinds()
        references: dict[str, str] = {}
        for field in attrs.fields(type(self._driver_spec)):
            value = getattr(self._driver_spec, field.name)
            if field.name in kinds and isinstance(value, str):
                references[field.name] = value
        return references

    def _resolve_resources(
        self, context: Context, layer: ContextSpec | None
    ) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        """How the resources this spec refers to resolve in ``context`` (with this spec's own
        ``layer`` over it): the references to shared resources, the spec of each of those by
        identifier, and the spec of each configuration-only resource by member name."""
        from ..context._context import _provider_record

        references = self._resource_references()
        resolving = Context(layer, parent=context) if layer is not None else context
        shared: dict[str, Any] = {}
        inline: dict[str, Any] = {}
        for name, identifier in references.items():
            value = resolving[identifier].to_json()
            if getattr(_provider_record(name, name).load(), "config_only", False):
                inline[name] = value
            else:
                shared[identifier] = value
        kept = {name: identifier for name, identifier in references.items() if name not in inline}
        return kept, shared, inline

    def _unbound_json(self, context: Context) -> dict[str, Any]:
        """JSON of this spec opened in ``context`` with the resources it used spelled out:
        configuration inline, shared resources under ``context``
        (``KvStore.spec(unbind_context=True)``)."""
        json = self.to_json()
        _, shared, inline = self._resolve_resources(context, self._context)
        json.update(inline)
        merged = {**shared, **dict(json.get("context") or {})}
        if merged:
            json["context"] = dict(sorted(merged.items()))
        return dict(sorted(json.items()))

    def copy(self) -> KvStoreSpec:
        return KvStoreSpec(self)

    def __copy__(self) -> KvStoreSpec:
        return self.copy()

    def __deepcopy__(self, memo: Any) -> KvStoreSpec:
        return self.copy()

    def update(
        self,
        *,
        unbind_context: bool | None = None,
        strip_context: bool | None = None,
        context: Context | None = None,
    ) -> None:
        """Bind a context layer, or strip the context (as tensorstore's ``Spec.update``)."""
        if context is not None:
            if not isinstance(context, Context):
                raise TypeError(f"context: expected ts.Context, but received {type(context).__name__}")
            merged = dict(context.spec.to_json()) if context.spec is not None else {}
            if self._context is not None:
                merged.update(self._context.to_json())
            self._context = ContextSpec(merged)
            self._bound = context
        if unbind_context and self._bound is not None:
            _, shared, _ = self._resolve_resources(self._bound, self._context)
            layer = self._context.to_json() if self._context is not None else {}
            self._context = ContextSpec(dict(sorted({**shared, **layer}.items())))
            self._bound = None
        if strip_context:
            # Resource references go too, so the default resources apply.
            members = {name: value for name, value in unstructure_spec(self._driver_spec).items()
                       if name not in _resource_kinds()}
            driver_class: type[KvStoreDriver] = self._record.load()
            self._driver_spec = structure_spec(members, driver_class.spec_class, "kvstore")
            self._context = None
            self._bound = None

    # -- path arithmetic -------------------------------------------------------------------
    def __truediv__(self, component: str) -> KvStoreSpec:
        return self._with(path=join_path(self._path, component))

    def __add__(self, suffix: str) -> KvStoreSpec:
        return self._with(path=self._path + suffix)

    # -- value semantics ------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KvStoreSpec):
            return NotImplemented
        return self.to_json() == other.to_json() and self._bound is other._bound

    __hash__ = None  # type: ignore[assignment]  # mutable (path, update), as in tensorstore

    def __reduce__(self) -> tuple[Any, ...]:
        return (KvStoreSpec, (self.to_json(),))

    def __repr__(self) -> str:
        from ..schema._pretty import pretty_repr

        return pretty_repr("KvStore.Spec(", self._json(False, bound_form=True))


def _resource_kinds() -> set[str]:
    from ..plugin import get_registry

    return set(get_registry().ids("context_resource"))


# The wheel shows this class as ``tensorstore.KvStore.Spec``; name it the same way (pickle
# finds it by this path through the ``ts_core.KvStore`` re-export).
KvStoreSpec.__name__ = "Spec"
KvStoreSpec.__qualname__ = "KvStore.Spec"
KvStoreSpec.__module__ = "ts_core"
