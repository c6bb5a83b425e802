"""The ``kvstack`` kvstore: key ranges, prefixes and single keys mapped to base kvstores.

Each layer maps a key range (``prefix``, ``exact`` or ``inclusive_min``/``exclusive_max``;
all keys when none is given) onto a base kvstore: the key minus its first
``strip_prefix`` bytes (by default the prefix every key of the range shares) is a key of
the base. Where ranges overlap the last layer wins, so the layers flatten into disjoint
pieces, each served by one layer, and every operation is routed piece by piece.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable
from typing import Any

import attrs

from ..._validation import SpecError
from ...context import Context
from .._driver import KvStoreDriver, ReadOptions, ReadResult
from .._generation import NO_VALUE, TimestampedStorageGeneration
from .._key_range import KeyRange, prefix_range
from .._kvstore import KvStore
from .._spec import KvStoreSpec

__all__ = ["KvStackKvStore", "KvStackSpec", "Layer"]


def _common_prefix_length(low: bytes, high: bytes) -> int:
    if not high:
        return 0
    length = 0
    for a, b in zip(low, high, strict=False):
        if a != b:
            break
        length += 1
    return length


@attrs.frozen
class Layer:
    """One mapping: the keys ``[inclusive_min, exclusive_max)`` (an empty max: unbounded)."""

    base: dict[str, Any]
    inclusive_min: bytes
    exclusive_max: bytes
    strip_prefix: int
    #: How the range was written: "prefix", "exact", "range" or "all" (for to_json).
    form: str
    explicit_strip: bool

    def to_json(self) -> dict[str, Any]:
        json: dict[str, Any] = {"base": self.base}
        low, high = self.inclusive_min.decode("utf-8", "surrogateescape"), self.exclusive_max.decode("utf-8", "surrogateescape")
        if self.form == "prefix":
            json["prefix"] = low
        elif self.form == "exact":
            json["exact"] = low
        elif self.form == "range":
            if low:
                json["inclusive_min"] = low
            if high:
                json["exclusive_max"] = high
        if self.explicit_strip:
            json["strip_prefix"] = self.strip_prefix
        return json


def _encode(value: Any) -> bytes:
    return value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)


def _layer(value: Any, index: int) -> Layer:
    path = f"layers[{index}]"  # structure_spec prefixes the kvstore's own path
    if isinstance(value, Layer):
        return value
    if not isinstance(value, dict):
        raise SpecError(path, f"expected object, but received: {value!r}")
    forms = [name for name in ("prefix", "exact", "inclusive_min") if name in value]
    if len(forms) > 1 or (forms and forms[0] != "inclusive_min" and "exclusive_max" in value):
        raise SpecError(path, 'At most one of "prefix", "exact", "inclusive_min" members is allowed')
    base = KvStoreSpec(value["base"], json_path=f"{path}.base").to_json()
    if "prefix" in value:
        prefix = _encode(value["prefix"])
        low, high, form, limit = prefix, prefix_range(prefix).exclusive_max, "prefix", len(prefix)
        what = f'prefix "{value["prefix"]}"'
    elif "exact" in value:
        low = _encode(value["exact"])
        high, form, limit = low + b"\x00", "exact", len(low)
        what = f'exact key "{value["exact"]}"'
    else:
        low, high = _encode(value.get("inclusive_min", "")), _encode(value.get("exclusive_max", ""))
        form = "range" if ("inclusive_min" in value or "exclusive_max" in value) else "all"
        if high and high == prefix_range(low).exclusive_max and low:
            form, limit = "prefix", len(low)  # tensorstore writes such a range as its prefix
        elif high == low + b"\x00":
            form, limit = "exact", len(low)
        else:
            limit = _common_prefix_length(low, high)
        what = f'range ["{low.decode("utf-8", "replace")}", "{high.decode("utf-8", "replace")}")'
    strip = value.get("strip_prefix", limit)
    if not isinstance(strip, int) or isinstance(strip, bool) or strip < 0:
        raise SpecError(f"{path}.strip_prefix", f"expected a non-negative integer, but received: {strip!r}")
    if strip > limit:
        raise SpecError(path, f"Invalid strip_prefix of {strip} for {what}")
    return Layer(base, low, high, strip, form, strip != limit)  # a default strip_prefix is not written


def _layers(value: Any) -> list[Layer]:
    if not isinstance(value, list):
        raise SpecError("layers", f"expected array, but received: {value!r}")
    return [_layer(item, index) for index, item in enumerate(value)]


@attrs.define
class KvStackSpec:
    layers: Any = attrs.field(converter=_layers)


def _register_hooks() -> None:
    from ..._converter import converter

    converter.register_unstructure_hook(Layer, Layer.to_json)


_register_hooks()


@attrs.frozen
class _Piece:
    """Keys ``[low, high)`` (``high`` None: unbounded) served by layer ``index``."""

    low: bytes
    high: bytes | None
    index: int


def _flatten(layers: list[Layer]) -> list[_Piece]:
    pieces: list[_Piece] = []
    for index, layer in enumerate(layers):
        low, high = layer.inclusive_min, layer.exclusive_max or None
        if high is not None and high <= low:
            continue
        kept = []
        for piece in pieces:
            if (piece.high is not None and piece.high <= low) or (high is not None and piece.low >= high):
                kept.append(piece)
                continue
            if piece.low < low:
                kept.append(_Piece(piece.low, low, piece.index))
            if high is not None and (piece.high is None or piece.high > high):
                kept.append(_Piece(high, piece.high, piece.index))
        kept.append(_Piece(low, high, index))
        pieces = sorted(kept, key=lambda piece: piece.low)
    return pieces


class KvStackKvStore(KvStoreDriver):
    """Routes each key to the layer that serves it."""

    id = "kvstack"
    spec_class = KvStackSpec

    def __init__(self, spec: KvStackSpec, bases: list[KvStore]) -> None:
        self._spec = spec
        self._bases = bases
        self._pieces = _flatten(spec.layers)
        self._lows = [piece.low for piece in self._pieces]
        self.local_io = all(base.driver.local_io for base in bases)  # type: ignore[misc]

    @classmethod
    def open(cls, spec: KvStackSpec, context: Context) -> KvStackKvStore:
        bases = [KvStore.open(layer.base, context=context).result() for layer in spec.layers]
        return cls(spec, bases)

    @property
    def spec(self) -> KvStackSpec:
        return self._spec

    def _piece(self, key: bytes) -> _Piece | None:
        position = bisect.bisect_right(self._lows, key) - 1
        if position < 0:
            return None
        piece = self._pieces[position]
        return piece if piece.high is None or key < piece.high else None

    def _base_key(self, piece: _Piece, key: bytes) -> tuple[KvStore, bytes]:
        base = self._bases[piece.index]
        relative = key[self._spec.layers[piece.index].strip_prefix:]
        base.driver.check_key(base.path, relative)
        return base, base.path.encode("utf-8") + relative

    # -- key safety: a key must be one its base accepts --------------------------------------
    def check_key(self, path: str, key: bytes) -> None:
        full = path.encode("utf-8") + key
        piece = self._piece(full)
        if piece is not None:
            self._base_key(piece, full)

    # -- operations -----------------------------------------------------------------------
    def read(self, key: bytes, options: ReadOptions) -> ReadResult:
        piece = self._piece(key)
        if piece is None:
            stamp = TimestampedStorageGeneration(NO_VALUE, time.time())
            state = "unspecified" if options.if_not_equal == NO_VALUE else "missing"
            return ReadResult(state, b"", stamp)
        base, base_key = self._base_key(piece, key)
        return base.driver.read(base_key, options)

    def write(self, key: bytes, value: bytes | None, if_equal: bytes | None) -> TimestampedStorageGeneration:
        piece = self._piece(key)
        if piece is None:
            raise ValueError(f"key {key!r} is not in any layer of the kvstack kvstore")
        base, base_key = self._base_key(piece, key)
        return base.driver.write(base_key, value, if_equal)

    def _pieces_in(self, key_range: KeyRange) -> Iterable[tuple[_Piece, bytes, bytes | None]]:
        """Each piece overlapping ``key_range``, with the overlap ``[low, high)``."""
        query_high = key_range.exclusive_max or None
        for piece in self._pieces:
            low = max(piece.low, key_range.inclusive_min)
            highs = [h for h in (piece.high, query_high) if h is not None]
            high = min(highs) if highs else None
            if high is None or low < high:
                yield piece, low, high

    def _base_range(self, piece: _Piece, low: bytes, high: bytes | None) -> tuple[KvStore, KeyRange, bytes]:
        """The base range holding the keys ``[low, high)`` of ``piece``, and the bytes every
        such key starts with before stripping."""
        layer = self._spec.layers[piece.index]
        base = self._bases[piece.index]
        stripped = layer.inclusive_min[:layer.strip_prefix]
        base_high = high[layer.strip_prefix:] if high is not None and high.startswith(stripped) else b""
        relative = KeyRange(low[layer.strip_prefix:], base_high)
        base.driver.check_key_range(base.path, relative)  # a file base keeps listings inside its root
        return base, relative.with_prefix(base.path.encode("utf-8")), stripped

    def list(self, key_range: KeyRange) -> list[bytes]:
        keys = []
        for piece, low, high in self._pieces_in(key_range):
            base, base_range, stripped = self._base_range(piece, low, high)
            path_length = len(base.path.encode("utf-8"))
            for base_key in base.driver.list(base_range):
                key = stripped + base_key[path_length:]
                if low <= key and (high is None or key < high):
                    keys.append(key)
        return keys

    def delete_range(self, key_range: KeyRange) -> None:
        for piece, low, high in self._pieces_in(key_range):
            base, base_range, _ = self._base_range(piece, low, high)
            base.driver.delete_range(base_range)
