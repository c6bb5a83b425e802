"""Data types of ts arrays: the ``dtype`` class and one constant per data type name.

Mirrors tensorstore's ``dtype``. numpy and ml_dtypes are imported only when a NumPy dtype
is first needed (``numpy_dtype``, ``type``, calling a dtype, or converting from NumPy), so
``import ts_core`` stays cheap; the constants are built from their names alone.
"""

from __future__ import annotations

import builtins
import operator
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, NoReturn, Self, Union, final

if TYPE_CHECKING:
    import numpy

__all__ = [
    "DTypeLike",
    "dtype",
    "to_dtype",
    "bool",
    "char",
    "byte",
    "int2",
    "int4",
    "int8",
    "uint8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "float4_e2m1fn",
    "float8_e3m4",
    "float8_e4m3fn",
    "float8_e4m3fnuz",
    "float8_e4m3b11fnuz",
    "float8_e5m2",
    "float8_e5m2fnuz",
    "float8_e8m0fnu",
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "complex64",
    "complex128",
    "string",
    "ustring",
    "json",
]

#: Anything ``dtype(...)`` accepts: a dtype, a data type name, a Python/NumPy type or a
#: NumPy dtype (forward references, so numpy is not imported here).
DTypeLike = Union["dtype", str, type, "numpy.dtype"]

#: Every data type name; the module constants are created in this order.
NAMES: Final[tuple[str, ...]] = tuple(__all__[3:])

#: Names whose NumPy dtype comes from ml_dtypes rather than numpy itself.
_ML_DTYPES_NAMES: Final = frozenset(
    {"int2", "int4", "bfloat16", "float4_e2m1fn"} | {n for n in NAMES if n.startswith("float8_")}
)

#: NumPy dtype spelling for names that numpy does not know under the same name.
#: Variable-length strings and JSON values are stored as Python objects.
_NUMPY_SPELLING: Final = {"char": "S", "byte": "V", "string": "O", "ustring": "O", "json": "O"}

#: Scalar type for names whose NumPy dtype is ``object``, where ``numpy_dtype.type``
#: would say nothing useful (``json`` keeps ``numpy.object_``).
_PY_SCALAR_TYPES: Final = {"string": builtins.bytes, "ustring": builtins.str}

#: Python types accepted directly, without asking numpy (``str``/``bytes`` are the
#: variable-length string types, unlike ``numpy.dtype(str)``).
_FROM_PY_TYPE: Final = {
    builtins.bool: "bool",
    builtins.int: "int64",
    builtins.float: "float64",
    builtins.complex: "complex128",
    builtins.str: "ustring",
    builtins.bytes: "string",
}

#: (NumPy kind, itemsize) -> name for numpy's own fixed-size types (any byte order).
_FROM_KIND_SIZE: Final = {
    ("b", 1): "bool",
    ("i", 1): "int8",
    ("u", 1): "uint8",
    ("i", 2): "int16",
    ("u", 2): "uint16",
    ("i", 4): "int32",
    ("u", 4): "uint32",
    ("i", 8): "int64",
    ("u", 8): "uint64",
    ("f", 2): "float16",
    ("f", 4): "float32",
    ("f", 8): "float64",
    ("c", 8): "complex64",
    ("c", 16): "complex128",
}

_JSON_INT_MIN: Final = -(2**63)
_JSON_INT_MAX: Final = 2**64 - 1

_BY_NAME: dict[str, dtype] = {}
_NUMPY_DTYPES: dict[str, numpy.dtype[Any]] = {}  # name -> numpy.dtype, filled on first use
_ML_TYPE_TO_NAME: dict[type, str] = {}  # ml_dtypes scalar type -> name, filled on first use


