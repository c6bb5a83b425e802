"""What every ``ts`` command shares: parsing URL/JSON/@file arguments, opening, formatting."""

from __future__ import annotations

import json
import os
from typing import Any

import click


class CliError(Exception):
    """An error the command line reports as one line, without a traceback."""


class SpecArgument(click.ParamType):  # type: ignore[type-arg]  # generic since click 8.2; older click is not
    """A URL, a JSON value (``{...}``) or ``@file.json``; converts to the JSON value or URL string."""

    name = "URL|SPEC"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        return parse_spec_text(value, what=param.human_readable_name if param is not None else "argument")


def parse_spec_text(text: str, *, what: str = "argument") -> Any:
    """``@path`` reads a JSON file; text starting with ``{``, ``[`` or ``"`` is JSON; else a URL
    (a local path without a scheme stands for its ``file://`` URL)."""
    if text.startswith("@"):
        path = text[1:]
        try:
            with open(path, encoding="utf-8") as file:
                text = file.read()
        except OSError as error:
            raise CliError(f"{what}: cannot read {path!r}: {error.strerror or error}") from None
        return _load_json(text, f"{what} (from {path!r})")
    if text.lstrip()[:1] in ("{", "[", '"'):
        return _load_json(text, what)
    return _path_as_url(text)


def _load_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CliError(f"{what} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None


def parse_json_option(text: str | None, what: str) -> Any:
    """An option holding JSON (or ``@file.json``); None when not given."""
    if text is None:
        return None
    if text.startswith("@"):
        return parse_spec_text(text, what=what)
    return _load_json(text, what)


def context_from(ctx: click.Context) -> Any:
    """The ``ts.Context`` the group's ``--context`` option asked for (one per invocation)."""
    import ts_core as ts

    state: dict[str, Any] = ctx.ensure_object(dict)
    if "context" not in state:
        state["context"] = ts.Context(state.get("context_spec") or {})
    return state["context"]


def spec_json(target: Any) -> dict[str, Any]:
    """The TensorStore spec JSON of a URL or JSON argument (``auto`` when no driver is named)."""
    import ts_core as ts

    spec = target if isinstance(target, ts.Spec) else ts.Spec(target)
    result: dict[str, Any] = spec.to_json()
    return result


def open_tensorstore(target: Any, context: Any, **options: Any) -> Any:
    """Open an existing array read-only (unless options say otherwise)."""
    import ts_core as ts

    options.setdefault("read", True)
    return ts.open(target, context=context, **options).result()


def kvstore_of(target: Any, context: Any, *, directory: bool = False) -> Any:
    """The KvStore a URL or spec names: a kvstore URL/spec itself, or a TensorStore spec's kvstore.

    ``directory``: the path names a directory even when it does not end in ``/``.
    """
    kvstore = _open_kvstore(target, context)
    if directory:
        path = kvstore.spec().to_json().get("path", "")
        if path and not path.endswith("/"):
            kvstore = kvstore + "/"
    return kvstore


def _open_kvstore(target: Any, context: Any) -> Any:
    import ts_core as ts

    json_value = target
    if isinstance(target, str):
        try:
            return ts.KvStore.open(target, context=context).result()
        except Exception:
            json_value = ts.Spec(target).to_json()  # a URL with a driver component
    if isinstance(json_value, dict) and "kvstore" in json_value:
        kvstore = json_value["kvstore"]
        if isinstance(kvstore, dict) and json_value.get("path"):
            kvstore = {**kvstore, "path": kvstore.get("path", "") + json_value["path"]}
        return ts.KvStore.open(kvstore, context=context).result()
    return ts.KvStore.open(json_value, context=context).result()


def local_path(kvstore: Any, key: str) -> str | None:
    """The file behind ``key`` when ``kvstore`` is the plain file kvstore, else None."""
    spec = kvstore.spec().to_json()
    if spec.get("driver") != "file":
        return None
    return os.path.join(spec.get("path", ""), key)


def value_size(kvstore: Any, key: str) -> int:
    """The size in bytes of one stored value (a stat for local files, else a read)."""
    path = local_path(kvstore, key)
    if path is not None:
        try:
            return os.stat(path).st_size
        except OSError:
            pass
    return len(kvstore.read(key).result().value)


def human_bytes(count: float) -> str:
    """``1536`` -> ``'1.5 KiB'``: binary prefixes, three significant digits."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{int(count)} B" if unit == "B" else f"{count:.3g} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=_json_default))


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    to_json = getattr(value, "to_json", None)
    if to_json is not None:
        return to_json()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _path_as_url(text: str) -> str:
    """A local path (``./a.zarr``, ``/data/a|zarr3:``) as a ``file://`` URL; URLs unchanged."""
    first, bar, rest = text.partition("|")
    if "://" in first or (":" in first and not first.startswith(("/", "."))):
        return text
    from ts_core.kvstore import quote_url_path

    path = os.path.abspath(os.path.expanduser(first))
    if first.endswith("/") and not path.endswith("/"):
        path += "/"
    return f"file://{quote_url_path(path)}{bar}{rest}"
