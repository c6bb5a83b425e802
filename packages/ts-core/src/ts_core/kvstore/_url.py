"""URL pipelines: ``file:///a.zip|zip:inner/|zarr3:|cast:int32`` to spec JSON and back.

A URL is ``|``-separated components, each ``scheme:rest``. A scheme is a ``url_scheme``
plugin record whose ``layer`` metadata says where it may appear (tensorstore's four kinds):

``kvstore``
    a root kvstore (``memory://``, ``file:///``); only the first component. Handler:
    ``parse(url) -> kvstore JSON``.
``kvstore_adapter``
    a kvstore over the kvstore so far (``zip:``, ``ocdbt:``). Handler:
    ``parse(component, base_kvstore_json) -> kvstore JSON`` (a record whose target is
    ``"ts_core.kvstore:kvstore_adapter_url"`` gets the usual ``{"driver", "base", "path"}``).
``driver``
    a kvstore-based TensorStore driver (``zarr3:``, ``n5:``, ``auto:``); it turns the
    kvstore so far into a TensorStore. Handler: ``parse(component, kvstore_json) -> spec``
    (a record whose target is ``"ts_core.kvstore:kvstore_based_driver_url"`` gets the usual
    handling: the component's path joined onto the kvstore's, and the record's ``driver``).
``driver_adapter``
    a TensorStore adapter over the TensorStore so far (``cast:int32``); a kvstore before
    it is opened with the ``auto`` driver. Handler: ``parse(component, base_spec) -> spec``.

``driver`` and ``driver_adapter`` records name their driver in ``driver`` metadata, which
is also how :func:`tensorstore_url` formats a spec back into a URL (an adapter's record
adds ``format="module:attr"``, a function from its spec to its URL component).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from .._validation import SpecError

if TYPE_CHECKING:
    from ..plugin import PluginRecord

__all__ = [
    "GENERIC_ADAPTER_TARGET",
    "GENERIC_DRIVER_TARGET",
    "URL_LAYERS",
    "kvstore_adapter_url",
    "kvstore_based_driver_url",
    "kvstore_url",
    "parse_kvstore_url",
    "parse_tensorstore_url",
    "quote_url_path",
    "split_url_scheme",
    "tensorstore_url",
    "url_component_path",
]

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):(.*)$", re.DOTALL)

#: ``url_scheme`` layers, and how tensorstore's messages name them.
URL_LAYERS = {
    "kvstore": "root kvstore",
    "kvstore_adapter": "kvstore adapter",
    "driver": "kvstore-based TensorStore",
    "driver_adapter": "TensorStore adapter",
}

#: URL schemes of plugin distributions that may not be installed: the (kind, id) of what
#: provides them (the hint itself is the registry's, shared with JSON specs).
_PROVIDED_ELSEWHERE = {
    "ocdbt": ("kvstore", "ocdbt"),
    "neuroglancer_precomputed": ("driver", "neuroglancer_precomputed"),
    "zarr3": ("driver", "zarr3"),
    "zarr2": ("driver", "zarr"),
    "n5": ("driver", "n5"),
    "gs": ("kvstore", "gcs"),
    "s3": ("kvstore", "s3"),
    "http": ("kvstore", "http"),
    "https": ("kvstore", "http"),
}

#: The target of a ``driver`` record whose component is just ``scheme:`` or
#: ``scheme:path``: :func:`kvstore_based_driver_url` with the record's ``driver``.
GENERIC_DRIVER_TARGET = "ts_core.kvstore:kvstore_based_driver_url"
#: The target of a ``kvstore_adapter`` record whose component is ``scheme:path``:
#: :func:`kvstore_adapter_url` with the record's ``driver`` (and ``directory_base``).
GENERIC_ADAPTER_TARGET = "ts_core.kvstore:kvstore_adapter_url"

#: Characters left unescaped in the path of a URL component (tensorstore's choice).
_PATH_SAFE = "/@:!$&'()*+,;=-._~"


def split_url_scheme(url: str) -> tuple[str, str]:
    """``"file:///x"`` -> ``("file", "///x")`` (the scheme lower-cased)."""
    match = _SCHEME.match(url)
    if match is None:
        raise SpecError("kvstore", f'invalid URL "{url}": expected "scheme://..."')
    return match.group(1).lower(), match.group(2)


def quote_url_path(path: str) -> str:
    """``path`` percent-encoded for a URL component (``/`` kept, ``|``, ``?``, ``#`` and ``%`` escaped)."""
    return quote(path, safe=_PATH_SAFE)


def url_component_path(component: str) -> str:
    """The decoded path of an adapter or driver component (``"zip:a%20b"`` -> ``"a b"``).

    A leading ``//`` (an empty authority, ``zarr3://``) is dropped; query strings and
    fragments are refused with the ValueError tensorstore gives.
    """
    _, _, rest = component.partition(":")
    if rest.startswith("//"):
        rest = rest[2:]
    return unquote(without_url_query(rest))


def without_url_query(rest: str) -> str:
    """``rest`` (a URL after its scheme) without its query string and fragment, which must
    be empty: ``"a/b?#"`` -> ``"a/b"``, as tensorstore reads an empty ``?`` or ``#``.

    A non-empty query or fragment raises the ValueError tensorstore gives ("Query string
    not supported", checked first, or "Fragment identifier not supported").
    """
    if "?" not in rest and "#" not in rest:
        return rest
    before_fragment, _, fragment = rest.partition("#")
    path, _, query = before_fragment.partition("?")
    if query:
        raise ValueError("Query string not supported")
    if fragment:
        raise ValueError("Fragment identifier not supported")
    return path


def join_url_path(path: str, component: str) -> str:
    """``path`` with ``component`` appended, a ``/`` between them unless one is there."""
    if not component:
        return path
    if path and not path.endswith("/"):
        return f"{path}/{component}"
    return path + component


def kvstore_based_driver_url(driver: str, component: str, kvstore: dict[str, Any]) -> dict[str, Any]:
    """The spec of ``driver`` over ``kvstore`` for a ``"<scheme>:<path>"`` component.

    The component's path is joined onto the kvstore's path, which then names a directory
    (ends in ``/``), as tensorstore does for ``file:///x|zarr3:a`` (path ``/x/a/``).
    """
    path = join_url_path(kvstore.get("path", ""), url_component_path(component))
    if path and not path.endswith("/"):
        path += "/"
    kvstore = dict(kvstore)
    if path:
        kvstore["path"] = path
    return {"driver": driver, "kvstore": kvstore}


def kvstore_adapter_url(
    driver: str, component: str, base: dict[str, Any], *, directory_base: bool = False
) -> dict[str, Any]:
    """The spec of adapter ``driver`` over ``base`` for a ``"<scheme>:<path>"`` component:
    ``{"driver": driver, "base": base, "path": path}``. With ``directory_base`` the base
    names a directory (its path gains a ``/``), as an ocdbt database's does."""
    path = url_component_path(component)
    if directory_base and base.get("path") and not base["path"].endswith("/"):
        base = {**base, "path": base["path"] + "/"}
    spec: dict[str, Any] = {"driver": driver, "base": base}
    if path:
        spec["path"] = path
    return spec


def _component_scheme(component: str) -> tuple[str, bool]:
    """The scheme of a component, and whether it was written with a ``:``."""
    match = _SCHEME.match(component)
    if match is not None:
        return match.group(1).lower(), True
    return component.lower(), False


def _unsupported(scheme: str, component: str, position: int) -> str:
    message = f'unsupported URL scheme "{scheme}" in "{component}"'
    if position > 1:
        message += f", component {position} of the composite URL"
    from ..plugin import get_registry
    from ..plugin._registry import not_installed_hint

    provided = _PROVIDED_ELSEWHERE.get(scheme)
    if provided is not None:
        message += not_installed_hint(*provided)

    for record in get_registry().records("url_scheme"):
        if record.metadata.get("driver") == scheme and record.id != scheme:
            message += f'; the URL scheme of the "{scheme}" driver is "{record.id}:"'
            break
    return message


class _Pipeline:
    """State while reading a URL's components from left to right."""

    def __init__(self, url: str, json_path: str) -> None:
        self.url = url
        self.json_path = json_path
        self.kvstore: dict[str, Any] | None = None
        self.tensorstore: dict[str, Any] | None = None
        #: 1-based position of the component being read.
        self.position = 0

    def error(self, detail: str) -> SpecError:
        return SpecError(self.json_path, f'Parsing spec from url: "{self.url}": {detail}')

    def record(self, component: str) -> tuple[str, PluginRecord]:
        from ..plugin import get_registry

        scheme, has_colon = _component_scheme(component)
        record = get_registry().find("url_scheme", scheme) if scheme else None
        if record is None:
            if self.position == 1 and not has_colon and component:
                raise self.error(f'invalid URL "{component}": expected "scheme://..."')
            raise self.error(_unsupported(scheme, component, self.position))
        return scheme, record

    def call(self, record: PluginRecord, kind: str, *args: Any) -> dict[str, Any]:
        try:
            if record.target == GENERIC_DRIVER_TARGET:
                result: dict[str, Any] = kvstore_based_driver_url(record.metadata["driver"], *args)
            elif record.target == GENERIC_ADAPTER_TARGET:
                directory_base = bool(record.metadata.get("directory_base", False))
                result = kvstore_adapter_url(record.metadata["driver"], *args, directory_base=directory_base)
            else:
                result = record.load()(*args)
        except SpecError:
            raise
        except ValueError as exc:
            raise self.error(f'Invalid {kind} URL component "{args[0]}": {exc}') from None
        return result

    def add(self, component: str) -> None:
        scheme, record = self.record(component)
        layer = record.metadata.get("layer", "kvstore")
        label = f'{URL_LAYERS.get(layer, layer)} URL scheme in "{component}"'
        if self.kvstore is None and self.tensorstore is None:
            if layer != "kvstore":
                raise self.error(f"{label} is not valid as the first URL pipeline component")
            self.kvstore = self.call(record, "kvstore", f"{scheme}:{component.partition(':')[2]}")
        elif layer == "kvstore":
            previous = "KvStore" if self.tensorstore is None else "TensorStore"
            raise self.error(f"{label} is not valid following a {previous} URL pipeline component")
        elif layer == "kvstore_adapter":
            if self.kvstore is None:
                raise self.error(f"{label} is not valid following a TensorStore URL pipeline component")
            self.kvstore = self.call(record, "kvstore", component, self.kvstore)
        elif layer == "driver":
            if self.kvstore is None:
                raise self.error(f"{label} is not valid following a TensorStore URL pipeline component")
            self.tensorstore = self.call(record, "TensorStore", component, self.kvstore)
            self.kvstore = None
        elif layer == "driver_adapter":
            base = self.tensorstore if self.kvstore is None else {"driver": "auto", "kvstore": self.kvstore}
            self.tensorstore = self.call(record, "TensorStore", component, base)
            self.kvstore = None
        else:
            raise self.error(f'URL scheme "{scheme}" has an unknown layer {layer!r}')


def _parse(url: str, json_path: str) -> _Pipeline:
    pipeline = _Pipeline(url, json_path)
    for position, component in enumerate(url.split("|"), 1):
        pipeline.position = position
        pipeline.add(component)
    return pipeline


def parse_kvstore_url(url: str, json_path: str = "kvstore") -> dict[str, Any]:
    """A kvstore URL (root and adapter components only) to its JSON spec."""
    pipeline = _Pipeline(url, json_path)
    for position, component in enumerate(url.split("|"), 1):
        pipeline.position = position
        scheme, record = pipeline.record(component)
        layer = record.metadata.get("layer", "kvstore")
        if layer in ("driver", "driver_adapter"):
            raise pipeline.error(
                f'unsupported URL scheme "{scheme}" in "{component}": "{scheme}" is a {URL_LAYERS[layer]} URL scheme'
            )
        if layer == "kvstore" and pipeline.kvstore is not None:
            raise pipeline.error(
                f'unsupported URL scheme "{scheme}" in "{component}": "{scheme}" is a root kvstore URL scheme'
            )
        pipeline.add(component)
    assert pipeline.kvstore is not None
    return pipeline.kvstore


def parse_tensorstore_url(url: str, json_path: str = "") -> dict[str, Any]:
    """A TensorStore URL to its spec JSON; one that ends in a kvstore opens it with ``auto``."""
    pipeline = _parse(url, json_path)
    if pipeline.tensorstore is not None:
        return pipeline.tensorstore
    assert pipeline.kvstore is not None
    return {"driver": "auto", "kvstore": pipeline.kvstore}


def kvstore_url(spec: Any) -> str:
    """The URL of a kvstore spec (JSON, URL or ``KvStore.Spec``); ValueError when its
    driver has no URL form. Adapters (``zip``) include their base: ``memory://a|zip:b``."""
    from ._spec import KvStoreSpec

    return KvStoreSpec(spec).url


def tensorstore_url(spec: Mapping[str, Any]) -> str:
    """The URL of TensorStore spec JSON, as tensorstore's ``Spec.url`` gives it: the
    kvstore's URL and the driver's component (members other than the kvstore, and an
    adapter's base, are not part of a URL). ValueError when the driver has no URL form."""
    from ..plugin import get_registry

    driver = spec.get("driver")
    for record in get_registry().records("url_scheme"):
        if record.metadata.get("driver") != driver:
            continue
        layer = record.metadata.get("layer")
        if layer == "driver" and "kvstore" in spec:
            component = f"{record.id}:"
            if "format" in record.metadata:  # a component with more than the scheme (json:/pointer)
                from ..plugin import PluginRecord

                component = PluginRecord("url_scheme", record.id, record.metadata["format"]).load()(spec)
            return f"{kvstore_url(spec['kvstore'])}|{component}"
        if layer == "driver_adapter" and "base" in spec and "format" in record.metadata:
            from ..plugin import PluginRecord

            format_record = PluginRecord("url_scheme", record.id, record.metadata["format"])
            return f"{tensorstore_url(spec['base'])}|{format_record.load()(spec)}"
    raise ValueError(f'TensorStore driver "{driver}" has no URL representation')
