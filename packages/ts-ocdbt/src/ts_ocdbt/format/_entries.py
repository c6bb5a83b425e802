"""The parts manifests and version tree nodes share: the configuration and the arrays of
version tree entries ("Manifest configuration", "Version tree leaf node entries format",
"Interior version tree node entries" in tensorstore's ``kvstore/ocdbt/index.rst``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from ._codec import (
    ZSTD_MAX_LEVEL,
    ZSTD_MIN_LEVEL,
    DataFileTableBuilder,
    Reader,
    Writer,
    check_reference,
    read_file_ids,
)
from ._model import (
    MANIFEST_KIND_NUMBERED,
    MANIFEST_KIND_SINGLE,
    MAX_VERSION_TREE_ARITY_LOG2,
    MISSING_REFERENCE,
    BtreeGenerationReference,
    BtreeNodeStatistics,
    Config,
    DataFileId,
    IndirectDataReference,
    VersionNodeReference,
    ZstdCompression,
)

__all__ = [
    "max_version_tree_height",
    "read_config",
    "read_version_interior_entries",
    "read_version_leaf_entries",
    "write_config",
    "write_version_interior_entries",
    "write_version_leaf_entries",
]

_UUID_BYTES: Final = 16
_MANIFEST_KINDS: Final = (MANIFEST_KIND_SINGLE, MANIFEST_KIND_NUMBERED)
_UINT32_MAX: Final = 2**32 - 1
_UINT64_MAX: Final = 2**64 - 1


def max_version_tree_height(version_tree_arity_log2: int) -> int:
    """Largest height of a version tree node (``(height + 1) * arity_log2 < 64``)."""
    return 63 // version_tree_arity_log2 - 1


# -- configuration -------------------------------------------------------------------------


def read_config(reader: Reader) -> Config:
    uuid = reader.raw(_UUID_BYTES, "the database uuid")
    kind = reader.byte("manifest_kind")
    if kind >= len(_MANIFEST_KINDS):
        raise reader.corrupt(f"invalid manifest_kind {kind} (expected 0 for single or 1 for numbered)")
    max_inline_value_bytes = reader.varint("max_inline_value_bytes", _UINT32_MAX)
    max_decoded_node_bytes = reader.varint("max_decoded_node_bytes", _UINT32_MAX)
    arity_log2 = read_arity_log2(reader)
    method = reader.varint("compression_method", _UINT32_MAX)
    compression: ZstdCompression | None
    if method == 0:
        compression = None
    elif method == 1:
        level = reader.int32le("the zstd compression level")
        if not ZSTD_MIN_LEVEL <= level <= ZSTD_MAX_LEVEL:
            raise reader.corrupt(
                f"zstd compression level {level} is outside the valid range "
                f"[{ZSTD_MIN_LEVEL}, {ZSTD_MAX_LEVEL}]"
            )
        compression = ZstdCompression(level)
    else:
        raise reader.corrupt(f"invalid compression_method {method} (expected 0 or 1)")
    return Config(
        uuid=uuid,
        manifest_kind=_MANIFEST_KINDS[kind],
        max_inline_value_bytes=max_inline_value_bytes,
        max_decoded_node_bytes=max_decoded_node_bytes,
        version_tree_arity_log2=arity_log2,
        compression=compression,
    )


def read_arity_log2(reader: Reader) -> int:
    value = reader.byte("version_tree_arity_log2")
    if not 1 <= value <= MAX_VERSION_TREE_ARITY_LOG2:
        raise reader.corrupt(
            f"version_tree_arity_log2 = {value} is outside the valid range "
            f"[1, {MAX_VERSION_TREE_ARITY_LOG2}]"
        )
    return value


def write_config(writer: Writer, config: Config, manifest_kind: str | None = None) -> None:
    if len(config.uuid) != _UUID_BYTES:
        raise ValueError(f"config.uuid: expected {_UUID_BYTES} bytes, but received {len(config.uuid)}")
    kind = config.manifest_kind if manifest_kind is None else manifest_kind
    if kind not in _MANIFEST_KINDS:
        raise ValueError(f"config.manifest_kind: expected 'single' or 'numbered', but received {kind!r}")
    if not 1 <= config.version_tree_arity_log2 <= MAX_VERSION_TREE_ARITY_LOG2:
        raise ValueError(
            f"config.version_tree_arity_log2: expected 1 to {MAX_VERSION_TREE_ARITY_LOG2}, "
            f"but received {config.version_tree_arity_log2}"
        )
    writer.raw(config.uuid)
    writer.byte(_MANIFEST_KINDS.index(kind))
    writer.varint(config.max_inline_value_bytes)
    writer.varint(config.max_decoded_node_bytes)
    writer.byte(config.version_tree_arity_log2)
    if config.compression is None:
        writer.varint(0)
    else:
        level = config.compression.level
        if not ZSTD_MIN_LEVEL <= level <= ZSTD_MAX_LEVEL:
            raise ValueError(
                f"config.compression.level: expected {ZSTD_MIN_LEVEL} to {ZSTD_MAX_LEVEL}, "
                f"but received {level}"
            )
        writer.varint(1)
        writer.int32le(level)


# -- version tree entries ------------------------------------------------------------------


def leaf_file_ids(entries: Sequence[BtreeGenerationReference]) -> list[DataFileId]:
    # An empty tree's root is tensorstore's "missing" reference, whose (empty) file id is
    # still listed in the table.
    return [(entry.root or MISSING_REFERENCE).file_id for entry in entries]


def read_version_leaf_entries(
    reader: Reader, files: list[DataFileId], arity_log2: int
) -> tuple[BtreeGenerationReference, ...]:
    """Decode and validate leaf entries (versions) of a node or of a manifest's inline list."""
    max_entries = 1 << arity_log2
    # Each entry takes at least 1 + 1 + 1 + 1 + 1 + 3 + 8 bytes.
    count = reader.count("num_versions", max_entries, 16)
    generation_numbers = reader.varints(count, "generation_number")
    root_heights = reader.bytes_column(count, "root_height")
    file_ids = read_file_ids(reader, files, count)
    offsets = reader.varints(count, "data_file_offset")
    lengths = reader.varints(count, "data_file_length")
    statistics = _read_statistics(reader, count)
    commit_times = [reader.uint64le(f"commit_time[{i}]") for i in range(count)]
    entries = []
    for i in range(count):
        root: IndirectDataReference | None = IndirectDataReference(file_ids[i], offsets[i], lengths[i])
        if offsets[i] == _UINT64_MAX and lengths[i] == _UINT64_MAX:
            root = None
            if root_heights[i] != 0:
                raise reader.corrupt(
                    f"non-zero root_height {root_heights[i]} for the empty generation "
                    f"{generation_numbers[i]}"
                )
            if statistics[i] != BtreeNodeStatistics():
                raise reader.corrupt(
                    f"non-zero statistics for the empty generation {generation_numbers[i]}"
                )
        else:
            assert root is not None
            check_reference(reader, root, f"root reference of generation {generation_numbers[i]}")
        entries.append(
            BtreeGenerationReference(
                generation_number=generation_numbers[i],
                root_height=root_heights[i],
                root=root,
                statistics=statistics[i],
                commit_time=commit_times[i],
            )
        )
    _validate_leaf_entries(reader, entries, arity_log2)
    return tuple(entries)


