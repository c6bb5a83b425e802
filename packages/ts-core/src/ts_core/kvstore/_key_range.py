"""KeyRange: a half-open interval of keys in lexicographic byte order."""

from __future__ import annotations

from typing import Any

__all__ = ["KeyRange", "as_key_bytes", "prefix_range"]


def as_key_bytes(key: Any, name: str = "key") -> bytes:
    """Keys are byte strings; ``str`` is encoded as UTF-8."""
    if isinstance(key, str):
        try:
            return key.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate has no UTF-8 form
            raise ValueError(f"{name}: {key!r} is not valid Unicode ({exc.reason})") from None
    if isinstance(key, bytes | bytearray | memoryview):
        return bytes(key)
    raise TypeError(f"{name}: expected str or bytes, but received {type(key).__name__}")


class KeyRange:
    """Keys ``k`` with ``inclusive_min <= k < exclusive_max``; an empty max means unbounded."""

    __slots__ = ("exclusive_max", "inclusive_min")

    def __init__(self, inclusive_min: str | bytes = b"", exclusive_max: str | bytes = b"") -> None:
        self.inclusive_min = inclusive_min  # type: ignore[assignment]  # made bytes by __setattr__
        self.exclusive_max = exclusive_max  # type: ignore[assignment]

    inclusive_min: bytes
    exclusive_max: bytes

    def __setattr__(self, name: str, value: Any) -> None:
        # Bounds are bytes however they are set (``str`` is UTF-8 encoded), as in tensorstore.
        object.__setattr__(self, name, as_key_bytes(value, name))

    @property
    def empty(self) -> bool:
        return bool(self.exclusive_max) and self.exclusive_max <= self.inclusive_min

    def contains(self, key: bytes) -> bool:
        return self.inclusive_min <= key and (not self.exclusive_max or key < self.exclusive_max)

    def copy(self) -> KeyRange:
        return KeyRange(self.inclusive_min, self.exclusive_max)

    def with_prefix(self, prefix: bytes) -> KeyRange:
        """This range (relative to ``prefix``) as a range of full keys."""
        upper = prefix + self.exclusive_max if self.exclusive_max else prefix_range(prefix).exclusive_max
        return KeyRange(prefix + self.inclusive_min, upper)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KeyRange):
            return NotImplemented
        return (self.inclusive_min, self.exclusive_max) == (other.inclusive_min, other.exclusive_max)

    def __hash__(self) -> int:
        return hash((self.inclusive_min, self.exclusive_max))

    def __reduce__(self) -> tuple[Any, ...]:
        return (KeyRange, (self.inclusive_min, self.exclusive_max))

    def __repr__(self) -> str:
        return f"KvStore.KeyRange({self.inclusive_min!r}, {self.exclusive_max!r})"


def prefix_range(prefix: bytes) -> KeyRange:
    """All keys that start with ``prefix``."""
    upper = bytearray(prefix)
    while upper and upper[-1] == 0xFF:
        upper.pop()
    if upper:
        upper[-1] += 1
    return KeyRange(prefix, bytes(upper))
