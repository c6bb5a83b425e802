"""Runs the docstring examples of the installed ``tensorstore`` wheel against a module.

The examples are collected from the wheel when the tests run (they are another project's
text, so none is copied here). They are written for an asyncio REPL: top-level ``await``
and the names ``ts`` and ``np``. :func:`run_docstring` executes one docstring's examples in
order in one namespace inside one running event loop, in a fresh temporary working
directory, and records what each printed or raised; :func:`judge` compares that with an
expectation the way ``doctest`` does with ``NORMALIZE_WHITESPACE`` and ``ELLIPSIS``.

:func:`verdict` runs each docstring three times on the wheel, then once on ``ts_core``. On ts
each example is held to:

* its documented output, where the wheel produces it;
* the wheel's actual output, where the wheel's output differs from its documentation
  (stale documentation: the wheel is the oracle);
* only "runs without an unexpected exception" where the wheel's own output differs between
  its runs (timestamps, generations, timing).

Differences that are legitimately ours are not failures:

* the module name in output (``tensorstore.`` may read ``ts_core.``);
* the text of an exception message: the exception must be of the expected type (an
  ``isinstance`` check, so a ts subclass of ``ValueError`` passes), but the message is our
  own wording;
* object addresses (``0x7f...``).

Examples that open remote storage (GCS, S3, HTTP) are not run at all, and neither are the
examples that read a name such an example assigned.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import concurrent.futures
import contextlib
import doctest
import functools
import importlib
import inspect
import io
import json
import os
import pickle
import re
import sys
import tempfile
import threading
import traceback
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

WHEEL = "tensorstore"
OURS = "ts_core"

#: Seconds one docstring may take before it is reported as hung.
DOCSTRING_TIMEOUT = 20.0

#: Names bound before the first example: ``np``, and standard modules some examples use
#: without importing them (``asyncio``, ``typing``).
PRELUDE: dict[str, Any] = {
    "np": np,
    "asyncio": asyncio,
    "json": json,
    "pickle": pickle,
    "typing": typing,
}

UNSTABLE = "output not compared: it differs between runs of the wheel"
STALE = "compared with the wheel's output, which differs from its documentation"

_FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
_CHECKER = doctest.OutputChecker()
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
_REMOTE = re.compile(r"""gs://|s3://|https?://|['"]driver['"]\s*:\s*['"](?:gcs|s3|http)['"]""")
_EXCEPTION_NAME = re.compile(r"^[\s.]*([A-Za-z_][\w.]*)")


@dataclass
class Raw:
    """What one example printed, or raised."""

    got: str = ""
    exception: BaseException | None = None

    @property
    def exception_line(self) -> str | None:
        if self.exception is None:
            return None
        return "".join(traceback.format_exception_only(self.exception)).strip()

    @property
    def shown(self) -> str:
        """Output as doctest would show it (the exception line when one was raised)."""
        line = self.exception_line
        return self.got if line is None else line + "\n"


@dataclass(frozen=True)
class Expectation:
    """What one example must do. ``exc_type`` alone (no ``exc_msg``) checks the type only."""

    want: str = ""
    exc_msg: str | None = None
    exc_type: type[BaseException] | None = None
    #: Output is not compared (only that no unexpected exception is raised).
    relaxed: bool = False
    note: str = ""

    @property
    def shown(self) -> str:
        if self.exc_msg is not None:
            return self.exc_msg
        if self.exc_type is not None:
            return self.exc_type.__name__ + ": ...\n"
        return self.want


@dataclass
class ExampleOutcome:
    """One example's result on one module, judged against an expectation."""

    index: int
    lineno: int
    source: str
    expected: str
    got: str
    #: ``"Type: message"`` when the example raised, else None.
    exception: str | None
    passed: bool
    #: How the example was judged when not plainly against its documentation.
    note: str = ""


@dataclass
class DocstringRun:
    """One run of one docstring's examples on one module."""

    name: str
    module: str
    raw: dict[int, Raw] = field(default_factory=dict)
    outcomes: list[ExampleOutcome] = field(default_factory=list)
    #: Set when the docstring did not finish within DOCSTRING_TIMEOUT.
    hung: bool = False

    @property
    def passed(self) -> bool:
        return not self.hung and all(outcome.passed for outcome in self.outcomes)

    def first_failure(self) -> ExampleOutcome | None:
        return next((outcome for outcome in self.outcomes if not outcome.passed), None)


