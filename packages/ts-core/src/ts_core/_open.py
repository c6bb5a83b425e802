"""``ts.open``: turn a spec (JSON, URL or ts.Spec) plus options into a TensorStore.

Validation and option folding happen here; opening is ``driver.open_driver``, the layer
adapter drivers use for their bases too. Every keyword of tensorstore's ``ts.open`` is
accepted, with its meaning and its ``TypeError`` for a value of the wrong type.
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Iterable, Mapping
from typing import Any

from ._executor import run_inline
from ._future import Future
from ._open_mode import OPEN_MODE_FLAGS, OpenMode, as_flag, is_open_mode
from .context import Context
from .driver import open_driver
from .spec import Spec, apply_open_options, parse_spec_json

__all__ = ["check_recheck_option", "open", "open_mode_override"]

_OPTION_NAMES = (
    "open_mode",
    *OPEN_MODE_FLAGS,
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

_OPTION_NAME_SET = frozenset(_OPTION_NAMES)

_RECHECK_OPTIONS = ("recheck_cached_metadata", "recheck_cached_data", "recheck_cached")

#: Keyword options that are schema constraints (checked by ``_normalize_schema_options``).
_SCHEMA_OPTIONS = frozenset(
    {"rank", "dtype", "domain", "shape", "chunk_layout", "codec", "fill_value", "dimension_units", "schema", "kvstore"}
)


def check_recheck_option(value: Any, name: str) -> bool | str | float:
    """A ``RecheckCacheOption`` (True, False, ``"open"`` or seconds since the epoch) checked
    and normalised as tensorstore does (a number becomes a float); else TypeError."""
    if isinstance(value, bool) or value == "open":
        return value  # type: ignore[no-any-return]
    if isinstance(value, numbers.Real) and not isinstance(value, str):
        return float(value)
    raise TypeError(f'Invalid {name}: expected True, False, "open" or a time in seconds, but received {value!r}')


def open_mode_override(open_mode: Any, flags: dict[str, Any]) -> OpenMode | None:
    """The open mode ``ts.open``/``Spec.update`` keywords ask for, or None to keep the spec's.

    As in tensorstore, ``open_mode`` and the flags given as True are combined, and a
    non-empty result *replaces* the spec's open mode (False flags change nothing).
    """
    if open_mode is None:  # the common case: only keyword flags
        chosen = {name: True for name, value in flags.items() if value is not None and as_flag(value, name)}
        return OpenMode(**chosen) if chosen else None
    if not is_open_mode(open_mode):
        raise TypeError(f"Invalid open_mode: expected ts.OpenMode, but received {type(open_mode).__name__}")
    combined = OpenMode()
    for name in OPEN_MODE_FLAGS:
        if open_mode is not None and getattr(open_mode, name):
            setattr(combined, name, True)
    for name, value in flags.items():
        if value is not None and as_flag(value, name):
            setattr(combined, name, True)
    return combined if combined else None


def _mode_json(open_mode: Any, flags: dict[str, Any]) -> dict[str, bool]:
    """The spec members of ``open_mode_override``'s mode (empty: keep the spec's)."""
    if open_mode is None:  # only keyword flags: no OpenMode needed
        return {name: True for name, value in flags.items() if value is not None and as_flag(value, name)}
    mode = open_mode_override(open_mode, flags)
    return mode.to_json() if mode is not None else {}


def _index(value: Any, name: str) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"Invalid {name}: expected an integer, but received {value!r}") from None


def _unit_json(unit: Any) -> Any:
    if unit is None or isinstance(unit, str | numbers.Real):
        return unit
    if isinstance(unit, tuple | list) and len(unit) == 2:
        return list(unit)
    to_json = getattr(unit, "to_json", None)  # a ts.Unit
    if callable(to_json):
        return to_json()
    raise TypeError(
        f"Invalid dimension_units: expected ts.Unit, str, number, (number, str) or None, but received {unit!r}"
    )


def _normalize_schema_options(options: dict[str, Any]) -> None:
    """Check the types of the schema keywords tensorstore checks (TypeError naming the
    keyword) and turn the Python values it accepts into their JSON."""
    if options.get("rank") is not None:
        options["rank"] = _index(options["rank"], "rank")
    shape = options.get("shape")
    if shape is not None:
        if isinstance(shape, str | bytes) or not isinstance(shape, Iterable):
            raise TypeError(f"Invalid shape: expected a sequence of integers, but received {shape!r}")
        options["shape"] = [_index(extent, "shape") for extent in shape]
    units = options.get("dimension_units")
    if units is not None:
        if isinstance(units, str | bytes) or not isinstance(units, Iterable):
            raise TypeError(f"Invalid dimension_units: expected a sequence of units, but received {units!r}")
        options["dimension_units"] = [_unit_json(unit) for unit in units]
    domain = options.get("domain")
    if domain is not None and not (hasattr(domain, "to_json") or isinstance(domain, Mapping)):
        raise TypeError(f"Invalid domain: expected ts.IndexDomain, but received {type(domain).__name__}")


def _check_against_spec(json_value: dict[str, Any], options: dict[str, Any]) -> None:
    """A dtype or rank keyword constrains the spec's own; it may not replace it (tensorstore)."""
    if options.get("dtype") is not None and "dtype" in json_value:
        from ._dtype import to_dtype

        given = to_dtype(options["dtype"], json_path="dtype").name
        if given != json_value["dtype"]:
            raise ValueError(f"Specified dtype ({given}) does not match existing value ({json_value['dtype']})")
    if options.get("rank") is not None and "rank" in json_value and options["rank"] != json_value["rank"]:
        raise ValueError(
            f"Rank specified by rank ({options['rank']}) does not match existing rank ({json_value['rank']})"
        )


