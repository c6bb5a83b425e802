"""Samples: a numbered collection of NumPy samples, each read from one or more TensorStores.

A :class:`Samples` object is a random-access data source: ``len(samples)`` and
``samples[i]`` (a NumPy array, or a tuple or dict of them, shaped like the ``stores``
it was given). That is all Grain's ``RandomAccessDataSource`` protocol and PyTorch's
map-style datasets ask for; ``samples._getitems(indices)`` (Grain's batched read) and
``samples.__getitems__(indices)`` (PyTorch's) read many samples concurrently.
"""

from __future__ import annotations

import math
import operator
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, SupportsIndex

import numpy as np

from ..concurrency import Executor, default_concurrency

if TYPE_CHECKING:
    from ..tensorstore import TensorStore

__all__ = ["PatchSamples", "RowSamples", "Samples", "leaves", "map_structure"]


def map_structure(function: Callable[[Any], Any], structure: Any) -> Any:
    """``structure`` (a leaf, a tuple/list of leaves or a dict of them) with ``function``
    applied to each leaf; tuples and lists come back as tuples."""
    if isinstance(structure, Mapping):
        return {key: function(value) for key, value in structure.items()}
    if isinstance(structure, (tuple, list)):
        return tuple(function(value) for value in structure)
    return function(structure)


def leaves(structure: Any, name: str = "stores") -> list[tuple[str, Any]]:
    """The leaves of ``structure`` with the expression that names each (``stores['image']``)."""
    if isinstance(structure, Mapping):
        return [(f"{name}[{key!r}]", value) for key, value in structure.items()]
    if isinstance(structure, (tuple, list)):
        return [(f"{name}[{position}]", value) for position, value in enumerate(structure)]
    return [(name, structure)]


def _check_stores(stores: Any) -> list[tuple[str, TensorStore]]:
    from ..tensorstore import TensorStore

    named = leaves(stores)
    if not named:
        raise ValueError("stores is empty: give a TensorStore, or a tuple or dict of them")
    for label, store in named:
        if not isinstance(store, TensorStore):
            raise TypeError(f"{label} must be a TensorStore, got {type(store).__name__}")
        if not store.readable:
            raise ValueError(f"{label} was opened without read access")
    return named


def _read_structure(views: Any) -> Any:
    """Read every TensorStore of ``views`` (all reads started before any is awaited)."""
    futures = map_structure(lambda view: view.read(), views)
    return map_structure(lambda future: future.result(), futures)


# One pool for the batched reads of every Samples object in this process (Executor pools
# are reset in a forked child, so a DataLoader worker gets its own working threads).
_pool_lock = threading.Lock()
_pool: Executor | None = None


def _reset_after_fork() -> None:
    global _pool_lock
    _pool_lock = threading.Lock()  # a lock held by a parent thread at the fork stays held


os.register_at_fork(after_in_child=_reset_after_fork)


def _shared_pool() -> Executor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = Executor(max(8, 4 * default_concurrency()), name="ts-loader")
        return _pool


