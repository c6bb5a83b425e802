"""FillChunk.equals is a byte-exact comparison with the fill chunk, whatever the chunk's
size (small chunks are compared whole, large ones probed first) and layout."""

from __future__ import annotations

import numpy as np
import pytest

import ts_core as ts
from ts_core.driver._fill import SMALL_CHUNK_BYTES, FillChunk


@pytest.mark.parametrize("shape", [(8, 8, 8), (64, 64)], ids=["small", "large"])
@pytest.mark.parametrize("fill_value", [0.0, np.nan, -0.0, 3.5])
def test_equals_is_byte_exact(shape: tuple[int, ...], fill_value: float) -> None:
    fill = FillChunk(lambda: np.full(shape, fill_value, np.float32))
    assert (fill.chunk.nbytes <= SMALL_CHUNK_BYTES) == (len(shape) == 3)
    rng = np.random.default_rng(0)
    candidates = [
        np.full(shape, fill_value, np.float32),
        np.full(shape, fill_value, np.float32, order="F"),
        np.full([2 * n for n in shape], fill_value, np.float32)[tuple(slice(None, None, 2) for _ in shape)],
        np.full(shape, -fill_value if fill_value == 0 else fill_value + 1, np.float32),
        rng.random(shape, dtype=np.float32),
    ]
    changed = np.full(shape, fill_value, np.float32)
    changed.flat[changed.size // 2 + 1] = 7  # off the probed positions
    candidates.append(changed)
    for storage in candidates:
        assert fill.equals(storage) == (storage.tobytes() == fill.chunk.tobytes())
    assert not fill.equals(np.full([n + 1 for n in shape], fill_value, np.float32))


def test_small_chunks_equal_to_the_fill_value_are_not_stored() -> None:
    store = ts.open(
        {"driver": "zarr3", "kvstore": "memory://", "metadata": {"fill_value": "NaN"}},
        create=True, dtype=ts.float32, shape=[16, 16], chunk_layout=ts.ChunkLayout(chunk_shape=[4, 4]),
    ).result()
    data = np.full((16, 16), np.nan, np.float32)
    data[0, 0] = 1
    data[5, 5] = -0.0
    store.write(data).result()
    stored = store.kvstore.list().result()
    assert sorted(stored) == [b"c/0/0", b"c/1/1", b"zarr.json"]