def _check_types(context: Any, transaction: Any, batch: Any) -> None:
    if context is not None and not isinstance(context, Context):
        raise TypeError(f"Invalid context: expected ts.Context, but received {type(context).__name__}")
    if transaction is not None:
        from .kvstore import Transaction

        if not isinstance(transaction, Transaction):
            raise TypeError(f"Invalid transaction: expected ts.Transaction, but received {type(transaction).__name__}")
    if batch is not None:
        from ._batch import Batch

        if not isinstance(batch, Batch):
            raise TypeError(f"Invalid batch: expected ts.Batch, but received {type(batch).__name__}")


def _bound_context(spec: Any, json_value: dict[str, Any]) -> Context | None:
    """The context ``spec`` is bound to (``Spec.update(context=...)``, ``retain_context``),
    so the opened store shares its resources; None for an unbound spec.

    Binding copied the context's own layer into the JSON's ``context``; that copy is taken
    out again (in place) so the resources come from the bound context itself, not from a
    fresh layer of the same specs.
    """
    bound: Context | None = spec._context if isinstance(spec, Spec) else None
    if bound is None:
        return None
    layer = json_value.get("context")
    if layer:
        copied = bound.spec.to_json() if bound.spec is not None else {}
        own = {name: value for name, value in layer.items() if copied.get(name, object()) != value}
        if own:
            json_value["context"] = own
        else:
            del json_value["context"]
    return bound


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
    """Open or create a TensorStore; see tensorstore's ``ts.open`` for every option.

    With ``batch``, an open that reads stored metadata waits for the batch's submission.
    """
    if not _OPTION_NAME_SET.issuperset(options):
        unknown = sorted(set(options) - _OPTION_NAME_SET)
        raise TypeError(f"open() got unexpected keyword argument(s): {', '.join(unknown)}")
    if context is not None or transaction is not None or batch is not None:
        _check_types(context, transaction, batch)
    read = None if read is None else as_flag(read, "read")
    write = None if write is None else as_flag(write, "write")
    mode = _mode_json(options.pop("open_mode", None), {name: options.pop(name) for name in OPEN_MODE_FLAGS if name in options})
    if options:
        if not _SCHEMA_OPTIONS.isdisjoint(options):
            _normalize_schema_options(options)
        for name in _RECHECK_OPTIONS:  # recheck_cached last: it wins over the other two
            value = options.pop(name, None)
            if value is not None:
                options[name] = check_recheck_option(value, name)
    json_value = parse_spec_json(spec)
    bound = _bound_context(spec, json_value)
    if bound is not None:  # as in tensorstore, a spec's bound resources win over ``context``
        context = bound
    if mode:
        for name in OPEN_MODE_FLAGS:
            json_value.pop(name, None)
        json_value.update(mode)
    if options:
        _check_against_spec(json_value, options)
    if any(value is not None for value in options.values()):
        json_value = parse_spec_json(apply_open_options(json_value, options))
    # else only open-mode flags, which cannot make a valid spec invalid: no second validation.
    if not (read or write):  # as in tensorstore, read=False, write=False is read and write too
        read = write = True
    arguments = (json_value, bool(read), bool(write), context, transaction)
    if batch is not None and not (json_value.get("assume_metadata") or json_value.get("delete_existing")):
        # The metadata read joins the batch: the open completes once the batch is submitted
        # (tensorstore's warning holds: awaiting it before submitting never returns).
        try:
            deferred: Future[Any] = batch._defer(lambda: run_inline(_open_now, *arguments))
        except ValueError:  # already submitted: nothing to join, open now as tensorstore does
            pass
        else:
            return deferred
    return run_inline(_open_now, *arguments)


_tensorstore_class: Any = None


def _open_now(json_value: dict[str, Any], read: bool, write: bool, context: Context | None, transaction: Any) -> Any:
    global _tensorstore_class
    if _tensorstore_class is None:  # imported on first use (it imports this module's package)
        from .tensorstore import TensorStore

        _tensorstore_class = TensorStore
    opened = open_driver(json_value, context=context, transaction=transaction, read=read, write=write)
    # spec_transform None: the driver's own, resolved on first use (a lazy driver opens then)
    return _tensorstore_class(opened.driver, opened.spec_transform, transaction, read, write)
