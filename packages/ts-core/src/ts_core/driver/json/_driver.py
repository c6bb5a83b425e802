"""The ``json`` driver: a rank-0 TensorStore of dtype ``json`` over a JSON document in a kvstore.

``json_pointer`` (RFC 6901) selects a value within the document: a read returns it, a write
replaces it (creating missing members and their parent objects), as a read-modify-write
conditioned on the generation read, so concurrent writers to different pointers of one
document lose nothing; in a transaction the replacement is applied at commit to whatever
is stored then. Opening reads nothing: a missing document is an error only when read.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._executor import run_inline
from ..._future import Future
from .._kvs_value import KvsValueDriver, copy_out, open_value_kvstore
from ._pointer import JsonPointerError, get_pointer, parse_pointer, set_pointer

if TYPE_CHECKING:
    from ...index_space import IndexDomain, IndexTransform
    from ...kvstore import Transaction

__all__ = ["JsonDriver", "dumps_json", "json_source_array", "to_json_value"]

#: The byte size charged to the cache pool per decoded document, relative to its text.
_DECODED_SIZE_FACTOR = 4


def to_json_value(value: Any) -> Any:
    """A Python/NumPy value as plain JSON data; non-finite numbers become null (as
    tensorstore stores them)."""
    from ... import _dtype

    return _finite(_dtype.json(value))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_finite(item) for item in value]
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    return value


def json_source_array(source: Any, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    """``source`` as an object array of JSON values broadcast to ``shape``.

    As in tensorstore, nesting beyond the target's rank belongs to the JSON values: a
    list written to a rank-0 view is one JSON array, not an array of elements.
    """
    rank = len(shape)
    if isinstance(source, np.ndarray) and source.ndim == 0:
        source = source.item()
    if rank == 0:
        whole = np.empty((), dtype=object)
        whole[()] = to_json_value(source)
        return whole
    array = source if isinstance(source, np.ndarray) else None
    if array is None:
        try:
            array = np.array(source, dtype=object)
        except ValueError:  # ragged nesting: one JSON value
            array = np.empty((), dtype=object)
            array[()] = source
    values = np.empty(array.shape[:rank], dtype=object)
    for index in np.ndindex(values.shape):
        element = array[index]
        values[index] = to_json_value(element.tolist() if isinstance(element, np.ndarray) else element)
    try:
        return np.broadcast_to(values, shape)
    except ValueError:
        raise ValueError(f"cannot broadcast the source of shape {values.shape} to the target shape {shape}") from None


def dumps_json(value: Any) -> bytes:
    """Compact UTF-8 JSON with sorted members (how tensorstore writes a document)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def _refuse_constant(token: str) -> Any:
    raise ValueError(f"{token} is not valid JSON")


class JsonDriver(KvsValueDriver):
    """A JSON value (or the value at ``json_pointer``) in one kvstore value, as a rank-0 array."""

    id = "json"
    format_members = ("json_pointer",)

    def __init__(self, *, pointer: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pointer = pointer
        self._tokens = parse_pointer(pointer)

    @classmethod
    def from_spec(cls, json_value: dict[str, Any], *, context: Any, options: Any, transaction: Any) -> JsonDriver:
        from .._constraints import constraints_from_spec

        pointer = json_value.get("json_pointer", "")
        parse_pointer(pointer)  # a bad pointer is a spec error, before any I/O
        schema = constraints_from_spec(json_value)
        if schema.rank not in (None, 0):
            raise ValueError(f"rank: the json driver's rank is 0, but {schema.rank} was specified")
        if schema.shape not in (None, ()):
            raise ValueError(f"schema.domain: the json driver's domain has rank 0, but {list(schema.shape)} was specified")
        if schema.codec is not None:
            raise ValueError("schema.codec: codec not supported by json driver")
        if schema.fill_value is not None:
            raise ValueError("schema.fill_value: fill_value not supported by json driver")
        if schema.dimension_units is not None:
            raise ValueError("schema.dimension_units: dimension_units not supported by json driver")
        kvstore, key = open_value_kvstore(cls.id, json_value, context, transaction)
        return cls(pointer=pointer, kvstore=kvstore, key=key, json_value=json_value, context=context, options=options)

    @classmethod
    def spec_schema(cls, json_value: dict[str, Any]) -> Any:
        """What every json spec implies: one ``json`` value (rank 0), as tensorstore's specs report."""
        from ... import _dtype
        from ...index_space import IndexDomain
        from ...schema import Schema

        return Schema(dtype=_dtype.json, domain=IndexDomain(shape=()))

    # -- the value codec ----------------------------------------------------------------------
    def decode_value(self, data: bytes) -> Any:
        try:
            return json.loads(data, parse_constant=_refuse_constant)
        except (ValueError, RecursionError):
            raise ValueError("Invalid JSON") from None

    def value_nbytes(self, value: Any) -> int:
        return _DECODED_SIZE_FACTOR * len(dumps_json(value))

    # -- the Driver contract ------------------------------------------------------------------
    @property
    def numpy_dtype(self) -> np.dtype[Any]:
        return np.dtype(object)

    @property
    def domain(self) -> IndexDomain:
        from ...index_space import IndexDomain

        return IndexDomain(shape=())

    @property
    def schema(self) -> Any:
        from ... import _dtype
        from ...schema import Schema

        return Schema(dtype=_dtype.json, domain=self.domain)

    def _selected(self, transaction: Transaction | None) -> Any:
        stored = self.load(transaction)
        if stored.value is None:
            raise ValueError(f"error reading {self.full_key!r}: not found")
        try:
            return get_pointer(stored.value, self._tokens, self._pointer)
        except JsonPointerError as exc:
            raise ValueError(f"error reading {self.full_key!r}: {exc}") from None

    def read(self, transform: IndexTransform, transaction: Transaction | None) -> Future[np.ndarray[Any, Any]]:
        def read_now() -> np.ndarray[Any, Any]:
            whole = np.empty((), dtype=object)
            whole[()] = self._selected(transaction)
            return copy_out(whole, transform)

        return self.submit(read_now)

    def write(self, transform: IndexTransform, source: np.ndarray[Any, Any], transaction: Transaction | None) -> Future[None]:
        if source.size == 0:
            return run_inline(lambda: None)
        # Every position of a rank-0 array's view is the one element: the last write wins.
        value = to_json_value(source.reshape(-1)[-1])

        def update(document: Any) -> bytes:
            try:
                return dumps_json(set_pointer(document, self._tokens, self._pointer, value))
            except JsonPointerError as exc:
                raise ValueError(f"error writing {self.full_key!r}: {exc}") from None

        def write_now() -> None:
            if not self._tokens:
                self.replace(dumps_json(value), transaction)  # the whole document: no read needed
            else:
                self.modify(update, transaction)

        return self.submit(write_now)

    def spec_json(self) -> dict[str, Any]:
        spec = self.value_spec_json()
        if not self._pointer:
            spec.pop("json_pointer", None)
        return spec
