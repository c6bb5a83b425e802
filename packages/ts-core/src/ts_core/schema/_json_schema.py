"""Validating a JSON value against a JSON Schema fragment, with errors that name the path.

Formats use it for JSON that they parse themselves (a ``.zarray``'s ``compressor``, stored
or from a spec), so both get the same checks and the same messages. A fragment may
``$ref`` any registered schema, e.g. ``{"$ref": "urn:ts:driver:zarr#/$defs/codec"}``.
An integer outside a ``minimum``/``maximum`` pair is reported the way tensorstore words
it: ``expected integer in the range [0, 9], but received: 10``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from .._validation import SpecError, describe, json_path, validate_against

__all__ = ["validate_json"]

_records: dict[str, Any] = {}
_lock = threading.Lock()

#: (schema fragment, canonical value) pairs already found valid: validation is pure, and the
#: same metadata is parsed again on every open of an array (bounded, like the spec cache).
_VALID_CACHE_SIZE = 4096
_valid: dict[tuple[str, str], None] = {}


def validate_json(value: Any, schema: Mapping[str, Any], path: str) -> None:
    """Raise ``SpecError`` whose message starts with the JSON path (``path`` joined with
    the path inside ``value``) of the most relevant violation of ``schema``."""
    from jsonschema.exceptions import best_match

    from ..plugin import PluginRecord, get_registry

    key = json.dumps(schema, sort_keys=True)
    try:
        seen = (key, json.dumps(value, sort_keys=True))
    except (TypeError, ValueError):  # not plain JSON: validate every time
        seen = None
    if seen is not None and seen in _valid:
        return
    with _lock:
        record = _records.get(key)
        if record is None:  # one record per fragment, so its compiled validator is reused
            record = PluginRecord(kind="codec", id="json-schema-fragment", target="ts_core.schema:validate_json",
                                  schema=dict(schema), distribution="ts-core")
            _records[key] = record
    error = best_match(get_registry().validator(record).iter_errors(value))
    if error is None:
        if seen is not None:
            if len(_valid) >= _VALID_CACHE_SIZE:
                _valid.clear()
            _valid[seen] = None
        return
    bounds = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator in ("minimum", "maximum") and "minimum" in bounds and "maximum" in bounds:
        raise SpecError(
            json_path(path, list(error.absolute_path)),
            f"expected integer in the range [{bounds['minimum']}, {bounds['maximum']}], "
            f"but received: {describe(error.instance)}",
        )
    validate_against(record, value, path)
