"""Index intervals: the ``Dim`` class and the integer arithmetic shared by every index-space op.

Bounds follow tensorstore: finite indices lie in ``[-(2**62 - 2), 2**62 - 2]`` and the
infinite bounds are ``-inf = -(2**62 - 1)`` (inclusive_min) and ``+inf = 2**62 - 1``
(inclusive_max).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

#: tensorstore's ``kInfIndex``: the inclusive_max of an interval unbounded above.
inf: int = (1 << 62) - 1
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
    if stride > 0:
        lo = -inf if inclusive_min == -inf else ceil_div(inclusive_min - offset, stride)
        hi = inf if inclusive_max == inf else floor_div(inclusive_max - offset, stride)
        return lo, hi, False
    lo = -inf if inclusive_max == inf else ceil_div(inclusive_max - offset, stride)
    hi = inf if inclusive_min == -inf else floor_div(inclusive_min - offset, stride)
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

    def __init__(
        self,
        *args: Any,
        inclusive_min: int | None = None,
        exclusive_max: int | None = None,
        size: int | None = None,
        inclusive_max: int | None = None,
        label: str | None = None,
        implicit_lower: bool | None = None,
        implicit_upper: bool | None = None,
    ) -> None:
        # Positional forms as tensorstore: (), (label), (size[, label]), (inclusive_min, exclusive_max[, label]).
        if args and isinstance(args[-1], str):
            if label is not None:
                raise TypeError("label given twice")
            label, args = args[-1], args[:-1]
        if len(args) == 1:
            size = args[0]
        elif len(args) == 2:
            inclusive_min, exclusive_max = args
        elif len(args) > 2:
            raise TypeError(f"Dim() takes at most 3 positional arguments ({len(args)} given)")
        given = sum(value is not None for value in (exclusive_max, size, inclusive_max))
        if given > 1:
            raise ValueError(
                "At most one of exclusive_max, size and inclusive_max may be specified"
            )
        lower_given = inclusive_min is not None or size is not None
        lo = -inf if inclusive_min is None else _as_index(inclusive_min, "inclusive_min")
        if size is not None:
            if inclusive_min is None:
                lo = 0
            size = _as_index(size, "size")
            hi = lo + size
            validate_half_open(lo, hi)
        elif exclusive_max is not None:
            hi = _as_index(exclusive_max, "exclusive_max")
            validate_half_open(lo, hi)
        elif inclusive_max is not None:
            closed_max = _as_index(inclusive_max, "inclusive_max")
            validate_closed(lo, closed_max)
            hi = closed_max + 1
        else:
            hi = inf + 1
            validate_half_open(lo, hi)
        upper_given = given > 0
        self._inclusive_min = lo
        self._exclusive_max = hi
        self._implicit_lower = (not lower_given) if implicit_lower is None else bool(implicit_lower)
        self._implicit_upper = (not upper_given) if implicit_upper is None else bool(implicit_upper)
        self._label = "" if label is None else str(label)

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

    @property
    def implicit_upper(self) -> bool:
        return self._implicit_upper

    @property
    def label(self) -> str:
        return self._label

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
        try:
            value = int(other)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return False
        return bool(self._inclusive_min <= value < self._exclusive_max)

    def __iter__(self) -> Iterator[int]:
        if not self.finite:
            raise ValueError(
                f"Cannot iterate over unbounded interval {format_interval(*self._fields()[:4])}"
            )
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

    def __hash__(self) -> int:
        return hash(self._fields())

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


def _as_index(value: Any, name: str) -> int:
    """Coerce an index-like argument to ``int`` (``TypeError`` naming the argument otherwise)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, not bool")
    try:
        return int(value.__index__())
    except AttributeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
