"""Resizing a chunked array: a metadata update conditioned on the generation read, then
trimming the chunks the new bounds cut off."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..kvstore import UNKNOWN
from ._chunk_open import parse_stored

if TYPE_CHECKING:
    from ._chunked import KvsChunkedDriver

__all__ = ["resize", "trim"]


def resize(
    driver: KvsChunkedDriver[Any],
    exclusive_max: Sequence[int | None],
    *,
    metadata_only: bool,
    expand_only: bool,
    shrink_only: bool,
) -> KvsChunkedDriver[Any]:
    """A driver for the array with new upper bounds (None keeps a bound); another writer's
    concurrent metadata change is re-read and the resize applied to it."""
    shape = driver.shape
    chunked = len(shape) - len(driver.inner_shape)
    if len(exclusive_max) != len(shape):
        raise ValueError(f"exclusive_max has {len(exclusive_max)} entries, the array has rank {len(shape)}")
    kvstore = driver._kvstore
    while True:
        stored = kvstore.read_blocking(driver.metadata_key)
        if stored.state != "value":
            raise ValueError(f"cannot resize: {driver.metadata_key!r} no longer exists")
        current = parse_stored(type(driver), stored.value, kvstore)
        old_shape = tuple(driver.array_shape(current))
        new_shape = list(old_shape)
        for dim, bound in enumerate(exclusive_max[:chunked]):
            if bound is None:
                continue
            if bound < 0:
                raise ValueError(f"exclusive_max[{dim}] = {bound} is negative")
            if expand_only and bound < old_shape[dim]:
                raise ValueError(f"expand_only: dimension {dim} would shrink from {old_shape[dim]} to {bound}")
            if shrink_only and bound > old_shape[dim]:
                raise ValueError(f"shrink_only: dimension {dim} would grow from {old_shape[dim]} to {bound}")
            new_shape[dim] = int(bound)
        for dim, bound in enumerate(exclusive_max[chunked:], start=chunked):
            if bound is not None and bound != shape[dim]:
                raise ValueError(f"dimension {dim} is not resizable (it is part of the element type)")
        updated = driver.with_shape(current, tuple(new_shape))
        stamp = kvstore.write_blocking(driver.metadata_key, driver.encode_metadata(updated), stored.stamp.generation)
        if stamp.generation != UNKNOWN:
            break  # otherwise someone else changed the metadata: apply ours to theirs
    resized = type(driver)(
        kvstore=kvstore, metadata=updated, context=driver._context,
        options=driver._options, spec_members=driver._spec_members,
    )
    if not metadata_only:
        trim(resized, old_shape, tuple(new_shape))
    return resized


def trim(driver: KvsChunkedDriver[Any], old_shape: tuple[int, ...], new_shape: tuple[int, ...]) -> None:
    """After shrinking: delete chunks now wholly outside, reset the cut-off part of edge chunks."""
    chunk = driver.grid_chunk_shape[: len(old_shape)]
    if all(n >= o for n, o in zip(new_shape, old_shape, strict=True)):
        return
    kvstore = driver.chunk_kvstore
    cache = driver.chunk_cache
    ranges = [range(-(-o // c)) for o, c in zip(old_shape, chunk, strict=True)]
    for grid in itertools.product(*ranges):
        starts = [g * c for g, c in zip(grid, chunk, strict=True)]
        if all(s + c <= n for s, c, n in zip(starts, chunk, new_shape, strict=True)):
            continue  # still wholly inside
        key = driver.chunk_key(grid)
        if any(s >= n for s, n in zip(starts, new_shape, strict=True)):
            kvstore.write_blocking(key, None)
            cache.discard(key)
            continue
        while True:
            current, generation = cache.read(key, kvstore)
            if current is None:
                break
            storage = current.copy(order="K")
            fill = driver.fill_chunk_view
            cut = tuple(slice(max(0, n - s), None) for s, n in zip(starts, new_shape, strict=True))
            for dim, part in enumerate(cut):
                index = (slice(None),) * dim + (part,)
                storage[index] = fill[index]
            if driver._store(kvstore, key, storage, generation):
                break
