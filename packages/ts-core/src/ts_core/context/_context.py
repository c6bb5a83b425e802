"""Context: named, shared resources (cache pools, concurrency limits, memory stores).

A Context is a stack of Context.Spec layers. A reference such as ``"cache_pool#a"`` is
looked up from the innermost layer outwards; an unnamed reference (``"cache_pool"``)
that no layer defines resolves to one default resource shared by the whole stack.
Resources are created on first use and then shared by every store that refers to them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from .._validation import SpecError, describe, validate_against

__all__ = ["Context", "ContextSpec", "ResourceHandle", "member_defaults", "parse_resource_identifier", "resources_json"]

_IDENTIFIER = re.compile(r"^([a-z_][a-z0-9_]*)(#.*)?$")


#: Identifiers already split (a pure function of the text; every open resolves the same few).
_PARSED_IDENTIFIERS_SIZE = 1024
_parsed_identifiers: dict[str, tuple[str, str | None]] = {}


def parse_resource_identifier(identifier: Any, json_path: str = "context") -> tuple[str, str | None]:
    """Split ``"kind#name"`` into ``(kind, name)``; a bare kind has name None."""
    if type(identifier) is str:
        parsed = _parsed_identifiers.get(identifier)
        if parsed is not None:
            return parsed
    elif not isinstance(identifier, str):
        raise SpecError(json_path, f"expected a context resource identifier, but received: {describe(identifier)}")
    match = _IDENTIFIER.match(identifier)
    if match is None:
        raise SpecError(json_path, f'Invalid context resource identifier: "{identifier}"')
    parsed = match.group(1), match.group(2)
    if type(identifier) is str and len(_parsed_identifiers) < _PARSED_IDENTIFIERS_SIZE:
        _parsed_identifiers[identifier] = parsed
    return parsed


_get_registry: Any = None


def _provider_record(kind: str, json_path: str) -> Any:
    global _get_registry
    if _get_registry is None:  # the plugin layer sits above this one: imported on first use
        from ..plugin import get_registry

        _get_registry = get_registry
    registry = _get_registry()
    record = registry.find("context_resource", kind)
    if record is None:
        known = ", ".join(registry.ids("context_resource"))
        raise SpecError(json_path, f'Invalid context resource identifier: "{kind}" (no such '
                                   f'resource kind; known resources: {known})')
    return record


def _check_resource_value(kind: str, value: Any, json_path: str) -> None:
    """Validate one resource spec: a same-kind reference, null, or JSON for the schema."""
    record = _provider_record(kind, json_path)
    if isinstance(value, str):
        ref_kind, _ = parse_resource_identifier(value, json_path)
        if ref_kind != kind:
            raise SpecError(json_path, f'expected a reference to a "{kind}" resource, but received: "{value}"')
    elif value is not None:
        validate_against(record, value, json_path)


def member_defaults(kind: str) -> dict[str, Any]:
    """The members of a ``kind`` resource's JSON that have a default, with the default (the
    ``default`` annotations of the properties of the resource's schema)."""
    defaults = _member_defaults.get(kind)
    if defaults is None:
        schema = _provider_record(kind, "context").schema or {}
        properties = schema.get("properties") or {}
        defaults = _member_defaults[kind] = {
            name: member["default"] for name, member in properties.items() if isinstance(member, dict) and "default" in member
        }
    return defaults


_member_defaults: dict[str, dict[str, Any]] = {}


