"""Registered JSON Schemas compiled to Python checks, so a valid spec skips jsonschema's walk.

jsonschema interprets a schema anew for every instance (about 0.1-0.2 ms for a driver
spec); a compiled check answers the common question, "is this plain JSON valid?", in a
few microseconds. It decides validity only: for an invalid value (or one it cannot judge)
the caller asks jsonschema, whose errors name the JSON path as before.

The check is exact for plain JSON (dict, list, str, int, float, bool, None) under the
keywords compiled here, with jsonschema's own rules (its type checker, its ``equal`` for
``const``/``enum``, and its way of collecting evaluated members for
``unevaluatedProperties``), so ``oneOf``, ``not`` and ``if`` may rely on a branch being
invalid. Anything else — another Python type in the value, a keyword not compiled here,
a nested ``$id`` — makes the check give up (the value, or the whole schema, goes to
jsonschema), never guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from typing import Any
from urllib.parse import urldefrag, urljoin

__all__ = ["CompiledValidator", "compile_check"]

#: A compiled check: the value -> whether it is valid (raises ``_Unsure`` if it cannot tell).
Check = Callable[[Any], bool]
#: The members of an object that a schema "evaluated" (jsonschema's rules), for
#: ``unevaluatedProperties``; only called on objects the schema is known to accept or not.
KeysFunction = Callable[[dict[str, Any]], AbstractSet[str]]

_PLAIN_TYPES = frozenset({dict, list, str, int, float, bool, type(None)})

#: Keywords that carry no assertion in jsonschema's draft 2020-12 validator (``format`` is
#: not asserted without a format checker, which the registry never passes).
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$defs", "definitions", "$comment", "$anchor", "$dynamicAnchor", "$vocabulary",
     "title", "description", "examples", "default", "deprecated", "readOnly", "writeOnly", "format",
     "contentEncoding", "contentMediaType", "contentSchema", "then", "else"}
)


class _Unsure(Exception):
    """The value holds something other than plain JSON: let jsonschema judge it."""


class _Unsupported(Exception):
    """The schema uses a keyword this compiler does not handle: no compiled check."""


def _plain(value: Any) -> None:
    if type(value) not in _PLAIN_TYPES:
        raise _Unsure


def _is_integer(value: Any) -> bool:
    kind = type(value)
    return kind is int or (kind is float and value.is_integer())


_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "object": lambda value: type(value) is dict,
    "array": lambda value: type(value) is list,
    "string": lambda value: type(value) is str,
    "boolean": lambda value: type(value) is bool,
    "null": lambda value: value is None,
    "integer": _is_integer,
    "number": lambda value: type(value) is int or type(value) is float,
}


def _equal(one: Any, two: Any) -> bool:
    """jsonschema's ``equal`` on plain JSON: True is not 1, 1 is 1.0, arrays and objects
    compare member by member."""
    if one is two:
        return True
    if type(one) is str or type(two) is str:
        return bool(one == two)
    if type(one) is list and type(two) is list:
        return len(one) == len(two) and all(_equal(a, b) for a, b in zip(one, two, strict=True))
    if type(one) is dict and type(two) is dict:
        return len(one) == len(two) and all(key in two and _equal(item, two[key]) for key, item in one.items())
    if type(one) is bool or type(two) is bool:
        return False  # ``one is two`` was checked: True only equals True
    if type(one) in (list, dict) or type(two) in (list, dict):
        return False
    return bool(one == two)


class _Compiler:
    """Compiles one schema (and what it refers to) against a ``referencing`` registry."""

    def __init__(self, known_keywords: frozenset[str]) -> None:
        self._known = known_keywords
        # (id of the schema object, base URI) -> its check / keys function; a list cell so
        # a recursive reference can point at a check still being compiled.
        self._checks: dict[tuple[int, str, bool], list[Check]] = {}
        self._keys: dict[tuple[int, str], list[KeysFunction]] = {}
        self._alive: list[Any] = []  # keep compiled schema objects alive (their ids are keys)

    # -- checks -------------------------------------------------------------------------
    def check(self, schema: Any, resolver: Any, base: str, root: bool = False) -> Check:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if type(schema) is not dict:
            raise _Unsupported(f"schema {schema!r} is neither an object nor a boolean")
        if "$id" in schema and not root:
            raise _Unsupported("a nested $id")
        key = (id(schema), base, root)
        known = self._checks.get(key)
        if known is not None:
            return known[0] if known else (lambda value: known[0](value))
        cell: list[Check] = []
        self._checks[key] = cell
        self._alive.append(schema)
        compiled = self._compile(schema, resolver, base)
        cell.append(compiled)
        return compiled

    def _resolve(self, reference: str, resolver: Any, base: str) -> tuple[Any, Any, str]:
        resolved = resolver.lookup(reference)
        contents = resolved.contents
        target = urldefrag(urljoin(base, reference)).url
        return contents, resolved.resolver, contents.get("$id", target) if type(contents) is dict else target

    def _compile(self, schema: dict[str, Any], resolver: Any, base: str) -> Check:
        tests: list[Check] = []
        for keyword in schema:
            if keyword in _ANNOTATIONS or keyword not in self._known:
                continue  # jsonschema ignores what it does not know as well
            handler = getattr(self, "_kw_" + keyword.lstrip("$"), None)
            if handler is None:
                raise _Unsupported(keyword)
            test = handler(schema[keyword], schema, resolver, base)
            if test is not None:
                tests.append(test)
        if not tests:
            return _always_plain
        if len(tests) == 1:
            only = tests[0]

            def check_one(value: Any) -> bool:
                if type(value) not in _PLAIN_TYPES:
                    raise _Unsure
                return only(value)

            return check_one
        all_tests = tuple(tests)

        def check_all(value: Any) -> bool:
            if type(value) not in _PLAIN_TYPES:
                raise _Unsure
            for test in all_tests:  # noqa: SIM110 (a loop: all() of a generator is slower here)
                if not test(value):
                    return False
            return True

        return check_all

    # -- keywords (each returns a test of the value, or None when it asserts nothing) ------
    def _kw_ref(self, reference: Any, schema: Any, resolver: Any, base: str) -> Check:
        contents, target_resolver, target_base = self._resolve(reference, resolver, base)
        return self.check(contents, target_resolver, target_base, root=True)

    def _kw_type(self, types: Any, schema: Any, resolver: Any, base: str) -> Check:
        names = [types] if isinstance(types, str) else list(types)
        try:
            tests = tuple(_TYPE_TESTS[name] for name in names)
        except KeyError as exc:
            raise _Unsupported(f"type {exc}") from None
        if len(tests) == 1:
            return tests[0]
        return lambda value: any(test(value) for test in tests)

    def _kw_const(self, const: Any, schema: Any, resolver: Any, base: str) -> Check:
        return lambda value: _equal(value, const)

    def _kw_enum(self, options: Any, schema: Any, resolver: Any, base: str) -> Check:
        choices = tuple(options)
        return lambda value: any(_equal(choice, value) for choice in choices)

    def _kw_minimum(self, bound: Any, schema: Any, resolver: Any, base: str) -> Check:
        return lambda value: not (type(value) in (int, float) and value < bound)

    def _kw_maximum(self, bound: Any, schema: Any, resolver: Any, base: str) -> Check:
        return lambda value: not (type(value) in (int, float) and value > bound)

    def _kw_exclusiveMinimum(self, bound: Any, schema: Any, resolver: Any, base: str) -> Check:
        return lambda value: not (type(value) in (int, float) and value <= bound)

    def _kw_exclusiveMaximum(self, bound: Any, schema: Any, resolver: Any, base: str) -> Check:
        return lambda value: not (type(value) in (int, float) and value >= bound)

    def _kw_minLength(self, bound: Any, schema: Any, resolver: Any, base: str) -> Check:
        return lambda value: not (type(value) is str and len(value) < bound)

    def _kw_maxLength(self, bound: Any, schema: Any, resolver: Any, base: str) -> Check:
        return lambda value: not (type(value) is str and len(value) > bound)

    def _kw_pattern(self, pattern: Any, schema: Any, resolver: Any, base: str) -> Check:
        search = re.compile(pattern).search
        return lambda value: type(value) is not str or search(value) is not None

    def _kw_minItems(self, bound: Any, schema: Any, resolver: Any, base: str) -> Check:
        return lambda value: not (type(value) is list and len(value) < bound)

    def _kw_maxItems(self, bound: Any, schema: Any, resolver: Any, base: str) -> Check:
        return lambda value: not (type(value) is list and len(value) > bound)

    def _kw_required(self, names: Any, schema: Any, resolver: Any, base: str) -> Check:
        required = tuple(names)
        return lambda value: type(value) is not dict or all(name in value for name in required)

    def _kw_dependentRequired(self, dependencies: Any, schema: Any, resolver: Any, base: str) -> Check:
        pairs = tuple((name, tuple(needed)) for name, needed in dependencies.items())

        def test(value: Any) -> bool:
            if type(value) is not dict:
                return True
            return all(name not in value or all(each in value for each in needed) for name, needed in pairs)

        return test

    def _kw_items(self, items: Any, schema: Any, resolver: Any, base: str) -> Check:
        if "prefixItems" in schema:
            raise _Unsupported("prefixItems")
        item_check = self.check(items, resolver, base)

        def test(value: Any) -> bool:
            if type(value) is not list:
                return True
            for item in value:  # noqa: SIM110
                if not item_check(item):
                    return False
            return True

        return test

    def _kw_properties(self, properties: Any, schema: Any, resolver: Any, base: str) -> Check:
        members = tuple((name, self.check(sub, resolver, base)) for name, sub in properties.items())

        def test(value: Any) -> bool:
            if type(value) is not dict:
                return True
            for name, check in members:  # noqa: SIM110
                if name in value and not check(value[name]):
                    return False
            return True

        return test

    def _kw_patternProperties(self, patterns: Any, schema: Any, resolver: Any, base: str) -> Check:
        compiled = tuple((re.compile(pattern).search, self.check(sub, resolver, base)) for pattern, sub in patterns.items())

        def test(value: Any) -> bool:
            if type(value) is not dict:
                return True
            for search, check in compiled:
                for name, item in value.items():
                    if search(name) and not check(item):
                        return False
            return True

        return test

    def _kw_additionalProperties(self, additional: Any, schema: Any, resolver: Any, base: str) -> Check:
        extra_check = self.check(additional, resolver, base)
        is_extra = _extras_test(schema)

        def test(value: Any) -> bool:
            if type(value) is not dict:
                return True
            for name, item in value.items():
                if is_extra(name) and not extra_check(item):
                    return False
            return True

        return test

    def _kw_propertyNames(self, names: Any, schema: Any, resolver: Any, base: str) -> Check:
        name_check = self.check(names, resolver, base)
        return lambda value: type(value) is not dict or all(name_check(name) for name in value)

    def _kw_allOf(self, subschemas: Any, schema: Any, resolver: Any, base: str) -> Check:
        checks = tuple(self.check(sub, resolver, base) for sub in subschemas)

        def test(value: Any) -> bool:
            for check in checks:  # noqa: SIM110
                if not check(value):
                    return False
            return True

        return test

    def _kw_anyOf(self, subschemas: Any, schema: Any, resolver: Any, base: str) -> Check:
        checks = tuple(self.check(sub, resolver, base) for sub in subschemas)
        return lambda value: any(check(value) for check in checks)

    def _kw_oneOf(self, subschemas: Any, schema: Any, resolver: Any, base: str) -> Check:
        checks = tuple(self.check(sub, resolver, base) for sub in subschemas)
        return lambda value: sum(1 for check in checks if check(value)) == 1

    def _kw_not(self, subschema: Any, schema: Any, resolver: Any, base: str) -> Check:
        check = self.check(subschema, resolver, base)
        return lambda value: not check(value)

    def _kw_if(self, condition: Any, schema: Any, resolver: Any, base: str) -> Check:
        if_check = self.check(condition, resolver, base)
        then_check = self.check(schema["then"], resolver, base) if "then" in schema else _always
        else_check = self.check(schema["else"], resolver, base) if "else" in schema else _always
        return lambda value: then_check(value) if if_check(value) else else_check(value)

    def _kw_unevaluatedProperties(self, unevaluated: Any, schema: Any, resolver: Any, base: str) -> Check:
        if "unevaluatedItems" in schema:
            raise _Unsupported("unevaluatedItems")
        rest_check = self.check(unevaluated, resolver, base)
        # The members this very schema evaluates (its other keywords and subschemas).
        evaluated = self.keys(schema, resolver, base, include_unevaluated=False)

        def test(value: Any) -> bool:
            if type(value) is not dict:
                return True
            seen = evaluated(value)
            for name, item in value.items():
                if name not in seen and not rest_check(item):
                    return False
            return True

        return test

    # -- evaluated members (jsonschema's find_evaluated_property_keys_by_schema) ----------
    def keys(self, schema: Any, resolver: Any, base: str, include_unevaluated: bool = True) -> KeysFunction:
        if type(schema) is not dict:
            return _no_keys  # a boolean schema evaluates nothing
        key = (id(schema), base) if include_unevaluated else (id(schema), base + "#self")
        known = self._keys.get(key)
        if known is not None:
            return known[0] if known else (lambda value: known[0](value))
        cell: list[KeysFunction] = []
        self._keys[key] = cell
        self._alive.append(schema)
        compiled = self._compile_keys(schema, resolver, base, include_unevaluated)
        cell.append(compiled)
        return compiled

    def _compile_keys(self, schema: dict[str, Any], resolver: Any, base: str, include_unevaluated: bool) -> KeysFunction:
        if "$dynamicRef" in schema or "dependentSchemas" in schema:
            raise _Unsupported("$dynamicRef / dependentSchemas with unevaluatedProperties")
        parts: list[KeysFunction] = []
        if "$ref" in schema:
            contents, target_resolver, target_base = self._resolve(schema["$ref"], resolver, base)
            parts.append(self.keys(contents, target_resolver, target_base))
        properties = schema.get("properties")
        if type(properties) is dict:
            names = frozenset(properties)
            parts.append(lambda value: names & value.keys())
        for keyword in ("additionalProperties", "unevaluatedProperties"):
            if keyword not in schema or (keyword == "unevaluatedProperties" and not include_unevaluated):
                continue
            parts.append(_valid_members(self.check(schema[keyword], resolver, base)))
        if "patternProperties" in schema:
            searches = tuple(re.compile(pattern).search for pattern in schema["patternProperties"])

            def matching(value: dict[str, Any]) -> AbstractSet[str]:
                return {name for name in value if any(search(name) for search in searches)}

            parts.append(matching)
        for keyword in ("allOf", "oneOf", "anyOf"):
            for sub in schema.get(keyword, ()):
                parts.append(_keys_if_valid(self.check(sub, resolver, base), self.keys(sub, resolver, base)))
        if "if" in schema:
            if_check = self.check(schema["if"], resolver, base)
            if_keys = self.keys(schema["if"], resolver, base)
            then_keys = self.keys(schema["then"], resolver, base) if "then" in schema else _no_keys
            else_keys = self.keys(schema["else"], resolver, base) if "else" in schema else _no_keys

            def conditional(value: dict[str, Any]) -> AbstractSet[str]:
                if if_check(value):
                    return if_keys(value) | then_keys(value)
                return else_keys(value)

            parts.append(conditional)
        all_parts = tuple(parts)

        def evaluated(value: dict[str, Any]) -> AbstractSet[str]:
            found: set[str] = set()
            for part in all_parts:
                found.update(part(value))
            return found

        return evaluated


def _valid_members(check: Check) -> KeysFunction:
    return lambda value: {name for name, item in value.items() if check(item)}


def _keys_if_valid(check: Check, keys: KeysFunction) -> KeysFunction:
    return lambda value: keys(value) if check(value) else frozenset()


def _extras_test(schema: dict[str, Any]) -> Callable[[str], bool]:
    """Whether a member is "additional": jsonschema's find_additional_properties."""
    properties = schema.get("properties", {})
    patterns = "|".join(schema.get("patternProperties", {}))
    search = re.compile(patterns).search if patterns else None
    return lambda name: name not in properties and not (search is not None and search(name))