def docstring_id(test: doctest.DocTest) -> str:
    """``tensorstore.TensorStore.read`` -> ``TensorStore.read``."""
    return test.name.removeprefix(WHEEL + ".")


@functools.cache
def collect() -> dict[str, doctest.DocTest]:
    """Every docstring of the wheel that has examples, by id, sorted by name."""
    wheel = importlib.import_module(WHEEL)
    found = doctest.DocTestFinder().find(wheel, WHEEL)
    ordered = sorted(found, key=lambda test: test.name)
    return {docstring_id(test): test for test in ordered if test.examples}


@functools.cache
def count_docstrings() -> int:
    """All docstrings the finder visits, with or without examples."""
    return len(doctest.DocTestFinder().find(importlib.import_module(WHEEL), WHEEL))


@functools.cache
def excluded_examples(doc_id: str) -> dict[int, str]:
    """Examples of ``doc_id`` not run anywhere, with the reason.

    An example that opens remote storage is excluded (building a Spec for it is fine: no
    I/O); so is every later example that reads a name an excluded example assigned (until
    a run example assigns it again).
    """
    excluded: dict[int, str] = {}
    tainted: dict[str, int] = {}
    for index, example in enumerate(collect()[doc_id].examples):
        loads, stores = _names(example.source)
        if _REMOTE.search(example.source) and "open(" in example.source:
            excluded[index] = "not run: opens remote storage (no network in tests)"
        elif used := sorted(loads & tainted.keys()):
            excluded[index] = (
                f"not run: uses {used[0]!r} from excluded example {tainted[used[0]] + 1}"
            )
        if index in excluded:
            tainted.update(dict.fromkeys(stores, index))
        else:
            for name in stores:
                tainted.pop(name, None)
    return excluded


def _names(source: str) -> tuple[set[str], set[str]]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set(), set()
    loads: set[str] = set()
    stores: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (stores if isinstance(node.ctx, ast.Store | ast.Del) else loads).add(node.id)
    return loads, stores


# ---------------------------------------------------------------------------------------
# Comparison


def output_matches(want: str, got: str, *, ours: bool) -> bool:
    """doctest's comparison (NORMALIZE_WHITESPACE, ELLIPSIS), addresses ignored; on ours the
    wheel's module name may read ``ts_core``."""
    want = _ADDRESS.sub("0x...", want)
    got = _ADDRESS.sub("0x...", got)
    if _CHECKER.check_output(want, got, _FLAGS):
        return True
    return ours and _CHECKER.check_output(want.replace(WHEEL + ".", OURS + "."), got, _FLAGS)


def _documented_type(exc_msg: str) -> type[BaseException] | None:
    match = _EXCEPTION_NAME.match(exc_msg)
    if match is None:
        return None
    name = match.group(1).rsplit(".", 1)[-1]
    for namespace in (builtins, asyncio, concurrent.futures):
        candidate = getattr(namespace, name, None)
        if isinstance(candidate, type) and issubclass(candidate, BaseException):
            return candidate
    return None


def exception_matches(expectation: Expectation, raw: Raw, *, ours: bool) -> bool:
    """On the wheel, doctest's check of the exception line. On ours, the raised exception
    must be an instance of the expected type; the message may be our own."""
    assert raw.exception is not None
    line = raw.shown
    if expectation.exc_msg is not None and output_matches(expectation.exc_msg, line, ours=ours):
        return True
    if not ours:
        return False
    expected_type = expectation.exc_type
    if expected_type is None and expectation.exc_msg is not None:
        expected_type = _documented_type(expectation.exc_msg)
    if expected_type is None:
        return False
    return isinstance(raw.exception, expected_type)


def documented(doc_id: str, index: int) -> Expectation:
    example = collect()[doc_id].examples[index]
    exc_msg = example.exc_msg
    if exc_msg is None and example.want.startswith("Traceback (most recent call last):"):
        # doctest only recognises an exception line that starts with a word character;
        # the wheel also writes ones like ``...CancelledError...``.
        exc_msg = example.want.rstrip("\n").rsplit("\n", 1)[-1] + "\n"
    return Expectation(want=example.want, exc_msg=exc_msg)