def _same_json(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b  # True is not 1


def resources_json(json_value: Mapping[str, Any], include_defaults: bool = False) -> dict[str, Any]:
    """Context spec JSON (identifier -> resource spec) as tensorstore writes it: sorted by
    identifier, members at their defaults left out, or all spelled out with
    ``include_defaults``. References (strings) and null stay as they are."""
    result: dict[str, Any] = {}
    for identifier in sorted(json_value):
        value = json_value[identifier]
        if isinstance(value, Mapping):
            defaults = member_defaults(parse_resource_identifier(identifier)[0])
            if include_defaults:
                value = dict(sorted({**defaults, **value}.items()))
            else:
                value = {name: member for name, member in sorted(value.items())
                         if name not in defaults or not _same_json(member, defaults[name])}
        result[identifier] = value
    return result


class ContextSpec:
    """Validated JSON mapping resource identifiers to resource specs."""

    __slots__ = ("_json",)

    def __init__(
        self, json: Mapping[str, Any] | ContextSpec | None = None, *, json_path: str = "context"
    ) -> None:
        if isinstance(json, ContextSpec):
            self._json: dict[str, Any] = dict(json._json)
            return
        if json is None:
            json = {}
        if not isinstance(json, Mapping):
            raise SpecError(json_path, f"expected object, but received: {describe(json)}")
        for identifier, value in json.items():
            path = f"{json_path}.{identifier}" if isinstance(identifier, str) else json_path
            kind, _ = parse_resource_identifier(identifier, path)
            _check_resource_value(kind, value, path)
        self._json = dict(json)

    def to_json(self, include_defaults: bool = False) -> dict[str, Any]:
        """The spec's JSON, resources sorted by identifier as tensorstore's; a resource's
        members equal to their defaults are left out, or with ``include_defaults`` every
        member with a default is spelled out (the defaults are the ``default`` annotations
        of each resource kind's schema)."""
        return resources_json(self._json, include_defaults)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ContextSpec) and self._json == other._json

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._json)))

    def __reduce__(self) -> tuple[Any, ...]:
        return (ContextSpec, (self._json,))

    def __repr__(self) -> str:
        from ..schema._pretty import pretty_repr

        return pretty_repr("Context.Spec(", self.to_json())


#: The spec of a context created without one (never modified: a ContextSpec's JSON is
#: only read after construction).
_EMPTY_SPEC = ContextSpec()


class ResourceHandle:
    """A resolved resource as returned by ``context[identifier]`` (Context.Resource)."""

    __slots__ = ("identifier", "spec_json", "value")

    def __init__(self, identifier: str, spec_json: Any, value: Any) -> None:
        self.identifier = identifier
        self.spec_json = spec_json
        self.value = value

    def to_json(self, include_defaults: bool = False) -> Any:
        """The resource's spec, members at their defaults left out (all spelled out with
        ``include_defaults``), as tensorstore's."""
        if not isinstance(self.spec_json, Mapping):
            return self.spec_json
        return resources_json({self.identifier: self.spec_json}, include_defaults)[self.identifier]

    def __reduce__(self) -> tuple[Any, ...]:
        # As in tensorstore, an unpickled resource is a new one made from the same spec.
        return (_unpickle_resource, (self.identifier, self.spec_json))

    def __repr__(self) -> str:
        return f"Context.Resource({self.spec_json!r})"


def _unpickle_resource(identifier: str, spec_json: Any) -> ResourceHandle:
    return Context({identifier: spec_json})[identifier]


