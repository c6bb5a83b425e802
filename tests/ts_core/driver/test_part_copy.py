"""gather/scatter (the engine's copy of index-array parts) against NumPy's own indexing."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ts_core.driver._part_copy import gather, scatter

SHAPE = (5, 6, 7)


@st.composite
def selection(draw: Any) -> tuple[Any, ...]:
    """An open mesh (ints and vectors on distinct axes), a lone 1-D array among slices and
    ints, pointwise 1-D arrays, or plain slices."""
    kind = draw(st.sampled_from(("mesh", "lone", "pointwise", "basic")))
    if kind == "mesh":
        dims = draw(st.lists(st.booleans(), min_size=3, max_size=3))  # True: a vector
        rank = sum(dims)
        axes = iter(draw(st.permutations(range(rank))))
        items: list[Any] = []
        for n, is_vector in zip(SHAPE, dims, strict=True):
            if not is_vector:
                items.append(draw(st.integers(0, n - 1)))
                continue
            vector = np.array(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=4)))
            shape = [1] * rank
            shape[next(axes)] = -1
            items.append(vector.reshape(shape))
        return tuple(items)
    if kind == "pointwise":
        length = draw(st.integers(1, 4))
        return tuple(np.array(draw(st.lists(st.integers(0, n - 1), min_size=length, max_size=length))) for n in SHAPE)
    items = [slice(draw(st.integers(0, n - 1)), None, draw(st.sampled_from((1, 2, -1)))) for n in SHAPE]
    if kind == "lone":
        dim = draw(st.integers(0, 2))
        items[dim] = np.array(draw(st.lists(st.integers(0, SHAPE[dim] - 1), min_size=1, max_size=4)))
        if draw(st.booleans()):
            other = (dim + 1) % 3
            items[other] = draw(st.integers(0, SHAPE[other] - 1))
    return tuple(items)


@settings(max_examples=200, deadline=None)
@given(selection(), st.permutations(range(3)))
@example((np.array([4, 0, 2])[:, None], 3, np.array([6, 0, 3])[None, :]), [2, 0, 1])
@example((np.array([[1]]), 3, np.array([[2]])), [0, 1, 2])
def test_gather_and_scatter_match_numpy(items: tuple[Any, ...], order: list[int]) -> None:
    rng = np.random.default_rng(0)
    source = rng.integers(0, 1000, SHAPE)
    np.testing.assert_array_equal(gather(source, items), source[items])
    # Scatter into a transposed view of a contiguous array, as the read engine does.
    target = np.zeros(tuple(SHAPE[k] for k in np.argsort(order)), dtype=source.dtype)
    view = target.transpose(order)
    assert view.shape == SHAPE
    expected = target.copy()
    values = rng.integers(0, 1000, source[items].shape)
    expected.transpose(order)[items] = values
    if scatter(view, target.reshape(-1), tuple(s // target.itemsize for s in view.strides), items, values):
        if not any(isinstance(i, np.ndarray) and len(np.unique(i)) < i.size for i in items):
            np.testing.assert_array_equal(target, expected)  # (repeated targets: any one wins)
    else:
        assert any(isinstance(i, slice) for i in items)
