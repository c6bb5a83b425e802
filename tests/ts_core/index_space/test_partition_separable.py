"""The per-dimension (separable) partition of boxes, strides, translations, permutations and
orthogonal index arrays, against the general sort-based path: the same chunks, and the same
bytes gathered and scattered, in both the caller's order and chunk (storage) order."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import ts_core.index_space as ts
from ts_core.driver._part_copy import PartCopy
from ts_core.index_space._partition import (
    ORTHOGONAL,
    POINTWISE,
    _partition_general,
    _Separable,
    partition_for_copy,
    partition_in_storage_order,
)
from ts_core.index_space._transform import map_values

SHAPES = ((7, 9, 5), (6,), (5, 4), (3, 4, 2, 5))


def chunk_of(data: np.ndarray, grid: tuple[int, ...], chunk: tuple[int, ...], origin: tuple[int, ...]) -> np.ndarray:
    """The chunk's own array (-1 outside the data), as a chunked driver would hold it."""
    out = np.full(chunk, -1, dtype=data.dtype)
    region, inner = [], []
    for g, c, o, n in zip(grid, chunk, origin, data.shape, strict=True):
        start = o + g * c
        lo, hi = max(start, 0), max(min(start + c, n), max(start, 0))
        region.append(slice(lo, hi))
        inner.append(slice(lo - start, hi - start))
    out[tuple(inner)] = data[tuple(region)]
    return out


@st.composite
def separable_view(draw: Any) -> tuple[ts.IndexTransform, tuple[int, ...]]:
    """A view made of the operations the separable path covers, over an array of some shape."""
    shape = draw(st.sampled_from(SHAPES))
    t = ts.IndexTransform(input_shape=shape)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(("slice", "int", "transpose", "translate", "oindex", "newaxis")))
        rank = t.input_rank
        if rank == 0 or t.domain.size == 0:
            break
        dim = draw(st.integers(0, rank - 1))
        lo, hi = t.domain[dim].inclusive_min, t.domain[dim].exclusive_max
        if op == "slice":
            step = draw(st.sampled_from((1, 2, 3, -1, -2)))
            start = draw(st.integers(lo, hi - 1))
            stop = draw(st.integers(start, hi) if step > 0 else st.integers(lo - 1, start))
            try:
                t = t[ts.d[dim][start:stop:step]]
            except (IndexError, ValueError):
                assume(False)
        elif op == "int":
            t = t[ts.d[dim][draw(st.integers(lo, hi - 1))]]
        elif op == "transpose":
            order = draw(st.permutations(range(rank)))
            t = t[ts.d[tuple(order)].transpose[:]]
        elif op == "translate":
            t = t[ts.d[dim].translate_by[draw(st.integers(-4, 4))]]
        elif op == "oindex":
            values = draw(st.lists(st.integers(lo, hi - 1), min_size=1, max_size=5))
            t = t[ts.d[dim].oindex[np.array(values)]]
        else:  # a new dimension of extent 1, which feeds no output
            t = t[(slice(None),) * draw(st.integers(0, rank)) + (None,)]
    return t, shape


