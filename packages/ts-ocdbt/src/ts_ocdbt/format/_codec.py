"""The pieces every OCDBT structure is built from: varints, the framing around a manifest or
node (header, optional zstd body, CRC-32C footer), and the data file table.

Format sections cited are those of tensorstore's ``kvstore/ocdbt/index.rst``.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterable
from typing import Final

import crc32c
import zstandard

from ._errors import (
    ChecksumMismatchError,
    CorruptDataError,
    TruncatedDataError,
    UnsupportedFormatError,
)
from ._model import MAX_KEY_LENGTH, DataFileId, IndirectDataReference, ZstdCompression

__all__ = [
    "BTREE_NODE_MAGIC",
    "MANIFEST_MAGIC",
    "VERSION_TREE_NODE_MAGIC",
    "DataFileTableBuilder",
    "Reader",
    "Writer",
    "decode_envelope",
    "encode_envelope",
    "read_data_file_table",
]

#: Magic values of the outer headers ("Manifest header", "Version tree node outer header",
#: "B+tree node outer header"), stored big-endian.
MANIFEST_MAGIC: Final = 0x0CDB3A2A
VERSION_TREE_NODE_MAGIC: Final = 0x0CDB1234
BTREE_NODE_MAGIC: Final = 0x0CDB20DE
#: The only format version of each structure.
FORMAT_VERSION: Final = 0
#: ``compression_format`` of an outer header.
COMPRESSION_NONE: Final = 0
COMPRESSION_ZSTD: Final = 1
#: magic (4) + length (8) + crc32c (4): the smallest possible encoding.
_MIN_ENCODED_LENGTH: Final = 16
#: magic (big-endian uint32) then length (little-endian uint64).
_HEADER_SIZE: Final = 12
_MAGIC: Final = struct.Struct(">I")
_LENGTH: Final = struct.Struct("<Q")
_CRC: Final = struct.Struct("<I")
_U64: Final = struct.Struct("<Q")
_I32: Final = struct.Struct("<i")
#: An offset + length must fit in int64 (tensorstore's IndirectDataReference::Validate).
_INT64_MAX: Final = 2**63 - 1
_UINT64_MAX: Final = 2**64 - 1
#: The zstd levels riegeli accepts (ZSTD_minCLevel() is -(1 << 17), ZSTD_maxCLevel() 22).
ZSTD_MIN_LEVEL: Final = -(1 << 17)
ZSTD_MAX_LEVEL: Final = 22
#: Zstandard frame layout (RFC 8878 section 3.1.1).
_ZSTD_MAGIC: Final = 0xFD2FB528
_ZSTD_BLOCK_MAX: Final = 128 * 1024
#: tensorstore compresses through a 4 KiB buffer: a smaller body is compressed in one pass,
#: which writes its size in the frame header; a larger one is streamed, which does not.
#: Compressing the same way makes our encodings byte-identical to tensorstore's.
_SINGLE_PASS_LIMIT: Final = 4096


class Reader:
    """A cursor over decoded bytes whose errors name ``where`` and the field being read."""

    __slots__ = ("data", "end", "pos", "where")

    def __init__(self, data: bytes, where: str) -> None:
        self.data = data
        self.pos = 0
        self.end = len(data)
        self.where = where

    def corrupt(self, message: str) -> CorruptDataError:
        return CorruptDataError(self.where, message)

    def truncated(self, what: str) -> TruncatedDataError:
        return TruncatedDataError(
            self.where, f"data ends (after {self.end} bytes) while reading {what}"
        )

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def varint(self, what: str, max_value: int = _UINT64_MAX) -> int:
        """An unsigned LEB128 value of at most ``max_value`` (10 bytes at most for 64 bits)."""
        data = self.data
        pos = self.pos
        if pos < self.end:
            byte = data[pos]
            if byte < 0x80:  # one-byte varints are by far the most common
                self.pos = pos + 1
                if byte > max_value:
                    raise self.corrupt(f"{what} = {byte} exceeds the maximum of {max_value}")
                return byte
        result = 0
        shift = 0
        while True:
            if pos >= self.end:
                raise self.truncated(what)
            byte = data[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            shift += 7
            if shift >= 70:
                raise self.corrupt(f"{what}: invalid varint (longer than 10 bytes)")
        self.pos = pos
        if result > max_value:
            raise self.corrupt(f"{what} = {result} exceeds the maximum of {max_value}")
        return result

    def varints(self, count: int, what: str, max_value: int = _UINT64_MAX) -> list[int]:
        """A column of ``count`` varints (``what[i]`` in errors)."""
        chunk = self.data[self.pos : self.pos + count]
        # The common case, every value below 128, is one byte each: no per-value decoding.
        if len(chunk) == count and (not count or max(chunk) < min(0x80, max_value + 1)):
            self.pos += count
            return list(chunk)
        return [self.varint(f"{what}[{i}]", max_value) for i in range(count)]

    def bytes_column(self, count: int, what: str) -> list[int]:
        """A column of ``count`` single bytes."""
        return list(self.raw(count, f"{count} values of {what}"))

    def byte(self, what: str) -> int:
        if self.pos >= self.end:
            raise self.truncated(what)
        value = self.data[self.pos]
        self.pos += 1
        return value

    def raw(self, length: int, what: str) -> bytes:
        if length > self.end - self.pos:
            raise self.truncated(what)
        start = self.pos
        self.pos = start + length
        return self.data[start : self.pos]

    def uint64le(self, what: str) -> int:
        return int(_U64.unpack(self.raw(8, what))[0])

    def int32le(self, what: str) -> int:
        return int(_I32.unpack(self.raw(4, what))[0])

    def count(self, what: str, max_count: int, min_bytes_each: int = 1) -> int:
        """A varint count, refused before anything is allocated for it if it exceeds
        ``max_count`` or the bytes left could not hold that many items."""
        value = self.varint(what)
        if value > max_count:
            raise self.corrupt(f"{what} = {value} exceeds the maximum of {max_count}")
        if value * min_bytes_each > self.remaining:
            raise self.truncated(f"{value} entries of {what}")
        return value

    def finish(self) -> None:
        if self.pos != self.end:
            raise self.corrupt(
                f"{self.end - self.pos} unexpected bytes after the end of the encoded data"
            )


class Writer:
    """Appends the format's primitive types to a growing buffer."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts = bytearray()

    def varint(self, value: int) -> None:
        if value < 0x80:
            self.parts.append(value)
            return
        if value < 0 or value > _UINT64_MAX:
            raise ValueError(f"{value} does not fit in an unsigned 64-bit varint")
        out = self.parts
        while value >= 0x80:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        out.append(value)

    def varints(self, values: list[int]) -> None:
        """A column of varints; values below 128 (the common case) take one byte each."""
        if not values or max(values) < 0x80:
            self.parts += bytes(values)
        else:
            for value in values:
                self.varint(value)

    def byte(self, value: int) -> None:
        self.parts.append(value)

    def raw(self, data: bytes) -> None:
        self.parts += data

    def uint64le(self, value: int) -> None:
        self.parts += _U64.pack(value)

    def int32le(self, value: int) -> None:
        self.parts += _I32.pack(value)

    def getvalue(self) -> bytes:
        return bytes(self.parts)


