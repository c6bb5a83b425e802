"""The ``compressed_segmentation`` precomputed encoding: uint32/uint64 label chunks split
into blocks (``compressed_segmentation_block_size``, stored in ``info``), each block a
small table of its distinct labels and bit-packed indices into it; through the
``compressed_segmentation`` library (the Seung lab's C++ wheel).

Stream layout (neuroglancer's format; all words little-endian uint32): one word per
channel giving the word offset of that channel's data from the start of the stream; per
channel, a 2-word header per block (``x`` fastest): word 0 holds the table's word offset
(low 24 bits) and the bits per index (high 8 bits: 0, 1, 2, 4, 8, 16 or 32), word 1 the
word offset of the packed indices; offsets count from the channel's start, and a table
may run to the end of the stream.

The library's decoder trusts every offset it reads, so ``decode`` first validates the
whole stream with NumPy (vectorised over blocks) and refuses what would make the
library read outside it: a corrupt or hostile chunk is a ChunkError, never a crash.
The library's own 4-D (multi-channel) encoder reads outside its stride array, so
channels are encoded one at a time and the channel header is written here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import compressed_segmentation
import numpy as np

from ts_core.errors import ChunkError, SpecError, describe

from .encoding_api import ChunkEncoding

__all__ = ["CompressedSegmentationEncoding"]

#: The block size tensorstore gives a new scale that does not name one.
DEFAULT_BLOCK_SIZE = (8, 8, 8)
#: Largest block extent tensorstore accepts (a positive 32-bit integer).
MAX_BLOCK_EXTENT = 2**31 - 1
_BLOCK_SIZE_MEMBER = "compressed_segmentation_block_size"

#: Words in a block header, and the layout of its first word.
_BLOCK_HEADER_WORDS = 2
_OFFSET_BITS = 24
_OFFSET_MASK = (1 << _OFFSET_BITS) - 1
#: Bits per table index a block may use. 32 is legal in the format but neither the
#: library nor tensorstore decodes it (their index mask overflows), so it is refused.
_INDEX_BITS = (0, 1, 2, 4, 8, 16)
_UNSUPPORTED_INDEX_BITS = 32
#: A block with more voxels than this may need 32-bit indices, which the library's
#: encoder cannot write: such chunks are checked before encoding.
_MAX_16_BIT_TABLE = 1 << 16
_LABEL_TYPES = ("uint32", "uint64")


def _join(prefix: str, member: str) -> str:
    return f"{prefix}.{member}" if prefix else member


def _block_size(scale: Mapping[str, Any], json_path: str) -> tuple[int, int, int]:
    """The scale's block size (the creation default when absent), checked as tensorstore does."""
    value = scale.get(_BLOCK_SIZE_MEMBER)
    path = _join(json_path, _BLOCK_SIZE_MEMBER)
    if value is None:
        return DEFAULT_BLOCK_SIZE
    if not isinstance(value, (list, tuple)):
        raise SpecError(path, f"Expected array, but received: {describe(value)}")
    if len(value) != 3:
        raise SpecError(path, f"Array has length {len(value)} but should have length 3")
    extents = []
    for position, extent in enumerate(value):
        if isinstance(extent, float) and extent.is_integer():
            extent = int(extent)
        if isinstance(extent, bool) or not isinstance(extent, int) or not 1 <= extent <= MAX_BLOCK_EXTENT:
            raise SpecError(
                f"{path}[{position}]",
                f"Expected integer in the range [1, {MAX_BLOCK_EXTENT}], but received: {describe(extent)}",
            )
        extents.append(extent)
    return extents[0], extents[1], extents[2]