class Context:
    """Shared resources for opened stores; pass the same Context to share caches and pools."""

    Spec = ContextSpec
    Resource = ResourceHandle

    def __init__(
        self,
        spec: ContextSpec | Mapping[str, Any] | None = None,
        parent: Context | None = None,
        *,
        json: Mapping[str, Any] | None = None,
    ) -> None:
        if json is not None:
            if spec is not None:
                raise TypeError("Context(): pass either spec or json, not both")
            spec = ContextSpec(json)
        #: The spec as given (None for an empty default context, as in tensorstore).
        self._given_spec = spec if spec is None or isinstance(spec, ContextSpec) else ContextSpec(spec)
        self._spec = self._given_spec if self._given_spec is not None else _EMPTY_SPEC
        if parent is not None and not isinstance(parent, Context):
            raise TypeError(f"parent must be a ts.Context, got {type(parent).__name__}")
        self._parent = parent
        self._lock = threading.RLock()
        self._resources: dict[str, ResourceHandle] = {}

    @property
    def spec(self) -> ContextSpec | None:
        """The spec this context layer was created from (not including its parent), or None
        if it was created without one."""
        return self._given_spec

    @property
    def parent(self) -> Context | None:
        return self._parent

    def __getitem__(self, identifier: str) -> ResourceHandle:
        """The resource ``identifier`` (``"kind"`` or ``"kind#name"``) resolves to."""
        if not isinstance(identifier, str):
            raise TypeError(f"Context.__getitem__: expected a str resource identifier, but "
                            f"received {type(identifier).__name__}")
        kind, _ = parse_resource_identifier(identifier, "")
        _provider_record(kind, "")
        return self._resolve_identifier(kind, identifier, "")

    def resource(self, kind: str, reference: Any = None, json_path: str | None = None) -> Any:
        """The live resource of ``kind`` for a driver's ``reference`` (str, inline JSON or None)."""
        if reference is None:
            reference = kind
        if type(reference) is str:
            handle = self._resources.get(reference)  # resolved by this layer before
            if handle is not None and reference.startswith(kind) and (
                len(reference) == len(kind) or reference[len(kind)] == "#"
            ):
                return handle.value
            if reference == kind and self._parent is None and not self._spec._json:
                # The default resource of a context without a spec (every default open).
                with self._lock:
                    handle = self._resources.get(kind)
                    if handle is None:
                        handle = _create(kind, None, self, json_path or kind, kind)
                        self._resources[kind] = handle
                    return handle.value
        path = json_path or kind
        if isinstance(reference, str):
            ref_kind, _ = parse_resource_identifier(reference, path)
            if ref_kind != kind:
                raise SpecError(path, f'expected a reference to a "{kind}" resource, but received: "{reference}"')
            return self._resolve_identifier(kind, reference, path).value
        _check_resource_value(kind, reference, path)
        return _create(kind, reference, self, path).value

    def _resolve_identifier(self, kind: str, identifier: str, json_path: str) -> ResourceHandle:
        layer: Context | None = self
        while layer is not None:
            if identifier in layer._spec._json:
                return layer._resolve_in_layer(kind, identifier, json_path)
            if layer._parent is None:
                break
            layer = layer._parent
        root = layer if layer is not None else self
        if "#" in identifier:
            raise SpecError(json_path, f'Resource not defined: "{identifier}"')
        with root._lock:
            handle = root._resources.get(identifier)
            if handle is None:
                handle = _create(kind, None, root, json_path, identifier)
                root._resources[identifier] = handle
            return handle

    def _resolve_in_layer(self, kind: str, identifier: str, json_path: str) -> ResourceHandle:
        with self._lock:
            handle = self._resources.get(identifier)
            if handle is not None:
                return handle
            value = self._spec._json[identifier]
            if isinstance(value, str):
                if value == identifier:
                    raise SpecError(json_path, f'context resource "{identifier}" refers to itself')
                # A reference resolves from this layer outwards.
                handle = self._resolve_identifier(kind, value, json_path)
            else:
                handle = _create(kind, value, self, json_path, identifier)
            self._resources[identifier] = handle
            return handle

    def __reduce__(self) -> tuple[Any, ...]:
        return (Context, (self._given_spec, self._parent))

    def __repr__(self) -> str:
        return f"<ts_core.Context object at {id(self):#x}>"


# The wheel shows these nested classes as ``tensorstore.Context.Spec`` and
# ``tensorstore.Context.Resource``; name them the same way (pickle finds them by this path).
for _cls, _name in ((ContextSpec, "Spec"), (ResourceHandle, "Resource")):
    _cls.__name__ = _name
    _cls.__qualname__ = f"Context.{_name}"
    _cls.__module__ = "ts_core"
Context.__module__ = "ts_core"


#: Resource kind -> (registry, provider, live default resource) of each provider whose
#: default is shared (``shared_default``).
_shared_defaults: dict[str, tuple[Any, Any, Any]] = {}


def _create(kind: str, spec_json: Any, context: Context, json_path: str, identifier: str | None = None) -> ResourceHandle:
    if spec_json is None:
        shared = _shared_defaults.get(kind)
        if shared is not None and shared[0] is _get_registry():  # not a registry rebuilt since
            return ResourceHandle(identifier or kind, shared[1].default_spec, shared[2])
    provider = _provider_record(kind, json_path).load()
    if spec_json is None:
        spec_json = provider.default_spec
        if getattr(provider, "shared_default", False):
            value = _create_value(provider, spec_json, context, json_path)
            _shared_defaults[kind] = (_get_registry(), provider, value)
            return ResourceHandle(identifier or kind, spec_json, value)
    return ResourceHandle(identifier or kind, spec_json, _create_value(provider, spec_json, context, json_path))


def _create_value(provider: Any, spec_json: Any, context: Context, json_path: str) -> Any:
    try:
        return provider.create(spec_json, context)
    except SpecError:
        raise
    except (TypeError, ValueError) as exc:
        raise SpecError(json_path, str(exc)) from exc
