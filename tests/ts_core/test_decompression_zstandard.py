"""zstd frames of known size decode through the ``zstandard`` package, with numcodecs' result."""

from __future__ import annotations

import subprocess
import sys

import numcodecs
import pytest

from ts_core import decompression
from ts_core.errors import ChunkError

zstandard = pytest.importorskip("zstandard")

DATA = bytes(range(256)) * 300 + b"tail"


@pytest.mark.parametrize("checksum", [False, True])
@pytest.mark.parametrize("level", [1, 5])
def test_a_single_frame_decodes_as_numcodecs_does(level: int, checksum: bool) -> None:
    frame = zstandard.ZstdCompressor(level=level, write_checksum=checksum).compress(DATA)
    assert decompression._decompress_one_frame(memoryview(frame), len(DATA)) == DATA
    assert decompression.decompress_zstd(frame, len(DATA)) == bytes(numcodecs.Zstd().decode(frame)) == DATA
    assert decompression.decompress_zstd(bytearray(frame), len(DATA) + 7) == DATA


def test_what_is_not_one_sound_frame_goes_to_numcodecs() -> None:
    compressor = zstandard.ZstdCompressor(level=1, write_checksum=True)
    first, second = compressor.compress(b"a" * 100), compressor.compress(b"b" * 50)
    assert decompression._decompress_one_frame(first + second, 150) is None
    assert decompression.decompress_zstd(first + second, 150) == b"a" * 100 + b"b" * 50
    corrupt = bytearray(first)
    corrupt[-1] ^= 0xFF  # the checksum
    assert decompression._decompress_one_frame(bytes(corrupt), 100) is None
    with pytest.raises(ChunkError, match="corrupt zstd data"):
        decompression.decompress_zstd(bytes(corrupt), 100)


def test_decoding_a_zstd_frame_does_not_import_numcodecs() -> None:
    code = (
        "import sys, zstandard\n"
        "from ts_core.decompression import decompress_zstd\n"
        "frame = zstandard.ZstdCompressor(level=1).compress(b'abc' * 100)\n"
        "assert decompress_zstd(frame, 300) == b'abc' * 100\n"
        "print('numcodecs' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False"
