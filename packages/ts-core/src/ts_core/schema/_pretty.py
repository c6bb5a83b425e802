"""Python-literal rendering of JSON for reprs, wrapped at 80 columns like the wheel's reprs."""

from __future__ import annotations

from typing import Any

__all__ = ["pretty_repr"]

_WIDTH = 80


def pretty_repr(prefix: str, value: Any, suffix: str = ")") -> str:
    """``prefix + repr(value) + suffix``, one member per line when ``repr(value)`` is too wide.

    As in the wheel, the prefix and suffix do not count towards the 80 columns, and a
    nested member keeps one column more free per enclosing level (its closing brackets).
    """
    return prefix + _format(value, 0, 0, 0) + suffix


def _format(value: Any, indent: int, before: int, after: int) -> str:
    flat = repr(value)
    if indent + before + len(flat) + after <= _WIDTH or not value:
        return flat
    inner = " " * (indent + 2)
    if isinstance(value, dict):
        lines = []
        for key, member in value.items():
            head = f"{key!r}: "
            lines.append(inner + head + _format(member, indent + 2, len(head), after + 1) + ",")
        return "{\n" + "\n".join(lines) + "\n" + " " * indent + "}"
    if isinstance(value, list | tuple):
        lines = [inner + _format(item, indent + 2, 0, after + 1) + "," for item in value]
        return "[\n" + "\n".join(lines) + "\n" + " " * indent + "]"
    return flat