def _read_statistics(reader: Reader, count: int) -> list[BtreeNodeStatistics]:
    num_keys = reader.varints(count, "num_keys")
    num_tree_bytes = reader.varints(count, "num_tree_bytes")
    num_indirect = reader.varints(count, "num_indirect_value_bytes")
    return [
        BtreeNodeStatistics(num_indirect[i], num_tree_bytes[i], num_keys[i]) for i in range(count)
    ]


def read_statistics(reader: Reader, count: int) -> list[BtreeNodeStatistics]:
    """The three statistics columns (num_keys, num_tree_bytes, num_indirect_value_bytes)."""
    return _read_statistics(reader, count)


def write_statistics(writer: Writer, statistics: Sequence[BtreeNodeStatistics]) -> None:
    writer.varints([s.num_keys for s in statistics])
    writer.varints([s.num_tree_bytes for s in statistics])
    writer.varints([s.num_indirect_value_bytes for s in statistics])


def _validate_leaf_entries(
    reader: Reader, entries: Sequence[BtreeGenerationReference], arity_log2: int
) -> None:
    if not entries:
        raise reader.corrupt(f"num_versions = 0 is outside the valid range [1, {1 << arity_log2}]")
    for i, entry in enumerate(entries):
        if entry.generation_number == 0:
            raise reader.corrupt(f"generation_number[{i}] must be non-zero")
        if i and entry.generation_number <= entries[i - 1].generation_number:
            raise reader.corrupt(
                f"generation_number[{i}] = {entry.generation_number} is not greater than "
                f"generation_number[{i - 1}] = {entries[i - 1].generation_number}"
            )
    last = entries[-1].generation_number
    minimum = last - (last - 1) % (1 << arity_log2)
    if entries[0].generation_number < minimum:
        raise reader.corrupt(
            f"generations [{entries[0].generation_number}, {last}] do not fit in one version "
            f"tree leaf (at most [{minimum}, {last}])"
        )


