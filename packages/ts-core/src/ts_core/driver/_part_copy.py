"""Copying one partition part between a chunk and the caller's array, fast for index arrays.

``partition_index_transform`` gives index-array parts (``oindex`` views) as open meshes:
tuples of ints and index vectors shaped to broadcast into the copied block. NumPy applies
such a mesh element by element; one ``take`` per indexed dimension (a gather) and one flat
assignment through a linear index (a scatter) do the same copy several times faster.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["gather", "scatter"]


def gather(source: np.ndarray[Any, Any], selection: tuple[Any, ...]) -> np.ndarray[Any, Any]:
    """``source[selection]``: one ``take`` per index vector when ``selection`` is an open mesh
    (ints and vectors, each along its own axis) or holds one 1-D index array among slices."""
    arrays = [item for item in selection if isinstance(item, np.ndarray)]
    if not arrays:
        return _indexed(source, selection)
    has_slices = any(isinstance(item, slice) for item in selection)
    has_ints = any(isinstance(item, int | np.integer) for item in selection)
    mesh_axes: list[int] = []
    if has_slices:
        if len(arrays) != 1 or arrays[0].ndim != 1 or has_ints:
            return _indexed(source, selection)
        mesh_axes.append(-1)
    else:
        if any(a.ndim != len(arrays) for a in arrays):
            return _indexed(source, selection)
        for a in arrays:
            non_unit = [d for d, n in enumerate(a.shape) if n != 1]
            if len(non_unit) > 1 or (non_unit and non_unit[0] in mesh_axes):
                return _indexed(source, selection)  # not an open mesh
            mesh_axes.append(non_unit[0] if non_unit else -1)
    basic = tuple(slice(None) if isinstance(item, np.ndarray) else item for item in selection)
    block = source[basic]
    takes = []  # (block axis, indices): the block keeps an axis per slice or vector
    kept = [item for item in selection if not isinstance(item, int | np.integer)]
    for axis, item in enumerate(kept):
        if isinstance(item, np.ndarray):
            takes.append((axis, item.reshape(-1)))
    # The most selective take first: later ones then move less data.
    for axis, indices in sorted(takes, key=lambda t: len(t[1]) / max(1, block.shape[t[0]])):
        block = block.take(indices, axis=axis)
    if has_slices:  # a lone index array stays in place, as NumPy keeps it
        return block
    # The block's axes follow the source's; the mesh orders them by each vector's axis (a
    # length-1 vector fits any axis: extent-1 axes may go anywhere).
    order = [-1] * block.ndim
    for axis, mesh_axis in enumerate(mesh_axes):
        if mesh_axis >= 0:
            order[mesh_axis] = axis
    free = iter(sorted(set(range(block.ndim)) - set(order)))
    order = [axis if axis >= 0 else next(free) for axis in order]
    return block.transpose(order) if order != sorted(order) else block


def _indexed(source: np.ndarray[Any, Any], selection: tuple[Any, ...]) -> np.ndarray[Any, Any]:
    """NumPy's own ``source[selection]``."""
    block: np.ndarray[Any, Any] = source[selection]
    return block


def scatter(
    flat: np.ndarray[Any, Any], strides: tuple[int, ...], selection: tuple[Any, ...], block: np.ndarray[Any, Any]
) -> bool:
    """``view[selection] = block`` through ``flat``, a flat view of the memory ``view`` lies
    in, with ``strides`` the view's strides in elements, when ``selection`` is an open mesh
    of ints and index vectors; False (nothing done) for any other selection."""
    if not all(isinstance(item, np.ndarray | int | np.integer) for item in selection):
        return False
    linear: Any = 0
    for item, stride in zip(selection, strides, strict=True):
        linear = linear + item * stride
    linear = np.asarray(linear)
    flat[linear.reshape(-1)] = np.broadcast_to(block, linear.shape).reshape(-1)
    return True
