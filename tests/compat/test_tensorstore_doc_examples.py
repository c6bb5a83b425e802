"""Every docstring example of the installed tensorstore wheel, run on ts_core.

The examples are collected from the wheel when the tests run (see compat_docrunner for how
they are run and compared). One test per docstring, named by its id (``TensorStore.read``,
``KvStore.Spec.copy``), so ``-k KvStore`` selects an area. Docstrings that still fail on ts
are listed in known_differences.DOC_EXAMPLES as strict xfails; to see expected vs got::

    .venv/bin/python tests/compat/doc_examples_report.py -k KvStore
"""

from __future__ import annotations

import pytest
from compat_docrunner import collect, describe_failure, summary, verdict
from known_differences import DOC_EXAMPLES

#: Floors that catch a collection that silently finds less (a wheel upgrade or a broken
#: finder would otherwise just make tests disappear).
MIN_DOCSTRINGS = 190
MIN_EXAMPLES = 900
MIN_WHEEL_MATCHING = 180
#: A floor for ts: far below today's count, it catches a mass breakage that the per-docstring
#: tests would report only as hundreds of separate failures.
MIN_PASSING_ON_TS = 150


def _param(doc_id: str) -> object:
    reason = DOC_EXAMPLES.get(doc_id)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(doc_id, id=doc_id, marks=marks)


@pytest.mark.parametrize("doc_id", [_param(doc_id) for doc_id in collect()])
def test_doc_example(doc_id: str) -> None:
    result = verdict(doc_id)
    assert result.ours_passed, describe_failure(result.ours)


def test_known_differences_name_collected_docstrings() -> None:
    unknown = sorted(set(DOC_EXAMPLES) - set(collect()))
    assert not unknown, (
        f"known_differences.DOC_EXAMPLES names docstrings the wheel lacks: {unknown}"
    )


def test_doc_examples_summary() -> None:
    collected = collect()
    verdicts = {doc_id: verdict(doc_id) for doc_id in collected}
    print("\n" + summary(verdicts))
    assert len(collected) >= MIN_DOCSTRINGS
    assert sum(len(test.examples) for test in collected.values()) >= MIN_EXAMPLES
    assert sum(v.wheel_passed for v in verdicts.values()) >= MIN_WHEEL_MATCHING
    assert sum(v.ours_passed for v in verdicts.values()) >= MIN_PASSING_ON_TS