def write_version_leaf_entries(
    writer: Writer, table: DataFileTableBuilder, entries: Sequence[BtreeGenerationReference]
) -> None:
    writer.varint(len(entries))
    for entry in entries:
        writer.varint(entry.generation_number)
    for entry in entries:
        writer.byte(entry.root_height)
    roots = [entry.root or MISSING_REFERENCE for entry in entries]
    for root in roots:
        writer.varint(table.index[root.file_id])
    for root in roots:
        writer.varint(root.offset)
    for root in roots:
        writer.varint(root.length)
    write_statistics(writer, [entry.statistics for entry in entries])
    for entry in entries:
        writer.uint64le(entry.commit_time)


def read_version_interior_entries(
    reader: Reader,
    files: list[DataFileId],
    max_entries: int,
    child_height: int | None,
) -> tuple[VersionNodeReference, ...]:
    """Decode interior entries: a node's (children all of ``child_height``) or, with
    ``child_height`` None, a manifest's (each with its own height stored)."""
    # Each entry takes at least 1 + 1 + 1 + 1 + 1 + 8 bytes.
    count = reader.count("num_children", max_entries, 13)
    generation_numbers = reader.varints(count, "generation_number")
    file_ids = read_file_ids(reader, files, count)
    offsets = reader.varints(count, "data_file_offset")
    lengths = reader.varints(count, "data_file_length")
    num_generations = reader.varints(count, "num_generations")
    commit_times = [reader.uint64le(f"commit_time[{i}]") for i in range(count)]
    if child_height is None:
        heights = reader.bytes_column(count, "entry_height")
    else:
        heights = [child_height] * count
    entries = []
    for i in range(count):
        location = IndirectDataReference(file_ids[i], offsets[i], lengths[i])
        check_reference(reader, location, f"version tree node reference {i}")
        entries.append(
            VersionNodeReference(
                location=location,
                generation_number=generation_numbers[i],
                height=heights[i],
                num_generations=num_generations[i],
                commit_time=commit_times[i],
            )
        )
    return tuple(entries)


