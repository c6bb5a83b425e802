"""The ``ocdbt_coordinator`` context resource, as tensorstore names it.

tensorstore's OCDBT writers may coordinate through a gRPC server (``address``). ts accepts
the resource, so specs and contexts written for tensorstore parse, but has no such
server: an ocdbt kvstore whose coordinator names an address is refused when opened, and
without one, writers coordinate through conditional writes of the manifest alone.
"""

from __future__ import annotations

from typing import Any

from ts_core.context import Context, ContextResourceProvider

__all__ = ["OcdbtCoordinator"]


class OcdbtCoordinator(ContextResourceProvider):
    """``ocdbt_coordinator``: ``{"address", "lease_duration", "security"}``, all optional."""

    @classmethod
    def create(cls, spec: Any, context: Context) -> dict[str, Any]:
        return dict(spec or {})
