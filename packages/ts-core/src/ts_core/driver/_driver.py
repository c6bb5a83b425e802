"""The contract every TensorStore driver implements (import this module, nothing else).

A driver is an open array: it knows its dtype and domain and reads or writes the region
an index transform selects. ``TensorStore`` objects are (driver, transform, transaction,
mode) views; indexing composes transforms and never touches the driver.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    from .._future import Future
    from ..index_space import IndexDomain, IndexTransform
    from ..kvstore import KvStore, Transaction

__all__ = ["Driver"]


class Driver(abc.ABC):
    """An open array that reads and writes through index transforms."""

    #: Registered driver id, e.g. ``"zarr"``.
    id: ClassVar[str]

    #: Spec members holding stored metadata, which ``spec(minimal_spec=True)`` leaves out
    #: (``metadata`` always is).
    metadata_members: ClassVar[tuple[str, ...]] = ("metadata",)

    @property
    @abc.abstractmethod
    def numpy_dtype(self) -> np.dtype[Any]:
        """The numpy dtype of elements as returned by ``read``."""

    @property
    @abc.abstractmethod
    def domain(self) -> IndexDomain:
        """The array's own domain; a TensorStore's transform maps into it."""

    @abc.abstractmethod
    def read(self, transform: IndexTransform, transaction: Transaction | None) -> Future[np.ndarray[Any, Any]]:
        """Read the region ``transform`` selects into a new array of its input shape."""

    @abc.abstractmethod
    def write(
        self, transform: IndexTransform, source: np.ndarray[Any, Any], transaction: Transaction | None
    ) -> Future[None]:
        """Write ``source`` (already broadcast to the transform's input shape)."""

    @abc.abstractmethod
    def spec_json(self) -> dict[str, Any]:
        """The driver members of a spec that reopens this array (no transform)."""

    # -- optional capabilities ----------------------------------------------------------------
    @property
    def kvstore(self) -> KvStore | None:
        return None

    @property
    def schema(self) -> Any:
        """A ``ts.Schema`` describing the array (drivers override with more detail)."""
        from ..schema import Schema

        return Schema(dtype=self.numpy_dtype, domain=self.domain)

    @property
    def base_transform(self) -> IndexTransform:
        """The transform a freshly opened TensorStore has: identity over ``domain`` by
        default; an adapter over a transformed base (``cast``, ``lazy``) passes the base's on."""
        from ..index_space import IndexTransform

        return IndexTransform(domain=self.domain)

    def resize(
        self,
        inclusive_min: tuple[int | None, ...],
        exclusive_max: tuple[int | None, ...],
        *,
        resize_metadata_only: bool,
        expand_only: bool,
        shrink_only: bool,
    ) -> Future[Driver]:
        raise NotImplementedError(f'the "{self.id}" driver does not support resize')

    def stored_chunk_counts(self, transform: IndexTransform, transaction: Transaction | None) -> tuple[int, int]:
        """(stored, total) chunks intersecting ``transform``; in-memory drivers store everything."""
        return (1, 1)
