"""A ChunkLayout without a rank (``ChunkLayout(chunk_elements=20)``) constrains an array of
any rank at creation, as in the tensorstore wheel; the chosen chunk shapes are compared."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import ts_core

tensorstore = pytest.importorskip("tensorstore")

LAYOUTS: dict[str, Callable[[Any], Any]] = {
    "chunk_elements": lambda ts: ts.ChunkLayout(chunk_elements=20),
    "write_chunk_elements": lambda ts: ts.ChunkLayout(write_chunk_elements=1000),
    "read_chunk_elements": lambda ts: ts.ChunkLayout(read_chunk_elements=64),
    "both_elements": lambda ts: ts.ChunkLayout(read_chunk_elements=64, write_chunk_elements=4096),
}

SHAPES = ([100, 50], [30, 20, 10], [1000])


def _created_chunks(ts: Any, driver: str, shape: list[int], layout: Any) -> Any:
    """The (read, write) chunk shapes of the created array, or the error's type."""
    try:
        store = ts.open({"driver": driver, "kvstore": "memory://"}, create=True, dtype="uint16",
                        shape=shape, chunk_layout=layout).result()
    except ValueError as exc:  # zarr and n5 have one chunk grid: 64 and 4096 elements conflict
        return "ValueError naming read_chunk" if "read_chunk" in str(exc) else f"ValueError: {exc}"
    return store.chunk_layout.read_chunk.shape, store.chunk_layout.write_chunk.shape


@pytest.mark.parametrize("driver", ["zarr", "zarr3", "n5"])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: "x".join(map(str, shape)))
def test_rankless_layout_chooses_the_wheels_chunks(driver: str, layout: str, shape: list[int]) -> None:
    ours = _created_chunks(ts_core, driver, shape, LAYOUTS[layout](ts_core))
    theirs = _created_chunks(tensorstore, driver, shape, LAYOUTS[layout](tensorstore))
    assert ours == theirs


@pytest.mark.parametrize("ts", [ts_core, tensorstore], ids=["ts_core", "tensorstore"])
def test_rankless_layout_has_rank_minus_one_and_fits_in_a_schema(ts: Any) -> None:
    layout = ts.ChunkLayout(chunk_elements=20)
    assert layout.rank == -1
    schema = ts.Schema(rank=2, chunk_layout=layout)
    assert schema.rank == 2
    store = ts.open({"driver": "zarr", "kvstore": "memory://"}, create=True, dtype="int8",
                    shape=[8, 8], schema=schema).result()
    assert store.chunk_layout.read_chunk.shape == (4, 4)


def test_ranked_layout_of_another_rank_is_still_refused() -> None:
    with pytest.raises(ValueError, match="rank"):
        ts_core.open({"driver": "zarr", "kvstore": "memory://"}, create=True, dtype="int8", shape=[8, 8],
                     chunk_layout=ts_core.ChunkLayout(read_chunk_shape=[2, 2, 2])).result()
    with pytest.raises(ValueError, match="rank"):
        tensorstore.open({"driver": "zarr", "kvstore": "memory://"}, create=True, dtype="int8", shape=[8, 8],
                         chunk_layout=tensorstore.ChunkLayout(read_chunk_shape=[2, 2, 2])).result()
