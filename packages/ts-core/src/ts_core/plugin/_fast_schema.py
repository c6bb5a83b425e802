"""A fast validity check of registered JSON Schemas, by jsonschema-rs.

jsonschema interprets a schema anew for every instance (about 0.1-0.2 ms for a driver
spec), which every ``ts.open`` and ``ts.Spec`` pays. jsonschema-rs (a maintained Rust
implementation of the same drafts) compiles the schema once and answers "is this valid?"
in well under a microsecond. It only ever *accepts*: when it rejects a value, or cannot
read one (NumPy scalars, keys that are not strings, other Python objects), jsonschema
judges it, so errors name the JSON path exactly as before and nothing jsonschema would
reject slips through on a difference of the two (tests hold them to each other on every
registered schema).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["FastValidator", "fast_check"]

#: A fast check: the value -> whether it is certainly valid (False: ask jsonschema).
Check = Callable[[Any], bool]


def fast_check(schema: Any, references: Sequence[tuple[str, Any]]) -> Check | None:
    """``schema`` compiled by jsonschema-rs (``$ref`` resolved among ``references``), or
    None if it cannot compile it (then jsonschema alone validates)."""
    import jsonschema_rs

    try:
        registry = jsonschema_rs.Registry(list(references)) if references else None
        compiled = jsonschema_rs.Draft202012Validator(schema, registry=registry)
    except Exception:  # a schema jsonschema-rs does not take: jsonschema alone judges
        return None
    is_valid: Check = compiled.is_valid
    return is_valid


class FastValidator:
    """A jsonschema validator whose ``iter_errors``/``is_valid`` first try the fast check:
    a value it accepts has no errors; anything else is jsonschema's to judge."""

    __slots__ = ("_check", "_make_validator", "_plain")

    def __init__(self, validator: Any, check: Check | None) -> None:
        self._plain = validator
        self._make_validator: Callable[[], Any] | None = None
        self._check = check

    @classmethod
    def deferred(cls, make_validator: Callable[[], Any], check: Check | None) -> FastValidator:
        """A FastValidator whose jsonschema validator is made on first need: importing
        jsonschema costs a process about 0.1 s, and valid specs never need it."""
        fast = cls(None, check)
        fast._make_validator = make_validator
        return fast

    @property
    def _validator(self) -> Any:
        plain = self._plain
        if plain is None:  # two threads may both make one here: either serves
            plain = self._plain = self._make_validator()  # type: ignore[misc]
        return plain

    def accepts(self, value: Any) -> bool:
        """Whether the fast check finds ``value`` valid (False: ask jsonschema)."""
        check = self._check
        if check is None:
            return False
        try:
            return check(value)
        except Exception:  # not plain JSON: jsonschema judges
            return False

    def iter_errors(self, value: Any) -> Any:
        if self.accepts(value):
            return iter(())
        return self._validator.iter_errors(value)

    def is_valid(self, value: Any) -> bool:
        return self.accepts(value) or bool(self._validator.is_valid(value))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._validator, name)
