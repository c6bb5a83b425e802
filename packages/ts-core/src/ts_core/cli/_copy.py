"""``ts cp``: copy or convert an array (or a key-value store) in bounded, chunk-aligned blocks."""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import math
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import click

from ._common import (
    CliError,
    SpecArgument,
    context_from,
    human_bytes,
    kvstore_of,
    parse_json_option,
    spec_json,
)

MIB = 1 << 20
#: Largest block ``copy_array`` reads at once, however much memory the limit allows. Blocks
#: this small are recycled by the C allocator from block to block; larger ones are fresh
#: memory mappings whose pages the kernel zeroes (and, with NumPy's huge-page advice, may
#: compact memory for) on every block: reading 256 MiB of 64^3 uint16 chunks in 64 MiB
#: blocks spent about 10x the system time of 16 MiB blocks, and the copy ran slower.
MAX_BLOCK_BYTES = 16 * MIB
#: ``--jobs`` when not given: chunk and key copies in flight, and the most blocks in flight.
DEFAULT_JOBS = 4
#: Driver names a user may write for a format, and the driver id they mean.
DRIVER_ALIASES = {
    "zarr2": "zarr",
    "precomputed": "neuroglancer_precomputed",
    "neuroglancer-precomputed": "neuroglancer_precomputed",  # its URL scheme
}


@click.command()
@click.argument("source", type=SpecArgument())
@click.argument("destination", type=SpecArgument())
@click.option("--driver", help="Format of a new destination (zarr, zarr3, n5, ...); default: the source's.")
@click.option("--dtype", help="Data type of a new destination; default: the source's (values are cast).")
@click.option("--chunks", metavar="N,N,...", help="Chunk shape of a new destination; default: the source's.")
@click.option("--codec", metavar="JSON", help="Codec spec of a new destination (JSON or @file.json).")
@click.option("--memory-limit", default=256.0, show_default=True, metavar="MIB",
              help="Most memory the blocks in flight may hold, in MiB.")
@click.option("-j", "--jobs", type=int, default=None,
              help=f"Blocks copied at once [default: the cores usable, at most {DEFAULT_JOBS}; "
                   f"{DEFAULT_JOBS} chunks or keys where those are copied as stored].")
@click.option("--resume", is_flag=True, help="Open an existing destination and skip blocks already stored there.")
@click.option("--overwrite", is_flag=True, help="Delete an existing destination array first.")
@click.option("--keys", "raw_keys", is_flag=True, help="Copy raw keys between two kvstores (no array is opened).")
@click.option("--reencode", is_flag=True,
              help="Decode and encode every block even where source and destination store chunks alike.")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar; default: only when stderr is a terminal.")
