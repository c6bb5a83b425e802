"""PartCopy (the read engine's copy of one part) against NumPy: orthogonal selections as
``np.ix_`` would make them, pointwise and plain ones as NumPy's own indexing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ts_core.driver._part_copy import PartCopy
from ts_core.index_space import ChunkPart
from ts_core.index_space._partition import ORTHOGONAL, POINTWISE

SHAPE = (5, 6, 7)


@st.composite
def orthogonal_selection(draw: Any, shape: tuple[int, ...], unique: bool) -> tuple[Any, ...]:
    """Per dimension an int, a slice (any step) or a 1-D index vector (distinct values when
    ``unique``: a scattered target must not repeat)."""
    items: list[Any] = []
    for n in shape:
        kind = draw(st.sampled_from(("int", "slice", "vector", "vector")))
        if kind == "int":
            items.append(draw(st.integers(0, n - 1)))
        elif kind == "slice":
            step = draw(st.sampled_from((1, 2, -1, -2)))
            start = draw(st.integers(0, n - 1))
            items.append(slice(start, None, step))
        else:
            values = st.lists(st.integers(0, n - 1), min_size=1, max_size=4, unique=unique)
            items.append(np.array(draw(values), dtype=np.intp))
    return tuple(items)


def as_mesh(selection: tuple[Any, ...], shape: tuple[int, ...]) -> tuple[Any, ...]:
    """The orthogonal ``selection`` in NumPy's terms: ints stay, the rest become ``np.ix_``."""
    vectors = [np.arange(n)[item] if isinstance(item, slice) else item
               for item, n in zip(selection, shape, strict=True) if not isinstance(item, int)]
    mesh = iter(np.ix_(*vectors)) if vectors else iter(())
    return tuple(item if isinstance(item, int) else next(mesh) for item in selection)


@st.composite
def orthogonal_part(draw: Any) -> tuple[tuple[Any, ...], tuple[Any, ...], tuple[int, ...], list[int]]:
    """(cell selection of SHAPE, array selection, the shape it selects from, a transpose
    order): the array selection puts the cell block's axes, in order, into a slice or a
    vector of distinct positions each, with ints (extent-1 dims) anywhere between."""
    cell = draw(orthogonal_selection(SHAPE, unique=False))
    lengths = [len(range(n)[item]) if isinstance(item, slice) else len(item)
               for item, n in zip(cell, SHAPE, strict=True) if not isinstance(item, int)]
    array: list[Any] = []
    view_shape: list[int] = []
    for length in lengths:
        while draw(st.integers(0, 3)) == 0:
            array.append(draw(st.integers(0, 2)))
            view_shape.append(3)
        extent = length + draw(st.integers(0, 2))
        if draw(st.booleans()):
            start = draw(st.integers(0, extent - length))
            array.append(slice(start, start + length))
        else:
            array.append(np.array(draw(st.permutations(range(extent)))[:length], dtype=np.intp))
        view_shape.append(extent)
    if draw(st.booleans()):
        array.append(0)
        view_shape.append(1)
    order = draw(st.permutations(range(len(view_shape))))
    return cell, tuple(array), tuple(view_shape), list(order)


@settings(max_examples=300, deadline=None)
@given(orthogonal_part())
@example(((np.array([4, 0, 2]), np.array([5, 1]), slice(None)), (slice(0, 3), slice(1, 3), slice(None)), (3, 3, 7), [0, 1, 2]))
@example(((np.array([4, 0]), 3, np.array([6, 1, 1])), (np.array([2, 0]), 0, np.array([1, 3, 0])), (3, 1, 4), [2, 0, 1]))
@example(((1, slice(None), 2), (0, np.array([5, 0, 1, 2, 3, 4]), 1), (1, 6, 2), [1, 2, 0]))
def test_orthogonal_copy_matches_numpy(part: tuple[tuple[Any, ...], tuple[Any, ...], tuple[int, ...], list[int]]) -> None:
    cell, array, view_shape, order = part
    source = np.random.default_rng(0).integers(0, 1000, SHAPE)
    target = np.full(tuple(view_shape[k] for k in np.argsort(order)), -1, dtype=source.dtype)
    expected = target.copy()
    expected.transpose(order)[as_mesh(array, view_shape)] = source[as_mesh(cell, SHAPE)].reshape(
        [len(range(n)[item]) if isinstance(item, slice) else len(item)
         for item, n in zip(array, view_shape, strict=True) if not isinstance(item, int)]
    )
    PartCopy(target, tuple(order), ORTHOGONAL)(ChunkPart((0, 0, 0), cell, array), source)
    np.testing.assert_array_equal(target, expected)


@pytest.mark.parametrize("vectors", [None, POINTWISE])
def test_plain_and_pointwise_copies_are_numpys(vectors: str | None) -> None:
    source = np.arange(5 * 6 * 7).reshape(SHAPE)
    target = np.zeros((4, 3), dtype=source.dtype)
    if vectors is None:
        part = ChunkPart((0, 0, 0), (slice(1, 4), 2, slice(0, 6, 2)), (slice(1, 4), slice(None)))
    else:
        points = (np.array([0, 4, 2]), np.array([1, 5, 5]), np.array([6, 0, 3]))
        part = ChunkPart((0, 0, 0), points, (np.array([3, 0, 1]), np.array([2, 2, 0])))
    expected = target.copy()
    expected[part.array_selection] = source[part.cell_selection]
    PartCopy(target.T, (1, 0), vectors)(part, source)
    np.testing.assert_array_equal(target, expected)


def test_orthogonal_parts_of_one_partition_are_planned_once() -> None:
    source = np.arange(5 * 6 * 7).reshape(SHAPE)
    target = np.zeros((4, 6, 7), dtype=source.dtype)
    copy = PartCopy(target, (0, 1, 2), ORTHOGONAL)
    copy(ChunkPart((0, 0, 0), (np.array([1, 3]), slice(None), slice(None)), (slice(0, 2), slice(None), slice(None))), source)
    first = copy._copy
    copy(ChunkPart((1, 0, 0), (np.array([0, 4]), slice(None), slice(None)), (slice(2, 4), slice(None), slice(None))), source)
    assert copy._copy is first
    np.testing.assert_array_equal(target, source[[1, 3, 0, 4]])


@pytest.mark.parametrize("vectors", [None, ORTHOGONAL, POINTWISE])
def test_a_copier_is_freed_with_its_last_reference(vectors: str | None) -> None:
    import gc
    import weakref

    target = np.zeros((4, 6, 7))
    copy = PartCopy(target, (0, 1, 2), vectors)
    copy(ChunkPart((0, 0, 0), (np.array([1, 3]), slice(None), slice(None)), (slice(0, 2), slice(None), slice(None))), np.ones(SHAPE))
    view = weakref.ref(copy.view.base if copy.view.base is not None else copy.view)
    gc.disable()  # freed by reference counting alone, as a read's result must be
    try:
        del copy, target
        assert view() is None
    finally:
        gc.enable()


def test_unknown_kind_of_vectors_is_refused() -> None:
    with pytest.raises(ValueError, match="sideways"):
        PartCopy(np.zeros(3), (0,), "sideways")
