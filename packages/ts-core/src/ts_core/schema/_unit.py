"""``Unit``: a physical quantity, a multiplier times a (usually udunits2) base unit string."""

from __future__ import annotations

import math
import re
import sys
from typing import Any

from .._validation import SpecError, describe

__all__ = ["Unit", "UnitLike"]

# A leading decimal number (no hex, no "nan"/"inf"), then optional blanks, then the base unit.
_UNIT_TEXT = re.compile(r"([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)?\s*(.*)", re.S)

_C_ESCAPES = {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", ord('"'): '\\"',
              ord("'"): "\\'", ord("\\"): "\\\\"}


def _parse_text(text: str) -> tuple[float, str]:
    match = _UNIT_TEXT.fullmatch(text.strip())
    assert match is not None  # the pattern matches every string
    number, base_unit = match.groups()
    if not number:
        return 1.0, base_unit
    value = float(number)
    # Out of range for a normal double (overflow, or a nonzero number below the smallest
    # normal double): like C's strtod reporting ERANGE, the text is not taken as a number.
    mantissa = re.split("[eE]", number)[0]
    underflow = abs(value) < sys.float_info.min and any(c in "123456789" for c in mantissa)
    if math.isinf(value) or underflow:
        return 1.0, text.strip()
    return value, base_unit


def _c_escape(text: str) -> str:
    """Escape like a C string literal, byte by byte over UTF-8 (as the repr of the wheel does)."""
    out = []
    after_hex = False
    for byte in text.encode("utf-8"):
        # A hex digit right after a \x escape is escaped too, or it would extend the escape.
        is_hex_digit = chr(byte) in "0123456789abcdefABCDEF"
        if byte in _C_ESCAPES:
            out.append(_C_ESCAPES[byte])
            after_hex = False
        elif 0x20 <= byte < 0x7F and not (after_hex and is_hex_digit):
            out.append(chr(byte))
            after_hex = False
        else:
            out.append(f"\\x{byte:02x}")
            after_hex = True
    return "".join(out)


def _is_number(value: object) -> bool:
    return hasattr(value, "__float__") and not isinstance(value, str | bytes)


class Unit:
    """A physical unit: ``multiplier`` (a float) times ``base_unit`` (a string, ``""`` if none).

    Constructed from ``"4nm"``, a number, a ``(multiplier, base_unit)`` pair, two arguments,
    or ``json=``; immutable and compared by value.
    """

    __slots__ = ("_base_unit", "_multiplier")

    _multiplier: float
    _base_unit: str

    def __init__(
        self,
        unit: UnitLike | None = None,
        base_unit: str | None = None,
        *,
        multiplier: float | None = None,
        json: Any = None,
    ) -> None:
        if json is not None:
            if unit is not None or base_unit is not None or multiplier is not None:
                raise TypeError("Unit: json= cannot be combined with other arguments")
            value, text = _unit_from_json(json, "")
        elif multiplier is not None:
            if unit is not None:
                raise TypeError("Unit: multiplier given twice")
            value, text = float(multiplier), base_unit if base_unit is not None else ""
        elif base_unit is not None:
            if not _is_number(unit):
                raise TypeError(f"Unit: multiplier must be a number, not {unit!r}")
            value, text = float(unit), base_unit  # type: ignore[arg-type]
        elif unit is None:
            value, text = 1.0, ""
        else:
            value, text = _coerce(unit)
        if not isinstance(text, str):
            raise TypeError(f"Unit: base_unit must be a string, not {text!r}")
        object.__setattr__(self, "_multiplier", value)
        object.__setattr__(self, "_base_unit", text)

    @property
    def multiplier(self) -> float:
        """The numerical multiplier."""
        return self._multiplier

    @property
    def base_unit(self) -> str:
        """The base unit (``""`` for a dimensionless quantity)."""
        return self._base_unit

    def to_json(self) -> list[Any]:
        """``[multiplier, base_unit]``."""
        return [self._multiplier, self._base_unit]

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Unit is immutable; cannot set {name!r}")

    def __mul__(self, factor: float) -> Unit:
        if isinstance(factor, Unit) or not _is_number(factor):
            return NotImplemented
        return Unit(self._multiplier * float(factor), self._base_unit)

    def __truediv__(self, divisor: float) -> Unit:
        if isinstance(divisor, Unit) or not _is_number(divisor):
            return NotImplemented
        return Unit(self._multiplier / float(divisor), self._base_unit)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Unit):
            return NotImplemented
        return self._multiplier == other._multiplier and self._base_unit == other._base_unit

    __hash__ = None  # type: ignore[assignment]  # like the wheel: compared by value, unhashable

    def __str__(self) -> str:
        if self._multiplier == 1:
            return self._base_unit or "1"
        number = _format_multiplier(self._multiplier)
        return f"{number} {self._base_unit}" if self._base_unit else number

    def __repr__(self) -> str:
        return f'Unit({_format_multiplier(self._multiplier)}, "{_c_escape(self._base_unit)}")'

    def __reduce__(self) -> tuple[Any, ...]:
        return (Unit, (self._multiplier, self._base_unit))


UnitLike = Unit | str | float | int | tuple[float, str]


def _format_multiplier(value: float) -> str:
    # printf's %g: six significant digits, as the wheel prints multipliers
    return f"{value:g}"


def _coerce(value: Any) -> tuple[float, str]:
    if isinstance(value, Unit):
        return value.multiplier, value.base_unit
    if isinstance(value, str):
        return _parse_text(value)
    if isinstance(value, tuple | list):
        if len(value) != 2 or not _is_number(value[0]) or not isinstance(value[1], str):
            raise TypeError(f"Unit: expected (multiplier, base_unit), got {value!r}")
        return float(value[0]), value[1]
    if _is_number(value):
        return float(value), ""
    raise TypeError(f"Unit: cannot construct from {value!r}")


def _unit_from_json(value: Any, json_path: str) -> tuple[float, str]:
    if isinstance(value, str):
        return _parse_text(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value), ""
    if not isinstance(value, list | tuple):
        raise SpecError(json_path, f"expected array, string or number, but received: {describe(value)}")
    if len(value) != 2:
        raise SpecError(json_path, f"array has length {len(value)} but should have length 2")
    number, base_unit = value
    if not isinstance(number, int | float) or isinstance(number, bool):
        raise SpecError(f"{json_path}[0]", f"expected number, but received: {describe(number)}")
    if not isinstance(base_unit, str):
        raise SpecError(f"{json_path}[1]", f"expected string, but received: {describe(base_unit)}")
    return float(number), base_unit


def unit_from_json(value: Any, json_path: str = "") -> Unit:
    """Parse the JSON form of a unit (``"4nm"``, ``4``, or ``[4, "nm"]``); errors name ``json_path``."""
    number, base_unit = _unit_from_json(value, json_path)
    return Unit(number, base_unit)


def to_unit(value: Any, json_path: str = "") -> Unit:
    """Convert any accepted unit form (a ``Unit`` or its JSON/Python forms) to a ``Unit``."""
    if isinstance(value, Unit):
        return value
    try:
        return Unit(value)
    except TypeError as exc:
        raise SpecError(json_path, str(exc)) from None

