"""Runs the ``>>>`` examples of tensorstore's documentation pages (``.rst``/``.md``) on ts.

The pages are not in the wheel; they are read when the tests run from a tensorstore
checkout named by the environment variable ``TS_TENSORSTORE_REPO`` (a work tree, or a git
directory whose ``HEAD`` is read with ``git show``). Nothing of them is copied here.

Each page is one doctest (its examples in order, one namespace) run by compat_docrunner
exactly as a wheel docstring is: on the wheel first (several runs, to find unstable output
and stale documentation), then on ``ts_core``, judged by the same rules. The pages are
written for tensorstore's own doc tester, which differs from a plain doctest in a few ways
that are reproduced here as source rewrites of the collected examples:

* ``ts`` is bound before the first example, so an ``import tensorstore as ts`` example is
  dropped (on the ts run it would rebind ``ts`` to the wheel);
* absolute paths under ``/tmp/`` point into a scratch directory emptied before every run
  (otherwise the wheel's first run would leave files that change the later runs);
* ``OUTPUT`` names the example's own expected output (the JSON shown on the page);
* ``# doctest:+JSON_OUTPUT`` compares the value of the last expression as JSON: the example
  prints it with ``json.dumps(..., sort_keys=True)`` and the expected text is the page's JSON
  dumped the same way.

Print the failures (expected vs got) with::

    TS_TENSORSTORE_REPO=/path/to/tensorstore .venv/bin/python tests/compat/compat_rstpages.py [--all]

(``--all``: every failing example of each page, not only the first).
"""

from __future__ import annotations

import ast
import contextlib
import doctest
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import compat_docrunner as runner  # noqa: E402

ENV = "TS_TENSORSTORE_REPO"
PREFIX = "rst:"
SUFFIXES = (".rst", ".md")
#: Directories of a checkout whose pages are not tensorstore's documentation.
SKIPPED_DIRS = ("third_party/", "external/", "bazel-")

JSON_OUTPUT = doctest.register_optionflag("JSON_OUTPUT")

#: Replaces ``/tmp/`` in the examples. Long enough that tensorstore's line wrapping of a
#: repr looks as it does with the doc tester's own replacement (at least 40 characters).
SCRATCH = Path(tempfile.gettempdir()) / f"ts-rst-examples-{os.getpid():08d}-scratch"
_SLASH_TMP = re.compile(r"""(['"])/tmp/""")
_FILE_TMP = re.compile(r"file:///tmp/")
_IMPORT_TS = re.compile(r"\s*import\s+tensorstore\s+as\s+ts\s*")


def repo_root() -> str | None:
    return os.environ.get(ENV) or None


def _is_git_dir(root: Path) -> bool:
    return (root / "HEAD").is_file() and (root / "objects").is_dir()


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={root}", *args], check=True, capture_output=True, text=True
    ).stdout


def _wanted(path: str) -> bool:
    return path.endswith(SUFFIXES) and not any(
        path.startswith(d) or f"/{d}" in path for d in SKIPPED_DIRS
    )


def read_pages(root: str) -> dict[str, str]:
    """Every documentation page of the checkout that has a ``>>>`` example: path -> text."""
    base = Path(root)
    texts: dict[str, str] = {}
    if _is_git_dir(base):
        names = _git(base, "ls-tree", "-r", "HEAD", "--name-only").splitlines()
        for name in filter(_wanted, names):
            text = _git(base, "show", f"HEAD:{name}")
            if ">>> " in text:
                texts[name] = text
    elif base.is_dir():
        for file in sorted(base.rglob("*")):
            name = file.relative_to(base).as_posix()
            if name.startswith(".") or not _wanted(name) or not file.is_file():
                continue
            text = file.read_text("utf-8", errors="replace")
            if ">>> " in text:
                texts[name] = text
    else:
        raise FileNotFoundError(f"{ENV}={root!r} is neither a git directory nor a work tree")
    return dict(sorted(texts.items()))


def _scratch(text: str) -> str:
    text = _SLASH_TMP.sub(lambda m: m[1] + str(SCRATCH) + "/", text)
    return _FILE_TMP.sub(f"file://{SCRATCH}/", text)


def _json_printing(source: str) -> str | None:
    """``source`` with its last expression printed as sorted JSON (None: no expression)."""
    tree = ast.parse(source)
    last = tree.body[-1] if tree.body else None
    if not isinstance(last, ast.Expr):
        return None
    dumps = ast.Attribute(ast.Name("json", ast.Load()), "dumps", ast.Load())
    dumped = ast.Call(dumps, [last.value], [ast.keyword("sort_keys", ast.Constant(True))])
    tree.body[-1] = ast.Expr(ast.Call(ast.Name("print", ast.Load()), [dumped], []))
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def adapt(example: doctest.Example) -> doctest.Example | None:
    """The example as tensorstore's doc tester runs it (see the module docstring); None
    for an example dropped."""
    if _IMPORT_TS.fullmatch(example.source):
        return None
    source, want = _scratch(example.source), _scratch(example.want)
    if re.search(r"\bOUTPUT\b", source):
        source = re.sub(r"\bOUTPUT\b", lambda _: repr(want), source)
    if example.options.get(JSON_OUTPUT) and example.exc_msg is None:
        printing = _json_printing(source)
        try:
            expected = json.dumps(json.loads(want), sort_keys=True) + "\n"
        except ValueError:
            expected = None
        if printing is not None and expected is not None:
            source, want = printing, expected
    return doctest.Example(
        source, want, example.exc_msg, example.lineno, example.indent, example.options
    )


