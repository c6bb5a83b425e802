"""ts_core.decompression: every decoder stops at ``max_size`` and reports corrupt or truncated data."""

from __future__ import annotations

import bz2
import gzip
import lzma
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

import numcodecs
import pytest

from ts_core import decompression
from ts_core.decompression import DecompressedSizeError
from ts_core.errors import ChunkError

BOMB_NBYTES = 32 * 2**20
LIMIT = 64 * 1024
#: Traced memory a refused decode may use (decoder state, xz's preset-0 dictionary, the output limit).
MEMORY_ALLOWANCE = 1 * 2**20
DATA = bytes(range(256)) * 64 + b"tail"

CODECS: dict[str, tuple[Callable[[bytes], bytes], Callable[[Any, int], bytes]]] = {
    "zlib": (lambda data: zlib.compress(data, 1), decompression.decompress_zlib),
    "gzip": (lambda data: gzip.compress(data, 1), decompression.decompress_gzip),
    "bz2": (lambda data: bz2.compress(data, 1), decompression.decompress_bz2),
    "xz": (lambda data: lzma.compress(data, preset=0), decompression.decompress_lzma),
    "zstd": (lambda data: bytes(numcodecs.Zstd(level=1).encode(data)), decompression.decompress_zstd),
    "blosc": (lambda data: bytes(numcodecs.Blosc(cname="zstd").encode(data)), decompression.decompress_blosc),
}


def traced(call: Callable[[], Any]) -> tuple[BaseException | None, int]:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        try:
            call()
        except Exception as exc:
            return exc, tracemalloc.get_traced_memory()[1] - before
        return None, tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", list(CODECS))
def test_round_trip_at_the_exact_limit_and_one_byte_under(name: str) -> None:
    compress, decompress = CODECS[name]
    encoded = compress(DATA)
    assert bytes(decompress(encoded, len(DATA))) == DATA
    assert bytes(decompress(memoryview(encoded), len(DATA) + 100)) == DATA
    with pytest.raises(DecompressedSizeError, match=f"more than {len(DATA) - 1}"):
        decompress(encoded, len(DATA) - 1)


@pytest.mark.parametrize("name", list(CODECS))
def test_bomb_is_refused_with_bounded_memory(name: str) -> None:
    compress, decompress = CODECS[name]
    encoded = compress(bytes(BOMB_NBYTES))
    decompress(compress(b"warm up"), 100)
    error, peak = traced(lambda: decompress(encoded, LIMIT))
    assert isinstance(error, DecompressedSizeError)
    assert isinstance(error, ChunkError)
    assert isinstance(error, ValueError)
    assert f"more than {LIMIT}" in str(error)
    assert peak < MEMORY_ALLOWANCE, f"{peak} bytes traced refusing {len(encoded)} bytes"