def validate_interior_node_entries(
    reader: Reader, entries: Sequence[VersionNodeReference], arity_log2: int, height: int
) -> None:
    """The constraints on the children of an interior version tree node of ``height``."""
    max_entries = 1 << arity_log2
    if not entries:
        raise reader.corrupt(f"num_children = 0 is outside the valid range [1, {max_entries}]")
    stride = 1 << (arity_log2 * height)
    for i, entry in enumerate(entries):
        generation = entry.generation_number
        if generation == 0:
            raise reader.corrupt(f"generation_number[{i}] must be non-zero")
        if i:
            previous = entries[i - 1].generation_number
            if generation <= previous:
                raise reader.corrupt(
                    f"generation_number[{i}] = {generation} is not greater than "
                    f"generation_number[{i - 1}] = {previous}"
                )
            if (generation - 1) // stride == (previous - 1) // stride:
                raise reader.corrupt(
                    f"generation_number[{i}] = {generation} and generation_number[{i - 1}] = "
                    f"{previous} belong to the same child node"
                )
        if generation % stride:
            raise reader.corrupt(f"generation_number[{i}] = {generation} is not a multiple of {stride}")
        if entry.num_generations > stride:
            raise reader.corrupt(
                f"num_generations[{i}] = {entry.num_generations} exceeds the {stride} "
                f"generations a child of height {height - 1} can hold"
            )
    first, last = entries[0].generation_number, entries[-1].generation_number
    if (last - 1) // stride // max_entries != (first - 1) // stride // max_entries:
        raise reader.corrupt(
            f"generation_number[0] = {first} and generation_number[{len(entries) - 1}] = {last} "
            f"cannot be in the same node"
        )


def manifest_version_node_ranges(generation_number: int, arity_log2: int) -> list[tuple[int, int, int]]:
    """(min generation, max generation, height) of each version tree node a manifest whose
    latest generation is ``generation_number`` may reference, lowest height first."""
    ranges = []
    generation = (generation_number - 1) >> arity_log2 << arity_log2
    height = 1
    while generation:
        shift = (height + 1) * arity_log2
        next_generation = (generation - 1) >> shift << shift
        ranges.append((next_generation + 1, generation, height))
        height += 1
        generation = next_generation
    return ranges


def validate_manifest_version_nodes(
    reader: Reader, entries: Sequence[VersionNodeReference], arity_log2: int, last_generation: int
) -> None:
    max_height = max_version_tree_height(arity_log2)
    for i, entry in enumerate(entries):
        if not 1 <= entry.height <= max_height:
            raise reader.corrupt(f"entry_height[{i}] = {entry.height} is outside [1, {max_height}]")
        if entry.generation_number == 0:
            raise reader.corrupt(f"generation_number[{i}] must be non-zero")
        if i:
            previous = entries[i - 1]
            if entry.generation_number <= previous.generation_number:
                raise reader.corrupt(
                    f"generation_number[{i}] = {entry.generation_number} is not greater than "
                    f"generation_number[{i - 1}] = {previous.generation_number}"
                )
            if entry.height >= previous.height:
                raise reader.corrupt(
                    f"entry_height[{i}] = {entry.height} is not less than "
                    f"entry_height[{i - 1}] = {previous.height}"
                )
    remaining = len(entries)
    for low, high, height in manifest_version_node_ranges(last_generation, arity_log2):
        if remaining == 0:
            break
        entry = entries[remaining - 1]
        if entry.height != height:
            continue
        remaining -= 1
        if not low <= entry.generation_number <= high:
            raise reader.corrupt(
                f"generation_number[{remaining}] = {entry.generation_number} is outside the "
                f"range [{low}, {high}] expected for height {height}"
            )
    if remaining:
        entry = entries[remaining - 1]
        raise reader.corrupt(
            f"unexpected version tree node with generation_number[{remaining - 1}] = "
            f"{entry.generation_number} and entry_height[{remaining - 1}] = {entry.height} "
            f"given the latest generation {last_generation}"
        )


def write_version_interior_entries(
    writer: Writer,
    table: DataFileTableBuilder,
    entries: Sequence[VersionNodeReference],
    include_height: bool,
) -> None:
    writer.varint(len(entries))
    for entry in entries:
        writer.varint(entry.generation_number)
    for entry in entries:
        writer.varint(table.index[entry.location.file_id])
    for entry in entries:
        writer.varint(entry.location.offset)
    for entry in entries:
        writer.varint(entry.location.length)
    for entry in entries:
        writer.varint(entry.num_generations)
    for entry in entries:
        writer.uint64le(entry.commit_time)
    if include_height:
        for entry in entries:
            writer.byte(entry.height)
