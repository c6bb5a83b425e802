"""Index intervals: the ``Dim`` class and the integer arithmetic shared by every index-space op.

Bounds follow tensorstore: finite indices lie in ``[-(2**62 - 2), 2**62 - 2]`` and the
infinite bounds are ``-inf = -(2**62 - 1)`` (inclusive_min) and ``+inf = 2**62 - 1``
(inclusive_max).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

#: tensorstore's ``kInfIndex``: the inclusive_max of an interval unbounded above.
inf: int = (1 << 62) - 1
#: ``-inf``, the inclusive_min of an interval unbounded below (a constant: hot paths compare
#: with it, and ``-inf`` would negate the 62-bit int at each use).
NEG_INF: int = -inf
#: Smallest and largest finite index.
MIN_FINITE_INDEX: int = -inf + 1
MAX_FINITE_INDEX: int = inf - 1
#: Size reported for an interval unbounded on both sides (tensorstore's ``kInfSize``).
INF_SIZE: int = (1 << 63) - 1


def is_valid_index(value: int) -> bool:
    """Whether ``value`` is a finite index."""
    return MIN_FINITE_INDEX <= value <= MAX_FINITE_INDEX


def format_bound_lower(value: int, implicit: bool = False) -> str:
    """``-inf`` or the number, with ``*`` when implicit (tensorstore's interval notation)."""
    text = "-inf" if value == -inf else str(value)
    return text + "*" if implicit else text


def format_bound_upper(exclusive_max: int, implicit: bool = False) -> str:
    """``+inf`` or the exclusive bound, with ``*`` when implicit."""
    text = "+inf" if exclusive_max - 1 == inf else str(exclusive_max)
    return text + "*" if implicit else text


def format_interval(
    inclusive_min: int,
    exclusive_max: int,
    implicit_lower: bool = False,
    implicit_upper: bool = False,
) -> str:
    """Tensorstore's interval notation: ``[0, 5)``, ``(-inf*, +inf*)``."""
    left = "(" if inclusive_min == -inf else "["
    right = ")"
    return (
        f"{left}{format_bound_lower(inclusive_min, implicit_lower)}, "
        f"{format_bound_upper(exclusive_max, implicit_upper)}{right}"
    )


def validate_half_open(inclusive_min: int, exclusive_max: int) -> None:
    """Raise ``ValueError`` unless ``[inclusive_min, exclusive_max)`` is a valid interval."""
    if not (
        -inf <= inclusive_min <= MAX_FINITE_INDEX
        and MIN_FINITE_INDEX <= exclusive_max - 1 <= inf
        and exclusive_max >= inclusive_min
    ):
        raise ValueError(
            f"({inclusive_min}, {exclusive_max}) do not specify a valid half-open index interval"
        )


def validate_closed(inclusive_min: int, inclusive_max: int) -> None:
    """Raise ``ValueError`` unless ``[inclusive_min, inclusive_max]`` is a valid interval."""
    if not (
        -inf <= inclusive_min <= MAX_FINITE_INDEX
        and MIN_FINITE_INDEX <= inclusive_max <= inf
        and inclusive_max >= inclusive_min - 1
    ):
        raise ValueError(
            f"({inclusive_min}, {inclusive_max}) do not specify a valid closed index interval"
        )


def interval_size(inclusive_min: int, exclusive_max: int) -> int:
    """Number of indices (``kInfSize`` when unbounded on both sides, as tensorstore counts)."""
    return exclusive_max - inclusive_min


def floor_div(a: int, b: int) -> int:
    """Floor of ``a / b``."""
    return a // b


def ceil_div(a: int, b: int) -> int:
    """Ceiling of ``a / b``."""
    return -((-a) // b)


def trunc_div(a: int, b: int) -> int:
    """``a / b`` rounded toward zero (C++ integer division)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def affine_preimage(
    inclusive_min: int, inclusive_max: int, offset: int, stride: int
) -> tuple[int, int, bool]:
    """Closed interval of ``x`` with ``inclusive_min <= offset + stride * x <= inclusive_max``.

    Infinite bounds map to infinite bounds; the flag says whether the bounds swapped sides
    (negative stride).
    """
    # ceil_div and floor_div written out: this runs for every dimension of every composition.
    if stride > 0:
        lo = NEG_INF if inclusive_min == NEG_INF else -((offset - inclusive_min) // stride)
        hi = inf if inclusive_max == inf else (inclusive_max - offset) // stride
        return lo, hi, False
    lo = NEG_INF if inclusive_max == inf else -((offset - inclusive_max) // stride)
    hi = inf if inclusive_min == NEG_INF else (inclusive_min - offset) // stride
    return lo, hi, True


def affine_domain(
    inclusive_min: int, inclusive_max: int, offset: int, stride: int
) -> tuple[int, int, bool]:
    """``affine_preimage``, except that an empty interval maps to the empty interval at
    ``ceil((inclusive_min - offset) / stride)`` (tensorstore's rule for strides and propagation)."""
    if inclusive_max < inclusive_min:
        x = ceil_div(inclusive_min - offset, stride)
        return x, x - 1, stride < 0
    return affine_preimage(inclusive_min, inclusive_max, offset, stride)


def _merge_implicit(
    a_value: int, a_implicit: bool, b_value: int, b_implicit: bool, value: int
) -> bool:
    """Implicit flag of a combined bound: from the operand that supplied it, both if tied."""
    if a_value == b_value:
        return a_implicit and b_implicit
    return a_implicit if value == a_value else b_implicit


def merge_labels(a: str, b: str) -> str:
    """The common label of two dimensions; an empty label matches any label."""
    if a and b and a != b:
        raise ValueError("Dimension labels do not match")
    return a or b


class Dim:
    """An index interval with optional implicit bounds and a label (tensorstore's ``ts.Dim``)."""

    __slots__ = ("_exclusive_max", "_implicit_lower", "_implicit_upper", "_inclusive_min", "_label")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # tensorstore's four overloads, tried in order as pybind11 does: unbounded (label),
        # sized (size[, label]), half-open (inclusive_min, exclusive_max) and closed.
        for form in _DIM_FORMS:
            try:
                bound = form(*args, **kwargs)
            except TypeError:
                continue
            if _dim_arguments_ok(bound):
                break
        else:
            raise TypeError(
                "Dim(): incompatible constructor arguments. The supported forms are "
                "Dim(label=None, *, implicit_lower=True, implicit_upper=True), "
                "Dim(size, label=None, *, inclusive_min=None, implicit_lower=False, implicit_upper=None), "
                "Dim(inclusive_min=-inf, exclusive_max=+inf, *, label=None, implicit_lower=None, implicit_upper=None) and "
                "Dim(*, inclusive_min=-inf, inclusive_max=+inf, label=None, implicit_lower=None, implicit_upper=None); "
                f"invoked with {_describe_call(args, kwargs)}"
            )
        kind = bound.pop("form")
        label = bound["label"]
        implicit_lower = bound["implicit_lower"]
        implicit_upper = bound["implicit_upper"]
        if kind == "unbounded":
            lo, hi = -inf, inf + 1
        elif kind == "size":
            lo = 0 if bound["inclusive_min"] is None else _as_index(bound["inclusive_min"])
            if bound["size"] is None:
                hi = inf + 1
                validate_half_open(lo, hi)
                if implicit_upper is None:
                    implicit_upper = True
            else:
                size = _as_index(bound["size"])
                if not (size >= 0 and -inf <= lo <= MAX_FINITE_INDEX and lo + size - 1 <= inf):
                    raise ValueError(f"({lo}, {size}) do not specify a valid sized index interval")
                hi = lo + size
            if implicit_upper is None:
                implicit_upper = False
        else:
            given_lo = bound["inclusive_min"]
            lo = -inf if given_lo is None else _as_index(given_lo)
            if implicit_lower is None:
                implicit_lower = given_lo is None
            if kind == "exclusive":
                given_hi = bound["exclusive_max"]
                hi = inf + 1 if given_hi is None else _as_index(given_hi)
                validate_half_open(lo, hi)
            else:
                given_hi = bound["inclusive_max"]
                closed_max = inf if given_hi is None else _as_index(given_hi)
                validate_closed(lo, closed_max)
                hi = closed_max + 1
            if implicit_upper is None:
                implicit_upper = given_hi is None
        self._inclusive_min = lo
        self._exclusive_max = hi
        self._implicit_lower = bool(implicit_lower)
        self._implicit_upper = bool(implicit_upper)
        self._label = "" if label is None else label

    @classmethod
    def _make(
        cls,
        inclusive_min: int,
        exclusive_max: int,
        implicit_lower: bool,
        implicit_upper: bool,
        label: str,
    ) -> Dim:
        """Build without validation (internal fast path)."""
        self = object.__new__(cls)
        self._inclusive_min = inclusive_min
        self._exclusive_max = exclusive_max
        self._implicit_lower = implicit_lower
        self._implicit_upper = implicit_upper
        self._label = label
        return self

    # -- bounds ------------------------------------------------------------------------------
    @property
    def inclusive_min(self) -> int:
        return self._inclusive_min

    @property
    def exclusive_min(self) -> int:
        return self._inclusive_min - 1

    @property
    def inclusive_max(self) -> int:
        return self._exclusive_max - 1

    @property
    def exclusive_max(self) -> int:
        return self._exclusive_max

    @property
    def size(self) -> int:
        return interval_size(self._inclusive_min, self._exclusive_max)

    @property
    def implicit_lower(self) -> bool:
        return self._implicit_lower

    @implicit_lower.setter
    def implicit_lower(self, value: bool) -> None:
        self._implicit_lower = _as_bool(value, "implicit_lower")

    @property
    def implicit_upper(self) -> bool:
        return self._implicit_upper

    @implicit_upper.setter
    def implicit_upper(self, value: bool) -> None:
        self._implicit_upper = _as_bool(value, "implicit_upper")

    @property
    def label(self) -> str:
        return self._label

    @label.setter
    def label(self, value: str | None) -> None:
        if value is not None and not isinstance(value, str):
            raise TypeError(f"label must be a str or None, not {type(value).__name__}")
        self._label = "" if value is None else value

    @property
    def finite(self) -> bool:
        """Whether both bounds are finite."""
        return self._inclusive_min != -inf and self._exclusive_max - 1 != inf

    @property
    def empty(self) -> bool:
        return self._exclusive_max == self._inclusive_min

    @property
    def borders(self) -> tuple[int, int]:
        """``(inclusive_min, exclusive_max)``."""
        return self._inclusive_min, self._exclusive_max

    # -- set operations ----------------------------------------------------------------------
    def intersect(self, other: Dim) -> Dim:
        """The intersection; an implicit bound stays implicit only if it is the binding one."""
        _check_dim(other, "intersect")
        lo = max(self._inclusive_min, other._inclusive_min)
        hi = min(self._exclusive_max, other._exclusive_max)
        return Dim._make(
            lo,
            max(hi, lo),
            _merge_implicit(
                self._inclusive_min,
                self._implicit_lower,
                other._inclusive_min,
                other._implicit_lower,
                lo,
            ),
            _merge_implicit(
                self._exclusive_max,
                self._implicit_upper,
                other._exclusive_max,
                other._implicit_upper,
                hi,
            ),
            merge_labels(self._label, other._label),
        )

    def hull(self, other: Dim) -> Dim:
        """The smallest interval containing both."""
        _check_dim(other, "hull")
        if self.empty:
            return Dim._make(*other._fields()[:4], merge_labels(self._label, other._label))
        if other.empty:
            return Dim._make(*self._fields()[:4], merge_labels(self._label, other._label))
        lo = min(self._inclusive_min, other._inclusive_min)
        hi = max(self._exclusive_max, other._exclusive_max)
        return Dim._make(
            lo,
            hi,
            _merge_implicit(
                self._inclusive_min,
                self._implicit_lower,
                other._inclusive_min,
                other._implicit_lower,
                lo,
            ),
            _merge_implicit(
                self._exclusive_max,
                self._implicit_upper,
                other._exclusive_max,
                other._implicit_upper,
                hi,
            ),
            merge_labels(self._label, other._label),
        )

    def __contains__(self, other: object) -> bool:
        if isinstance(other, Dim):
            return other.empty or (
                self._inclusive_min <= other._inclusive_min
                and other._exclusive_max <= self._exclusive_max
            )
        if not hasattr(other, "__index__"):
            raise TypeError(
                f"Dim.__contains__ expects an integer or a Dim, not {type(other).__name__}"
            )
        return bool(self._inclusive_min <= int(other.__index__()) < self._exclusive_max)

    def __iter__(self) -> Iterator[int]:
        if not self.finite:
            raise ValueError("Cannot iterate over infinite interval")
        return iter(range(self._inclusive_min, self._exclusive_max))

    def __len__(self) -> int:
        return self.size

    # -- identity -----------------------------------------------------------------------------
    def _fields(self) -> tuple[int, int, bool, bool, str]:
        return (
            self._inclusive_min,
            self._exclusive_max,
            self._implicit_lower,
            self._implicit_upper,
            self._label,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Dim):
            return NotImplemented
        return self._fields() == other._fields()

    # Mutable (label and implicit flags can be set), hence unhashable like tensorstore's.
    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (Dim._make, self._fields())

    def __repr__(self) -> str:
        parts = []
        if self._inclusive_min != -inf:
            parts.append(f"inclusive_min={self._inclusive_min}")
        if self._implicit_lower != (self._inclusive_min == -inf):
            parts.append(f"implicit_lower={self._implicit_lower}")
        if self._exclusive_max - 1 != inf:
            parts.append(f"exclusive_max={self._exclusive_max}")
        if self._implicit_upper != (self._exclusive_max - 1 == inf):
            parts.append(f"implicit_upper={self._implicit_upper}")
        if self._label:
            parts.append(f'label="{self._label}"')
        return f"Dim({', '.join(parts)})"

    def __str__(self) -> str:
        text = format_interval(*self._fields()[:4])
        return f'"{self._label}": {text}' if self._label else text

    def to_json(self) -> dict[str, Any]:
        """JSON object with the bounds (``[[n]]`` marks an implicit bound, as in domains)."""
        out: dict[str, Any] = {
            "inclusive_min": bound_to_json(self._inclusive_min, self._implicit_lower, lower=True),
            "exclusive_max": bound_to_json(self._exclusive_max, self._implicit_upper, lower=False),
        }
        if self._label:
            out["label"] = self._label
        return out


def bound_to_json(value: int, implicit: bool, *, lower: bool) -> Any:
    """A domain bound as tensorstore writes it: number, ``"-inf"``/``"+inf"``, in ``[ ]`` if implicit."""
    if lower:
        item: Any = "-inf" if value == -inf else value
    else:
        item = "+inf" if value - 1 == inf else value
    return [item] if implicit else item


def _as_index(value: Any) -> int:
    """An argument already checked by ``is_index_like`` as a plain ``int``."""
    return int(value.__index__())


def is_index_like(value: Any) -> bool:
    """Whether ``value`` converts to an index as pybind11 converts integers (``__index__``)."""
    return (
        hasattr(value, "__index__")
        and not isinstance(value, str | bytes)
        and not (isinstance(value, np.ndarray) and value.ndim)
    )


def _as_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
    return bool(value)


def _check_dim(other: Any, operation: str) -> None:
    if not isinstance(other, Dim):
        raise TypeError(f"Dim.{operation} expects a Dim, not {type(other).__name__}")


# The constructor overloads, as functions binding the caller's arguments (a TypeError from
# binding means "not this form").
def _unbounded_form(
    label: Any = None, *, implicit_lower: Any = True, implicit_upper: Any = True
) -> dict[str, Any]:
    return {"form": "unbounded", **locals()}


def _size_form(
    size: Any,
    label: Any = None,
    *,
    inclusive_min: Any = None,
    implicit_lower: Any = False,
    implicit_upper: Any = None,
) -> dict[str, Any]:
    return {"form": "size", **locals()}


def _exclusive_form(
    inclusive_min: Any = None,
    exclusive_max: Any = None,
    *,
    label: Any = None,
    implicit_lower: Any = None,
    implicit_upper: Any = None,
) -> dict[str, Any]:
    return {"form": "exclusive", **locals()}


def _inclusive_form(
    *,
    inclusive_min: Any = None,
    inclusive_max: Any = None,
    label: Any = None,
    implicit_lower: Any = None,
    implicit_upper: Any = None,
) -> dict[str, Any]:
    return {"form": "inclusive", **locals()}


_DIM_FORMS = (_unbounded_form, _size_form, _exclusive_form, _inclusive_form)
_INDEX_ARGUMENTS = ("size", "inclusive_min", "exclusive_max", "inclusive_max")


def _dim_arguments_ok(bound: dict[str, Any]) -> bool:
    """Whether the bound arguments have the types of their form (else try the next form)."""
    for name, value in bound.items():
        if value is None or name == "form":
            continue
        if name == "label":
            if not isinstance(value, str):
                return False
        elif name in _INDEX_ARGUMENTS:
            if not is_index_like(value):
                return False
        elif not isinstance(value, bool | np.bool_):
            return False
    return True


def _describe_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return "(" + ", ".join(parts) + ")"
