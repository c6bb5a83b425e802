"""A zarr v3 ``codecs`` chain: array->array codecs, one array->bytes codec, bytes->bytes codecs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ts_core.errors import SpecError, describe

from .._scratch import decoded_buffer, output_buffer
from .codec_api import (
    ArrayToArrayCodec,
    ArrayToBytesCodec,
    BytesToBytesCodec,
    ChunkSpec,
    Zarr3Codec,
)

__all__ = ["CODEC_NAMESPACE", "CodecChain", "parse_codec_chain"]

#: Plugin namespace of zarr v3 codecs.
CODEC_NAMESPACE = "zarr3"


def _load_codec(entry: Any, json_path: str) -> Zarr3Codec:
    from ts_core.plugin import get_registry

    if isinstance(entry, str):
        name, configuration = entry, None
    elif isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
        extra = set(entry) - {"name", "configuration", "must_understand"}
        if extra:
            raise SpecError(f"{json_path}.{sorted(extra)[0]}", "unexpected member")
        name, configuration = entry["name"], entry.get("configuration")
        if configuration is not None and not isinstance(configuration, Mapping):
            raise SpecError(f"{json_path}.configuration", f"expected object, but received: {describe(configuration)}")
    else:
        raise SpecError(json_path, f'expected a codec name or {{"name": ..., "configuration": ...}}, but received: {describe(entry)}')
    registry = get_registry()
    record = registry.find("codec", name, CODEC_NAMESPACE)
    if record is None:
        known = ", ".join(f'"{n}"' for n in sorted(registry.ids("codec", CODEC_NAMESPACE)))
        raise SpecError(f"{json_path}.name", f'"{name}" is not a registered zarr3 codec (known codecs: {known})')
    codec_class = record.load()
    return codec_class.from_json(None if configuration is None else dict(configuration), json_path)  # type: ignore[no-any-return]


class CodecChain:
    """A resolved chain for chunks of one ``ChunkSpec``."""

    def __init__(
        self,
        array_codecs: list[tuple[ArrayToArrayCodec, ChunkSpec]],
        array_to_bytes: ArrayToBytesCodec,
        bytes_spec: ChunkSpec,
        bytes_codecs: list[BytesToBytesCodec],
    ) -> None:
        self.array_codecs = array_codecs
        self.array_to_bytes = array_to_bytes
        self.bytes_spec = bytes_spec
        self.bytes_codecs = bytes_codecs
        # What each bytes -> bytes codec decodes to at most, from the chunk spec forwards.
        size = array_to_bytes.max_encoded_size(bytes_spec)
        self.decode_limits: list[int] = []
        for bytes_codec in bytes_codecs:
            self.decode_limits.append(size)
            size = bytes_codec.max_encoded_size(size)
        #: At most how many bytes a chunk encodes to.
        self.max_encoded_size = size
        from ._codecs import BytesCodec

        # A compressor first reads the chunk's bytes from a reused buffer: no bytes object
        # (and no page faults) per chunk before it.
        self._encode_buffer = (
            array_to_bytes.encode_buffer
            if type(array_to_bytes) is BytesCodec and bytes_codecs and bytes_codecs[0].encodes_buffers
            else None
        )
        self._last_encodes_into = bool(bytes_codecs) and (
            type(bytes_codecs[-1]).encode_into is not BytesToBytesCodec.encode_into
        )
        # A chunk in native byte order behind one codec that decodes into a buffer: a
        # read-modify-write decodes it into this thread's reused buffer (decode_transient).
        stored = array_to_bytes._stored(bytes_spec.dtype) if type(array_to_bytes) is BytesCodec else None
        self._decoded_dtype = (
            stored if stored is not None and stored.isnative and not stored.hasobject
            and not array_codecs and len(bytes_codecs) == 1
            and type(bytes_codecs[0]).decode_into is not BytesToBytesCodec.decode_into
            else None
        )

    @property
    def sharding(self) -> Any:
        """The sharding codec when it alone encodes the chunk (so sub-chunk reads are possible)."""
        from ._sharding import ShardingCodec

        if not self.array_codecs and not self.bytes_codecs and isinstance(self.array_to_bytes, ShardingCodec):
            return self.array_to_bytes
        return None

    def encode(self, array: np.ndarray[Any, Any]) -> bytes:
        data = self._encode_but_last(array)
        if self.bytes_codecs:
            data = self.bytes_codecs[-1].encode(data)
        result: bytes = data
        return result

    def encode_transient(self, array: np.ndarray[Any, Any]) -> bytes | memoryview:
        """``encode``, with the last bytes -> bytes codec writing into a buffer this thread
        reuses (``BytesToBytesCodec.encode_into``) when it can: valid only until this
        thread's next call, for a write that is done with it when it returns."""
        data = self._encode_but_last(array)
        if not self.bytes_codecs:
            result: bytes = data
            return result
        last = self.bytes_codecs[-1]
        if self._last_encodes_into:
            out = output_buffer(last.max_encoded_size(memoryview(data).nbytes))
            if out is not None:
                written = last.encode_into(data, out)
                if written is not None:
                    return out[:written]
                self._last_encodes_into = False  # this codec cannot: stop asking
        encoded: bytes = last.encode(data)
        return encoded

    def _encode_but_last(self, array: np.ndarray[Any, Any]) -> Any:
        """The chain up to its last bytes -> bytes codec (the whole chain if it has none)."""
        for codec, _ in self.array_codecs:
            array = codec.encode(array)
        data: Any
        if self._encode_buffer is not None:
            data = self._encode_buffer(array, self.bytes_spec)
        else:
            data = self.array_to_bytes.encode(array, self.bytes_spec)
        for bytes_codec in self.bytes_codecs[:-1]:
            data = bytes_codec.encode(data)
        return data

    def decode(self, data: bytes) -> np.ndarray[Any, Any]:
        for position in reversed(range(len(self.bytes_codecs))):
            data = self.bytes_codecs[position].decode_bounded(data, self.decode_limits[position])
        array = self.array_to_bytes.decode(data, self.bytes_spec)
        for codec, _ in reversed(self.array_codecs):
            array = codec.decode(array)
        return array

    def decode_transient(self, data: bytes) -> np.ndarray[Any, Any]:
        """``decode``, as a writable array nothing else refers to: for a chain of the
        ``bytes`` codec in native byte order and one bytes -> bytes codec that can
        (``BytesToBytesCodec.decode_into``), decoded into a buffer this thread reuses
        (valid until its next call) instead of a new chunk-sized array; else a copy."""
        dtype = self._decoded_dtype
        if dtype is not None:
            spec = self.bytes_spec
            out = decoded_buffer(spec.nbytes)
            if out is not None and self.bytes_codecs[0].decode_into(data, out):
                return out.view(dtype).reshape(spec.full_shape)
        return np.array(self.decode(data), copy=True, order="K")

    def to_json(self) -> list[dict[str, Any]]:
        return [
            *(codec.to_json() for codec, _ in self.array_codecs),
            self.array_to_bytes.to_json(),
            *(codec.to_json() for codec in self.bytes_codecs),
        ]


