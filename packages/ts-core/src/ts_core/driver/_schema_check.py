"""Checking an opened chunked array against the schema constraints of its spec."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import SpecError, describe

if TYPE_CHECKING:
    from ._chunked import KvsChunkedDriver

__all__ = ["check_codec_constraint", "check_domain", "check_schema_constraints"]


def check_schema_constraints(driver: KvsChunkedDriver[Any], schema: Any) -> None:
    """Rank, shape, dtype, hard chunk shapes and codec of ``schema`` must hold for the array;
    the error names the schema member that does not."""
    array_shape = driver.shape
    domain = getattr(schema, "domain", None)
    if domain is not None and domain.rank == len(array_shape):
        check_domain(domain, driver.domain)
    rank = getattr(schema, "rank", None)
    if rank is not None and rank != len(array_shape):
        raise SpecError("rank", f"expected rank {rank} but the array has rank {len(array_shape)}")
    dtype = getattr(schema, "dtype", None)
    if dtype is not None:
        wanted = np.dtype(getattr(dtype, "numpy_dtype", dtype))
        if wanted != driver.numpy_dtype.newbyteorder("="):
            raise SpecError("dtype", f"expected {wanted} but the array has {driver.numpy_dtype}")
    layout = getattr(schema, "chunk_layout", None)
    if layout is not None:
        actual = driver.schema.chunk_layout
        for grid_name in ("read_chunk", "write_chunk"):
            hard = getattr(getattr(layout, grid_name, None), "shape", None)
            have = list(getattr(getattr(actual, grid_name, None), "shape", None) or driver.grid_chunk_shape)
            for dim, size in enumerate(hard or ()):
                if size is not None and size > 0 and dim < len(have) and size != have[dim]:
                    raise SpecError(
                        f"schema.chunk_layout.{grid_name}.shape[{dim}]",
                        f"expected {size} but the array's {grid_name.replace('_', ' ')}s are {have}",
                    )
    codec = getattr(schema, "codec", None)
    if codec is not None:
        driver.check_codec_constraint(codec)


def check_domain(wanted: Any, array_domain: Any) -> None:
    """Each finite bound and each label of the schema's domain must match the array's (an
    unbounded or unlabelled dimension constrains nothing, as in tensorstore's merge)."""
    from ..schema._domain_merge import INF_INDEX

    for dim in range(wanted.rank):
        for what, mine, theirs, unbounded in (
            ("lower bound", wanted.inclusive_min[dim], array_domain.inclusive_min[dim], -INF_INDEX),
            ("upper bound", wanted.inclusive_max[dim], array_domain.inclusive_max[dim], INF_INDEX),
        ):
            if mine != unbounded and mine != theirs:
                if all(-INF_INDEX < bound < INF_INDEX for bound in (*wanted.inclusive_min, *wanted.inclusive_max)):
                    raise SpecError("schema.domain", f"expected shape {list(wanted.shape)} but the array "
                                                     f"has shape {list(array_domain.shape)}")
                raise SpecError(
                    "schema.domain",
                    f"expected domain {wanted} but the array has domain {array_domain}: "
                    f"mismatch in dimension {dim}: {what}s do not match",
                )
        label, array_label = wanted.labels[dim], array_domain.labels[dim]
        if label and array_label and label != array_label:
            raise SpecError(
                "schema.domain",
                f"expected domain {wanted} but the array has domain {array_domain}: "
                f"mismatch in dimension {dim}: dimension labels do not match",
            )


def check_codec_constraint(driver: KvsChunkedDriver[Any], codec: Any) -> None:
    """Top-level members of a ``CodecSpec`` constraint must equal the stored codec's."""
    stored = driver.codec_json()
    if stored is None:
        return
    for member, wanted_value in codec.to_json().items():
        if member in stored and stored[member] != wanted_value:
            raise SpecError(
                f"schema.codec.{member}",
                f"expected {describe(wanted_value)} but the array has {describe(stored[member])}",
            )
