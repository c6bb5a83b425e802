"""Output index maps: how one output dimension is computed from the input indices."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ._interval import Dim, format_interval, inf, is_index_like

#: dtype of every index array.
INDEX_DTYPE = np.dtype(np.int64)
#: Interval (-inf, +inf) with explicit bounds: the default ``index_range``.
FULL_RANGE = Dim._make(-inf, inf + 1, False, False, "")


class OutputIndexMethod(enum.Enum):
    """The three kinds of output index map.

    As tensorstore's, a member converts to int (``int``, ``__index__``) but does not
    compare equal to one, nor order: ``OutputIndexMethod.constant == 0`` is False.
    """

    constant = 0
    single_input_dimension = 1
    array = 2

    def __int__(self) -> int:
        return int(self.value)

    def __index__(self) -> int:
        return int(self.value)

    def __float__(self) -> float:
        return float(self.value)

    def __hash__(self) -> int:
        return int(self.value)

    def __repr__(self) -> str:
        return f"<OutputIndexMethod.{self.name}: {self.value}>"

    def __str__(self) -> str:
        return f"OutputIndexMethod.{self.name}"


# tensorstore's ``name`` and ``value`` are plain properties, so they are found on the class
# too (``ts.OutputIndexMethod.name``); Enum's own hide themselves from class access.
OutputIndexMethod.name = property(lambda self: self._name_, doc="The member's name.")  # type: ignore[assignment]
OutputIndexMethod.value = property(lambda self: self._value_, doc="The member's int value.")  # type: ignore[assignment]

CONSTANT = OutputIndexMethod.constant
SINGLE = OutputIndexMethod.single_input_dimension
ARRAY = OutputIndexMethod.array


def as_index_array(value: Any) -> np.ndarray[Any, Any]:
    """A read-only int64 array; ``IndexError`` if ``value`` is not integer-valued."""
    array = np.asarray(value)
    if array.dtype != INDEX_DTYPE:
        if array.size and array.dtype.kind not in "iu":
            raise TypeError(f"index array must have an integer data type, not {array.dtype}")
        array = array.astype(INDEX_DTYPE)
    if array.flags.writeable:
        array = array.view()
        array.flags.writeable = False
    return array


def _constant_form(offset: Any = 0) -> dict[str, Any]:
    return {"form": CONSTANT, "offset": offset}


def _single_form(input_dimension: Any, offset: Any = 0, stride: Any = 1) -> dict[str, Any]:
    return {"form": SINGLE, **locals()}


def _array_form(
    index_array: Any, offset: Any = 0, stride: Any = 1, index_range: Any = None
) -> dict[str, Any]:
    return {"form": ARRAY, **locals()}


def _map_arguments_ok(bound: dict[str, Any]) -> bool:
    """Check the types of one form's arguments; the index array is converted in place."""
    for name in ("offset", "stride", "input_dimension"):
        if name not in bound:
            continue
        value: Any = bound[name]
        if not (is_index_like(value) and -(1 << 63) <= value.__index__() < 1 << 63):
            return False
    if bound["form"] == ARRAY:
        if bound["index_range"] is not None and not isinstance(bound["index_range"], Dim):
            return False
        try:
            array = np.asarray(bound["index_array"])
            if array.dtype.kind not in "biuf":
                return False
            array = array.astype(INDEX_DTYPE)
        except (TypeError, ValueError, OverflowError):
            return False
        array.flags.writeable = False
        bound["index_array"] = array
    return True


def format_array(array: np.ndarray[Any, Any]) -> str:
    """Nested-brace array text like tensorstore's (``{{1, 2}, {3, 4}}``)."""
    if array.ndim == 0:
        return str(int(array))
    return "{" + ", ".join(format_array(sub) for sub in array) + "}"


