"""Where ts_core still differs from the tensorstore wheel, and how.

    .venv/bin/python tests/compat/doc_examples_report.py [-k SUBSTRING] [--all]
    .venv/bin/python tests/compat/doc_examples_report.py --names --calls --signatures [-k S]
    .venv/bin/python tests/compat/doc_examples_report.py --write-known

By default: for each wheel docstring (id containing SUBSTRING) whose examples fail on
ts_core, its first failing example with the source, the expected output and what ts_core
gave. ``--all`` also lists the examples not compared exactly (not run, output unstable on
the wheel, stale documentation). ``--names`` lists the wheel's public names ts_core lacks;
``--calls`` the api_cases snippets where ts_core differs (test_public_names.py);
``--signatures`` the call signatures ts_core does not accept as the wheel does.
``--write-known`` runs everything and rewrites the generated blocks of
known_differences.py (MISSING_NAMES, CALLS, SIGNATURES, DOC_EXAMPLES) and of
docs/tensorstore-compat.md
to match the code as it is now.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import api_cases  # noqa: E402
import compat_api  # noqa: E402
import compat_docrunner as runner  # noqa: E402
import compat_extensions  # noqa: E402
import compat_signatures  # noqa: E402
import known_differences  # noqa: E402

KNOWN = HERE / "known_differences.py"


def _quote(text: str) -> str:
    """A Python string literal in ruff's preferred style (double quotes unless they need
    escaping)."""
    if '"' in text and "'" not in text:
        return repr(text)
    return json.dumps(text, ensure_ascii=False)


def _rewrite_block(text: str, block: str, entries: dict[str, str]) -> str:
    pattern = re.compile(
        rf"(?P<begin>[ \t]*# BEGIN GENERATED: {re.escape(block)}\n).*?(?P<end>[ \t]*# END GENERATED\n)",
        re.DOTALL,
    )
    lines = "".join(
        f"    {_quote(key)}: {_quote(reason)},\n" for key, reason in sorted(entries.items())
    )
    updated, count = pattern.subn(lambda m: m["begin"] + lines + m["end"], text)
    if count != 1:
        raise SystemExit(f"{KNOWN}: the markers of the generated block {block!r} are missing")
    return updated


def missing_names(substring: str = "") -> dict[str, str]:
    ours = importlib.import_module("ts_core")
    absent = known_differences.DELIBERATELY_ABSENT
    found = {}
    for name in compat_api.wheel_public_names():
        if substring not in name or any(
            name == key or name.startswith(key + ".") for key in absent
        ):
            continue
        try:
            compat_api.lookup(ours, name)
        except AttributeError as error:
            detail = str(error).split("\n", 1)[0]
            found[name] = "not in ts_core yet" + (f" ({detail[:120]})" if "Error" in detail else "")
    return found


def call_differences(substring: str = "") -> dict[str, str]:
    found = {}
    for case_id, code in api_cases.cases().items():
        if substring in case_id:
            differences = compat_api.compare_call(code, api_cases.SETUPS)
            if differences:
                found[case_id] = differences[0][:200]
    return found


def signature_differences(substring: str = "") -> dict[str, str]:
    found = {}
    for dotted in compat_signatures.checked_callables():
        if substring in dotted:
            differences = compat_signatures.signature_differences(dotted)
            if differences:
                found[dotted] = "; ".join(differences)[:200]
    return found


def doc_example_verdicts(substring: str = "") -> dict[str, runner.Verdict]:
    return {doc_id: runner.verdict(doc_id) for doc_id in runner.collect() if substring in doc_id}


def write_known() -> None:
    names = missing_names()
    calls = call_differences()
    signatures = signature_differences()
    verdicts = doc_example_verdicts()
    docs = {
        doc_id: runner.one_line_reason(v.ours)
        for doc_id, v in verdicts.items()
        if not v.ours_passed
    }
    text = KNOWN.read_text("utf-8")
    text = _rewrite_block(text, "missing names", names)
    text = _rewrite_block(text, "calls", calls)
    text = _rewrite_block(text, "signatures", signatures)
    text = _rewrite_block(text, "doc examples", docs)
    KNOWN.write_text(text, "utf-8")
    importlib.reload(known_differences)
    compat_extensions.write_page()
    print(runner.summary(verdicts))
    print(
        f"wrote {len(names)} missing names, {len(calls)} call differences, "
        f"{len(signatures)} signature differences and "
        f"{len(docs)} failing docstrings to {KNOWN}, and the tables of {compat_extensions.PAGE}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("-k", dest="substring", default="", help="only ids containing this")
    parser.add_argument("--all", action="store_true", help="also examples not compared exactly")
    parser.add_argument("--names", action="store_true", help="list public names ts lacks")
    parser.add_argument("--calls", action="store_true", help="list api_cases differences")
    parser.add_argument("--signatures", action="store_true", help="list signature differences")
    parser.add_argument("--write-known", action="store_true", help="rewrite known_differences.py")
    args = parser.parse_args(argv)
    if args.write_known:
        if args.substring:
            parser.error("--write-known runs everything; drop -k")
        write_known()
        return 0
    if args.names or args.calls or args.signatures:
        if args.names:
            for name, note in missing_names(args.substring).items():
                listed = "" if name in known_differences.MISSING_NAMES else "  [not listed]"
                print(f"{name}: {note}{listed}")
        if args.calls:
            for case_id, difference in call_differences(args.substring).items():
                listed = "" if case_id in known_differences.CALLS else "  [not listed]"
                print(f"{case_id}\n    {difference}{listed}")
        if args.signatures:
            for dotted, difference in signature_differences(args.substring).items():
                listed = "" if dotted in known_differences.SIGNATURES else "  [not listed]"
                print(f"{dotted}: {difference}{listed}")
        return 0
    known = known_differences.DOC_EXAMPLES
    verdicts = doc_example_verdicts(args.substring)
    for doc_id, result in verdicts.items():
        if not result.ours_passed:
            listed = "" if doc_id in known else "  [not in known_differences]"
            print(f"=== {doc_id}{listed}")
            print(runner.describe_failure(result.ours))
            print()
        elif doc_id in known:
            print(f"=== {doc_id}: passes now; remove it from known_differences (--write-known)\n")
        if args.all:
            for outcome in result.ours.outcomes:
                if outcome.note:
                    print(f"    {doc_id} example {outcome.index + 1}: {outcome.note}")
    print(runner.summary(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
