"""Manifests: ``manifest.ocdbt`` and the numbered ``manifest.<16 hex digits>`` files."""

from __future__ import annotations

import re
from typing import Final

from ._model import Manifest

__all__ = [
    "MANIFEST_KEY",
    "NUM_NUMBERED_MANIFESTS_TO_KEEP",
    "decode_manifest",
    "encode_manifest",
    "numbered_manifest_key",
    "parse_numbered_manifest_key",
]

#: The manifest's key, relative to the database root.
MANIFEST_KEY: Final = b"manifest.ocdbt"
#: How many numbered manifests tensorstore keeps before deleting older ones.
NUM_NUMBERED_MANIFESTS_TO_KEEP: Final = 128
_NUMBERED_MANIFEST = re.compile(rb"manifest\.([0-9a-f]{16})")


def numbered_manifest_key(generation_number: int) -> bytes:
    """``manifest.<generation as 16 lowercase hex digits>``, relative to the database root."""
    return b"manifest.%016x" % generation_number


def parse_numbered_manifest_key(key: bytes) -> int | None:
    """The generation a numbered manifest key names, or None if ``key`` is not one."""
    match = _NUMBERED_MANIFEST.fullmatch(key)
    if match is None:
        return None
    generation_number = int(match.group(1), 16)
    return generation_number or None


def decode_manifest(data: bytes, where: str) -> Manifest:
    """Decode an encoded manifest; ``where`` (its key) is named in errors."""
    raise NotImplementedError


def encode_manifest(manifest: Manifest, *, encode_as_single: bool = False) -> bytes:
    """Encode ``manifest``; ``encode_as_single`` writes ``manifest_kind`` single (as numbered
    manifest files do) with the versions, whatever ``manifest.config`` says."""
    raise NotImplementedError
