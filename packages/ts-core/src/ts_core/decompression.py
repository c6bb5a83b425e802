"""Decompression that never produces (or allocates) more than a caller-given number of bytes.

A chunk format knows how many bytes a stored chunk decodes to; a corrupt or hostile chunk
whose few compressed bytes expand to gigabytes must fail at that size, not after filling
memory. Each function here takes ``max_size`` and raises :class:`DecompressedSizeError`
(a :class:`~ts_core.errors.ChunkError`) when the data would decompress to more, and a
``ChunkError`` when the data is corrupt or truncated::

    >>> import zlib
    >>> from ts_core.decompression import decompress_zlib
    >>> decompress_zlib(zlib.compress(b"abc"), max_size=3)
    b'abc'
    >>> decompress_zlib(zlib.compress(bytes(1000)), max_size=100)
    Traceback (most recent call last):
    ...
    ts_core.decompression.DecompressedSizeError: zlib data decompresses to more than 100 bytes

The decoding itself is done by the standard library (zlib, bz2, lzma) and numcodecs' C
builds of blosc and zstd (imported on first use, so plugins using those depend on
numcodecs; a single zstd frame of known size is decoded by the ``zstandard`` package
instead where it is installed, which is much cheaper to import); only frame headers are
read here, to learn sizes before anything is allocated.
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Sequence
from typing import Any

from .errors import ChunkError

__all__ = [
    "GZIP_WBITS",
    "LZMA_MEMORY_LIMIT",
    "DecompressedSizeError",
    "blosc_decompressed_size",
    "check_decompressed_size",
    "decompress_blosc",
    "decompress_bz2",
    "decompress_gzip",
    "decompress_lzma",
    "decompress_zlib",
    "decompress_zstd",
]

#: zlib ``wbits`` for a gzip wrapper (RFC 1952); ``32 + 15`` accepts gzip or zlib framing.
GZIP_WBITS = 16 + zlib.MAX_WBITS
#: Memory liblzma may use for its own state (the dictionary an xz header asks for); xz's
#: largest preset needs 65 MiB, so anything near this is a hostile header.
LZMA_MEMORY_LIMIT = 256 * 2**20
#: c-blosc 1.x header: version, versionlz, flags, typesize, then nbytes, blocksize, cbytes
#: (little-endian uint32 each; c-blosc README_HEADER.rst).
_BLOSC_HEADER = struct.Struct("<BBBBIII")
#: Zstandard frame magic numbers (RFC 8878 section 3.1.1 and 3.1.2).
_ZSTD_MAGIC = 0xFD2FB528
_ZSTD_SKIPPABLE_MAGIC_MIN, _ZSTD_SKIPPABLE_MAGIC_MAX = 0x184D2A50, 0x184D2A5F
#: Largest output of one compressed zstd block (RFC 8878 section 3.1.1.2.3, Block_Maximum_Size).
_ZSTD_BLOCK_MAX = 128 * 1024
_ZSTD_RAW, _ZSTD_RLE, _ZSTD_COMPRESSED = 0, 1, 2
_UINT32 = struct.Struct("<I")


class DecompressedSizeError(ChunkError):
    """Compressed data would decompress to more bytes than the caller allows."""


def _too_large(codec: str, max_size: int) -> DecompressedSizeError:
    return DecompressedSizeError(f"{codec} data decompresses to more than {max_size} bytes")


def check_decompressed_size(data: Any, max_size: int | None, codec: str) -> Any:
    """``data`` unchanged, or DecompressedSizeError if it is longer than ``max_size``.

    For decoders that cannot stop early (a plugin's own codec): the limit still holds for
    what follows, though this decode's memory was already spent.
    """
    if max_size is not None and memoryview(data).nbytes > max_size:
        raise _too_large(codec, max_size)
    return data


def _stream(
    decompressor: Any, data: Any, produced: int, max_size: int, codec: str, errors: tuple[type[Exception], ...]
) -> bytes:
    """Feed ``data`` to a zlib/bz2/lzma decompressor, keeping at most ``max_size - produced`` bytes."""
    budget = max_size - produced
    try:
        # ``max_length`` caps the output; one byte over the budget proves the data is too large.
        result: bytes = decompressor.decompress(data, budget + 1)
    except errors as exc:
        raise ChunkError(f"corrupt {codec} data: {exc}") from None
    if len(result) > budget:
        raise _too_large(codec, max_size)
    return result


def decompress_zlib(data: Any, max_size: int, *, wbits: int = zlib.MAX_WBITS) -> bytes:
    """A zlib (or, by ``wbits``, gzip or raw deflate) stream, at most ``max_size`` bytes.

    Concatenated gzip members are decoded one after another, as gzip readers do; other
    bytes after the end of the stream are an error.
    """
    codec = "deflate" if wbits < 0 else "zlib" if wbits < 16 else "gzip"
    parts: list[bytes] = []
    produced = 0
    remaining: Any = data
    while True:
        decompressor = zlib.decompressobj(wbits)
        part = _stream(decompressor, remaining, produced, max_size, codec, (zlib.error,))
        parts.append(part)
        produced += len(part)
        if not decompressor.eof:
            raise ChunkError(f"truncated {codec} data: the stream ends before its end marker")
        remaining = decompressor.unused_data
        if wbits >= 16:
            remaining = remaining.lstrip(b"\x00")  # zero padding between gzip members, as gzip readers allow
        if not remaining:
            break
        if wbits < 16 or remaining[:2] != b"\x1f\x8b":
            raise ChunkError(f"{len(remaining)} unexpected bytes after the end of the {codec} stream")
    return parts[0] if len(parts) == 1 else b"".join(parts)


def decompress_gzip(data: Any, max_size: int) -> bytes:
    """gzip data (one or more members), at most ``max_size`` bytes."""
    return decompress_zlib(data, max_size, wbits=GZIP_WBITS)


def _multi_stream(make: Any, data: Any, max_size: int, codec: str, errors: tuple[type[Exception], ...]) -> bytes:
    """bz2 and xz: one or more concatenated streams (as ``bz2.decompress`` accepts)."""
    parts: list[bytes] = []
    produced = 0
    remaining: Any = data
    while True:
        decompressor = make()
        part = _stream(decompressor, remaining, produced, max_size, codec, errors)
        parts.append(part)
        produced += len(part)
        if not decompressor.eof:
            raise ChunkError(f"truncated {codec} data: the stream ends before its end marker")
        remaining = decompressor.unused_data
        if not remaining:
            break
    return parts[0] if len(parts) == 1 else b"".join(parts)


def decompress_bz2(data: Any, max_size: int) -> bytes:
    """bzip2 data (one or more streams), at most ``max_size`` bytes."""
    import bz2  # here, as lzma: a process that reads no bzip2 data does not load its module

    return _multi_stream(bz2.BZ2Decompressor, data, max_size, "bzip2", (OSError, ValueError))


def decompress_lzma(
    data: Any, max_size: int, *, format: int | None = None, filters: Sequence[dict[str, Any]] | None = None
) -> bytes:
    """xz / lzma data (``format`` and ``filters`` as for ``lzma.decompress``; no ``format``:
    ``lzma.FORMAT_AUTO``), at most ``max_size`` bytes; liblzma's own memory is capped at
    :data:`LZMA_MEMORY_LIMIT`."""
    import lzma  # here: a process that reads no xz data does not load liblzma

    chosen = lzma.FORMAT_AUTO if format is None else format

    def make() -> lzma.LZMADecompressor:
        if chosen == lzma.FORMAT_RAW:
            return lzma.LZMADecompressor(chosen, filters=filters)
        return lzma.LZMADecompressor(chosen, memlimit=LZMA_MEMORY_LIMIT)

    codec = "xz" if chosen == lzma.FORMAT_XZ else "lzma"
    return _multi_stream(make, data, max_size, codec, (lzma.LZMAError, EOFError))


def blosc_decompressed_size(data: Any) -> int:
    """The decompressed size a blosc buffer's header declares; ChunkError if the header is
    short or its compressed size is not the buffer's length (c-blosc trusts it)."""
    view = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    if len(view) < _BLOSC_HEADER.size:
        raise ChunkError(f"truncated blosc data: {len(view)} bytes is shorter than the {_BLOSC_HEADER.size}-byte header")
    _, _, _, _, nbytes, _, cbytes = _BLOSC_HEADER.unpack_from(view)
    if cbytes != len(view):
        raise ChunkError(f"corrupt or truncated blosc data: {len(view)} bytes, but its header says {cbytes}")
    return int(nbytes)


def decompress_blosc(data: Any, max_size: int) -> bytes:
    """blosc data, refused before decompressing if its header declares more than ``max_size`` bytes."""
    nbytes = blosc_decompressed_size(data)
    if nbytes > max_size:
        raise DecompressedSizeError(f"blosc data declares {nbytes} decompressed bytes, more than {max_size}")
    if nbytes == 0:
        return b""  # c-blosc refuses to decompress an empty buffer
    from numcodecs import blosc

    try:
        result: bytes = blosc.decompress(data)
    except RuntimeError as exc:
        raise ChunkError(f"corrupt blosc data: {exc}") from None
    return result


def _zstd_frames(view: Any) -> tuple[int, bool]:
    """Walk the frames of zstd data: (an upper bound of the decompressed size, whether every
    frame declares its size, in which case the bound is exact). Only headers are read."""
    total, exact, position, end = 0, True, 0, len(view)
    if not end:
        raise ChunkError("truncated zstd data: no frame")
    while position < end:
        if end - position < 4:
            raise ChunkError("truncated zstd data: a frame is shorter than its magic number")
        (magic,) = _UINT32.unpack_from(view, position)
        if _ZSTD_SKIPPABLE_MAGIC_MIN <= magic <= _ZSTD_SKIPPABLE_MAGIC_MAX:
            if end - position < 8:
                raise ChunkError("truncated zstd data: a skippable frame is shorter than its header")
            position += 8 + _UINT32.unpack_from(view, position + 4)[0]
            continue
        if magic != _ZSTD_MAGIC:
            raise ChunkError(f"corrupt zstd data: bad frame magic number {magic:#010x} at byte {position}")
        if position + 5 > end:
            raise ChunkError("truncated zstd data: the frame header is cut short")
        descriptor = view[position + 4]
        content_size_flag, single_segment = descriptor >> 6, (descriptor >> 5) & 1
        checksum, dictionary_flag = (descriptor >> 2) & 1, descriptor & 3
        header = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[dictionary_flag]
        content_field = (1 if single_segment else 0, 2, 4, 8)[content_size_flag]
        if position + header + content_field > end:
            raise ChunkError("truncated zstd data: the frame header is cut short")
        if content_field:
            start = position + header
            content_size = int.from_bytes(bytes(view[start : start + content_field]), "little")
            total += content_size + (256 if content_field == 2 else 0)
        else:
            exact = False
        position += header + content_field
        frame_output = 0
        while True:  # blocks: 3-byte little-endian headers (RFC 8878 section 3.1.1.2)
            if position + 3 > end:
                raise ChunkError("truncated zstd data: a block header is cut short")
            block = int.from_bytes(bytes(view[position : position + 3]), "little")
            last, block_type, block_size = block & 1, (block >> 1) & 3, block >> 3
            if block_type == _ZSTD_RAW:
                position += 3 + block_size
                frame_output += block_size
            elif block_type == _ZSTD_RLE:
                position += 4
                frame_output += block_size
            elif block_type == _ZSTD_COMPRESSED:
                position += 3 + block_size
                frame_output += _ZSTD_BLOCK_MAX
            else:
                raise ChunkError("corrupt zstd data: reserved block type")
            if position > end:
                raise ChunkError("truncated zstd data: a block is cut short")
            if last:
                break
        position += 4 * checksum
        if not content_field:
            total += frame_output
    if position > end:
        raise ChunkError("truncated zstd data: the frame checksum is cut short")
    return total, exact


_zstandard_local = threading.local()


def _decompress_one_frame(view: Any, size: int) -> bytes | None:
    """Data of exactly one zstd frame declaring its ``size``, decoded with the ``zstandard``
    package where it is installed (ts-zarr's encoder): importing it costs next to nothing,
    where importing numcodecs' zstd (its package imports every codec) costs a process
    15-40 ms, a tenth of a short ``ts`` command. None for anything else -- no
    ``zstandard``, several or skippable frames, corrupt data -- which numcodecs decodes
    (or names the fault of)."""
    decompressor = getattr(_zstandard_local, "decompressor", None)
    if decompressor is None:
        try:
            import zstandard
        except ImportError:
            return None
        decompressor = _zstandard_local.decompressor = zstandard.ZstdDecompressor()
        _zstandard_local.error = zstandard.ZstdError
    try:
        result: bytes = decompressor.decompress(view, max_output_size=size, allow_extra_data=False)
    except (_zstandard_local.error, TypeError):  # TypeError: a zstandard older than 0.20
        return None
    return result if len(result) == size else None


def decompress_zstd(data: Any, max_size: int) -> bytes:
    """Zstandard data (one or more frames), at most ``max_size`` bytes.

    Frames declaring their size are refused before decompressing when the sizes add up to
    more than ``max_size``; frames that do not are bounded by their block count, and if that
    bound is over the limit, decompressed into a ``max_size``-byte buffer that cannot grow.
    """
    view = data if isinstance(data, bytes) else memoryview(data).cast("B")
    bound, exact = _zstd_frames(view)
    if exact and bound > max_size:
        raise DecompressedSizeError(f"zstd data declares {bound} decompressed bytes, more than {max_size}")
    if exact and bound == 0:
        return b""  # numcodecs' zstd cannot decode frames of no content
    if exact:
        single = _decompress_one_frame(view, bound)
        if single is not None:
            return single
    from numcodecs import zstd
    try:
        if bound <= max_size:
            result: bytes = zstd.decompress(data)  # allocates at most ``bound`` bytes
            return result
        import numpy as np

        # Frames of unknown size whose blocks could produce more than the limit: decode into
        # a fixed buffer; zstd stops with "too small" rather than writing past it.
        out = np.empty(max_size, dtype=np.uint8)
        try:
            zstd.decompress(data, out)
        except RuntimeError as exc:
            if "too small" in str(exc):
                raise _too_large("zstd", max_size) from None
            # Fewer bytes than the buffer: now known to be within the limit.
            result = zstd.decompress(data)
            return result
        return out.tobytes()
    except DecompressedSizeError:
        raise
    except (RuntimeError, ValueError) as exc:
        raise ChunkError(f"corrupt zstd data: {exc}") from None