@pytest.mark.parametrize("name", list(CODECS))
def test_truncated_and_corrupt_data_are_clear_errors(name: str) -> None:
    compress, decompress = CODECS[name]
    encoded = compress(DATA)
    for cut in (len(encoded) - 1, len(encoded) // 2, 3):
        with pytest.raises(ChunkError, match=r"truncated|corrupt"):
            decompress(encoded[:cut], len(DATA))
    with pytest.raises(ChunkError, match=r"truncated|corrupt"):
        decompress(b"\x00" * 40, len(DATA))


def test_zlib_trailing_bytes_and_gzip_members() -> None:
    with pytest.raises(ChunkError, match="3 unexpected bytes after the end of the zlib stream"):
        decompression.decompress_zlib(zlib.compress(DATA) + b"xyz", len(DATA))
    two_members = gzip.compress(b"abc") + b"\x00\x00" + gzip.compress(b"def")
    assert decompression.decompress_gzip(two_members, 6) == b"abcdef"
    with pytest.raises(DecompressedSizeError):
        decompression.decompress_gzip(two_members, 5)  # the limit spans members
    # wbits 32 + 15 accepts either framing.
    assert decompression.decompress_zlib(gzip.compress(b"abc"), 3, wbits=47) == b"abc"
    assert decompression.decompress_zlib(zlib.compress(b"abc"), 3, wbits=47) == b"abc"


def test_bz2_and_xz_streams_concatenate_within_the_limit() -> None:
    assert decompression.decompress_bz2(bz2.compress(b"abc") + bz2.compress(b"de"), 5) == b"abcde"
    with pytest.raises(DecompressedSizeError):
        decompression.decompress_bz2(bz2.compress(b"abc") + bz2.compress(b"de"), 4)
    assert decompression.decompress_lzma(lzma.compress(b"abc") + lzma.compress(b"de"), 5) == b"abcde"
    filters = [{"id": lzma.FILTER_LZMA2, "preset": 1}]
    raw = lzma.compress(DATA, format=lzma.FORMAT_RAW, filters=filters)
    assert decompression.decompress_lzma(raw, len(DATA), format=lzma.FORMAT_RAW, filters=filters) == DATA


def test_xz_header_asking_for_a_huge_dictionary_is_refused() -> None:
    filters = [{"id": lzma.FILTER_LZMA2, "dict_size": 512 * 2**20, "mode": lzma.MODE_FAST, "nice_len": 8, "mf": lzma.MF_HC3, "depth": 1}]
    try:
        encoded = lzma.compress(b"abc", format=lzma.FORMAT_XZ, filters=filters)
    except (MemoryError, lzma.LZMAError):
        pytest.skip("this machine cannot build a 512 MiB-dictionary xz stream")
    with pytest.raises(ChunkError, match=r"corrupt (xz|lzma) data"):
        decompression.decompress_lzma(encoded, 10)


def without_content_size(frame: bytes, window_log: int = 17) -> bytes:
    """The same zstd frame with its content size left out (as streaming compressors write):
    a window descriptor instead of a single-segment content size (RFC 8878 3.1.1.1)."""
    descriptor = frame[4]
    assert descriptor & 0b0000_0011 == 0  # no dictionary id
    checksum = descriptor & 0b0000_0100
    if descriptor & 0b0010_0000:  # single segment: the content size is the window
        size_field = (1, 2, 4, 8)[descriptor >> 6]
        window = bytes([(window_log - 10) << 3])  # the window must cover the frame's content
        return frame[:4] + bytes([checksum]) + window + frame[5 + size_field :]
    size_field = (0, 2, 4, 8)[descriptor >> 6]
    return frame[:4] + bytes([checksum]) + frame[5:6] + frame[6 + size_field :]


def test_zstd_frames_without_a_content_size() -> None:
    encoded = without_content_size(bytes(numcodecs.Zstd(level=1).encode(DATA)))
    assert decompression.decompress_zstd(encoded, len(DATA)) == DATA
    assert decompression.decompress_zstd(encoded, 10 * len(DATA)) == DATA
    tiny = without_content_size(bytes(numcodecs.Zstd(level=1).encode(b"abc" * 40)))
    # One compressed block could produce 128 KiB; the real 120 bytes still fit these limits.
    assert decompression.decompress_zstd(tiny, 120) == b"abc" * 40
    assert decompression.decompress_zstd(tiny, 1000) == b"abc" * 40
    with pytest.raises(DecompressedSizeError, match="more than 119"):
        decompression.decompress_zstd(tiny, 119)
    with pytest.raises(ChunkError, match="truncated"):
        decompression.decompress_zstd(encoded[:-2], len(DATA))


def test_zstd_bomb_without_a_content_size_is_refused() -> None:
    # 32 MiB of zeros in a 32 MiB window, no declared size: only the blocks bound the output.
    stream = numcodecs.Zstd(level=1).encode(bytes(BOMB_NBYTES))
    frame = without_content_size(bytes(stream))
    assert len(frame) < 4096
    error, peak = traced(lambda: decompression.decompress_zstd(frame, 1000))
    assert isinstance(error, DecompressedSizeError), error
    assert peak < MEMORY_ALLOWANCE


def test_zstd_multiple_and_skippable_frames() -> None:
    first, second = (bytes(numcodecs.Zstd().encode(part)) for part in (b"a" * 100, b"b" * 50))
    skippable = (0x184D2A53).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"xyz"
    assert decompression.decompress_zstd(first + skippable + second, 150) == b"a" * 100 + b"b" * 50
    with pytest.raises(DecompressedSizeError, match="declares 150 decompressed bytes, more than 149"):
        decompression.decompress_zstd(first + second, 149)
    with pytest.raises(ChunkError, match="bad frame magic"):
        decompression.decompress_zstd(first + b"junk", 1000)
    assert decompression.decompress_zstd(bytes(numcodecs.Zstd(checksum=True).encode(b"")), 0) == b""
    with pytest.raises(ChunkError, match="truncated zstd data: no frame"):
        decompression.decompress_zstd(b"", 10)


def test_blosc_header_is_checked_before_decompressing() -> None:
    encoded = bytes(numcodecs.Blosc().encode(DATA))
    assert decompression.blosc_decompressed_size(encoded) == len(DATA)
    with pytest.raises(DecompressedSizeError, match=f"blosc data declares {len(DATA)} decompressed bytes, more than 10"):
        decompression.decompress_blosc(encoded, 10)
    with pytest.raises(ChunkError, match="shorter than the 16-byte header"):
        decompression.decompress_blosc(encoded[:10], len(DATA))
    assert decompression.decompress_blosc(bytes(numcodecs.Blosc().encode(b"")), 0) == b""


def test_check_decompressed_size() -> None:
    assert decompression.check_decompressed_size(b"abc", 3, "mine") == b"abc"
    assert decompression.check_decompressed_size(b"abc", None, "mine") == b"abc"
    with pytest.raises(DecompressedSizeError, match="mine data decompresses to more than 2 bytes"):
        decompression.check_decompressed_size(b"abc", 2, "mine")
