"""The public API of Dim, IndexDomain, IndexTransform, OutputIndexMap and dimension expressions:
constructors, text forms, equality, pickling, and the spellings from our users' handbook."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import ts_core.index_space as my

ts = pytest.importorskip("tensorstore")


def both(expr: str) -> tuple[object, object]:
    """Evaluate ``expr`` with ``T`` bound to ts_core.index_space and to the wheel."""
    return eval(expr, {"T": my, "np": np}), eval(expr, {"T": ts, "np": np})


DIM_EXPRS = [
    "T.Dim()",
    "T.Dim(5)",
    "T.Dim(5, label='x')",
    "T.Dim(2, 7)",
    "T.Dim(inclusive_min=2, inclusive_max=7)",
    "T.Dim(implicit_lower=False)",
    "T.Dim(inclusive_min=3)",
    "T.Dim(exclusive_max=3)",
    "T.Dim(inclusive_min=2, size=3, label='a', implicit_upper=True)",
    "T.Dim(3).intersect(T.Dim(2, 7))",
    "T.Dim(3).hull(T.Dim(5, 7))",
    "T.Dim(inclusive_min=2, exclusive_max=5, implicit_lower=True).intersect(T.Dim(0, 5))",
]


@pytest.mark.parametrize("expr", DIM_EXPRS)
def test_dim_matches_tensorstore(expr: str) -> None:
    ours, theirs = both(expr)
    assert repr(ours) == repr(theirs)
    assert str(ours) == str(theirs)
    for name in (
        "inclusive_min",
        "exclusive_max",
        "inclusive_max",
        "size",
        "implicit_lower",
        "implicit_upper",
        "label",
        "finite",
        "empty",
    ):
        assert getattr(ours, name) == getattr(theirs, name), name


def test_dim_behaviour() -> None:
    d = my.Dim(2, 5, label="x")
    assert list(d) == [2, 3, 4]
    assert len(d) == 3
    assert 4 in d
    assert 5 not in d
    assert my.Dim(3, 4) in d
    assert d.exclusive_min == 1
    assert d.borders == (2, 5)
    assert pickle.loads(pickle.dumps(d)) == d
    assert my.Dim(3) != my.Dim(3, label="a")
    with pytest.raises(ValueError, match="valid half-open"):
        my.Dim(3, 2)
    with pytest.raises(ValueError, match="labels do not match"):
        my.Dim(3, label="a").intersect(my.Dim(3, label="b"))
    assert my.inf == ts.inf


DOMAIN_EXPRS = [
    "T.IndexDomain(rank=2)",
    "T.IndexDomain(shape=[4, 3], labels=['a', 'b'])",
    "T.IndexDomain(inclusive_min=[0, 0], exclusive_max=[5, 10], implicit_upper_bounds=[False, True], implicit_lower_bounds=[False, True], labels=['x', ''])",
    "T.IndexDomain([T.Dim(3, label='a'), T.Dim(2, 5)])",
    "T.IndexDomain(shape=[4, 3], labels=['a', 'b'])[::-1]",
    "T.IndexDomain(shape=[4, 3], labels=['a', 'b'])[['b', 'a']]",
    "T.IndexDomain(shape=[4, 3], labels=['a', 'b'])[T.d['a'].translate_by[2]]",
    "T.IndexDomain(shape=[4, 3], labels=['a', 'b'])[T.IndexDomain(shape=[2], labels=['b'])]",
    "T.IndexDomain(inclusive_min=[1, 2], shape=[4, 3]).hull(T.IndexDomain(shape=[4, 3]))",
    "T.IndexDomain(inclusive_min=[1, 2], shape=[4, 3]).intersect(T.IndexDomain(shape=[4, 3]))",
    "T.IndexDomain(inclusive_min=[1, 2], shape=[4, 3]).T",
    "T.IndexDomain(inclusive_min=[1, 2], shape=[4, 3]).translate_to[0]",
    "T.IndexDomain(json={'inclusive_min': [1, ['-inf']], 'exclusive_max': ['+inf', [3]]})",
]


@pytest.mark.parametrize("expr", DOMAIN_EXPRS)
def test_domain_matches_tensorstore(expr: str) -> None:
    ours, theirs = both(expr)
    assert repr(ours) == repr(theirs)
    assert ours.to_json() == theirs.to_json()
    for name in (
        "rank",
        "ndim",
        "origin",
        "shape",
        "inclusive_min",
        "exclusive_max",
        "inclusive_max",
        "labels",
        "implicit_lower_bounds",
        "implicit_upper_bounds",
        "size",
        "index_exp",
    ):
        assert (
            tuple(getattr(ours, name))
            if isinstance(getattr(ours, name), tuple)
            else getattr(ours, name) == getattr(theirs, name)
        ), name
    assert pickle.loads(pickle.dumps(ours)) == ours


def test_domain_selection() -> None:
    d = my.IndexDomain(shape=[4, 3], labels=["a", "b"])
    assert d["a"] == d[0] == my.Dim(4, label="a")
    assert d[-1] == my.Dim(3, label="b")
    assert d[(1,)] == my.IndexDomain(shape=[3], labels=["b"])
    with pytest.raises(IndexError, match='Label "q" does not match one of'):
        _ = d["q"]
    with pytest.raises(ValueError, match="exclusive stop index 3"):  # as tensorstore
        _ = d[1:3]
    with pytest.raises(ValueError, match='"a" not unique'):
        my.IndexDomain(shape=[1, 1], labels=["a", "a"])


TRANSFORM_EXPRS = [
    "T.IndexTransform(3)",
    "T.IndexTransform(input_shape=[5, 10])",
    "T.IndexTransform(input_rank=0)",
    "T.IndexTransform(input_inclusive_min=[1], input_exclusive_max=[5], implicit_lower_bounds=[True])",
    "T.IndexTransform(input_shape=[2, 3], input_labels=['a', 'b'], output=[T.OutputIndexMap(3), T.OutputIndexMap(input_dimension=1, offset=2, stride=-1), T.OutputIndexMap(index_array=[[1], [2]], index_range=T.Dim(0, 5))])",
    "T.IndexTransform(domain=T.IndexDomain(shape=[2]), output=[T.OutputIndexMap(3)])",
    "T.IndexTransform(input_shape=[4, 5, 6], input_labels=['x', 'y', 'z'])[1:3, ::-2, [0, 5]]",
    "T.IndexTransform(input_shape=[4, 5, 6], input_labels=['x', 'y', 'z']).oindex[[1, 2], :, [3, 4]]",
    "T.IndexTransform(input_shape=[4, 5, 6], input_labels=['x', 'y', 'z']).vindex[:, [1, 2], [3, 4]]",
    "T.IndexTransform(input_shape=[4, 5, 6], input_labels=['x', 'y', 'z'])[T.d['x', 'z'].diagonal]",
    "T.IndexTransform(input_shape=[4, 5, 6], input_labels=['x', 'y', 'z'])[T.d['y'].translate_to[3].stride[2].label['q']]",
    "T.IndexTransform(input_shape=[4, 5, 6], input_labels=['x', 'y', 'z'])[T.d[0, 2][T.newaxis, T.newaxis]]",
    "T.IndexTransform(input_shape=[4, 5, 6], input_labels=['x', 'y', 'z']).T",
    "T.IndexTransform(input_shape=[4, 5, 6], input_labels=['x', 'y', 'z']).transpose([2, 0, 1])",
    "T.IndexTransform(input_shape=[4, 5, 6], input_labels=['x', 'y', 'z']).mark_bounds_implicit[True]",
    "T.IndexTransform(input_shape=[4, 3])[np.array([[True, False, True], [False, False, True], [False] * 3, [True] * 3])]",
    "T.IndexTransform(input_shape=[20])[T.IndexTransform(input_rank=1, output=[T.OutputIndexMap(input_dimension=0, offset=3, stride=2)])]",
    "T.IndexTransform(input_inclusive_min=[-5], input_exclusive_max=[20], implicit_lower_bounds=[True], implicit_upper_bounds=[True])[T.IndexTransform(1)]",
]


@pytest.mark.parametrize("expr", TRANSFORM_EXPRS)
def test_transform_matches_tensorstore(expr: str) -> None:
    ours, theirs = both(expr)
    assert repr(ours) == repr(theirs)
    assert ours.to_json() == theirs.to_json()
    assert repr(ours.output) == repr(theirs.output)
    assert (ours.input_rank, ours.output_rank, ours.ndim) == (
        theirs.input_rank,
        theirs.output_rank,
        theirs.ndim,
    )
    assert tuple(ours.input_shape) == tuple(theirs.input_shape)
    assert tuple(ours.input_labels) == tuple(theirs.input_labels)
    copy = pickle.loads(pickle.dumps(ours))
    assert copy == ours
    assert copy.to_json() == ours.to_json()


def test_output_index_maps() -> None:
    m = my.OutputIndexMap(input_dimension=2, offset=1, stride=-1)
    assert (m.method, m.input_dimension, m.offset, m.stride, m.index_array) == (
        my.OutputIndexMethod.single_input_dimension,
        2,
        1,
        -1,
        None,
    )
    c = my.OutputIndexMap(3)
    assert (c.method, c.stride, c.input_dimension, c.index_range) == (
        my.OutputIndexMethod.constant,
        None,
        None,
        None,
    )
    assert repr(c) == repr(ts.OutputIndexMap(3))
    a = my.OutputIndexMap(index_array=[[1, 2]])
    assert repr(a) == repr(ts.OutputIndexMap(index_array=[[1, 2]]))
    assert list(my.OutputIndexMethod.__members__) == list(ts.OutputIndexMethod.__members__)


def test_call_inverse_and_composition() -> None:
    t = my.IndexTransform(input_shape=[4, 5])[1:4, ::-1][my.d[:].translate_by[10]]
    assert t([11, 6]) == ts.IndexTransform(json=t.to_json())([11, 6])
    with pytest.raises(ValueError, match="not contained in the domain"):
        t([0, 0])
    inv = t.inverse
    assert inv(t([12, 7])) == (12, 7)
    assert t[inv] == my.IndexTransform(domain=t[inv].domain)  # identity on the range
    with pytest.raises(ValueError, match="not invertible"):
        _ = my.IndexTransform(input_shape=[3])[::2].inverse
    outer = my.IndexTransform(input_shape=[20])
    inner = my.IndexTransform(input_shape=[30])
    with pytest.raises(IndexError, match="Propagated bounds"):
        outer[inner]
    assert my.compose(outer, outer[2:5]) == outer[2:5]


def test_handbook_spellings() -> None:
    store = my.IndexTransform(input_shape=[3, 4, 5], input_labels=["c", "y", "x"])
    # ``ts.d['c'] == 0`` is ``ts.d['c'][0]``
    assert store[my.d["c"] == 0] == store[my.d["c"][0]]
    # a tuple of dimension expressions applies left to right
    view = store[my.d["c"] == 0, my.d["y"][::-1], my.d["x"].label["width"]]
    assert view == store[my.d["c"][0]][my.d["y"][::-1]][my.d["x"].label["width"]]
    assert view.domain.labels == ("y", "width")
    # ``.broadcast`` inserts a new size-1 dim before each selected one
    b = store[my.d["y"].broadcast]
    assert b.domain.labels == ("c", "", "y", "x")
    assert b.domain[1] == my.Dim(
        inclusive_min=0, exclusive_max=1, implicit_lower=True, implicit_upper=True
    )
    assert store[my.d[1].broadcast] == store[my.d[1][my.newaxis]]
    assert store[my.d["c", "x"].broadcast].domain.labels == ("", "c", "y", "", "x")


@pytest.mark.parametrize(
    ("expr", "error", "match"),
    [
        ("t[T.d['q'][0]]", IndexError, 'Label "q"'),
        ("t[T.d[5][0]]", IndexError, "Dimension index 5"),
        ("t[T.d[0, 0][0]]", IndexError, "specified more than once"),
        ("t[T.d[0, 1].label['a', 'a']]", IndexError, '"a" not unique'),
        ("t[T.d[0].label['y']]", IndexError, '"y" not unique'),
        ("t[1, 2, 3, 4]", IndexError, "requires 4 dimensions"),
        ("t[..., ...]", IndexError, "single ellipsis"),
        ("t[9]", IndexError, "outside valid range"),
        ("t[2:10]", IndexError, "not contained"),
        ("t[1.5]", IndexError, "valid indices"),
        ("t[[1, 2], [1, 2, 3]]", IndexError, "Incompatible index array shapes"),
        ("t[T.d['x'].stride[0]]", IndexError, "Stride must be non-zero"),
        ("t[T.d['x'][T.newaxis]]", IndexError, "cannot be specified by label"),
    ],
)
def test_errors_like_tensorstore(expr: str, error: type[Exception], match: str) -> None:
    for lib in (my, ts):
        t = lib.IndexTransform(input_shape=[4, 5, 6], input_labels=["x", "y", "z"])
        with pytest.raises(error, match=match):
            eval(expr, {"T": lib, "t": t})


def test_handbook_call_spellings_and_bounds() -> None:
    t = my.IndexTransform(input_shape=[3, 100, 200], input_labels=["c", "y", "x"])
    assert t[my.d["x"].label("width")] == t[my.d["x"].label["width"]]
    assert t[my.d[0].translate_by(50)].domain.origin[0] == 50
    assert t[my.d["y"].stride(2)].domain.shape == (3, 50, 200)
    assert t[my.d["y", "x"].translate_to(1, 2)] == t[my.d["y", "x"].translate_to[1, 2]]
    assert t.translate_by(1) == t.translate_by[1]
    domain = my.IndexDomain(shape=[2, 3], labels=["a", "b"], implicit_upper_bounds=[True, False])
    assert str(domain.bounds) == "{ [0, 2*), [0, 3) }"
    assert my.IndexDomain(shape=[2]).bounds == my.IndexDomain(shape=[2])


@pytest.mark.parametrize(
    "expr",
    [
        "d[:].vindex[..., [1, 2]]",
        "d['c', 'a'].vindex[..., [1, 2]]",
        "d['e', 'b', 'a'].vindex[:, [0, 1], [1, 2]]",
        "d['e', 'b', 'a'][1:3, [0, 1], [1, 2]]",
        "d[:][:, [0, 1], :, [1, 2]]",
        "d['e', 'b', 'a'][[0, 1], :, [1, 2]]",
        "d['e', 'b', 'a'][:, [0, 1], [1, 2]]",
        "d['e', 'b', 'a'].oindex[1:3, [0, 1], [1, 2]]",
    ],
)
def test_selection_order_after_array_indexing_matches_tensorstore(expr: str) -> None:
    # Which dimensions, in which order, a following operation of the same expression
    # applies to: broadcast array dims placed at the front come first in the selection.
    def selected_labels(lib: object) -> tuple[str, ...]:
        domain = lib.IndexDomain(shape=[5, 6, 7, 8], labels=["a", "b", "c", "e"])  # type: ignore[attr-defined]
        expression = eval(expr, {"d": lib.d})  # type: ignore[attr-defined]
        for count in range(1, 5):
            try:
                return tuple(domain[expression.label[[f"s{i}" for i in range(count)]]].labels)
            except (IndexError, ValueError):
                continue
        raise AssertionError(f"no label count fits {expr}")

    assert selected_labels(my) == selected_labels(ts)
