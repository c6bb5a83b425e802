"""KvStore.Spec: a validated, picklable description of a kvstore (JSON or URL)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._converter import structure_spec, unstructure_spec
from .._validation import SpecError, describe, validate_against
from ..context import Context, ContextSpec

if TYPE_CHECKING:
    from ..plugin import PluginRecord
    from ._driver import KvStoreDriver

__all__ = ["KvStoreSpec", "join_path"]

_FRONT_END_MEMBERS = ("driver", "path", "context")


def join_path(path: str, component: str) -> str:
    """Append ``component`` to ``path``, adding a ``/`` unless ``path`` is empty or ends in one."""
    if not path or path.endswith("/"):
        return path + component
    return f"{path}/{component}"


def _driver_record(driver: Any, prefix: str) -> PluginRecord:
    from ..plugin import UnknownPluginError, get_registry

    if not isinstance(driver, str):
        raise SpecError(f"{prefix}.driver", f"expected string, but received: {describe(driver)}")
    try:
        return get_registry().get("kvstore", driver)
    except UnknownPluginError as exc:
        raise SpecError(f"{prefix}.driver", str(exc)) from None


class KvStoreSpec:
    """Parsed kvstore spec: driver members (attrs), ``path`` and an optional context layer."""

    __slots__ = ("_context", "_driver_spec", "_path", "_record")
    _record: PluginRecord
    _driver_spec: Any
    _path: str
    _context: ContextSpec | None

    def __init__(self, json: Any, *, json_path: str = "kvstore") -> None:
        if isinstance(json, KvStoreSpec):
            self._record, self._driver_spec = json._record, json._driver_spec
            self._path, self._context = json._path, json._context
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
        return spec

    def _with(self, **changes: Any) -> KvStoreSpec:
        parts = {"path": self._path, "context": self._context, **changes}
        return KvStoreSpec._from_parts(self._record, self._driver_spec, parts["path"], parts["context"])

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
    def base(self) -> None:
        """The underlying kvstore of an adapter spec; ``None`` for a root driver."""
        return None

    @property
    def url(self) -> str:
        """The URL form of this spec; ValueError when the driver has none."""
        return self._open_driver_class().url_for(self._driver_spec, self._path)

    def _open_driver_class(self) -> type[KvStoreDriver]:
        return self._record.load()  # type: ignore[no-any-return]

    # -- JSON --------------------------------------------------------------------------
    def to_json(self, include_defaults: bool = False) -> dict[str, Any]:
        json: dict[str, Any] = {"driver": self._record.id, **unstructure_spec(self._driver_spec)}
        if self._path:
            json["path"] = self._path
        if self._context is not None and (self._context.to_json() or include_defaults):
            json["context"] = self._context.to_json()
        return dict(sorted(json.items()))

    def copy(self) -> KvStoreSpec:
        return KvStoreSpec(self)

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
            merged = dict(context.spec.to_json())
            if self._context is not None:
                merged.update(self._context.to_json())
            self._context = ContextSpec(merged)
        if strip_context:
            self._context = None
        # Specs here always hold unbound resource references, so unbind_context has nothing to do.

    # -- path arithmetic -------------------------------------------------------------------
    def __truediv__(self, component: str) -> KvStoreSpec:
        return self._with(path=join_path(self._path, component))

    def __add__(self, suffix: str) -> KvStoreSpec:
        return self._with(path=self._path + suffix)

    # -- value semantics ------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KvStoreSpec):
            return NotImplemented
        return self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(repr(self.to_json()))

    def __reduce__(self) -> tuple[Any, ...]:
        return (KvStoreSpec, (self.to_json(),))

    def __repr__(self) -> str:
        return f"KvStore.Spec({self.to_json()!r})"
