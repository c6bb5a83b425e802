"""zarr v3 array metadata (``zarr.json``): parsing with JSON-path errors, validation, encoding.

The encoded form matches tensorstore's bytes (sorted keys, compact separators, defaults
omitted the way tensorstore omits them).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from ts_core.driver import load_metadata_json
from ts_core.errors import SpecError, describe
from ts_core.schema import check_chunk_bytes

from .._members import index_vector
from ._dtype import Zarr3DType, decode_fill_value, encode_fill_value, parse_data_type
from ._pipeline import CodecChain, parse_codec_chain
from .codec_api import ChunkSpec

__all__ = ["METADATA_KEY", "Zarr3Metadata", "build_metadata", "parse_chunk_grid", "parse_metadata"]

#: Name of the metadata document of every zarr v3 node (zarr v3 spec, "Storage").
METADATA_KEY = "zarr.json"
ZARR_FORMAT = 3
_KNOWN = (
    "zarr_format", "node_type", "shape", "data_type", "chunk_grid", "chunk_key_encoding",
    "fill_value", "codecs", "attributes", "dimension_names", "storage_transformers",
)
#: Default separator of each chunk key encoding (zarr v3 spec, "Chunk key encoding").
DEFAULT_SEPARATORS = {"default": "/", "v2": "."}


@attrs.frozen(eq=False)
class Zarr3Metadata:
    """A validated ``zarr.json`` of an array."""

    shape: tuple[int, ...]
    data_type: Zarr3DType
    chunk_shape: tuple[int, ...]
    key_encoding: str
    separator: str
    fill_value_json: Any
    fill_value: np.ndarray[Any, Any]
    codecs: CodecChain
    attributes: Mapping[str, Any] | None = None
    dimension_names: tuple[str | None, ...] | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def rank(self) -> int:
        return len(self.shape)

    def to_json(self) -> dict[str, Any]:
        encoding: dict[str, Any] = {"name": self.key_encoding}
        if self.separator != DEFAULT_SEPARATORS[self.key_encoding]:
            encoding["configuration"] = {"separator": self.separator}
        json_value: dict[str, Any] = {
            "chunk_grid": {"configuration": {"chunk_shape": list(self.chunk_shape)}, "name": "regular"},
            "chunk_key_encoding": encoding,
            "codecs": self.codecs.to_json(),
            "data_type": self.data_type.name,
            "fill_value": self.fill_value_json,
            "node_type": "array",
            "shape": list(self.shape),
            "zarr_format": ZARR_FORMAT,
            **self.extra,
        }
        if self.attributes is not None:
            json_value["attributes"] = dict(self.attributes)
        if self.dimension_names is not None:
            json_value["dimension_names"] = list(self.dimension_names)
        return dict(sorted(json_value.items()))

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":"), allow_nan=False, sort_keys=True).encode()

    def chunk_key(self, grid_indices: Sequence[int]) -> str:
        """Key of the stored chunk at ``grid_indices`` (zarr v3 spec, "Chunk key encoding")."""
        if self.key_encoding == "v2":
            return self.separator.join(map(str, grid_indices)) if grid_indices else "0"
        return self.separator.join(["c", *map(str, grid_indices)])

    def chunk_key_template(self) -> str:
        """``chunk_key`` as a ``str.format`` template taking the grid indices (extra
        trailing indices, such as those of a structured data type's inner dimensions, are
        ignored): one C call per key for the writes and reads of many chunks."""
        separator = self.separator.replace("{", "{{").replace("}", "}}")
        if self.key_encoding == "v2":
            return separator.join(["{}"] * self.rank) if self.rank else "0"
        return separator.join(["c", *["{}"] * self.rank])

    def with_shape(self, shape: tuple[int, ...]) -> Zarr3Metadata:
        return attrs.evolve(self, shape=shape)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Zarr3Metadata) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]


def _join(prefix: str, member: str) -> str:
    return f"{prefix}.{member}" if prefix else member


def parse_chunk_grid(value: Any, grid_path: str, rank: int) -> tuple[int, ...]:
    """The chunk shape of a ``chunk_grid`` member (only the "regular" grid exists), every
    member's type and the rank checked, errors naming the JSON path."""
    grid_name, grid_config = _named(value, grid_path)
    if grid_name != "regular":
        raise SpecError(_join(grid_path, "name"), f'only the "regular" chunk grid is supported, but received: {describe(grid_name)}')
    if "chunk_shape" not in grid_config:
        raise SpecError(_join(grid_path, "configuration"), 'missing required member "chunk_shape"')
    _no_other_members(grid_config, ("chunk_shape",), _join(grid_path, "configuration"))
    chunk_shape = index_vector(grid_config["chunk_shape"], _join(grid_path, "configuration.chunk_shape"), 1)
    if len(chunk_shape) != rank:
        raise SpecError(_join(grid_path, "configuration.chunk_shape"), f"rank {len(chunk_shape)} does not match the rank {rank} of shape")
    return chunk_shape