class OutputIndexMap:
    """One output dimension: ``offset``, ``offset + stride * in[d]`` or ``offset + stride * array[in]``."""

    __slots__ = (
        "_index_array",
        "_index_range",
        "_input_dimension",
        "_method",
        "_offset",
        "_stride",
    )

    _method: OutputIndexMethod
    _offset: int
    _stride: int
    _input_dimension: int
    _index_array: np.ndarray[Any, Any] | None
    _index_range: Dim

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # tensorstore's three overloads, tried in order: constant (offset), single input
        # dimension (input_dimension, offset, stride), index array (index_array, offset,
        # stride, index_range).
        for form in (_constant_form, _single_form, _array_form):
            try:
                bound = form(*args, **kwargs)
            except TypeError:
                continue
            if _map_arguments_ok(bound):
                break
        else:
            raise TypeError(
                "OutputIndexMap(): incompatible constructor arguments. The supported forms are "
                "OutputIndexMap(offset=0), OutputIndexMap(input_dimension, offset=0, stride=1) and "
                "OutputIndexMap(index_array, offset=0, stride=1, index_range=Dim())"
            )
        self._offset = int(bound["offset"].__index__())
        self._stride = 0
        self._input_dimension = -1
        self._index_array = None
        self._index_range = FULL_RANGE
        if bound["form"] == SINGLE:
            self._method = SINGLE
            self._stride = int(bound["stride"].__index__())
            self._input_dimension = int(bound["input_dimension"].__index__())
        elif bound["form"] == ARRAY:
            self._method = ARRAY
            self._stride = int(bound["stride"].__index__())
            self._index_array = bound["index_array"]
            index_range = bound["index_range"]
            if index_range is not None:
                self._index_range = Dim._make(
                    index_range.inclusive_min, index_range.exclusive_max, False, False, ""
                )
        else:
            self._method = CONSTANT

    @classmethod
    def _constant(cls, offset: int) -> OutputIndexMap:
        self = object.__new__(cls)
        self._method = CONSTANT
        self._offset = offset
        self._stride = 0
        self._input_dimension = -1
        self._index_array = None
        self._index_range = FULL_RANGE
        return self

    @classmethod
    def _single(cls, input_dimension: int, offset: int, stride: int) -> OutputIndexMap:
        if stride == 0:
            return cls._constant(offset)
        self = object.__new__(cls)
        self._method = SINGLE
        self._offset = offset
        self._stride = stride
        self._input_dimension = input_dimension
        self._index_array = None
        self._index_range = FULL_RANGE
        return self

    @classmethod
    def _array(
        cls, array: np.ndarray[Any, Any], offset: int, stride: int, index_range: Dim = FULL_RANGE
    ) -> OutputIndexMap:
        if stride == 0:
            return cls._constant(offset)
        self = object.__new__(cls)
        self._method = ARRAY
        self._offset = offset
        self._stride = stride
        self._input_dimension = -1
        self._index_array = array
        self._index_range = index_range
        return self

    # -- public attributes ------------------------------------------------------------------
    @property
    def method(self) -> OutputIndexMethod:
        return self._method

    @property
    def offset(self) -> int:
        return self._offset

    @property
    def stride(self) -> int | None:
        return None if self._method == CONSTANT else self._stride

    @property
    def input_dimension(self) -> int | None:
        return self._input_dimension if self._method == SINGLE else None

    @property
    def index_array(self) -> np.ndarray[Any, Any] | None:
        return self._index_array

    @property
    def index_range(self) -> Dim | None:
        return self._index_range if self._method == ARRAY else None

    # -- identity -----------------------------------------------------------------------------
    def _key(self) -> tuple[Any, ...]:
        if self._method == CONSTANT:
            return (0, self._offset)
        if self._method == SINGLE:
            return (1, self._offset, self._stride, self._input_dimension)
        return (
            2,
            self._offset,
            self._stride,
            self._index_range.inclusive_min,
            self._index_range.exclusive_max,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OutputIndexMap):
            return NotImplemented
        if self._key() != other._key():
            return False
        if self._method != ARRAY:
            return True
        a, b = self._index_array, other._index_array
        assert a is not None
        assert b is not None
        if a.ndim != b.ndim:
            return False
        try:
            left, right = np.broadcast_arrays(a, b)
            return bool(np.array_equal(left, right))
        except ValueError:
            return False

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_map,
            (
                self._method.value,
                self._offset,
                self._stride,
                self._input_dimension,
                None if self._index_array is None else np.array(self._index_array),
                self._index_range.inclusive_min,
                self._index_range.exclusive_max,
            ),
        )

    def __repr__(self) -> str:
        if self._method == CONSTANT:
            return f"OutputIndexMap(offset={self._offset})"
        if self._method == SINGLE:
            return f"OutputIndexMap(offset={self._offset}, stride={self._stride}, input_dimension={self._input_dimension})"
        assert self._index_array is not None
        return (
            f"OutputIndexMap(offset={self._offset}, stride={self._stride}, "
            f"index_array={format_array(self._index_array)}, index_range={self._range_text()})"
        )

    def _range_text(self) -> str:
        return format_interval(self._index_range.inclusive_min, self._index_range.exclusive_max)


def _rebuild_map(
    method_value: int, offset: int, stride: int, input_dimension: int, array: Any, lo: int, hi: int
) -> OutputIndexMap:
    method = OutputIndexMethod(method_value)  # pickles hold the int value
    if method == CONSTANT:
        return OutputIndexMap._constant(offset)
    if method == SINGLE:
        return OutputIndexMap._single(input_dimension, offset, stride)
    return OutputIndexMap._array(
        as_index_array(array), offset, stride, Dim._make(lo, hi, False, False, "")
    )


class OutputIndexMaps(Sequence[OutputIndexMap]):
    """The output index maps of a transform, as a read-only sequence."""

    __slots__ = ("_maps",)

    def __init__(self, maps: Sequence[OutputIndexMap]) -> None:
        self._maps = tuple(maps)

    def __len__(self) -> int:
        return len(self._maps)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return list(self._maps[index])
        if not is_index_like(index):
            raise TypeError(
                f"OutputIndexMaps indices must be integers or slices, not {type(index).__name__}"
            )
        rank = len(self._maps)
        i = int(index.__index__())
        if not -rank <= i < rank:
            raise IndexError(f"Index {i} is outside valid range [{-rank}, {rank})")
        return self._maps[i]

    def __iter__(self) -> Iterator[OutputIndexMap]:
        return iter(self._maps)

    @property
    def rank(self) -> int:
        return len(self._maps)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, OutputIndexMaps):
            other = other._maps
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(other) == len(self._maps) and all(
            a == b for a, b in zip(self._maps, other, strict=True)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "[" + ", ".join(repr(m) for m in self._maps) + "]"
