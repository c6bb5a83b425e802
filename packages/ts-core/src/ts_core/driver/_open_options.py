"""Options that control how a driver opens or creates an array (``ts.open`` keywords)."""

from __future__ import annotations

import math
import time
from typing import Any

import attrs

from .._validation import SpecError, describe

__all__ = ["OpenOptions", "staleness_bound"]


@attrs.define
class OpenOptions:
    """Open mode and cache-validation settings for one ``ts.open`` call."""

    open: bool = False
    create: bool = False
    delete_existing: bool = False
    assume_metadata: bool = False
    assume_cached_metadata: bool = False
    read: bool = True
    write: bool = True
    recheck_cached_data: Any = True
    recheck_cached_metadata: Any = "open"
    open_time: float = attrs.field(factory=time.time)

    def check(self) -> None:
        """Refuse contradictory flags (tensorstore's messages) and fill in implied ones."""
        if not (self.open or self.create):
            self.open = True  # tensorstore: neither given means open an existing array
        if self.delete_existing and not self.create:
            raise ValueError("Cannot specify an open mode of `delete_existing` without `create`")
        if self.delete_existing and self.open:
            raise ValueError("Cannot specify an open mode of `delete_existing` with `open`")
        for flag in ("assume_metadata", "assume_cached_metadata"):
            if getattr(self, flag) and not self.open:
                raise ValueError(f"Cannot specify an open mode of `{flag}` without `open`")
        if self.assume_cached_metadata:
            # Skip the metadata read at open. Every later operation that changes the
            # metadata (resize) re-reads it anyway, which is all that separates this
            # from assume_metadata; assume_cached_metadata stays set to tell them apart.
            self.assume_metadata = True
        if not (self.read or self.write):
            raise ValueError("at least one of read=True and write=True is required")
        if self.create and not self.write:
            raise ValueError("Cannot specify an open mode of `create` without `write`")


def staleness_bound(option: Any, open_time: float, json_path: str = "recheck_cached_data") -> float:
    """Cached data stamped at or after this time may be used without revalidation."""
    if option is True:
        return math.inf  # always revalidate
    if option is False:
        return -math.inf  # never revalidate
    if option == "open":
        return open_time
    if isinstance(option, int | float) and not isinstance(option, bool):
        return float(option)
    raise SpecError(json_path, f'expected true, false, "open" or a timestamp, but received: {describe(option)}')
