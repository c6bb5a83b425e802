"""The index engine's fast paths give exactly what the general paths give: the same
transform (and dimension selection), or the same error with the same message."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import partial
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ts_core.index_space as my
from ts_core.index_space import _compose, _dim_chain, _indexing

from .index_space_strategies import build_dim_expression, dim_expression, transform_json

EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _outcome(fn: Any) -> Any:
    try:
        result = fn()
    except (IndexError, ValueError, TypeError) as exc:
        return ("error", type(exc).__name__, str(exc))
    if isinstance(result, tuple):  # (transform, dims)
        return result[0].to_json(), result[1]
    return result.to_json()


@contextlib.contextmanager
def general_paths_only() -> Iterator[None]:
    """Every fast path declines: one operation at a time, full bounds propagation, composition
    through ``compose_maps`` and domains matched by label."""
    with (
        mock.patch.object(_indexing, "_basic_index", return_value=None),
        mock.patch.object(_indexing, "_basic_selection_index", return_value=None),
        mock.patch.object(_dim_chain, "run_plan", return_value=None),
        mock.patch.object(_compose, "_explicit_fits", return_value=False),
        mock.patch.object(_compose, "_AFFINE_SHORTCUT", False),
        mock.patch.object(_indexing, "_slice_by_box", side_effect=_indexing._slice_by_labels),
    ):
        yield


def both_paths(fn: Any) -> tuple[Any, Any]:
    fast = _outcome(fn)
    with general_paths_only():
        general = _outcome(fn)
    return fast, general


@st.composite
def basic_index(draw: Any) -> Any:
    """Ints, slices with int bounds and at most one ``...``, as a tuple or a lone term."""
    bound = st.one_of(st.none(), st.integers(-6, 12))
    term = st.one_of(
        st.integers(-6, 12),
        st.builds(slice, bound, bound, st.sampled_from((None, 1, 2, 3, -1, -2, 0))),
    )
    terms = draw(st.lists(term, max_size=5))
    if draw(st.booleans()):
        terms.insert(draw(st.integers(0, len(terms))), Ellipsis)
    if len(terms) == 1 and draw(st.booleans()):
        return terms[0]
    return tuple(terms)


@EXAMPLES
@given(transform_json(finite=False), basic_index())
def test_basic_index_matches_the_general_path(json: dict[str, Any], index: Any) -> None:
    transform = my.IndexTransform(json=json)
    fast, general = both_paths(lambda: transform[index])
    assert fast == general, (json, index)


@EXAMPLES
@given(transform_json(finite=False), dim_expression(), st.sampled_from(("index", "oindex", "vindex")))
def test_dim_expression_indexing_matches_the_general_path(
    json: dict[str, Any], expression: Any, mode: str
) -> None:
    transform = my.IndexTransform(json=json)
    selection, ops = expression
    ops = [(mode if op in ("index", "oindex", "vindex") else op, arg) for op, arg in ops]
    try:
        expr = build_dim_expression(my, selection, ops)
    except (IndexError, TypeError):
        return  # refused when built: nothing to apply
    fast, general = both_paths(lambda: expr._apply_with_dims(transform))
    assert fast == general, (json, expr)


def test_fast_paths_decline_what_they_do_not_handle() -> None:
    transform = my.IndexTransform(input_shape=[4, 5])
    for index in ((None, 1), (..., ...), (1, [0, 1]), True, 1 << 64, slice(1.5, 2), (slice(0, 2, 1 << 70),)):
        assert _indexing._basic_index(transform, index) is None, index
    assert _indexing._basic_index(transform, (9, 0)) is None  # out of range: the general path says so
    fast = _indexing._basic_index(transform, (1, slice(0, 3)))
    with general_paths_only():
        assert transform[1, 0:3] == fast
    terms = _indexing.parse_index((1, None))[0]
    assert _indexing._basic_selection_index(transform, terms, [0, 1], False) is None


@EXAMPLES
@given(transform_json(finite=False), st.data())
def test_permute_and_translate_match_general_composition(json: dict[str, Any], data: Any) -> None:
    from ts_core.index_space._compose import compose_maps
    from ts_core.index_space._dim_expression import _translated_maps, permute_dimensions
    from ts_core.index_space._output_map import OutputIndexMap

    transform = my.IndexTransform(json=json)
    domain = transform.domain
    rank = domain.rank
    order = data.draw(st.permutations(range(rank)))
    permuted = permute_dimensions(transform, order)
    position = [order.index(j) for j in range(rank)]
    inner = tuple(OutputIndexMap._single(position[j], 0, 1) for j in range(rank))
    assert permuted.output == my.IndexTransform(permuted.domain, compose_maps(transform, inner, permuted.domain, False, False)).output
    assert permuted.domain == my.IndexDomain([domain[j] for j in order])

    shifts = data.draw(st.lists(st.integers(-3, 3), min_size=rank, max_size=rank))
    inner = tuple(OutputIndexMap._single(j, -shift, 1) for j, shift in enumerate(shifts))
    assert _translated_maps(transform, shifts, domain) == compose_maps(transform, inner, domain, False, False)
    if rank:
        assert transform[my.d[list(range(rank))[::-1]].transpose[:]] == transform.T


# -- one pass over a dimension expression's operations -----------------------------------------------
@st.composite
def affine_chain(draw: Any, transform: Any) -> tuple[tuple[Any, ...], list[tuple[str, Any]]]:
    """A selection of ``transform``'s dims plus 1-4 operations, mostly those the one-pass path
    takes (ints and slices, translations, labels) and mostly valid; now and then a wrong one
    (out of range, wrong count, repeated label) or one the path hands over."""
    rank = transform.input_rank
    labels = [x for x in transform.input_labels if x]
    noise = st.integers(0, 7).map(lambda x: x == 7)  # hypothesis leans to 0: mostly no noise
    kind = draw(st.integers(0, 5))
    if kind == 0:
        selection: tuple[Any, ...] = (slice(None),)
        selected = rank
    elif kind == 1 and labels:
        selection = tuple(draw(st.lists(st.sampled_from(labels), min_size=1, unique=True)))
        selected = len(selection)
    else:
        picked = draw(st.lists(st.integers(0, max(rank - 1, 0)), min_size=1, max_size=3, unique=True))
        selection = tuple(j - rank if draw(st.booleans()) else j for j in picked)
        selected = len(selection)
    if draw(noise):
        selection = (*selection, draw(st.sampled_from((rank, "q", selection[0]))))
    ops: list[tuple[str, Any]] = []
    for _ in range(draw(st.integers(1, 4))):
        op = draw(
            st.sampled_from(
                ("index", "index", "index", "oindex", "translate_by", "translate_to",
                 "translate_backward_by", "label", "label", "stride", "transpose",
                 "mark_bounds_implicit", "diagonal")
            )
        )
        n = draw(st.integers(0, 3)) if draw(noise) else max(selected, 0)
        if op in ("index", "oindex"):
            bound = st.one_of(st.none(), st.integers(-3, 6))
            if draw(noise):  # ends at and past the finite index range
                bound = st.sampled_from((-(1 << 62) + 1, -(1 << 62) + 2, (1 << 62) - 2, (1 << 62) - 1, 1 << 62))
            term = st.one_of(
                st.integers(-2, 5),
                st.builds(slice, bound, bound, st.sampled_from((None, None, 1, 2, -1, -3))),
                st.builds(slice, bound, bound, st.sampled_from((None, None, 1, 2, -1, -3))),
            )
            terms = draw(st.lists(term, min_size=n, max_size=n))
            arg: Any = terms[0] if len(terms) == 1 and draw(st.booleans()) else tuple(terms)
            selected -= sum(isinstance(x, int) for x in terms)
        elif op.startswith("translate"):
            value = st.one_of(st.none(), st.integers(-6, 6), st.integers(-6, 6))
            if draw(noise):
                value = st.sampled_from((1 << 62, -(1 << 62), (1 << 62) - 3))
            values = draw(st.lists(value, min_size=n, max_size=n))
            arg = values[0] if n == 1 and draw(st.booleans()) else tuple(values)
        elif op == "label":
            names = draw(st.lists(st.sampled_from(("a", "b", "c", "d")), min_size=n, max_size=n, unique=True))
            if draw(noise):
                names = [*names[:-1], draw(st.sampled_from(("", "a", *labels)))][:n]
            arg = names[0] if n == 1 and draw(st.booleans()) else tuple(names)
        elif op == "stride":
            factor = st.sampled_from((2, -1, 3, -2, 1))
            if draw(noise):
                factor = st.sampled_from((0, None))
            factors = draw(st.lists(factor, min_size=n, max_size=n))
            arg = factors[0] if n == 1 and draw(st.booleans()) else tuple(factors)
        elif op == "transpose":
            arg = draw(st.sampled_from((0, -1, (1, 0), (0, 1, 2))))
        elif op == "mark_bounds_implicit":
            flag = st.sampled_from((None, True, False))
            arg = draw(flag) if draw(st.booleans()) else slice(draw(flag), draw(flag))
        else:
            arg = None
            selected = 1
        ops.append((op, arg))
    return selection, ops


@EXAMPLES
@given(transform_json(finite=False).filter(lambda json: json.get("input_rank") != 0), st.data())
def test_one_pass_chain_matches_one_operation_at_a_time(json: dict[str, Any], data: Any) -> None:
    transform = my.IndexTransform(json=json)
    selection, ops = data.draw(affine_chain(transform))
    try:
        expr = build_dim_expression(my, selection, ops)
    except (IndexError, TypeError):
        return  # refused when built: nothing to apply
    fast, general = both_paths(lambda: expr._apply_with_dims(transform))
    assert fast == general, (json, expr)


@EXAMPLES
@given(transform_json(finite=False).filter(lambda json: json.get("input_rank") != 0), st.data())
def test_a_compiled_plan_serves_every_transform_with_the_same_labels(
    json: dict[str, Any], data: Any
) -> None:
    """The plan compiled on the first transform is reused for others with its labels but other
    bounds and maps (index arrays too): each result, or error, is the general path's and the
    wheel's."""
    tensorstore = pytest.importorskip("tensorstore")
    first = my.IndexTransform(json=json)
    labels = first.input_labels
    selection, ops = data.draw(affine_chain(first))
    try:
        expr = build_dim_expression(my, selection, ops)
    except (IndexError, TypeError):
        return  # refused when built: nothing to apply
    theirs = build_dim_expression(tensorstore, selection, ops)
    others = [data.draw(transform_json(finite=False, labels=labels)) for _ in range(3)]
    for transform_json_ in [json, *others]:
        transform = my.IndexTransform(json=transform_json_)
        for apply in (partial(transform.__getitem__, expr), partial(expr._apply_with_dims, transform)):
            fast, general = both_paths(apply)
            assert fast == general, (transform_json_, expr)
        assert expr._plan is not None
        assert expr._plan[0] == labels
        try:
            wheel_transform = tensorstore.IndexTransform(json=transform_json_)
        except ValueError:
            continue  # JSON the wheel refuses (ts_core refuses it too: test_differential)
        wheel = _outcome(partial(wheel_transform.__getitem__, theirs))
        ours = _outcome(partial(transform.__getitem__, expr))
        if not (isinstance(wheel, tuple) and isinstance(ours, tuple)):
            assert ours == wheel, (transform_json_, expr)  # kinds of errors may differ