@functools.cache
def collect() -> dict[str, doctest.DocTest]:
    """Each page with examples, by id (``rst:<path>``); empty when ENV is not set."""
    root = repo_root()
    if root is None:
        return {}
    parser = doctest.DocTestParser()
    found: dict[str, doctest.DocTest] = {}
    for path, text in read_pages(root).items():
        test = parser.get_doctest(text, {}, PREFIX + path, path, 0)
        test.examples = [e for e in map(adapt, test.examples) if e is not None]
        if test.examples:
            found[test.name] = test
    return found


def dropped_imports() -> int:
    """``import tensorstore as ts`` examples dropped over all pages."""
    root = repo_root()
    if root is None:
        return 0
    parser = doctest.DocTestParser()
    return sum(
        1
        for text in read_pages(root).values()
        for example in parser.get_examples(text)
        if _IMPORT_TS.fullmatch(example.source)
    )


# ---------------------------------------------------------------------------------------
# Running through compat_docrunner

#: Verdicts of the pages run in this process, by page id.
VERDICTS: dict[str, runner.Verdict] = {}
_LOCK = threading.Lock()


@contextlib.contextmanager
def _fresh_with_scratch() -> Iterator[None]:
    shutil.rmtree(SCRATCH, ignore_errors=True)
    SCRATCH.mkdir(parents=True)
    try:
        with _ORIGINAL_FRESH():
            yield
    finally:
        shutil.rmtree(SCRATCH, ignore_errors=True)


_ORIGINAL_FRESH = runner._fresh_directory


@contextlib.contextmanager
def _pages_in_runner() -> Iterator[None]:
    """The runner sees the pages beside the wheel's docstrings, and empties the scratch
    directory before each run; its own verdict table is left as it was."""
    original_collect = runner.collect
    merged = {**original_collect(), **collect()}
    runner.collect = lambda: merged
    runner._fresh_directory = _fresh_with_scratch
    try:
        yield
    finally:
        runner.collect = original_collect
        runner._fresh_directory = _ORIGINAL_FRESH


def verdict(page_id: str) -> runner.Verdict:
    """The page run on the wheel and on ts_core by compat_docrunner.verdict."""
    with _LOCK:
        if page_id not in VERDICTS:
            with _pages_in_runner():
                try:
                    VERDICTS[page_id] = runner.verdict(page_id)
                finally:
                    runner.VERDICTS.pop(page_id, None)
        return VERDICTS[page_id]


def excluded(page_id: str) -> dict[int, str]:
    with _pages_in_runner():
        return runner.excluded_examples(page_id)


def summary(verdicts: dict[str, runner.Verdict] | None = None) -> str:
    verdicts = VERDICTS if verdicts is None else verdicts
    pages = collect()
    root = repo_root()
    if root is None:
        return f"0 pages collected; set {ENV} to a tensorstore checkout to run them"
    examples = sum(len(pages[p].examples) for p in verdicts)
    ran = {p: len(pages[p].examples) - len(excluded(p)) for p in verdicts}
    wheel_ok = {p: sum(o.passed for o in v.wheel.outcomes) for p, v in verdicts.items()}
    ours_ok = {p: sum(o.passed for o in v.ours.outcomes) for p, v in verdicts.items()}
    stale = sum(len(v.stale) for v in verdicts.values())
    unstable = sum(len(v.unstable) for v in verdicts.values())
    lines = [
        f"{len(verdicts)} of {len(pages)} pages with examples from {root} "
        f"({examples} examples, {sum(ran.values())} run; {dropped_imports()} "
        f"'import tensorstore as ts' examples dropped)",
        f"  pages matching their documentation on the wheel: "
        f"{sum(v.wheel_passed for v in verdicts.values())}; examples: "
        f"{sum(wheel_ok.values())} ({stale} stale, {unstable} unstable)",
        f"  pages passing on ts_core: {sum(v.ours_passed for v in verdicts.values())}; "
        f"examples: {sum(ours_ok.values())}",
    ]
    for page_id, v in verdicts.items():
        first = v.ours.first_failure()
        lines.append(
            f"  {page_id}: {len(pages[page_id].examples)} examples, wheel "
            f"{wheel_ok[page_id]}, ts {ours_ok[page_id]}"
            + (f"  [ts first fails at example {first.index + 1}]" if first else "")
        )
    return "\n".join(lines)


def _brief(outcome: runner.ExampleOutcome) -> str:
    first = outcome.source.strip().split("\n", 1)[0][:60]
    if outcome.exception is not None:
        detail = outcome.exception.split("\n", 1)[0][:150]
    else:
        detail = runner._first_difference(outcome.expected, outcome.got)
    return f"    example {outcome.index + 1} (line {outcome.lineno + 1}) `{first}`: {detail}"


def main() -> int:
    every = "--all" in sys.argv[1:]
    if repo_root() is None:
        print(summary())
        return 1
    verdicts = {page_id: verdict(page_id) for page_id in collect()}
    for v in verdicts.values():
        if not v.ours_passed:
            print(runner.describe_failure(v.ours))
            failing = [o for o in v.ours.outcomes if not o.passed]
            print(f"  ({len(failing)} failing examples on this page)")
            if every:
                print("\n".join(_brief(o) for o in failing))
            print()
    print(summary(verdicts))
    print("\nknown_rst_differences entries:")
    for page_id, v in verdicts.items():
        if not v.ours_passed:
            print(f"    {page_id!r}: {runner.one_line_reason(v.ours)!r},")
    return 0


if __name__ == "__main__":
    sys.exit(main())
