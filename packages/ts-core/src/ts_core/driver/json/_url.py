"""``json:`` URLs: ``file:///a.json|json:/pointer/within`` (the component's path is the
JSON pointer, percent-decoded, as in tensorstore)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ...kvstore import url_component_path
from ._pointer import parse_pointer

__all__ = ["format_json_url", "parse_json_url"]


def parse_json_url(component: str, kvstore: dict[str, Any]) -> dict[str, Any]:
    pointer = url_component_path(component)
    spec: dict[str, Any] = {"driver": "json", "kvstore": dict(kvstore)}
    if pointer:
        parse_pointer(pointer)
        spec["json_pointer"] = pointer
    return spec


def format_json_url(spec: dict[str, Any]) -> str:
    """The ``json:`` component of a json spec."""
    return "json:" + quote(spec.get("json_pointer", ""), safe="/~")
