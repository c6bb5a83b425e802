"""URL components of ts-core's own drivers: ``auto:`` and ``cast:<dtype>``."""

from __future__ import annotations

from typing import Any

from ..kvstore._url import url_component_path

__all__ = ["format_cast_url", "parse_auto_url", "parse_cast_url"]


def parse_auto_url(component: str, kvstore: dict[str, Any]) -> dict[str, Any]:
    """``auto:`` (or ``auto``) after a kvstore URL: detect the format stored there."""
    if url_component_path(component):
        raise ValueError("Path not supported")
    return {"driver": "auto", "kvstore": kvstore}


def parse_cast_url(component: str, base: dict[str, Any]) -> dict[str, Any]:
    """``cast:<dtype>`` after a TensorStore URL: ``{"driver": "cast", "dtype": ..., "base": ...}``."""
    from .._dtype import to_dtype

    name = url_component_path(component)
    try:
        to_dtype(name, json_path="dtype")
    except (TypeError, ValueError):
        raise ValueError(f'Unsupported data type: "{name}"') from None
    return {"driver": "cast", "dtype": name, "base": base}


def format_cast_url(spec: dict[str, Any]) -> str:
    """The ``cast:<dtype>`` component of a cast spec."""
    return f"cast:{spec['dtype']}"
