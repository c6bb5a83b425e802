"""``ts.open``: turn a spec (JSON, URL or ts.Spec) plus options into a TensorStore."""

from __future__ import annotations

from typing import Any

from ._executor import run_inline
from ._future import Future
from .context import Context
from .driver import OpenOptions
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
    from .plugin import get_registry
    from .tensorstore import TensorStore

    record = get_registry().get("driver", json_value["driver"])
    driver_class = record.load()
    context = context or Context()
    if json_value.get("context") is not None:
        context = Context(json_value["context"], parent=context)
    options = OpenOptions(
        open=bool(json_value.get("open", False)),
        create=bool(json_value.get("create", False)),
        delete_existing=bool(json_value.get("delete_existing", False)),
        assume_metadata=bool(json_value.get("assume_metadata", False)),
        assume_cached_metadata=bool(json_value.get("assume_cached_metadata", False)),
        read=read,
        write=write,
        recheck_cached_data=json_value.get("recheck_cached_data", True),
        recheck_cached_metadata=json_value.get("recheck_cached_metadata", "open"),
    )
    options.check()
    driver = driver_class.from_spec(json_value, context=context, options=options, transaction=transaction)
    transform = None  # the driver's own, resolved on first use (a lazy driver opens then)
    if "transform" in json_value:
        from .index_space import IndexTransform

        transform = _apply_spec_transform(IndexTransform(json=json_value["transform"]), driver.base_transform)
    return TensorStore(driver, transform, transaction, read, write)


def _apply_spec_transform(spec_transform: Any, base: Any) -> Any:
    """The spec's transform, checked against the array (output rank must match)."""
    if spec_transform.output_rank != base.input_rank:
        raise ValueError(
            f"transform: output rank {spec_transform.output_rank} does not match the array's rank {base.input_rank}"
        )
    return base[spec_transform] if hasattr(base, "__getitem__") else spec_transform
