"""The ``"<kind>:<base_path>:<relative_path>:<offset>:<length>"`` strings of dumps."""

from __future__ import annotations

from ._model import IndirectDataReference

__all__ = ["format_location", "parse_location"]

#: Kinds of referenced data, as dumps label them.
KINDS = ("value", "btreenode", "versionnode")


def format_location(kind: str, reference: IndirectDataReference) -> str:
    """``kind:base_path:relative_path:offset:length`` with paths percent-encoded."""
    raise NotImplementedError


def parse_location(text: str) -> tuple[str, IndirectDataReference]:
    """The kind and reference a location string names (ValueError if malformed)."""
    raise NotImplementedError
