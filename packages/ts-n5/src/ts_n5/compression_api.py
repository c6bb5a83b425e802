"""The contract of an N5 compression: what a plugin in the ``n5`` codec namespace provides.

A compression is registered as ``registry.add("codec", type, "module:Class", namespace="n5")``
where ``type`` is the value of ``compression.type`` in ``attributes.json``. The class is
built from that JSON object with ``from_json`` and compresses the data of one block (the
bytes after the block header, N5 spec "Data block format").
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, ClassVar

from ts_core.errors import SpecError, describe

__all__ = ["N5Compression", "check_members", "integer_member"]


class N5Compression(abc.ABC):
    """One configured N5 compression (immutable; shared by all blocks of an array)."""

    #: The ``type`` member naming this compression in ``attributes.json``.
    type: ClassVar[str]

    @classmethod
    @abc.abstractmethod
    def from_json(cls, json_value: Mapping[str, Any], json_path: str) -> N5Compression:
        """Parse the ``compression`` object (errors are ``SpecError`` under ``json_path``)."""

    @abc.abstractmethod
    def parameters(self) -> dict[str, Any]:
        """The parameters with their defaults filled in, without ``type``."""

    @abc.abstractmethod
    def encode(self, data: bytes | memoryview, itemsize: int) -> bytes:
        """Compress a block's big-endian element bytes (``itemsize`` bytes per element)."""

    @abc.abstractmethod
    def decode(self, data: bytes) -> bytes:
        """Decompress a block's data."""

    def decode_bounded(self, data: bytes, max_size: int) -> bytes:
        """``decode``, failing (ValueError) rather than producing more than ``max_size`` bytes
        (the size the block header declares). This default checks after decoding; a
        compression overrides it to stop early (see ``ts_core.decompression``)."""
        decoded = self.decode(data)
        if len(decoded) > max_size:
            raise ValueError(f'"{self.type}" data decompresses to {len(decoded)} bytes, more than {max_size}')
        return decoded

    def to_json(self) -> dict[str, Any]:
        """The normalized ``compression`` object, keys sorted as tensorstore writes them."""
        return dict(sorted({**self.parameters(), "type": self.type}.items()))


def check_members(
    json_value: Mapping[str, Any], allowed: set[str], json_path: str, writer_settings: frozenset[str] = frozenset()
) -> None:
    """Reject members other than ``type``, ``allowed`` and ``writer_settings``.

    ``writer_settings`` are members other N5 writers record about how they worked (z5py and
    n5-blosc write blosc's ``nthreads``): they cannot change what the data means, so they
    are accepted and ignored. Any other member might, so it is an error.
    """
    for member in json_value:
        if member != "type" and member not in allowed and member not in writer_settings:
            raise SpecError(
                f"{json_path}.{member}",
                "unexpected member (only members that cannot change how the data is encoded, "
                "such as blosc's nthreads, are ignored)",
            )


def integer_member(
    json_value: Mapping[str, Any], member: str, json_path: str, low: int, high: int, default: int | None
) -> int:
    """An integer member in ``[low, high]``; ``default`` if absent (None: required)."""
    if member not in json_value:
        if default is None:
            raise SpecError(json_path, f'missing required member "{member}"')
        return default
    value = json_value[member]
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 1.0 is an integer in JSON, as tensorstore reads it
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SpecError(
            f"{json_path}.{member}", f"expected integer in the range [{low}, {high}], but received: {describe(value)}"
        )
    return value
