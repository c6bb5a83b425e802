"""``IndexTransform``: an input domain plus one output index map per output dimension."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._domain import (
    MAX_RANK,
    TRANSFORM_NAMES,
    IndexDomain,
    definitely_empty,
    domain_from_components,
)
from ._interval import format_interval, is_index_like
from ._mixin import Indexable
from ._output_map import ARRAY, CONSTANT, SINGLE, OutputIndexMap, OutputIndexMaps, format_array


class IndexTransform(Indexable):
    """Maps each index vector of ``domain`` to an output index vector (tensorstore's model)."""

    __slots__ = ("_domain", "_output")

    _domain: IndexDomain
    _output: tuple[OutputIndexMap, ...]

    def __init__(
        self,
        input_rank: int | IndexDomain | None = None,
        *positional_output: Sequence[OutputIndexMap],
        input_inclusive_min: Sequence[int] | None = None,
        implicit_lower_bounds: Sequence[bool] | None = None,
        input_exclusive_max: Sequence[int] | None = None,
        input_inclusive_max: Sequence[int] | None = None,
        input_shape: Sequence[int] | None = None,
        implicit_upper_bounds: Sequence[bool] | None = None,
        input_labels: Sequence[str | None] | None = None,
        output: Sequence[OutputIndexMap] | None = None,
        domain: IndexDomain | None = None,
        json: Any = None,
    ) -> None:
        components = {
            "inclusive_min": input_inclusive_min,
            "implicit_lower_bounds": implicit_lower_bounds,
            "exclusive_max": input_exclusive_max,
            "inclusive_max": input_inclusive_max,
            "shape": input_shape,
            "implicit_upper_bounds": implicit_upper_bounds,
            "labels": input_labels,
        }
        if positional_output:
            # The (domain, output) form takes the maps positionally too.
            if len(positional_output) > 1 or not isinstance(input_rank, IndexDomain) or output:
                raise TypeError(
                    "IndexTransform() takes output positionally only after an IndexDomain"
                )
            output = positional_output[0]
        if isinstance(input_rank, IndexDomain):
            if domain is not None:
                raise TypeError("IndexTransform() got the domain twice")
            domain, input_rank = input_rank, None
        given = [name for name, value in components.items() if value is not None]
        if json is not None:
            if given or input_rank is not None or domain is not None or output is not None:
                raise TypeError("IndexTransform(json=...) takes no other argument")
            from ._json import transform_from_json

            parsed = transform_from_json(json)
            self._domain, self._output = parsed._domain, parsed._output
            return
        if domain is None:
            domain = domain_from_components(input_rank, components, TRANSFORM_NAMES)
        elif given or input_rank is not None or not isinstance(domain, IndexDomain):
            raise TypeError(
                "IndexTransform(domain, output=None) takes an IndexDomain and no input_* arguments"
            )
        rank = domain.rank
        if output is None:
            maps: tuple[OutputIndexMap, ...] = tuple(
                OutputIndexMap._single(i, 0, 1) for i in range(rank)
            )
        else:
            output = list(output)
            if len(output) > MAX_RANK:
                raise ValueError(
                    f"Number of output dimensions ({len(output)}) exceeds maximum rank of {MAX_RANK}"
                )
            maps = tuple(_validate_map(m, j, domain) for j, m in enumerate(output))
        self._domain = domain
        self._output = _normalize(domain, maps)

    @classmethod
    def _make(
        cls, domain: IndexDomain, maps: tuple[OutputIndexMap, ...], normalize: bool = True
    ) -> IndexTransform:
        """Build from trusted parts; ``normalize`` turns index arrays on an empty domain into constants."""
        self = object.__new__(cls)
        self._domain = domain
        self._output = _normalize(domain, maps) if normalize else maps
        return self

    @classmethod
    def _identity(cls, domain: IndexDomain) -> IndexTransform:
        self = object.__new__(cls)
        self._domain = domain
        self._output = tuple(OutputIndexMap._single(i, 0, 1) for i in range(domain.rank))
        return self

    # -- Indexable hooks --------------------------------------------------------------------------
    def _index_transform(self) -> IndexTransform:
        return self

    def _with_index_transform(self, transform: IndexTransform) -> IndexTransform:
        return transform

    def __getitem__(self, index: Any) -> IndexTransform:
        """``Indexable.__getitem__`` without its hooks, which are identities here; a transform,
        domain or dimension expression goes straight to what ``apply_index`` would call."""
        functions = _indexing_functions
        if functions is None:
            functions = _load_indexing_functions()
        kind = type(index)
        if kind is IndexTransform:
            return functions[1](self, index)  # type: ignore[no-any-return]
        if kind is IndexDomain:
            return functions[3](self, index)  # type: ignore[no-any-return]
        if kind is functions[2]:  # a DimExpression
            return index._apply(self)  # type: ignore[no-any-return]
        return functions[0](self, index, "default")  # type: ignore[no-any-return]

    # -- properties -------------------------------------------------------------------------------
    @property
    def domain(self) -> IndexDomain:
        return self._domain

    @property
    def input_rank(self) -> int:
        return self._domain.rank

    @property
    def ndim(self) -> int:
        return self._domain.rank

    @property
    def output_rank(self) -> int:
        return len(self._output)

    @property
    def output(self) -> OutputIndexMaps:
        return OutputIndexMaps(self._output)

    @property
    def input_origin(self) -> tuple[int, ...]:
        return self._domain.inclusive_min

    origin = input_origin
    input_inclusive_min = input_origin

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self._domain.shape

    shape = input_shape

    @property
    def input_exclusive_max(self) -> tuple[int, ...]:
        return self._domain.exclusive_max

    @property
    def input_inclusive_max(self) -> tuple[int, ...]:
        return self._domain.inclusive_max

    @property
    def input_labels(self) -> tuple[str, ...]:
        return self._domain.labels

    @property
    def implicit_lower_bounds(self) -> tuple[bool, ...]:
        return self._domain.implicit_lower_bounds

    @property
    def implicit_upper_bounds(self) -> tuple[bool, ...]:
        return self._domain.implicit_upper_bounds

    @property
    def size(self) -> int:
        return self._domain.size

    # -- evaluation -------------------------------------------------------------------------------
    def __call__(self, indices: Sequence[int]) -> tuple[int, ...]:
        """The output index vector for one input index vector."""
        if isinstance(indices, str | bytes) or not hasattr(indices, "__iter__"):
            raise TypeError(
                f"IndexTransform() expects an iterable of integers, not {type(indices).__name__}"
            )
        point = list(indices)
        if not all(is_index_like(x) for x in point):
            raise TypeError("IndexTransform() expects an iterable of integers")
        point = [int(x.__index__()) for x in point]
        dom = self._domain
        if len(point) != dom.rank:
            raise ValueError(
                f"input indices vector of length {len(point)} cannot be used with index "
                f"transform with input rank {dom.rank}"
            )
        for i, x in enumerate(point):
            lo, hi = dom._inclusive_min[i], dom._exclusive_max[i]
            if not lo <= x < hi:
                raise ValueError(
                    f"OUT_OF_RANGE: Index {x} is not contained in the domain {format_interval(lo, hi)} "
                    f"for input dimension {i}"
                )
        out = []
        for m in self._output:
            if m._method == CONSTANT:
                out.append(m._offset)
            elif m._method == SINGLE:
                out.append(m._offset + m._stride * point[m._input_dimension])
            else:
                array = m._index_array
                assert array is not None
                pos = tuple(
                    0 if n == 1 else x - lo
                    for n, x, lo in zip(array.shape, point, dom._inclusive_min, strict=True)
                )
                value = int(array[pos])
                index_range = m._index_range
                if not index_range._inclusive_min <= value < index_range._exclusive_max:
                    raise ValueError(
                        f"OUT_OF_RANGE: Computing index for output dimension {len(out)}: "
                        f"Checking result of index array output index map: Index {value} is "
                        f"outside valid range {m._range_text()}"
                    )
                out.append(m._offset + m._stride * value)
        return tuple(out)

    @property
    def inverse(self) -> IndexTransform:
        """The inverse of a bijective transform (single-input maps with stride +/-1)."""
        from ._compose import inverse_transform

        return inverse_transform(self)

    # -- identity / text ------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IndexTransform):
            return NotImplemented
        return (
            self._domain == other._domain
            and len(self._output) == len(other._output)
            and all(a == b for a, b in zip(self._output, other._output, strict=True))
        )

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (IndexTransform._make, (self._domain, self._output))

    def __repr__(self) -> str:
        dom = self._domain
        lines = [
            f"Rank {dom.rank} -> {len(self._output)} index space transform:",
            "  Input domain:",
        ]
        for i in range(dom.rank):
            text = format_interval(
                dom._inclusive_min[i],
                dom._exclusive_max[i],
                dom._implicit_lower[i],
                dom._implicit_upper[i],
            )
            label = f' "{dom._labels[i]}"' if dom._labels[i] else ""
            lines.append(f"    {i}: {text}{label}")
        lines.append("  Output index maps:")
        for j, m in enumerate(self._output):
            if m._method == CONSTANT:
                lines.append(f"    out[{j}] = {m._offset}")
            elif m._method == SINGLE:
                lines.append(f"    out[{j}] = {m._offset} + {m._stride} * in[{m._input_dimension}]")
            else:
                assert m._index_array is not None
                lines.append(
                    f"    out[{j}] = {m._offset} + {m._stride} * bounded({m._range_text()}, array(in)), where array ="
                )
                lines.append(f"      {format_array(m._index_array)}")
        return "\n".join(lines) + "\n"

    __str__ = __repr__

    def to_json(self) -> dict[str, Any]:
        """tensorstore's IndexTransform JSON, member for member."""
        from ._json import transform_to_json

        return transform_to_json(self)


_indexing_functions: tuple[Any, Any, Any, Any] | None = None


def _load_indexing_functions() -> tuple[Any, Any, Any, Any]:
    """``(apply_index, compose, DimExpression, slice_by_domain)``, imported on first use (their
    modules import this one)."""
    global _indexing_functions
    from ._compose import compose
    from ._dim_expression import DimExpression
    from ._indexing import apply_index, slice_by_domain

    _indexing_functions = (apply_index, compose, DimExpression, slice_by_domain)
    return _indexing_functions


def _validate_map(m: OutputIndexMap, j: int, domain: IndexDomain) -> OutputIndexMap:
    """Check a user-supplied output map against the domain (ValueError like tensorstore)."""
    if not isinstance(m, OutputIndexMap):
        raise TypeError(f"output[{j}] must be an OutputIndexMap, not {type(m).__name__}")
    rank = domain.rank
    if m._method == SINGLE:
        if not 0 <= m._input_dimension < rank:
            raise ValueError(
                f"Input dimension {m._input_dimension} specified for output dimension {j} "
                f"is outside valid range [0, {rank})"
            )
        return OutputIndexMap._single(m._input_dimension, m._offset, m._stride)
    if m._method == ARRAY:
        array = m._index_array
        assert array is not None
        if array.ndim != rank:
            raise ValueError(
                f"Index array for output dimension {j} has rank {array.ndim} but must have rank {rank}"
            )
        shape = domain.shape
        for n, s in zip(array.shape, shape, strict=True):
            if n not in (s, 1):
                raise ValueError(
                    f"Index array for output dimension {j} has shape {{{', '.join(map(str, array.shape))}}} "
                    f"which does not match input_shape {{{', '.join(map(str, shape))}}}"
                )
        for k, n in enumerate(array.shape):
            if n != 1 and (domain.implicit_lower_bounds[k] or domain.implicit_upper_bounds[k]):
                raise ValueError(
                    f"Index array for output dimension {j} depends on input dimension {k} with implicit bounds"
                )
        return OutputIndexMap._array(array, m._offset, m._stride, m._index_range)
    return m


def _normalize(domain: IndexDomain, maps: tuple[OutputIndexMap, ...]) -> tuple[OutputIndexMap, ...]:
    """On an empty domain index-array maps become ``constant 0`` (tensorstore's normal form)."""
    for m in maps:
        if m._method == ARRAY:
            break
    else:
        return maps
    if definitely_empty(domain):
        return tuple(OutputIndexMap._constant(0) if m._method == ARRAY else m for m in maps)
    return maps


def map_values(m: OutputIndexMap, domain: IndexDomain) -> Any:
    """Output indices of one map as an int array broadcastable over ``domain`` (scalar if constant)."""
    if m._method == CONSTANT:
        return np.int64(m._offset)
    rank = domain.rank
    if m._method == SINGLE:
        k = m._input_dimension
        shape = [1] * rank
        shape[k] = domain._exclusive_max[k] - domain._inclusive_min[k]
        values = (
            np.arange(domain._inclusive_min[k], domain._exclusive_max[k], dtype=np.int64)
            * m._stride
            + m._offset
        )
        return values.reshape(shape)
    assert m._index_array is not None
    return m._index_array * m._stride + m._offset