class Samples:
    """Samples numbered ``0 .. len(self) - 1``, each a structure of TensorStore views.

    Subclasses define ``__len__`` and :meth:`views`; reading, batched reads and the
    Grain/PyTorch data source protocols come from here. A Samples object pickles (its
    TensorStores pickle to their specs), so worker processes can read it.
    """

    def __len__(self) -> int:
        raise NotImplementedError

    def views(self, index: int) -> Any:
        """The TensorStore views sample ``index`` (0 <= index < len) reads: one view, or a
        tuple or dict of them."""
        raise NotImplementedError

    def _index(self, index: SupportsIndex) -> int:
        position = operator.index(index)
        size = len(self)
        if position < 0:
            position += size
        if not 0 <= position < size:
            raise IndexError(f"sample index {operator.index(index)} is out of range for {size} samples")
        return position

    def __getitem__(self, index: SupportsIndex) -> Any:
        """Sample ``index`` read into NumPy arrays (a blocking read)."""
        return _read_structure(self.views(self._index(index)))

    def read_many(self, indices: Sequence[SupportsIndex]) -> list[Any]:
        """Samples ``indices``, read concurrently on a shared thread pool (in runs, one per
        thread: see :meth:`suggested_threads`)."""
        positions = [self._index(index) for index in indices]
        runs = min(len(positions), self.suggested_threads())
        if runs <= 1:
            return [self[position] for position in positions]
        pool = _shared_pool()
        futures = [pool.submit(self._read_run, run) for run in np.array_split(np.array(positions), runs)]
        return [sample for future in futures for sample in future.result()]

    def _read_run(self, positions: np.ndarray[Any, Any]) -> list[Any]:
        return [self[position] for position in positions.tolist()]

    def suggested_threads(self) -> int:
        """How many samples to read at once: one per core when every store of sample 0 is
        on local storage (reads then need the CPU, and more threads only contend for it),
        ``max(8, 4 * cores)`` otherwise (remote reads mostly wait)."""
        cores = default_concurrency()
        if len(self) == 0:
            return cores
        for _, view in leaves(self.views(0)):
            kvstore = getattr(view, "kvstore", None)
            if kvstore is None or not getattr(kvstore.driver, "local_io", False):
                return max(8, 4 * cores)
        return cores

    # Grain's SupportsBatchedReadRandomAccessDataSource and PyTorch's batched fetch.
    def _getitems(self, indices: Sequence[SupportsIndex]) -> list[Any]:
        return self.read_many(indices)

    def __getitems__(self, indices: Sequence[SupportsIndex]) -> list[Any]:
        return self.read_many(indices)

    def empty_batch(self, size: int) -> Any:
        """Uninitialised arrays for a batch of ``size`` samples, shaped like sample 0 with a
        batch dimension first (a tuple or dict of arrays for tuple or dict samples)."""
        if len(self) == 0:
            raise ValueError("there are no samples to batch")
        return map_structure(
            lambda view: np.empty((size, *view.shape), dtype=view.dtype.numpy_dtype), self.views(0)
        )


def _extent(store: TensorStore, dim: int) -> tuple[int, int]:
    interval = store.domain[dim]
    return int(interval.inclusive_min), int(interval.exclusive_max)


class RowSamples(Samples):
    """Sample ``i`` is row ``i`` of each store: its index ``i`` along dimension 0, counted
    from the start of that dimension's domain.

    ``stores`` is one TensorStore (samples are arrays), a tuple or list of them (tuples of
    arrays) or a dict of them (dicts of arrays, e.g. ``{"image": images, "label":
    labels}``); every store needs the same number of rows.
    """

    def __init__(self, stores: Any) -> None:
        named = _check_stores(stores)
        sizes = []
        for label, store in named:
            if store.rank < 1:
                raise ValueError(f"{label} has rank 0: RowSamples needs a first dimension to index")
            sizes.append((label, int(store.shape[0])))
        first_label, rows = sizes[0]
        for label, size in sizes[1:]:
            if size != rows:
                raise ValueError(
                    f"{label} has {size} rows along dimension 0, but {first_label} has {rows}: "
                    "every store needs the same number of rows"
                )
        self.stores = stores
        self._rows = rows
        self._starts = map_structure(lambda store: _extent(store, 0)[0], stores)

    def __len__(self) -> int:
        return self._rows

    def views(self, index: int) -> Any:
        if isinstance(self.stores, Mapping):
            return {key: store[self._starts[key] + index] for key, store in self.stores.items()}
        if isinstance(self.stores, (tuple, list)):
            return tuple(store[start + index] for store, start in zip(self.stores, self._starts, strict=True))
        return self.stores[self._starts + index]

    def __repr__(self) -> str:
        return f"RowSamples({len(self)} rows of {_describe(self.stores)})"