@final
class dtype:
    """A ts data type (``ts.uint16``, ``ts.dtype("float32")``, ...); one instance per name."""

    __slots__ = ("_name",)
    _name: str

    def __new__(cls, dtype: DTypeLike) -> dtype:
        """Construct by name, from an existing dtype, or from a NumPy dtype or type."""
        return _lookup(dtype)

    @classmethod
    def _make(cls, name: str) -> dtype:
        """Create the single instance for ``name`` (module initialisation only)."""
        self = object.__new__(cls)
        object.__setattr__(self, "_name", name)
        _BY_NAME[name] = self
        return self

    def __setattr__(self, key: str, value: object) -> NoReturn:
        raise AttributeError(f"dtype objects are immutable; cannot set {key!r}")

    def __delattr__(self, key: str) -> NoReturn:
        raise AttributeError(f"dtype objects are immutable; cannot delete {key!r}")

    @property
    def name(self) -> str:
        """The data type's name, as used in JSON specs."""
        return self._name

    @property
    def numpy_dtype(self) -> numpy.dtype[Any]:
        """The corresponding NumPy dtype (imports numpy/ml_dtypes on first use)."""
        return _numpy_dtype(self._name)

    @property
    def dtype(self) -> numpy.dtype[Any]:
        """``numpy_dtype`` under the name NumPy looks for, so ``np.dtype(ts.uint16)`` and
        ``np.dtype(store.dtype)`` work, as Dask and other array libraries need (a ts
        extension: tensorstore's dtype lacks it)."""
        return _numpy_dtype(self._name)

    @property
    def type(self) -> type:
        """The scalar type: ``numpy_dtype.type``, or ``bytes``/``str`` for string/ustring."""
        return _PY_SCALAR_TYPES.get(self._name) or _numpy_dtype(self._name).type

    def to_json(self) -> str:
        """JSON representation: the name."""
        return self._name

    def __call__(self, arg: object) -> Any:
        """Convert ``arg`` to a scalar of this type (a JSON value for ``json``)."""
        if self._name == "json":
            return _to_json_value(arg)
        return self.type(arg)

    def __repr__(self) -> str:
        return f'dtype("{self._name}")'

    def __eq__(self, other: object) -> builtins.bool:
        if isinstance(other, dtype):
            return self._name == other._name
        try:
            return _lookup(other) is self
        except (TypeError, ValueError):
            return NotImplemented

    def __ne__(self, other: object) -> builtins.bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        # Equal to the name's hash, since a dtype compares equal to its name.
        return hash(self._name)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # Pickle by name, so pickles survive changes to the class's internals.
        return (dtype, (self._name,))

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: object) -> Self:
        return self


def to_dtype(value: DTypeLike, *, json_path: str | None = None) -> dtype:
    """Normalise anything ``dtype()`` accepts; with ``json_path``, errors become ``SpecError``.

    ``SpecError`` is a ``ValueError`` whose message starts with the JSON path, matching how
    other spec members report problems (``dtype: unknown data type 'uint3'; known: ...``).
    """
    if json_path is None:
        return _lookup(value)
    try:
        return _lookup(value)
    except (TypeError, ValueError) as exc:
        from ._validation import SpecError

        raise SpecError(json_path, str(exc)) from None


def _lookup(value: object) -> dtype:
    """Return the interned dtype for ``value`` or raise ``TypeError``/``ValueError``."""
    if isinstance(value, dtype):
        return value
    if isinstance(value, builtins.str):
        found = _BY_NAME.get(value)
        if found is None:
            raise ValueError(f"unknown data type {value!r}; known: {', '.join(NAMES)}")
        return found
    if isinstance(value, builtins.type) and value in _FROM_PY_TYPE:
        return _BY_NAME[_FROM_PY_TYPE[value]]
    # A NumPy dtype instance can only exist once numpy has been imported.
    loaded_numpy = sys.modules.get("numpy")
    if loaded_numpy is not None and isinstance(value, loaded_numpy.dtype):
        return _from_numpy_dtype(value)
    if isinstance(value, builtins.type):
        import numpy as np

        try:
            numpy_dtype = np.dtype(value)
        except TypeError as exc:
            raise TypeError(f"cannot convert {value!r} to a data type: {exc}") from None
        return _from_numpy_dtype(numpy_dtype)
    raise TypeError(
        f"cannot convert {value!r} ({builtins.type(value).__name__}) to a data type; "
        "expected a dtype, a data type name, a NumPy dtype or a type"
    )


def _from_numpy_dtype(numpy_dtype: numpy.dtype[Any]) -> dtype:
    """Map a NumPy dtype (any byte order) to its dtype, or raise ``ValueError``."""
    import numpy as np

    name: str | None
    if numpy_dtype.isbuiltin == 2:  # defined outside numpy, e.g. by ml_dtypes
        name = _ml_type_to_name().get(numpy_dtype.type)
    elif numpy_dtype.kind == "S":
        name = "char"
    elif numpy_dtype.kind == "V" and issubclass(numpy_dtype.type, np.void):
        name = "byte"  # raw bytes, structured and sub-array dtypes alike
    else:
        name = _FROM_KIND_SIZE.get((numpy_dtype.kind, numpy_dtype.itemsize))
    if name is None:
        raise ValueError(f"no ts data type corresponds to NumPy dtype {numpy_dtype!r}")
    return _BY_NAME[name]