def test_a_compiled_plan_is_not_used_for_other_labels_or_bounds() -> None:
    xy = my.IndexTransform(input_shape=[10, 20], input_labels=["x", "y"])
    yx = my.IndexTransform(input_shape=[10, 20], input_labels=["y", "x"])
    expr = my.d["x"][1:3].translate_by[4]
    assert xy[expr].domain == my.IndexDomain(inclusive_min=[5, 0], shape=[2, 20], labels=["x", "y"])
    assert yx[expr].domain == my.IndexDomain(inclusive_min=[0, 5], shape=[10, 2], labels=["y", "x"])
    assert expr._plan[0] == ("y", "x")
    by_position = my.d[1][2:4]
    assert by_position._apply(xy).domain.shape == (10, 2)
    assert by_position._apply(my.IndexTransform(input_shape=[1, 9, 3])).domain.shape == (1, 2, 3)
    # A plan compiled where the slice fits reports, where it does not, the general path's error.
    small = my.IndexTransform(input_shape=[2, 20], input_labels=["x", "y"])
    with pytest.raises(IndexError) as fast:
        small[expr]
    with general_paths_only(), pytest.raises(IndexError) as general:
        small[expr]
    assert str(fast.value) == str(general.value)
    assert "OUT_OF_RANGE" in str(fast.value)
    clash = my.d["x"].label["y"]
    assert xy.label["a", "b"][my.d[0].label["y"]].input_labels == ("y", "b")
    with pytest.raises(IndexError, match='"y" not unique'):
        xy[clash]


