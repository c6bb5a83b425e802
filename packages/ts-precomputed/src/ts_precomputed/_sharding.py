"""The neuroglancer_uint64_sharded format: sharding spec, hashing, compressed Morton chunk
ids, shard/minishard arithmetic, and the shard and minishard index encodings.

A shard file is ``[shard index][minishard 0 data][minishard 0 index][minishard 1 data]...``.
The shard index holds ``2**minishard_bits`` entries of two little-endian uint64s, the byte
range ``[start, end)`` of each minishard's index, counted from the end of the shard index.
A minishard index is three little-endian uint64 arrays of one length: chunk ids
(delta-encoded), chunk data offsets (each relative to the end of the previous chunk, the
first to the end of the shard index) and chunk data sizes. Pure functions, no I/O.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from ts_core.errors import SpecError, describe

__all__ = [
    "SHARDING_TYPE",
    "MinishardIndex",
    "ShardChunkHierarchy",
    "ShardingSpec",
    "choose_sharding_bits",
    "chunks_in_shard",
    "compressed_morton_codes",
    "compressed_z_index_bits",
    "decode_compressed_morton_codes",
    "decode_data",
    "decode_minishard_index",
    "decode_shard_index",
    "encode_data",
    "encode_minishard_index",
    "encode_shard",
    "shard_chunk_hierarchy",
    "split_shard",
]

#: ``@type`` of a sharding spec.
SHARDING_TYPE = "neuroglancer_uint64_sharded_v1"
#: Bytes per shard index entry (start and end of one minishard index).
SHARD_INDEX_ENTRY_BYTES = 16
#: Bytes per minishard index entry (chunk id, offset, size).
MINISHARD_INDEX_ENTRY_BYTES = 24
#: Largest ``minishard_bits`` (as tensorstore's spec parser).
MAX_MINISHARD_BITS = 32
#: Largest minishard index read or inflated (4 Mi entries): a corrupt shard index or a
#: deflate bomb must not make a reader allocate more.
MAX_MINISHARD_INDEX_BYTES = MINISHARD_INDEX_ENTRY_BYTES << 22
#: Hash functions of the spec's ``hash`` member.
HASH_FUNCTIONS = ("identity", "murmurhash3_x86_128")
#: Encodings of ``data_encoding`` and ``minishard_index_encoding``.
DATA_ENCODINGS = ("raw", "gzip")
#: Compression level of gzip-encoded data and minishard indices written by ts (libdeflate's
#: default; tensorstore writes level 9 with zlib: the bytes differ, both read either).
GZIP_LEVEL = 6
_UINT64_MASK = (1 << 64) - 1
_MEMBERS = ("@type", "data_encoding", "hash", "minishard_bits", "minishard_index_encoding", "preshift_bits", "shard_bits")


def _integer(value: Any, json_path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise SpecError(json_path, f"expected an integer in [{low}, {high}], but received: {describe(value)}")
    if not low <= int(value) <= high:
        raise SpecError(json_path, f"expected an integer in [{low}, {high}], but received: {describe(value)}")
    return int(value)


def _choice(value: Any, json_path: str, choices: Sequence[str]) -> str:
    if value not in choices:
        expected = ", ".join(f'"{c}"' for c in choices)
        raise SpecError(json_path, f"expected one of {expected}, but received: {describe(value)}")
    return str(value)


@attrs.frozen
class ShardingSpec:
    """A ``neuroglancer_uint64_sharded_v1`` sharding spec."""

    hash: str
    preshift_bits: int
    minishard_bits: int
    shard_bits: int
    data_encoding: str = "raw"
    minishard_index_encoding: str = "raw"

    @classmethod
    def from_json(cls, value: Any, json_path: str = "metadata") -> ShardingSpec:
        """Parse and check a spec; errors name the member below ``json_path``."""
        if not isinstance(value, Mapping):
            raise SpecError(json_path, f"expected an object, but received: {describe(value)}")
        extra = sorted(set(value) - set(_MEMBERS))
        if extra:
            raise SpecError(json_path, f"unexpected member {describe(extra[0])}")
        for required in ("@type", "preshift_bits", "hash", "minishard_bits", "shard_bits"):
            if required not in value:
                raise SpecError(f"{json_path}.{required}", "required member is missing")
        if value["@type"] != SHARDING_TYPE:
            raise SpecError(f"{json_path}.@type", f'expected "{SHARDING_TYPE}", but received: {describe(value["@type"])}')
        minishard_bits = _integer(value["minishard_bits"], f"{json_path}.minishard_bits", 0, MAX_MINISHARD_BITS)
        return cls(
            hash=_choice(value["hash"], f"{json_path}.hash", HASH_FUNCTIONS),
            preshift_bits=_integer(value["preshift_bits"], f"{json_path}.preshift_bits", 0, 64),
            minishard_bits=minishard_bits,
            shard_bits=_integer(value["shard_bits"], f"{json_path}.shard_bits", 0, 64 - minishard_bits),
            data_encoding=_choice(value.get("data_encoding", "raw"), f"{json_path}.data_encoding", DATA_ENCODINGS),
            minishard_index_encoding=_choice(
                value.get("minishard_index_encoding", "raw"), f"{json_path}.minishard_index_encoding", DATA_ENCODINGS
            ),
        )

    def to_json(self) -> dict[str, Any]:
        """The spec's JSON, every member spelled out, sorted as tensorstore writes it."""
        return {
            "@type": SHARDING_TYPE,
            "data_encoding": self.data_encoding,
            "hash": self.hash,
            "minishard_bits": self.minishard_bits,
            "minishard_index_encoding": self.minishard_index_encoding,
            "preshift_bits": self.preshift_bits,
            "shard_bits": self.shard_bits,
        }

    # -- shard arithmetic ---------------------------------------------------------------
    @property
    def num_minishards(self) -> int:
        return 1 << self.minishard_bits

    @property
    def shard_index_size(self) -> int:
        """Bytes of the shard index at the start of every shard."""
        return SHARD_INDEX_ENTRY_BYTES << self.minishard_bits

    def hash_id(self, chunk_id: int) -> int:
        """The hashed (pre-shifted) chunk id."""
        shifted = chunk_id >> self.preshift_bits if self.preshift_bits < 64 else 0
        if self.hash == "identity":
            return shifted
        import mmh3

        # MurmurHash3_x86_128 of the 8 little-endian bytes, seed 0; the low 64 bits.
        return int(mmh3.hash128(struct.pack("<Q", shifted), 0, False, signed=False)) & _UINT64_MASK

    def locate(self, chunk_id: int) -> tuple[int, int]:
        """``(shard, minishard)`` holding ``chunk_id``."""
        hashed = self.hash_id(chunk_id)
        minishard = hashed & ((1 << self.minishard_bits) - 1)
        shard = (hashed >> self.minishard_bits) & ((1 << self.shard_bits) - 1)
        return shard, minishard

    def locate_many(self, chunk_ids: Iterable[int]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Shards and minishards of many chunk ids (uint64 arrays)."""
        ids = np.asarray(list(chunk_ids) if not isinstance(chunk_ids, np.ndarray) else chunk_ids, dtype=np.uint64)
        if self.hash == "identity":
            hashed = ids >> np.uint64(self.preshift_bits) if self.preshift_bits < 64 else np.zeros_like(ids)
        else:
            hashed = np.fromiter((self.hash_id(int(i)) for i in ids), dtype=np.uint64, count=len(ids))
        minishard = hashed & np.uint64((1 << self.minishard_bits) - 1)
        shifted = hashed >> np.uint64(self.minishard_bits) if self.minishard_bits < 64 else np.zeros_like(hashed)
        return shifted & np.uint64((1 << self.shard_bits) - 1), minishard

    def shard_name(self, shard: int) -> str:
        """Key of a shard below the kvstore's directory: lowercase hex, zero-padded to
        ``ceil(shard_bits / 4)`` digits, then ``.shard``."""
        return f"{shard:0{-(-self.shard_bits // 4)}x}.shard"

    def parse_shard_name(self, name: str) -> int | None:
        """The shard number a key names, or None when it is not a shard of this spec."""
        digits = max(1, -(-self.shard_bits // 4))
        stem, dot, suffix = name.partition(".")
        if suffix != "shard" or not dot or len(stem) != digits or stem.lower() != stem:
            return None
        try:
            shard = int(stem, 16)
        except ValueError:
            return None
        return shard if shard >> self.shard_bits == 0 else None


# -- compressed Morton codes (the precomputed driver's chunk ids) -------------------------
def compressed_z_index_bits(shape: Sequence[int], chunk_size: Sequence[int]) -> tuple[int, int, int]:
    """Bits of each grid coordinate in the compressed Morton code of a volume's chunks:
    enough for the largest chunk index along that dimension."""
    bits = [max(0, -(-int(n) // int(c)) - 1).bit_length() for n, c in zip(shape, chunk_size, strict=True)]
    return bits[0], bits[1], bits[2]


def compressed_morton_codes(grid_indices: Any, bits: Sequence[int]) -> np.ndarray[Any, Any]:
    """Compressed Morton codes (uint64) of chunk grid positions ``(..., 3)``: the bits of x,
    y and z interleaved from the lowest up, a dimension dropping out once its ``bits``
    are used."""
    indices = np.asarray(grid_indices, dtype=np.uint64)
    codes = np.zeros(indices.shape[:-1], dtype=np.uint64)
    out_bit = 0
    for bit in range(max(bits, default=0)):
        for dim in range(3):
            if bit < bits[dim]:
                codes |= ((indices[..., dim] >> np.uint64(bit)) & np.uint64(1)) << np.uint64(out_bit)
                out_bit += 1
    return codes


def decode_compressed_morton_codes(codes: Any, bits: Sequence[int]) -> np.ndarray[Any, Any]:
    """Grid positions ``(..., 3)`` (int64) of compressed Morton codes (the inverse)."""
    values = np.asarray(codes, dtype=np.uint64)
    indices = np.zeros((*values.shape, 3), dtype=np.uint64)
    out_bit = 0
    for bit in range(max(bits, default=0)):
        for dim in range(3):
            if bit < bits[dim]:
                indices[..., dim] |= ((values >> np.uint64(out_bit)) & np.uint64(1)) << np.uint64(bit)
                out_bit += 1
    return indices.astype(np.int64)


@attrs.frozen
class ShardChunkHierarchy:
    """How shards and minishards tile a volume's chunk grid when they are boxes."""

    z_index_bits: tuple[int, int, int]
    grid_shape_in_chunks: tuple[int, int, int]
    minishard_shape_in_chunks: tuple[int, int, int]
    shard_shape_in_chunks: tuple[int, int, int]
    #: Low bits of a chunk id that do not select the shard.
    non_shard_bits: int
    #: Bits after ``non_shard_bits`` that select the shard.
    shard_bits: int


def _walk_bits(z_index_bits: Sequence[int], count: int, used: list[int], dim: int) -> int:
    """Advance the interleaving by ``count`` bits (``used`` per dimension, updated); the
    dimension the next bit belongs to is returned."""
    for _ in range(count):
        while used[dim] == z_index_bits[dim]:
            dim = (dim + 1) % 3
        used[dim] += 1
        dim = (dim + 1) % 3
    return dim


def _cell_shape(grid: Sequence[int], used: Sequence[int]) -> tuple[int, int, int]:
    shape = [min(int(g), 1 << u) for g, u in zip(grid, used, strict=True)]
    return shape[0], shape[1], shape[2]


def shard_chunk_hierarchy(
    spec: ShardingSpec, volume_shape: Sequence[int], chunk_shape: Sequence[int]
) -> ShardChunkHierarchy | None:
    """The shard and minishard shapes in chunks, or None when shards are not boxes of the
    chunk grid (a non-identity hash, or chunk ids with more bits than the spec hashes)."""
    if spec.hash != "identity":
        return None
    z_bits = compressed_z_index_bits(volume_shape, chunk_shape)
    total = sum(z_bits)
    if total > spec.preshift_bits + spec.minishard_bits + spec.shard_bits:
        return None
    grid = tuple(-(-int(n) // int(c)) for n, c in zip(volume_shape, chunk_shape, strict=True))
    within_minishard = min(spec.preshift_bits, total)
    non_shard = min(spec.preshift_bits + spec.minishard_bits, total)
    used = [0, 0, 0]
    dim = _walk_bits(z_bits, within_minishard, used, 0)
    minishard_shape = _cell_shape(grid, used)
    _walk_bits(z_bits, non_shard - within_minishard, used, dim)
    return ShardChunkHierarchy(
        z_index_bits=z_bits,
        grid_shape_in_chunks=(grid[0], grid[1], grid[2]),
        minishard_shape_in_chunks=minishard_shape,
        shard_shape_in_chunks=_cell_shape(grid, used),
        non_shard_bits=non_shard,
        shard_bits=min(spec.shard_bits, total - non_shard),
    )


def chunks_in_shard(hierarchy: ShardChunkHierarchy, shard: int) -> int:
    """Number of the volume's chunks that shard ``shard`` holds (0 for a shard outside)."""
    if shard >> hierarchy.shard_bits:
        return 0
    used = [0, 0, 0]
    dim = _walk_bits(hierarchy.z_index_bits, hierarchy.non_shard_bits, used, 0)
    cell = _cell_shape(hierarchy.grid_shape_in_chunks, used)
    origin = [0, 0, 0]
    for bit in range(hierarchy.shard_bits):
        while used[dim] == hierarchy.z_index_bits[dim]:
            dim = (dim + 1) % 3
        if (shard >> bit) & 1:
            origin[dim] |= 1 << used[dim]
        used[dim] += 1
        dim = (dim + 1) % 3
    count = 1
    for g, o, c in zip(hierarchy.grid_shape_in_chunks, origin, cell, strict=True):
        count *= max(0, min(g - o, c))
    return count


# -- choosing a sharding spec for a new scale ---------------------------------------------
#: Largest ``preshift_bits`` a chosen spec has: up to 512 chunks share a minishard index entry
#: run; further bits within a shard become minishard bits (tensorstore's choice).
MAX_CHOSEN_PRESHIFT_BITS = 9


def choose_sharding_bits(
    write_chunk: Sequence[int | None],
    hard: Sequence[bool],
    write_chunk_elements: int | None,
    volume_shape: Sequence[int],
    chunk_shape: Sequence[int],
) -> tuple[int, int, int]:
    """``(preshift_bits, minishard_bits, shard_bits)`` of an identity-hash spec whose shards
    best match a write chunk constraint (per dimension a size, ``-1`` for the whole
    dimension, 0/None for none; ``hard`` marks hard ones) and, among equally good shapes,
    hold about ``write_chunk_elements`` elements; chosen as tensorstore chooses.
    ValueError when a hard constraint cannot be met."""
    max_bits = compressed_z_index_bits(volume_shape, chunk_shape)
    max_total = sum(max_bits)
    target_bits = 0
    if write_chunk_elements is not None and write_chunk_elements > 0:
        chunk_elements = int(np.prod([int(c) for c in chunk_shape]))
        target_chunks = (write_chunk_elements + chunk_elements // 2) // chunk_elements
        while target_bits < max_total and (1 << target_bits) < target_chunks:
            target_bits += 1
        if target_bits > 0 and (1 << target_bits) - target_chunks > target_chunks - (1 << (target_bits - 1)):
            target_bits -= 1

    def cost(within: Sequence[int]) -> float:
        total = 0.0
        for dim in range(3):
            desired = write_chunk[dim] if dim < len(write_chunk) else None
            if not desired:
                continue
            if desired < 0:
                desired = int(chunk_shape[dim]) << max_bits[dim]
            current = int(chunk_shape[dim]) << within[dim]
            if dim < len(hard) and hard[dim] and current != desired:
                return float("inf")
            total += abs(current - desired) / desired
        return total

    within = [0, 0, 0]
    best_total, best_cost = 0, cost(within)
    total, step = 0, 0
    while total < max_total:
        dim = step % 3
        step += 1
        if within[dim] == max_bits[dim]:
            continue
        total += 1
        within[dim] += 1
        current = cost(within)
        if current < best_cost or (current == best_cost and total <= target_bits):
            best_total, best_cost = total, current
    if best_cost == float("inf"):
        raise ValueError("Cannot satisfy write chunk shape constraint")
    preshift = min(best_total, MAX_CHOSEN_PRESHIFT_BITS)
    return preshift, best_total - preshift, max_total - best_total


# -- data encodings --------------------------------------------------------------------
def encode_data(data: bytes, encoding: str) -> bytes:
    """``data`` as stored with ``encoding`` (``raw`` or ``gzip``)."""
    if encoding == "raw":
        return bytes(data)
    import imagecodecs

    # libdeflate (through imagecodecs, GIL released): several times faster than zlib
    return bytes(imagecodecs.gzip_encode(data, level=GZIP_LEVEL))


def decode_data(data: bytes, encoding: str, what: str, limit: int | None = None) -> bytes:
    """Stored bytes back to the value; ValueError naming ``what`` when they are not valid
    gzip, or inflate to more than ``limit`` bytes."""
    if encoding == "raw":
        return bytes(data)
    inflater = zlib.decompressobj(31)
    try:
        if limit is None:
            value = inflater.decompress(data)
        else:
            value = inflater.decompress(data, limit + 1)
            if len(value) > limit:
                raise ValueError(f"{what}: gzip data inflates to more than {limit} bytes")
        value += inflater.flush()
    except zlib.error as exc:
        raise ValueError(f"{what}: invalid gzip data ({exc})") from None
    if not inflater.eof:
        raise ValueError(f"{what}: truncated gzip data")
    return value


# -- shard index ---------------------------------------------------------------------
def decode_shard_index(data: bytes, what: str) -> np.ndarray[Any, Any]:
    """Shard index entries (``(n, 2)`` int64 ``[start, end)`` relative to the end of the
    shard index); ValueError naming ``what`` for an entry that cannot be a byte range."""
    if len(data) % SHARD_INDEX_ENTRY_BYTES:
        raise ValueError(f"{what}: shard index of {len(data)} bytes is not a whole number of entries")
    entries = np.frombuffer(data, dtype="<u8").reshape(-1, 2)
    bad = (entries[:, 0] > entries[:, 1]) | (entries[:, 1] >= np.uint64(1 << 62))
    if bad.any():
        minishard = int(np.argmax(bad))
        start, end = (int(v) for v in entries[minishard])
        raise ValueError(f"{what}: shard index entry for minishard {minishard} is not a valid byte range [{start}, {end})")
    return entries.astype(np.int64)


def check_shard_index(entries: np.ndarray[Any, Any], data_size: int, what: str) -> None:
    """ValueError unless every minishard index lies within ``data_size`` bytes after the
    shard index and no two overlap."""
    ends = entries[:, 1]
    past = ends > data_size
    if past.any():
        minishard = int(np.argmax(past))
        start, end = (int(v) for v in entries[minishard])
        raise ValueError(
            f"{what}: shard index entry for minishard {minishard} points to bytes [{start}, {end}) "
            f"past the end of the shard's {data_size} data bytes"
        )
    present = np.flatnonzero(entries[:, 1] > entries[:, 0])
    order = present[np.argsort(entries[present, 0], kind="stable")]
    overlap = entries[order[1:], 0] < entries[order[:-1], 1]
    if overlap.any():
        i = int(np.argmax(overlap))
        raise ValueError(f"{what}: the indices of minishards {int(order[i])} and {int(order[i + 1])} overlap")


# -- minishard index ---------------------------------------------------------------------
@attrs.frozen
class MinishardIndex:
    """A decoded minishard index: chunk ids and data byte ranges relative to the end of
    the shard index, sorted by chunk id."""

    chunk_ids: np.ndarray[Any, Any]
    starts: np.ndarray[Any, Any]
    stops: np.ndarray[Any, Any]

    def find(self, chunk_id: int) -> tuple[int, int] | None:
        i = int(np.searchsorted(self.chunk_ids, np.uint64(chunk_id)))
        if i < len(self.chunk_ids) and int(self.chunk_ids[i]) == chunk_id:
            return int(self.starts[i]), int(self.stops[i])
        return None


def encode_minishard_index(chunk_ids: Sequence[int], starts: Sequence[int], stops: Sequence[int]) -> bytes:
    """Raw minishard index of chunks ``chunk_ids`` (ascending) at ``[start, stop)``."""
    ids = np.asarray(chunk_ids, dtype=np.uint64)
    begin = np.asarray(starts, dtype=np.uint64)
    end = np.asarray(stops, dtype=np.uint64)
    id_deltas = np.diff(ids, prepend=np.uint64(0))
    offset_deltas = begin - np.concatenate([[np.uint64(0)], end[:-1]]).astype(np.uint64)
    return np.concatenate([id_deltas, offset_deltas, end - begin]).astype("<u8").tobytes()


def decode_minishard_index(data: bytes, encoding: str, what: str) -> MinishardIndex:
    """Decode an (encoded) minishard index; ValueError naming ``what`` when it is corrupt."""
    raw = decode_data(data, encoding, what, MAX_MINISHARD_INDEX_BYTES)
    if len(raw) % MINISHARD_INDEX_ENTRY_BYTES:
        raise ValueError(f"{what}: invalid minishard index length {len(raw)} (not a multiple of 24)")
    count = len(raw) // MINISHARD_INDEX_ENTRY_BYTES
    columns = np.frombuffer(raw, dtype="<u8").reshape(3, count)
    with np.errstate(over="ignore"):
        ids = np.cumsum(columns[0], dtype=np.uint64)
        # offset of chunk i = sum of (offset delta + size) of chunks before it + its own delta
        ends = np.cumsum(columns[1] + columns[2], dtype=np.uint64)
    starts = ends - columns[2]
    limit = np.uint64(1 << 62)
    bad = (ends >= limit) | (starts >= limit) | (columns[1] >= limit) | (columns[2] >= limit)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{what}: invalid byte range in minishard index for chunk {int(ids[i])}")
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    repeated = ids[1:] == ids[:-1]
    if repeated.any():
        chunk_id = int(ids[int(np.argmax(repeated))])
        raise ValueError(f"{what}: chunk {chunk_id} occurs more than once in the minishard index")
    return MinishardIndex(ids, starts[order].astype(np.int64), ends[order].astype(np.int64))


# -- whole shards ----------------------------------------------------------------------
def encode_shard(spec: ShardingSpec, chunks: Mapping[int, bytes]) -> bytes | None:
    """A shard holding ``chunks`` (chunk id -> stored, already data-encoded bytes), laid
    out as tensorstore writes it: per minishard in order, its chunks by id, then its
    index. None when there are no chunks (the shard is deleted)."""
    if not chunks:
        return None
    ids = np.fromiter(chunks.keys(), dtype=np.uint64, count=len(chunks))
    _, minishards = spec.locate_many(ids)
    order = np.lexsort((ids, minishards))
    index = np.zeros((spec.num_minishards, 2), dtype="<u8")
    parts: list[bytes] = []
    offset = 0
    position = 0
    while position < len(order):
        minishard = int(minishards[order[position]])
        end = position
        while end < len(order) and int(minishards[order[end]]) == minishard:
            end += 1
        members = [int(ids[i]) for i in order[position:end]]
        starts, stops = [], []
        for chunk_id in members:
            value = chunks[chunk_id]
            starts.append(offset)
            parts.append(value)
            offset += len(value)
            stops.append(offset)
        encoded = encode_data(encode_minishard_index(members, starts, stops), spec.minishard_index_encoding)
        index[minishard] = (offset, offset + len(encoded))
        parts.append(encoded)
        offset += len(encoded)
        position = end
    return index.tobytes() + b"".join(parts)


def split_shard(spec: ShardingSpec, data: bytes, what: str) -> dict[int, bytes]:
    """Every chunk of a whole shard (chunk id -> stored bytes), after checking the shard
    index and every minishard index against the shard's size."""
    if not data:
        return {}
    header = spec.shard_index_size
    if len(data) < header:
        raise ValueError(f"{what}: shard of {len(data)} bytes is shorter than its {header}-byte shard index")
    entries = decode_shard_index(data[:header], what)
    body = memoryview(data)[header:]
    check_shard_index(entries, len(body), what)
    chunks: dict[int, bytes] = {}
    for minishard in np.flatnonzero(entries[:, 1] > entries[:, 0]):
        start, end = (int(v) for v in entries[minishard])
        if end - start > MAX_MINISHARD_INDEX_BYTES:
            raise ValueError(f"{what}: minishard {int(minishard)} has an index of {end - start} bytes, more than the {MAX_MINISHARD_INDEX_BYTES} allowed")
        index = decode_minishard_index(bytes(body[start:end]), spec.minishard_index_encoding, f"{what}: minishard {int(minishard)}")
        for chunk_id, chunk_start, chunk_stop in zip(index.chunk_ids, index.starts, index.stops, strict=True):
            if chunk_stop > len(body):
                raise ValueError(
                    f"{what}: minishard {int(minishard)} index points chunk {int(chunk_id)} to bytes "
                    f"[{int(chunk_start)}, {int(chunk_stop)}) past the end of the shard's {len(body)} data bytes"
                )
            chunks[int(chunk_id)] = bytes(body[int(chunk_start) : int(chunk_stop)])
    return chunks