# -- framing -------------------------------------------------------------------------------


def encode_envelope(body: bytes, magic: int, compression: ZstdCompression | None) -> bytes:
    """Header (magic, length, version 0, compression format), the body (zstd-compressed when
    ``compression`` says so), and the CRC-32C of everything before it."""
    if compression is None:
        tail = bytes((FORMAT_VERSION, COMPRESSION_NONE)) + body
    else:
        compressor = _take_compressor(compression.level)
        if len(body) < _SINGLE_PASS_LIMIT:
            compressed = compressor.compress(body)  # declares its content size
        else:
            stream = compressor.compressobj()
            compressed = stream.compress(body) + stream.flush()
        _give_back_compressor(compression.level, compressor)
        tail = bytes((FORMAT_VERSION, COMPRESSION_ZSTD)) + compressed
    length = _HEADER_SIZE + len(tail) + _CRC.size
    encoded = _MAGIC.pack(magic) + _LENGTH.pack(length) + tail
    return encoded + _CRC.pack(crc32c.crc32c(encoded))


#: zstd contexts kept for reuse, a few per compression level: making one costs more than
#: compressing a small node (each is used by one thread at a time: taken, then put back;
#: list pop and append are atomic).
_MAX_SPARE_CONTEXTS: Final = 4
_spare_compressors: dict[int, list[zstandard.ZstdCompressor]] = {}
_spare_decompressors: list[zstandard.ZstdDecompressor] = []


