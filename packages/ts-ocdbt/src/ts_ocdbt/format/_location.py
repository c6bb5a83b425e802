"""The ``"<kind>:<base_path>:<relative_path>:<offset>:<length>"`` strings of dumps."""

from __future__ import annotations

import re
from typing import Final

from ._model import DataFileId, IndirectDataReference

__all__ = ["KINDS", "format_location", "parse_location"]

#: Kinds of referenced data, as dumps label them.
KINDS: Final = ("value", "btreenode", "versionnode")
#: Path bytes written as they are; every other byte is percent-encoded (upper-case hex).
_UNRESERVED: Final = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./"
)
_LOCATION: Final = re.compile(r"([^:]+):([^:]*):([^:]*):([0-9]+):([0-9]+)")
_PERCENT: Final = re.compile(rb"%([0-9A-Fa-f]{2})")
_INT64_MAX: Final = 2**63 - 1


def _encode_path(path: bytes) -> str:
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in path)


def _decode_path(text: str, original: str) -> bytes:
    raw = text.encode("utf-8")
    if b"%" in _PERCENT.sub(b"", raw):
        raise ValueError(f"Invalid percent-encoding in indirect data reference {original!r}")
    return _PERCENT.sub(lambda m: bytes((int(m.group(1), 16),)), raw)


def format_location(kind: str, reference: IndirectDataReference) -> str:
    """``kind:base_path:relative_path:offset:length`` with paths percent-encoded."""
    if kind not in KINDS:
        raise ValueError(f"Invalid indirect data kind: {kind!r} (expected one of {', '.join(KINDS)})")
    file_id = reference.file_id
    return (
        f"{kind}:{_encode_path(file_id.base_path)}:{_encode_path(file_id.relative_path)}:"
        f"{reference.offset}:{reference.length}"
    )


def parse_location(text: str) -> tuple[str, IndirectDataReference]:
    """The kind and reference a location string names (ValueError if malformed)."""
    match = _LOCATION.fullmatch(text)
    if match is None:
        raise ValueError(f"Invalid indirect data reference: {text!r}")
    kind, base_path, relative_path, offset_text, length_text = match.groups()
    if kind not in KINDS:
        raise ValueError(f"Invalid indirect data kind: {kind!r} (expected one of {', '.join(KINDS)})")
    offset, length = int(offset_text), int(length_text)
    if offset >= 2**64 or length >= 2**64:
        raise ValueError(f"Invalid indirect data reference: {text!r}")
    if offset + length > _INT64_MAX:
        raise ValueError(f"Invalid offset/length pair in indirect data reference {text!r}")
    file_id = DataFileId(_decode_path(base_path, text), _decode_path(relative_path, text))
    return kind, IndirectDataReference(file_id, offset, length)
