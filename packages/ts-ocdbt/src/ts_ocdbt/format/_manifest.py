"""Manifests: ``manifest.ocdbt`` and the numbered ``manifest.<16 hex digits>`` files."""

from __future__ import annotations

import re
from typing import Final

from ._codec import (
    MANIFEST_MAGIC,
    DataFileTableBuilder,
    Reader,
    Writer,
    decode_envelope,
    encode_envelope,
    read_data_file_table,
)
from ._entries import (
    leaf_file_ids,
    max_version_tree_height,
    read_config,
    read_version_interior_entries,
    read_version_leaf_entries,
    validate_manifest_version_nodes,
    write_config,
    write_version_interior_entries,
    write_version_leaf_entries,
)
from ._model import MANIFEST_KIND_SINGLE, Manifest

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
#: Bound on a decompressed manifest: the configuration, at most 65536 inline versions and
#: 62 version tree node references, and their data file table.
MAX_DECODED_MANIFEST_BYTES: Final = 64 * 2**20
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
    """Decode an encoded manifest; ``where`` (its key) is named in errors.

    A numbered database's ``manifest.ocdbt`` decodes to its config alone; its
    ``manifest.<n>`` files decode with ``manifest_kind`` single, as stored.
    """
    body = decode_envelope(data, MANIFEST_MAGIC, "manifest", where, MAX_DECODED_MANIFEST_BYTES)
    reader = Reader(body, where)
    config = read_config(reader)
    if config.manifest_kind != MANIFEST_KIND_SINGLE:
        reader.finish()
        return Manifest(config)
    files = read_data_file_table(reader, b"")
    arity_log2 = config.version_tree_arity_log2
    versions = read_version_leaf_entries(reader, files, arity_log2)
    nodes = read_version_interior_entries(reader, files, max_version_tree_height(arity_log2), None)
    validate_manifest_version_nodes(reader, nodes, arity_log2, versions[-1].generation_number)
    reader.finish()
    return Manifest(config, versions, nodes)


def encode_manifest(manifest: Manifest, *, encode_as_single: bool = False) -> bytes:
    """Encode ``manifest``; ``encode_as_single`` writes ``manifest_kind`` single (as numbered
    manifest files do) with the versions, whatever ``manifest.config`` says."""
    config = manifest.config
    writer = Writer()
    if encode_as_single:
        write_config(writer, config, MANIFEST_KIND_SINGLE)
    else:
        write_config(writer, config)
        if config.manifest_kind != MANIFEST_KIND_SINGLE:
            return encode_envelope(writer.getvalue(), MANIFEST_MAGIC, config.compression)
    if not manifest.versions:
        raise ValueError("a manifest with a version tree needs at least one version")
    table = DataFileTableBuilder(
        [*leaf_file_ids(manifest.versions), *(node.location.file_id for node in manifest.version_tree_nodes)]
    )
    table.write(writer)
    write_version_leaf_entries(writer, table, manifest.versions)
    write_version_interior_entries(writer, table, manifest.version_tree_nodes, include_height=True)
    return encode_envelope(writer.getvalue(), MANIFEST_MAGIC, config.compression)
