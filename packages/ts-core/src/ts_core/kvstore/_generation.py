"""Storage generations: opaque version identifiers of a stored value.

Every read reports the generation it saw; every write can be conditioned on one. The
encoding follows tensorstore's conventions so users can treat them the same way:
``b""`` is *unknown* (no condition / condition failed), ``b"\\x02"`` means *no value*
(the key does not exist), and a driver-specific opaque byte string ending in ``b"\\x00"``
identifies one stored version.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "NO_VALUE",
    "UNKNOWN",
    "TimestampedStorageGeneration",
    "is_unknown",
    "make_generation",
    "normalize_generation",
]

#: The generation of "any value / nothing known": conditions on it always hold.
UNKNOWN = b""
#: The generation of a key that has no value.
NO_VALUE = b"\x02"
#: Suffix byte of an ordinary (stored) generation.
_BASE_GENERATION_SUFFIX = b"\x00"


def make_generation(opaque: bytes) -> bytes:
    """Wrap driver-specific version bytes as a storage generation."""
    return opaque + _BASE_GENERATION_SUFFIX


def is_unknown(generation: bytes) -> bool:
    return generation == UNKNOWN


def normalize_generation(value: Any, name: str) -> bytes | None:
    """Accept ``str``/``bytes``/None for a user-supplied generation condition."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode("latin-1")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, TimestampedStorageGeneration):
        return value.generation
    raise TypeError(f"{name}: expected bytes, str or None, but received {type(value).__name__}")


class TimestampedStorageGeneration:
    """A generation plus the time as of which it was known to be current."""

    __slots__ = ("generation", "time")

    def __init__(self, generation: bytes | str = UNKNOWN, time: float = -math.inf) -> None:
        if type(generation) is bytes:  # the drivers' own stamps: made for every operation
            self.generation: bytes = generation or UNKNOWN
        else:
            self.generation = normalize_generation(generation, "generation") or UNKNOWN
        self.time = time if type(time) is float else float(time)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TimestampedStorageGeneration):
            return NotImplemented
        return self.generation == other.generation and self.time == other.time

    def __hash__(self) -> int:
        return hash((self.generation, self.time))

    def __reduce__(self) -> tuple[Any, ...]:
        return (TimestampedStorageGeneration, (self.generation, self.time))

    def __repr__(self) -> str:
        # tensorstore prints the time with six decimals (``5.000000``; ``inf`` stays ``inf``).
        return f"KvStore.TimestampedStorageGeneration({self.generation!r}, {self.time:f})"
