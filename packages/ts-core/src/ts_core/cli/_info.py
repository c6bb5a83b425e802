"""``ts info`` (what an array is and how much of it is stored) and ``ts spec`` (its spec)."""

from __future__ import annotations

import json
import math
from typing import Any

import click

from ._common import SpecArgument, context_from, echo_json, open_tensorstore


@click.command()
@click.argument("target", type=SpecArgument())
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--no-stats", is_flag=True, help="Skip counting stored chunks (no listing).")
@click.pass_context
def info(ctx: click.Context, target: Any, as_json: bool, no_stats: bool) -> None:
    """Domain, dtype, chunking, codecs, fill value, units and stored chunks of an array.

    TARGET is a URL (the format is detected when none is named) or a spec (JSON, @file.json).
    """
    store = open_tensorstore(target, context_from(ctx))
    summary = describe(store, with_stats=not no_stats)
    if as_json:
        echo_json(summary)
        return
    for label, value in _text_rows(summary):
        click.echo(f"{label + ':':<16}{value}")


def describe(store: Any, *, with_stats: bool = True) -> dict[str, Any]:
    """The facts ``ts info`` prints, as JSON-ready values."""
    layout = store.chunk_layout
    domain = store.domain
    summary: dict[str, Any] = {
        "url": _url(store),
        "driver": store.spec().to_json().get("driver"),
        "domain": domain.to_json(),
        "shape": list(domain.shape),
        "dtype": store.dtype.name,
        "read_chunk_shape": _shape(layout.read_chunk.shape),
        "write_chunk_shape": _shape(layout.write_chunk.shape),
        "codec": _codec_json(store),
        "fill_value": _fill_value(store),
        "dimension_units": [None if unit is None else unit.to_json() for unit in store.dimension_units]
        if store.dimension_units is not None
        else None,
        "nbytes": int(math.prod(domain.shape)) * store.dtype.numpy_dtype.itemsize,
    }
    if with_stats:
        stored, total = stored_chunk_counts(store)
        summary["storage"] = {"stored_chunks": stored, "total_chunks": total}
    return summary


def stored_chunk_counts(store: Any) -> tuple[int, int]:
    """(stored, total) storage chunks the array's domain covers (one listing when many)."""
    driver = store._driver  # ts_core's own view of its driver: the CLI is part of ts_core
    present, total = driver.stored_chunk_counts(store._transform, None)
    return int(present), int(total)


def _url(store: Any) -> str | None:
    try:
        return str(store.url)
    except Exception:  # a spec with no URL form (an in-memory array, a JSON-only member)
        return None


def _shape(shape: Any) -> list[int | None] | None:
    return None if shape is None else [None if extent is None else int(extent) for extent in shape]


def _codec_json(store: Any) -> Any:
    codec = store.codec
    return None if codec is None else codec.to_json()


def _fill_value(store: Any) -> Any:
    value = store.fill_value
    if value is None:
        return None
    return value.tolist() if hasattr(value, "tolist") else value


def _text_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    from ._common import human_bytes

    def shape(value: Any) -> str:
        return "-" if value is None else " x ".join("*" if extent is None else str(extent) for extent in value)

    domain = summary["domain"]
    labels = domain.get("labels")
    rows = [
        ("url", summary["url"] or "-"),
        ("driver", summary["driver"] or "-"),
        ("domain", _domain_text(domain)),
        ("dtype", summary["dtype"]),
        ("shape", f"{shape(summary['shape'])}  ({human_bytes(summary['nbytes'])})"),
        ("read chunk", shape(summary["read_chunk_shape"])),
        ("write chunk", shape(summary["write_chunk_shape"])),
        ("codec", json.dumps(summary["codec"], separators=(",", ":")) if summary["codec"] is not None else "-"),
        ("fill value", json.dumps(summary["fill_value"])),
    ]
    units = summary["dimension_units"]
    if units is not None and any(unit is not None for unit in units):
        rows.append(("units", ", ".join("-" if unit is None else _unit_text(unit) for unit in units)))
    if labels and any(labels):
        rows.append(("labels", ", ".join(label or "-" for label in labels)))
    storage = summary.get("storage")
    if storage is not None:
        stored, total = storage["stored_chunks"], storage["total_chunks"]
        percent = f" ({100 * stored / total:.1f}%)" if total else ""
        rows.append(("stored chunks", f"{stored} of {total}{percent}"))
    return rows


def _domain_text(domain: dict[str, Any]) -> str:
    lower = domain.get("inclusive_min", [])
    upper = domain.get("exclusive_max", [])
    parts = []
    for start, stop in zip(lower, upper, strict=False):
        # tensorstore's notation: an implicit bound (stored as [bound]) is starred
        start_text = f"{start[0]}*" if isinstance(start, list) else str(start)
        stop_text = f"{stop[0]}*" if isinstance(stop, list) else str(stop)
        parts.append(f"[{start_text}, {stop_text})")
    return "{ " + ", ".join(parts) + " }" if parts else "{}"


def _unit_text(unit: Any) -> str:
    if isinstance(unit, list) and len(unit) == 2:
        multiplier, name = unit
        return f"{multiplier:g} {name}".strip() if multiplier != 1 else (name or "1")
    return str(unit)


@click.command()
@click.argument("target", type=SpecArgument())
@click.option("--minimal", is_flag=True, help="Leave out the stored metadata (the minimal spec).")
@click.option("--no-open", is_flag=True, help="Print the parsed spec without opening anything.")
@click.option("--compact", is_flag=True, help="One line of JSON.")
@click.pass_context
def spec(ctx: click.Context, target: Any, minimal: bool, no_open: bool, compact: bool) -> None:
    """The full spec of an array (tensorstore's ``print_spec``), from its URL or partial spec."""
    from ._common import spec_json

    if no_open:
        value = spec_json(target)
    else:
        store = open_tensorstore(target, context_from(ctx))
        value = store.spec(minimal_spec=minimal).to_json()
    click.echo(json.dumps(value, separators=(",", ":")) if compact else json.dumps(value, indent=2))
