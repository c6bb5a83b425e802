"""What the ``jpeg`` and ``png`` encodings share.

Neuroglancer stores an image-encoded chunk of shape ``(x, y, z, channel)`` as one 2-D
image ``x`` pixels wide and ``y * z`` pixels high (``y`` varying faster down the image
than ``z``), the channels interleaved as the image's components. The image is therefore
the C-order ``(z, y, x, channel)`` array with ``z`` and ``y`` merged.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

import numpy as np

from ts_core.errors import ChunkError, SpecError, describe

__all__ = [
    "ImageDimensions",
    "check_image_volume",
    "chunk_from_image",
    "decode_image",
    "image_from_chunk",
    "integer_option",
]

#: ``(width, height, components, bits per sample)`` read from an image's header.
ImageDimensions = tuple[int, int, int, int]


def _join(prefix: str, member: str) -> str:
    return f"{prefix}.{member}" if prefix else member


def check_image_volume(
    encoding: str,
    data_types: Collection[str],
    channel_counts: Collection[int],
    data_type: np.dtype[Any],
    num_channels: int,
    json_path: str,
) -> None:
    """Refuse a volume an image encoding cannot store, naming ``data_type`` or
    ``num_channels`` (the message names the scale whose encoding asks for it)."""
    where = _join(json_path, "encoding")
    if np.dtype(data_type).name not in data_types:
        raise SpecError(
            "data_type",
            f'"{encoding}" encoding (at {where}) only supports {" and ".join(data_types)}, '
            f"not {np.dtype(data_type).name}",
        )
    if num_channels not in channel_counts:
        counts = sorted(channel_counts)
        allowed = " or ".join(map(str, counts)) if len(counts) == 2 else f"{counts[0]} to {counts[-1]}"
        raise SpecError(
            "num_channels",
            f'"{encoding}" encoding (at {where}) only supports {allowed} channels, not {num_channels}',
        )


def integer_option(scale: Mapping[str, Any], member: str, json_path: str, minimum: int, maximum: int) -> int | None:
    """``scale[member]`` as an integer in ``[minimum, maximum]``, or None when absent."""
    value = scale.get(member)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise SpecError(
            _join(json_path, member),
            f"Expected integer in the range [{minimum}, {maximum}], but received: {describe(value)}",
        )
    return value


def image_shape(shape: tuple[int, int, int, int]) -> tuple[int, ...]:
    """The decoded image array's shape for a chunk of ``shape``: ``(height, width)`` for
    one channel (how image libraries return grey images), else ``(height, width, channels)``."""
    x, y, z, channels = shape
    return (z * y, x) if channels == 1 else (z * y, x, channels)


def image_from_chunk(chunk: np.ndarray) -> np.ndarray:
    """The C-contiguous image (``image_shape``) of an ``(x, y, z, channel)`` chunk."""
    x, y, z, channels = chunk.shape
    image = np.ascontiguousarray(chunk.transpose(2, 1, 0, 3))
    return image.reshape(image_shape((x, y, z, channels)))


def chunk_from_image(image: np.ndarray, shape: tuple[int, int, int, int]) -> np.ndarray:
    """The ``(x, y, z, channel)`` view of a decoded image of a chunk of ``shape``."""
    x, y, z, channels = shape
    return image.reshape(z, y, x, channels).transpose(2, 1, 0, 3)


def decode_image(
    format_name: str,
    data: bytes,
    shape: tuple[int, int, int, int],
    dtype: np.dtype[Any],
    read_dimensions: Callable[[bytes], ImageDimensions],
    decoder: Callable[..., np.ndarray],
    library_errors: tuple[type[BaseException], ...],
) -> np.ndarray:
    """Decode an image chunk of ``shape`` into a buffer of exactly the chunk's size.

    The header is checked first (``read_dimensions`` raises ChunkError for a malformed
    one), so an image of another size is refused before any pixel is decoded; the decoder
    writes into the preallocated buffer and itself refuses one that does not fit, so a
    hostile stream never makes it allocate more than the chunk."""
    x, y, z, channels = shape
    bits = dtype.itemsize * 8
    width, height, components, depth = read_dimensions(data)
    if (width, height, components, depth) != (x, y * z, channels, bits):
        raise ChunkError(
            f"{format_name} image is {width}x{height} pixels with {components} channel(s) of {depth} bits, "
            f"but a chunk of shape {list(shape)} (x, y, z, channel) needs {x}x{y * z} pixels "
            f"with {channels} channel(s) of {bits} bits"
        )
    out = np.empty(image_shape(shape), dtype)
    refusals: tuple[type[BaseException], ...] = (ValueError, *library_errors)
    try:
        decoder(data, out=out)
    except refusals as error:
        raise ChunkError(f"corrupt {format_name} chunk of shape {list(shape)} (x, y, z, channel): {error}") from None
    return chunk_from_image(out, shape)