def _take_compressor(level: int) -> zstandard.ZstdCompressor:
    spare = _spare_compressors.setdefault(level, [])
    try:
        return spare.pop()
    except IndexError:
        pass
    if len(_spare_compressors) > _MAX_SPARE_CONTEXTS:  # many levels: keep none of the others
        _spare_compressors.clear()
        _spare_compressors[level] = spare
    return zstandard.ZstdCompressor(level=level)


def _give_back_compressor(level: int, compressor: zstandard.ZstdCompressor) -> None:
    spare = _spare_compressors.setdefault(level, [])
    if len(spare) < _MAX_SPARE_CONTEXTS:
        spare.append(compressor)


def _take_decompressor() -> zstandard.ZstdDecompressor:
    try:
        return _spare_decompressors.pop()
    except IndexError:
        return zstandard.ZstdDecompressor()


def _give_back_decompressor(decompressor: zstandard.ZstdDecompressor) -> None:
    if len(_spare_decompressors) < _MAX_SPARE_CONTEXTS:
        _spare_decompressors.append(decompressor)


def decode_envelope(data: bytes, magic: int, what: str, where: str, max_decoded_bytes: int) -> bytes:
    """The (decompressed) body of an encoded ``what``, checked against its header and its
    checksum; the body may decode to at most ``max_decoded_bytes``."""
    size = len(data)
    if size < _MIN_ENCODED_LENGTH:
        raise TruncatedDataError(
            where,
            f"{size} bytes are too few for an encoded {what} (at least {_MIN_ENCODED_LENGTH})",
        )
    (found_magic,) = _MAGIC.unpack_from(data, 0)
    if found_magic != magic:
        raise UnsupportedFormatError(
            where,
            f"not an OCDBT {what}: expected magic value 0x{magic:08x} but found 0x{found_magic:08x}",
        )
    (length,) = _LENGTH.unpack_from(data, 4)
    if length != size:
        error = TruncatedDataError if length > size else CorruptDataError
        raise error(where, f"the {what} header gives a length of {length} bytes but {size} are stored")
    (stored_crc,) = _CRC.unpack_from(data, size - 4)
    actual_crc = crc32c.crc32c(memoryview(data)[: size - 4])
    if stored_crc != actual_crc:
        raise ChecksumMismatchError(
            where,
            f"CRC-32C checksum mismatch in {what}: stored 0x{stored_crc:08x}, "
            f"computed 0x{actual_crc:08x}",
        )
    reader = Reader(data, where)
    reader.pos = _HEADER_SIZE
    reader.end = size - 4
    version = reader.varint(f"the {what} format version", 2**32 - 1)
    if version != FORMAT_VERSION:
        raise UnsupportedFormatError(
            where, f"unsupported {what} format version {version} (expected {FORMAT_VERSION})"
        )
    compression = reader.varint(f"the {what} compression format", 2**32 - 1)
    body = data[reader.pos : reader.end]
    if compression == COMPRESSION_NONE:
        return body
    if compression == COMPRESSION_ZSTD:
        return _decompress_zstd(body, max_decoded_bytes, what, where)
    raise UnsupportedFormatError(
        where, f"unsupported {what} compression format {compression} (expected 0 or 1)"
    )


