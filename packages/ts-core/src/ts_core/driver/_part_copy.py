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
    count = len(arrays)
    if not count or (count > 1 and any(a.ndim != count for a in arrays)):
        return _indexed(source, selection)  # no mesh (a vindex selects points)
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
    view: np.ndarray[Any, Any],
    flat: np.ndarray[Any, Any],
    strides: tuple[int, ...],
    selection: tuple[Any, ...],
    block: np.ndarray[Any, Any],
) -> bool:
    """``view[selection] = block`` when ``selection`` holds only ints and index arrays
    (non-negative); False (nothing done) for any other selection.

    ``flat`` is a flat view of the memory ``view`` lies in and ``strides`` are ``view``'s
    strides in elements. An open mesh is assigned with its evenly spaced vectors as slices
    and the others as index arrays moved to the front, so NumPy copies whole runs per index
    combination; other index arrays go through one linear index into ``flat``.
    """
    if not all(isinstance(item, np.ndarray | int | np.integer) for item in selection):
        return False
    arrays = [item for item in selection if isinstance(item, np.ndarray)]
    if len(arrays) < 2:  # ints and at most one index array: one NumPy assignment is best
        view[selection] = block
        return True
    mesh_axes = _mesh_axes(arrays)
    if mesh_axes is None or block.ndim != len(arrays):
        linear: Any = 0
        for item, stride in zip(selection, strides, strict=True):
            linear = linear + item * stride
        linear = np.asarray(linear)
        flat[linear.reshape(-1)] = np.broadcast_to(block, linear.shape).reshape(-1)
        return True
    # The block's axes are the mesh's; the view's (after ints) follow the selection.
    block = block.transpose(mesh_axes)
    basic: list[Any] = []
    vectors: list[tuple[int, np.ndarray[Any, Any]]] = []  # (axis among the kept, indices)
    for item in selection:
        if not isinstance(item, np.ndarray):
            basic.append(item)
            continue
        indices = item.reshape(-1)
        run = _evenly_spaced(indices)
        if run is None:
            vectors.append((len(basic) - sum(not isinstance(b, slice) for b in basic), indices))
            basic.append(slice(None))
        else:
            basic.append(run)
    target = view[tuple(basic)]
    if not vectors:
        target[...] = block
        return True
    front = [axis for axis, _ in vectors]
    order = front + [axis for axis in range(target.ndim) if axis not in front]
    count = len(vectors)
    index = tuple(
        indices.reshape([-1 if n == position else 1 for n in range(count)])
        for position, (_, indices) in enumerate(vectors)
    )
    target.transpose(order)[index] = block.transpose(order)
    return True


def _mesh_axes(arrays: list[np.ndarray[Any, Any]]) -> list[int] | None:
    """For index arrays forming an open mesh (each varying along its own axis of a common
    rank equal to their number), the mesh axis of each; None otherwise."""
    axes: list[int] = []
    for array in arrays:
        if array.ndim != len(arrays):
            return None
        varying = [d for d, n in enumerate(array.shape) if n != 1]
        if len(varying) > 1 or (varying and varying[0] in axes):
            return None
        axes.append(varying[0] if varying else -1)
    free = iter(sorted(set(range(len(arrays))) - set(axes)))
    return [axis if axis >= 0 else next(free) for axis in axes]


def _evenly_spaced(indices: np.ndarray[Any, Any]) -> slice | None:
    """Increasing, evenly spaced ``indices`` as a slice; None otherwise."""
    first = int(indices[0])
    if len(indices) == 1:
        return slice(first, first + 1)
    step = int(indices[1]) - first
    if step <= 0 or not (np.diff(indices) == step).all():
        return None
    return slice(first, int(indices[-1]) + 1, step)
