"""The index engine's fast paths give exactly what the general paths give: the same
transform, or the same error with the same message."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ts_core.index_space as my
from ts_core.index_space import _indexing

from .index_space_strategies import transform_json

EXAMPLES = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _outcome(fn: Any) -> Any:
    try:
        result = fn()
    except (IndexError, ValueError, TypeError) as exc:
        return ("error", type(exc).__name__, str(exc))
    return result.to_json()


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


def _general(transform: my.IndexTransform, index: Any) -> my.IndexTransform:
    terms = _indexing.parse_index(index)[0]
    return _indexing.numpy_index(transform, terms, "default")[0]


@EXAMPLES
@given(transform_json(finite=False), basic_index())
def test_basic_index_matches_the_general_path(json: dict[str, Any], index: Any) -> None:
    transform = my.IndexTransform(json=json)
    fast = _outcome(lambda: transform[index])
    general = _outcome(lambda: _general(transform, index))
    assert fast == general, (json, index)


def test_basic_index_declines_what_it_does_not_handle() -> None:
    transform = my.IndexTransform(input_shape=[4, 5])
    for index in ((None, 1), (..., ...), (1, [0, 1]), True, 1 << 64, slice(1.5, 2), (slice(0, 2, 1 << 70),)):
        assert _indexing._basic_index(transform, index) is None, index
    assert _indexing._basic_index(transform, (9, 0)) is None  # out of range: the general path says so
    assert _indexing._basic_index(transform, (1, slice(0, 3))) == _general(transform, (1, slice(0, 3)))
