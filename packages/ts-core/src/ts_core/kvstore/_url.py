"""kvstore URLs (``memory://a/b``, ``file:///abs/path/``): scheme handlers are plugins."""

from __future__ import annotations

import re
from typing import Any

from .._validation import SpecError

__all__ = ["parse_kvstore_url", "split_url_scheme"]

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):(.*)$", re.DOTALL)


def split_url_scheme(url: str) -> tuple[str, str]:
    """``"file:///x"`` -> ``("file", "///x")``."""
    match = _SCHEME.match(url)
    if match is None:
        raise SpecError("kvstore", f'invalid URL "{url}": expected "scheme://..."')
    return match.group(1).lower(), match.group(2)


def parse_kvstore_url(url: str, json_path: str = "kvstore") -> dict[str, Any]:
    """Turn a single-component kvstore URL into its JSON spec."""
    from ..plugin import get_registry

    if "|" in url:
        raise SpecError(json_path, f'"{url}" is a composite URL; a kvstore URL has one component')
    scheme, rest = split_url_scheme(url)
    registry = get_registry()
    record = registry.find("url_scheme", scheme)
    if record is None or record.metadata.get("layer", "kvstore") != "kvstore":
        known = ", ".join(
            r.id for r in registry.records("url_scheme") if r.metadata.get("layer", "kvstore") == "kvstore"
        )
        raise SpecError(json_path, f'unsupported URL scheme "{scheme}" in "{url}"; known: {known}')
    try:
        spec = record.load()(f"{scheme}:{rest}")  # handlers see a lower-case scheme
    except SpecError:
        raise
    except ValueError as exc:
        raise SpecError(json_path, f'invalid URL "{url}": {exc}') from None
    return spec  # type: ignore[no-any-return]