_UNBOUNDED = {"input_inclusive_min": [["-inf"]], "input_exclusive_max": [["+inf"]]}


@pytest.mark.parametrize(
    ("json", "value"),
    [
        ({"input_inclusive_min": [3], "input_exclusive_max": [5]}, 1 << 62),
        ({"input_inclusive_min": [["-inf"]], "input_exclusive_max": [5]}, 1 << 62),
        (_UNBOUNDED, -(1 << 62)),
        (_UNBOUNDED, (1 << 63) - 1),  # found by test_a_compiled_plan_serves_every_transform...
        ({**_UNBOUNDED, "output": [{"input_dimension": 0, "stride": 2}]}, 1 << 62),
        (
            {
                **_UNBOUNDED,
                "output": [{"input_dimension": 0, "stride": 2}, {"input_dimension": 0}],
            },
            (1 << 63) - 1,
        ),
    ],
)
@pytest.mark.parametrize("op", ["translate_by", "translate_backward_by", "translate_to"])
def test_translations_near_the_index_limits_match_the_wheel(
    json: dict[str, Any], value: int, op: str
) -> None:
    """An infinite bound stays put whatever the shift; finite bounds and output offsets that
    overflow are errors, with the wheel's messages, on both paths (and again, plan reused)."""
    tensorstore = pytest.importorskip("tensorstore")
    wheel = _outcome(lambda: tensorstore.IndexTransform(json=json)[getattr(tensorstore.d[:], op)[value]])
    transform = my.IndexTransform(json=json)
    expr = getattr(my.d[:], op)[value]
    for _ in range(2):
        fast, general = both_paths(lambda: transform[expr])
        assert fast == general == wheel


