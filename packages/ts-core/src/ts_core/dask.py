"""Dask arrays from and into TensorStores, chunked along the store's write chunks.

``dask.array.from_array(store)`` and ``dask.array.store(x, store, lock=False)`` work on a
TensorStore directly (it has ``shape``, ``dtype``, ``ndim``, ``__getitem__``,
``__setitem__`` and ``__array__``, and pickles to its spec). What they do not know is the
store's chunk grid: a Dask block that covers part of a write chunk makes its writer read,
modify and write back that chunk, and two blocks sharing one chunk make two workers do so
concurrently. Nothing is lost then (the writes are conditioned on the chunk's storage
generation and retried), but the work is repeated. The helpers here choose blocks whose
boundaries fall on chunk boundaries:

* :func:`chunks_for` -- Dask chunks aligned to the store's write chunks, about
  ``target_bytes`` per block (Dask's ``array.chunk-size`` by default);
* :func:`to_dask` -- a lazy Dask array reading the store, with such chunks;
* :func:`store_dask` -- write a Dask array into the store, warning with
  :class:`UnalignedChunksWarning` when its blocks split write chunks;
* :func:`is_aligned` -- whether a chunking splits no write chunk.

Dask counts indices from zero; a TensorStore view counts them in its domain, which may
start elsewhere (``store[10:]`` starts at 10). These helpers translate the view to a zero
origin first; call ``store.translate_to[0]`` yourself before handing such a view to
``dask.array`` directly.

Needs the ``dask`` extra (``pip install 'ts-core[dask]'``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

try:
    import dask
    import dask.array as da
    from dask.utils import parse_bytes
except ImportError as exc:  # pragma: no cover - the extra is installed in the test environment
    raise ImportError("ts_core.dask needs Dask: pip install 'ts-core[dask]'") from exc

if TYPE_CHECKING:
    from .tensorstore import TensorStore

__all__ = ["UnalignedChunksWarning", "chunks_for", "is_aligned", "store_dask", "to_dask"]

Chunks = tuple[tuple[int, ...], ...]


class UnalignedChunksWarning(UserWarning):
    """Dask blocks split the store's write chunks: writers of neighbouring blocks
    read-modify-write the same chunk (correct, but slower; see :func:`chunks_for`)."""


def _write_grid(store: TensorStore) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The write chunk shape and grid origin of the array under ``store``, in the array's
    own (untransformed) coordinates; a dimension without chunking gets size 0."""
    # The driver's chunk layout describes the stored array (a view's own ``schema`` is
    # already transformed); the view's transform is applied by the callers below.
    layout = store._driver.schema.chunk_layout
    shape = layout.write_chunk.shape
    rank = store.transform.output_rank
    sizes = tuple(int(size) if size else 0 for size in shape) if shape is not None else (0,) * rank
    origin = layout.grid_origin
    origins = tuple(int(value) if value is not None else 0 for value in origin) if origin is not None else (0,) * len(sizes)
    return sizes, origins


def _boundaries(store: TensorStore) -> list[np.ndarray[Any, Any] | None]:
    """For each dimension of the view, the positions ``b`` (1 .. n-1, counted from the
    view's origin) where a block may end without splitting a write chunk: elements
    ``b - 1`` and ``b`` lie in different chunks. ``None``: the dimension reaches storage
    through an index array, so no boundary is known to be safe."""
    chunk_sizes, grid_origin = _write_grid(store)
    transform = store.transform
    origin = transform.input_origin
    shape = transform.input_shape
    rank = len(shape)
    free: list[np.ndarray[Any, Any] | None] = [np.arange(1, max(1, int(n)), dtype=np.int64) for n in shape]
    for out_dim in range(transform.output_rank):
        output = transform.output[out_dim]
        method = str(output.method).rsplit(".", 1)[-1]
        if method == "constant" or not chunk_sizes or chunk_sizes[out_dim] <= 0:
            continue
        if method != "single_input_dimension":
            for in_dim in range(rank):  # an index array may gather from anywhere
                free[in_dim] = None
            continue
        in_dim = int(output.input_dimension)
        current = free[in_dim]
        if current is None or current.size == 0:
            continue
        # The chunk (along ``out_dim``) of each view position: a boundary is safe where
        # the chunk changes between its two neighbours.
        base = int(output.offset) + int(output.stride) * int(origin[in_dim]) - grid_origin[out_dim]
        stride, chunk = int(output.stride), chunk_sizes[out_dim]
        before = np.floor_divide(base + stride * (current - 1), chunk)
        after = np.floor_divide(base + stride * current, chunk)
        free[in_dim] = current[before != after]
    return free


def _relative(store: TensorStore) -> TensorStore:
    """``store`` with its domain translated to start at zero, as Dask indexes."""
    if all(int(value) == 0 for value in store.origin):
        return store
    translated: TensorStore = store.translate_to[0]
    return translated


