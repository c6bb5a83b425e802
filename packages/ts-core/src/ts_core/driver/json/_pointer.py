"""JSON Pointer (RFC 6901): parsing, reading a referenced value, replacing it.

Error messages follow tensorstore's, so code that matches on them keeps working.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from ...errors import SpecError

__all__ = ["JsonPointerError", "get_pointer", "parse_pointer", "set_pointer"]

#: RFC 6901 section 4: an array index is "0" or digits without a leading zero.
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
#: RFC 6901 section 4: "-" names the (non-existent) element after the last one.
_PAST_THE_END = "-"


class JsonPointerError(ValueError):
    """A pointer does not fit the document (missing member, bad index, scalar parent)."""


def parse_pointer(pointer: str, json_path: str = "json_pointer") -> list[str]:
    """The reference tokens of ``pointer`` ("" -> []); a SpecError at ``json_path`` if invalid."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise SpecError(json_path, f"JSON Pointer does not start with '/': {pointer!r}")
    tokens = pointer[1:].split("/")
    for token in tokens:
        if re.search(r"~(?![01])", token):
            raise SpecError(json_path, f"JSON Pointer requires '~' to be followed by '0' or '1': {pointer!r}")
    # RFC 6901 section 4: "~1" becomes "/" before "~0" becomes "~".
    return [token.replace("~1", "/").replace("~0", "~") for token in tokens]


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _array_index(pointer: str, token: str, size: int) -> int:
    if token == _PAST_THE_END:
        raise JsonPointerError(f"JSON Pointer {pointer!r} refers to non-existent array element")
    if not _ARRAY_INDEX.fullmatch(token):
        raise JsonPointerError(f"JSON Pointer {pointer!r} is invalid for array value")
    index = int(token)
    if index >= size:
        raise JsonPointerError(f"JSON Pointer {pointer!r} is out-of-range for array of size {size}")
    return index


def get_pointer(document: Any, tokens: list[str], pointer: str) -> Any:
    """The value ``tokens`` refer to in ``document``; JsonPointerError if there is none."""
    value = document
    for token in tokens:
        if isinstance(value, dict):
            if token not in value:
                raise JsonPointerError(f"JSON Pointer {pointer!r} refers to non-existent object member")
            value = value[token]
        elif isinstance(value, list):
            value = value[_array_index(pointer, token, len(value))]
        else:
            raise JsonPointerError(
                f"JSON Pointer reference {pointer!r} cannot be applied to {_type_name(value)} value: {_short(value)}"
            )
    return value


def set_pointer(document: Any, tokens: list[str], pointer: str, new_value: Any) -> Any:
    """``document`` (copied, never changed in place) with the value at ``tokens`` replaced.

    Missing object members, and objects for a missing document or member on the way,
    are created; "-" appends to an array; any other mismatch is a JsonPointerError.
    """
    if not tokens:
        return new_value
    root = {} if document is None else copy.deepcopy(document)
    parent = root
    for depth, token in enumerate(tokens):
        last = depth == len(tokens) - 1
        if isinstance(parent, dict):
            if last:
                parent[token] = new_value
            else:
                if token not in parent:
                    parent[token] = {}
                parent = parent[token]
        elif isinstance(parent, list):
            if token == _PAST_THE_END:
                if not last:
                    raise JsonPointerError(f"JSON Pointer {pointer!r} refers to non-existent array element")
                parent.append(new_value)
            else:
                index = _array_index(pointer, token, len(parent))
                if last:
                    parent[index] = new_value
                else:
                    parent = parent[index]
        else:
            raise JsonPointerError(
                f"JSON Pointer reference {pointer!r} cannot be applied to {_type_name(parent)} value: {_short(parent)}"
            )
    return root


def _short(value: Any) -> str:
    import json

    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."