def _plan_prefix(transform: Any, expr: Any) -> tuple[Any, list[int], int]:
    """``(result, dimension selection, operations taken)`` of the compiled plan alone."""
    plan = _dim_chain.compile_plan(expr._selection, expr._ops, transform.domain.labels)
    return _dim_chain.run_plan(plan, transform), plan[5], plan[1]


def test_one_pass_chain_takes_the_common_expressions() -> None:
    transform = my.IndexTransform(input_shape=[512, 512, 512], input_labels=["z", "y", "x"])
    expr = my.d["y", "x"][1:500, ::-2].translate_by[5].label["a", "b"]
    result, dims, done = _plan_prefix(transform, expr)
    assert done == 3
    assert dims == [1, 2]
    with general_paths_only():
        assert result == transform[expr]
    expr = my.d["y", "x"].stride[2].transpose[0].mark_bounds_implicit[True].translate_to[0]
    result, dims, done = _plan_prefix(transform, expr)
    assert (done, dims) == (4, [0, 1])
    with general_paths_only():
        assert result == transform[expr]
    # An operation it does not take is handed over with the state before it.
    expr = my.d["y", "x"].translate_by[5].diagonal.label["a"]
    partial, dims, done = _plan_prefix(transform, expr)
    assert (done, dims) == (1, [1, 2])
    assert partial == transform[my.d["y", "x"].translate_by[5]]
    # Index-array output maps are left to the general path.
    with_array = my.IndexTransform(
        input_shape=[3], output=[my.OutputIndexMap(index_array=[1, 2, 0])]
    )
    assert _dim_chain.run_plan(_dim_chain.compile_plan((0,), my.d[0][1:]._ops, ("",)), with_array) is None


