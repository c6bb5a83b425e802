"""Partitioning onto chunk grids: gathering/scattering through the parts must reproduce direct
NumPy indexing of the whole array, on random transforms and grids."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import ts_core.index_space as ts
from ts_core.index_space._transform import map_values

from .index_space_strategies import numpy_index

ARRAY_SHAPE = (7, 9, 5)


def output_indices(t: ts.IndexTransform) -> list[np.ndarray]:
    """Output index of every input position, one full array per output dimension."""
    return [np.broadcast_to(map_values(m, t.domain), t.domain.shape) for m in t.output]


def chunk_of(
    data: np.ndarray, grid: tuple[int, ...], chunk: tuple[int, ...], origin: tuple[int, ...]
) -> np.ndarray:
    """The chunk's own array (fill 0 outside the data), as a chunked driver would hold it."""
    out = np.zeros(chunk, dtype=data.dtype)
    region = []
    target = []
    for g, c, o, n in zip(grid, chunk, origin, data.shape, strict=True):
        start = o + g * c
        lo, hi = max(start, 0), min(start + c, n)
        region.append(slice(lo, max(lo, hi)))
        target.append(slice(lo - start, lo - start + max(0, hi - lo)))
    out[tuple(target)] = data[tuple(region)]
    return out


@st.composite
def view_transform(draw: Any) -> ts.IndexTransform:
    base = ts.IndexTransform(input_shape=ARRAY_SHAPE)
    t = base
    for _ in range(draw(st.integers(1, 2))):
        index = draw(numpy_index())
        mode = draw(st.sampled_from(("default", "oindex", "vindex")))
        try:
            t = (t if mode == "default" else getattr(t, mode))[index]
        except (IndexError, ValueError):
            assume(False)
    if draw(st.booleans()):
        t = t[ts.d[:].translate_by[draw(st.integers(-3, 3))]]
    if draw(st.booleans()) and t.ndim > 1:
        t = t.T
    return t


def _in_bounds(t: ts.IndexTransform) -> bool:
    return all(
        lo >= 0 and hi < n
        for (lo, hi), n in zip(ts.output_index_bounds(t), ARRAY_SHAPE, strict=True)
        if lo <= hi
    )


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    view_transform(),
    st.tuples(*(st.integers(1, 4) for _ in ARRAY_SHAPE)),
    st.tuples(*(st.integers(-2, 2) for _ in ARRAY_SHAPE)),
)
def test_partition_gathers_and_scatters_like_numpy(
    t: ts.IndexTransform, chunk: Any, origin: Any
) -> None:
    assume(_in_bounds(t) and all(np.isfinite(float(n)) and n < 1000 for n in t.domain.shape))
    rng = np.random.default_rng(0)
    data = rng.integers(0, 1_000_000, size=ARRAY_SHAPE)
    expected = (
        data[tuple(output_indices(t))] if t.domain.size else np.empty(t.domain.shape, data.dtype)
    )
    got = np.full(t.domain.shape, -1, dtype=data.dtype)
    seen = set()
    for part in ts.partition_index_transform(t, chunk, origin):
        assert part.grid_indices not in seen  # one part per chunk
        seen.add(part.grid_indices)
        got[part.array_selection] = chunk_of(data, part.grid_indices, chunk, origin)[
            part.cell_selection
        ]
    np.testing.assert_array_equal(got, expected)
    # Scatter: every written element takes one of the values written to its position.
    source = rng.integers(0, 1_000_000, size=t.domain.shape)
    written = np.zeros(ARRAY_SHAPE, dtype=data.dtype)
    for part in ts.partition_index_transform(t, chunk, origin):
        block = chunk_of(written, part.grid_indices, chunk, origin)
        block[part.cell_selection] = source[part.array_selection]
        starts = [o + g * c for g, c, o in zip(part.grid_indices, chunk, origin, strict=True)]
        region = tuple(
            slice(max(s, 0), min(s + c, n))
            for s, c, n in zip(starts, chunk, ARRAY_SHAPE, strict=True)
        )
        inner = tuple(slice(r.start - s, r.stop - s) for r, s in zip(region, starts, strict=True))
        written[region] = block[inner]
    reference = np.zeros(ARRAY_SHAPE, dtype=data.dtype)
    if t.domain.size:
        reference[tuple(output_indices(t))] = source
        outs = np.stack([o.reshape(-1) for o in output_indices(t)]) if t.output_rank else None
        if outs is not None and len({tuple(c) for c in outs.T}) != outs.shape[1]:
            return  # duplicate targets: which source wins is unspecified
    np.testing.assert_array_equal(written, reference)


def test_box_uses_slices_only() -> None:
    t = ts.IndexTransform(input_shape=[512, 512, 512])[10:300, ::-3, 5]
    parts = list(ts.partition_index_transform(t, (64, 64, 64)))
    assert parts
    for part in parts:
        assert all(isinstance(s, slice | int) for s in part.cell_selection)
        assert all(isinstance(s, slice) for s in part.array_selection)
    assert {p.grid_indices[2] for p in parts} == {0}
    covered = sum(
        np.prod(
            [
                len(range(*s.indices(n)))
                for s, n in zip(p.array_selection, t.domain.shape, strict=True)
            ]
        )
        for p in parts
    )
    assert covered == t.domain.size


def test_output_index_bounds_and_errors() -> None:
    t = ts.IndexTransform(input_shape=[4, 5])[1:3, [0, 4, 2]]
    assert ts.output_index_bounds(t) == [(1, 2), (0, 4)]
    assert ts.output_index_bounds(ts.IndexTransform(input_shape=[0, 2])) == [(0, -1), (0, -1)]
    with pytest.raises(ValueError, match="unbounded"):
        list(ts.partition_index_transform(ts.IndexTransform(1), (4,)))
    with pytest.raises(ValueError, match="rank"):
        list(ts.partition_index_transform(ts.IndexTransform(input_shape=[3]), (4, 4)))
    assert list(ts.partition_index_transform(ts.IndexTransform(input_shape=[0]), (4,))) == []
