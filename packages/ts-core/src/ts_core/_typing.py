"""Type aliases and abstract types of tensorstore's Python API (``ts.DimSelectionLike``, ...).

They describe what the API accepts; none is needed at run time except ``Indexable`` and
``DimSelection`` for ``isinstance`` checks. Importing this module stays cheap: the index
space engine is imported only when ``DimSelection`` is first asked for.
"""

from __future__ import annotations

import abc
import sys
from collections.abc import Sequence
from types import EllipsisType
from typing import TYPE_CHECKING, Any, Literal, SupportsIndex, TypeVar, Union

if TYPE_CHECKING:
    import numpy.typing


__all__ = [
    "DimSelection",
    "DimSelectionLike",
    "DownsampleMethod",
    "Indexable",
    "NumpyIndexTerm",
    "NumpyIndexingSpec",
    "RecheckCacheOption",
    "T",
]

#: The result type parameter of ``ts.Future[T]`` / ``ts.Promise[T]``.
T = TypeVar("T", covariant=True)

#: ``recheck_cached_data`` / ``recheck_cached_metadata``: True (always revalidate), False
#: (never), ``"open"`` (data older than the open), or a time in seconds since the epoch.
RecheckCacheOption = Union[bool, Literal["open"], float]  # noqa: UP007 (runtime aliases, as tensorstore's)

#: The ``method`` of ``ts.downsample`` (ts also accepts ``"add"``, a ts extension).
DownsampleMethod = Literal["stride", "median", "mode", "mean", "min", "max"]

#: One term of a NumPy-style index: integer, slice, ``newaxis``, ``...`` or an index array.
NumpyIndexTerm = Union[
    SupportsIndex,
    "slice[SupportsIndex | Sequence[SupportsIndex | None] | None]",
    None,
    EllipsisType,
    "numpy.typing.ArrayLike",
]

#: A NumPy-style index: one term or a tuple of terms.
NumpyIndexingSpec = Union["NumpyIndexTerm", tuple["NumpyIndexTerm", ...]]

#: What ``ts.d[...]`` accepts: dimension indices, labels, slices of indices, selections.
DimSelectionLike = Union[
    "DimSelection",
    SupportsIndex,
    str,
    bytes,
    "slice[SupportsIndex | None]",
    Sequence["DimSelectionLike"],
]


class Indexable(abc.ABC):  # noqa: B024 (abstract by registration, as tensorstore's)
    """Abstract base of the types that support TensorStore indexing operations:
    ``TensorStore``, ``Spec`` and ``IndexTransform``."""

    __slots__ = ()

    @classmethod
    def __subclasshook__(cls, subclass: type) -> bool | Any:
        if cls is not Indexable:
            return NotImplemented
        # Only modules already imported can define the class being checked, so looking in
        # sys.modules never imports anything.
        for module_name, attribute in _INDEXABLE_TYPES:
            module = sys.modules.get(module_name)
            base = getattr(module, attribute, None)
            if base is not None and issubclass(subclass, base):
                return True
        return NotImplemented


_INDEXABLE_TYPES = (
    ("ts_core.index_space", "Indexable"),
    ("ts_core.tensorstore", "TensorStore"),
    ("ts_core.spec", "Spec"),
)

Indexable.__module__ = "ts_core"


if TYPE_CHECKING:
    from .index_space import DimSelection
else:

    def __getattr__(name: str) -> Any:
        # ``ts.DimSelection`` is the index space engine's class, imported on first use.
        if name == "DimSelection":
            from .index_space import DimSelection as value

            globals()[name] = value
            return value
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
