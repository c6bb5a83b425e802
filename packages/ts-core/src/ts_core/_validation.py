"""Validation of user JSON against plugin schemas, with errors that name the JSON path.

Every spec a user hands us is checked against the registered schema before any other
code runs; the first (most relevant) violation becomes a ``ValueError`` whose message
starts with the dotted JSON path, e.g. ``kvstore.path: expected string, but received: 3``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .plugin import PluginRecord

__all__ = ["SpecError", "describe", "json_copy", "json_path", "plugin_registry", "validate_against"]

_JSON_TYPE_NAMES = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "object": "object",
    "array": "array",
    "null": "null",
}


#: Specs already found valid, keyed by (record identity, canonical JSON). Validation is
#: pure, and reopening the same spec is common (a worker per chunk, a loop over arrays).
_VALID_CACHE_SIZE = 4096
_valid_cache: dict[tuple[int, str], None] = {}

_canonical = json.JSONEncoder(sort_keys=True).encode

_CATCH_ALL_VALIDATORS = frozenset({"unevaluatedProperties", "additionalProperties"})


_get_registry: Any = None


def plugin_registry() -> Any:
    """The process-wide plugin registry (``ts_core.plugin.get_registry``). The plugin
    layer sits above this one, so it is imported on first use, once: an import statement
    in a function costs on every call, and specs are checked on every open."""
    global _get_registry
    if _get_registry is None:
        from .plugin import get_registry

        _get_registry = get_registry
    return _get_registry()


class SpecError(ValueError):
    """A spec (or part of one) is invalid; ``json_path`` names the offending member."""

    def __init__(self, json_path: str, message: str) -> None:
        self.json_path = json_path
        super().__init__(f"{json_path}: {message}" if json_path else message)


SpecError.__module__ = "ts_core.errors"  # its public home



def json_copy(value: Any) -> Any:
    """A deep copy of JSON-like data (dicts, lists, atoms); other objects are deep-copied
    the generic way. Several times faster than ``copy.deepcopy`` on spec JSON."""
    kind = type(value)
    if kind is dict:
        return {key: json_copy(item) for key, item in value.items()}
    if kind is list:
        return [json_copy(item) for item in value]
    if kind in (str, int, float, bool) or value is None:
        return value
    import copy

    return copy.deepcopy(value)

def json_path(prefix: str, parts: Iterable[Any]) -> str:
    """Join a dotted JSON path: ``json_path('kvstore', ['a', 0, 'b'])`` -> ``kvstore.a[0].b``."""
    text = prefix
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text = f"{text}.{part}" if text else str(part)
    return text


def describe(value: Any) -> str:
    """Short JSON rendering of a value for error messages."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _message(error: Any) -> tuple[list[Any], str]:
    parts = list(error.absolute_path)
    validator = error.validator
    if validator == "type":
        expected = error.validator_value
        names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_JSON_TYPE_NAMES.get(n, n) for n in names)
        return parts, f"expected {wanted}, but received: {describe(error.instance)}"
    if validator in ("additionalProperties", "unevaluatedProperties"):
        extra = re.findall(r"'([^']*)'", error.message)
        if extra:
            return [*parts, extra[0]], "unexpected member (not allowed here)"
    if validator == "required":
        missing = re.findall(r"'([^']*)'", error.message)
        name = missing[0] if missing else "?"
        return parts, f'missing required member "{name}"'
    if validator == "enum":
        options = ", ".join(describe(v) for v in error.validator_value)
        return parts, f"expected one of {options}, but received: {describe(error.instance)}"
    if validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
        return parts, (
            f"expected a value {op[validator]} {error.validator_value}, "
            f"but received: {describe(error.instance)}"
        )
    if validator == "pattern":
        return parts, (
            f"{describe(error.instance)} does not match the pattern {error.validator_value!r}"
        )
    if validator == "propertyNames":
        return parts, f"invalid member name {describe(error.instance)}"
    return parts, error.message


def _describe_alternative(schema: Any) -> str:
    if isinstance(schema, dict):
        if "const" in schema:
            return describe(schema["const"])
        if "enum" in schema:
            return " or ".join(describe(v) for v in schema["enum"])
        kind = schema.get("type")
        if isinstance(kind, str):
            return _JSON_TYPE_NAMES.get(kind, kind)
        if isinstance(kind, list):
            return " or ".join(_JSON_TYPE_NAMES.get(str(k), str(k)) for k in kind)
    return "a valid value"


def validate_against(record: PluginRecord, value: Any, prefix: str) -> None:
    """Raise SpecError for the most relevant schema violation of ``value``, if any."""
    if record.schema is None:
        return
    validator = plugin_registry().validator(record)
    if validator.accepts(value):  # jsonschema-rs found it valid
        return
    from jsonschema.exceptions import best_match

    try:
        cache_key = (id(record), _canonical(value))
    except (TypeError, ValueError):
        cache_key = None  # not JSON (e.g. a numpy scalar): validate without caching
    if cache_key is not None and cache_key in _valid_cache:
        return
    errors = list(validator.iter_errors(value))
    if not errors:
        if cache_key is not None:
            if len(_valid_cache) >= _VALID_CACHE_SIZE:
                _valid_cache.pop(next(iter(_valid_cache)))
            _valid_cache[cache_key] = None
        return
    # A member that failed its own subschema is also reported as "unevaluated"; the
    # member's own failure (e.g. a type error) is the one worth showing.
    specific = [e for e in errors if e.validator not in _CATCH_ALL_VALIDATORS]
    error = best_match(specific or errors)
    # A type error deep inside is more useful than a generic "not valid under oneOf"; but
    # when every alternative failed at the same place, list the alternatives instead.
    while error.context:
        if all(not sub.relative_path for sub in error.context) and error.validator in ("oneOf", "anyOf"):
            parts = list(error.absolute_path)
            wanted = " or ".join(_describe_alternative(s) for s in error.validator_value)
            raise SpecError(json_path(prefix, parts), f"expected {wanted}, but received: {describe(error.instance)}")
        deeper = best_match(error.context)
        if deeper is None:
            break
        error = deeper
    parts, message = _message(error)
    raise SpecError(json_path(prefix, parts), message)
