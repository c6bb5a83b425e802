"""The contract of a precomputed chunk encoding: what a plugin in the
``neuroglancer_precomputed`` codec namespace provides.

A scale's ``encoding`` member (``"raw"``, ``"jpeg"``, ``"png"``,
``"compressed_segmentation"``, or one a third party adds) names a codec record registered as
``registry.add("codec", name, "module:Class", namespace="neuroglancer_precomputed")``.

Chunks are handed over in the driver's index order ``(x, y, z, channel)``. The stored
layouts of neuroglancer's encodings put ``x`` fastest and ``channel`` slowest, so a chunk
stored that way is the transpose of a C-order ``(channel, z, y, x)`` array: see
``to_czyx`` and ``from_czyx``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

__all__ = ["CODEC_NAMESPACE", "ChunkEncoding", "from_czyx", "to_czyx"]

#: Plugin namespace of precomputed chunk encodings.
CODEC_NAMESPACE = "neuroglancer_precomputed"


class ChunkEncoding(abc.ABC):
    """One scale's configured encoding (immutable; shared by all chunks of the scale)."""

    #: The ``encoding`` value naming this encoding in the ``info`` file.
    name: ClassVar[str]

    #: Members of a scale (in ``info`` and in the spec's ``scale_metadata``) that belong to
    #: this encoding, e.g. ``("compressed_segmentation_block_size",)``. Their values reach
    #: ``__init__`` through ``scale``.
    scale_members: ClassVar[tuple[str, ...]] = ()

    #: Members of the spec's ``scale_metadata`` that only say how to write and are not
    #: stored in ``info``. (tensorstore stores ``jpeg_quality`` and ``png_level`` in
    #: ``info`` and writes with the stored value, so those are ``scale_members``.)
    writer_options: ClassVar[tuple[str, ...]] = ()

    #: Whether decoding may give back values different from those encoded (jpeg).
    lossy: ClassVar[bool] = False

    @classmethod
    @abc.abstractmethod
    def check(cls, data_type: np.dtype[Any], num_channels: int, scale: Mapping[str, Any], json_path: str) -> None:
        """Raise ``ts_core.errors.SpecError`` naming the member (below ``json_path``, the
        scale's path such as ``"scales[0]"``, or the top-level ``data_type`` /
        ``num_channels``) when this encoding cannot store such a volume or a member of
        ``scale`` that it owns is invalid."""

    @classmethod
    def normalized_members(cls, scale: Mapping[str, Any]) -> dict[str, Any]:
        """The ``scale_members`` this encoding stores in ``info`` for ``scale``, defaults
        filled in (``{}`` for none)."""
        return {}

    @abc.abstractmethod
    def __init__(
        self, data_type: np.dtype[Any], num_channels: int, scale: Mapping[str, Any], options: Mapping[str, Any]
    ) -> None:
        """``scale`` is the checked scale JSON (``chunk_sizes`` etc.); ``options`` holds the
        ``writer_options`` the spec gave (absent ones use the encoding's defaults)."""

    @abc.abstractmethod
    def encode(self, chunk: np.ndarray) -> bytes:
        """Encode a chunk of shape ``(x, y, z, channel)`` (any memory layout). Edge chunks
        of a volume are already truncated to the volume's bounds."""

    @abc.abstractmethod
    def decode(self, data: bytes, shape: tuple[int, int, int, int]) -> np.ndarray:
        """Decode a stored chunk whose shape is ``shape`` (``(x, y, z, channel)``, already
        truncated at the volume's edge) into an array of that shape (any layout).

        Raise ``ts_core.errors.ChunkError`` saying what is wrong when ``data`` is not a
        valid chunk of that shape (wrong byte length, bad image, wrong image size); never
        allocate much more than the chunk's own size, whatever ``data`` claims."""


def to_czyx(chunk: np.ndarray) -> np.ndarray:
    """A C-contiguous ``(channel, z, y, x)`` copy (or view) of an ``(x, y, z, channel)``
    chunk: the element order neuroglancer's encodings store."""
    return np.ascontiguousarray(chunk.transpose(3, 2, 1, 0))


def from_czyx(array: np.ndarray) -> np.ndarray:
    """The ``(x, y, z, channel)`` view of a ``(channel, z, y, x)`` array."""
    return array.transpose(3, 2, 1, 0)
