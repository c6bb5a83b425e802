"""zarr v2 compressors and filters: plugins in the ``zarr`` codec namespace, else numcodecs.

A third party adds a codec by registering ``("codec", id, "module:Class", namespace="zarr")``;
the class is built from the codec JSON like a numcodecs codec (``Class.from_config``).
Any codec id numcodecs knows works without registration.

Decoding is bounded (``decode_bounded``): numcodecs' compressors are decoded by
``ts_core.decompression``, which stops at the size a chunk can have; a plugin codec may
define ``decode_bounded(buf, max_size)`` to do the same, else its output is checked after.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ts_core import decompression
from ts_core.errors import SpecError

__all__ = ["Codec", "decode_bounded", "get_codec", "stage_limits"]

#: Plugin namespace of zarr v2 codecs.
CODEC_NAMESPACE = "zarr"
#: Bound on what a filter numcodecs does not describe may encode ``n`` bytes to
#: (``FILTER_EXPANSION * n + FILTER_OVERHEAD``), so the decoders before it stay bounded.
FILTER_EXPANSION = 8
FILTER_OVERHEAD = 4096
#: numcodecs' lz4 framing: the decompressed size as a little-endian uint32, then an lz4 block.
_LZ4_SIZE = struct.Struct("<I")


class Codec(Protocol):
    """What the chunk pipeline needs of a codec (numcodecs' interface)."""

    def encode(self, buf: Any) -> Any: ...

    def decode(self, buf: Any, out: Any = None) -> Any: ...

    def get_config(self) -> dict[str, Any]: ...


def get_codec(config: dict[str, Any], json_path: str) -> Codec:
    """Instantiate the codec for ``config`` (a dict with an ``id``)."""
    from ts_core.plugin import get_registry

    codec_id = config["id"]
    record = get_registry().find("codec", codec_id, CODEC_NAMESPACE)
    try:
        if record is not None:
            codec_class = record.load()
            return codec_class.from_config(dict(config))  # type: ignore[no-any-return]
        import numcodecs
        from numcodecs.errors import UnknownCodecError

        try:
            return numcodecs.get_codec(dict(config))  # type: ignore[no-any-return]
        except UnknownCodecError:
            raise KeyError(codec_id) from None
    except KeyError:
        raise SpecError(f"{json_path}.id", f'"{codec_id}" is not a registered zarr codec') from None
    except (TypeError, ValueError, SyntaxError) as exc:  # numpy parses dtype strings with ast
        raise SpecError(json_path, f'invalid "{codec_id}" codec configuration: {exc}') from None


def _nbytes(buffer: Any) -> int:
    nbytes = getattr(buffer, "nbytes", None)
    return int(nbytes) if nbytes is not None else memoryview(buffer).nbytes


def _lz4(codec: Any, buffer: Any, max_size: int) -> Any:
    view = memoryview(buffer).cast("B")
    if len(view) < _LZ4_SIZE.size:
        raise ValueError(f"truncated lz4 data: {len(view)} bytes is shorter than its size header")
    (declared,) = _LZ4_SIZE.unpack_from(view)
    if declared > max_size:
        raise decompression.DecompressedSizeError(f"lz4 data declares {declared} decompressed bytes, more than {max_size}")
    return codec.decode(buffer)


def _bounded_decoders() -> dict[type, Callable[[Any, Any, int], Any]]:
    """numcodecs compressor class -> decode stopping at ``max_size`` bytes."""
    global _BOUNDED_DECODERS
    if _BOUNDED_DECODERS is None:
        import numcodecs

        _BOUNDED_DECODERS = {
            numcodecs.Zlib: lambda codec, buf, limit: decompression.decompress_zlib(buf, limit),
            numcodecs.GZip: lambda codec, buf, limit: decompression.decompress_gzip(buf, limit),
            numcodecs.BZ2: lambda codec, buf, limit: decompression.decompress_bz2(buf, limit),
            numcodecs.LZMA: lambda codec, buf, limit: decompression.decompress_lzma(
                buf, limit, format=codec.format, filters=codec.filters
            ),
            numcodecs.Zstd: lambda codec, buf, limit: decompression.decompress_zstd(buf, limit),
            numcodecs.Blosc: lambda codec, buf, limit: decompression.decompress_blosc(buf, limit),
            numcodecs.LZ4: _lz4,
        }
    return _BOUNDED_DECODERS


_BOUNDED_DECODERS: dict[type, Callable[[Any, Any, int], Any]] | None = None


def decode_bounded(codec: Codec, buffer: Any, max_size: int) -> Any:
    """``codec.decode(buffer)``, failing (``ValueError``) rather than producing more than
    ``max_size`` bytes; compressors stop before allocating more."""
    own = getattr(codec, "decode_bounded", None)
    if own is not None:
        return own(buffer, max_size)
    decoder = _bounded_decoders().get(type(codec))
    if decoder is not None:
        return decoder(codec, buffer, max_size)
    decoded = codec.decode(buffer)
    if _nbytes(decoded) > max_size:
        codec_id = codec.get_config().get("id", type(codec).__name__)
        raise decompression.DecompressedSizeError(f'"{codec_id}" decoded to more than {max_size} bytes')
    return decoded


def _encoded_bound(codec: Codec, nbytes: int) -> int:
    """At most how many bytes ``codec`` encodes ``nbytes`` bytes to."""
    if type(codec) in _bounded_decoders():
        # Worst-case expansion of incompressible data is a fraction of a percent plus a
        # header for every one of these compressors; this is well above all of them.
        return nbytes + nbytes // 8 + FILTER_OVERHEAD
    import numpy as np

    config = codec.get_config()
    codec_id = config.get("id")
    if codec_id == "astype":
        ratio = (np.dtype(config["encode_dtype"]).itemsize, np.dtype(config["decode_dtype"]).itemsize)
    elif config.get("astype") is not None and config.get("dtype") is not None:  # delta, fixedscaleoffset, quantize
        ratio = (np.dtype(config["astype"]).itemsize, np.dtype(config["dtype"]).itemsize)
    elif codec_id in ("shuffle", "bitround"):
        ratio = (1, 1)
    elif codec_id == "packbits":
        return nbytes // 8 + 2
    else:
        return FILTER_EXPANSION * nbytes + FILTER_OVERHEAD
    return int(-(-nbytes * ratio[0] // ratio[1]))


def stage_limits(filters: Sequence[Codec], decoded_nbytes: int) -> list[int]:
    """Decode limits along a filter chain: entry ``i`` bounds what ``filters[i]`` decodes to,
    the last entry what the compressor decodes to (the chunk's bytes, through the filters'
    encodings)."""
    limits = [decoded_nbytes]
    for codec in filters:
        limits.append(_encoded_bound(codec, limits[-1]))
    return limits
