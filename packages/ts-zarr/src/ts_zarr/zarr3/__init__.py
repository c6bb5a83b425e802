"""zarr v3: the ``zarr3`` driver, its codecs and the ``zarr3_sharding_indexed`` kvstore."""

from .codec_api import (
    ArrayToArrayCodec,
    ArrayToBytesCodec,
    BytesToBytesCodec,
    ChunkSpec,
    Zarr3Codec,
)

__all__ = ["ArrayToArrayCodec", "ArrayToBytesCodec", "BytesToBytesCodec", "ChunkSpec", "Zarr3Codec"]