@click.option("-v", "--verbose", is_flag=True, help="Print what was copied and skipped when done.")
@click.pass_context
def cp(
    ctx: click.Context,
    source: Any,
    destination: Any,
    driver: str | None,
    dtype: str | None,
    chunks: str | None,
    codec: str | None,
    memory_limit: float,
    jobs: int | None,
    resume: bool,
    overwrite: bool,
    raw_keys: bool,
    reencode: bool,
    progress: bool | None,
    verbose: bool,
) -> None:
    """Copy SOURCE to DESTINATION, converting format, dtype, chunking or codec on the way.

    A new destination takes its schema from the source unless an option says otherwise.
    The copy runs in blocks aligned to the destination's write chunks, each at most
    MEMORY_LIMIT / JOBS MiB (and 16 MiB unless one chunk is larger), so memory stays
    bounded and no chunk is written twice.
    """
    if jobs is not None and jobs < 1:
        raise click.BadParameter("must be at least 1", param_hint="'--jobs'")
    if memory_limit <= 0:
        raise click.BadParameter("must be positive", param_hint="'--memory-limit'")
    if resume and overwrite:
        raise click.UsageError("--resume and --overwrite exclude each other")
    context = context_from(ctx)
    show_progress = sys.stderr.isatty() if progress is None else progress
    started = time.perf_counter()
    if raw_keys:
        if driver or dtype or chunks or codec:
            raise click.UsageError("--keys copies values as they are: --driver, --dtype, --chunks and --codec do not apply")
        report = copy_keys(kvstore_of(source, context, directory=True), kvstore_of(destination, context, directory=True),
                           jobs=jobs or DEFAULT_JOBS, resume=resume, show_progress=show_progress)
    else:
        source_store = _open_source(source, context)
        destination_store = open_destination(
            source_store, destination, context, driver=driver, dtype=dtype,
            chunks=_parse_chunks(chunks, source_store.rank), codec=parse_json_option(codec, "--codec"),
            resume=resume, overwrite=overwrite,
        )
        chunk_stores = None if reencode else same_encoding_kvstores(source_store, destination_store)
        if chunk_stores is not None:
            report = copy_stored_chunks(*chunk_stores, jobs=jobs or DEFAULT_JOBS, resume=resume,
                                        show_progress=show_progress)
        else:
            report = copy_array(source_store, destination_store, memory_limit=int(memory_limit * MIB),
                                jobs=jobs or default_block_jobs(), check_stored=resume, show_progress=show_progress)
    if verbose:
        elapsed = time.perf_counter() - started
        rate = report["bytes"] / elapsed if elapsed > 0 else 0.0
        click.echo(
            f"copied {report['copied']} {report['unit'] if report['copied'] != 1 else report['unit'][:-1]},"
            f" skipped {report['skipped']}"
            f" ({human_bytes(report['bytes'])} in {elapsed:.2f} s, {human_bytes(rate)}/s)"
        )


