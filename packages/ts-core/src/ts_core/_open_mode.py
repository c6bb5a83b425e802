"""``ts.OpenMode``: which of open / create / delete-existing / assume-metadata an open may do."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

__all__ = ["OPEN_MODE_FLAGS", "OpenMode", "as_flag", "is_open_mode"]

#: The flags in tensorstore's order (also the order of the repr and of the bit mask).
OPEN_MODE_FLAGS = ("open", "create", "delete_existing", "assume_metadata", "assume_cached_metadata")


def as_flag(value: Any, name: str) -> bool:
    """``value`` as a bool: bool, None (False) or anything integer-like; else TypeError."""
    if value is None or isinstance(value, bool):
        return bool(value)
    try:
        return bool(operator.index(value))
    except TypeError:
        raise TypeError(f"Invalid {name}: expected bool, but received {type(value).__name__} {value!r}") from None


def is_open_mode(value: Any) -> bool:
    """Whether ``value`` is an open mode: has the five flags (and is no mapping)."""
    return not isinstance(value, Mapping) and all(hasattr(value, name) for name in OPEN_MODE_FLAGS)


class OpenMode:
    """Specifies the mode to use when opening a TensorStore (a set of five flags)."""

    __slots__ = ("_flags",)

    def __init__(
        self,
        *,
        open: bool = False,
        create: bool = False,
        delete_existing: bool = False,
        assume_metadata: bool = False,
        assume_cached_metadata: bool = False,
    ) -> None:
        values = (open, create, delete_existing, assume_metadata, assume_cached_metadata)
        self._flags = {name: as_flag(value, name) for name, value in zip(OPEN_MODE_FLAGS, values, strict=True)}

    @property
    def open(self) -> bool:
        """Allow opening an existing TensorStore."""
        return self._flags["open"]

    @open.setter
    def open(self, value: bool) -> None:
        self._flags["open"] = as_flag(value, "open")

    @property
    def create(self) -> bool:
        """Allow creating a new TensorStore."""
        return self._flags["create"]

    @create.setter
    def create(self, value: bool) -> None:
        self._flags["create"] = as_flag(value, "create")

    @property
    def delete_existing(self) -> bool:
        """Delete any existing data before creating a new array."""
        return self._flags["delete_existing"]

    @delete_existing.setter
    def delete_existing(self, value: bool) -> None:
        self._flags["delete_existing"] = as_flag(value, "delete_existing")

    @property
    def assume_metadata(self) -> bool:
        """Don't access the stored metadata."""
        return self._flags["assume_metadata"]

    @assume_metadata.setter
    def assume_metadata(self, value: bool) -> None:
        self._flags["assume_metadata"] = as_flag(value, "assume_metadata")

    @property
    def assume_cached_metadata(self) -> bool:
        """Skip reading the metadata when opening."""
        return self._flags["assume_cached_metadata"]

    @assume_cached_metadata.setter
    def assume_cached_metadata(self, value: bool) -> None:
        self._flags["assume_cached_metadata"] = as_flag(value, "assume_cached_metadata")

    def to_json(self) -> dict[str, bool]:
        """The flags that are set, as spec JSON members (a ts extension)."""
        return {name: True for name, value in self._flags.items() if value}

    def __bool__(self) -> bool:
        return any(self._flags.values())

    def __eq__(self, other: object) -> bool:
        if not is_open_mode(other):
            return NotImplemented
        return all(value == bool(getattr(other, name)) for name, value in self._flags.items())

    __hash__ = None  # type: ignore[assignment]  # mutable, like tensorstore's

    def __repr__(self) -> str:
        set_flags = ", ".join(f"{name}=True" for name, value in self._flags.items() if value)
        return f"OpenMode({set_flags})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_open_mode_from_flags, (self.to_json(),))


def _open_mode_from_flags(flags: dict[str, bool]) -> OpenMode:
    return OpenMode(**flags)


OpenMode.__module__ = "ts_core"
