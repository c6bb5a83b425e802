"""Coverage-guided fuzzing of the stored-metadata parsers and chunk decoding with atheris.

Optional, and not collected by pytest (the name does not start with ``test_``). atheris
ships manylinux wheels for CPython, so it installs without building anything:

    uv run --with atheris python tests/fuzz/atheris_metadata.py -max_total_time=300
    uv run --with atheris python tests/fuzz/atheris_metadata.py chunk -atheris_runs=100000

The first argument picks the target (``metadata``, the default, or ``chunk``); the rest go
to libFuzzer (``-max_total_time``, ``-atheris_runs``, a corpus directory). A crash stops the
run with the input written to ``crash-<sha1>``: replay it, pin it in ``tests/fuzz`` (an
``@example`` or a ``REGRESSIONS`` entry) and fix the parser. See docs/security.md.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import atheris

with atheris.instrument_imports():
    import ts_core as ts
    from ts_chunkdir._driver import ChunkdirDriver
    from ts_n5._driver import N5Driver
    from ts_zarr._driver import ZarrDriver
    from ts_zarr.zarr3._driver import Zarr3Driver

from fuzz._support import check_clear_error

DRIVERS: list[Any] = [ZarrDriver, Zarr3Driver, N5Driver, ChunkdirDriver]


def fuzz_metadata(data: bytes) -> None:
    """The first byte picks the format; the rest is the stored metadata object."""
    if not data:
        return
    driver_class = DRIVERS[data[0] % len(DRIVERS)]
    try:
        metadata = driver_class.parse_stored_metadata(data[1:])
    except Exception as exc:
        check_clear_error(exc)
        return
    assert driver_class.parse_stored_metadata(driver_class.encode_metadata(metadata)) == metadata


_chunk_cases: list[Any] = []


def fuzz_chunk(data: bytes) -> None:
    """The first byte picks the array (format and codecs); the rest is the stored chunk."""
    from fuzz.test_fuzz_chunks import CASES, SHARD_CASES, check_read, opened

    if not data:
        return
    if not _chunk_cases:
        _chunk_cases.extend(opened(name) for name in [*CASES, *SHARD_CASES])
    check_read(_chunk_cases[data[0] % len(_chunk_cases)], data[1:])


def seed_corpus(target: str) -> str:
    """A directory of valid inputs to start from (random bytes are rarely JSON at all)."""
    import json
    import tempfile

    directory = tempfile.mkdtemp(prefix=f"ts-atheris-{target}-")
    if target == "chunk":
        from fuzz.test_fuzz_chunks import CASES, SHARD_CASES, opened

        seeds = [bytes([i]) + opened(name).valid for i, name in enumerate([*CASES, *SHARD_CASES])]
    else:
        from fuzz.test_fuzz_metadata import FORMATS

        seeds = [
            bytes([DRIVERS.index(driver_class)]) + json.dumps(document).encode()
            for driver_class, document, _ in FORMATS.values()
        ]
    for number, seed in enumerate(seeds):
        Path(directory, f"seed-{number}").write_bytes(seed)
    return directory


def main() -> None:
    arguments = sys.argv[1:]
    target = "metadata"
    if arguments and arguments[0] in ("metadata", "chunk"):
        target = arguments.pop(0)
    if not any(not argument.startswith("-") for argument in arguments):
        arguments.append(seed_corpus(target))  # no corpus directory given: start from seeds
    assert ts.__name__  # imported (and instrumented) above
    atheris.Setup([sys.argv[0], *arguments], fuzz_chunk if target == "chunk" else fuzz_metadata)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