def _parse_chunks(text: str | None, rank: int) -> list[int] | None:
    if text is None:
        return None
    try:
        shape = [int(part) for part in text.replace("x", ",").split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of integers", param_hint="'--chunks'") from None
    if len(shape) != rank or any(extent <= 0 for extent in shape):
        raise click.BadParameter(f"{text!r} needs {rank} positive extents (the source's rank)", param_hint="'--chunks'")
    return shape


def _open_source(source: Any, context: Any) -> Any:
    import ts_core as ts

    store = ts.open(source, context=context, read=True).result()
    if any(origin != 0 for origin in store.domain.origin):
        store = store.translate_to[0]  # formats on disk start at zero
    return store


def open_destination(
    source: Any,
    destination: Any,
    context: Any,
    *,
    driver: str | None,
    dtype: str | None,
    chunks: list[int] | None,
    codec: Any,
    resume: bool,
    overwrite: bool,
) -> Any:
    """Create (or with ``resume`` open) the destination with the source's schema, overridden by options."""
    import numpy as np

    import ts_core as ts

    target = spec_json(destination)
    source_driver = source.spec().to_json().get("driver")
    wanted = DRIVER_ALIASES.get(driver, driver) if driver else None
    named = DRIVER_ALIASES.get(target.get("driver", "auto"), target.get("driver", "auto"))
    if named == "auto":
        target["driver"] = wanted or source_driver
        kvstore = target.get("kvstore")
        if isinstance(kvstore, dict) and kvstore.get("path") and not kvstore["path"].endswith("/"):
            target["kvstore"] = {**kvstore, "path": kvstore["path"] + "/"}  # an array is a directory
    elif wanted and wanted != named:
        raise CliError(f"--driver {driver} contradicts the destination's driver {named!r}")
    same_format = target["driver"] == source_driver
    options: dict[str, Any] = {
        "domain": ts.IndexDomain(shape=list(source.shape), labels=list(source.domain.labels)),
        "dtype": dtype or source.dtype,
    }
    if chunks is not None:
        options["chunk_layout"] = ts.ChunkLayout(chunk_shape=chunks)
    elif same_format:
        layout = source.chunk_layout
        options["chunk_layout"] = ts.ChunkLayout(
            write_chunk_shape=list(layout.write_chunk.shape), read_chunk_shape=list(layout.read_chunk.shape)
        )
    else:  # another format may not shard: its chunks are the source's read chunks
        options["chunk_layout"] = ts.ChunkLayout(chunk_shape=list(source.chunk_layout.read_chunk.shape))
    if codec is not None:
        if isinstance(codec, list):
            codec = {"codecs": codec}
        if not isinstance(codec, dict):
            raise CliError("--codec must be a JSON object (a codec spec) or a list of zarr3 codecs")
        options["codec"] = ts.CodecSpec({"driver": target["driver"], **codec})
    elif same_format and chunks is None and source.codec is not None:
        options["codec"] = source.codec
    fill_value = source.fill_value
    keeps_dtype = dtype is None or ts.dtype(dtype) == source.dtype
    # Zero is every format's default; some (n5) accept no other, so only a real one is passed on.
    if keeps_dtype and fill_value is not None and (same_format or bool(np.any(np.asarray(fill_value) != 0))):
        options["fill_value"] = fill_value
    units = source.dimension_units
    if units is not None and any(unit is not None for unit in units):
        options["dimension_units"] = list(units)
    if not resume and not overwrite:
        _check_empty(target, context)
    if resume:
        options.update(open=True, create=True)
    elif overwrite:
        options.update(create=True, delete_existing=True)
    else:
        options.update(create=True)
    store = ts.open(target, context=context, read=True, write=True, **options).result()
    if resume and (list(store.shape) != list(source.shape)):
        raise CliError(f"cannot resume: the destination's shape {list(store.shape)} is not the source's {list(source.shape)}")
    return store


def _check_empty(target: dict[str, Any], context: Any) -> None:
    """A new array goes where nothing is stored yet, so no existing data is mixed into it."""
    kvstore_spec = target.get("kvstore")
    if kvstore_spec is None:
        return
    kvstore = kvstore_of({"kvstore": kvstore_spec, "path": target.get("path", "")}, context, directory=True)
    if kvstore.list().result():
        raise CliError(f"destination {kvstore.url} is not empty (--resume continues a copy, --overwrite replaces an array)")


def default_block_jobs() -> int:
    """Blocks in flight when ``--jobs`` is not given: one per usable core, at most
    ``DEFAULT_JOBS``. The library already decodes and encodes a block's chunks on every
    core; a second block per core adds no CPU, only memory and contention (256 MiB of
    zstd zarr3 on two cores: 4 blocks in flight took 10-25% more CPU and half again the
    system time of 2, and were no faster)."""
    from ts_core.concurrency import default_concurrency

    return max(1, min(DEFAULT_JOBS, default_concurrency()))


def block_budget(memory_limit: int, jobs: int) -> int:
    """Bytes of one block: the memory limit shared by the jobs, at most ``MAX_BLOCK_BYTES``."""
    return max(1, min(memory_limit // jobs, MAX_BLOCK_BYTES))


def block_shape(shape: list[int], chunk: list[int], itemsize: int, budget: int) -> list[int]:
    """The largest block of whole chunks within ``budget`` bytes, grown from the last dimension
    (so a block is contiguous in C order); at least one chunk, however large."""
    block = [min(extent, step) for extent, step in zip(shape, chunk, strict=True)]
    budget_elements = max(1, budget // max(itemsize, 1))
    for dim in reversed(range(len(shape))):
        chunks_in_dim = -(-shape[dim] // chunk[dim])
        others = math.prod(block[:dim] + block[dim + 1:])
        fit = max(1, min(chunks_in_dim, budget_elements // max(others * chunk[dim], 1)))
        block[dim] = min(shape[dim], fit * chunk[dim])
        if fit < chunks_in_dim:
            break
    return block


def iter_blocks(shape: list[int], block: list[int], origin: list[int]) -> Iterator[tuple[slice, ...]]:
    """Blocks of ``block`` cells on a grid anchored at ``origin`` (the chunk grid's), clipped to ``shape``."""
    intervals = []
    for extent, size, anchor in zip(shape, block, origin, strict=True):
        first_line = anchor + ((0 - anchor) // size) * size  # the grid line at or below zero
        intervals.append(
            [slice(max(0, line), min(extent, line + size)) for line in range(first_line, extent, size)]
        )
    yield from itertools.product(*intervals)


def copy_array(
    source: Any, destination: Any, *, memory_limit: int, jobs: int, check_stored: bool, show_progress: bool
) -> dict[str, Any]:
    """Copy block by block, ``jobs`` blocks in flight; with ``check_stored``, skip the blocks
    whose destination chunks are all stored already."""
    shape = [int(extent) for extent in source.shape]
    layout = destination.chunk_layout
    chunk = [int(extent) if extent else shape[dim] or 1 for dim, extent in enumerate(layout.write_chunk.shape)]
    origin = [int(value) for value in (layout.grid_origin or [0] * len(shape))]
    itemsize = max(source.dtype.numpy_dtype.itemsize, destination.dtype.numpy_dtype.itemsize)
    block = block_shape(shape, chunk, itemsize, block_budget(memory_limit, jobs))
    blocks = list(iter_blocks(shape, block, origin)) if all(shape) else []
    total_bytes = math.prod(shape) * source.dtype.numpy_dtype.itemsize
    source_itemsize = int(source.dtype.numpy_dtype.itemsize)

    def read_block(region: tuple[slice, ...]) -> Any:
        if check_stored and destination[region].storage_statistics(query_fully_stored=True).result().fully_stored:
            return None
        return source[region].read().result()

    def write_block(region: tuple[slice, ...], values: Any) -> None:
        # A source chunk that is not stored reads as the fill value, and a destination chunk
        # equal to its fill value is not stored: sparse sources stay sparse with no check here.
        destination[region].write(values).result()

    def block_bytes(region: tuple[slice, ...]) -> int:
        cells: int = math.prod(part.stop - part.start for part in region)
        return cells * source_itemsize

    # A block of fewer chunks than cores leaves cores idle while it alone is read: then as
    # many blocks are read at once as may be held.
    from ts_core.concurrency import default_concurrency

    chunks_per_block = math.prod(-(-extent // step) for extent, step in zip(block, chunk, strict=True))
    readers = 1 if chunks_per_block >= default_concurrency() else jobs
    return _run_pipelined(blocks, read_block, write_block, block_bytes, total_bytes, jobs, show_progress,
                          readers=readers)


class _Progress:
    """What a copy reports (items copied and skipped, bytes) and its progress bar, if any;
    ``cancelling`` cancels the futures not yet run when the copy fails and closes the bar."""

    def __init__(self, unit: str, description: str, total: int, by_bytes: bool, show: bool) -> None:
        self.report: dict[str, Any] = {"copied": 0, "skipped": 0, "bytes": 0, "unit": unit}
        self._bar = _ProgressBar(description, total, by_bytes=by_bytes) if show else None

    def done(self, copied: bool, nbytes: int, advance: int) -> None:
        self.report["copied" if copied else "skipped"] += 1
        if copied:
            self.report["bytes"] += nbytes
        if self._bar is not None:
            self._bar.advance(advance)

    @contextlib.contextmanager
    def cancelling(self, *futures: Iterable[concurrent.futures.Future[Any]]) -> Iterator[None]:
        try:
            yield
        except BaseException:
            for future in [future for group in futures for future in group]:
                future.cancel()
            raise
        finally:
            if self._bar is not None:
                self._bar.close()


def _run_pipelined(
    blocks: list[Any],
    read: Callable[[Any], Any],
    write: Callable[[Any, Any], None],
    block_bytes: Callable[[Any], int],
    total_bytes: int,
    jobs: int,
    show_progress: bool,
    readers: int = 1,
) -> dict[str, Any]:
    """Copy ``blocks`` in two stages: ``readers`` (one by default) read block after block
    (``read``: its values, or None to skip it) while up to ``jobs`` writers write those
    read; at most ``jobs`` blocks are held at once (read and not yet written), so memory
    stays within the budget. Each read and write already spreads its chunks over every
    core. Blocks copied by jobs that each read then write fall into step (all reading,
    then all writing and all waiting at once for their writes to be made durable, cores
    idle); one reader staggers the writes, so one write's wait overlaps the others'
    encoding and the next block's read."""
    progress = _Progress("blocks", "copying", total_bytes, True, show_progress)
    reads: dict[concurrent.futures.Future[Any], Any] = {}
    writes: dict[concurrent.futures.Future[None], Any] = {}
    queue = iter(blocks)
    held = 0  # blocks being read, read, or being written

    def done(region: Any, copied: bool) -> None:
        nbytes = block_bytes(region)
        progress.done(copied, nbytes, nbytes)

    # The pools shut down (waiting for the work running) after ``cancelling`` has cancelled
    # the work not started when the copy fails.
    with concurrent.futures.ThreadPoolExecutor(max_workers=readers, thread_name_prefix="ts-cp-read") as reading, \
            concurrent.futures.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="ts-cp-write") as writers, \
            progress.cancelling(reads, writes):
        while True:
            # Reads ahead of the writes while blocks may be held.
            while len(reads) < readers and held < jobs:
                region = next(queue, None)
                if region is None:
                    break
                reads[reading.submit(read, region)] = region
                held += 1
            if not reads and not writes:
                break
            finished, _ = concurrent.futures.wait([*reads, *writes], return_when=concurrent.futures.FIRST_COMPLETED)
            for future in finished:
                if future in reads:
                    region = reads.pop(future)
                    values = future.result()  # the first failure ends the copy
                    if values is None:
                        held -= 1
                        done(region, False)
                    else:
                        writes[writers.submit(write, region, values)] = region
                    del values
                else:
                    region = writes.pop(future)
                    future.result()
                    held -= 1
                    done(region, True)
    return progress.report


#: Drivers whose metadata fixes every chunk's key and encoding: two arrays with equal
#: metadata (attributes aside) store equal chunks under equal keys.
_KEYED_BY_METADATA = frozenset({"zarr", "zarr3"})


def same_encoding_kvstores(source: Any, destination: Any) -> tuple[Any, Any, Any] | None:
    """``(source kvstore, destination kvstore, chunk-key pattern)`` when the destination
    stores the source's chunks byte for byte (same format and metadata, the source a whole
    array rather than a transformed view), so chunks may be copied as they are stored;
    else None."""
    source_spec, destination_spec = source.spec().to_json(), destination.spec().to_json()
    driver = source_spec.get("driver")
    if driver not in _KEYED_BY_METADATA or destination_spec.get("driver") != driver:
        return None
    if source.base is not None or source.kvstore is None or destination.kvstore is None:
        return None
    metadata = {k: v for k, v in source_spec.get("metadata", {}).items() if k != "attributes"}
    if not metadata or metadata != {k: v for k, v in destination_spec.get("metadata", {}).items() if k != "attributes"}:
        return None
    if not _is_whole_array(source, metadata.get("shape")) or source.dtype != destination.dtype:
        return None
    return source.kvstore, destination.kvstore, _chunk_key_pattern(driver, metadata)


def _is_whole_array(store: Any, shape: Any) -> bool:
    """Whether ``store`` is its array unchanged: domain ``[0, shape)``, identity maps."""
    if not isinstance(shape, list) or list(store.shape) != shape or any(store.origin):
        return False
    outputs = store.transform.to_json().get("output")
    return outputs is None or outputs == [{"input_dimension": dim} for dim in range(len(shape))]


def _chunk_key_pattern(driver: str, metadata: dict[str, Any]) -> re.Pattern[str]:
    """The keys the array's chunks are stored under (so no stray file is copied): zarr
    v2's ``0.1.2`` (or ``0/1/2``); zarr3's default ``c/0/1/2`` or its ``v2`` encoding."""
    if driver == "zarr":
        separator, prefix = metadata.get("dimension_separator") or ".", ""
    else:
        encoding = metadata.get("chunk_key_encoding") or {}
        default_separator = "." if encoding.get("name") == "v2" else "/"
        separator = (encoding.get("configuration") or {}).get("separator", default_separator)
        prefix = "" if encoding.get("name") == "v2" else "c"
    index = "0" if not metadata.get("shape") else r"\d+"
    if prefix:
        return re.compile(rf"{prefix}({re.escape(separator)}\d+)*")
    return re.compile(rf"{index}({re.escape(separator)}\d+)*")


def copy_stored_chunks(
    source: Any, destination: Any, pattern: re.Pattern[str], *, jobs: int, resume: bool, show_progress: bool
) -> dict[str, Any]:
    """Copy each stored chunk of the source array as it is stored (no decoding), ``jobs`` at
    once; with ``resume``, chunks the destination stores already are skipped. On local
    storage the writes form one batch, whose durability (fsyncs) is settled in groups."""
    keys = [key for key in source.list().result() if pattern.fullmatch(key.decode("utf-8", "replace"))]
    present = set(destination.list().result()) if resume else set()
    batch = destination.driver.write_batch() if destination.driver.local_io else None

    def copy_chunk(key: bytes) -> tuple[bool, int]:
        if key in present:
            return False, 0
        read = source.read_blocking(key)
        if read.state != "value":
            return False, 0  # deleted since the listing: the array reads its fill value there
        destination.write_blocking(key, read.value, batch=batch)
        return True, len(read.value)

    try:
        return _run(keys, copy_chunk, None, "chunks", jobs, show_progress, "copying chunks")
    finally:
        if batch is not None:
            batch.finish()  # every chunk written is durable before ts cp reports it copied


def copy_keys(source: Any, destination: Any, *, jobs: int, resume: bool, show_progress: bool) -> dict[str, Any]:
    """Copy every key of one kvstore to another (``resume``: keys present there are skipped)."""
    keys = sorted(source.list().result())
    present = set(destination.list().result()) if resume else set()

    def copy_key(key: bytes) -> tuple[bool, int]:
        if key in present:
            return False, 0
        value = source.read(key).result().value
        destination.write(key, value).result()
        return True, len(value)

    return _run(keys, copy_key, None, "keys", jobs, show_progress, "copying keys")


def _run(
    items: list[Any],
    work: Callable[[Any], tuple[bool, int]],
    total_bytes: int | None,
    unit: str,
    jobs: int,
    show_progress: bool,
    description: str,
) -> dict[str, Any]:
    """Run ``work`` over ``items`` with at most ``jobs`` in flight, drawing progress if asked."""
    by_bytes = total_bytes is not None
    progress = _Progress(unit, description, total_bytes if total_bytes is not None else len(items), by_bytes,
                         show_progress)
    pending: set[concurrent.futures.Future[tuple[bool, int]]] = set()
    queue = iter(items)
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="ts-cp") as pool, \
            progress.cancelling(pending):
        for item in itertools.islice(queue, jobs):
            pending.add(pool.submit(work, item))
        while pending:
            done, _ = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
            pending -= done  # in place: ``cancelling`` holds this set
            for future in done:
                copied, nbytes = future.result()  # the first failure ends the copy
                progress.done(copied, nbytes, nbytes if by_bytes else 1)
                for item in itertools.islice(queue, 1):
                    pending.add(pool.submit(work, item))
    return progress.report


class _ProgressBar:
    """A rich progress bar on stderr: bytes done, bytes/s and the time left."""

    def __init__(self, description: str, total: int, *, by_bytes: bool) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        columns: list[Any] = [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn()]
        if by_bytes:
            columns += [DownloadColumn(binary_units=True), TransferSpeedColumn()]
        else:
            columns += [MofNCompleteColumn()]
        columns += [TextColumn("ETA"), TimeRemainingColumn()]
        self._progress = Progress(*columns, console=Console(stderr=True), transient=False)
        self._progress.start()
        self._task = self._progress.add_task(description, total=total)

    def advance(self, amount: int) -> None:
        self._progress.advance(self._task, amount)

    def close(self) -> None:
        self._progress.stop()
