"""``ts ls`` (arrays and groups below a path, or raw keys) and ``ts search`` (open each array)."""

from __future__ import annotations

import fnmatch
import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

import click

from ._common import SpecArgument, context_from, echo_json, human_bytes, kvstore_of, value_size

#: Metadata file name -> the driver that owns it (one file marks one node).
METADATA_FILES = {
    ".zarray": "zarr",
    ".zgroup": "zarr",
    "zarr.json": "zarr3",
    "attributes.json": "n5",
    "info": "neuroglancer_precomputed",
}
#: What marks an OCDBT database (its manifest); ``search`` looks inside it.
OCDBT_MANIFEST = "manifest.ocdbt"


@dataclass
class Node:
    """An array or group found below the listed path."""

    path: str
    kind: str  # "array" | "group"
    driver: str
    shape: list[int] | None = None
    dtype: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {"path": self.path, "kind": self.kind, "driver": self.driver}
        if self.kind == "array":
            value.update(shape=self.shape, dtype=self.dtype)
        value.update(self.details)
        return value


def list_keys(kvstore: Any) -> list[str]:
    return sorted(key.decode("utf-8", "surrogateescape") for key in kvstore.list().result())


def find_nodes(kvstore: Any, keys: list[str]) -> list[Node]:
    """The arrays and groups the metadata files among ``keys`` describe (metadata is read)."""
    nodes: list[Node] = []
    for key in keys:
        directory, name = posixpath.split(key)
        driver = METADATA_FILES.get(name)
        if driver is None:
            continue
        try:
            metadata = json.loads(kvstore.read(key).result().value)
        except (ValueError, UnicodeDecodeError):
            continue  # a file of that name that is not metadata (a chunk, say)
        if not isinstance(metadata, dict):
            continue
        node = _node(directory, name, metadata)
        if node is not None:
            nodes.append(node)
    return nodes


def _node(directory: str, name: str, metadata: dict[str, Any]) -> Node | None:
    path = directory or "."
    if name == ".zarray":
        return Node(path, "array", "zarr", metadata.get("shape"), _zarr2_dtype(metadata.get("dtype")))
    if name == ".zgroup":
        return Node(path, "group", "zarr")
    if name == "zarr.json":
        if metadata.get("node_type") == "array":
            return Node(path, "array", "zarr3", metadata.get("shape"), _text(metadata.get("data_type")))
        if metadata.get("node_type") == "group":
            return Node(path, "group", "zarr3")
        return None
    if name == "attributes.json":
        if "dimensions" in metadata and "dataType" in metadata:
            return Node(path, "array", "n5", metadata.get("dimensions"), _text(metadata.get("dataType")))
        return Node(path, "group", "n5")
    if name == "info":
        scales = metadata.get("scales")
        if not isinstance(scales, list) or not scales:
            return None
        first = scales[0] if isinstance(scales[0], dict) else {}
        size = first.get("size")
        shape = [*size, metadata.get("num_channels", 1)] if isinstance(size, list) else None
        details = {"scales": [scale.get("key") for scale in scales if isinstance(scale, dict)]}
        return Node(path, "array", "neuroglancer_precomputed", shape, _text(metadata.get("data_type")), details)
    return None


def _zarr2_dtype(value: Any) -> str | None:
    if not isinstance(value, str):
        return None if value is None else "structured"
    try:
        import numpy as np

        return str(np.dtype(value).name)
    except TypeError:
        return value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None if value is None else json.dumps(value)


@click.command()
@click.argument("target", type=SpecArgument())
@click.option("--keys", "raw_keys", is_flag=True, help="List raw keys with their sizes instead.")
@click.option("--match", "patterns", multiple=True, metavar="GLOB", help="With --keys: only keys matching a glob.")
@click.option("-h", "--human", is_flag=True, help="With --keys: sizes as KiB/MiB/GiB.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def ls(ctx: click.Context, target: Any, raw_keys: bool, patterns: tuple[str, ...], human: bool, as_json: bool) -> None:
    """Arrays and groups below a path (zarr v2/v3, n5, neuroglancer precomputed), or keys.

    Keys are relative to TARGET (a kvstore URL or spec, or an array's, whose kvstore is listed).
    """
    kvstore = kvstore_of(target, context_from(ctx), directory=True)
    keys = list_keys(kvstore)
    if raw_keys:
        if patterns:
            keys = [key for key in keys if any(fnmatch.fnmatchcase(key, pattern) for pattern in patterns)]
        entries = [(key, value_size(kvstore, key)) for key in keys]
        if as_json:
            echo_json([{"key": key, "size": size} for key, size in entries])
            return
        width = max((len(key) for key, _ in entries), default=0)
        for key, size in entries:
            click.echo(f"{key:<{width}}  {human_bytes(size) if human else size}")
        return
    nodes = find_nodes(kvstore, keys)
    if as_json:
        echo_json([node.to_json() for node in nodes])
        return
    width = max((len(node.path) for node in nodes), default=0)
    for node in nodes:
        line = f"{node.kind:<6} {node.driver:<25} {node.path:<{width}}"
        if node.kind == "array":
            shape = "?" if node.shape is None else " x ".join(str(extent) for extent in node.shape)
            line += f"  {node.dtype or '?'}  {shape}"
        click.echo(line.rstrip())


@click.command()
@click.argument("target", type=SpecArgument())
@click.option("-b", "--brief", is_flag=True, help="Print the minimal spec that opens each array.")
@click.pass_context
def search(ctx: click.Context, target: Any, brief: bool) -> None:
    """Open every array below a path and print its spec (one JSON line each).

    Also looks inside OCDBT databases found on the way (with ts-ocdbt installed).
    """
    context = context_from(ctx)
    kvstore = kvstore_of(target, context, directory=True)
    found = _search(kvstore, context, brief, inside_ocdbt=False)
    if not found:
        click.echo("no arrays found", err=True)


def _search(kvstore: Any, context: Any, brief: bool, *, inside_ocdbt: bool) -> int:
    import ts_core as ts

    keys = list_keys(kvstore)
    base_spec = kvstore.spec().to_json()
    found = 0
    for node in find_nodes(kvstore, keys):
        if node.kind != "array":
            continue
        directory = "" if node.path == "." else node.path.rstrip("/") + "/"
        array_kvstore = {**base_spec, "path": base_spec.get("path", "") + directory}
        spec_json = {"driver": node.driver, "kvstore": array_kvstore}
        try:
            store = ts.open(spec_json, context=context, read=True).result()
        except Exception as error:
            click.echo(f"ts: warning: {node.path}: {' '.join(str(error).split())}", err=True)
            continue
        value = spec_json if brief else store.spec().to_json()
        click.echo(json.dumps(value, separators=(",", ":")))
        found += 1
    if inside_ocdbt:
        return found
    for key in keys:
        directory, name = posixpath.split(key)
        if name != OCDBT_MANIFEST:
            continue
        prefix = directory + "/" if directory else ""
        try:
            database = ts.KvStore.open(
                {"driver": "ocdbt", "base": {**base_spec, "path": base_spec.get("path", "") + prefix}},
                context=context,
            ).result()
        except Exception as error:
            click.echo(f"ts: warning: {key}: {' '.join(str(error).split())}", err=True)
            continue
        found += _search(database, context, brief, inside_ocdbt=True)
    return found