# -- composition ------------------------------------------------------------------------------------
@st.composite
def composable_pair(draw: Any) -> tuple[Any, Any]:
    """``(outer, inner)`` where inner's output rank is outer's input rank and inner's maps
    mostly land inside outer's domain (so the explicit-bounds shortcut is exercised), with
    implicit and infinite bounds and out-of-range maps mixed in."""
    outer = my.IndexTransform(json=draw(transform_json(finite=False)))
    rank = draw(st.integers(0, 3))
    lo = [draw(st.integers(-3, 3)) for _ in range(rank)]
    size = [draw(st.integers(0, 4)) for _ in range(rank)]
    implicit = [draw(st.integers(0, 5)) == 0 for _ in range(rank)]
    maps = []
    for j in range(outer.input_rank):
        a, b = outer.domain.inclusive_min[j], outer.domain.exclusive_max[j]
        finite = a > -(1 << 61) and b < (1 << 61)
        if rank == 0 or draw(st.integers(0, 4)) == 0:
            value = draw(st.integers(a, b - 1)) if finite and b > a else draw(st.integers(-3, 3))
            maps.append(my.OutputIndexMap(offset=value + draw(st.sampled_from((0, 0, 0, 1, -1)))))
            continue
        k = draw(st.integers(0, rank - 1))
        stride = draw(st.sampled_from((1, 1, -1, 2, -2)))
        # The offset that puts inner dim k's first index at the outer dim's lower bound (or
        # its upper bound for a negative stride), nudged now and then.
        anchor = (a if stride > 0 else b - 1) if finite else 0
        offset = anchor - stride * lo[k] + draw(st.sampled_from((0, 0, 0, 1, -1, 2)))
        maps.append(my.OutputIndexMap(input_dimension=k, offset=offset, stride=stride))
    inner = my.IndexTransform(
        input_inclusive_min=lo,
        input_shape=size,
        implicit_lower_bounds=implicit,
        implicit_upper_bounds=[draw(st.integers(0, 5)) == 0 for _ in range(rank)],
        output=maps,
    ) if rank else my.IndexTransform(input_rank=0, output=maps)
    return outer, inner


@EXAMPLES
@given(composable_pair())
def test_composition_shortcuts_match_the_general_path(pair: tuple[Any, Any]) -> None:
    outer, inner = pair
    fast, general = both_paths(lambda: outer[inner])
    assert fast == general, (outer, inner)
    fast, general = both_paths(lambda: my.propagate_bounds(outer.domain, inner))
    assert fast == general, (outer, inner)
    tensorstore = pytest.importorskip("tensorstore")
    sources = [m.input_dimension for m in inner.output if m.input_dimension is not None]
    if len(set(sources)) != len(sources):
        return  # one input dim under two maps: a known difference (docs/indexing.md)
    wheel = _outcome(
        lambda: tensorstore.IndexTransform(json=outer.to_json())[
            tensorstore.IndexTransform(json=inner.to_json())
        ]
    )
    ours = _outcome(lambda: outer[inner])
    if not (isinstance(wheel, tuple) and isinstance(ours, tuple)):
        assert ours == wheel, (outer, inner)  # kinds of errors may differ


def test_composition_shortcut_takes_the_benchmark_case() -> None:
    outer = my.IndexTransform(input_shape=[512, 512, 512])[10:500, ::2, 3]
    inner = my.IndexTransform(
        input_shape=[100, 50],
        output=[
            my.OutputIndexMap(input_dimension=0, offset=20, stride=2),
            my.OutputIndexMap(input_dimension=1, offset=200, stride=-1),
        ],
    )
    assert _compose._explicit_fits(outer.domain, inner)
    assert outer[inner].domain is inner.domain  # unchanged, so shared
    # One index too far: not decided by the shortcut, refused by the general path.
    too_far = my.IndexTransform(
        input_shape=[100, 50],
        output=[
            my.OutputIndexMap(input_dimension=0, offset=20, stride=2),
            my.OutputIndexMap(input_dimension=1, offset=256, stride=-1),
        ],
    )
    assert not _compose._explicit_fits(outer.domain, too_far)
    with pytest.raises(IndexError, match="Propagated bounds"):
        outer[too_far]