def parse_codec_chain(value: Any, json_path: str, decoded: ChunkSpec) -> CodecChain:
    """Build and resolve a chain; a missing array->bytes codec becomes ``bytes`` (as tensorstore)."""
    from ._codecs import BytesCodec

    if not isinstance(value, list):
        raise SpecError(json_path, f"expected array, but received: {describe(value)}")
    array_codecs: list[tuple[ArrayToArrayCodec, ChunkSpec]] = []
    array_to_bytes: ArrayToBytesCodec | None = None
    bytes_codecs: list[BytesToBytesCodec] = []
    spec = decoded
    for position, entry in enumerate(value):
        path = f"{json_path}[{position}]"
        codec = _load_codec(entry, path)
        if isinstance(codec, ArrayToArrayCodec):
            if array_to_bytes is not None:
                raise SpecError(path, f'"{codec.name}" is an array -> array codec, but it follows the array -> bytes codec "{array_to_bytes.name}"')
            array_codecs.append((codec, spec))
            spec = codec.resolve(spec, path)
        elif isinstance(codec, ArrayToBytesCodec):
            if array_to_bytes is not None or bytes_codecs:
                before = bytes_codecs[-1].name if bytes_codecs else array_to_bytes.name  # type: ignore[union-attr]
                raise SpecError(path, f'expected a bytes -> bytes codec after "{before}", but received the array -> bytes codec "{codec.name}"')
            codec.resolve(spec, path)
            array_to_bytes = codec
        elif isinstance(codec, BytesToBytesCodec):
            if array_to_bytes is None:
                array_to_bytes = BytesCodec(None)
                array_to_bytes.resolve(spec, json_path)
            codec.resolve(spec, path)
            bytes_codecs.append(codec)
        else:
            raise SpecError(path, f'codec "{getattr(codec, "name", entry)}" is not an array->array, array->bytes or bytes->bytes codec')
    if array_to_bytes is None:
        array_to_bytes = BytesCodec(None)
        array_to_bytes.resolve(spec, json_path)
    return CodecChain(array_codecs, array_to_bytes, spec, bytes_codecs)