def judge(run: DocstringRun, expectations: dict[int, Expectation] | None = None) -> DocstringRun:
    """Fills ``run.outcomes``: each example run against its expectation (documented output
    unless ``expectations`` says otherwise)."""
    ours = run.module != WHEEL
    excluded = excluded_examples(run.name)
    run.outcomes = []
    for index, example in enumerate(collect()[run.name].examples):
        expectation = (expectations or {}).get(index) or documented(run.name, index)
        raw = run.raw.get(index)
        note = excluded.get(index, expectation.note)
        if index in excluded:
            passed = True
        elif raw is None:  # not reached: the docstring hung before it
            passed = False
        elif expectation.exc_msg is not None or expectation.exc_type is not None:
            passed = raw.exception is not None and exception_matches(expectation, raw, ours=ours)
        elif raw.exception is not None:
            passed = False
        elif expectation.relaxed:
            passed = True
        else:
            passed = output_matches(expectation.want, raw.got, ours=ours)
        run.outcomes.append(
            ExampleOutcome(
                index,
                example.lineno,
                example.source,
                expectation.shown,
                raw.got if raw else "",
                raw.exception_line if raw else None,
                passed,
                note,
            )
        )
    return run


# ---------------------------------------------------------------------------------------
# Execution


@contextlib.contextmanager
def _fresh_directory() -> Iterator[None]:
    previous = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="ts-compat-", ignore_cleanup_errors=True) as directory:
        os.chdir(directory)
        try:
            yield
        finally:
            os.chdir(previous)


def run_docstring(
    doc_id: str, module: ModuleType, *, timeout: float = DOCSTRING_TIMEOUT
) -> DocstringRun:
    """Runs the examples of ``doc_id`` with ``ts`` bound to ``module``; records each one's
    output or exception (not judged yet).

    The docstring runs in a worker thread so that a hang is reported after ``timeout``
    seconds instead of stopping the caller.
    """
    run = DocstringRun(doc_id, module.__name__)
    buffer = io.StringIO()
    worker = threading.Thread(
        target=_run_in_thread,
        args=(collect()[doc_id], module, run, buffer),
        name=f"doc-example {doc_id}",
        daemon=True,
    )
    previous_stdout = sys.stdout
    sys.stdout = buffer
    try:
        with _fresh_directory():
            worker.start()
            worker.join(timeout)
    finally:
        sys.stdout = previous_stdout
    if worker.is_alive():
        run.hung = True
    return run


def _run_in_thread(
    test: doctest.DocTest, module: ModuleType, run: DocstringRun, buffer: io.StringIO
) -> None:
    namespace: dict[str, Any] = {"__name__": "__doctest__", "ts": module, **PRELUDE}
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_run_examples(test, namespace, run, buffer))
    finally:
        with contextlib.suppress(Exception):
            _cancel_pending(loop)
        loop.close()


async def _run_examples(
    test: doctest.DocTest, namespace: dict[str, Any], run: DocstringRun, buffer: io.StringIO
) -> None:
    excluded = excluded_examples(run.name)
    for index, example in enumerate(test.examples):
        if index in excluded:
            continue
        buffer.seek(0)
        buffer.truncate()
        raised: BaseException | None = None
        try:
            result = eval(_compile(example.source, f"<{run.name}[{index}]>"), namespace)
            if inspect.iscoroutine(result):
                await result
        except (Exception, asyncio.CancelledError) as exception:
            raised = exception
        run.raw[index] = Raw(buffer.getvalue(), raised)


def _compile(source: str, filename: str) -> Any:
    """Compiles like the interactive prompt (expression values are printed); several
    statements in one example are run in order, the last one's value printed."""
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    try:
        return compile(source, filename, "single", flags=flags, dont_inherit=True)
    except SyntaxError as error:
        if "multiple statements" not in str(error):
            raise
    tree = ast.parse(source, filename, "exec")
    last = tree.body[-1]
    if isinstance(last, ast.Expr):
        # __import__("sys").displayhook(<last expression>), leaving the namespace alone.
        importer = ast.Call(ast.Name("__import__", ast.Load()), [ast.Constant("sys")], [])
        hook = ast.Attribute(importer, "displayhook", ast.Load())
        tree.body[-1] = ast.Expr(ast.Call(hook, [last.value], []))
        ast.copy_location(tree.body[-1], last)
        ast.fix_missing_locations(tree)
    return compile(tree, filename, "exec", flags=flags, dont_inherit=True)


