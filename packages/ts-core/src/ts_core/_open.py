"""``ts.open``: turn a spec (JSON, URL or ts.Spec) plus options into a TensorStore.

Validation and option folding happen here; opening is ``driver.open_driver``, the layer
adapter drivers use for their bases too.
"""

from __future__ import annotations

from typing import Any

from ._executor import run_inline
from ._future import Future
from .context import Context
from .driver import open_driver
from .spec import OPEN_MODE_MEMBERS, Spec, apply_open_options, parse_spec_json

__all__ = ["open"]

_OPTION_NAMES = (
    "open_mode",
    "open",
    "create",
    "delete_existing",
    "assume_metadata",
    "assume_cached_metadata",
    "recheck_cached_metadata",
    "recheck_cached_data",
    "recheck_cached",
    "rank",
    "dtype",
    "domain",
    "shape",
    "chunk_layout",
    "codec",
    "fill_value",
    "dimension_units",
    "schema",
    "kvstore",
)


def open(
    spec: Spec | Any,
    *,
    read: bool | None = None,
    write: bool | None = None,
    context: Context | None = None,
    transaction: Any = None,
    batch: Any = None,
    **options: Any,
) -> Future[Any]:
    """Open or create a TensorStore; see tensorstore's ``ts.open`` for every option."""
    unknown = sorted(set(options) - set(_OPTION_NAMES))
    if unknown:
        raise TypeError(f"open() got unexpected keyword argument(s): {', '.join(unknown)}")
    open_mode = options.pop("open_mode", None)
    if open_mode is not None:
        options.update({name: bool(getattr(open_mode, name, False)) for name in ("open", "create", "delete_existing")})
    json_value = parse_spec_json(spec)
    if all(value is None or (name in OPEN_MODE_MEMBERS and type(value) is bool) for name, value in options.items()):
        # Only open-mode flags, which cannot make a valid spec invalid: no second validation.
        json_value.update((name, value) for name, value in options.items() if value is not None)
    else:
        json_value = parse_spec_json(apply_open_options(json_value, options))
    if context is not None and not isinstance(context, Context):
        raise TypeError(f"context: expected ts.Context, but received {type(context).__name__}")
    if read is None and write is None:
        read = write = True
    return run_inline(_open_now, json_value, bool(read), bool(write), context, transaction)


def _open_now(json_value: dict[str, Any], read: bool, write: bool, context: Context | None, transaction: Any) -> Any:
    from .tensorstore import TensorStore

    opened = open_driver(json_value, context=context, transaction=transaction, read=read, write=write)
    # spec_transform None: the driver's own, resolved on first use (a lazy driver opens then)
    return TensorStore(opened.driver, opened.spec_transform, transaction, read, write)