class CompressedSegmentationEncoding(ChunkEncoding):
    """Lossless block-table chunks of uint32 or uint64 label volumes, any channel count."""

    name: ClassVar[str] = "compressed_segmentation"
    scale_members: ClassVar[tuple[str, ...]] = (_BLOCK_SIZE_MEMBER,)

    @classmethod
    def check(cls, data_type: np.dtype[Any], num_channels: int, scale: Mapping[str, Any], json_path: str) -> None:
        name = np.dtype(data_type).name
        if name not in _LABEL_TYPES:
            raise SpecError(
                "data_type",
                f'"{cls.name}" encoding (at {_join(json_path, "encoding")}) only supports uint32 and uint64, '
                f"not {name}",
            )
        _block_size(scale, json_path)

    @classmethod
    def normalized_members(cls, scale: Mapping[str, Any]) -> dict[str, Any]:
        return {_BLOCK_SIZE_MEMBER: list(_block_size(scale, ""))}

    def __init__(
        self, data_type: np.dtype[Any], num_channels: int, scale: Mapping[str, Any], options: Mapping[str, Any]
    ) -> None:
        #: Block extents in ``x, y, z`` order.
        self.block_size = _block_size(scale, "")
        #: Label type in the machine's order (what the library reads and writes).
        self.dtype = np.dtype(data_type).newbyteorder("=")
        self.num_channels = num_channels
        self._words_per_label = self.dtype.itemsize // 4
        self._block_voxels = int(np.prod(self.block_size))

    # -- encoding ---------------------------------------------------------------------

    def encode(self, chunk: np.ndarray) -> bytes:
        chunk = np.asarray(chunk, dtype=self.dtype)
        channels = chunk.shape[3]
        if self._block_voxels > _MAX_16_BIT_TABLE:
            self._check_block_label_counts(chunk)
        # The library reads a contiguous array in C or Fortran order (the same stream
        # either way) and needs a writable buffer, which it does not modify: a channel
        # that is one is used as is, else copied in its own memory order (a cheap copy;
        # a transposing one costs as much as a third of the encoding).
        streams = []
        for channel in range(channels):
            labels = chunk[:, :, :, channel]
            if not labels.flags.writeable or not (labels.flags.c_contiguous or labels.flags.f_contiguous):
                labels = np.array(labels, order="K", copy=True)
                if not (labels.flags.c_contiguous or labels.flags.f_contiguous):
                    labels = np.array(labels, order="F", copy=True)
            order = "F" if labels.flags.f_contiguous else "C"
            try:
                stream = compressed_segmentation.compress(labels, block_size=self.block_size, order=order)
            except OverflowError as error:
                raise ChunkError(f"chunk of shape {list(chunk.shape)} is too varied to encode: {error}") from None
            if len(stream) // 4 > _OFFSET_MASK:
                self._check_index_offsets(stream, labels.shape)
            streams.append(stream)
        if channels == 1:
            return bytes(streams[0])  # the library's single-channel stream has the one-word header
        # Each single-channel stream starts with its own one-word header; drop it and
        # write the multi-channel header (offsets in words from the start).
        bodies = [memoryview(stream)[4:] for stream in streams]
        offsets = np.empty(channels, dtype="<u4")
        position = channels
        for channel, body in enumerate(bodies):
            offsets[channel] = position
            position += len(body) // 4
        return b"".join([offsets.tobytes(), *bodies])

    def _check_index_offsets(self, stream: bytes, shape: tuple[int, ...]) -> None:
        """Refuse a channel so large that a block's index offset needs more than the 24
        bits readers use (the library does not check this one)."""
        num_blocks = int(np.prod([-(-extent // block) for extent, block in zip(shape, self.block_size, strict=True)]))
        headers = np.frombuffer(stream, dtype="<u4", count=_BLOCK_HEADER_WORDS * num_blocks, offset=4)
        if (headers[1::_BLOCK_HEADER_WORDS] > _OFFSET_MASK).any():
            raise ChunkError(
                f"a channel of this chunk (shape {list(shape)}) encodes to {len(stream)} bytes, too many "
                f"for compressed_segmentation's 24-bit offsets"
            )

    def _check_block_label_counts(self, chunk: np.ndarray) -> None:
        """Refuse a chunk with a block of more than 65536 distinct labels (32-bit indices)."""
        x, y, z, channels = chunk.shape
        if x * y * z <= _MAX_16_BIT_TABLE:
            return
        bx, by, bz = self.block_size
        # Edge blocks are padded by repeating their last voxel: no new labels.
        padding = [(0, -extent % block) for extent, block in zip((x, y, z), self.block_size, strict=True)]
        padded = np.pad(chunk, [*padding, (0, 0)], mode="edge")
        grid = [extent // block for extent, block in zip(padded.shape[:3], self.block_size, strict=True)]
        blocks = padded.reshape(grid[0], bx, grid[1], by, grid[2], bz, channels)
        blocks = blocks.transpose(0, 2, 4, 6, 1, 3, 5).reshape(-1, bx * by * bz)
        distinct = 1 + np.count_nonzero(np.diff(np.sort(blocks, axis=1), axis=1), axis=1)
        most = int(distinct.max())
        if most > _MAX_16_BIT_TABLE:
            raise ChunkError(
                f"a {bx}x{by}x{bz} block of this chunk holds {most} distinct labels; blocks of more than "
                f"{_MAX_16_BIT_TABLE} labels need 32-bit indices, which cannot be encoded"
            )

    # -- decoding ---------------------------------------------------------------------

    def decode(self, data: bytes, shape: tuple[int, int, int, int]) -> np.ndarray:
        stream = data if isinstance(data, bytes) else bytes(data)
        unused_bits = self._validate(stream, shape)
        if unused_bits.size:
            # tensorstore reads only the low 24 bits of an index offset; the library reads
            # all 32, so clear the rest and check the result again.
            words = np.frombuffer(stream, dtype="<u4").copy()
            words[unused_bits] &= np.uint32(_OFFSET_MASK)
            stream = words.tobytes()
            if self._validate(stream, shape).size:
                raise self._corrupt(shape, "block headers overlap the channel offsets")
        labels: np.ndarray = compressed_segmentation.decompress(
            stream, shape, self.dtype, block_size=self.block_size, order="F"
        )
        return labels

    def _corrupt(self, shape: tuple[int, int, int, int], problem: str) -> ChunkError:
        return ChunkError(
            f"corrupt compressed_segmentation chunk of shape {list(shape)} (x, y, z, channel), "
            f"block size {list(self.block_size)}: {problem}"
        )

    def _validate(self, stream: bytes, shape: tuple[int, int, int, int]) -> np.ndarray:
        """Refuse a stream whose decoding would read outside it (tensorstore's checks).

        Returns the positions of block-header words whose unused high byte is set."""
        if len(stream) % 4:
            raise self._corrupt(shape, f"length {len(stream)} is not a multiple of 4 bytes")
        words = np.frombuffer(stream, dtype="<u4")
        total = words.size
        x, y, z, channels = shape
        if total < channels:
            raise self._corrupt(shape, f"{total} words cannot hold the offsets of {channels} channels")
        grid = [-(-extent // block) for extent, block in zip((x, y, z), self.block_size, strict=True)]
        num_blocks = grid[0] * grid[1] * grid[2]
        unused_bits = []
        for channel in range(channels):
            start = int(words[channel])
            if start > total:
                raise self._corrupt(shape, f"channel {channel} starts at word {start}, past the end ({total} words)")
            available = total - start
            if available < _BLOCK_HEADER_WORDS * num_blocks:
                raise self._corrupt(
                    shape, f"channel {channel} has {available} words, too few for its {num_blocks} block headers"
                )
            unused_bits.append(self._validate_channel(words, start, available, grid, shape, channel))
        return np.concatenate(unused_bits) if unused_bits else np.empty(0, dtype=np.int64)

    def _validate_channel(
        self, words: np.ndarray, start: int, available: int, grid: list[int], shape: tuple[int, int, int, int],
        channel: int,
    ) -> np.ndarray:
        headers = words[start : start + _BLOCK_HEADER_WORDS * int(np.prod(grid))].reshape(-1, _BLOCK_HEADER_WORDS)
        table_offsets = (headers[:, 0] & _OFFSET_MASK).astype(np.int64)
        index_bits = (headers[:, 0] >> _OFFSET_BITS).astype(np.int64)
        value_offsets = headers[:, 1].astype(np.int64)
        high_byte_set = np.flatnonzero(value_offsets > _OFFSET_MASK)
        value_offsets &= _OFFSET_MASK

        unsupported = ~np.isin(index_bits, _INDEX_BITS)
        if unsupported.any():
            block = int(np.argmax(unsupported))
            bits = int(index_bits[block])
            reason = (
                "32-bit indices are not supported" if bits == _UNSUPPORTED_INDEX_BITS
                else f"{bits} bits per index is not a power of two <= 32"
            )
            raise self._corrupt(shape, f"channel {channel} block {block}: {reason}")
        index_words = (index_bits * self._block_voxels + 31) // 32
        bad_values = value_offsets + index_words > available
        if bad_values.any():
            block = int(np.argmax(bad_values))
            raise self._corrupt(
                shape,
                f"channel {channel} block {block}: its {int(index_words[block])} index words at word "
                f"{int(value_offsets[block])} run past the channel's {available} words",
            )
        if (table_offsets > available).any():
            block = int(np.argmax(table_offsets > available))
            raise self._corrupt(
                shape, f"channel {channel} block {block}: table at word {int(table_offsets[block])} is past the end"
            )
        # Labels from each table's start to the end of the stream; every index a block
        # uses must fall inside. Blocks whose largest possible index does are fine
        # without reading their indices; the rest (normally the last few) are unpacked.
        table_labels = (available - table_offsets) // self._words_per_label
        unused_bits = start + _BLOCK_HEADER_WORDS * high_byte_set + 1
        doubtful = np.flatnonzero(table_labels < (np.int64(1) << index_bits))
        if doubtful.size == 0:
            return unused_bits
        largest = self._largest_indices(words, start, doubtful, index_bits, value_offsets, grid, shape)
        out_of_table = largest >= table_labels[doubtful]
        if out_of_table.any():
            position = int(np.argmax(out_of_table))
            block = int(doubtful[position])
            raise self._corrupt(
                shape,
                f"channel {channel} block {block}: index {int(largest[position])} is past the end of its table "
                f"of {int(table_labels[block])} labels",
            )
        return unused_bits

    def _largest_indices(
        self, words: np.ndarray, start: int, blocks: np.ndarray, index_bits: np.ndarray, value_offsets: np.ndarray,
        grid: list[int], shape: tuple[int, int, int, int],
    ) -> np.ndarray:
        """The largest table index each of ``blocks`` reads (voxels inside the chunk only);
        -1 never happens: a block reads at least index 0."""
        bx, by, bz = self.block_size
        largest = np.zeros(blocks.size, dtype=np.int64)
        # Extent of each block inside the chunk (edge blocks are cut), x fastest in the grid.
        block_x = blocks % grid[0]
        block_y = (blocks // grid[0]) % grid[1]
        block_z = blocks // (grid[0] * grid[1])
        inside_x = np.minimum(bx, shape[0] - block_x * bx)
        inside_y = np.minimum(by, shape[1] - block_y * by)
        inside_z = np.minimum(bz, shape[2] - block_z * bz)
        for bits in np.unique(index_bits[blocks]):
            bits = int(bits)
            if bits == 0:
                continue  # reads index 0 only
            members = np.flatnonzero(index_bits[blocks] == bits)
            count = (bits * self._block_voxels + 31) // 32
            starts = start + value_offsets[blocks[members]]
            packed = words[starts[:, None] + np.arange(count)]
            per_word = 32 // bits
            shifts = (np.arange(per_word, dtype=np.uint32) * bits).astype(np.uint32)
            mask = np.uint32((1 << bits) - 1)
            indices = ((packed[:, :, None] >> shifts) & mask).reshape(members.size, -1)[:, : self._block_voxels]
            indices = indices.reshape(members.size, bz, by, bx)
            inside = (
                (np.arange(bz)[None, :, None, None] < inside_z[members, None, None, None])
                & (np.arange(by)[None, None, :, None] < inside_y[members, None, None, None])
                & (np.arange(bx)[None, None, None, :] < inside_x[members, None, None, None])
            )
            largest[members] = np.where(inside, indices, 0).reshape(members.size, -1).max(axis=1)
        return largest