def _cancel_pending(loop: asyncio.AbstractEventLoop) -> None:
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


# ---------------------------------------------------------------------------------------
# Verdicts


@dataclass
class Verdict:
    """A docstring's result on both libraries."""

    doc_id: str
    #: The wheel, judged against the documentation.
    wheel: DocstringRun
    #: ts_core, judged against the documentation or the wheel (see the module docstring).
    ours: DocstringRun
    #: Examples whose wheel output differed between its runs.
    unstable: frozenset[int]
    #: Examples where the wheel does not produce its documented output.
    stale: frozenset[int]

    @property
    def wheel_passed(self) -> bool:
        return self.wheel.passed

    @property
    def ours_passed(self) -> bool:
        return self.ours.passed


#: Verdicts computed in this process, by docstring id (the summary reads them).
VERDICTS: dict[str, Verdict] = {}


def _same(a: Raw, b: Raw) -> bool:
    if (a.exception is None) != (b.exception is None):
        return False
    return _ADDRESS.sub("", a.shown) == _ADDRESS.sub("", b.shown)


#: Runs of each docstring on the wheel; an example whose output differs between any two is
#: not compared on ts.
WHEEL_RUNS = 3


def verdict(doc_id: str) -> Verdict:
    """Runs ``doc_id`` WHEEL_RUNS times on the wheel and once on ts_core, and judges both."""
    if doc_id in VERDICTS:
        return VERDICTS[doc_id]
    wheel = importlib.import_module(WHEEL)
    runs = [judge(run_docstring(doc_id, wheel)) for _ in range(WHEEL_RUNS)]
    first, second = runs[0], runs[-1]
    if any(run.hung for run in runs):
        raise RuntimeError(f"{doc_id} hangs on the wheel: {describe_failure(first)}")
    unstable = frozenset(
        index
        for index in first.raw
        if not all(_same(first.raw[index], run.raw[index]) for run in runs[1:])
    )
    expectations: dict[int, Expectation] = {}
    stale = set()
    for outcome in second.outcomes:
        raw = second.raw.get(outcome.index)
        if raw is None:
            continue
        if outcome.index in unstable:
            exc_type = type(raw.exception) if raw.exception is not None else None
            both_raised = exc_type is not None and all(
                run.raw[outcome.index].exception is not None for run in runs
            )
            expectations[outcome.index] = Expectation(
                exc_type=exc_type if both_raised else None, relaxed=True, note=UNSTABLE
            )
            outcome.passed, outcome.note = True, UNSTABLE
        elif not outcome.passed:
            stale.add(outcome.index)
            expectations[outcome.index] = Expectation(
                want=raw.got,
                exc_type=type(raw.exception) if raw.exception is not None else None,
                note=STALE,
            )
    ours = judge(run_docstring(doc_id, importlib.import_module(OURS)), expectations)
    result = VERDICTS[doc_id] = Verdict(doc_id, second, ours, unstable, frozenset(stale))
    return result


# ---------------------------------------------------------------------------------------
# Reporting


def describe_failure(run: DocstringRun) -> str:
    """The first failing example of ``run``: source, expected, got."""
    if run.hung:
        return (
            f"{run.name}: hung after {len(run.raw)} examples on {run.module} "
            f"(timeout {DOCSTRING_TIMEOUT:g} s)"
        )
    outcome = run.first_failure()
    if outcome is None:
        return f"{run.name}: passes on {run.module}"
    lines = outcome.source.rstrip().split("\n")
    source = "\n".join(("... " if i else ">>> ") + line for i, line in enumerate(lines))
    got = outcome.got if outcome.exception is None else outcome.exception + "\n"
    note = f" [{outcome.note}]" if outcome.note else ""
    return (
        f"{run.name} example {outcome.index + 1} (docstring line {outcome.lineno + 1}) "
        f"on {run.module}{note}:\n{source}\nExpected:\n{_indent(outcome.expected)}"
        f"Got:\n{_indent(got)}"
    )


