"""``ts.array``, ``ts.cast``, ``ts.downsample`` and ``ts.lazy_driver``: TensorStores built
from an array, another TensorStore or a spec without going through ``ts.open``.

They live above the driver layer because they make ``TensorStore`` objects; the drivers
they wrap (``ts_core.driver.array``, ``.cast``, ``.downsample``, ``.lazy``) only see
drivers and transforms.
"""

from __future__ import annotations

import json
import operator
from typing import Any

import numpy as np

from ._validation import describe
from .context import Context
from .driver.array import ArrayDriver
from .driver.cast import CastDriver
from .driver.downsample import METHODS, DownsampleDriver, downsampled_domain
from .driver.lazy import LazyDriver
from .index_space import IndexDomain, IndexTransform
from .spec import Spec, apply_open_options, parse_spec_json
from .tensorstore import TensorStore

__all__ = ["array", "cast", "downsample", "lazy_driver"]


def array(
    array: Any, dtype: Any = None, *, context: Any = None, copy: bool | None = None, write: bool | None = None
) -> TensorStore:
    """A TensorStore over an in-memory array (tensorstore's ``ts.array``).

    As in tensorstore, a NumPy array is referenced, not copied, when it can be (writes go
    to it): ``copy=True`` always copies, ``copy=False`` refuses to. ``write`` asks for a
    writable store (copying a read-only array) or, False, a read-only one.
    """
    if context is not None and not isinstance(context, Context):
        raise TypeError(f"context: expected ts.Context, but received {type(context).__name__}")
    numpy_dtype = None
    if dtype is not None:
        from ._dtype import to_dtype

        numpy_dtype = to_dtype(dtype).numpy_dtype
    try:
        if copy is None:
            contents = np.asarray(array, dtype=numpy_dtype)
        else:
            contents = np.array(array, dtype=numpy_dtype, copy=bool(copy))
    except ValueError as exc:
        if copy is False:
            raise ValueError(f"ts.array(copy=False): {exc}") from None
        raise TypeError(f"cannot make an array from {describe(array)}: {exc}") from None
    except TypeError as exc:
        raise TypeError(f"cannot make an array from {describe(array)}: {exc}") from None
    if write and not contents.flags.writeable:
        if copy is False:
            raise ValueError("ts.array(write=True, copy=False): the source array is not writable")
        contents = contents.copy()
    writable = bool(contents.flags.writeable) if write is None else bool(write)
    return TensorStore(ArrayDriver(contents), None, None, True, writable)


def cast(base: TensorStore | Spec, dtype: Any) -> Any:
    """A view of ``base`` with elements converted to ``dtype`` (tensorstore's ``ts.cast``).

    The view keeps ``base``'s transform, so it has the same domain. Given a ``ts.Spec``,
    the result is the ``cast`` driver's spec over it, as in tensorstore.
    """
    from ._dtype import to_dtype

    target = to_dtype(dtype)
    if isinstance(base, Spec):
        return _cast_spec(base, target.name)
    _check_adaptable(base, "cast")
    return TensorStore(
        CastDriver(base._driver, target.numpy_dtype), base.transform, base.transaction, base.readable, base.writable
    )


def downsample(base: TensorStore | Spec, downsample_factors: Any, method: str) -> Any:
    """A read-only view of ``base`` with blocks aggregated (tensorstore's ``ts.downsample``).

    Given a ``ts.Spec``, the result is the ``downsample`` driver's spec over it.
    """
    factors = tuple(operator.index(f) for f in downsample_factors)
    if isinstance(base, Spec):
        return _downsample_spec(base, factors, method)
    _check_adaptable(base, "downsample")
    driver = DownsampleDriver(base._driver, base.transform, factors, str(method))
    return TensorStore(driver, None, base.transaction, True, False)


def _check_adaptable(store: Any, function: str) -> None:
    if not isinstance(store, TensorStore):
        raise TypeError(f"{function}(): expected a ts.TensorStore or ts.Spec, but received {describe(store)}")


def _split_spec(spec: Spec, moved: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``spec``'s JSON as an adapter's ``base`` and the members the adapter takes over
    (``moved`` and the context layer, which applies to the whole spec)."""
    base = dict(spec._json)
    adapter: dict[str, Any] = {name: base.pop(name) for name in ("context", *moved) if name in base}
    return base, adapter


def _adapter_spec(json_value: dict[str, Any], bound_to: Any) -> Spec:
    spec = Spec(json_value)
    return Spec._from_normalized(spec._json, bound_to)  # bound to the same context resources


def _spec_transform(spec: Spec) -> IndexTransform | None:
    """The spec's transform; an ``array`` spec's domain is its array's."""
    transform: IndexTransform | None = spec.transform
    if transform is None and spec._json["driver"] == "array":
        transform = IndexTransform(domain=IndexDomain(shape=np.shape(spec._json["array"])))
    return transform


def _cast_spec(spec: Spec, dtype_name: str) -> Spec:
    # Cast maps elements one to one: the transform (and so the rank) describes the cast view.
    base, adapter = _split_spec(spec, ("transform", "rank"))
    transform = _spec_transform(spec)
    if transform is not None:
        adapter["transform"] = transform.to_json()
    return _adapter_spec({**adapter, "driver": "cast", "base": base, "dtype": dtype_name}, spec._context)


def _downsample_spec(spec: Spec, factors: tuple[int, ...], method: Any) -> Spec:
    if not isinstance(method, str) or method not in METHODS:
        choices = ", ".join(f'"{name}"' for name in METHODS)
        raise ValueError(f"Expected one of {choices}, but received: {json.dumps(method, default=repr)}")
    rank = spec.rank
    if rank is not None and rank != len(factors):
        raise ValueError(
            f"Rank specified by downsample_factors ({len(factors)}) does not match existing rank ({rank})"
        )
    if any(factor < 1 for factor in factors):
        raise ValueError(f"downsample_factors: factors must be >= 1, got {list(factors)}")
    # The base keeps its transform (the view being downsampled); the dtype describes the result.
    base, adapter = _split_spec(spec, ("dtype", "rank"))
    transform = _spec_transform(spec)
    if transform is not None:
        base["transform"] = transform.to_json()
        domain = downsampled_domain(transform.domain, factors, method)
        adapter["transform"] = IndexTransform(domain=domain).to_json()
    else:
        adapter["rank"] = len(factors)
    adapter.update(driver="downsample", base=base, downsample_factors=list(factors), downsample_method=method)
    return _adapter_spec(adapter, spec._context)


def lazy_driver(spec: Any, **open_options: Any) -> TensorStore:
    """A TensorStore that opens ``spec`` (with ``ts.open`` options) on first use; no I/O now."""
    context = open_options.pop("context", None)
    if context is not None and not isinstance(context, Context):
        raise TypeError(f"context: expected ts.Context, but received {type(context).__name__}")
    transaction = open_options.pop("transaction", None)
    read = open_options.pop("read", None)
    write = open_options.pop("write", None)
    if read is None and write is None:
        read = write = True
    base = parse_spec_json(apply_open_options(parse_spec_json(spec), open_options))
    driver = LazyDriver(base, context=context, transaction=transaction, read=bool(read), write=bool(write))
    return TensorStore(driver, None, transaction, bool(read), bool(write))