class PatchSamples(Samples):
    """Sample ``i`` is a patch of ``patch_shape`` over the first ``len(patch_shape)``
    dimensions of each store (later dimensions, such as channels, are taken whole).

    Patches lie on a grid with step ``stride`` (default ``patch_shape``: tiles that do not
    overlap), every patch wholly inside the domain; or ``origins`` lists each patch's
    first corner, an ``(n, len(patch_shape))`` integer array in the stores' domain
    coordinates (for random crops, draw them with NumPy). The patched dimensions of all
    stores must have the same domain.
    """

    def __init__(self, stores: Any, patch_shape: Sequence[int], *, stride: int | Sequence[int] | None = None,
                 origins: Any = None) -> None:
        named = _check_stores(stores)
        patch = tuple(operator.index(size) for size in patch_shape)
        if not patch:
            raise ValueError("patch_shape is empty: give the patch size in each patched dimension")
        for dim, size in enumerate(patch):
            if size < 1:
                raise ValueError(f"patch_shape[{dim}] must be positive, got {size}")
        first_label, first = named[0]
        for label, store in named:
            if store.rank < len(patch):
                raise ValueError(f"patch_shape has {len(patch)} dimensions but {label} has rank {store.rank}")
            for dim, size in enumerate(patch):
                low, high = _extent(store, dim)
                if (low, high) != _extent(first, dim):
                    first_low, first_high = _extent(first, dim)
                    raise ValueError(
                        f"{label} has domain [{low}, {high}) in dimension {dim}, but {first_label} has "
                        f"[{first_low}, {first_high}): the patched dimensions of all stores must match"
                    )
                if size > high - low:
                    raise ValueError(
                        f"patch_shape[{dim}] = {size} is larger than dimension {dim} of {label} "
                        f"(extent {high - low})"
                    )
        self.stores = stores
        self.patch_shape = patch
        self._low = np.array([_extent(first, dim)[0] for dim in range(len(patch))], dtype=np.int64)
        ends = np.array([_extent(first, dim)[1] for dim in range(len(patch))], dtype=np.int64)
        if origins is not None:
            if stride is not None:
                raise ValueError("give either stride or origins, not both")
            self.stride: tuple[int, ...] | None = None
            self.origins: np.ndarray[Any, Any] | None = _check_origins(origins, patch, self._low, ends)
            self._grid: tuple[int, ...] = ()
            return
        steps = (stride,) * len(patch) if isinstance(stride, int) else (patch if stride is None else tuple(stride))
        if len(steps) != len(patch):
            raise ValueError(f"stride has {len(steps)} entries but patch_shape has {len(patch)}")
        for dim, step in enumerate(steps):
            if operator.index(step) < 1:
                raise ValueError(f"stride[{dim}] must be positive, got {step}")
        self.stride = tuple(operator.index(step) for step in steps)
        self.origins = None
        self._grid = tuple(
            int((ends[dim] - self._low[dim] - patch[dim]) // self.stride[dim] + 1) for dim in range(len(patch))
        )

    def __len__(self) -> int:
        if self.origins is not None:
            return len(self.origins)
        return math.prod(self._grid)

    def origin(self, index: int) -> tuple[int, ...]:
        """The first corner of patch ``index``, in domain coordinates."""
        if self.origins is not None:
            return tuple(int(value) for value in self.origins[index])
        assert self.stride is not None
        cell = np.unravel_index(index, self._grid)
        return tuple(int(self._low[dim] + cell[dim] * self.stride[dim]) for dim in range(len(self._grid)))

    def views(self, index: int) -> Any:
        region = tuple(slice(start, start + size) for start, size in zip(self.origin(index), self.patch_shape, strict=True))
        return map_structure(lambda store: store[region], self.stores)

    def __repr__(self) -> str:
        placement = f"{len(self)} origins" if self.origins is not None else f"stride {self.stride}"
        return f"PatchSamples({len(self)} patches of {self.patch_shape}, {placement}, of {_describe(self.stores)})"


def _check_origins(origins: Any, patch: tuple[int, ...], low: np.ndarray[Any, Any], high: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    array = np.asarray(origins)
    if array.size == 0:
        array = array.reshape(0, len(patch))
    if array.ndim != 2 or array.shape[1] != len(patch) or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"origins must be an integer array of shape (n, {len(patch)}), got shape {array.shape} "
            f"and dtype {array.dtype}"
        )
    array = array.astype(np.int64)
    bad = np.nonzero(((array < low) | (array + np.array(patch) > high)).any(axis=1))[0]
    if len(bad):
        row = int(bad[0])
        corner = tuple(int(value) for value in array[row])
        region = ", ".join(f"[{start}, {start + size})" for start, size in zip(corner, patch, strict=True))
        domain = ", ".join(f"[{int(a)}, {int(b)})" for a, b in zip(low, high, strict=True))
        raise ValueError(f"origins[{row}] = {corner}: the patch {region} is not inside the domain {domain}")
    array.setflags(write=False)
    return array


def _describe(stores: Any) -> str:
    return ", ".join(f"{label} {tuple(store.shape)} {store.dtype.name}" for label, store in leaves(stores))