def _decompress_zstd(body: bytes, limit: int, what: str, where: str) -> bytes:
    """One zstd frame making up all of ``body``, decoding to at most ``limit`` bytes.

    The frame's blocks are walked first (RFC 8878 section 3.1.1) to learn its exact
    compressed size and a bound on its decompressed size, so nothing is allocated from a
    size the data merely claims.
    """
    content_size, output_bound = _zstd_frame_sizes(body, what, where)
    if content_size is not None and content_size > limit:
        raise CorruptDataError(
            where, f"the zstd-compressed {what} declares {content_size} bytes, more than {limit}"
        )
    try:
        if content_size is not None:
            decompressor = _take_decompressor()
            decoded = decompressor.decompress(body)
            _give_back_decompressor(decompressor)  # (not after an error: its state is unknown)
            return decoded
        # No declared size: stream, never holding more than one byte over the limit.
        budget = min(output_bound, limit) + 1
        reader = zstandard.ZstdDecompressor().stream_reader(body, read_across_frames=False)
        pieces = []
        decoded_size = 0
        while decoded_size < budget:
            piece = reader.read(budget - decoded_size)
            if not piece:
                break
            pieces.append(piece)
            decoded_size += len(piece)
        decoded = b"".join(pieces)
    except zstandard.ZstdError as exc:
        raise CorruptDataError(where, f"corrupt zstd data in {what}: {exc}") from None
    if len(decoded) > limit:
        raise CorruptDataError(where, f"the zstd-compressed {what} decodes to more than {limit} bytes")
    return bytes(decoded)


def _zstd_frame_sizes(body: bytes, what: str, where: str) -> tuple[int | None, int]:
    """(declared content size or None, upper bound of the decoded size) of the single zstd
    frame that must fill ``body`` exactly."""

    def fail(message: str) -> CorruptDataError:
        return CorruptDataError(where, f"invalid zstd frame in {what}: {message}")

    size = len(body)
    if size < 6:
        raise TruncatedDataError(where, f"the zstd frame in {what} is truncated")
    if int.from_bytes(body[:4], "little") != _ZSTD_MAGIC:
        raise fail("bad zstd magic number")
    descriptor = body[4]
    if descriptor & 0x08:
        raise fail("reserved bit set in the frame header")
    fcs_flag = descriptor >> 6
    single_segment = (descriptor >> 5) & 1
    has_checksum = (descriptor >> 2) & 1
    dict_id_size = (0, 1, 2, 4)[descriptor & 3]
    fcs_size = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    pos = 5 + (0 if single_segment else 1) + dict_id_size
    if pos + fcs_size > size:
        raise TruncatedDataError(where, f"the zstd frame in {what} is truncated")
    content_size: int | None = None
    if fcs_size:
        content_size = int.from_bytes(body[pos : pos + fcs_size], "little")
        if fcs_size == 2:
            content_size += 256
    pos += fcs_size
    output_bound = 0
    while True:
        if pos + 3 > size:
            raise TruncatedDataError(where, f"the zstd frame in {what} is truncated")
        header = int.from_bytes(body[pos : pos + 3], "little")
        pos += 3
        last = header & 1
        block_type = (header >> 1) & 3
        block_size = header >> 3
        if block_type == 0:  # raw
            pos += block_size
            output_bound += block_size
        elif block_type == 1:  # RLE: one byte repeated block_size times
            pos += 1
            output_bound += block_size
        elif block_type == 2:  # compressed
            pos += block_size
            output_bound += _ZSTD_BLOCK_MAX
        else:
            raise fail("reserved block type")
        if pos > size:
            raise TruncatedDataError(where, f"the zstd frame in {what} is truncated")
        if last:
            break
    pos += 4 * has_checksum
    if pos > size:
        raise TruncatedDataError(where, f"the zstd frame in {what} is truncated")
    if pos != size:
        raise fail(f"{size - pos} unexpected bytes after the end of the frame")
    return content_size, output_bound


# -- data file table -----------------------------------------------------------------------


def check_reference(reader: Reader, reference: IndirectDataReference, what: str) -> None:
    if reference.offset + reference.length > _INT64_MAX:
        raise reader.corrupt(
            f"invalid {what}: offset {reference.offset} + length {reference.length} "
            f"exceeds 2**63 - 1"
        )


def _common_prefix_length(a: bytes, b: bytes) -> int:
    limit = min(len(a), len(b))
    # The first differing byte is where the highest bit of the XOR of both (read as
    # big-endian integers) lies: one C-speed step instead of a byte-by-byte loop.
    difference = int.from_bytes(a[:limit], "big") ^ int.from_bytes(b[:limit], "big")
    return limit - (difference.bit_length() + 7) // 8


common_prefix_length = _common_prefix_length  # public name for the B+tree encoder