def _ml_type_to_name() -> dict[type, str]:
    """Scalar types of the ml_dtypes-backed names (those this ml_dtypes provides)."""
    if not _ML_TYPE_TO_NAME:
        import ml_dtypes

        for name in _ML_DTYPES_NAMES:
            scalar_type = getattr(ml_dtypes, name, None)
            if scalar_type is not None:
                _ML_TYPE_TO_NAME[scalar_type] = name
    return _ML_TYPE_TO_NAME


def _numpy_dtype(name: str) -> numpy.dtype[Any]:
    """NumPy dtype for ``name``, resolved on first use and cached."""
    found = _NUMPY_DTYPES.get(name)
    if found is not None:
        return found
    import numpy as np

    if name in _ML_DTYPES_NAMES:
        import ml_dtypes

        scalar_type = getattr(ml_dtypes, name, None)
        if scalar_type is None:
            raise ValueError(
                f"data type {name!r} needs a newer ml_dtypes (installed: {ml_dtypes.__version__})"
            )
        found = np.dtype(scalar_type)
    else:
        found = np.dtype(_NUMPY_SPELLING.get(name, name))
    _NUMPY_DTYPES[name] = found
    return found


def _to_json_value(value: object) -> Any:
    """Convert a Python/NumPy value to plain JSON data (None, bool, int, float, str, list, dict)."""
    if value is None or isinstance(value, builtins.bool):
        return value
    if isinstance(value, builtins.int):
        if not _JSON_INT_MIN <= value <= _JSON_INT_MAX:
            raise OverflowError(f"integer {value} does not fit in a 64-bit JSON number")
        return builtins.int(value)
    if isinstance(value, builtins.float):
        return builtins.float(value)
    if isinstance(value, builtins.str):
        return builtins.str(value)
    if isinstance(value, dict):
        return {
            key if builtins.type(key) is builtins.str else builtins.str(key): _to_json_value(item)
            for key, item in value.items()
        }
    cls = builtins.type(value)
    if hasattr(cls, "__len__") and hasattr(cls, "__getitem__") and not isinstance(value, Mapping):
        # Sequences, including bytes (a list of byte values) and NumPy arrays.
        builtins.len(value)  # type: ignore[arg-type]  # 0-d arrays raise TypeError here
        return [_to_json_value(item) for item in value]  # type: ignore[attr-defined]
    if hasattr(cls, "__index__"):
        try:
            index = operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            pass
        else:
            if not _JSON_INT_MIN <= index < 2**63:
                raise OverflowError(f"integer {index} does not fit in a 64-bit JSON number")
            return index
    if hasattr(cls, "__float__"):
        return builtins.float(value)  # type: ignore[arg-type]
    raise TypeError(f"cannot convert {cls.__name__!r} object to JSON")


bool = dtype._make("bool")
char = dtype._make("char")
byte = dtype._make("byte")
int2 = dtype._make("int2")
int4 = dtype._make("int4")
int8 = dtype._make("int8")
uint8 = dtype._make("uint8")
int16 = dtype._make("int16")
uint16 = dtype._make("uint16")
int32 = dtype._make("int32")
uint32 = dtype._make("uint32")
int64 = dtype._make("int64")
uint64 = dtype._make("uint64")
float4_e2m1fn = dtype._make("float4_e2m1fn")
float8_e3m4 = dtype._make("float8_e3m4")
float8_e4m3fn = dtype._make("float8_e4m3fn")
float8_e4m3fnuz = dtype._make("float8_e4m3fnuz")
float8_e4m3b11fnuz = dtype._make("float8_e4m3b11fnuz")
float8_e5m2 = dtype._make("float8_e5m2")
float8_e5m2fnuz = dtype._make("float8_e5m2fnuz")
float8_e8m0fnu = dtype._make("float8_e8m0fnu")
float16 = dtype._make("float16")
bfloat16 = dtype._make("bfloat16")
float32 = dtype._make("float32")
float64 = dtype._make("float64")
complex64 = dtype._make("complex64")
complex128 = dtype._make("complex128")
string = dtype._make("string")
ustring = dtype._make("ustring")
json = dtype._make("json")

assert tuple(_BY_NAME) == NAMES, "constants and __all__ disagree"
