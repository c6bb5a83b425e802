"""Adding a version to the version tree.

The shape of the version tree follows from the latest generation number and
``version_tree_arity_log2`` alone: the manifest holds the versions of the current leaf
range inline and, per height, at most one node reference. When the new generation starts
a new leaf range, the inline versions move into a new leaf node, which joins (or starts)
the height-1 node of its range; a node whose range is complete moves up likewise.
"""

from __future__ import annotations

from .._io import OcdbtIO
from ..format import (
    BtreeGenerationReference,
    IndirectDataReference,
    Manifest,
    VersionNodeReference,
    VersionTreeNode,
    describe_reference,
    encode_version_tree_node,
    validate_version_tree_node_reference,
)
from ..format._entries import manifest_version_node_ranges
from ._data_files import VERSION_TREE_NODE, DataFileWriter

__all__ = ["append_version", "leaf_range"]


def leaf_range(generation_number: int, arity_log2: int) -> tuple[int, int]:
    """The generations ``[first, last]`` of the version tree leaf holding ``generation_number``."""
    first = ((generation_number - 1) >> arity_log2 << arity_log2) + 1
    return first, first + (1 << arity_log2) - 1


def append_version(
    io: OcdbtIO, data_files: DataFileWriter, manifest: Manifest, version: BtreeGenerationReference
) -> Manifest:
    """``manifest`` with ``version`` (the next generation) added; new version tree nodes go
    to ``data_files`` (not flushed)."""
    config = manifest.config
    arity_log2 = config.version_tree_arity_log2
    generation = version.generation_number
    if generation != manifest.latest_generation + 1:
        raise ValueError(
            f"generation {generation} does not follow the manifest's latest generation "
            f"{manifest.latest_generation}"
        )
    if leaf_range(generation - 1, arity_log2)[1] >= generation:
        return Manifest(config, (*manifest.versions, version), manifest.version_tree_nodes)

    leaf = VersionTreeNode(0, arity_log2, manifest.versions)
    new_leaf = VersionNodeReference(
        location=_write(io, data_files, leaf, manifest),
        generation_number=manifest.versions[-1].generation_number,
        height=0,
        num_generations=len(manifest.versions),
        commit_time=manifest.versions[0].commit_time,
    )
    # Per height (1, 2, ...): the existing node of that height still in range, and the node
    # of the height below that now joins it.
    plan: list[tuple[VersionNodeReference | None, VersionNodeReference | None]] = []
    existing = list(manifest.version_tree_nodes)
    pushed_up: VersionNodeReference | None = new_leaf
    for low, high, height in manifest_version_node_ranges(generation, arity_log2):
        old = existing.pop() if existing and existing[-1].height == height else None
        keep = old if old is not None and low <= old.generation_number <= high else None
        joining = (
            pushed_up
            if pushed_up is not None and low <= pushed_up.generation_number <= high
            else None
        )
        if keep is not None or joining is not None:
            plan.append((keep, joining))
        pushed_up = old
    nodes: list[VersionNodeReference] = []
    for old, child in reversed(plan):
        if child is None:
            assert old is not None
            nodes.append(old)
        elif old is None:
            node = VersionTreeNode(child.height + 1, arity_log2, (child,))
            nodes.append(
                VersionNodeReference(
                    location=_write(io, data_files, node, manifest),
                    generation_number=child.generation_number,
                    height=child.height + 1,
                    num_generations=child.num_generations,
                    commit_time=child.commit_time,
                )
            )
        else:
            where = describe_reference(old.location)
            existing_node = io.read_version_tree_node(old.location)
            validate_version_tree_node_reference(
                existing_node, config, old.generation_number, old.height, where
            )
            node = VersionTreeNode(old.height, arity_log2, (*existing_node.entries, child))
            nodes.append(
                VersionNodeReference(
                    location=_write(io, data_files, node, manifest),
                    generation_number=child.generation_number,
                    height=old.height,
                    num_generations=old.num_generations + child.num_generations,
                    commit_time=old.commit_time,
                )
            )
    return Manifest(config, (version,), tuple(nodes))


def _write(
    io: OcdbtIO, data_files: DataFileWriter, node: VersionTreeNode, manifest: Manifest
) -> IndirectDataReference:
    reference = data_files.add(VERSION_TREE_NODE, encode_version_tree_node(node, manifest.config))
    io.remember_version_tree_node(reference, node)
    return reference