def output_indices(t: ts.IndexTransform) -> list[np.ndarray]:
    return [np.broadcast_to(map_values(m, t.domain), t.domain.shape) for m in t.output]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(
    separable_view(),
    st.lists(st.integers(1, 4), min_size=4, max_size=4),
    st.lists(st.integers(-2, 2), min_size=4, max_size=4),
)
@example((ts.IndexTransform(input_shape=[7, 9, 5]).T, (7, 9, 5)), [3, 4, 2, 1], [0, 0, 0, 0])
@example((ts.IndexTransform(input_shape=[7, 9, 5])[::-2, 1:8, ::-1].T, (7, 9, 5)), [2, 3, 4, 1], [1, -1, 0, 0])
@example((ts.IndexTransform(input_shape=[7, 9, 5]).oindex[[6, 0, 3], 2, [4, 4, 1]], (7, 9, 5)), [2, 2, 2, 1], [0, 0, 0, 0])
@example((ts.IndexTransform(input_shape=[7, 9, 5])[None, 2:5, :, None, 3].T, (7, 9, 5)), [4, 3, 2, 1], [0, 1, 0, 0])
def test_separable_matches_general_path(view: Any, chunk_list: list[int], origin_list: list[int]) -> None:
    t, shape = view
    # (A new dimension sliced wider than 1 is a broadcast dimension: the general path's.)
    assume(t.domain.size > 0)
    assume(_Separable.build(t, tuple(chunk_list[: len(shape)]), tuple(origin_list[: len(shape)])) is not None)
    chunk = tuple(chunk_list[: len(shape)])
    origin = tuple(origin_list[: len(shape)])
    rng = np.random.default_rng(0)
    data = rng.integers(0, 1_000_000, size=shape)
    expected = data[tuple(output_indices(t))]
    general = list(_partition_general(t, chunk, origin))
    in_order = list(ts.partition_index_transform(t, chunk, origin))
    order, storage_parts = partition_in_storage_order(t, chunk, origin)
    storage = list(storage_parts)
    touched = sorted(p.grid_indices for p in general)
    assert sorted(p.grid_indices for p in in_order) == touched
    assert sorted(p.grid_indices for p in storage) == touched
    assert len(set(touched)) == len(touched)
    assert sorted(order) == list(range(t.input_rank))
    # Gather: the same bytes through the caller's order and through the transposed view.
    for parts, target_order in ((in_order, None), (storage, order)):
        got = np.full(t.domain.shape, -2, dtype=data.dtype)
        view_of_got = got if target_order is None else got.transpose(target_order)
        for part in parts:
            view_of_got[part.array_selection] = chunk_of(data, part.grid_indices, chunk, origin)[part.cell_selection]
        np.testing.assert_array_equal(got, expected)
    # The read engine's form: the same chunks, and PartCopy gathers the same bytes.
    copy_order, copy_parts, vectors = partition_for_copy(t, chunk, origin)
    copied = list(copy_parts)
    assert sorted(p.grid_indices for p in copied) == touched
    assert vectors in (None, ORTHOGONAL)
    got = np.full(t.domain.shape, -2, dtype=data.dtype)
    copy = PartCopy(got, copy_order, vectors)
    for part in copied:
        copy(part, chunk_of(data, part.grid_indices, chunk, origin))
    np.testing.assert_array_equal(got, expected)
    # Scatter: the chunks written hold what the general path's write puts there.
    source = rng.integers(0, 1_000_000, size=t.domain.shape)
    written = {}
    for part in general:
        block = chunk_of(data, part.grid_indices, chunk, origin)
        block[part.cell_selection] = source[part.array_selection]
        written[part.grid_indices] = block
    duplicates = len({tuple(c) for c in np.stack([o.reshape(-1) for o in output_indices(t)]).T}) != t.domain.size
    for parts, source_order in ((in_order, None), (storage, order)):
        viewed = source if source_order is None else source.transpose(source_order)
        for part in parts:
            block = chunk_of(data, part.grid_indices, chunk, origin)
            block[part.cell_selection] = viewed[part.array_selection]
            if not duplicates:  # with repeated targets which source wins is unspecified
                np.testing.assert_array_equal(block, written[part.grid_indices])


def test_transpose_partitions_into_slices_in_storage_order() -> None:
    t = ts.IndexTransform(input_shape=[512, 384, 256])[ts.d[2, 0, 1].transpose[:]][10:200, ::-3, 5:250]
    order, parts = partition_in_storage_order(t, (64, 64, 64))
    assert order == (1, 2, 0)
    for part in parts:
        assert all(isinstance(s, slice) for s in part.cell_selection)
        assert all(isinstance(s, slice) for s in part.array_selection)
    # The caller's order gives small open-mesh index arrays (one vector per dimension).
    for part in ts.partition_index_transform(t, (64, 64, 64)):
        assert all(isinstance(s, slice) for s in part.array_selection)
        assert sum(np.size(s) for s in part.cell_selection) <= 3 * 64


@pytest.mark.parametrize(
    "view",
    [
        ts.IndexTransform(input_shape=[6, 6])[ts.d[0].diagonal],  # diagonal
        ts.IndexTransform(input_shape=[6, 6]).vindex[[1, 2], [3, 4]],  # joint index arrays
        ts.IndexTransform(input_shape=[6, 6])[None, :, 1][ts.d[0].stride[1]],
    ],
)
def test_general_path_still_covers_the_rest(view: ts.IndexTransform) -> None:
    chunk = (4,) * view.output_rank
    order, parts = partition_in_storage_order(view, chunk)
    expected = list(_partition_general(view, chunk, (0,) * view.output_rank)) if view.domain.size else []
    if _Separable.build(view, chunk, (0,) * view.output_rank) is None:
        assert order == tuple(range(view.input_rank))
        got = list(parts)
        assert [p.grid_indices for p in got] == [p.grid_indices for p in expected]


def test_broadcast_dimension_takes_the_general_path() -> None:
    view = ts.IndexTransform(input_shape=[6])[ts.d[0].stride[1]][None]
    broadcast = ts.IndexTransform(input_shape=[3, 6], output=[ts.OutputIndexMap(input_dimension=1)])
    assert _Separable.build(broadcast, (4,), (0,)) is None  # input 0 (extent 3) feeds nothing
    assert _Separable.build(view, (4,), (0,)) is not None  # a new axis of extent 1 is fine
    data = np.arange(6)
    got = np.empty((3, 6), dtype=data.dtype)
    for part in ts.partition_index_transform(broadcast, (4,)):
        got[part.array_selection] = chunk_of(data, part.grid_indices, (4,), (0,))[part.cell_selection]
    np.testing.assert_array_equal(got, np.broadcast_to(data, (3, 6)))