# -- restriction to a box ------------------------------------------------------------------------------
@EXAMPLES
@given(transform_json(finite=False), st.data())
def test_box_restriction_matches_the_label_path(json: dict[str, Any], data: Any) -> None:
    transform = my.IndexTransform(json=json)
    rank = transform.input_rank
    old = transform.domain
    lo, shape = [], []
    for j in range(rank):
        a, b = old.inclusive_min[j], old.exclusive_max[j]
        start = data.draw(st.integers(max(a, -5) - 1, min(b, 6) + 1)) if b - a < 1 << 40 else 0
        lo.append(start)
        shape.append(data.draw(st.integers(0, 4)))
    labels = data.draw(
        st.sampled_from(
            [[""] * rank, list("abcd"[:rank]), ["", *list("pqr"[: max(rank - 1, 0)])][:rank]]
        )
    )
    domain = my.IndexDomain(inclusive_min=lo, shape=shape, labels=labels)
    fast, general = both_paths(lambda: transform[domain])
    assert fast == general, (json, domain)


@EXAMPLES
@given(transform_json(finite=False), st.data())
def test_restriction_keeps_affine_maps(json: dict[str, Any], data: Any) -> None:
    from ts_core.index_space._compose import compose_maps
    from ts_core.index_space._output_map import OutputIndexMap

    transform = my.IndexTransform(json=json)
    old = transform.domain
    lo, hi = [], []
    for a, b in zip(old.inclusive_min, old.exclusive_max, strict=True):
        start = data.draw(st.integers(max(a, -5), max(min(b, 6), max(a, -5))))
        lo.append(start)
        hi.append(max(start, min(b, start + data.draw(st.integers(0, 4)))))
    domain = my.IndexDomain(inclusive_min=lo, exclusive_max=hi, labels=old.labels)
    identity = tuple(OutputIndexMap._single(j, 0, 1) for j in range(old.rank))
    general = my.IndexTransform(
        domain, compose_maps(transform, identity, domain, simplify=False, normalize_empty=True)
    )
    assert _indexing._restricted(transform, domain) == general


@EXAMPLES
@given(
    st.one_of(st.integers(-40, 40), st.integers(-(1 << 62) + 2, (1 << 62) - 2)),
    st.one_of(st.integers(-9, 9), st.integers(-(1 << 62), 1 << 62)).filter(lambda s: s not in (0, 1)),
)
def test_strided_slice_offset_is_the_truncated_remainder(anchor: int, step: int) -> None:
    from ts_core.index_space._interval import inf, trunc_div

    # A strided slice from ``anchor`` maps new index i to anchor % step + step * i, the
    # remainder taken with C's truncating division (tensorstore's origin trunc(start / step)).
    offset = _indexing.slice_bounds(slice(anchor, None, step), -inf, inf + 1, True, True, 0)[4]
    assert offset == anchor - step * trunc_div(anchor, step)


# -- whole-object shorthands ---------------------------------------------------------------------------
@EXAMPLES
@given(
    transform_json(finite=False),
    st.sampled_from(
        ("translate_by", "translate_to", "translate_backward_by", "label", "mark_bounds_implicit")
    ),
    st.data(),
)
def test_shorthands_match_the_expression_they_abbreviate(
    json: dict[str, Any], op: str, data: Any
) -> None:
    transform = my.IndexTransform(json=json)
    rank = transform.input_rank
    if op == "label":
        names = data.draw(st.lists(st.sampled_from(("a", "b", "")), min_size=rank, max_size=rank))
        args: Any = data.draw(st.sampled_from((tuple(names), "a", ("a", "b", "c", "d", "e"))))
    elif op == "mark_bounds_implicit":
        flag = st.sampled_from((None, True, False))
        args = data.draw(st.one_of(flag, st.builds(slice, flag, flag)))
    else:
        value = st.one_of(st.none(), st.integers(-5, 5), st.just(1 << 62))
        args = data.draw(st.one_of(value, st.lists(value, max_size=4).map(tuple)))
    for target in (transform, transform.domain):
        shorthand = _outcome(lambda target=target: getattr(target, op)[args])
        with general_paths_only():
            expression = _outcome(lambda target=target: target[getattr(my.d[:], op)[args]])
        if isinstance(expression, tuple) and expression[1] == "IndexError":
            expression = ("error", "ValueError", expression[2])  # tensorstore's type here
        assert shorthand == expression, (json, op, args)
