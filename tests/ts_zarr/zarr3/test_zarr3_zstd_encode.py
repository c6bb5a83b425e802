"""zarr3's zstd codec encodes with zstandard where installed, as ``encode_into`` does; numcodecs
and the wheel read what it writes."""

from __future__ import annotations

import numcodecs
import numpy as np
import pytest

from ts_zarr.zarr3._codecs import ZstdCodec

pytest.importorskip("zstandard")


@pytest.mark.parametrize(("level", "checksum"), [(1, False), (3, True), (-5, False), (19, True)])
def test_encode_matches_encode_into_and_decodes(level: int, checksum: bool) -> None:
    data = (np.arange(64 * 64, dtype=np.uint32) // 7 % 4096).astype(np.uint16).reshape(64, 64)
    codec = ZstdCodec(level, checksum)
    encoded = codec.encode(data)
    assert codec.encode(data.tobytes()) == encoded
    out = memoryview(bytearray(codec.max_encoded_size(data.nbytes)))
    written = codec.encode_into(data, out)
    assert written is not None
    assert bytes(out[:written]) == encoded
    assert bytes(numcodecs.Zstd().decode(encoded)) == data.tobytes()