def _no_other_members(configuration: Mapping[str, Any], known: tuple[str, ...], json_path: str) -> None:
    # An unknown member might change how chunks are laid out or named: refuse it (as tensorstore does).
    for member in configuration:
        if member not in known:
            raise SpecError(_join(json_path, member), "unexpected member")


def _named(value: Any, json_path: str) -> tuple[str, dict[str, Any]]:
    if isinstance(value, str):
        return value, {}
    if not isinstance(value, Mapping) or not isinstance(value.get("name"), str):
        raise SpecError(json_path, f'expected {{"name": ..., "configuration": ...}}, but received: {describe(value)}')
    configuration = value.get("configuration", {})
    if not isinstance(configuration, Mapping):
        raise SpecError(_join(json_path, "configuration"), f"expected object, but received: {describe(configuration)}")
    return value["name"], dict(configuration)


#: Bytes per inner chunk in a shard index: offset and length, uint64 each (zarr v3 sharding codec, "Binary shard format").
_SHARD_INDEX_ENTRY_BYTES = 16


def _element_bytes(data_type: Zarr3DType) -> int:
    return data_type.numpy_dtype.itemsize * math.prod(data_type.inner_shape)


def _check_sharded(
    chunk_shape: Sequence[int], inner_shape: Sequence[int], itemsize: int, json_path: str
) -> None:
    check_chunk_bytes(inner_shape, itemsize, _join(json_path, "codecs[0].configuration.chunk_shape"))
    inner_per_shard = [-(-outer // inner) for outer, inner in zip(chunk_shape, inner_shape, strict=False)]
    check_chunk_bytes(inner_per_shard, _SHARD_INDEX_ENTRY_BYTES, _join(json_path, "chunk_grid.configuration.chunk_shape"),
                      what="shard index grid")


def _check_chunk_sizes_before_parsing(
    chunk_shape: tuple[int, ...], data_type: Zarr3DType, codecs_json: Any, json_path: str
) -> None:
    """The checks of ``_check_chunk_sizes`` that the codec JSON allows before parsing it
    (parsing a sharding codec already allocates its index): an unsharded chunk, or a
    shard whose ``sharding_indexed`` codec comes first."""
    if not isinstance(codecs_json, list):
        return
    names = [entry.get("name") if isinstance(entry, Mapping) else entry for entry in codecs_json]
    if "sharding_indexed" not in names:
        check_chunk_bytes(chunk_shape, _element_bytes(data_type), _join(json_path, "chunk_grid.configuration.chunk_shape"))
        return
    first = codecs_json[0]
    configuration = first.get("configuration") if isinstance(first, Mapping) else None
    inner = configuration.get("chunk_shape") if isinstance(configuration, Mapping) else None
    if (names[0] == "sharding_indexed" and isinstance(inner, list) and len(inner) == len(chunk_shape)
            and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in inner)):
        _check_sharded(chunk_shape, inner, _element_bytes(data_type), json_path)


def _check_chunk_sizes(chunk_shape: tuple[int, ...], data_type: Zarr3DType, codecs: CodecChain, json_path: str) -> None:
    """The unit a read decodes at once (the chunk, or a shard's inner chunk) and a shard's
    index must stay within ``MAX_CHUNK_BYTES``."""
    sharding = codecs.sharding
    if sharding is None:
        check_chunk_bytes(chunk_shape, _element_bytes(data_type), _join(json_path, "chunk_grid.configuration.chunk_shape"))
    else:
        _check_sharded(chunk_shape, sharding.chunk_shape, _element_bytes(data_type), json_path)


def parse_metadata(data: bytes) -> Zarr3Metadata:
    """Parse a stored ``zarr.json`` (errors name the member)."""
    value = load_metadata_json(data)
    if not isinstance(value, Mapping):
        raise SpecError("", f"expected object, but received: {describe(value)}")
    if value.get("node_type") == "group":
        raise SpecError("node_type", "the zarr.json describes a group, not an array")
    for member in ("zarr_format", "node_type", "shape", "data_type", "chunk_grid", "chunk_key_encoding", "fill_value", "codecs"):
        if member not in value:
            raise SpecError("", f'missing required member "{member}"')
    return build_metadata(value, "")


def build_metadata(value: Mapping[str, Any], json_path: str) -> Zarr3Metadata:
    """Validate complete metadata JSON."""
    if value.get("zarr_format", ZARR_FORMAT) != ZARR_FORMAT:
        raise SpecError(_join(json_path, "zarr_format"), f"expected 3, but received: {describe(value.get('zarr_format'))}")
    if value.get("node_type", "array") != "array":
        raise SpecError(_join(json_path, "node_type"), f'expected "array", but received: {describe(value.get("node_type"))}')
    shape = index_vector(value["shape"], _join(json_path, "shape"), 0)
    data_type = parse_data_type(value["data_type"], _join(json_path, "data_type"))
    chunk_shape = parse_chunk_grid(value["chunk_grid"], _join(json_path, "chunk_grid"), len(shape))
    encoding_path = _join(json_path, "chunk_key_encoding")
    encoding, encoding_config = _named(value.get("chunk_key_encoding", {"name": "default"}), encoding_path)
    if encoding not in DEFAULT_SEPARATORS:
        raise SpecError(_join(encoding_path, "name"), f'expected "default" or "v2", but received: {describe(encoding)}')
    _no_other_members(encoding_config, ("separator",), _join(encoding_path, "configuration"))
    separator = encoding_config.get("separator", DEFAULT_SEPARATORS[encoding])
    # Chunk keys (and the sharded driver's inner keys) are "c" and decimal grid indices
    # joined by this separator: with "/" or "." they are safe by construction, while any
    # other separator (say "/../") could lead keys out of the array's path.
    if separator not in ("/", "."):
        raise SpecError(_join(encoding_path, "configuration.separator"), f'expected "/" or ".", but received: {describe(separator)}')
    fill_value_json = value.get("fill_value")
    fill_value = decode_fill_value(fill_value_json, data_type, _join(json_path, "fill_value"))
    kind = data_type.numpy_dtype.kind
    if not ((kind in "iu" and type(fill_value_json) is int) or (kind == "b" and type(fill_value_json) is bool)):
        # normalised as tensorstore writes it (an int or bool in range is already)
        fill_value_json = encode_fill_value(fill_value, data_type)
    transformers = value.get("storage_transformers", [])
    if transformers:
        names = [t.get("name") if isinstance(t, Mapping) else t for t in transformers] if isinstance(transformers, list) else transformers
        raise SpecError(_join(json_path, "storage_transformers"), f"storage transformers are not supported, but received: {describe(names)}")
    spec = ChunkSpec(chunk_shape, data_type.numpy_dtype, data_type.inner_shape, fill_value)
    codecs_json = value.get("codecs", [{"name": "bytes"}])
    _check_chunk_sizes_before_parsing(chunk_shape, data_type, codecs_json, json_path)
    codecs = parse_codec_chain(codecs_json, _join(json_path, "codecs"), spec)
    _check_chunk_sizes(chunk_shape, data_type, codecs, json_path)
    attributes = value.get("attributes")
    if attributes is not None and not isinstance(attributes, Mapping):
        raise SpecError(_join(json_path, "attributes"), f"expected object, but received: {describe(attributes)}")
    names = value.get("dimension_names")
    if names is not None:
        if not isinstance(names, list) or len(names) != len(shape) or not all(n is None or isinstance(n, str) for n in names):
            raise SpecError(_join(json_path, "dimension_names"), f"expected {len(shape)} strings or nulls, but received: {describe(names)}")
        names = tuple(names)
    extra = {}
    for member, item in value.items():
        if member in _KNOWN:
            continue
        if isinstance(item, Mapping) and item.get("must_understand") is False:
            extra[member] = item
            continue
        raise SpecError(_join(json_path, member), "unsupported extension member (it does not set \"must_understand\": false)")
    return Zarr3Metadata(
        shape=shape, data_type=data_type, chunk_shape=chunk_shape, key_encoding=encoding, separator=separator,
        fill_value_json=fill_value_json, fill_value=fill_value, codecs=codecs, attributes=attributes,
        dimension_names=names, extra=extra,
    )