def _indent(text: str) -> str:
    if not text:
        return "    (nothing)\n"
    return "".join("    " + line + "\n" for line in text.rstrip("\n").split("\n"))


def one_line_reason(run: DocstringRun) -> str:
    """A short reason for a known-failures entry."""
    if run.hung:
        return f"hangs after example {len(run.raw)}"
    outcome = run.first_failure()
    assert outcome is not None
    first_line = _shorten(outcome.source.strip().split("\n", 1)[0], 60)
    if outcome.exception is not None:
        detail = outcome.exception.split("\n", 1)[0]
        if (
            outcome.expected.lstrip().startswith(("Traceback", "..."))
            or "Error" in outcome.expected
        ):
            expected_line = outcome.expected.strip().splitlines()[-1]
            detail = f"raises {detail.split(':', 1)[0]}, expected {expected_line}"
    elif outcome.expected.strip().endswith(("Error", "...")) and "Error" in outcome.expected:
        detail = "raises nothing, expected " + outcome.expected.strip().splitlines()[-1]
    else:
        detail = "output differs: " + _first_difference(outcome.expected, outcome.got)
    return f"example {outcome.index + 1} `{first_line}`: {_shorten(detail, 130)}"


def _first_difference(expected: str, got: str) -> str:
    """The first line where ``got`` departs from ``expected`` (whitespace-insensitive)."""
    if not got.strip():
        return f"expected `{_shorten(' '.join(expected.split()), 50)}`, got no output (None?)"
    expected_lines = [" ".join(line.split()) for line in expected.strip().splitlines()]
    got_lines = [" ".join(line.split()) for line in got.strip().splitlines()]
    for index in range(max(len(expected_lines), len(got_lines))):
        want = expected_lines[index] if index < len(expected_lines) else "(end)"
        have = got_lines[index] if index < len(got_lines) else "(end)"
        if want != have and "..." not in want:
            return f"expected `{_shorten(want, 50)}`, got `{_shorten(have, 50)}`"
    return f"expected `{_shorten(' '.join(expected_lines), 50)}`"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def summary(verdicts: dict[str, Verdict] | None = None) -> str:
    """Counts over the docstrings run in this process (all of them unless filtered)."""
    verdicts = VERDICTS if verdicts is None else verdicts
    collected = collect()
    examples = sum(len(collected[doc_id].examples) for doc_id in verdicts)
    excluded = sum(len(excluded_examples(doc_id)) for doc_id in verdicts)
    unstable = sum(len(v.unstable) for v in verdicts.values())
    stale = sum(len(v.stale) for v in verdicts.values())
    wheel = sum(v.wheel_passed for v in verdicts.values())
    ours = sum(v.ours_passed for v in verdicts.values())
    scope = (
        f"all {len(collected)}"
        if len(verdicts) == len(collected)
        else f"{len(verdicts)} of {len(collected)}"
    )
    return (
        f"{scope} docstrings with examples ({examples} examples; the wheel has "
        f"{count_docstrings()} docstrings in all)\n"
        f"  match their documentation on the wheel: {wheel} docstrings "
        f"({stale} examples where the wheel differs from its documentation are compared "
        f"with the wheel's output, {unstable} whose output changes between runs are only run)\n"
        f"  pass on ts_core: {ours} docstrings; fail: {len(verdicts) - ours}\n"
        f"  not run anywhere: {excluded} examples (remote storage, or a name one of those "
        f"assigned)"
        + _listing("output not compared (unstable on the wheel)", verdicts, lambda v: v.unstable)
        + _listing("not run", verdicts, lambda v: excluded_examples(v.doc_id).keys())
    )


def _listing(title: str, verdicts: dict[str, Verdict], pick: Any) -> str:
    """``title``: docstring[example numbers], ... for the docstrings where ``pick`` finds any."""
    entries = [
        f"{doc_id}[{','.join(str(index + 1) for index in sorted(pick(v)))}]"
        for doc_id, v in verdicts.items()
        if pick(v)
    ]
    return f"\n  {title}: " + " ".join(entries) if entries else ""
