"""New data files of a commit: values, B+tree nodes and version tree nodes appended to a
buffer per prefix, each buffer written as one file named ``<prefix><32 random hex digits>``.

Nothing is written until :meth:`DataFileWriter.flush` (or a buffer reaching
``target_data_file_size``), and every file gets a fresh random name, so a commit that loses
the race for the manifest leaves only files no manifest references.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from ..format import DataFileId, IndirectDataReference

__all__ = [
    "DEFAULT_DATA_FILE_PREFIX",
    "DEFAULT_TARGET_DATA_FILE_SIZE",
    "DataFileBuffer",
    "DataFilePrefixes",
    "DataFileWriter",
    "data_file_contents",
    "new_data_file_id",
    "write_value_file",
]

#: Prefix of new data files unless the spec names another (``value_data_prefix`` etc.).
DEFAULT_DATA_FILE_PREFIX: Final = b"d/"
#: ``target_data_file_size`` default: a buffer is written out once it holds this much.
DEFAULT_TARGET_DATA_FILE_SIZE: Final = 2 << 30
#: Data file names end in the lowercase hex of a random 128-bit identifier.
DATA_FILE_ID_BYTES: Final = 16
#: Files larger than this are zero-padded to a multiple of ``PADDING_ALIGNMENT`` (as
#: tensorstore pads them, so direct I/O may read whole blocks).
PADDING_MIN_SIZE: Final = 4 * 2**20
PADDING_ALIGNMENT: Final = 4096

#: Kinds of indirect data, each written under its own prefix.
VALUE: Final = "value"
BTREE_NODE: Final = "btree_node"
VERSION_TREE_NODE: Final = "version_tree_node"


@dataclass(frozen=True, slots=True)
class DataFilePrefixes:
    """Where new data files go, by what they hold; kinds sharing a prefix share files."""

    value: bytes = DEFAULT_DATA_FILE_PREFIX
    btree_node: bytes = DEFAULT_DATA_FILE_PREFIX
    version_tree_node: bytes = DEFAULT_DATA_FILE_PREFIX

    def for_kind(self, kind: str) -> bytes:
        if kind == VALUE:
            return self.value
        if kind == BTREE_NODE:
            return self.btree_node
        if kind == VERSION_TREE_NODE:
            return self.version_tree_node
        raise ValueError(f"unknown kind of indirect data: {kind!r}")


def new_data_file_id(prefix: bytes) -> DataFileId:
    """A fresh data file under ``prefix``: ``prefix`` + 32 random lowercase hex digits."""
    return DataFileId(b"", prefix + secrets.token_hex(DATA_FILE_ID_BYTES).encode("ascii"))


class DataFileBuffer:
    """A new data file being filled in memory: its name (under ``prefix``) and the data
    appended so far."""

    __slots__ = ("file_id", "parts", "prefix", "size")

    def __init__(self, prefix: bytes) -> None:
        self.prefix = prefix
        self.file_id = new_data_file_id(prefix)
        self.parts: list[bytes] = []
        self.size = 0

    def append(self, data: bytes) -> IndirectDataReference:
        """Where ``data`` will be once the file is written."""
        reference = IndirectDataReference(self.file_id, self.size, len(data))
        self.parts.append(data)
        self.size += len(data)
        return reference

    def contents(self) -> bytes:
        """The file's bytes (its data, padded); the buffer is consumed."""
        return data_file_contents(self.parts, self.size)


class DataFileWriter:
    """Appends data to buffered new data files and writes them with ``store(path, data)``.

    ``initial`` buffers (holding data the caller already placed, such as a bulk write's
    values) are written by ``flush`` too; new data of their prefix is appended to the last
    of them, so a commit's nodes may share a file with those values.
    """

    def __init__(
        self,
        store: Callable[[bytes, bytes], None],
        prefixes: DataFilePrefixes = DataFilePrefixes(),
        target_size: int = DEFAULT_TARGET_DATA_FILE_SIZE,
        initial: Iterable[DataFileBuffer] = (),
    ) -> None:
        if target_size < 0:
            raise ValueError(f"target_data_file_size must be non-negative, not {target_size}")
        self._store = store
        self._prefixes = prefixes
        self._target_size = target_size
        self._buffers: dict[bytes, DataFileBuffer] = {}
        self._sealed: list[DataFileBuffer] = []  # initial buffers nothing is appended to
        for buffer in initial:
            earlier = self._buffers.get(buffer.prefix)
            if earlier is not None:
                self._sealed.append(earlier)
            self._buffers[buffer.prefix] = buffer
        #: Paths of the data files written so far, in order.
        self.written: list[bytes] = []

    def add(self, kind: str, data: bytes) -> IndirectDataReference:
        """Where ``data`` will be stored once flushed (``kind``: value, btree_node,
        version_tree_node)."""
        if not data:
            # tensorstore's reference to no bytes: no file at all.
            return IndirectDataReference(DataFileId(), 0, 0)
        prefix = self._prefixes.for_kind(kind)
        buffer = self._buffers.get(prefix)
        if buffer is None:
            buffer = self._buffers[prefix] = DataFileBuffer(prefix)
        reference = buffer.append(bytes(data))
        if self._target_size and buffer.size >= self._target_size:
            del self._buffers[prefix]
            self._write(buffer)
        return reference

    @property
    def pending_bytes(self) -> int:
        return sum(buffer.size for buffer in self._buffers.values())

    def flush(self) -> None:
        """Write every buffered data file."""
        buffers = [*self._sealed, *self._buffers.values()]
        self._sealed, self._buffers = [], {}
        for buffer in buffers:
            self._write(buffer)

    def discard(self) -> None:
        """Forget buffered data, the initial buffers' too (a commit that will not happen)."""
        self._sealed, self._buffers = [], {}

    def _write(self, buffer: DataFileBuffer) -> None:
        path = buffer.file_id.full_path
        self._store(path, buffer.contents())
        self.written.append(path)


def data_file_contents(parts: list[bytes], size: int) -> bytes:
    """The bytes of a data file holding ``parts`` (``size`` bytes in all) one after the
    other, padded as tensorstore pads them; ``parts`` is consumed."""
    parts.extend(_padding(size))
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _padding(size: int) -> list[bytes]:
    """The zeros that follow ``size`` bytes of data in a data file (none or one block's rest)."""
    if size > PADDING_MIN_SIZE and size % PADDING_ALIGNMENT:
        return [bytes(PADDING_ALIGNMENT - size % PADDING_ALIGNMENT)]
    return []


def write_value_file(
    store: Callable[[bytes, bytes], None], prefix: bytes, value: bytes
) -> IndirectDataReference:
    """Store ``value`` alone in a new data file under ``prefix`` with ``store(path, data)``
    and return where it is: a writer stores a large value this way before it commits, so
    the commit itself writes only nodes (tensorstore writes values ahead too)."""
    if not value:
        return IndirectDataReference(DataFileId(), 0, 0)
    file_id = new_data_file_id(prefix)
    padding = _padding(len(value))
    store(file_id.full_path, b"".join([value, *padding]) if padding else value)
    return IndirectDataReference(file_id, 0, len(value))