def test_separable_parts_know_their_count_before_they_are_made() -> None:
    import operator

    t = ts.IndexTransform(input_shape=[40, 30, 20]).T[::3]
    _, parts = partition_in_storage_order(t, (8, 8, 8))
    expected = len(list(partition_in_storage_order(t, (8, 8, 8))[1]))
    assert operator.length_hint(parts) == expected == 3 * 4 * 5
    next(parts)
    assert operator.length_hint(parts) == expected - 1
    assert len(list(parts)) == expected - 1


@st.composite
def general_view(draw: Any) -> tuple[ts.IndexTransform, tuple[int, ...]]:
    """A view the separable plan refuses: points of joint index arrays (vindex), a diagonal,
    or a broadcast dimension, after an optional slice or transpose."""
    shape = draw(st.sampled_from(SHAPES[:2] + SHAPES[3:]))
    t = ts.IndexTransform(input_shape=shape)
    if draw(st.booleans()) and len(shape) > 1:
        t = t[ts.d[tuple(draw(st.permutations(range(len(shape)))))].transpose[:]]
    kind = draw(st.sampled_from(("vindex", "vindex", "diagonal", "broadcast")))
    if kind == "vindex" or len(shape) < 2:
        count = draw(st.integers(1, 12))
        dims = draw(st.integers(1, len(shape)))
        points = tuple(
            np.array(draw(st.lists(st.integers(0, n - 1), min_size=count, max_size=count)))
            for n in t.domain.shape[:dims]
        )
        t = t.vindex[points] if dims > 1 else t.vindex[points[0].reshape(-1, 1) if count > 1 else points[0]]
    elif kind == "diagonal":
        t = t[ts.d[0, 1].diagonal]
    else:
        t = ts.IndexTransform(
            input_shape=(draw(st.integers(2, 3)), *shape), output=[
                ts.OutputIndexMap(input_dimension=k + 1) for k in range(len(shape))
            ],
        )
    return t, shape


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(general_view(), st.lists(st.integers(1, 4), min_size=4, max_size=4))
@example((ts.IndexTransform(input_shape=[7, 9, 5]).vindex[[6, 0, 3, 6], [1, 8, 8, 1], [4, 0, 2, 4]], (7, 9, 5)), [2, 3, 2, 1])
def test_copy_form_of_the_general_path_reads_like_numpy(view: Any, chunk_list: list[int]) -> None:
    t, shape = view
    assume(t.domain.size > 0)
    chunk = tuple(chunk_list[: len(shape)])
    origin = (0,) * len(shape)
    data = np.random.default_rng(0).integers(0, 1_000_000, size=shape)
    expected = data[tuple(output_indices(t))]
    general = list(_partition_general(t, chunk, origin))
    copy_order, copy_parts, vectors = partition_for_copy(t, chunk)
    parts = list(copy_parts)
    assert sorted(p.grid_indices for p in parts) == sorted(p.grid_indices for p in general)
    assert vectors in (None, ORTHOGONAL, POINTWISE)
    got = np.full(t.domain.shape, -2, dtype=data.dtype)
    copy = PartCopy(got, copy_order, vectors)
    for part in parts:
        copy(part, chunk_of(data, part.grid_indices, chunk, origin))
    np.testing.assert_array_equal(got, expected)


def test_oindex_parts_keep_their_vectors_one_dimensional() -> None:
    rows, columns = np.array([3, 40, 41, 70]), np.array([5, 9, 66])
    t = ts.IndexTransform(input_shape=[128, 128, 100]).oindex[rows, columns, :]
    order, copy_parts, vectors = partition_for_copy(t, (64, 64, 64))
    assert (order, vectors) == ((0, 1, 2), ORTHOGONAL)
    parts = list(copy_parts)
    assert len(parts) == 2 * 2 * 2
    for part in parts:
        assert all(not isinstance(item, np.ndarray) or item.ndim == 1 for item in part.cell_selection)
        assert all(isinstance(item, slice) for item in part.array_selection)  # sorted: runs


def test_general_parts_know_their_count_before_they_are_made() -> None:
    import operator

    points = np.random.default_rng(3).integers(0, 40, size=(3, 200))
    t = ts.IndexTransform(input_shape=[40, 40, 40]).vindex[tuple(points)]
    parts = partition_for_copy(t, (8, 8, 8)).parts
    chunks = {tuple(p) for p in (points // 8).T.tolist()}
    assert operator.length_hint(parts) == len(chunks)
    next(parts)
    assert operator.length_hint(parts) == len(chunks) - 1
    assert len(list(parts)) == len(chunks) - 1
