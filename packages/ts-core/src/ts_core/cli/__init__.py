"""The ``ts`` command line: inspect, list, search and copy arrays from a shell.

Needs the ``cli`` extra (click, rich); ``ts_core`` itself never imports this package.
Every command takes a URL (``file:///data/a.zarr``, ``gs://bucket/x|zarr3:``), a JSON
spec, or ``@spec.json``. Errors are one line on stderr (``ts: error: ...``) with a non-zero
exit code; ``ts --debug`` shows the traceback instead.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import Any

import click

from ._common import CliError, parse_json_option

__all__ = ["EXIT_ERROR", "EXIT_USAGE", "cli", "main"]

#: Exit status when a command failed (storage, spec or data errors).
EXIT_ERROR = 1
#: Exit status when the command line itself was wrong (unknown option, missing argument).
EXIT_USAGE = 2


@click.group(context_settings={"help_option_names": ["--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
@click.option(
    "--context",
    "context_spec",
    metavar="JSON",
    help="Context spec (JSON or @file.json) for every store opened, e.g. concurrency limits.",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool, context_spec: str | None) -> None:
    """Inspect, list, search and copy TensorStore arrays and key-value stores."""
    state = ctx.ensure_object(dict)
    state["debug"] = debug
    state["context_spec"] = parse_json_option(context_spec, "--context")


def _register() -> None:
    from . import _copy, _info, _listing, _versions

    for command in (_info.info, _info.spec, _listing.ls, _listing.search, _copy.cp, _versions.versions):
        cli.add_command(command)


_register()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ts`` with ``argv``; returns the exit status. Without ``argv`` (as the ``ts``
    script and ``python -m ts_core.cli`` run it), the command is the process's and the
    process ends with it (see :func:`_end_process`)."""
    status = _main(argv)
    if argv is None:
        _end_process(status)
    return status


def _end_process(status: int) -> None:
    """Exit now with ``status``, as the interpreter would but without its teardown.

    Tearing down the interpreter (collecting and freeing every module's objects: NumPy,
    the drivers, the schemas) takes a ``ts`` process 30-50 ms after its command is done,
    a fifth of a short ``ts cp``. Every store the command used is settled by then (each
    command waits for its writes), so what remains to do is what ``sys.exit`` would do
    first: run the ``atexit`` functions and flush stdout and stderr. Returns (for a
    normal exit) when a non-daemon thread is still running, which the interpreter
    would wait for.
    """
    main_thread = threading.main_thread()
    if any(thread is not main_thread and not thread.daemon and thread.is_alive() for thread in threading.enumerate()):
        return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: as the interpreter, fail the command
            status = status or EXIT_ERROR
    os._exit(status)


def _main(argv: Sequence[str] | None) -> int:
    _numpy_for_a_command()
    args = _hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    debug = args[:1] == ["--debug"]
    try:
        result: Any = cli.main(args=args, prog_name="ts", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.exceptions.Abort:
        _error("interrupted")
        return 130
    except click.UsageError as error:
        if debug:
            raise
        _error(error.format_message())
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_ERROR
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception as error:
        if debug:
            traceback.print_exc()
            return EXIT_ERROR
        _error(_one_line(error))
        return EXIT_ERROR
    return result if isinstance(result, int) else 0


def _numpy_for_a_command() -> None:
    """Settings NumPy reads when it is imported, for a short-lived command (each unless the
    user set it):

    * ``NUMPY_MADVISE_HUGEPAGE=0`` (documented by NumPy): no transparent huge pages for
      large arrays. ``ts cp`` reads every block into a new array; with the advice each is
      backed by fresh 2 MiB pages that the kernel zeroes on first touch. Copying 256 MiB
      of zarr3 in 16 MiB blocks on a VM spent ~40% of its CPU there (system time 1.1 s,
      0.65 s without the advice).
    * ``OPENBLAS_NUM_THREADS=1``: no BLAS thread pool, which NumPy's import starts and no
      ``ts`` command uses (about 20-30 ms of every start-up on two cores).
    """
    if "numpy" not in sys.modules:
        os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _hoist_global_options(args: list[str]) -> list[str]:
    """Move ``--debug`` and ``--context JSON`` to the front, so they may follow the command
    (``ts info URL --debug``) as well as precede it."""
    hoisted: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest += args[index:]
            break
        if arg == "--debug":
            hoisted.insert(0, arg)
        elif arg == "--context" and index + 1 < len(args):
            hoisted += [arg, args[index + 1]]
            index += 1
        elif arg.startswith("--context="):
            hoisted.append(arg)
        else:
            rest.append(arg)
        index += 1
    return hoisted + rest


def _one_line(error: BaseException) -> str:
    message = " ".join(str(error).split())
    if isinstance(error, CliError | click.ClickException):
        return message or type(error).__name__
    if isinstance(error, FileNotFoundError | PermissionError) and error.filename:
        return f"{error.strerror}: {error.filename}"
    return message or type(error).__name__


def _error(message: str) -> None:
    click.echo(f"ts: error: {message}", err=True)
