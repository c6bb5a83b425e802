"""Format detection: one step of tensorstore's algorithm over ``auto_detect`` records.

A record with ``prefix_length``/``suffix_length`` metadata detects a single-file format:
its target ``match(prefix, suffix) -> bool`` sees the file's first and last bytes. A
record with ``files`` metadata detects a directory format: its target
``match(present, files) -> bool`` sees which of its ``files`` exist below the directory.
``layer`` is ``"driver"`` (a TensorStore driver: detection ends) or ``"kvstore_adapter"``
(``zip``: detection goes on inside it), and ``spec`` the JSON the kvstore is added to
(as ``kvstore`` or ``base``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ...kvstore import ByteRange, KvStore, ReadOptions, ReadResult

if TYPE_CHECKING:
    from ...plugin import PluginRecord

__all__ = ["DetectedFormat", "all_files_present", "detect_format"]


@attrs.frozen
class DetectedFormat:
    """A format a detection step found: its name (the record id, a URL scheme), its layer
    and the spec JSON its kvstore goes into."""

    name: str
    layer: str
    spec: dict[str, Any]

    @classmethod
    def of(cls, record: PluginRecord) -> DetectedFormat:
        return cls(record.id, record.metadata.get("layer", "driver"), dict(record.metadata.get("spec", {})))


def all_files_present(present: frozenset[str], files: Sequence[str]) -> bool:
    """The usual directory matcher: every one of the format's ``files`` exists."""
    return present.issuperset(files)


_WHOLE = ByteRange()


def _read(store: KvStore, key: str, byte_range: ByteRange = _WHOLE) -> ReadResult:
    """Read ``key`` below the store's path on this thread (detection runs inside an open)."""
    return store.driver.read((store.path + key).encode("utf-8"), ReadOptions(byte_range=byte_range))


def _file_records() -> list[PluginRecord]:
    from ...plugin import get_registry

    return [r for r in get_registry().records("auto_detect") if "files" not in r.metadata]


def _directory_records() -> list[PluginRecord]:
    from ...plugin import get_registry

    return [r for r in get_registry().records("auto_detect") if "files" in r.metadata]


def _detect_file(store: KvStore) -> list[DetectedFormat] | None:
    """Matches of a single-file format; None when there is no such file."""
    records = _file_records()
    prefix_length = max((r.metadata.get("prefix_length", 0) for r in records), default=0)
    suffix_length = max((r.metadata.get("suffix_length", 0) for r in records), default=0)
    if not prefix_length and not suffix_length:
        return None
    try:
        try:
            prefix = _read(store, "", ByteRange(0, prefix_length)) if prefix_length else None
            suffix = _read(store, "", ByteRange(-suffix_length)) if suffix_length else None
        except ValueError:  # shorter than asked: the whole file is both
            prefix = suffix = _read(store, "")
    except IsADirectoryError:  # the file kvstore's answer for a directory: not a file
        return None
    found = [r for r in (prefix, suffix) if r is not None and r.state == "value"]
    if not found:
        return None
    head = prefix.value if prefix is not None and prefix.state == "value" else b""
    tail = suffix.value if suffix is not None and suffix.state == "value" else b""
    return [DetectedFormat.of(r) for r in records if r.load()(head, tail)]


def detect_format(store: KvStore) -> tuple[list[DetectedFormat], KvStore]:
    """Candidate formats of what ``store`` (its path) holds, and the store they apply to.

    A path not ending in ``/`` may name a file: single-file formats are tried first, and
    only when no such file exists is it treated as a directory (its path gains a ``/``).
    """
    path = store.path
    if path and not path.endswith("/"):
        file_matches = _detect_file(store)
        if file_matches is not None:
            return file_matches, store
        store = store + "/"
    records = _directory_records()
    files = sorted({name for r in records for name in r.metadata["files"]})
    present = frozenset(name for name in files if _read(store, name, ByteRange(0, 0)).state == "value")
    matches = []
    for record in records:
        wanted = tuple(record.metadata["files"])
        if record.load()(present.intersection(wanted), wanted):
            matches.append(DetectedFormat.of(record))
    return matches, store
