"""The ``sharding_indexed`` codec: a shard holds a grid of inner chunks and an index.

The index is a ``grid_shape + [2]`` array of uint64 ``(offset, nbytes)`` pairs, encoded with
``index_codecs`` and stored at the start or the end of the shard; an absent inner chunk has
both entries all ones (zarr v3 sharding spec, "Binary shard format").
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from ts_core.errors import SpecError, describe

from .codec_api import ArrayToBytesCodec, ChunkSpec

__all__ = ["MISSING", "ShardIndexFormat", "ShardingCodec"]

#: Offset and size of an absent inner chunk (sharding spec, "Binary shard format").
MISSING = 2**64 - 1
#: tensorstore's index codecs when none are given.
DEFAULT_INDEX_CODECS: list[Any] = [{"configuration": {"endian": "little"}, "name": "bytes"}, {"name": "crc32c"}]
Position = tuple[int, ...]


class ShardIndexFormat:
    """How the index of a shard with ``grid_shape`` inner chunks is encoded and placed."""

    def __init__(
        self, grid_shape: tuple[int, ...], index_codecs: Any, index_location: str, json_path: str,
        max_chunk_size: int | None = None,
    ) -> None:
        from ._pipeline import parse_codec_chain

        self.grid_shape = grid_shape
        self.index_location = index_location
        #: At most how many bytes an inner chunk encodes to (None: not known here).
        self.max_chunk_size = max_chunk_size
        spec = ChunkSpec((*grid_shape, 2), np.dtype("uint64"))
        self.index_chain = parse_codec_chain(index_codecs, f"{json_path}.index_codecs", spec)
        chain = self.index_chain
        variable = [c.name for c, _ in chain.array_codecs if c.name != "transpose"]
        variable += [] if chain.array_to_bytes.name == "bytes" else [chain.array_to_bytes.name]
        variable += [c.name for c in chain.bytes_codecs if not c.fixed_size]
        if variable:
            raise SpecError(
                f"{json_path}.index_codecs",
                f"index codecs must have a fixed encoded size, which {', '.join(map(repr, variable))} does not",
            )
        self.index_size = len(self.index_chain.encode(np.full(spec.shape, MISSING, dtype=np.uint64)))
        self.index_json = self.index_chain.to_json()

    @property
    def chunk_count(self) -> int:
        return int(np.prod(self.grid_shape, dtype=np.int64))

    def index_byte_range(self) -> tuple[int, int | None]:
        """The (start, stop) to read the index: a suffix for ``end``, a prefix for ``start``."""
        return (-self.index_size, None) if self.index_location == "end" else (0, self.index_size)

    def decode_index(self, data: bytes, shard_size: int | None = None) -> np.ndarray[Any, Any]:
        """The ``grid_shape + (2,)`` uint64 index; ValueError naming what is wrong if corrupt."""
        if len(data) != self.index_size:
            raise ValueError(f"corrupt shard index: expected {self.index_size} bytes, got {len(data)}")
        try:
            index = np.asarray(self.index_chain.decode(data), dtype=np.uint64)
        except ValueError as exc:
            raise ValueError(f"corrupt shard index: {exc}") from None
        present = index[..., 0] != MISSING
        if np.any(index[..., 1][~present] != MISSING):
            raise ValueError("corrupt shard index: an absent chunk has a size")
        if shard_size is not None and present.any():
            ends = index[..., 0][present].astype(object) + index[..., 1][present].astype(object)
            if max(ends) > shard_size:
                raise ValueError(f"corrupt shard index: a chunk extends past the {shard_size}-byte shard")
        return index

    def split(self, shard: bytes) -> dict[Position, bytes]:
        """The encoded inner chunks present in a whole shard."""
        if self.index_location == "end":
            index = self.decode_index(shard[len(shard) - self.index_size :] if len(shard) >= self.index_size else shard, len(shard))
        else:
            index = self.decode_index(shard[: self.index_size], len(shard))
        chunks = {}
        for position in itertools.product(*(range(n) for n in self.grid_shape)):
            offset, nbytes = (int(v) for v in index[position])
            if offset != MISSING:
                chunks[position] = shard[offset : offset + nbytes]
        return chunks

    def assemble(self, chunks: Mapping[Position, bytes]) -> bytes | None:
        """A whole shard from encoded inner chunks (None when there are none: no shard)."""
        if not chunks:
            return None
        index = np.full((*self.grid_shape, 2), MISSING, dtype=np.uint64)
        offset = self.index_size if self.index_location == "start" else 0
        parts = []
        for position in sorted(chunks):
            data = chunks[position]
            index[position] = (offset, len(data))
            parts.append(data)
            offset += len(data)
        encoded_index = self.index_chain.encode(index)
        if self.index_location == "start":
            return encoded_index + b"".join(parts)
        return b"".join(parts) + encoded_index


def _positive_vector(value: Any, json_path: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        raise SpecError(json_path, f"expected an array of positive integers, but received: {describe(value)}")
    return tuple(value)


class ShardingCodec(ArrayToBytesCodec):
    """Splits a chunk (the shard) into inner chunks, each encoded with ``codecs``."""

    name = "sharding_indexed"

    def __init__(self, chunk_shape: tuple[int, ...], codecs: Any, index_codecs: Any, index_location: str) -> None:
        self.chunk_shape = chunk_shape
        self._codecs_json = codecs
        self._index_codecs_json = index_codecs
        self.index_location = index_location
        self.inner_chain: Any = None
        self.index_format: ShardIndexFormat | None = None
        self._inner_spec: ChunkSpec | None = None

    @classmethod
    def from_json(cls, configuration: dict[str, Any] | None, json_path: str) -> ShardingCodec:
        config = dict(configuration or {})
        for member in config:
            if member not in ("chunk_shape", "codecs", "index_codecs", "index_location"):
                raise SpecError(f"{json_path}.configuration.{member}", "unexpected member")
        if "chunk_shape" not in config:
            raise SpecError(f"{json_path}.configuration", 'missing required member "chunk_shape"')
        chunk_shape = _positive_vector(config["chunk_shape"], f"{json_path}.configuration.chunk_shape")
        location = config.get("index_location", "end")
        if location not in ("start", "end"):
            raise SpecError(f"{json_path}.configuration.index_location", f'expected "start" or "end", but received: {describe(location)}')
        codecs = config.get("codecs", [{"name": "bytes"}])
        return cls(chunk_shape, codecs, config.get("index_codecs", DEFAULT_INDEX_CODECS), location)

    def resolve(self, decoded: ChunkSpec, json_path: str) -> None:
        from ._pipeline import parse_codec_chain

        path = f"{json_path}.configuration"
        if len(self.chunk_shape) != len(decoded.shape):
            raise SpecError(f"{path}.chunk_shape", f"rank {len(self.chunk_shape)} does not match the chunk rank {len(decoded.shape)}")
        if any(outer % inner for outer, inner in zip(decoded.shape, self.chunk_shape, strict=True)):
            raise SpecError(
                f"{path}.chunk_shape",
                f"the shard shape {list(decoded.shape)} is not a multiple of the inner chunk shape {list(self.chunk_shape)}",
            )
        grid = tuple(outer // inner for outer, inner in zip(decoded.shape, self.chunk_shape, strict=True))
        self._inner_spec = ChunkSpec(self.chunk_shape, decoded.dtype, decoded.inner_shape, decoded.fill_value)
        self.inner_chain = parse_codec_chain(self._codecs_json, f"{path}.codecs", self._inner_spec)
        self.index_format = ShardIndexFormat(
            grid, self._index_codecs_json, self.index_location, path, self.inner_chain.max_encoded_size
        )
        return None

    def max_encoded_size(self, spec: ChunkSpec) -> int:
        assert self.index_format is not None
        inner: int = self.inner_chain.max_encoded_size
        return self.index_format.index_size + self.index_format.chunk_count * inner

    @property
    def grid_shape(self) -> tuple[int, ...]:
        assert self.index_format is not None
        return self.index_format.grid_shape

    def fill_inner(self) -> np.ndarray[Any, Any]:
        spec = self._inner_spec
        assert spec is not None
        array = np.zeros(spec.full_shape, dtype=spec.dtype)
        if spec.fill_value is not None:
            array[...] = spec.fill_value
        return array

    def _cells(self, position: Position) -> tuple[slice, ...]:
        return tuple(slice(p * n, (p + 1) * n) for p, n in zip(position, self.chunk_shape, strict=True))

    def positions(self) -> Iterator[Position]:
        return itertools.product(*(range(n) for n in self.grid_shape))

    def encode(self, array: np.ndarray[Any, Any], spec: ChunkSpec) -> bytes:
        assert self.index_format is not None
        fill = self.fill_inner()
        chunks = {}
        for position in self.positions():
            inner = array[self._cells(position)]
            if np.array_equal(np.ascontiguousarray(inner).view(np.uint8), np.ascontiguousarray(fill).view(np.uint8)):
                continue  # inner chunks equal to the fill value are not stored
            chunks[position] = self.inner_chain.encode(inner)
        return self.index_format.assemble(chunks) or self._empty_shard()

    def _empty_shard(self) -> bytes:
        assert self.index_format is not None
        return self.index_format.index_chain.encode(np.full((*self.grid_shape, 2), MISSING, dtype=np.uint64))

    def decode(self, data: bytes, spec: ChunkSpec) -> np.ndarray[Any, Any]:
        assert self.index_format is not None
        array = np.zeros(spec.full_shape, dtype=spec.dtype)
        if spec.fill_value is not None:
            array[...] = spec.fill_value
        for position, chunk in self.index_format.split(data).items():
            array[self._cells(position)] = self.inner_chain.decode(chunk)
        return array

    def to_json(self) -> dict[str, Any]:
        assert self.index_format is not None
        configuration: dict[str, Any] = {
            "chunk_shape": list(self.chunk_shape),
            "codecs": self.inner_chain.to_json(),
            "index_codecs": self.index_format.index_json,
        }
        if self.index_location == "start":
            configuration["index_location"] = "start"
        return {"configuration": configuration, "name": self.name}
