"""ChunkLayout and ChunkLayout.Grid: merging, JSON, value semantics, and the wheel's behaviour."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ts_core.schema import ChunkLayout

tensorstore = pytest.importorskip("tensorstore")

Grid = ChunkLayout.Grid

#: Our errors name the offending member first (the wheel's messages differ, so only this).
STARTS_WITH_JSON_PATH = r"^[\w.\[\]]+: "


def test_docs_example_to_json() -> None:
    layout = ChunkLayout(inner_order=[0, 2, 1], write_chunk_shape_soft_constraint=[100, None, 200],
                         read_chunk_elements=1000000)
    assert layout.to_json() == {
        "inner_order": [0, 2, 1],
        "read_chunk": {"elements": 1000000},
        "write_chunk": {"shape_soft_constraint": [100, None, 200]},
    }
    assert layout.rank == layout.ndim == 3


def test_chunk_applies_to_read_and_write_and_aspect_to_codec() -> None:
    layout = ChunkLayout(chunk=Grid(shape=[1, 2], elements=5, aspect_ratio=[1, None]))
    assert layout.write_chunk.shape == layout.read_chunk.shape == (1, 2)
    assert layout.codec_chunk.shape == (None, None)
    assert layout.codec_chunk.aspect_ratio == (1.0, None)
    assert layout.codec_chunk.elements is None


def test_full_extent_is_a_soft_constraint() -> None:
    layout = ChunkLayout(json={"write_chunk": {"shape": [-1, 5]}})
    assert layout.write_chunk.shape == (None, 5)
    assert layout.write_chunk.shape_soft_constraint == (-1, None)
    layout.update(write_chunk_shape=[7, None])
    assert layout.write_chunk.shape == (7, 5)


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        ({"chunk_shape": [10, 20]}, {"read_chunk_shape": [5, None]},
         r"^read_chunk\.shape: new hard constraint \(5\) for dimension 0 does not match "
         r"existing hard constraint \(10\)"),
        ({"grid_origin": [1, 2]}, {"grid_origin": [1, 3]}, r"^grid_origin: new hard"),
        ({"inner_order": [0, 1]}, {"inner_order": [1, 0]}, r"^inner_order: new hard"),
        ({"chunk_elements": 5}, {"write_chunk_elements": 6}, r"^write_chunk\.elements: new hard"),
        ({"write_chunk_aspect_ratio": [1, 2]}, {"write_chunk_aspect_ratio": [1, 3]},
         r"^write_chunk\.aspect_ratio: new hard"),
        ({"grid_origin": [1, 2]}, {"rank": 3}, r"^rank: rank 3 does not match existing rank 2"),
        ({"grid_origin": [1, 2]}, {"chunk": Grid(shape=[1, 2, 3])}, r"^chunk: rank 3"),
    ],
)
def test_hard_conflicts_name_the_member(first: dict[str, Any], second: dict[str, Any],
                                        message: str) -> None:
    layout = ChunkLayout(**first)
    with pytest.raises(ValueError, match=message):
        layout.update(**second)


def test_soft_constraints_never_conflict() -> None:
    layout = ChunkLayout(write_chunk_shape_soft_constraint=[5], write_chunk_elements=5)
    layout.update(write_chunk_shape_soft_constraint=[6], write_chunk_elements_soft_constraint=7)
    assert layout.to_json() == {"write_chunk": {"elements": 5, "shape_soft_constraint": [5]}}
    layout.update(write_chunk_shape=[8])
    assert layout.to_json() == {"write_chunk": {"elements": 5, "shape": [8]}}


@pytest.mark.parametrize(
    ("json", "message"),
    [
        ({"chunk": {"shape": [1.5]}}, r"^chunk\.shape\[0\]: expected integer"),
        ({"chunk": {"foo": 1}}, r"^chunk\.foo: unexpected member"),
        ({"write_chunk": {"aspect_ratio": [1, -1]}}, r"^write_chunk\.aspect_ratio\[1\]: invalid"),
        ({"write_chunk": {"elements": -3}}, r"^write_chunk\.elements: invalid"),
        ({"grid_origin": [2**62]}, r"^grid_origin\[0\]: invalid grid origin"),
        ({"inner_order": [0, 0]}, r"^inner_order: invalid permutation"),
        ({"rank": 33}, r"^rank: rank 33 is outside"),
        ({"rank": 2, "chunk": {"shape": [1]}}, r"^chunk\.shape: rank 1 does not match"),
    ],
)
def test_bad_json_names_the_path(json: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ChunkLayout(json)


def test_finalize() -> None:
    layout = ChunkLayout(grid_origin=[0, 0], write_chunk_shape=[4, 6], read_chunk_shape=[2, None],
                         chunk_aspect_ratio=[1, 2], finalize=True)
    assert layout.to_json() == {"grid_origin": [0, 0], "read_chunk": {"shape": [2, 6]},
                                "write_chunk": {"shape": [4, 6]}}
    with pytest.raises(ValueError, match=r"^finalize: no grid_origin hard constraint"):
        ChunkLayout(chunk_shape=[1, 2], finalize=True)
    with pytest.raises(ValueError, match="not a multiple"):
        ChunkLayout(grid_origin=[0], write_chunk_shape=[4], read_chunk_shape=[3], finalize=True)


def test_value_semantics() -> None:
    layout = ChunkLayout(chunk_shape=[1, None], grid_origin=[1, 2], inner_order=[1, 0])
    assert pickle.loads(pickle.dumps(layout)) == layout
    assert ChunkLayout(layout.to_json()) == layout
    assert layout != ChunkLayout()
    grid = layout.write_chunk
    assert pickle.loads(pickle.dumps(grid)) == grid
    assert grid.rank == 2
    assert Grid(rank=2) != Grid()
    with pytest.raises(TypeError):
        hash(layout)
    copy = layout.copy()
    copy.update(write_chunk_elements=5)
    assert copy != layout


def test_grid_constructor_and_merging() -> None:
    grid = Grid(shape=[1, None], shape_soft_constraint=[3, 4], aspect_ratio=[1, 2], elements=5)
    assert grid.to_json() == {"aspect_ratio": [1.0, 2.0], "elements": 5, "shape": [1, None],
                              "shape_soft_constraint": [None, 4]}
    merged = Grid(grid=Grid(shape=[1, 2], elements=5),
                  grid_soft_constraint=Grid(shape=[3, 4], aspect_ratio=[1, 2], elements=7))
    # soft means soft: nothing from grid_soft_constraint overrides or conflicts
    assert merged.to_json() == {"aspect_ratio_soft_constraint": [1.0, 2.0], "elements": 5,
                                "shape": [1, 2]}
    assert Grid({"shape": [1, -1]}).rank == 2
    assert repr(Grid(elements=5)) == "ChunkLayout.Grid({'elements': 5})"


# -- differential tests against the wheel ---------------------------------------------------

_int_entry = st.one_of(st.none(), st.just(-1), st.integers(0, 50))
_float_entry = st.one_of(st.none(), st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.25]))
_usage = st.sampled_from(["chunk", "write_chunk", "read_chunk"])


@st.composite
def layout_kwargs(draw: Any) -> list[dict[str, Any]]:
    """A sequence of keyword sets, applied as constructor then updates."""
    rank = draw(st.integers(0, 3))
    steps = []
    for _ in range(draw(st.integers(1, 3))):
        kwargs: dict[str, Any] = {}
        for _ in range(draw(st.integers(1, 4))):
            kind = draw(st.sampled_from(["shape", "aspect_ratio", "elements", "grid_origin",
                                         "inner_order", "rank"]))
            soft = draw(st.booleans())
            suffix = "_soft_constraint" if soft else ""
            if kind == "rank":
                kwargs["rank"] = draw(st.sampled_from([rank, rank, rank + 1]))
            elif kind == "grid_origin":
                kwargs["grid_origin" + suffix] = [draw(st.one_of(st.none(), st.integers(-5, 5)))
                                                  for _ in range(rank)]
            elif kind == "inner_order":
                if rank:
                    kwargs["inner_order" + suffix] = draw(st.permutations(list(range(rank))))
            elif kind == "elements":
                kwargs[f"{draw(_usage)}_elements{suffix}"] = draw(st.integers(0, 100))
            elif kind == "shape":
                kwargs[f"{draw(_usage)}_shape{suffix}"] = [draw(_int_entry) for _ in range(rank)]
            else:
                kwargs[f"{draw(_usage)}_aspect_ratio{suffix}"] = [draw(_float_entry)
                                                                  for _ in range(rank)]
        steps.append(kwargs)
    return steps


def _apply(module: Any, steps: list[dict[str, Any]]) -> Any:
    layout = module.ChunkLayout(**steps[0])
    for kwargs in steps[1:]:
        layout.update(**kwargs)
    return layout


@settings(max_examples=200, deadline=None)
@given(layout_kwargs())
def test_keyword_merging_matches_wheel(steps: list[dict[str, Any]]) -> None:
    import ts_core.schema as ours_module

    try:
        expected = _apply(tensorstore, steps)
    except ValueError:
        with pytest.raises(ValueError, match=STARTS_WITH_JSON_PATH):
            _apply(ours_module, steps)
        return
    ours = _apply(ours_module, steps)
    assert ours.to_json() == expected.to_json()
    assert repr(ours) == repr(expected)
    assert ours.rank == expected.rank
    assert ours.grid_origin == expected.grid_origin
    assert ours.inner_order_soft_constraint == expected.inner_order_soft_constraint
    for usage in ("write_chunk", "read_chunk", "codec_chunk"):
        grid, wheel_grid = getattr(ours, usage), getattr(expected, usage)
        assert grid.shape == wheel_grid.shape
        assert grid.shape_soft_constraint == wheel_grid.shape_soft_constraint
        assert grid.aspect_ratio_soft_constraint == wheel_grid.aspect_ratio_soft_constraint
        assert grid.elements == wheel_grid.elements
    # JSON round trip through both implementations
    assert ChunkLayout(expected.to_json()).to_json() == expected.to_json()
    assert tensorstore.ChunkLayout(ours.to_json()).to_json() == ours.to_json()


_grid_json = st.fixed_dictionaries(
    {},
    optional={
        "shape": st.lists(_int_entry, min_size=2, max_size=2),
        "shape_soft_constraint": st.lists(_int_entry, min_size=2, max_size=2),
        "aspect_ratio": st.lists(_float_entry, min_size=2, max_size=2),
        "aspect_ratio_soft_constraint": st.lists(_float_entry, min_size=2, max_size=2),
        "elements": st.integers(0, 10**6),
        "elements_soft_constraint": st.integers(0, 10**6),
    },
)
_layout_json = st.fixed_dictionaries(
    {},
    optional={
        "rank": st.just(2),
        "grid_origin": st.lists(st.one_of(st.none(), st.integers(-9, 9)), min_size=2, max_size=2),
        "grid_origin_soft_constraint": st.lists(st.one_of(st.none(), st.integers(-9, 9)),
                                                min_size=2, max_size=2),
        "inner_order": st.permutations([0, 1]),
        "inner_order_soft_constraint": st.permutations([0, 1]),
        "chunk": _grid_json,
        "write_chunk": _grid_json,
        "read_chunk": _grid_json,
        "codec_chunk": _grid_json,
    },
)


@settings(max_examples=150, deadline=None)
@given(_layout_json)
def test_json_parsing_matches_wheel(value: dict[str, Any]) -> None:
    try:
        expected = tensorstore.ChunkLayout(value).to_json()
    except ValueError:
        with pytest.raises(ValueError, match=STARTS_WITH_JSON_PATH):
            ChunkLayout(value)
        return
    assert ChunkLayout(value).to_json() == expected


def test_chunk_templates() -> None:
    pytest.importorskip("ts_core.index_space")
    layout = ChunkLayout(grid_origin=[5, 6, 7], read_chunk_shape=[100, 200, 300])
    assert str(layout.read_chunk_template) == "{ [5, 105), [6, 206), [7, 307) }"
    partial = ChunkLayout(grid_origin=[None, 6, 7], write_chunk_shape=[100, None, 200])
    expected = tensorstore.ChunkLayout(grid_origin=[None, 6, 7],
                                       write_chunk_shape=[100, None, 200])
    assert str(partial.write_chunk_template) == str(expected.write_chunk_template)
    with pytest.raises(ValueError, match="rank must be specified"):
        _ = ChunkLayout().write_chunk_template
