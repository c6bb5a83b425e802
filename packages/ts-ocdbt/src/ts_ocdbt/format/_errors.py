"""Errors decoding OCDBT data: each names the file (and place in it) and what was expected."""

from __future__ import annotations

__all__ = [
    "ChecksumMismatchError",
    "CorruptDataError",
    "MissingDataError",
    "TruncatedDataError",
    "UnsupportedFormatError",
]


class CorruptDataError(ValueError):
    """Stored OCDBT data (a manifest, a node, a reference into a data file) is not valid.

    ``where`` names the file (for nodes: the data file, offset and length).
    """

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where


class TruncatedDataError(CorruptDataError):
    """The data ends before the structure it encodes does."""


class ChecksumMismatchError(CorruptDataError):
    """The CRC-32C checksum at the end of a manifest or node does not match its bytes."""


class UnsupportedFormatError(CorruptDataError):
    """A magic value, format version or compression method this implementation does not know."""


class MissingDataError(CorruptDataError):
    """A referenced data file, or the manifest of a referenced version, does not exist."""


# Tracebacks name the errors where users import them from.
for _error in (CorruptDataError, TruncatedDataError, ChecksumMismatchError, UnsupportedFormatError, MissingDataError):
    _error.__module__ = "ts_ocdbt.format"