def chunks_for(store: TensorStore, target_bytes: int | str | None = None) -> Chunks:
    """Dask chunks for ``store`` whose block boundaries fall on write-chunk boundaries,
    each block about ``target_bytes`` (default: Dask's ``array.chunk-size``) or one write
    chunk if that is larger. Dimensions reached through an index array get one block."""
    limit = parse_bytes(target_bytes if target_bytes is not None else dask.config.get("array.chunk-size"))
    if limit <= 0:
        raise ValueError(f"target_bytes: expected a positive size, but received {target_bytes!r}")
    itemsize = np.dtype(store.dtype).itemsize
    shape = [int(n) for n in store.shape]
    # Each dimension as cells: runs between the safe boundaries; blocks group whole cells.
    cells: list[list[int]] = []
    for n, free in zip(shape, _boundaries(store), strict=True):
        if n == 0:
            cells.append([0])
            continue
        edges = [0, n] if free is None else [0, *(int(b) for b in free), n]
        cells.append([edges[i + 1] - edges[i] for i in range(len(edges) - 1)])
    group = [1] * len(shape)

    def typical_block(dim: int, count: int) -> int:
        return sum(cells[dim][:count])

    def block_bytes(counts: Sequence[int]) -> int:
        return int(itemsize * math.prod(typical_block(dim, count) for dim, count in enumerate(counts)))

    # Grow the dimension whose block is smallest (balanced blocks, as Dask's "auto"),
    # doubling its cell count while the block stays within the limit.
    while True:
        growable = [
            dim for dim in range(len(shape))
            if group[dim] < len(cells[dim])
            and block_bytes([min(len(cells[dim]), 2 * c) if d == dim else c for d, c in enumerate(group)]) <= limit
        ]
        if not growable:
            break
        dim = min(growable, key=lambda d: typical_block(d, group[d]))
        group[dim] = min(len(cells[dim]), 2 * group[dim])
    return tuple(
        tuple(sum(cells[dim][i : i + group[dim]]) for i in range(0, len(cells[dim]), group[dim]))
        for dim in range(len(shape))
    )


def is_aligned(chunks: Any, store: TensorStore) -> bool:
    """Whether Dask ``chunks`` (any form ``dask.array.core.normalize_chunks`` takes) split
    no write chunk of ``store``: every block boundary falls on a chunk boundary."""
    shape, dtype = tuple(store.shape), np.dtype(store.dtype)
    normalized = da.core.normalize_chunks(chunks, shape, dtype=dtype)  # type: ignore[no-untyped-call]
    for blocks, free in zip(normalized, _boundaries(store), strict=True):
        ends = np.cumsum(blocks[:-1], dtype=np.int64)
        if ends.size and (free is None or not np.isin(ends, free).all()):
            return False
    return True


def to_dask(
    store: TensorStore, chunks: Any = None, *, target_bytes: int | str | None = None, name: str | None = None
) -> da.Array:
    """A lazy Dask array reading ``store`` (any view; indexed from zero as Dask does).

    ``chunks`` as ``dask.array.from_array`` takes them; by default :func:`chunks_for`.
    Each task reads its block with one ``store[block].read()``; in other processes the
    store is reopened from its pickled spec.
    """
    view = _relative(store)
    if chunks is None:
        chunks = chunks_for(view, target_bytes)
    dtype = np.dtype(view.dtype)
    array: da.Array = da.from_array(  # type: ignore[no-untyped-call]
        view, chunks=chunks, name=name, lock=False, asarray=True, fancy=False,
        meta=np.empty((0,) * view.ndim, dtype=dtype),
    )
    return array


def store_dask(x: Any, store: TensorStore, *, compute: bool = True, **kwargs: Any) -> Any:
    """Write the Dask array ``x`` into ``store`` (shapes must match) without a lock.

    Warns with :class:`UnalignedChunksWarning` when ``x``'s blocks split write chunks
    (rechunk with ``x.rechunk(chunks_for(store))`` to avoid it). ``x`` is cast to the
    store's dtype when NumPy's ``same_kind`` rule allows it; otherwise TypeError.
    Other keyword arguments go to ``dask.array.store``; with ``compute=False`` the
    delayed write is returned.
    """
    view = _relative(store)
    if tuple(x.shape) != tuple(view.shape):
        raise ValueError(f"store_dask: the Dask array's shape {tuple(x.shape)} differs from the store's {tuple(view.shape)}")
    target = np.dtype(view.dtype)
    if x.dtype != target:
        if not np.can_cast(x.dtype, target, casting="same_kind"):
            raise TypeError(f"store_dask: cannot cast the Dask array's {x.dtype} to the store's {target} (same_kind)")
        x = x.astype(target, casting="same_kind")
    if not is_aligned(x.chunks, view):
        warnings.warn(
            f"the Dask chunks {_short(x.chunks)} split write chunks of shape {_write_grid(view)[0]}: neighbouring "
            "blocks read-modify-write the same chunks (rechunk with ts_core.dask.chunks_for(store))",
            UnalignedChunksWarning,
            stacklevel=2,
        )
    kwargs.setdefault("lock", False)
    return da.store(x, view, compute=compute, **kwargs)


def _short(chunks: Chunks) -> str:
    parts = [str(blocks) if len(blocks) <= 4 else f"({blocks[0]}, {blocks[1]}, ..., {blocks[-1]})" for blocks in chunks]
    return "(" + ", ".join(parts) + ")"
