"""Reading manifests, nodes and values from the base kvstore that holds a database.

Synchronous (call them from a worker thread): each is one or two reads of the base
kvstore, whose path is the database root.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ts_core.kvstore import ByteRange, KeyRange, ReadOptions

from ._btree import decode_btree_node, decoded_size_limit
from ._errors import CorruptDataError, MissingDataError, TruncatedDataError
from ._manifest import (
    MANIFEST_KEY,
    decode_manifest,
    numbered_manifest_key,
    parse_numbered_manifest_key,
)
from ._model import (
    MANIFEST_KIND_NUMBERED,
    MANIFEST_KIND_SINGLE,
    BtreeNode,
    Config,
    IndirectDataReference,
    Manifest,
    VersionTreeNode,
)
from ._version_tree import decode_version_tree_node

if TYPE_CHECKING:
    from ts_core.kvstore import KvStore

__all__ = [
    "describe_reference",
    "read_btree_node",
    "read_indirect",
    "read_manifest",
    "read_numbered_manifest",
    "read_version_tree_node",
]

#: Numbered manifest keys sort between these (":" is the character after "9").
_NUMBERED_MANIFEST_RANGE = (b"manifest.0", b"manifest.:")


def _key_text(key: bytes) -> str:
    return key.decode("utf-8", "backslashreplace")


def describe_reference(reference: IndirectDataReference) -> str:
    """How errors name a place in a data file: ``d/<id> bytes [0, 35)``."""
    return f"{_key_text(reference.file_id.full_path)} bytes [{reference.offset}, {reference.end})"


def read_indirect(base: KvStore, reference: IndirectDataReference) -> bytes:
    """The bytes ``reference`` names (a byte-range read of its data file in ``base``);
    MissingDataError if the file is missing, TruncatedDataError if it is too short."""
    where = describe_reference(reference)
    key = reference.file_id.full_path
    try:
        driver = base.driver
        if driver.local_io and base.transaction is None:
            # A local base reads on this thread, as ``read_blocking`` would: no hop to its
            # executor and back for each node or value.
            options = ReadOptions(byte_range=ByteRange(reference.offset, reference.end))
            result = driver.read(base.path.encode("utf-8") + key, options)
        else:
            result = base.read(key, byte_range=slice(reference.offset, reference.end)).result()
    except ValueError as exc:  # an invalid byte range: the file is shorter than referenced
        raise TruncatedDataError(where, f"cannot read the referenced bytes: {exc}") from exc
    if result.state != "value":
        raise MissingDataError(where, "the referenced data file does not exist")
    value = bytes(result.value)
    if len(value) != reference.length:
        raise TruncatedDataError(
            where, f"the data file holds only {len(value)} of the {reference.length} referenced bytes"
        )
    return value


def read_btree_node(
    base: KvStore, reference: IndirectDataReference, config: Config | None = None
) -> BtreeNode:
    """Read and decode the B+tree node at ``reference`` (bounded by ``config`` when given)."""
    data = read_indirect(base, reference)
    return decode_btree_node(
        data,
        reference.file_id.base_path,
        describe_reference(reference),
        max_decoded_bytes=decoded_size_limit(config),
    )


def read_version_tree_node(base: KvStore, reference: IndirectDataReference) -> VersionTreeNode:
    """Read and decode the version tree node at ``reference``."""
    data = read_indirect(base, reference)
    return decode_version_tree_node(data, reference.file_id.base_path, describe_reference(reference))


def read_numbered_manifest(base: KvStore, generation_number: int) -> Manifest | None:
    """The numbered manifest ``manifest.<generation_number>`` (its config says numbered),
    or None if absent; CorruptDataError if it does not end at that generation."""
    key = numbered_manifest_key(generation_number)
    where = _key_text(key)
    result = base.read(key).result()
    if result.state != "value":
        return None
    manifest = decode_manifest(bytes(result.value), where)
    if manifest.config.manifest_kind != MANIFEST_KIND_SINGLE:
        raise CorruptDataError(
            where, f"expected a manifest of kind single, but found {manifest.config.manifest_kind}"
        )
    if manifest.latest_generation != generation_number:
        raise CorruptDataError(
            where,
            f"expected latest generation number {generation_number}, but found "
            f"{manifest.latest_generation}",
        )
    config = manifest.config
    numbered = Config(
        uuid=config.uuid,
        manifest_kind=MANIFEST_KIND_NUMBERED,
        max_inline_value_bytes=config.max_inline_value_bytes,
        max_decoded_node_bytes=config.max_decoded_node_bytes,
        version_tree_arity_log2=config.version_tree_arity_log2,
        compression=config.compression,
    )
    return Manifest(numbered, manifest.versions, manifest.version_tree_nodes)


def list_numbered_manifests(base: KvStore) -> list[int]:
    """Generations of the numbered manifests present, ascending."""
    keys = base.list(KeyRange(*_NUMBERED_MANIFEST_RANGE)).result()
    generations = (parse_numbered_manifest_key(bytes(key)) for key in keys)
    return sorted(g for g in generations if g is not None)


def read_manifest(base: KvStore) -> Manifest | None:
    """The database's current manifest with its versions, or None if there is none.

    For a numbered database, the config of ``manifest.ocdbt`` with the versions of the
    newest ``manifest.<n>`` (listing them, as tensorstore does); None while no numbered
    manifest exists yet.
    """
    result = base.read(MANIFEST_KEY).result()
    if result.state != "value":
        return None
    manifest = decode_manifest(bytes(result.value), _key_text(MANIFEST_KEY))
    if manifest.config.manifest_kind == MANIFEST_KIND_SINGLE:
        return manifest
    # A numbered manifest may be deleted between listing and reading it (a writer keeps
    # only the newest ones): list again.
    for _attempt in range(8):
        generations = list_numbered_manifests(base)
        if not generations:
            return None
        numbered = read_numbered_manifest(base, generations[-1])
        if numbered is not None:
            return numbered
    raise MissingDataError(
        _key_text(MANIFEST_KEY), "the newest numbered manifest kept disappearing while being read"
    )
