"""The index engine's fast paths give exactly what the general paths give: the same
transform (and dimension selection), or the same error with the same message."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ts_core.index_space as my
from ts_core.index_space import _indexing

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
    with (
        mock.patch.object(_indexing, "_basic_index", return_value=None),
        mock.patch.object(_indexing, "_basic_selection_index", return_value=None),
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