def read_data_file_table(reader: Reader, transitive_path: bytes) -> list[DataFileId]:
    """Decode a data file table ("Data file table format"); each id's ``base_path`` gets the
    ``transitive_path`` of the node it was read from prepended."""
    max_path_length = MAX_KEY_LENGTH - len(transitive_path)
    # Each file takes at least two one-byte lengths (suffix, base path), so a count that
    # cannot fit in what is left is refused before anything is allocated.
    num_files = reader.count("the number of data files", 2**64 - 1, 2)
    if num_files == 0:
        return []
    prefix_lengths = [0]
    for i in range(1, num_files):
        prefix_lengths.append(reader.varint(f"path_prefix_length[{i - 1}]", 0xFFFF))
    suffix_lengths = [reader.varint(f"path_suffix_length[{i}]", 0xFFFF) for i in range(num_files)]
    base_path_lengths = []
    previous_base_length = 0
    for i in range(num_files):
        base_length = reader.varint(f"base_path_length[{i}]", 0xFFFF)
        path_length = prefix_lengths[i] + suffix_lengths[i]
        if path_length > max_path_length:
            raise reader.corrupt(
                f"data file path {i} is {path_length} bytes long, more than the "
                f"{max_path_length} allowed"
            )
        if base_length > path_length:
            raise reader.corrupt(
                f"base_path_length[{i}] = {base_length} exceeds the path's length {path_length}"
            )
        if prefix_lengths[i] > min(previous_base_length, base_length) and base_length != previous_base_length:
            raise reader.corrupt(
                f"path_prefix_length[{i - 1}] = {prefix_lengths[i]} extends past a base path "
                f"that differs from the previous one"
            )
        base_path_lengths.append(base_length)
        previous_base_length = base_length
    files: list[DataFileId] = []
    previous_path = b""
    for i in range(num_files):
        if prefix_lengths[i] > len(previous_path):
            raise reader.corrupt(
                f"path_prefix_length[{i - 1}] = {prefix_lengths[i]} exceeds the previous "
                f"path's length {len(previous_path)}"
            )
        path = previous_path[: prefix_lengths[i]] + reader.raw(suffix_lengths[i], f"path_suffix[{i}]")
        base_length = base_path_lengths[i]
        files.append(DataFileId(transitive_path + path[:base_length], path[base_length:]))
        previous_path = path
    return files


def read_file_ids(reader: Reader, files: list[DataFileId], count: int) -> list[DataFileId]:
    """A column of ``count`` data file indices, as the ids they name."""
    indices = reader.varints(count, "data_file_id")
    if indices and max(indices) >= len(files):
        i, index = next((i, index) for i, index in enumerate(indices) if index >= len(files))
        raise reader.corrupt(f"data_file_id[{i}] = {index} is outside the data file table [0, {len(files)})")
    return [files[index] for index in indices]


class DataFileTableBuilder:
    """Collects the data files a structure references and writes its table: sorted, with
    each path prefix-compressed against the previous one."""

    def __init__(self, file_ids: Iterable[DataFileId]) -> None:
        self.files = sorted(set(file_ids), key=lambda f: (f.base_path, f.relative_path))
        self.index = {file_id: i for i, file_id in enumerate(self.files)}

    def write(self, writer: Writer) -> None:
        files = self.files
        writer.varint(len(files))
        if not files:
            return
        prefix_lengths = [0]
        for previous, current in itertools.pairwise(files):
            prefix = _common_prefix_length(previous.base_path, current.base_path)
            if len(previous.base_path) == len(current.base_path) == prefix:
                prefix += _common_prefix_length(previous.relative_path, current.relative_path)
            prefix_lengths.append(prefix)
        for file_id in files:
            if len(file_id.base_path) + len(file_id.relative_path) > MAX_KEY_LENGTH:
                raise ValueError(
                    f"data file path {file_id.full_path!r} is longer than {MAX_KEY_LENGTH} bytes"
                )
        for prefix in prefix_lengths[1:]:
            writer.varint(prefix)
        for file_id, prefix in zip(files, prefix_lengths, strict=True):
            writer.varint(len(file_id.base_path) + len(file_id.relative_path) - prefix)
        for file_id in files:
            writer.varint(len(file_id.base_path))
        for file_id, prefix in zip(files, prefix_lengths, strict=True):
            base_skip = min(prefix, len(file_id.base_path))
            writer.raw(file_id.base_path[base_skip:])
            writer.raw(file_id.relative_path[prefix - base_skip :])
