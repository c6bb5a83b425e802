"""Validating a JSON value against a JSON Schema fragment, with errors that name the path.

Formats use it for JSON that does not arrive through a spec (stored metadata such as a
``.zarray``'s ``compressor``), so a stored value and a spec value get the same checks and
the same messages. A fragment may ``$ref`` any registered schema, e.g.
``{"$ref": "urn:ts:driver:zarr#/$defs/compressor"}``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from .._validation import validate_against

__all__ = ["validate_json"]

_records: dict[str, Any] = {}
_lock = threading.Lock()


def validate_json(value: Any, schema: Mapping[str, Any], json_path: str) -> None:
    """Raise ``SpecError`` whose message starts with the JSON path (``json_path`` joined
    with the path inside ``value``) of the most relevant violation of ``schema``."""
    from ..plugin import PluginRecord

    key = json.dumps(schema, sort_keys=True)
    with _lock:
        record = _records.get(key)
        if record is None:  # one record per fragment, so its compiled validator is reused
            record = PluginRecord(kind="codec", id="json-schema-fragment", target="ts_core.schema:validate_json",
                                  schema=dict(schema), distribution="ts-core")
            _records[key] = record
    validate_against(record, value, json_path)
