"""The jsonschema-rs fast check agrees with jsonschema: it accepts exactly the plain JSON
values jsonschema accepts, on hand-picked keyword schemas and on every registered schema;
everything else goes to jsonschema."""

from __future__ import annotations

from typing import Any

import jsonschema
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ts_core.plugin import get_registry
from ts_core.plugin._fast_schema import FastValidator, fast_check


def _validator(schema: Any) -> FastValidator:
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    resource = DRAFT202012.create_resource(schema)
    references = Registry().with_resource(schema.get("$id", ""), resource) if isinstance(schema, dict) else Registry()
    plain = jsonschema.Draft202012Validator(schema, registry=references)
    check = fast_check(schema, [])
    assert check is not None
    return FastValidator(plain, check)


def _collect(schema: Any, names: set[str], atoms: list[Any]) -> None:
    """Member names and constants a schema mentions (to build values that exercise it)."""
    if isinstance(schema, dict):
        for keyword, value in schema.items():
            if keyword in ("properties", "patternProperties", "$defs"):
                names.update(value)
                for sub in value.values():
                    _collect(sub, names, atoms)
            elif keyword == "required":
                names.update(value)
            elif keyword == "const":
                atoms.append(value)
            elif keyword == "enum":
                atoms.extend(value)
            elif keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength",
                             "maxLength", "minItems", "maxItems"):
                atoms.extend([value, value - 1, value + 1, float(value)])
            else:
                _collect(value, names, atoms)
    elif isinstance(schema, list):
        for item in schema:
            _collect(item, names, atoms)


def _values(schema: Any) -> st.SearchStrategy[Any]:
    names: set[str] = {"other"}
    atoms: list[Any] = [None, True, False, 0, 1, -1, 1.0, 2.5, "", "open", "x"]
    _collect(schema, names, atoms)
    atom = st.sampled_from([a for a in atoms if not isinstance(a, dict | list)]) | st.integers(-3, 70) | st.text(max_size=4)
    constants = [a for a in atoms if isinstance(a, dict | list)]
    leaves = atom | st.sampled_from(constants) if constants else atom
    return st.recursive(
        leaves,
        lambda children: st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(sorted(names)), children, max_size=6),
        max_leaves=16,
    )


KEYWORD_SCHEMAS = [
    {"type": ["integer", "null"], "minimum": -1, "maximum": 5},
    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 2.5},
    {"type": "string", "minLength": 1, "maxLength": 3, "pattern": "^[a-z]+$"},
    {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3},
    {"enum": [1, "open", True, None, [1, 2], {"a": 1}]},
    {"const": 1},
    {"const": False},
    {"const": [1, True]},
    {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
     "additionalProperties": False},
    {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": {"type": "boolean"}},
    {"type": "object", "patternProperties": {"^x": {"type": "integer"}}, "additionalProperties": False},
    {"propertyNames": {"pattern": "^[ab]"}},
    {"dependentRequired": {"a": ["b"]}},
    {"oneOf": [{"type": "boolean"}, {"const": "open"}, {"type": "number"}, {"type": "integer"}]},
    {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    {"not": {"type": "string"}},
    {"if": {"properties": {"a": {"const": 1}}, "required": ["a"]}, "then": {"required": ["b"]},
     "else": {"properties": {"b": {"type": "string"}}}},
    {"type": "object", "allOf": [{"properties": {"a": {"type": "integer"}}}, {"properties": {"b": {}}}],
     "unevaluatedProperties": False},
    {"type": "object", "anyOf": [{"properties": {"a": {"type": "integer"}}, "required": ["a"]},
                                 {"properties": {"b": {"type": "integer"}}, "required": ["b"]}],
     "unevaluatedProperties": {"type": "string"}},
    {"type": "object", "properties": {"a": {}}, "allOf": [{"additionalProperties": {"type": "integer"}}],
     "unevaluatedProperties": False},
    {"type": "object", "if": {"properties": {"a": {"const": 1}}}, "then": {"properties": {"b": True}},
     "else": {"properties": {"other": True}}, "unevaluatedProperties": False},
    {"$id": "urn:test:recursive", "$defs": {"node": {"type": "object", "properties": {
        "a": {"type": "integer"}, "b": {"$ref": "#/$defs/node"}}, "unevaluatedProperties": False}},
     "$ref": "#/$defs/node"},
    {"x-unknown-keyword": 1, "type": "integer"},
    True,
    False,
]


@pytest.mark.parametrize("schema", KEYWORD_SCHEMAS, ids=range(len(KEYWORD_SCHEMAS)))
def test_fast_check_equals_jsonschema(schema: Any) -> None:
    validator = _validator(schema)

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(value=_values(schema if isinstance(schema, dict) else {}))
    def agree(value: Any) -> None:
        assert validator.accepts(value) == validator._validator.is_valid(value), value

    agree()


def _registered() -> list[Any]:
    return [record for record in get_registry().records() if record.schema]


@pytest.mark.parametrize("record", _registered(), ids=lambda record: f"{record.kind}:{record.qualified_id}")
def test_registered_schemas_compile_and_agree(record: Any) -> None:
    validator = get_registry().validator(record)
    assert validator._check is not None, "every registered schema compiles"

    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(value=_values(record.schema))
    def agree(value: Any) -> None:
        assert validator.accepts(value) == validator._validator.is_valid(value), value

    agree()


def test_errors_still_come_from_jsonschema() -> None:
    validator = get_registry().validator(get_registry().get("driver", "zarr"))
    assert list(validator.iter_errors({"driver": "zarr", "kvstore": {"driver": "memory"}})) == []
    errors = list(validator.iter_errors({"driver": "zarr", "open": "yes"}))
    assert errors
    assert errors[0].absolute_path


def test_non_json_values_go_to_jsonschema() -> None:
    validator = _validator({"type": "object", "properties": {"a": {"type": "number"}}})
    assert not validator.accepts({"a": np.float32(1.5)})  # jsonschema's to judge
    assert validator.is_valid({"a": np.float32(1.5)})
    assert not validator.accepts({1: 2, "a": 1})


def test_a_schema_jsonschema_rs_cannot_compile_leaves_jsonschema_alone() -> None:
    assert fast_check({"$ref": "urn:nowhere#/x"}, []) is None
    validator = FastValidator(jsonschema.Draft202012Validator({"type": "integer"}), None)
    assert not validator.accepts(1)
    assert validator.is_valid(1)
    assert not validator.is_valid("1")
