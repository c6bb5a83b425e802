"""zarr v2 ``dtype`` strings (numpy array-interface typestrs) and structured dtypes.

A zarr v2 dtype is either a typestr (``"<u2"``, ``"|b1"``, ``"bfloat16"``, ``"|S4"``) or a
list of ``[name, typestr]`` / ``[name, typestr, shape]`` fields. Every field becomes an
array of the field's scalar type with the field's shape appended to the array shape
(``"|S4"`` is a field of 4 ``char``s), as tensorstore exposes them.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import attrs
import numpy as np

from ts_core.errors import SpecError, describe

__all__ = ["ZarrDType", "ZarrField", "parse_dtype"]

_TYPESTR = re.compile(r"^([<>|])([bBiufcS])(\d+)$")
# Sizes zarr v2 allows per kind letter; S (fixed bytes) takes any positive size.
_ALLOWED_SIZES = {"b": {1}, "i": {1, 2, 4, 8}, "u": {1, 2, 4, 8}, "f": {2, 4, 8}, "c": {8, 16}}


@attrs.frozen
class ZarrField:
    """One field: its name (empty for a plain dtype), numpy dtype, and extra inner shape."""

    name: str
    numpy_dtype: np.dtype[Any]
    encoded: str
    shape: tuple[int, ...] = ()

    @property
    def endian_dtype(self) -> np.dtype[Any]:
        """The on-disk dtype of one element (byte order as stored)."""
        return self.numpy_dtype


@attrs.frozen
class ZarrDType:
    """A parsed zarr v2 dtype; ``json`` is the exact JSON to write back."""

    json: Any
    fields: tuple[ZarrField, ...]
    has_fields: bool
    #: numpy dtype of one whole stored element (structured when has_fields).
    storage_dtype: np.dtype[Any]

    def field(self, name: str | None, json_path: str = "field") -> ZarrField:
        """Select the field a TensorStore exposes (``field`` member of the spec). As in
        tensorstore, ``""`` means no field, and a structured dtype with one field selects it."""
        if name == "":
            name = None
        if not self.has_fields:
            if name is not None:
                raise SpecError(json_path, f'the array has no fields, but "field" is {describe(name)}')
            return self.fields[0]
        if name is None and len(self.fields) == 1:
            return self.fields[0]
        if name is None:
            names = ", ".join(f'"{f.name}"' for f in self.fields)
            raise SpecError(json_path, f"must specify a field that is one of: [{names}]")
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        names = ", ".join(f'"{f.name}"' for f in self.fields)
        raise SpecError(json_path, f'field "{name}" is not one of: [{names}]')


def _parse_typestr(value: Any, json_path: str) -> tuple[np.dtype[Any], tuple[int, ...]]:
    if value == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16), ()
    if not isinstance(value, str):
        raise SpecError(json_path, f"expected a zarr dtype string, but received: {describe(value)}")
    match = _TYPESTR.match(value)
    if match is None:
        raise SpecError(json_path, f'unsupported zarr dtype: "{value}"')
    order, kind, size_text = match.groups()
    size = int(size_text)
    if kind == "S":
        if size < 1:
            raise SpecError(json_path, f'unsupported zarr dtype: "{value}"')
        return np.dtype("S1"), (size,)
    if size not in _ALLOWED_SIZES.get(kind, set()) or kind == "B":
        raise SpecError(json_path, f'unsupported zarr dtype: "{value}"')
    if size == 1 and order != "|":
        # numpy accepts either, but single bytes have no byte order in zarr
        order = "|"
    numpy_dtype = np.dtype(f"{'=' if order == '|' else order}{kind}{size}")
    return numpy_dtype, ()


def parse_dtype(value: Any, json_path: str = "metadata.dtype") -> ZarrDType:
    """Parse and validate a zarr v2 dtype JSON value."""
    if type(value) is str:
        return _parse_plain(value, json_path)
    return _parse_dtype(value, json_path)


@functools.lru_cache(maxsize=256)
def _parse_plain(value: str, json_path: str) -> ZarrDType:
    """A plain dtype, parsed once per typestr: a ``ZarrDType`` of a string is immutable
    (frozen, numpy dtypes, a str ``json``), so every array of that dtype can share it."""
    return _parse_dtype(value, json_path)


def _parse_dtype(value: Any, json_path: str) -> ZarrDType:
    if isinstance(value, list):
        if not value:
            raise SpecError(json_path, "a structured dtype needs at least one field")
        fields = []
        seen: set[str] = set()
        numpy_fields = []
        for index, entry in enumerate(value):
            path = f"{json_path}[{index}]"
            if not isinstance(entry, list) or len(entry) not in (2, 3) or not isinstance(entry[0], str):
                raise SpecError(path, f"expected [name, dtype] or [name, dtype, shape], but received: {describe(entry)}")
            name = entry[0]
            if not name or name in seen:
                raise SpecError(f"{path}[0]", f"field names must be non-empty and unique, got {describe(name)}")
            seen.add(name)
            base, inner = _parse_typestr(entry[1], f"{path}[1]")
            shape: tuple[int, ...] = ()
            if len(entry) == 3:
                if not isinstance(entry[2], list) or not all(isinstance(n, int) and n > 0 for n in entry[2]):
                    raise SpecError(f"{path}[2]", f"expected a list of positive integers, but received: {describe(entry[2])}")
                shape = tuple(entry[2])
            full_shape = shape + inner
            fields.append(ZarrField(name, base, entry[1], full_shape))
            numpy_fields.append((name, base, full_shape) if full_shape else (name, base))
        return ZarrDType(value, tuple(fields), True, np.dtype(numpy_fields))
    base, inner = _parse_typestr(value, json_path)
    field = ZarrField("", base, value, inner)
    storage = np.dtype((base, inner)) if inner else base
    return ZarrDType(value, (field,), False, storage)


def encode_dtype(numpy_dtype: np.dtype[Any]) -> str:
    """The zarr typestr for a plain numpy dtype (native byte order written explicitly)."""
    if numpy_dtype.name == "bfloat16":
        return "bfloat16"
    if numpy_dtype.kind not in "biufc":
        raise ValueError(f"data type {numpy_dtype} is not supported by zarr v2")
    return numpy_dtype.str  # "<u2" on little-endian hosts, "|u1" for single bytes
