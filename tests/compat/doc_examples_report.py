"""Which tensorstore docstring examples fail on ts_core, and how.

    .venv/bin/python tests/compat/doc_examples_report.py [-k SUBSTRING] [--all]
    .venv/bin/python tests/compat/doc_examples_report.py --write-known

For each docstring (id containing SUBSTRING) that fails on ts_core, prints its first
failing example: the source, the expected output and what ts_core gave. ``--all`` also
lists the examples that were not compared exactly (not run, unstable, stale documentation).
``--write-known`` runs every docstring and rewrites the generated block of
known_differences.DOC_EXAMPLES to match the code as it is now.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import compat_docrunner as runner  # noqa: E402

KNOWN = HERE / "known_differences.py"
_BLOCK = re.compile(
    r"(?P<begin>[ \t]*# BEGIN GENERATED: doc_examples_report.py --write-known\n)"
    r".*?"
    r"(?P<end>[ \t]*# END GENERATED\n)",
    re.DOTALL,
)


def _quote(text: str) -> str:
    """A Python string literal in ruff's preferred style (double quotes unless they need
    escaping)."""
    if '"' in text and "'" not in text:
        return repr(text)
    return json.dumps(text, ensure_ascii=False)


def write_known(verdicts: dict[str, runner.Verdict]) -> int:
    entries = {
        doc_id: runner.one_line_reason(v.ours)
        for doc_id, v in verdicts.items()
        if not v.ours_passed
    }
    lines = "".join(
        f"    {_quote(doc_id)}: {_quote(reason)},\n" for doc_id, reason in sorted(entries.items())
    )
    text = KNOWN.read_text("utf-8")
    updated, count = _BLOCK.subn(lambda m: m["begin"] + lines + m["end"], text)
    if count != 1:
        raise SystemExit(f"{KNOWN}: the generated block markers are missing")
    KNOWN.write_text(updated, "utf-8")
    return len(entries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "-k", dest="substring", default="", help="only docstring ids containing this"
    )
    parser.add_argument(
        "--all", action="store_true", help="also show examples not compared exactly"
    )
    parser.add_argument("--write-known", action="store_true", help="rewrite known_differences.py")
    args = parser.parse_args(argv)
    if args.write_known and args.substring:
        parser.error("--write-known runs every docstring; drop -k")

    from known_differences import DOC_EXAMPLES

    verdicts = {}
    for doc_id in runner.collect():
        if args.substring not in doc_id:
            continue
        result = verdicts[doc_id] = runner.verdict(doc_id)
        if not result.ours_passed:
            listed = "" if doc_id in DOC_EXAMPLES else "  [not in known_differences]"
            print(f"=== {doc_id}{listed}")
            print(runner.describe_failure(result.ours))
            print()
        elif doc_id in DOC_EXAMPLES:
            print(f"=== {doc_id}: passes now; remove it from known_differences (--write-known)\n")
        if args.all:
            for outcome in result.ours.outcomes:
                if outcome.note:
                    print(f"    {doc_id} example {outcome.index + 1}: {outcome.note}")
    print(runner.summary(verdicts))
    if args.write_known:
        print(f"wrote {write_known(verdicts)} entries to {KNOWN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