def _always(value: Any) -> bool:
    if type(value) not in _PLAIN_TYPES:
        raise _Unsure
    return True


_always_plain = _always


def _never(value: Any) -> bool:
    if type(value) not in _PLAIN_TYPES:
        raise _Unsure
    return False


def _no_keys(value: Any) -> AbstractSet[str]:
    return frozenset()


def compile_check(schema: Any, resolver: Any, known_keywords: frozenset[str]) -> Check | None:
    """The compiled check of ``schema`` (refs resolved with ``resolver``), or None when the
    schema uses something this compiler does not handle."""
    base = schema.get("$id", "") if type(schema) is dict else ""
    try:
        return _Compiler(known_keywords).check(schema, resolver, base, root=True)
    except (_Unsupported, LookupError, TypeError, re.error):
        return None
    except Exception as exc:  # referencing's Unresolvable and the like: jsonschema will say
        if type(exc).__module__.startswith("referencing"):
            return None
        raise


class CompiledValidator:
    """A jsonschema validator whose ``iter_errors``/``is_valid`` first try the compiled
    check: a value it accepts has no errors; anything else is jsonschema's to judge."""

    __slots__ = ("_check", "_validator")

    def __init__(self, validator: Any, check: Check | None) -> None:
        self._validator = validator
        self._check = check

    def accepts(self, value: Any) -> bool:
        """Whether the compiled check finds ``value`` valid (False: ask jsonschema)."""
        check = self._check
        if check is None:
            return False
        try:
            return check(value)
        except Exception:  # not plain JSON (or keys that are not strings): jsonschema judges
            return False

    def iter_errors(self, value: Any) -> Any:
        if self.accepts(value):
            return iter(())
        return self._validator.iter_errors(value)

    def is_valid(self, value: Any) -> bool:
        return self.accepts(value) or bool(self._validator.is_valid(value))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._validator, name)
