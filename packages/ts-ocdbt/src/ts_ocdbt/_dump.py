"""``dump`` and ``undump_*``: an OCDBT database's manifest and nodes as JSON, and back.

The JSON has the shape tensorstore's ``tensorstore.ocdbt.dump`` returns (keys and inline
values as ``bytes``, references as ``"<kind>:<base_path>:<relative_path>:<offset>:<length>"``
strings), so dumps of either library compare equal and undump to the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from ts_core import Future
from ts_core.concurrency import run_inline
from ts_core.kvstore import KvStore

from .format import (
    MANIFEST_KIND_SINGLE,
    MAX_INLINE_VALUE_BYTES,
    MAX_VERSION_TREE_ARITY_LOG2,
    MISSING_REFERENCE,
    BtreeGenerationReference,
    BtreeNode,
    BtreeNodeStatistics,
    Config,
    IndirectDataReference,
    LeafNodeEntry,
    Manifest,
    MissingDataError,
    VersionNodeReference,
    VersionTreeNode,
    ZstdCompression,
    encode_manifest,
    encode_version_tree_node,
    format_location,
    parse_location,
    read_btree_node,
    read_indirect,
    read_manifest,
    read_version_tree_node,
)

__all__ = [
    "dump",
    "dump_btree_node",
    "dump_config",
    "dump_manifest",
    "dump_version_tree_node",
    "parse_config",
    "undump_manifest",
    "undump_version_tree_node",
]

T = TypeVar("T")

_UINT8_MAX: Final = 2**8 - 1
_UINT32_MAX: Final = 2**32 - 1
_UINT64_MAX: Final = 2**64 - 1
#: zstd levels a config may give (riegeli's range).
_ZSTD_LEVELS: Final = (-(1 << 17), 22)
_CONFIG_MEMBERS: Final = (
    "compression",
    "max_decoded_node_bytes",
    "max_inline_value_bytes",
    "uuid",
    "version_tree_arity_log2",
)


# -- dump ----------------------------------------------------------------------------------


def dump(base: KvStore, node: str | None = None, *, context: Any = None) -> Future[Any]:
    """Dump the manifest of the OCDBT database stored in ``base`` or, with ``node`` (a
    ``"location"`` string of a dump), that B+tree node, version tree node or value.

    ``context`` is accepted for tensorstore compatibility (nothing is cached here).
    """
    if not isinstance(base, KvStore):
        raise TypeError(f"base: expected a KvStore, but received {type(base).__name__}")
    kind_and_reference = None if node is None else parse_location(node)
    if base.path and not base.path.endswith("/"):
        base = base + "/"

    def run() -> Any:
        if kind_and_reference is None:
            manifest = read_manifest(base)
            if manifest is None:
                raise MissingDataError(
                    f"{base.path}manifest.ocdbt", "Manifest not found: there is no OCDBT database here"
                )
            return dump_manifest(manifest)
        kind, reference = kind_and_reference
        if kind == "value":
            return read_indirect(base, reference)
        if kind == "btreenode":
            return dump_btree_node(read_btree_node(base, reference))
        return dump_version_tree_node(read_version_tree_node(base, reference))

    return run_inline(run)


def dump_config(config: Config) -> dict[str, Any]:
    """The JSON of a configuration, as in a dump (without ``manifest_kind``, as tensorstore)."""
    compression: dict[str, Any] | None = None
    if config.compression is not None:
        compression = {"id": "zstd"}
        if config.compression.level:
            compression["level"] = config.compression.level
    return {
        "compression": compression,
        "max_decoded_node_bytes": config.max_decoded_node_bytes,
        "max_inline_value_bytes": config.max_inline_value_bytes,
        "uuid": config.uuid.hex(),
        "version_tree_arity_log2": config.version_tree_arity_log2,
    }


def _dump_statistics(statistics: BtreeNodeStatistics) -> dict[str, int]:
    return {
        "num_indirect_value_bytes": statistics.num_indirect_value_bytes,
        "num_keys": statistics.num_keys,
        "num_tree_bytes": statistics.num_tree_bytes,
    }


def _dump_version(version: BtreeGenerationReference) -> dict[str, Any]:
    root: dict[str, Any] = {"statistics": _dump_statistics(version.statistics)}
    if version.root is not None:
        root["location"] = format_location("btreenode", version.root)
    return {
        "commit_time": version.commit_time,
        "generation_number": version.generation_number,
        "root": root,
        "root_height": version.root_height,
    }


def _dump_version_node(reference: VersionNodeReference) -> dict[str, Any]:
    return {
        "commit_time": reference.commit_time,
        "generation_number": reference.generation_number,
        "height": reference.height,
        "location": format_location("versionnode", reference.location),
        "num_generations": reference.num_generations,
    }


def dump_manifest(manifest: Manifest) -> dict[str, Any]:
    """The JSON of a manifest, as ``dump`` returns it."""
    return {
        "config": dump_config(manifest.config),
        "version_tree_nodes": [_dump_version_node(node) for node in manifest.version_tree_nodes],
        "versions": [_dump_version(version) for version in manifest.versions],
    }


def dump_version_tree_node(node: VersionTreeNode) -> dict[str, Any]:
    """The JSON of a version tree node, as ``dump`` returns it."""
    entries = [
        _dump_version(entry) if isinstance(entry, BtreeGenerationReference) else _dump_version_node(entry)
        for entry in node.entries
    ]
    return {
        "entries": entries,
        "height": node.height,
        "version_tree_arity_log2": node.version_tree_arity_log2,
    }


def dump_btree_node(node: BtreeNode) -> dict[str, Any]:
    """The JSON of a B+tree node, as ``dump`` returns it (keys as stored in the node)."""
    entries: list[dict[str, Any]] = []
    for entry in node.entries:
        key = node.key_prefix + entry.key
        if isinstance(entry, LeafNodeEntry):
            if isinstance(entry.value, IndirectDataReference):
                entries.append({"indirect_value": format_location("value", entry.value), "key": key})
            else:
                entries.append({"inline_value": entry.value, "key": key})
        else:
            entries.append(
                {
                    "key": key,
                    "location": format_location("btreenode", entry.node),
                    "statistics": _dump_statistics(entry.statistics),
                    "subtree_common_prefix": key[: len(node.key_prefix) + entry.subtree_common_prefix_length],
                }
            )
    return {"entries": entries, "height": node.height}


# -- undump --------------------------------------------------------------------------------


def _quote(value: Any) -> str:
    import json

    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _member_error(name: str, exc: ValueError) -> ValueError:
    return ValueError(f'Error parsing object member "{name}": {exc}')


def _object(value: Any, members: tuple[str, ...], optional: tuple[str, ...] = ()) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"Expected object, but received: {_quote(value)}")
    extra = [name for name in value if name not in members and name not in optional]
    if extra:
        raise ValueError(f"Object includes extra members: {', '.join(_quote(n) for n in extra)}")
    for name in members:
        if name not in value:
            raise ValueError(f'Error parsing object member "{name}": member is missing')
    return value


def _member(value: Mapping[str, Any], name: str, parse: Callable[[Any], T]) -> T:
    try:
        return parse(value[name])
    except ValueError as exc:
        raise _member_error(name, exc) from None


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"Expected integer in the range [{low}, {high}], but received: {_quote(value)}")
        return value

    return parse


def _array(parse: Callable[[Any], T]) -> Callable[[Any], list[T]]:
    def parse_array(value: Any) -> list[T]:
        if not isinstance(value, list | tuple):
            raise ValueError(f"Expected array, but received: {_quote(value)}")
        items = []
        for i, item in enumerate(value):
            try:
                items.append(parse(item))
            except ValueError as exc:
                raise ValueError(f"Error parsing value at position {i}: {exc}") from None
        return items

    return parse_array


def _location(kind: str) -> Callable[[Any], IndirectDataReference]:
    def parse(value: Any) -> IndirectDataReference:
        if not isinstance(value, str):
            raise ValueError(f"Expected string, but received: {_quote(value)}")
        found, reference = parse_location(value)
        if found != kind:
            raise ValueError(f"Indirect data reference kind mismatch: expected {kind}, got {found}")
        return reference

    return parse


_uint64 = _integer(0, _UINT64_MAX)


def _statistics(value: Any) -> BtreeNodeStatistics:
    members = _object(value, ("num_indirect_value_bytes", "num_tree_bytes", "num_keys"))
    return BtreeNodeStatistics(
        num_indirect_value_bytes=_member(members, "num_indirect_value_bytes", _uint64),
        num_tree_bytes=_member(members, "num_tree_bytes", _uint64),
        num_keys=_member(members, "num_keys", _uint64),
    )


def _root(value: Any) -> tuple[IndirectDataReference | None, BtreeNodeStatistics]:
    members = _object(value, ("statistics",), optional=("location",))
    location = _member(members, "location", _location("btreenode")) if "location" in members else None
    return location, _member(members, "statistics", _statistics)


def _version(value: Any) -> BtreeGenerationReference:
    members = _object(value, ("root", "generation_number", "root_height", "commit_time"))
    root, statistics = _member(members, "root", _root)
    return BtreeGenerationReference(
        generation_number=_member(members, "generation_number", _uint64),
        root_height=_member(members, "root_height", _integer(0, _UINT8_MAX)),
        root=None if root == MISSING_REFERENCE else root,
        statistics=statistics,
        commit_time=_member(members, "commit_time", _uint64),
    )


def _version_node(value: Any) -> VersionNodeReference:
    members = _object(
        value, ("location", "generation_number", "height", "num_generations", "commit_time")
    )
    return VersionNodeReference(
        location=_member(members, "location", _location("versionnode")),
        generation_number=_member(members, "generation_number", _uint64),
        height=_member(members, "height", _integer(0, _UINT8_MAX)),
        num_generations=_member(members, "num_generations", _uint64),
        commit_time=_member(members, "commit_time", _uint64),
    )


def _compression(value: Any) -> ZstdCompression | None:
    if value is None:
        return None
    members = _object(value, ("id",), optional=("level",))
    if members["id"] != "zstd":
        raise _member_error("id", ValueError(f'Expected "zstd", but received: {_quote(members["id"])}'))
    level = _member(members, "level", _integer(*_ZSTD_LEVELS)) if "level" in members else 0
    return ZstdCompression(level)


def _uuid(value: Any) -> bytes:
    if isinstance(value, str) and len(value) == 32:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    raise ValueError(f"Expected 32 hex digits, but received: {_quote(value)}")


def parse_config(value: Any) -> Config:
    """The configuration a dump's ``"config"`` gives; every member must be present (and
    ``manifest_kind`` absent, as in tensorstore: undumped manifests are of kind single)."""
    if not isinstance(value, Mapping):
        raise ValueError(f"Expected object, but received: {_quote(value)}")
    allowed = (*_CONFIG_MEMBERS, "manifest_kind")
    extra = [name for name in value if name not in allowed]
    if extra:
        raise ValueError(f"Object includes extra members: {', '.join(_quote(n) for n in extra)}")
    parsers: dict[str, Callable[[Any], Any]] = {
        "compression": _compression,
        "max_decoded_node_bytes": _integer(0, _UINT32_MAX),
        "max_inline_value_bytes": _integer(0, MAX_INLINE_VALUE_BYTES),
        "uuid": _uuid,
        "version_tree_arity_log2": _integer(1, MAX_VERSION_TREE_ARITY_LOG2),
    }
    parsed = {name: _member(value, name, parse) for name, parse in parsers.items() if name in value}
    missing = [name for name in _CONFIG_MEMBERS if name not in value]
    if missing or "manifest_kind" in value:
        detail = (
            f"missing {', '.join(_quote(n) for n in missing)}"
            if missing
            else '"manifest_kind" is not part of a dumped config'
        )
        raise ValueError(f"Config is not fully specified ({detail})")
    return Config(
        uuid=parsed["uuid"],
        manifest_kind=MANIFEST_KIND_SINGLE,
        max_inline_value_bytes=parsed["max_inline_value_bytes"],
        max_decoded_node_bytes=parsed["max_decoded_node_bytes"],
        version_tree_arity_log2=parsed["version_tree_arity_log2"],
        compression=parsed["compression"],
    )


def undump_manifest(dumped_manifest: Any) -> bytes:
    """The on-disk encoding (kind single) of a manifest in the JSON form ``dump`` returns."""
    members = _object(dumped_manifest, ("config", "versions", "version_tree_nodes"))
    config = _member(members, "config", parse_config)
    versions = _member(members, "versions", _array(_version))
    nodes = _member(members, "version_tree_nodes", _array(_version_node))
    if not versions:
        raise _member_error("versions", ValueError("a manifest needs at least one version"))
    return encode_manifest(Manifest(config, tuple(versions), tuple(nodes)))


def _entries(value: Any, height: int) -> tuple[BtreeGenerationReference, ...] | tuple[VersionNodeReference, ...]:
    if height == 0:
        return tuple(_array(_version)(value))
    return tuple(_array(_version_node)(value))


def undump_version_tree_node(dumped_config: Any, dumped_node: Any) -> bytes:
    """The on-disk encoding of a version tree node in the JSON form ``dump`` returns, with
    the compression of ``dumped_config`` (a dump's ``"config"``)."""
    config = parse_config(dumped_config)
    members = _object(dumped_node, ("height", "version_tree_arity_log2", "entries"))
    height = _member(members, "height", _integer(0, _UINT8_MAX))
    arity = _member(
        members, "version_tree_arity_log2", _integer(1, MAX_VERSION_TREE_ARITY_LOG2)
    )
    entries = _member(members, "entries", lambda value: _entries(value, height))
    if not entries:
        raise _member_error("entries", ValueError("a version tree node needs at least one entry"))
    return encode_version_tree_node(VersionTreeNode(height, arity, entries), config)
